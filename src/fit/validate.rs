//! Everything a fit checks before its first evaluation: the data (every variable present,
//! equal lengths, finite values, positive σ, a finite transformed response), the initial
//! values and bounds, the estimator's own conditions — and what follows from them: the
//! initial vector, the free parameters and the solver's options over those.

use super::{Data, Estimator, FitError, FitOptions};
use crate::compiled::CompiledModel;
use crate::problem::FreeParams;
use crate::solve::{self, BoundsError, Loss, SolveOptions, XScale};

/// A fit's input, checked.
pub(super) struct Input<'d> {
    /// The variable columns, in the kernel's order.
    pub vars: Vec<&'d [f64]>,
    /// 1/σ per point, when σ is given.
    pub weights: Option<Vec<f64>>,
    /// One value per parameter: the fixed value, the caller's p0, or the default start.
    pub initial: Vec<f64>,
    pub free: FreeParams,
    /// The solver's options over the free parameters.
    pub solve: SolveOptions,
}

impl<'d> Input<'d> {
    /// `rows`: the data rows this process evaluates (all of them, or a shared fit's share:
    /// only those are checked and given weights — the other rows' weights stay untouched
    /// zero pages).
    pub fn check(
        model: &CompiledModel,
        data: &'d Data,
        options: &FitOptions,
        rows: std::ops::Range<usize>,
    ) -> Result<Input<'d>, FitError> {
        let vars = columns_in(model, data, rows.clone())?;
        let weights = weights_in(data, rows.clone())?;
        transformed_response(model, data, &vars, rows)?;
        let n = model.n_params();
        let initial: Vec<f64> = (0..n)
            .map(|k| {
                options.fixed[k].or(options.p0[k]).unwrap_or_else(|| default_start(options.lower[k], options.upper[k]))
            })
            .collect();
        let free = FreeParams::from_fixed(&options.fixed);
        if free.is_empty() {
            return Err(FitError::Invalid("every parameter is fixed: nothing to fit".into()));
        }
        let m = data.len();
        if m < free.len() {
            return Err(FitError::Invalid(format!(
                "{m} data points for {} free parameters: at least as many points as parameters are needed",
                free.len()
            )));
        }
        bounds_and_starts(model, options, &initial)?;
        // A checkpoint that cannot be written is found now, not after the whole fit.
        if let Some(path) = &options.checkpoint {
            crate::fsutil::check_writable(path)
                .map_err(|e| FitError::Invalid(format!("cannot write the checkpoint {}: {e}", path.display())))?;
        }
        let mut solve = options.solve.clone();
        solve.lower = free.restrict(&options.lower);
        solve.upper = free.restrict(&options.upper);
        if let XScale::Fixed(s) = &options.solve.x_scale
            && s.len() == n
        {
            solve.x_scale = XScale::Fixed(free.restrict(s));
        }
        if options.estimator == Estimator::Poisson {
            poisson(model, data, options)?;
            // Deviance residuals need J itself.
            solve.jacobian = solve::JacobianMode::Dense;
        }
        Ok(Input { vars, weights, initial, free, solve })
    }
}

/// An unset initial value: 1 (curve_fit's default) when the bounds [l, u] allow it, else a
/// start on the side of 1, as far inside the nearer bound as that bound is from 0 (at least
/// 1): l + max(|l|, 1) or u − max(|u|, 1) — or the midpoint where that is nearer. (The
/// midpoint alone put a start at 5·10²⁹ for `a=3.5:1e30`, where the fit stalled.) Finite and
/// strictly inside for any l < u, however large.
pub fn default_start(l: f64, u: f64) -> f64 {
    // Halves first: l/2 + u/2 cannot overflow.
    let middle = 0.5 * l + 0.5 * u;
    if (l..=u).contains(&1.0) {
        1.0
    } else if l > 1.0 {
        let inside = l + l.abs().max(1.0);
        if u.is_finite() && inside >= middle {
            middle
        } else if inside.is_finite() {
            inside
        } else {
            0.5 * l + 0.5 * f64::MAX
        }
    } else {
        let inside = u - u.abs().max(1.0);
        if l.is_finite() && inside <= middle {
            middle
        } else if inside.is_finite() {
            inside
        } else {
            0.5 * u - 0.5 * f64::MAX
        }
    }
}

