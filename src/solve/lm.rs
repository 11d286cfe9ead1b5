//! Levenberg–Marquardt as in MINPACK's `lmder` (Moré 1978): diagonal scaling by the largest
//! column norms seen so far, a trust region on ‖D p‖, MINPACK's radius updates and its
//! `ftol`/`xtol`/`gtol` tests. The LM parameter comes from the SVD of J·D⁻¹ (the exact
//! secular equation) instead of MINPACK's QR-based `lmpar` — or from the eigendecomposition
//! of D⁻¹JᵀJD⁻¹ when J is not stored.

use super::common::*;
use super::{Evaluator, Solution, SolveError, SolveOptions, Status};

/// `cancel`: when set (Ctrl-C, SIGTERM), the fit stops at its last accepted point with
/// [`Status::Interrupted`].
pub fn lm(
    ev: &mut Evaluator<'_>,
    x0: &[f64],
    options: &SolveOptions,
    cancel: Option<&std::sync::atomic::AtomicBool>,
) -> Result<Solution, SolveError> {
    let n = ev.n;
    let max_nfev = options.max_nfev.unwrap_or(super::DEFAULT_NFEV_PER_PARAM * n);
    let (ftol, xtol, gtol) = (options.ftol, options.xtol, options.gtol);
    let eps = f64::EPSILON;
    const FACTOR: f64 = 100.0;

    let mut x = x0.to_vec();
    let mut state = ev.start(&x)?;
    let mut fnorm = (2.0 * state.cost).sqrt();
    let mut diag: Vec<f64> =
        ev.jac(&state).column_norms().into_iter().map(|c| if c == 0.0 { 1.0 } else { c }).collect();
    let dx = |x: &[f64], diag: &[f64]| norm(&x.iter().zip(diag).map(|(x, d)| x * d).collect::<Vec<_>>());
    let mut xnorm = dx(&x, &diag);
    let mut delta = if xnorm == 0.0 { FACTOR } else { FACTOR * xnorm };
    let mut par = 0.0;
    let mut iterations = 0;
    let mut status: Option<Status>;
    let mut first = true;
    let ones = vec![1.0; n];
    let mut scratch = SvdScratch::default();
    // Buffers every iteration refills: the column norms and the trial's scaled step.
    let (mut norms, mut q) = (Vec::with_capacity(n), Vec::with_capacity(n));

    loop {
        let jac = ev.jac(&state);
        jac.column_norms_into(&mut norms);
        let g = &state.g;
        // MINPACK's scaled gradient: the cosine of the angle between f and each column of J.
        let mut gnorm = 0.0f64;
        if fnorm != 0.0 {
            for k in 0..n {
                if norms[k] != 0.0 {
                    gnorm = gnorm.max((g[k] / fnorm).abs() / norms[k]);
                }
            }
        }
        if ev.non_finite_jacobian {
            status = Some(Status::NonFiniteJacobian);
            break;
        }
        if cancel.is_some_and(|c| c.load(std::sync::atomic::Ordering::Relaxed)) {
            status = Some(Status::Interrupted);
            break;
        }
        if gnorm <= gtol {
            status = Some(Status::Gtol);
            break;
        }
        for k in 0..n {
            diag[k] = diag[k].max(norms[k]);
        }

        // The scaled problem: J·D⁻¹ q + f, q = D p.
        let inv_diag: Vec<f64> = diag.iter().map(|d| 1.0 / d).collect();
        let Some(svd) = jac.svd_parts_in(&inv_diag, None, &state.f, g, &mut scratch) else {
            // A numerical failure mid-fit ends it with a status (and a report), not an error.
            status = Some(Status::LinearAlgebraFailure);
            break;
        };
        let mut accepted = None;
        loop {
            if ev.nfev >= max_nfev {
                status = Some(Status::MaxEvaluations);
                break;
            }
            let (alpha, _) = solve_lsq_trust_region(n, jac.m(), &svd, delta, Some(par), &mut q);
            par = alpha;
            let p: Vec<f64> = (0..n).map(|k| q[k] / diag[k]).collect();
            let pnorm = norm(&q);
            if first {
                delta = delta.min(pnorm);
            }
            let x_new: Vec<f64> = (0..n).map(|k| x[k] + p[k]).collect();
            let fnorm1 = match ev.cost_at(&x_new)? {
                Some(cost) => (2.0 * cost).sqrt(),
                None => f64::INFINITY,
            };
            let actred = if 0.1 * fnorm1 < fnorm { 1.0 - (fnorm1 / fnorm).powi(2) } else { -1.0 };
            let temp1 = jac.quad(&ones, &p, &p).max(0.0).sqrt() / fnorm;
            let temp2 = par.sqrt() * pnorm / fnorm;
            let prered = temp1 * temp1 + temp2 * temp2 / 0.5;
            let dirder = -(temp1 * temp1 + temp2 * temp2);
            let ratio = if prered != 0.0 { actred / prered } else { 0.0 };

            if ratio <= 0.25 {
                let mut temp = if actred >= 0.0 { 0.5 } else { 0.5 * dirder / (dirder + 0.5 * actred) };
                if 0.1 * fnorm1 >= fnorm || temp < 0.1 {
                    temp = 0.1;
                }
                delta = temp * delta.min(pnorm / 0.1);
                par /= temp;
            } else if par == 0.0 || ratio >= 0.75 {
                delta = pnorm / 0.5;
                par *= 0.5;
            }

            if ratio >= 1e-4 {
                xnorm = dx(&x_new, &diag);
                fnorm = fnorm1;
                iterations += 1;
                accepted = Some(x_new);
            }
            first = false;
            let ftol_ok = actred.abs() <= ftol && prered <= ftol && 0.5 * ratio <= 1.0;
            let xtol_ok = delta <= xtol * xnorm;
            status = match (ftol_ok, xtol_ok) {
                (true, true) => Some(Status::FtolXtol),
                (true, false) => Some(Status::Ftol),
                (false, true) => Some(Status::Xtol),
                // MINPACK's "tolerance too small" outcomes: nothing more can be gained.
                _ if actred.abs() <= eps && prered <= eps && 0.5 * ratio <= 1.0 => Some(Status::Ftol),
                _ if delta <= eps * xnorm => Some(Status::Xtol),
                _ if gnorm <= eps => Some(Status::Gtol),
                _ => None,
            };
            if status.is_some() || accepted.is_some() {
                break;
            }
        }
        scratch.recycle(svd);
        if let Some(x_new) = accepted {
            x = x_new;
            let next = ev.accept(&x)?;
            ev.recycle(std::mem::replace(&mut state, next));
            fnorm = (2.0 * state.cost).sqrt();
        }
        if status.is_some() {
            break;
        }
    }
    let g = state.g.clone();
    let optimality = inf_norm(&g);
    Ok(ev.finish(x, state, g, optimality, vec![0; n], iterations, status.unwrap_or(Status::MaxEvaluations)))
}
