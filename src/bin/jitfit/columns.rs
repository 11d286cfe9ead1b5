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
//! - σ may also be an expression of columns (`--sigma 'sqrt(counts)'`, `--sigma 0.1`): any
//!   value of `--sigma` that is not a column (nor a column's position) and is not a single
//!   name; `fitted` in it is the model's value (the fit is then iteratively reweighted).
//! - Errors in x: `--sigma-x VAR=COLUMN` (or `--sigma-x COLUMN` for one variable), only with a
//!   σ of y. A column whose name says it holds the uncertainties of a variable's column
//!   (`dx`, `xerr`, `sigma_x`, …) but was not named is an error: use it with `--sigma-x`, or
//!   say `--sigma-x none`.
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
    pub sigma: Option<Sigma>,
    /// σ of variables (errors in x): (model variable, column name).
    pub sigma_x: Vec<(String, String)>,
    /// The choices the rules made (not the flags), one sentence each.
    pub notes: Vec<String>,
    /// The parameters whose starts were guessed from the data (marked in [[Variables]]).
    pub guessed: Vec<String>,
}

/// Where σ of y comes from.
pub enum Sigma {
    Column(String),
    /// A column of weights w = 1/σ² (--weights).
    Weights(String),
    /// An expression of columns (`sqrt(counts)`), and the columns it uses; `fitted` when it
    /// names the fitted values too (the fit is then reweighted).
    Expression {
        text: String,
        columns: Vec<String>,
        fitted: bool,
    },
}

impl Sigma {
    /// The columns σ is computed from.
    pub fn columns(&self) -> Vec<&str> {
        match self {
            Sigma::Column(c) | Sigma::Weights(c) => vec![c.as_str()],
            Sigma::Expression { columns, .. } => columns.iter().map(String::as_str).collect(),
        }
    }

    /// For the report's [[Data]] line.
    pub fn describe(&self) -> String {
        match self {
            Sigma::Column(c) => format!("sigma {c}"),
            Sigma::Weights(w) => format!("weights {w} (σ = 1/√w)"),
            Sigma::Expression { text, .. } => format!("sigma = {text}"),
        }
    }

