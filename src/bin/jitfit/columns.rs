//! The data contract: which columns of a table are the model's variables, the response and σ.
//! Nothing is decided silently — every choice the flags did not make is one of these rules,
//! and is printed in the report's [[Data]] section (and the JSON's `data.notes`); anything the
//! rules cannot settle is an error naming the flag that settles it.
//!
//! - Response: `--y COLUMN`; else the model's left side (`counts = …`), which must then be a
//!   column; else a column named `y`. A left side and a different `--y` is an error. The
//!   response is never also a name on the model's right side.
//! - σ: `--sigma COLUMN` (`--sigma none`: unweighted); else a column named `sigma` (a
//!   headerless 3-column file's third column, a 3-column `.npy`). A column whose name says it
//!   holds uncertainties (`err`, `dy`, `yerr`, …) but was not named is an error: use it with
//!   `--sigma` or say `--sigma none`.
//! - Variables: `--vars NAME[=COLUMN],…`, or `--x COLUMN` for a model in `x`; else the one
//!   column whose name is on the model's right side. Several such columns are an error
//!   (a column `B` beside a parameter `B` would silently turn it into a variable): say which
//!   are variables with `--vars`.

use crate::args::FitArgs;
use anyhow::{anyhow, bail};
use jitfit::data::Table;

/// What the columns of a table mean for a model.
pub struct Columns {
    /// (model variable, column name)
    pub vars: Vec<(String, String)>,
    pub y: String,
    pub sigma: Option<String>,
    /// `sigma` holds weights w = 1/σ² (--weights), not σ.
    pub weights: bool,
    /// The choices the rules made (not the flags), one sentence each.
    pub notes: Vec<String>,
}

/// Column names that say "the uncertainties of y" (compared in lower case).
const UNCERTAINTY_NAMES: &[&str] = &[
    "err",
    "error",
    "errors",
    "dy",
    "yerr",
    "y_err",
    "ey",
    "e_y",
    "sy",
    "sigma_y",
    "unc",
    "uncertainty",
    "std",
    "stderr",
    "stdev",
    "sd",
];

