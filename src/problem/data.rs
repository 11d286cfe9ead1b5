//! A compiled model and its data on the CPU: r_i = w_i·(f(x_i; p) − t(y_i)), evaluated by a
//! backend's [`Kernels`] over fixed chunks in parallel, partial sums combined in a fixed
//! pairwise tree.

use super::ranks::{Collective, sum_over_chunks};
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

/// A compiled model and its data: r_i = w_i·(f(x_i; p) − t(y_i)).
pub struct DataProblem<'a> {
    kernels: &'a dyn Kernels,
    vars: Vec<&'a [f64]>,
    y: &'a [f64],
    weights: Option<&'a [f64]>,
    scratch: Vec<f64>,
    /// Shared with other processes: this one evaluates only its share of the chunks.
    collective: Option<&'a dyn Collective>,
}

impl<'a> DataProblem<'a> {
    /// `vars` in the kernel's variable order; `weights` are 1/σ. Lengths must agree (the
    /// kernels check and report a mismatch as an error).
    pub fn new(kernels: &'a dyn Kernels, vars: Vec<&'a [f64]>, y: &'a [f64], weights: Option<&'a [f64]>) -> Self {
        DataProblem { kernels, vars, y, weights, scratch: Vec::new(), collective: None }
    }

    /// The same problem shared with other processes: each evaluates its share of the chunks
    /// (see [`Share`](super::Share)) and the sums are the one-process sums, bit for bit. Only
    /// the streamed paths (normal equations, Σr²) are distributed; the dense ones are refused.
    pub fn with_collective(mut self, collective: Option<&'a dyn Collective>) -> Self {
        self.collective = collective;
        self
    }

    fn dense_refused(&self) -> Result<(), SolveError> {
        match self.collective {
            Some(_) => Err(SolveError::InvalidInput(
                "a fit shared by several processes holds no residual vector or Jacobian: it runs on the normal equations".into(),
            )),
            None => Ok(()),
        }
    }

    fn chunk(&self) -> Chunk<'_> {
        Chunk { vars: &self.vars, y: self.y, weights: self.weights }
    }

    fn n_chunks(&self) -> usize {
        self.y.len().div_ceil(STREAM_CHUNK).max(1)
    }

    /// Runs `f` on the given chunks in parallel; results in chunk order.
    fn per_chunk<T: Send>(
        &self,
        chunks: std::ops::Range<usize>,
        f: impl Fn(&Chunk<'_>) -> Result<T, BackendError> + Sync,
    ) -> Result<Vec<T>, SolveError> {
        use rayon::prelude::*;
        let m = self.y.len();
        chunks
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
        self.dense_refused()?;
        self.kernels.residuals(&self.chunk(), params, out).map_err(evaluation)
    }

    fn jacobian(&mut self, params: &[f64], _residuals: &[f64], out: &mut [f64]) -> Result<(), SolveError> {
        self.dense_refused()?;
        let mut r = std::mem::take(&mut self.scratch);
        r.resize(self.n_residuals(), 0.0);
        let result = self.kernels.residual_jacobian(&self.chunk(), params, &mut r, out);
        self.scratch = r;
        result.map_err(evaluation)
    }

    fn residuals_with_jacobian(&mut self, params: &[f64], r: &mut [f64], j: &mut [f64]) -> Result<bool, SolveError> {
        self.dense_refused()?;
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
        let total = sum_over_chunks(self.collective, self.n_chunks(), p * p + p + 1, |chunks| {
            self.per_chunk(chunks, |chunk| {
                let mut part = NormalEquations::zeros(p);
                if loss.is_linear() {
                    self.kernels.normal_equations(chunk, params, &mut part)?;
                } else {
                    self.kernels.robust_normal_equations(chunk, params, loss, &mut part)?;
                }
                let mut flat = part.jtj;
                flat.extend_from_slice(&part.jtr);
                flat.push(part.rss);
                Ok(flat)
            })
        })?;
        if let Some(total) = total {
            let mut sum = NormalEquations::zeros(p);
            sum.jtj.copy_from_slice(&total[..p * p]);
            sum.jtr.copy_from_slice(&total[p * p..p * p + p]);
            sum.rss = total[p * p + p];
            acc.add(&sum);
        }
        Ok(())
    }

    fn sum_of_squares(&mut self, params: &[f64], loss: LossSpec) -> Result<Option<f64>, SolveError> {
        self.check_lengths()?;
        let total = sum_over_chunks(self.collective, self.n_chunks(), 1, |chunks| {
            self.per_chunk(chunks, |chunk| {
                let value = if loss.is_linear() {
                    self.kernels.sum_of_squares(chunk, params)
                } else {
                    self.kernels.robust_cost(chunk, params, loss)
                };
                value.map(|v| vec![v])
            })
        })?;
        Ok(total.map(|t| t[0]))
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