    /// σ at the table's rows (all, or `rows` in that order): the column as stored, 1/√w of
    /// weights, or the expression evaluated.
    pub fn values(&self, table: &Table, rows: Option<&[usize]>) -> anyhow::Result<jitfit::data::Column> {
        let pick = |values: &[f64]| -> jitfit::data::Column {
            match rows {
                None => values.to_vec().into(),
                Some(rows) => rows.iter().map(|i| values[*i]).collect::<Vec<f64>>().into(),
            }
        };
        Ok(match self {
            Sigma::Column(c) => match rows {
                // As stored: a memory-mapped column is not copied.
                None => table.column_data(c).cloned().unwrap_or_default(),
                Some(_) => pick(table.column(c).unwrap_or_default()),
            },
            Sigma::Weights(w) => crate::fit::sigma_of_weights(pick(table.column(w).unwrap_or_default()).as_slice())?,
            Sigma::Expression { text, fitted: true, .. } => {
                bail!("--sigma `{text}` follows the fitted values: it has no value before the fit")
            }
            Sigma::Expression { text, columns, fitted: false } => {
                let named: Vec<(&str, &[f64])> =
                    columns.iter().map(|c| (c.as_str(), table.column(c).unwrap_or_default())).collect();
                let values = jitfit::evaluate_columns(text, &named, table.n_rows())?;
                // Checked on the rows the fit uses (--nan-policy omit drops some), by their
                // row numbers in the file.
                let bad = match rows {
                    None => values.iter().position(|s| !(s.is_finite() && *s > 0.0)),
                    Some(rows) => rows.iter().copied().find(|i| !(values[*i].is_finite() && values[*i] > 0.0)),
                };
                if let Some(row) = bad {
                    bail!("--sigma `{text}` is {} at data row {}: σ must be positive and finite", values[row], row + 1);
                }
                pick(&values)
            }
        })
    }
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
            if flag == "--sigma" {
                // A σ may be a constant too: say which.
                bail!(
                    "--sigma {value}: column {value} (`{}`) or the constant {value}? say --sigma {} or --sigma {value}.0",
                    table.names[k - 1],
                    table.names[k - 1]
                );
            }
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
        Some(c) if weights => Some(Sigma::Weights(c.to_owned())),
        Some("none") => None,
        Some(c) if !has(c) && is_name(c) && c != jitfit::FITTED => return Err(missing(c, "the sigma column")),
        Some(c) if !has(c) => Some(sigma_expression(c, &has, &columns)?),
        Some(c) if c == y => bail!("--sigma `{c}` is the response column"),
        Some(c) => Some(Sigma::Column(c.to_owned())),
        None if has("sigma") && !model_names.iter().any(|n| n == "sigma") && y != "sigma" => {
            notes.push("sigma: column `sigma`, by its name (--sigma none fits unweighted)".to_owned());
            Some(Sigma::Column("sigma".to_owned()))
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
    let sigma_column = match &sigma {
        Some(Sigma::Column(c) | Sigma::Weights(c)) => Some(c.clone()),
        _ => None,
    };
    let taken = |c: &str| c == y || sigma_column.as_deref() == Some(c);

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
    // `e` is Euler's number: a model that means a parameter by it would fit one fewer.
    if ast.uses_constant("e") && !vars.iter().any(|(name, _)| name == "e") {
        notes.push(jitfit::report::EULER_NOTE.into());
    }
    let sigma_x = match_sigma_x(args, &vars, &|c: &str| has(c) && !taken(c), &columns, table)?;
    if !sigma_x.is_empty() && sigma.is_none() {
        bail!("--sigma-x needs the σ of y as well: give --sigma COLUMN (or a constant, e.g. --sigma 0.1)");
    }
    Ok(Columns { vars, y, sigma, sigma_x, notes, guessed: Vec::new() })
}

/// True for a bare name (a would-be column), not an expression.
fn is_name(text: &str) -> bool {
    !text.is_empty() && text.chars().all(|c| c.is_alphanumeric() || c == '_') && text.parse::<f64>().is_err()
}

/// `--sigma EXPRESSION`: parsed, and every name a column.
fn sigma_expression(text: &str, has: &dyn Fn(&str) -> bool, columns: &str) -> anyhow::Result<Sigma> {
    // The syntax error renders its own `error:` line with a caret; this says what was tried.
    let ast = jitfit::syntax::parse(text).map_err(|e| {
        anyhow!("{e}\n--sigma `{text}` is neither a column (columns: {columns}) nor an expression of columns")
    })?;
    if ast.response_name().is_some() || ast.model_statement().lhs.is_some() {
        bail!("--sigma `{text}`: an expression of σ has no left side");
    }
    let mut names = ast.rhs_names();
    let fitted = names.iter().any(|n| n == jitfit::FITTED);
    if fitted && has(jitfit::FITTED) {
        bail!(
            "--sigma `{text}`: `{}` is a column, and also the name of the fitted values in a σ expression: rename the column",
            jitfit::FITTED
        );
    }
    names.retain(|n| n != jitfit::FITTED);
    if let Some(unknown) = names.iter().find(|n| !has(n)) {
        bail!(
            "--sigma `{text}`: `{unknown}` is not a column (columns: {columns}; `{}` is the fitted values)",
            jitfit::FITTED
        );
    }
    Ok(Sigma::Expression { text: text.to_owned(), columns: names, fitted })
}

/// `--sigma-x`: each item `VAR=COLUMN`, or `COLUMN` when the model has one variable; columns
/// that look like a variable's uncertainties must be named (or `--sigma-x none`).
fn match_sigma_x(
    args: &FitArgs,
    vars: &[(String, String)],
    free: &dyn Fn(&str) -> bool,
    columns: &str,
    table: &Table,
) -> anyhow::Result<Vec<(String, String)>> {
    let mut sigma_x: Vec<(String, String)> = Vec::new();
    let none = args.sigma_x.iter().any(|s| s == "none");
    if none && args.sigma_x.len() > 1 {
        bail!("--sigma-x none and --sigma-x COLUMN contradict each other");
    }
    for item in args.sigma_x.iter().filter(|s| *s != "none") {
        let (var, column) = match item.split_once('=') {
            Some((v, c)) => (v.trim().to_owned(), c.trim().to_owned()),
            None => match vars {
                [(only, _)] => (only.clone(), item.trim().to_owned()),
                _ => {
                    let names: Vec<&str> = vars.iter().map(|(v, _)| v.as_str()).collect();
                    bail!(
                        "--sigma-x {item}: the model has variables {}: say whose σ it is, --sigma-x VAR={item}",
                        names.join(", ")
                    )
                }
            },
        };
        if !vars.iter().any(|(v, _)| *v == var) {
            let names: Vec<&str> = vars.iter().map(|(v, _)| v.as_str()).collect();
            bail!("--sigma-x {item}: `{var}` is not a variable of the model (variables: {})", names.join(", "));
        }
        if table.column(&column).is_none() {
            bail!("--sigma-x {item}: `{column}` is not a column (columns: {columns})");
        }
        if !free(&column) || vars.iter().any(|(_, c)| *c == column) {
            bail!("--sigma-x {item}: column `{column}` is already the response, sigma or a variable");
        }
        if sigma_x.iter().any(|(v, _)| *v == var) {
            bail!("--sigma-x: `{var}` is given σ twice");
        }
        sigma_x.push((var, column));
    }
    if none || !sigma_x.is_empty() {
        return Ok(sigma_x);
    }
    for (var, column) in vars {
        let looks_like = |c: &str| {
            let c = c.to_lowercase();
            [var.to_lowercase(), column.to_lowercase()].iter().any(|x| {
                [format!("d{x}"), format!("{x}err"), format!("{x}_err"), format!("sigma_{x}"), format!("e_{x}")]
                    .contains(&c)
            })
        };
        if let Some(c) = table.names.iter().find(|c| free(c) && !vars.iter().any(|(_, v)| v == *c) && looks_like(c)) {
            bail!(
                "column `{c}` looks like the uncertainties of `{column}`: use them with --sigma-x {c} (errors in x), or say --sigma-x none"
            );
        }
    }
    Ok(sigma_x)
}

/// "column `a`" or "columns `a`, `b`".
fn column_list(names: &[&str]) -> String {
    let quoted: Vec<String> = names.iter().map(|n| format!("`{n}`")).collect();
    format!("column{} {}", if names.len() > 1 { "s" } else { "" }, quoted.join(", "))
}