/// Matches the table's columns to the model (see the module docs). `exclude` names columns
/// that have another role (a batch's group ids).
pub fn match_columns(args: &FitArgs, table: &Table, exclude: &[&str]) -> anyhow::Result<Columns> {
    let ast = jitfit::syntax::parse(&args.model)?;
    let model_names = ast.rhs_names();
    let mut notes: Vec<String> = table.notes.iter().map(|n| format!("file: {n}")).collect();
    // Columns by position: `--y 3` is the third column when no column is named `3`.
    let mut args = args.clone();
    for (flag, slot) in [("--y", &mut args.y), ("--sigma", &mut args.sigma), ("--x", &mut args.x)] {
        if let Some(value) = slot.as_deref()
            && table.column(value).is_none()
            && let Ok(k) = value.parse::<usize>()
            && (1..=table.names.len()).contains(&k)
        {
            notes.push(format!("{flag} {value}: column {k}, `{}`", table.names[k - 1]));
            *slot = Some(table.names[k - 1].clone());
        }
    }
    let args = &args;
    let columns = table.names.join(", ");
    let has = |c: &str| table.column(c).is_some() && !exclude.contains(&c);
    let missing =
        |c: &str, what: &str| anyhow!("{what} `{c}` is not a column of {} (columns: {columns})", args.data_name());

    let left_side = ast.response_name();
    let y = match (&args.y, &left_side) {
        (Some(c), _) if !has(c) => return Err(missing(c, "the response column")),
        (Some(c), Some(l)) if c != l && !args.npy_columns.contains(c) => bail!(
            "the model's left side names the response `{l}`, but --y names `{c}`: make them agree, or drop the left side"
        ),
        (Some(c), _) => c.clone(),
        (None, Some(l)) if has(l) => {
            notes.push(format!("response: column `{l}`, named by the model's left side"));
            l.clone()
        }
        (None, Some(l)) => {
            bail!(
                "the model's left side names the response `{l}`, which is not a column; say which column it is with --y (columns: {columns})"
            )
        }
        (None, None) if has("y") => {
            notes.push("response: column `y`, by its name (--y COLUMN chooses another)".to_owned());
            "y".to_owned()
        }
        (None, None) => bail!("which column is the response? name it with --y (columns: {columns})"),
    };
    if model_names.contains(&y) {
        bail!(
            "`{y}` is the response column and also a name in the model; say which column is the response with --y COLUMN (columns: {columns})"
        );
    }

    if args.weights.is_some() && args.sigma.is_some() {
        bail!("--weights and --sigma both weight the points: give one (w = 1/σ²)");
    }
    let weights = args.weights.is_some();
    let sigma = match args.sigma.as_deref().or(args.weights.as_deref()) {
        Some(c) if weights && !has(c) => return Err(missing(c, "the weights column")),
        Some(c) if weights && c == y => bail!("--weights `{c}` is the response column"),
        Some("none") => None,
        Some(c) if !has(c) => return Err(missing(c, "the sigma column")),
        Some(c) if c == y => bail!("--sigma `{c}` is the response column"),
        Some(c) => Some(c.to_owned()),
        None if has("sigma") && !model_names.iter().any(|n| n == "sigma") && y != "sigma" => {
            notes.push("sigma: column `sigma`, by its name (--sigma none fits unweighted)".to_owned());
            Some("sigma".to_owned())
        }
        None => {
            let lower_y = y.to_lowercase();
            let looks_like_sigma = |c: &str| {
                let c = c.to_lowercase();
                UNCERTAINTY_NAMES.contains(&c.as_str())
                    || c == format!("{lower_y}_err")
                    || c == format!("{lower_y}err")
                    || c == format!("d{lower_y}")
                    || c == format!("sigma_{lower_y}")
                    || c == format!("e_{lower_y}")
            };
            if let Some(c) =
                table.names.iter().find(|c| has(c) && **c != y && !model_names.contains(*c) && looks_like_sigma(c))
            {
                bail!(
                    "column `{c}` looks like the uncertainties of `{y}`: use them with --sigma {c}, or fit unweighted with --sigma none"
                );
            }
            None
        }
    };
    let taken = |c: &str| c == y || sigma.as_deref() == Some(c);

    let mut vars: Vec<(String, String)> = Vec::new();
    if let Some(list) = &args.vars {
        for item in list {
            let (var, column) = item.split_once('=').map_or((item.as_str(), item.as_str()), |(v, c)| (v, c));
            let (var, column) = (var.trim(), column.trim());
            if !has(column) {
                return Err(missing(column, "the variable column"));
            }
            if taken(column) {
                bail!("--vars {var}: column `{column}` is already the response or sigma");
            }
            vars.push((var.to_owned(), column.to_owned()));
        }
    } else {
        let candidates: Vec<&String> = model_names.iter().filter(|n| has(n) && !taken(n)).collect();
        if let Some(column) = &args.x {
            if !has(column) {
                return Err(missing(column, "the column for x"));
            }
            vars.push(("x".to_owned(), column.clone()));
            let others: Vec<&str> = candidates.iter().map(|n| n.as_str()).filter(|n| *n != "x").collect();
            if !others.is_empty() {
                bail!(
                    "{} {} in the model too: list the variables with --vars (e.g. --vars x={column},{}); names not listed are parameters",
                    column_list(&others),
                    if others.len() > 1 { "are names" } else { "is a name" },
                    others.join(",")
                );
            }
        } else {
            match candidates.as_slice() {
                [] => {}
                [only] => {
                    notes.push(format!("variable `{only}`: the only column named in the model (--vars chooses)"));
                    vars.push((only.to_string(), only.to_string()));
                }
                several => {
                    let list: Vec<&str> = several.iter().map(|n| n.as_str()).collect();
                    bail!(
                        "{} are names in the model: list the variables with --vars (e.g. --vars {}); names not listed are parameters",
                        column_list(&list),
                        list.join(",")
                    );
                }
            }
        }
    }
    if vars.is_empty() {
        bail!(
            "no column of {} is named like a variable of the model; say which with --x COLUMN or --vars NAME=COLUMN (columns: {columns})",
            args.data_name()
        );
    }
    Ok(Columns { vars, y, sigma, weights, notes })
}

/// "column `a`" or "columns `a`, `b`".
fn column_list(names: &[&str]) -> String {
    let quoted: Vec<String> = names.iter().map(|n| format!("`{n}`")).collect();
    format!("column{} {}", if names.len() > 1 { "s" } else { "" }, quoted.join(", "))
}
