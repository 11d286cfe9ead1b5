//! σ of y as a function of the fitted values (`0.02*fitted`, `sqrt(fitted)`): iteratively
//! reweighted least squares. Each round fits with σ held at its value from the previous
//! round's curve, until the parameters stop moving. The fixed point solves
//! Σ (y − f)/σ(f)² · ∂f/∂p = 0 — the quasi-likelihood equations (for σ² ∝ f, the Poisson
//! maximum-likelihood ones) — rather than minimizing Σ ((y − f)/σ(f))², which would reward a
//! curve for making its own σ large.

use super::{Callbacks, Data, Estimator, Fit, FitError, FitOptions, run_fit};
use crate::compiled::CompiledModel;

/// How a fit's σ followed its curve.
#[derive(Clone, Debug, serde::Serialize)]
pub struct Reweighting {
    /// σ as written: an expression of the data's columns and `fitted`.
    pub expression: String,
    /// Fits run (the first unweighted).
    pub rounds: usize,
    /// False when the parameters still moved after the last round.
    pub converged: bool,
}

/// Rounds before giving up.
const MAX_ROUNDS: usize = 50;

/// The name of the model's value in a σ expression.
pub const FITTED: &str = "fitted";

/// Runs the reweighted fit; `expression` is σ (see the module docs). Returns the last round's
/// fit and the data it was fitted to (σ held at the values it used).
pub(super) fn run(
    model: &CompiledModel,
    data: &Data,
    expression: &str,
    options: &FitOptions,
    callbacks: Callbacks<'_>,
) -> Result<(Fit, Data, Reweighting), FitError> {
    let invalid = |message: String| Err(FitError::Invalid(message));
    if data.sigma.is_some() {
        return invalid("σ is given twice: as a column and as an expression of the fitted values".into());
    }
    if !data.sigma_x.is_empty() {
        return invalid("σ from the fitted values and errors in x together are not supported".into());
    }
    if options.estimator == Estimator::Poisson {
        return invalid(
            "the Poisson estimator takes counts without σ (its variance is the fitted value already)".into(),
        );
    }
    if model.transforms_response() {
        return invalid(
            "σ from the fitted values with a left side that transforms y: `fitted` would be on the transformed scale"
                .into(),
        );
    }
    if options.checkpoint.is_some() || options.resume.is_some() {
        return invalid("a reweighted fit runs many fits: checkpoints are not supported for it".into());
    }
    if data.columns.iter().any(|(n, _)| n == FITTED) {
        return invalid(format!(
            "`{FITTED}` names the model's value in a σ expression, but the data have a column of that name"
        ));
    }
    let m = data.len();
    let sigma_of = |fit: &Fit| -> Result<Vec<f64>, FitError> {
        let fitted = model.predict(data, &fit.values)?;
        let mut named: Vec<(&str, &[f64])> = data.columns.iter().map(|(n, c)| (n.as_str(), c.as_slice())).collect();
        named.push((FITTED, &fitted));
        let sigma = crate::model::evaluate_columns(expression, &named, m)
            .map_err(|e| FitError::Invalid(format!("σ = {expression}: {e}")))?;
        if let Some(row) = sigma.iter().position(|s| !(s.is_finite() && *s > 0.0)) {
            return Err(FitError::Invalid(format!(
                "σ = {expression} is {} at data row {} (fitted value {}): σ must be positive and finite",
                sigma[row],
                row + 1,
                fitted[row]
            )));
        }
        Ok(sigma)
    };
    // Round 1: unweighted, from the caller's start. A Ctrl-C stops any round.
    let cancel = callbacks.cancel;
    let quiet = || Callbacks { cancel, ..Callbacks::default() };
    let mut fit = run_fit(model, data, options, quiet())?;
    let start = (fit.initial.clone(), fit.initial_given.clone());
    let mut weighted = data.clone();
    let (mut rounds, mut converged) = (1, false);
    let mut options = options.clone();
    while rounds < MAX_ROUNDS && fit.status.converged() {
        weighted = data.clone().sigma(sigma_of(&fit)?);
        for (k, value) in fit.values.iter().enumerate() {
            if options.fixed[k].is_none() {
                options.p0[k] = Some(*value);
            }
        }
        let next = run_fit(model, &weighted, &options, quiet())?;
        rounds += 1;
        let still = (0..next.values.len()).all(|k| {
            let scale = next.values[k].abs().max(next.std_errors[k].min(f64::MAX));
            (next.values[k] - fit.values[k]).abs() <= 1e-10 * scale
        });
        fit = next;
        if still && fit.status.converged() {
            converged = true;
            break;
        }
    }
    // The start reported is the caller's.
    (fit.initial, fit.initial_given) = start;
    Ok((fit, weighted, Reweighting { expression: expression.to_owned(), rounds, converged }))
}
