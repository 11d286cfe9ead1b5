//! What a fit reports beyond the solution: values over all parameters, covariance with
//! curve_fit's `sigma`/`absolute_sigma` semantics, correlations, χ², R², AIC, BIC — and the
//! Poisson estimator's Fisher information.

use super::validate::Input;
use super::{Data, Estimator, Fit, FitError, FitOptions};
use crate::backend::{BackendReport, Chunk, Kernels};
use crate::compiled::CompiledModel;
use crate::problem::FreeParams;
use crate::solve::{self, Covariance, Solution};
use std::time::Duration;

/// The Poisson covariance is the inverse Fisher information Σ ∂f ∂fᵀ / f: the solution's
/// Jacobian is replaced by J's rows (free columns) scaled by 1/√f (the deviance residuals' own
/// Jacobian differs away from f = y).
pub(super) fn use_fisher_information(
    model: &CompiledModel,
    data: &Data,
    initial: &[f64],
    free: &FreeParams,
    solution: &mut Solution,
) -> Result<(), FitError> {
    let full = free.expand(&solution.x, initial);
    let (m, n_all) = (data.len(), full.len());
    let (mut r, mut j) = (vec![0.0; m], vec![0.0; m * n_all]);
    let vars: Vec<&[f64]> = model.vars().iter().map(|v| data.column(v).unwrap_or(&[])).collect();
    let y = data.response();
    let chunk = Chunk { vars: &vars, y, weights: None };
    model.kernels().residual_jacobian(&chunk, &full, &mut r, &mut j).map_err(crate::problem::evaluation)?;
    let mut fisher = vec![0.0; m * free.len()];
    for i in 0..m {
        let scale = 1.0 / (r[i] + y[i]).sqrt();
        for (c, k) in free.indices().iter().enumerate() {
            fisher[i * free.len() + c] = j[i * n_all + k] * scale;
        }
    }
    solution.jacobian = fisher;
    Ok(())
}

/// The [`Fit`] of a solution over the free parameters: values, covariance (curve_fit's
/// semantics), correlations and statistics over all parameters.
pub(super) fn assemble(
    model: &CompiledModel,
    data: &Data,
    options: &FitOptions,
    input: &Input<'_>,
    s: Solution,
    streamed_chi2: Option<f64>,
    solve_time: Duration,
) -> Result<Fit, crate::solve::SolveError> {
    let (initial, free) = (&input.initial[..], &input.free);
    let n = model.n_params();
    let n_free = free.len();
    let values = free.expand(&s.x, initial);
    // On the normal-equations path r is never stored: χ² is twice the (linear) cost.
    let m = if s.residuals.is_empty() { data.len() } else { s.residuals.len() };
    let chi2: f64 = match streamed_chi2 {
        Some(chi2) => chi2,
        None if s.residuals.is_empty() => 2.0 * s.cost,
        None => s.residuals.iter().map(|r| r * r).sum(),
    };
    let dof = m - n_free;
    // curve_fit rescales by 2·cost / dof (the robust cost when a loss is used).
    // The Poisson variance is known: its covariance is the inverse Fisher information.
    let absolute = options.absolute_sigma || options.estimator == Estimator::Poisson;
    let cov: Covariance = if s.jacobian.is_empty() {
        solve::covariance_from_gram(&s.jtj, m, n_free, 2.0 * s.cost, absolute)
    } else {
        solve::covariance(&s.jacobian, m, n_free, 2.0 * s.cost, absolute)
    };
    let covariance = free.expand_matrix(|a, b| cov.get(a, b), 0.0);
    let std_errors: Vec<f64> = (0..n).map(|k| covariance[k * n + k].sqrt()).collect();
    let free_k = free.indices();
    let correlation = free.expand_matrix(
        |a, b| {
            let (ka, kb) = (free_k[a], free_k[b]);
            if a == b { 1.0 } else { covariance[ka * n + kb] / (std_errors[ka] * std_errors[kb]) }
        },
        f64::NAN,
    );
    // R² on the fitted scale, weighted like the residuals.
    let ss_tot = weighted_total_sum_of_squares(model, data, &values, options.collective.as_deref())?;
    let poisson = options.estimator == Estimator::Poisson;
    // R² compares squared residuals; a deviance is not one (and is not reported as one).
    let r_squared = if ss_tot > 0.0 && !poisson { 1.0 - chi2 / ss_tot } else { f64::NAN };
    // −2 ln L up to a constant: the deviance for Poisson (its saturated model is the constant),
    // m·ln(χ²/m) for Gaussian errors of unknown scale (lmfit's convention).
    let neg2_log_likelihood = if poisson { chi2 } else { m as f64 * (chi2 / m as f64).max(f64::MIN_POSITIVE).ln() };
    let active_mask = free.expand(&s.active_mask, &vec![0i8; n]);
    Ok(Fit {
        param_names: model.params().to_vec(),
        values,
        initial: initial.to_vec(),
        initial_given: (0..n).map(|k| options.p0[k].is_some() || options.fixed[k].is_some()).collect(),
        fixed: (0..n).map(|k| options.fixed[k].is_some()).collect(),
        std_errors,
        covariance,
        correlation,
        covariance_warning: cov.warning,
        reweighting: None,
        conditioning_warning: None,
        checkpoint_warning: None,
        lower: options.lower.clone(),
        upper: options.upper.clone(),
        active_mask,
        cost: s.cost,
        chi2,
        reduced_chi2: if dof > 0 { chi2 / dof as f64 } else { f64::NAN },
        r_squared,
        aic: neg2_log_likelihood + 2.0 * n_free as f64,
        bic: neg2_log_likelihood + (m as f64).ln() * n_free as f64,
        n_points: m,
        n_free,
        dof,
        residuals: s.residuals,
        jacobian_mode: s.jacobian_mode,
        optimality: s.optimality,
        nfev: s.nfev,
        njev: s.njev,
        iterations: s.iterations,
        status: s.status,
        message: s.status.message().to_owned(),
        method: s.method,
        estimator: options.estimator,
        loss: options.solve.loss,
        absolute_sigma: absolute,
        solve_time,
        backend: BackendReport::cpu(None),
        source: None,
    })
}

