//! Fixed parameters: a problem over the free parameters of another, the fixed ones held at
//! their values. Residuals are the inner problem's; Jacobian columns and normal-equation
//! rows and columns of the fixed parameters are dropped.

use crate::loss::LossSpec;
use crate::solve::{NormalEquations, Problem, SolveError};

/// Fixes some parameters of a problem: the solver sees only the free ones.
pub struct FixedParams<'a> {
    inner: &'a mut dyn Problem,
    full: Vec<f64>,
    free: FreeParams,
    jacobian: Vec<f64>,
}

/// Which parameters of a model are free: the map between the solver's vector (free ones
/// only) and the model's (all of them). The one such map, shared by fits, batches and
/// multi-start.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FreeParams {
    n_all: usize,
    free: Vec<usize>,
}

impl FreeParams {
    /// The parameters `k < n_all` with `fixed[k]` unset are free.
    pub fn from_fixed(fixed: &[Option<f64>]) -> Self {
        FreeParams { n_all: fixed.len(), free: (0..fixed.len()).filter(|k| fixed[*k].is_none()).collect() }
    }

    /// The free parameters' indices into the full vector, increasing.
    pub fn indices(&self) -> &[usize] {
        &self.free
    }

    /// How many are free.
    pub fn len(&self) -> usize {
        self.free.len()
    }

    pub fn is_empty(&self) -> bool {
        self.free.is_empty()
    }

    /// How many parameters there are in all.
    pub fn n_all(&self) -> usize {
        self.n_all
    }

    /// The free entries of a full vector.
    pub fn restrict<T: Copy>(&self, full: &[T]) -> Vec<T> {
        self.free.iter().map(|k| full[*k]).collect()
    }

    /// `base` (a full vector) with the free entries replaced by `free_values`.
    pub fn expand<T: Copy>(&self, free_values: &[T], base: &[T]) -> Vec<T> {
        let mut full = base.to_vec();
        for (c, k) in self.free.iter().enumerate() {
            full[*k] = free_values[c];
        }
        full
    }

    /// An n_free × n_free row-major matrix placed in an n_all × n_all one, `fill` elsewhere.
    pub fn expand_matrix(&self, free_matrix: impl Fn(usize, usize) -> f64, fill: f64) -> Vec<f64> {
        let n = self.n_all;
        let mut full = vec![fill; n * n];
        for (a, ka) in self.free.iter().enumerate() {
            for (b, kb) in self.free.iter().enumerate() {
                full[ka * n + kb] = free_matrix(a, b);
            }
        }
        full
    }
}

impl<'a> FixedParams<'a> {
    /// `inner` with every parameter not in `free` held at its value in `full` (which has one
    /// value per parameter of `inner`).
    pub fn new(inner: &'a mut dyn Problem, full: Vec<f64>, free: &FreeParams) -> Self {
        FixedParams { inner, full, free: free.clone(), jacobian: Vec::new() }
    }

    fn expand(&mut self, free_values: &[f64]) {
        for (slot, v) in self.free.indices().iter().zip(free_values) {
            self.full[*slot] = *v;
        }
    }

    /// Runs `evaluate` on the inner problem at the full parameters with a Jacobian of all its
    /// columns — `out` itself when nothing is fixed — and keeps the free ones in `out` when
    /// `filled` says it wrote them.
    fn free_columns<T>(
        &mut self,
        params: &[f64],
        out: &mut [f64],
        filled: impl Fn(&T) -> bool,
        evaluate: impl FnOnce(&mut dyn Problem, &[f64], &mut [f64]) -> Result<T, SolveError>,
    ) -> Result<T, SolveError> {
        self.expand(params);
        let (m, n_all, n_free) = (self.inner.n_residuals(), self.full.len(), self.free.len());
        if n_free == n_all {
            // Nothing fixed: the columns are the inner problem's own.
            return evaluate(&mut *self.inner, &self.full, out);
        }
        self.jacobian.resize(m * n_all, 0.0);
        let mut full_jacobian = std::mem::take(&mut self.jacobian);
        let result = evaluate(&mut *self.inner, &self.full, &mut full_jacobian);
        if result.as_ref().is_ok_and(&filled) {
            self.select_columns(&full_jacobian, out);
        }
        self.jacobian = full_jacobian;
        result
    }

    /// The free parameters' columns of the inner problem's Jacobian.
    fn select_columns(&self, full_jacobian: &[f64], out: &mut [f64]) {
        let (n_all, n_free) = (self.full.len(), self.free.len());
        for (row, full_row) in out.chunks_exact_mut(n_free).zip(full_jacobian.chunks_exact(n_all)) {
            for (c, k) in self.free.indices().iter().enumerate() {
                row[c] = full_row[*k];
            }
        }
    }
}

impl Problem for FixedParams<'_> {
    fn n_residuals(&self) -> usize {
        self.inner.n_residuals()
    }
    fn n_params(&self) -> usize {
        self.free.len()
    }
    fn residuals(&mut self, params: &[f64], out: &mut [f64]) -> Result<(), SolveError> {
        self.expand(params);
        self.inner.residuals(&self.full, out)
    }
    fn residuals_with_jacobian(&mut self, params: &[f64], r: &mut [f64], j: &mut [f64]) -> Result<bool, SolveError> {
        self.free_columns(
            params,
            j,
            |filled| *filled,
            |inner, full, jacobian| inner.residuals_with_jacobian(full, r, jacobian),
        )
    }

    fn jacobian(&mut self, params: &[f64], residuals: &[f64], out: &mut [f64]) -> Result<(), SolveError> {
        self.free_columns(params, out, |_| true, |inner, full, jacobian| inner.jacobian(full, residuals, jacobian))
    }

    fn supports_normal_equations(&self) -> bool {
        self.inner.supports_normal_equations()
    }

    fn sum_of_squares(&mut self, params: &[f64], loss: LossSpec) -> Result<Option<f64>, SolveError> {
        self.expand(params);
        self.inner.sum_of_squares(&self.full, loss)
    }

    fn normal_equations(
        &mut self,
        params: &[f64],
        loss: LossSpec,
        acc: &mut NormalEquations,
    ) -> Result<(), SolveError> {
        self.expand(params);
        let n_all = self.full.len();
        let mut full = NormalEquations::zeros(n_all);
        self.inner.normal_equations(&self.full, loss, &mut full)?;
        let n_free = self.free.len();
        for (a, ka) in self.free.indices().iter().enumerate() {
            for (b, kb) in self.free.indices().iter().enumerate() {
                acc.jtj[a * n_free + b] += full.jtj[ka * n_all + kb];
            }
            acc.jtr[a] += full.jtr[*ka];
        }
        acc.rss += full.rss;
        Ok(())
    }
}
