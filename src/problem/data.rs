//! A compiled model and its data on the CPU: r_i = w_i·(f(x_i; p) − t(y_i)), evaluated by a
//! backend's [`Kernels`] over fixed chunks in parallel, partial sums combined in a fixed
//! pairwise tree.

use crate::backend::{BackendError, Chunk, Kernels};
use crate::loss::LossSpec;
use crate::solve::{NormalEquations, Problem, SolveError};

/// A backend's refusal, as the solver sees it.
pub(crate) fn evaluation(e: BackendError) -> SolveError {
    SolveError::Evaluation(e.to_string())
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
            .map_err(evaluation)
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
        self.kernels.residuals(&self.chunk(), params, out).map_err(evaluation)
    }

    fn jacobian(&mut self, params: &[f64], _residuals: &[f64], out: &mut [f64]) -> Result<(), SolveError> {
        let mut r = std::mem::take(&mut self.scratch);
        r.resize(self.n_residuals(), 0.0);
        let result = self.kernels.residual_jacobian(&self.chunk(), params, &mut r, out);
        self.scratch = r;
        result.map_err(evaluation)
    }

    fn residuals_with_jacobian(&mut self, params: &[f64], r: &mut [f64], j: &mut [f64]) -> Result<bool, SolveError> {
        self.kernels.residual_jacobian(&self.chunk(), params, r, j).map_err(evaluation)?;
        Ok(true)
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
        crate::backend::check_chunk(self.kernels.kernel(), &self.chunk(), &params).map_err(evaluation)
    }
}
