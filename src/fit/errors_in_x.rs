//! Errors in x by the effective-variance method: σ_eff² = σ_y² + Σ_k (∂f/∂x_k · σ_k)², with
//! the exact ∂f/∂x_k of the symbolic engine. The fit runs on
//! [`Model::effective_variance`](crate::Model::effective_variance) — the residual
//! g = (f − y)/σ_eff as a model of the variables, y and the σ columns, fitted to zeros — so every
//! solver path, the covariance, profiles and case bootstraps work on it unchanged; only the
//! curve (predictions, bands) goes back to the model's own f.

use super::{Data, Estimator, FitError, FitOptions};
use crate::compiled::CacheKey;
use crate::compiled::CompiledModel;
use crate::{Model, ModelOptions, Names};
use std::collections::HashMap;
use std::sync::{Arc, LazyLock, Mutex};

/// The objective's model and data for a fit with errors in some variables.
pub(super) struct ErrorsInX {
    pub model: Arc<CompiledModel>,
    pub data: Data,
    /// The variables with uncertainties, in the model's variable order.
    pub vars: Vec<String>,
}

/// The effective-variance problem of `data` when it gives σ for some variables; `None` when it
/// gives none.
pub(super) fn prepare(model: &CompiledModel, data: &Data, options: &FitOptions) -> Result<Option<ErrorsInX>, FitError> {
    if data.sigma_x.is_empty() {
        return Ok(None);
    }
    let invalid = |message: String| Err(FitError::Invalid(message));
    for (var, _) in &data.sigma_x {
        if !model.vars().contains(var) {
            return invalid(format!(
                "σ is given for `{var}`, which is not a variable of the model (variables: {})",
                model.vars().join(", ")
            ));
        }
    }
    let Some(sigma_y) = data.sigma.clone() else {
        return invalid(
            "errors in x need the σ of y as well: the effective variance is σ_y² + (∂f/∂x·σ_x)² (give σ_y; a constant \
             one too)"
                .into(),
        );
    };
    if options.estimator == Estimator::Poisson {
        return invalid("errors in x are a least-squares method: the Poisson estimator takes counts without σ".into());
    }
    if model.transforms_response() {
        return invalid(
            "errors in x: the model's left side transforms y, which the effective variance does not".into(),
        );
    }
    let m = data.len();
    for (var, sigma) in &data.sigma_x {
        let what = format!("σ of `{var}`");
        if sigma.len() != m {
            return Err(FitError::LengthMismatch { name: what, expected: m, found: sigma.len() });
        }
        if let Some(row) = sigma.iter().position(|s| !(s.is_finite() && *s >= 0.0)) {
            return invalid(format!(
                "{what} must be finite and not negative, but data row {} has {}",
                row + 1,
                sigma[row]
            ));
        }
    }
    // The variables in the model's order, and the names of the extra columns.
    let vars: Vec<String> =
        model.vars().iter().filter(|v| data.sigma_x.iter().any(|(s, _)| s == *v)).cloned().collect();
    let extra: Vec<String> = ["__y".to_owned(), "__sigma_y".to_owned()]
        .into_iter()
        .chain(vars.iter().map(|v| format!("__sigma_{v}")))
        .collect();
    if let Some(clash) = extra.iter().find(|e| model.vars().contains(e)) {
        return invalid(format!("errors in x: the variable name `{clash}` is taken by jitfit; rename it"));
    }
    // Built once per model and set of variables (a multi-start runs many fits of it).
    type Built = HashMap<(CacheKey, Vec<String>), Arc<CompiledModel>>;
    static BUILT: LazyLock<Mutex<Built>> = LazyLock::new(Default::default);
    let key = (model.key(), vars.clone());
    let known = BUILT.lock().unwrap_or_else(|e| e.into_inner()).get(&key).cloned();
    let base = match known {
        Some(built) => built,
        None => {
            let names = Names { vars: model.vars().to_vec(), params: Some(model.params().to_vec()) };
            let built = Model::parse_with(model.source(), &ModelOptions { names, ..Default::default() })
                .and_then(|base| base.effective_variance(&vars, &extra))
                .and_then(|effective| effective.compile())
                .map_err(|e| FitError::Invalid(format!("errors in x: {e}")))?;
            let built = Arc::new(built);
            let mut memo = BUILT.lock().unwrap_or_else(|e| e.into_inner());
            if memo.len() >= 64 {
                memo.clear();
            }
            memo.insert(key, built.clone());
            built
        }
    };

    let mut rewritten = Data::new().y(vec![0.0; m]);
    for var in model.vars() {
        let column = data.columns.iter().find(|(n, _)| n == var).map(|(_, c)| c.clone());
        let Some(column) = column else {
            return Err(FitError::MissingColumn {
                name: var.clone(),
                available: data.column_names().collect::<Vec<_>>().join(", "),
            });
        };
        rewritten = rewritten.var(var, column);
    }
    rewritten = rewritten.var(&extra[0], data.y.clone()).var(&extra[1], sigma_y);
    for (var, name) in vars.iter().zip(&extra[2..]) {
        let sigma = data.sigma_x.iter().find(|(v, _)| v == var).map(|(_, s)| s.clone()).unwrap_or_default();
        rewritten = rewritten.var(name, sigma);
    }
    Ok(Some(ErrorsInX { model: base, data: rewritten, vars }))
}
