//! Global fits written as one model: the data sets' rows stacked, an indicator variable per
//! set (1 on its rows, 0 elsewhere), and the model repeated per set with its parameters renamed
//! `p_1`, `p_2`, … — except the shared ones, which stay one parameter:
//!
//! `A*exp(-x/tau) + B` over two sets sharing `tau` becomes
//! `s1*(A_1*exp(-x/tau) + B_1) + s2*(A_2*exp(-x/tau) + B_2)`.
//!
//! Helpers are repeated per set (they may depend on per-set parameters); functions the model
//! defines are kept once, and must not use a per-set parameter except through their arguments.
//! The fit of this model is the fit of the stacked data written by hand with indicator
//! columns; its cost grows with sets × parameters (the Jacobian is dense here, not the block
//! structure a dedicated solver would use).

use super::ast::AstKind;
use super::parse;

/// A model rewritten for a global fit.
#[derive(Clone, Debug)]
pub struct GlobalModel {
    /// The model text over the stacked data.
    pub text: String,
    /// The parameters fitted per set, by their names in the model (`A`, `B`).
    pub local: Vec<String>,
    /// The shared parameters.
    pub shared: Vec<String>,
    /// The number of data sets.
    pub sets: usize,
}

impl GlobalModel {
    /// The name of per-set parameter `name` in set `k` (from 1).
    pub fn name_in_set(name: &str, k: usize) -> String {
        format!("{name}_{k}")
    }

    /// The name of set `k`'s indicator variable (from 1).
    pub fn indicator(k: usize) -> String {
        format!("__set_{k}")
    }
}

/// Rewrites `source` (a model of the variables `vars`) for `sets` data sets sharing the
/// parameters `shared`.
pub fn global_model(source: &str, vars: &[String], sets: usize, shared: &[String]) -> Result<GlobalModel, String> {
    let ast = parse(source).map_err(|e| format!("{e}"))?;
    if sets < 2 {
        return Err("a global fit needs at least 2 data sets".into());
    }
    let names = ast.rhs_names();
    let params: Vec<String> = names.iter().filter(|n| !vars.contains(n)).cloned().collect();
    for name in shared {
        if !params.contains(name) {
            return Err(format!("--shared {name}: not a parameter of the model (parameters: {})", params.join(", ")));
        }
    }
    let local: Vec<String> = params.iter().filter(|p| !shared.contains(p)).cloned().collect();
    // Helpers: repeated per set.
    let helpers = ast.helper_names();
    // The new names must be new.
    let all = ast.names();
    for k in 1..=sets {
        for name in local.iter().chain(&helpers) {
            let renamed = GlobalModel::name_in_set(name, k);
            if all.contains(&renamed) {
                return Err(format!(
                    "the global fit names `{name}` of set {k} `{renamed}`, which the model uses already"
                ));
            }
        }
    }
    let mut text = String::new();
    // Functions: once, and closed over per-set parameters.
    for (range, args) in ast.function_arguments() {
        for i in range.clone() {
            if let AstKind::Name(n) = &ast.nodes[i].kind
                && !args.contains(n)
                && (local.contains(n) || helpers.contains(n))
            {
                return Err(format!(
                    "a function of the model uses `{n}`, which differs per data set: pass it as an argument (or share it)"
                ));
            }
        }
    }
    for statement in ast.helper_statements() {
        let Some(lhs) = statement.lhs else { continue };
        if matches!(ast.node(lhs).kind, AstKind::Call { .. }) {
            text += &format!("{} = {};\n", ast.to_text(lhs), ast.to_text(statement.rhs));
        }
    }
    let rename_in = |k: usize| {
        let local = local.clone();
        let helpers = helpers.clone();
        move |name: &str| -> Option<String> {
            (local.iter().any(|p| p == name) || helpers.iter().any(|h| h == name))
                .then(|| GlobalModel::name_in_set(name, k))
        }
    };
    for k in 1..=sets {
        let rename = rename_in(k);
        for statement in ast.helper_statements() {
            let Some(lhs) = statement.lhs else { continue };
            if let AstKind::Name(n) = &ast.node(lhs).kind {
                text +=
                    &format!("{} = {};\n", GlobalModel::name_in_set(n, k), ast.to_text_renamed(statement.rhs, &rename));
            }
        }
    }
    let model = ast.model_statement();
    if let Some(lhs) = model.lhs {
        text += &format!("{} = ", ast.to_text(lhs));
    }
    let terms: Vec<String> = (1..=sets)
        .map(|k| format!("{}*{}", GlobalModel::indicator(k), ast.to_text_renamed(model.rhs, &rename_in(k))))
        .collect();
    text += &terms.join(" + ");
    Ok(GlobalModel { text, local, shared: shared.to_vec(), sets })
}
