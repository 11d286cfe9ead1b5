//! The polish of a streamed solution: the normal equations square J's condition number, so
//! when JᵀJ (columns scaled to unit norm) is too ill-conditioned to trust, J fits in memory and
//! the caller left the choice to us, the fit is finished on the dense path from the streamed
//! solution; otherwise the report says how many digits may be lost.

use super::FitError;
use crate::solve::{self, JacobianMode, Problem, Solution, SolveOptions};

/// Above this condition number of the column-scaled JᵀJ (κ(J) above 10^5), the streamed
/// solution is polished on the dense path: the normal equations would lose 10 of 16 digits.
const MAX_TRUSTED_GRAM_CONDITION: f64 = 1e10;

/// The most Jacobian entries the polish may store (1 GiB of f64).
const DENSE_POLISH_LIMIT: usize = 1 << 27;

/// λ_max/λ_min of D·JᵀJ·D with D = diag(JᵀJ)^(-1/2) (∞ when singular).
fn scaled_condition_number(jtj: &[f64], n: usize) -> f64 {
    let d: Vec<f64> = (0..n).map(|k| if jtj[k * n + k] > 0.0 { 1.0 / jtj[k * n + k].sqrt() } else { 1.0 }).collect();
    let g = faer::Mat::from_fn(n, n, |a, b| d[a] * jtj[a * n + b] * d[b]);
    let Ok(eigen) = g.self_adjoint_eigen(faer::Side::Lower) else { return f64::INFINITY };
    let values = eigen.S().column_vector();
    let (lo, hi) = (values[0], values[n - 1]);
    if lo <= 0.0 { f64::INFINITY } else { hi / lo }
}

/// Polishes `solution` when it needs it (see the module docs); returns the solution to report
/// and the warning that goes with it.
pub(super) fn polish_if_ill_conditioned(
    problem: &mut dyn Problem,
    solution: Solution,
    solve_options: &SolveOptions,
    requested: JacobianMode,
    n_points: usize,
) -> Result<(Solution, Option<String>), FitError> {
    if solution.jacobian_mode != JacobianMode::NormalEquations || !solution.status.converged() {
        return Ok((solution, None));
    }
    let n_free = solve_options.lower.len();
    let kappa = scaled_condition_number(&solution.jtj, n_free);
    if kappa <= MAX_TRUSTED_GRAM_CONDITION {
        return Ok((solution, None));
    }
    if requested == JacobianMode::Auto && n_points.saturating_mul(n_free) <= DENSE_POLISH_LIMIT {
        let mut dense = solve_options.clone();
        dense.jacobian = JacobianMode::Dense;
        let polished = solve::solve(problem, &solution.x, &dense)?;
        let warning = format!(
            "JᵀJ was ill-conditioned (condition number {kappa:.1e}): the solution was polished on the dense Jacobian"
        );
        return Ok((polished, Some(warning)));
    }
    let warning = format!(
        "JᵀJ is ill-conditioned (condition number {kappa:.1e}): about {:.0} of 16 digits may be lost on the streamed path",
        kappa.log10()
    );
    Ok((solution, Some(warning)))
}