fn check_finite(what: &str, values: &[f64], rows: std::ops::Range<usize>) -> Result<(), FitError> {
    use rayon::prelude::*;
    let first = rows.start;
    // Blocks in parallel (the first bad block, then the first bad row in it), so that the
    // check scales with the cores as the fit does; a small column stays off the pool.
    const BLOCK: usize = 1 << 16;
    let values_in = &values[rows];
    let bad = |v: &f64| !v.is_finite();
    let found = if values_in.len() > BLOCK {
        let block = values_in.par_chunks(BLOCK).position_first(|block| block.iter().any(bad));
        block.and_then(|b| values_in[b * BLOCK..].iter().position(bad).map(|k| b * BLOCK + k))
    } else {
        values_in.iter().position(bad)
    };
    match found {
        Some(k) => Err(FitError::NonFinite { what: what.to_owned(), row: first + k, value: values[first + k] }),
        None => Ok(()),
    }
}

/// Every variable present, of y's length, finite; y finite.
pub(crate) fn columns<'d>(model: &CompiledModel, data: &'d Data) -> Result<Vec<&'d [f64]>, FitError> {
    columns_in(model, data, 0..data.len())
}

/// [`columns`], the values checked in `rows` only.
fn columns_in<'d>(
    model: &CompiledModel,
    data: &'d Data,
    rows: std::ops::Range<usize>,
) -> Result<Vec<&'d [f64]>, FitError> {
    let m = data.len();
    let mut vars = Vec::with_capacity(model.vars().len());
    for name in model.vars() {
        let column = data.column(name).ok_or_else(|| FitError::MissingColumn {
            name: name.clone(),
            available: data.column_names().collect::<Vec<_>>().join(", "),
        })?;
        if column.len() != m {
            return Err(FitError::LengthMismatch { name: name.clone(), expected: m, found: column.len() });
        }
        check_finite(&format!("column `{name}`"), column, rows.clone())?;
        vars.push(column);
    }
    check_finite("y", data.response(), rows)?;
    Ok(vars)
}

/// σ of y's length, finite and positive; returned as weights 1/σ.
pub(super) fn weights(data: &Data) -> Result<Option<Vec<f64>>, FitError> {
    weights_in(data, 0..data.len())
}

/// [`weights`] for `rows` only: the other rows' weights are zeros never written.
fn weights_in(data: &Data, rows: std::ops::Range<usize>) -> Result<Option<Vec<f64>>, FitError> {
    let Some(sigma) = data.sigma_values() else { return Ok(None) };
    if sigma.len() != data.len() {
        return Err(FitError::LengthMismatch { name: "sigma".into(), expected: data.len(), found: sigma.len() });
    }
    check_finite("sigma", sigma, rows.clone())?;
    let first = rows.start;
    let part = &sigma[rows.clone()];
    if let Some(k) = part.iter().position(|s| *s <= 0.0) {
        return Err(FitError::BadSigma { row: first + k, value: part[k] });
    }
    // Squared weights 1/σ² beyond f64's range make every residual zero or infinite: the fit
    // would "converge" with nothing fitted (σ = 1e308 on every row did).
    if let Some(k) = part.iter().position(|s| !(1e-150..=1e150).contains(s)) {
        return Err(FitError::Invalid(format!(
            "sigma at data row {} is {:e}: 1/σ² is outside f64's range, so the weighted residuals would underflow or overflow; rescale y and sigma",
            first + k + 1,
            part[k]
        )));
    }
    let mut weights = vec![0.0; sigma.len()];
    for (w, s) in weights[rows].iter_mut().zip(part) {
        *w = 1.0 / s;
    }
    Ok(Some(weights))
}

