//! What a solver sees: a [`Problem`] gives residuals and their Jacobian for a parameter
//! vector. A Rust closure, with its own Jacobian or finite differences, is one implementation
//! ([`ClosureProblem`]); the compiled string model with data is another, in
//! [`crate::problem`], above this layer.

use super::{NormalEquations, SolveError};
use crate::loss::LossSpec;

/// A least-squares problem: minimize ½ Σ ρ(r_i(p)²).
pub trait Problem {
    /// m, the number of residuals.
    fn n_residuals(&self) -> usize;
    /// n, the number of parameters.
    fn n_params(&self) -> usize;
    /// Fills `out` (length m) with r(p).
    fn residuals(&mut self, params: &[f64], out: &mut [f64]) -> Result<(), SolveError>;
    /// Fills `out` (m × n, row-major) with ∂r/∂p at `params`, where the residuals are
    /// `residuals` (finite differences reuse them).
    fn jacobian(&mut self, params: &[f64], residuals: &[f64], out: &mut [f64]) -> Result<(), SolveError>;

    /// Residuals and Jacobian at once, for problems that compute both in one evaluation for
    /// about the price of the residuals (compiled kernels): fills `r` (m) and `j` (m × n) and
    /// returns `true`; `false` (the default, touching nothing) where J costs evaluations of
    /// its own (finite differences), so that the solver asks for J only at accepted points.
    fn residuals_with_jacobian(&mut self, _params: &[f64], _r: &mut [f64], _j: &mut [f64]) -> Result<bool, SolveError> {
        Ok(false)
    }

    /// True when [`Problem::normal_equations`] works: the solver can then run without
    /// storing J.
    fn supports_normal_equations(&self) -> bool {
        false
    }

    /// Accumulates JᵀJ (upper triangle), Jᵀr and Σr² at `params` into `acc` (zeroed); under a
    /// robust loss, of the loss-scaled rows and residuals, with Σ f_scale²·ρ in `acc.rss`.
    fn normal_equations(
        &mut self,
        _params: &[f64],
        _loss: LossSpec,
        _acc: &mut NormalEquations,
    ) -> Result<(), SolveError> {
        Err(SolveError::InvalidInput("this problem cannot accumulate the normal equations".into()))
    }

    /// Σ f_scale²·ρ(r²/f_scale²) (Σ r² for the linear loss) at `params` without storing r, for
    /// problems that can stream it; `None` otherwise.
    fn sum_of_squares(&mut self, _params: &[f64], _loss: LossSpec) -> Result<Option<f64>, SolveError> {
        Ok(None)
    }
}

/// How finite differences are taken (scipy's `2-point` and `3-point`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum FiniteDifference {
    /// Forward differences, step √ε·max(1, |p|).
    #[default]
    TwoPoint,
    /// Central differences, step ε^(1/3)·max(1, |p|).
    ThreePoint,
}

type ResidualFn<'a> = dyn FnMut(&[f64], &mut [f64]) + 'a;
type JacobianFn<'a> = dyn FnMut(&[f64], &mut [f64]) + 'a;

/// A problem given by Rust closures: `residuals(p, r)` and optionally `jacobian(p, J)`
/// (row-major m × n); without one, finite differences.
pub struct ClosureProblem<'a> {
    m: usize,
    n: usize,
    residuals: Box<ResidualFn<'a>>,
    jacobian: Option<Box<JacobianFn<'a>>>,
    difference: FiniteDifference,
    work: Vec<f64>,
    work2: Vec<f64>,
}

impl<'a> ClosureProblem<'a> {
    pub fn new(m: usize, n: usize, residuals: impl FnMut(&[f64], &mut [f64]) + 'a) -> Self {
        ClosureProblem {
            m,
            n,
            residuals: Box::new(residuals),
            jacobian: None,
            difference: FiniteDifference::TwoPoint,
            work: vec![0.0; m],
            work2: vec![0.0; m],
        }
    }

    pub fn with_jacobian(mut self, jacobian: impl FnMut(&[f64], &mut [f64]) + 'a) -> Self {
        self.jacobian = Some(Box::new(jacobian));
        self
    }

    pub fn with_finite_difference(mut self, difference: FiniteDifference) -> Self {
        self.difference = difference;
        self
    }
}

impl Problem for ClosureProblem<'_> {
    fn n_residuals(&self) -> usize {
        self.m
    }

    fn n_params(&self) -> usize {
        self.n
    }

    fn residuals(&mut self, params: &[f64], out: &mut [f64]) -> Result<(), SolveError> {
        (self.residuals)(params, out);
        Ok(())
    }

    fn jacobian(&mut self, params: &[f64], residuals: &[f64], out: &mut [f64]) -> Result<(), SolveError> {
        if let Some(jacobian) = &mut self.jacobian {
            jacobian(params, out);
            return Ok(());
        }
        finite_difference_jacobian(
            &mut *self.residuals,
            params,
            residuals,
            self.difference,
            &mut self.work,
            &mut self.work2,
            out,
        );
        Ok(())
    }
}

/// scipy's `approx_derivative` without bounds: relative steps, the actual step taken from
/// the rounded parameter (`(p + h) - p`).
pub fn finite_difference_jacobian(
    residuals: &mut dyn FnMut(&[f64], &mut [f64]),
    params: &[f64],
    r0: &[f64],
    method: FiniteDifference,
    work: &mut Vec<f64>,
    work2: &mut Vec<f64>,
    out: &mut [f64],
) {
    let (m, n) = (r0.len(), params.len());
    work.resize(m, 0.0);
    work2.resize(m, 0.0);
    let mut p = params.to_vec();
    let rel = match method {
        FiniteDifference::TwoPoint => f64::EPSILON.sqrt(),
        FiniteDifference::ThreePoint => f64::EPSILON.cbrt(),
    };
    for k in 0..n {
        let sign = if params[k] >= 0.0 { 1.0 } else { -1.0 };
        let h0 = rel * sign * params[k].abs().max(1.0);
        p[k] = params[k] + h0;
        let h = p[k] - params[k];
        residuals(&p, work);
        match method {
            FiniteDifference::TwoPoint => {
                for i in 0..m {
                    out[i * n + k] = (work[i] - r0[i]) / h;
                }
            }
            FiniteDifference::ThreePoint => {
                p[k] = params[k] - h;
                residuals(&p, work2);
                for i in 0..m {
                    out[i * n + k] = (work[i] - work2[i]) / (2.0 * h);
                }
            }
        }
        p[k] = params[k];
    }
}
