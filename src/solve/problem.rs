//! What a solver sees: a [`Problem`] gives residuals and their Jacobian for a parameter
//! vector. The compiled string model with data is one implementation ([`DataProblem`]); a
//! Rust closure, with its own Jacobian or finite differences, is another ([`ClosureProblem`]).

use super::SolveError;
use crate::backend::{BackendError, Chunk, Kernels, NormalEquations};
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

/// Points per chunk on the parallel paths. Fixed, and partial results are combined in a fixed
/// pairwise tree, so results are bit-identical whatever the number of threads.
pub const STREAM_CHUNK: usize = 8192;

/// Combines items pairwise, level by level, in a fixed order.
fn tree_reduce<T>(mut items: Vec<T>, combine: impl Fn(&mut T, &T)) -> Option<T> {
    while items.len() > 1 {
        let mut next = Vec::with_capacity(items.len().div_ceil(2));
        let mut it = items.into_iter();
        while let Some(mut a) = it.next() {
            if let Some(b) = it.next() {
                combine(&mut a, &b);
            }
            next.push(a);
        }
        items = next;
    }
    items.pop()
}

/// A compiled model and its data: r_i = w_i·(f(x_i; p) − t(y_i)).
pub struct DataProblem<'a> {
    kernels: &'a dyn Kernels,
    vars: Vec<&'a [f64]>,
    y: &'a [f64],
    weights: Option<&'a [f64]>,
    scratch: Vec<f64>,
}

impl<'a> DataProblem<'a> {
    /// `vars` in the kernel's variable order; `weights` are 1/σ. Lengths must agree (the
    /// kernels check and report a mismatch as an error).
    pub fn new(kernels: &'a dyn Kernels, vars: Vec<&'a [f64]>, y: &'a [f64], weights: Option<&'a [f64]>) -> Self {
        DataProblem { kernels, vars, y, weights, scratch: Vec::new() }
    }

    fn chunk(&self) -> Chunk<'_> {
        Chunk { vars: &self.vars, y: self.y, weights: self.weights }
    }

    fn n_chunks(&self) -> usize {
        self.y.len().div_ceil(STREAM_CHUNK).max(1)
    }

    /// Runs `f` on every chunk in parallel; results in chunk order.
    fn per_chunk<T: Send>(
        &self,
        f: impl Fn(&Chunk<'_>) -> Result<T, BackendError> + Sync,
    ) -> Result<Vec<T>, SolveError> {
        use rayon::prelude::*;
        let m = self.y.len();
        (0..self.n_chunks())
            .into_par_iter()
            .map(|c| {
                let (start, end) = (c * STREAM_CHUNK, ((c + 1) * STREAM_CHUNK).min(m));
                let vars: Vec<&[f64]> = self.vars.iter().map(|v| &v[start.min(v.len())..end.min(v.len())]).collect();
                let chunk = Chunk {
                    vars: &vars,
                    y: &self.y[start..end],
                    weights: self.weights.map(|w| &w[start.min(w.len())..end.min(w.len())]),
                };
                f(&chunk)
            })
            .collect::<Result<Vec<T>, BackendError>>()
            .map_err(SolveError::from)
    }
}

impl Problem for DataProblem<'_> {
    fn n_residuals(&self) -> usize {
        self.y.len()
    }

    fn n_params(&self) -> usize {
        self.kernels.kernel().n_params()
    }

    fn residuals(&mut self, params: &[f64], out: &mut [f64]) -> Result<(), SolveError> {
        self.kernels.residuals(&self.chunk(), params, out).map_err(SolveError::from)
    }

    fn jacobian(&mut self, params: &[f64], _residuals: &[f64], out: &mut [f64]) -> Result<(), SolveError> {
        let mut r = std::mem::take(&mut self.scratch);
        r.resize(self.n_residuals(), 0.0);
        let result = self.kernels.residual_jacobian(&self.chunk(), params, &mut r, out);
        self.scratch = r;
        result.map_err(SolveError::from)
    }

    fn supports_normal_equations(&self) -> bool {
        true
    }

    fn normal_equations(
        &mut self,
        params: &[f64],
        loss: LossSpec,
        acc: &mut NormalEquations,
    ) -> Result<(), SolveError> {
        self.check_lengths()?;
        let p = self.n_params();
        let partials = self.per_chunk(|chunk| {
            let mut part = NormalEquations::zeros(p);
            if loss.is_linear() {
                self.kernels.normal_equations(chunk, params, &mut part)?;
            } else {
                self.kernels.robust_normal_equations(chunk, params, loss, &mut part)?;
            }
            Ok(part)
        })?;
        if let Some(total) = tree_reduce(partials, |a, b| a.add(b)) {
            acc.add(&total);
        }
        Ok(())
    }

    fn sum_of_squares(&mut self, params: &[f64], loss: LossSpec) -> Result<Option<f64>, SolveError> {
        self.check_lengths()?;
        let partials = self.per_chunk(|chunk| {
            if loss.is_linear() {
                self.kernels.sum_of_squares(chunk, params)
            } else {
                self.kernels.robust_cost(chunk, params, loss)
            }
        })?;
        Ok(tree_reduce(partials, |a, b| *a += b))
    }
}

impl DataProblem<'_> {
    /// The chunked paths slice every column by the response's length: check them first, so a
    /// mismatch is an error rather than a short slice.
    fn check_lengths(&self) -> Result<(), SolveError> {
        let params = vec![0.0; self.n_params()];
        crate::backend::check_chunk(self.kernels.kernel(), &self.chunk(), &params).map_err(SolveError::from)
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