/// Σ (w_i (t_i − t̄))² with t_i = t(y_i) (y itself unless the left side transforms it) and t̄
/// the w²-weighted mean; two passes over the streamed chunks, partial sums added in the
/// streamed paths' tree (and shared like theirs between processes), so nothing of the data's
/// size is allocated and the value is the same however many processes share the data.
pub(super) fn weighted_total_sum_of_squares(
    model: &CompiledModel,
    data: &Data,
    params: &[f64],
    collective: Option<&dyn crate::problem::Collective>,
) -> Result<f64, crate::solve::SolveError> {
    use crate::problem::{STREAM_CHUNK, sum_over_chunks};
    use rayon::prelude::*;
    use std::borrow::Cow;
    let m = data.len();
    let weight = |i: usize| data.sigma_values().map_or(1.0, |s| 1.0 / s[i]);
    let vars: Vec<&[f64]> = model.vars().iter().map(|v| data.column(v).unwrap_or(&[])).collect();
    // The chunks in parallel (in order: each chunk's sum is the same whichever thread adds it,
    // and the tree adds them in chunk order), so the passes scale with the cores as the fit's
    // do. A chunk's targets are y's own values, or t(y) by the interpreter (one per thread).
    let one_chunk = |interp: &mut Option<_>, c: usize, sum: &(dyn Fn(usize, &[f64]) -> Vec<f64> + Sync)| {
        let (start, end) = (c * STREAM_CHUNK, ((c + 1) * STREAM_CHUNK).min(m));
        let t: Cow<'_, [f64]> = if model.transforms_response() {
            let interp = interp.get_or_insert_with(|| crate::ir::Interpreter::new(model.kernel()));
            let chunk: Vec<&[f64]> = vars.iter().map(|v| &v[start..end]).collect();
            let values = interp.eval_batch(&chunk, Some(&data.response()[start..end]), params).response;
            Cow::Owned(values.unwrap_or_default())
        } else {
            Cow::Borrowed(&data.response()[start..end])
        };
        sum(start, &t)
    };
    // One chunk (a small fit) stays on this thread: the pool's hand-off cost a warm 100-point
    // fit ~3 % (23.9 → 24.6 µs, `examples/warm_fit`, the two builds alternated).
    let per_chunk = |chunks: std::ops::Range<usize>, sum: &(dyn Fn(usize, &[f64]) -> Vec<f64> + Sync)| {
        if chunks.len() <= 1 {
            let mut interp = None;
            return chunks.map(|c| one_chunk(&mut interp, c, sum)).collect();
        }
        chunks.into_par_iter().map_init(|| None, |interp, c| one_chunk(interp, c, sum)).collect::<Vec<_>>()
    };
    let n_chunks = m.div_ceil(STREAM_CHUNK).max(1);
    let sums = sum_over_chunks(collective, n_chunks, 2, |chunks| {
        Ok(per_chunk(chunks, &|start, t| {
            let (mut sum_w2, mut sum_w2t) = (0.0, 0.0);
            for (k, t) in t.iter().enumerate() {
                let w2 = weight(start + k).powi(2);
                sum_w2 += w2;
                sum_w2t += w2 * t;
            }
            vec![sum_w2, sum_w2t]
        }))
    })?
    .unwrap_or_default();
    let mean = sums[1] / sums[0];
    let ss = sum_over_chunks(collective, n_chunks, 1, |chunks| {
        Ok(per_chunk(chunks, &|start, t| {
            vec![t.iter().enumerate().map(|(k, t)| (weight(start + k) * (t - mean)).powi(2)).sum::<f64>()]
        }))
    })?;
    Ok(ss.map_or(0.0, |s| s[0]))
}
