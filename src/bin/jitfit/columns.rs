//! Which columns of a table are the model's variables, the response and σ: from the flags
//! (`--x`, `--vars`, `--y`, `--sigma`) and the names the model uses.

use crate::args::FitArgs;
use anyhow::{anyhow, bail};
use jitfit::data::Table;

/// What the columns of a table mean for a model.
pub struct Columns {
    /// (model variable, column name)
    pub vars: Vec<(String, String)>,
    pub y: String,
    pub sigma: Option<String>,
}

pub fn match_columns(args: &FitArgs, table: &Table) -> anyhow::Result<Columns> {
    let ast = jitfit::syntax::parse(&args.model)?;
    let names = ast.names();
    let has = |c: &str| table.column(c).is_some();
    let missing = |c: &str, what: &str| {
        anyhow!("{what} `{c}` is not a column of {} (columns: {})", args.data_name(), table.names.join(", "))
    };
    let y = match &args.y {
        Some(c) if has(c) => c.clone(),
        Some(c) => return Err(missing(c, "the response column")),
        None => match ast.response_name() {
            Some(r) if has(&r) => r,
            _ if has("y") => "y".to_owned(),
            _ => bail!("which column is the response? name it with --y (columns: {})", table.names.join(", ")),
        },
    };
    let sigma = match &args.sigma {
        Some(c) if has(c) => Some(c.clone()),
        Some(c) => return Err(missing(c, "the sigma column")),
        None => None,
    };
    let mut vars: Vec<(String, String)> = Vec::new();
    if let Some(list) = &args.vars {
        for item in list {
            let (var, column) = item.split_once('=').map_or((item.as_str(), item.as_str()), |(v, c)| (v, c));
            let (var, column) = (var.trim(), column.trim());
            if !has(column) {
                return Err(missing(column, "the variable column"));
            }
            vars.push((var.to_owned(), column.to_owned()));
        }
    } else {
        for name in &names {
            if has(name) && *name != y && Some(name) != sigma.as_ref() {
                vars.push((name.clone(), name.clone()));
            }
        }
    }
    if let Some(column) = &args.x {
        if !has(column) {
            return Err(missing(column, "the column for x"));
        }
        vars.retain(|(v, _)| v != "x");
        vars.insert(0, ("x".to_owned(), column.clone()));
    }
    if vars.is_empty() {
        bail!(
            "no column of {} is named like a variable of the model; say which with --x COLUMN or --vars NAME=COLUMN (columns: {})",
            args.data_name(),
            table.names.join(", ")
        );
    }
    Ok(Columns { vars, y, sigma })
}