/// t(y) must be finite where the model is fitted (the log of a negative y, say).
pub(super) fn transformed_response(
    model: &CompiledModel,
    data: &Data,
    vars: &[&[f64]],
    rows: std::ops::Range<usize>,
) -> Result<(), FitError> {
    if !model.transforms_response() {
        return Ok(());
    }
    let y = &data.response()[rows.clone()];
    let vars: Vec<&[f64]> = vars.iter().map(|v| &v[rows.clone()]).collect();
    let t = crate::ir::Interpreter::new(model.kernel())
        .eval_batch(&vars, Some(y), &vec![1.0; model.n_params()])
        .response
        .unwrap_or_default();
    match t.iter().position(|v| !v.is_finite()) {
        Some(k) => Err(FitError::NonFinite {
            what: format!("the transformed response (at y = {})", y[k]),
            row: rows.start + k,
            value: t[k],
        }),
        None => Ok(()),
    }
}

/// Bounds in order: the one check, [`solve::check_bounds`], with the parameter named.
pub fn bounds_in_order(model: &CompiledModel, options: &FitOptions) -> Result<(), FitError> {
    solve::check_bounds(&options.lower, &options.upper, model.n_params()).map_err(|e| match e {
        BoundsError::Order { index, lower, upper } => {
            FitError::BadBounds { name: model.params()[index].clone(), lower, upper }
        }
        other => FitError::Bounds(other),
    })
}

/// Bounds in order ([`bounds_in_order`]), finite initial values inside them.
pub(super) fn bounds_and_starts(model: &CompiledModel, options: &FitOptions, initial: &[f64]) -> Result<(), FitError> {
    let name = |k: usize| &model.params()[k];
    bounds_in_order(model, options)?;
    for (k, value) in initial.iter().enumerate() {
        let (l, u) = (options.lower[k], options.upper[k]);
        if !value.is_finite() {
            return Err(FitError::Invalid(format!("`{}`: the initial value {value} is not finite", name(k))));
        }
        if *value < l || *value > u {
            return Err(FitError::Invalid(match options.fixed[k] {
                // Conflicting options are refused, not resolved by one silently winning.
                Some(_) => format!("`{}` is fixed at {value}, outside its bounds [{l}, {u}]", name(k)),
                None => format!("`{}`: the initial value {value} is outside its bounds [{l}, {u}]", name(k)),
            }));
        }
    }
    Ok(())
}

/// The Poisson estimator's conditions: counts ≥ 0, no σ, a plain response, the linear loss.
fn poisson(model: &CompiledModel, data: &Data, options: &FitOptions) -> Result<(), FitError> {
    if data.sigma_values().is_some() {
        return Err(FitError::Invalid("the Poisson estimator takes counts without sigma".into()));
    }
    if let Some(row) = data.response().iter().position(|y| *y < 0.0) {
        return Err(FitError::Invalid(format!(
            "the Poisson estimator needs counts ≥ 0; data row {} has {}",
            row + 1,
            data.response()[row]
        )));
    }
    if model.transforms_response() || options.solve.loss != Loss::Linear {
        return Err(FitError::Invalid("the Poisson estimator needs a plain response and the linear loss".into()));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::default_start;

    #[test]
    fn default_starts_stay_near_the_bound_on_the_side_of_one() {
        let inf = f64::INFINITY;
        let cases = [
            ((-inf, inf), 1.0),
            ((0.0, 2.0), 1.0),
            ((3.5, inf), 7.0),
            ((3.5, 1e30), 7.0),
            ((3.5, 5.0), 4.25),
            ((100.0, 150.0), 125.0),
            ((-inf, -2.0), -4.0),
            ((-1e300, -2.0), -4.0),
            ((-3.0, -2.0), -2.5),
            ((-inf, 0.5), -0.5),
            ((-1e308, 1e-3), -0.999),
            ((1e300, f64::MAX), 2e300),
            ((1e308, f64::INFINITY), 0.5 * 1e308 + 0.5 * f64::MAX),
            ((-f64::INFINITY, -1e308), -0.5 * 1e308 - 0.5 * f64::MAX),
            ((1.5e308, f64::MAX), 0.5 * 1.5e308 + 0.5 * f64::MAX),
        ];
        for ((l, u), start) in cases {
            assert_eq!(default_start(l, u), start, "[{l}, {u}]");
            assert!(start.is_finite() && l < start && start < u, "[{l}, {u}]: {start}");
        }
    }
}
