//! Many small fits, Gpufit's way: one compiled model, thousands to millions of small data sets
//! laid out as arrays (responses back to back, variables shared or per point), a compact
//! Levenberg–Marquardt per fit (normal equations from the fused kernel, Cholesky, Marquardt's
//! diagonal damping, bounds by projection), workspaces reused per thread, results as arrays.
//!
//! Each fit depends only on its own data and options, so results are bit-identical whatever
//! the thread count and whether a data set is fitted in a batch or alone. The GPU runs the same
//! loop in f32 ([`super::gpu`]).

use crate::backend::{Backend, Chunk, Kernels, NormalEquations};
use crate::compiled::CompiledModel;
use crate::fit::FitError;
use crate::solve::{cholesky, cholesky_solve};
use rayon::prelude::*;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// A variable column of a batch.
#[derive(Clone, Copy, Debug)]
pub enum BatchVar<'a> {
    /// The same values for every fit (e.g. pixel coordinates); needs equal lengths.
    Shared(&'a [f64]),
    /// One value per point, aligned with the responses.
    PerPoint(&'a [f64]),
}

/// The data of many fits: responses back to back, fit k owning `y[offsets[k]..offsets[k+1]]`.
#[derive(Clone, Debug)]
pub struct BatchData<'a> {
    pub(crate) y: &'a [f64],
    pub(crate) offsets: Vec<usize>,
    pub(crate) vars: Vec<(String, BatchVar<'a>)>,
    pub(crate) weights: Option<&'a [f64]>,
}

impl<'a> BatchData<'a> {
    /// Fits of `points` points each: `y` is fits × points, row-major. A length that is not a
    /// multiple of `points` is reported by the fit.
    pub fn uniform(y: &'a [f64], points: usize) -> Self {
        let fits = y.len().checked_div(points).unwrap_or(0);
        let mut offsets: Vec<usize> = (0..=fits).map(|k| k * points).collect();
        if points == 0 || !y.len().is_multiple_of(points) {
            offsets.push(y.len() + 1); // an invalid layout: `check` says why
        }
        BatchData { y, offsets, vars: Vec::new(), weights: None }
    }

    /// Fits of varying lengths: fit k owns `y[offsets[k]..offsets[k+1]]` (offsets start at 0,
    /// never decrease and end at `y.len()`).
    pub fn with_offsets(y: &'a [f64], offsets: Vec<usize>) -> Self {
        BatchData { y, offsets, vars: Vec::new(), weights: None }
    }

    /// A variable with the same values in every fit (all fits must have its length).
    pub fn shared_var(mut self, name: &str, values: &'a [f64]) -> Self {
        self.vars.push((name.to_owned(), BatchVar::Shared(values)));
        self
    }

    /// A variable with a value per point, aligned with `y`.
    pub fn var(mut self, name: &str, values: &'a [f64]) -> Self {
        self.vars.push((name.to_owned(), BatchVar::PerPoint(values)));
        self
    }

    /// Weights 1/σ per point, aligned with `y`.
    pub fn weights(mut self, weights: &'a [f64]) -> Self {
        self.weights = Some(weights);
        self
    }

    pub fn n_fits(&self) -> usize {
        self.offsets.len().saturating_sub(1)
    }

    /// The layout's errors: offsets, lengths, variables the model needs.
    pub(crate) fn check(&self, model: &CompiledModel) -> Result<(), FitError> {
        let m = self.y.len();
        let o = &self.offsets;
        if o.first() != Some(&0) || o.last() != Some(&m) || o.windows(2).any(|w| w[0] > w[1]) {
            return Err(FitError::Invalid(format!(
                "the batch layout does not cover the {m} responses: fits need equal lengths dividing {m}, or offsets from 0 to {m} that never decrease"
            )));
        }
        for name in model.vars() {
            match self.vars.iter().find(|(n, _)| n == name) {
                None => {
                    return Err(FitError::MissingColumn {
                        name: name.clone(),
                        available: self.vars.iter().map(|(n, _)| n.as_str()).collect::<Vec<_>>().join(", "),
                    });
                }
                Some((_, BatchVar::PerPoint(v))) if v.len() != m => {
                    return Err(FitError::LengthMismatch { name: name.clone(), expected: m, found: v.len() });
                }
                Some((_, BatchVar::Shared(v))) => {
                    if let Some(k) = (0..self.n_fits()).find(|k| o[k + 1] - o[*k] != v.len()) {
                        return Err(FitError::LengthMismatch {
                            name: format!("{name} (shared; fit {k})"),
                            expected: o[k + 1] - o[k],
                            found: v.len(),
                        });
                    }
                }
                Some(_) => {}
            }
        }
        if let Some(w) = self.weights
            && w.len() != m
        {
            return Err(FitError::LengthMismatch { name: "weights".into(), expected: m, found: w.len() });
        }
        Ok(())
    }

    /// The model's variables, in its order, found by name once per batch (`check` has made
    /// sure each is there).
    pub(crate) fn model_vars(&self, model: &CompiledModel) -> Vec<BatchVar<'a>> {
        model
            .vars()
            .iter()
            .map(|name| self.vars.iter().find(|(n, _)| n == name).map_or(BatchVar::Shared(&[]), |(_, v)| *v))
            .collect()
    }

    /// Fit k's columns, `vars` from [`BatchData::model_vars`].
    pub(crate) fn columns(&self, vars: &[BatchVar<'a>], k: usize) -> (Vec<&'a [f64]>, &'a [f64], Option<&'a [f64]>) {
        let (start, end) = (self.offsets[k], self.offsets[k + 1]);
        let columns = vars
            .iter()
            .map(|v| match v {
                BatchVar::Shared(v) => *v,
                BatchVar::PerPoint(v) => &v[start..end],
            })
            .collect();
        (columns, &self.y[start..end], self.weights.map(|w| &w[start..end]))
    }
}

/// Options of a batch: the same for every fit, except initial values, which may be per fit.
#[derive(Clone, Debug)]
pub struct BatchOptions {
    /// Initial values: n (shared by every fit) or fits × n.
    pub p0: Vec<f64>,
    /// Bounds per parameter (n each), or empty for none.
    pub lower: Vec<f64>,
    pub upper: Vec<f64>,
    /// Iterations at most per fit.
    pub max_iterations: usize,
    /// Converged when an accepted step lowers χ² by less than `tolerance`·χ².
    pub tolerance: f64,
    /// σ are absolute: do not scale the covariance by χ²/dof.
    pub absolute_sigma: bool,
    /// Where the fits run: `Cpu`, `Gpu` (the same loop in f32 on the device, for fits of at
    /// most [`MAX_POINTS_PER_FIT`](super::MAX_POINTS_PER_FIT) points; its χ² tolerance is at
    /// least Gpufit's 1e-4, the resolution of f32 residuals), or `Auto` (CPU).
    pub backend: Backend,
}

impl BatchOptions {
    /// Shared initial values, no bounds, 100 iterations, tolerance 1e-10.
    pub fn new(p0: &[f64]) -> Self {
        BatchOptions {
            p0: p0.to_vec(),
            lower: Vec::new(),
            upper: Vec::new(),
            max_iterations: 100,
            tolerance: 1e-10,
            absolute_sigma: false,
            backend: Backend::Auto,
        }
    }

    /// The batch form of a single fit's options: initial values (unset ones as a single fit
    /// would start them), bounds, σ handling, backend. Refused, with why, when they ask for
    /// what the compact loop does not do: a robust loss, the Poisson estimator, fixed
    /// parameters, checkpoints.
    pub fn from_fit_options(options: &crate::FitOptions) -> Result<Self, String> {
        let why = if options.solve.loss != crate::solve::Loss::Linear {
            Some("a robust loss")
        } else if options.estimator == crate::fit::Estimator::Poisson {
            Some("the Poisson estimator")
        } else if options.fixed.iter().any(Option::is_some) {
            Some("fixed parameters")
        } else if options.checkpoint.is_some() || options.resume.is_some() {
            Some("checkpoints")
        } else {
            None
        };
        if let Some(why) = why {
            return Err(format!(
                "the compact batch solver fits plain least squares with every parameter free: not {why}"
            ));
        }
        let n = options.p0.len();
        let p0: Vec<f64> = (0..n)
            .map(|k| options.p0[k].unwrap_or_else(|| crate::fit::default_start(options.lower[k], options.upper[k])))
            .collect();
        let bounded = options.lower.iter().chain(&options.upper).any(|b| b.is_finite());
        let mut batch = BatchOptions::new(&p0).backend(options.backend);
        if bounded {
            batch = batch.bounds(&options.lower, &options.upper);
        }
        batch.absolute_sigma = options.absolute_sigma;
        Ok(batch)
    }

    pub fn bounds(mut self, lower: &[f64], upper: &[f64]) -> Self {
        self.lower = lower.to_vec();
        self.upper = upper.to_vec();
        self
    }

    pub fn tolerance(mut self, tolerance: f64) -> Self {
        self.tolerance = tolerance;
        self
    }

    pub fn max_iterations(mut self, max_iterations: usize) -> Self {
        self.max_iterations = max_iterations;
        self
    }

    pub fn backend(mut self, backend: Backend) -> Self {
        self.backend = backend;
        self
    }

    /// Bounds and initial values are consistent with n parameters and `fits` fits.
    pub(crate) fn check(&self, n: usize, fits: usize) -> Result<(), FitError> {
        if self.p0.len() != n && self.p0.len() != n * fits {
            return Err(FitError::Invalid(format!(
                "p0 has {} values: give {n} (shared) or {} (one row of {n} per fit)",
                self.p0.len(),
                n * fits
            )));
        }
        if !self.lower.is_empty() || !self.upper.is_empty() {
            crate::solve::check_bounds(&self.lower, &self.upper, n)?;
        }
        if self.tolerance.is_nan() || self.tolerance < 0.0 || self.max_iterations == 0 {
            return Err(FitError::Invalid("the tolerance must be ≥ 0 and max_iterations > 0".into()));
        }
        Ok(())
    }

    pub(crate) fn initial(&self, k: usize, n: usize) -> &[f64] {
        if self.p0.len() == n { &self.p0 } else { &self.p0[k * n..(k + 1) * n] }
    }

    /// Moves x inside the bounds.
    pub(crate) fn project(&self, x: &mut [f64]) {
        if self.lower.is_empty() {
            return;
        }
        for (k, v) in x.iter_mut().enumerate() {
            *v = v.clamp(self.lower[k], self.upper[k]);
        }
    }
}

/// How one fit of a batch ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum BatchStatus {
    /// χ² stopped decreasing (relative change below the tolerance, or no step lowers it).
    Converged,
    /// `max_iterations` ran out.
    MaxIterations,
    /// JᵀJ is singular at the solution: no standard errors.
    Singular,
    /// The model or the data are not finite at the start (NaN in y, say).
    NotFinite,
    /// Fewer points than parameters.
    TooFewPoints,
}

impl BatchStatus {
    pub fn name(self) -> &'static str {
        match self {
            BatchStatus::Converged => "converged",
            BatchStatus::MaxIterations => "max_iterations",
            BatchStatus::Singular => "singular",
            BatchStatus::NotFinite => "not_finite",
            BatchStatus::TooFewPoints => "too_few_points",
        }
    }

    pub fn converged(self) -> bool {
        self == BatchStatus::Converged
    }

    /// The status codes the batch shader writes (`wgsl::batch_outputs`), in declaration order.
    #[cfg_attr(not(feature = "gpu"), allow(dead_code))]
    pub(crate) fn from_code(code: u32) -> Self {
        match code {
            0 => BatchStatus::Converged,
            1 => BatchStatus::MaxIterations,
            2 => BatchStatus::Singular,
            4 => BatchStatus::TooFewPoints,
            _ => BatchStatus::NotFinite,
        }
    }

    /// False for the fits that could not run or ended at non-finite values (their parameters
    /// are reported as NaN).
    pub fn ran(self) -> bool {
        !matches!(self, BatchStatus::NotFinite | BatchStatus::TooFewPoints)
    }
}

/// Results of a batch, as arrays (fit k's parameters are `values[k·n..(k+1)·n]`).
#[derive(Clone, Debug)]
pub struct BatchResults {
    pub n_params: usize,
    /// Parameter values (NaN for the fits that did not run: see [`BatchStatus::ran`]).
    pub values: Vec<f64>,
    /// Standard errors (∞ when JᵀJ is singular, NaN when the fit did not run).
    pub std_errors: Vec<f64>,
    /// Σ r² (weighted) at the result.
    pub chi2: Vec<f64>,
    pub iterations: Vec<u32>,
    pub status: Vec<BatchStatus>,
    pub elapsed: Duration,
    /// Where the fits ran, and on which adapter.
    pub backend: Backend,
    pub adapter: Option<String>,
}

impl BatchResults {
    /// The one place of the rule for fits that did not run: a fit that claims to have run but
    /// ended at a non-finite χ² or parameter (a GPU's NaN tests may be compiled away) becomes
    /// `NotFinite`, and every fit that did not run reports NaN parameters.
    pub(crate) fn settle(mut self) -> Self {
        let n = self.n_params;
        for (k, status) in self.status.iter_mut().enumerate() {
            let row = &mut self.values[k * n..(k + 1) * n];
            if status.ran() && (!self.chi2[k].is_finite() || row.iter().any(|v| !v.is_finite())) {
                *status = BatchStatus::NotFinite;
            }
            if !status.ran() {
                row.fill(f64::NAN);
            }
        }
        self
    }

    pub fn n_fits(&self) -> usize {
        self.status.len()
    }

    /// Fit k's parameter values.
    pub fn values_of(&self, k: usize) -> &[f64] {
        &self.values[k * self.n_params..(k + 1) * self.n_params]
    }

    pub fn converged(&self) -> usize {
        self.status.iter().filter(|s| s.converged()).count()
    }

    /// Median iterations of the fits that ran.
    pub fn median_iterations(&self) -> Option<u32> {
        let mut it: Vec<u32> =
            self.iterations.iter().zip(&self.status).filter(|(_, s)| s.ran()).map(|(i, _)| *i).collect();
        it.sort_unstable();
        it.get(it.len() / 2).copied()
    }

    pub fn fits_per_second(&self) -> f64 {
        self.n_fits() as f64 / self.elapsed.as_secs_f64().max(1e-12)
    }
}

/// A thread's reusable buffers.
struct Workspace {
    acc: NormalEquations,
    damped: Vec<f64>,
    step: Vec<f64>,
    trial: Vec<f64>,
}

impl Workspace {
    fn new(n: usize) -> Self {
        Workspace { acc: NormalEquations::zeros(n), damped: vec![0.0; n * n], step: vec![0.0; n], trial: vec![0.0; n] }
    }
}

/// One fit's outcome (its parameters and standard errors are written in place).
struct Outcome {
    status: BatchStatus,
    chi2: f64,
    iterations: u32,
}

/// Fills `a` (n × n, lower triangle) with the symmetric JᵀJ from its accumulated upper
/// triangle, the diagonal scaled by (1 + λ): Marquardt's damping.
fn damped_matrix(jtj: &[f64], n: usize, lambda: f64, a: &mut [f64]) {
    for i in 0..n {
        for j in 0..=i {
            a[i * n + j] = jtj[j * n + i];
        }
        a[i * n + i] = jtj[i * n + i] * (1.0 + lambda);
    }
}

/// A parameter at a bound that the step would push past (the gradient Jᵀr points out) stays
/// there: its row and column leave the damped system `a` (lower triangle; 1 on the diagonal)
/// and its right side `g` is 0, so its step is 0 and the others' is the step of the problem
/// on that bound. (Projection alone zig-zags along the bound: a fit whose minimum lies on it
/// ran out of iterations.) The batch shader does the same (`wgsl::writer`).
fn hold_at_bounds(options: &BatchOptions, x: &[f64], a: &mut [f64], g: &mut [f64]) {
    if options.lower.is_empty() {
        return;
    }
    let n = x.len();
    for k in 0..n {
        let pushed_out = (x[k] <= options.lower[k] && g[k] > 0.0) || (x[k] >= options.upper[k] && g[k] < 0.0);
        if pushed_out {
            for j in 0..n {
                a[k * n + j] = 0.0;
                a[j * n + k] = 0.0;
            }
            a[k * n + k] = 1.0;
            g[k] = 0.0;
        }
    }
}

/// The compact Levenberg–Marquardt loop for one fit. `x` holds the start and receives the
/// result; `std_errors` receives the standard errors.
fn fit_one(
    kernels: &dyn Kernels,
    chunk: &Chunk<'_>,
    options: &BatchOptions,
    x: &mut [f64],
    std_errors: &mut [f64],
    ws: &mut Workspace,
) -> Outcome {
    let n = x.len();
    let m = chunk.len();
    std_errors.fill(f64::NAN);
    if m < n {
        return Outcome { status: BatchStatus::TooFewPoints, chi2: f64::NAN, iterations: 0 };
    }
    let not_finite = Outcome { status: BatchStatus::NotFinite, chi2: f64::NAN, iterations: 0 };
    if chunk.y.iter().any(|v| !v.is_finite()) || chunk.weights.is_some_and(|w| w.iter().any(|v| !v.is_finite())) {
        return not_finite;
    }
    options.project(x);
    let evaluate = |x: &[f64], acc: &mut NormalEquations| -> bool {
        acc.jtj.fill(0.0);
        acc.jtr.fill(0.0);
        acc.rss = 0.0;
        kernels.normal_equations(chunk, x, acc).is_ok()
            && acc.rss.is_finite()
            && acc.jtj.iter().all(|v| v.is_finite())
            && acc.jtr.iter().all(|v| v.is_finite())
    };
    if !evaluate(x, &mut ws.acc) {
        return not_finite;
    }
    let mut chi2 = ws.acc.rss;
    let mut lambda = 1e-3;
    let mut status = BatchStatus::MaxIterations;
    let mut iterations = 0;
    while iterations < options.max_iterations {
        iterations += 1;
        damped_matrix(&ws.acc.jtj, n, lambda, &mut ws.damped);
        ws.step.copy_from_slice(&ws.acc.jtr);
        hold_at_bounds(options, x, &mut ws.damped, &mut ws.step);
        if !cholesky(&mut ws.damped, n) {
            lambda *= 10.0;
            if lambda > 1e16 {
                status = BatchStatus::Converged;
                break;
            }
            continue;
        }
        cholesky_solve(&ws.damped, n, &mut ws.step);
        for ((t, x), step) in ws.trial.iter_mut().zip(x.iter()).zip(&ws.step) {
            *t = x - step;
        }
        options.project(&mut ws.trial);
        let trial_chi2 = kernels.sum_of_squares(chunk, &ws.trial).unwrap_or(f64::NAN);
        if trial_chi2.is_finite() && trial_chi2 <= chi2 {
            x.copy_from_slice(&ws.trial);
            let reduction = chi2 - trial_chi2;
            if !evaluate(x, &mut ws.acc) {
                status = BatchStatus::NotFinite;
                break;
            }
            chi2 = ws.acc.rss;
            lambda = (lambda * 0.1).max(1e-12);
            if reduction <= options.tolerance * chi2 {
                status = BatchStatus::Converged;
                break;
            }
        } else {
            lambda *= 10.0;
            // No step, however short, lowers χ²: a minimum to rounding.
            if lambda > 1e16 {
                status = BatchStatus::Converged;
                break;
            }
        }
    }
    // Covariance (JᵀJ)⁻¹, scaled by χ²/dof unless σ are absolute.
    damped_matrix(&ws.acc.jtj, n, 0.0, &mut ws.damped);
    if cholesky(&mut ws.damped, n) {
        let dof = m - n;
        let scale = if options.absolute_sigma {
            1.0
        } else if dof > 0 {
            chi2 / dof as f64
        } else {
            f64::NAN
        };
        for (k, se) in std_errors.iter_mut().enumerate() {
            ws.step.fill(0.0);
            ws.step[k] = 1.0;
            cholesky_solve(&ws.damped, n, &mut ws.step);
            *se = (ws.step[k] * scale).sqrt();
        }
    } else {
        std_errors.fill(f64::INFINITY);
        if status == BatchStatus::Converged {
            status = BatchStatus::Singular;
        }
    }
    Outcome { status, chi2, iterations: iterations as u32 }
}

impl CompiledModel {
    /// Fits this model to every data set of `data` with the compact Levenberg–Marquardt loop
    /// (plain least squares), in parallel over the fits. Layout and option errors are an `Err`;
    /// a data set that cannot be fitted gets its own status.
    pub fn fit_many(self: &Arc<Self>, data: &BatchData<'_>, options: &BatchOptions) -> Result<BatchResults, FitError> {
        let started = Instant::now();
        data.check(self)?;
        let (n, fits) = (self.n_params(), data.n_fits());
        options.check(n, fits)?;
        if options.backend == Backend::Gpu {
            return super::gpu::fit_many(self, data, options, started);
        }
        let mut values: Vec<f64> = (0..fits).flat_map(|k| options.initial(k, n).iter().copied()).collect();
        let mut std_errors = vec![f64::NAN; fits * n];
        let mut chi2 = vec![f64::NAN; fits];
        let mut iterations = vec![0u32; fits];
        let mut status = vec![BatchStatus::NotFinite; fits];
        let kernels = self.kernels();
        let model_vars = data.model_vars(self);
        values
            .par_chunks_mut(n.max(1))
            .zip(std_errors.par_chunks_mut(n.max(1)))
            .zip(chi2.par_iter_mut())
            .zip(iterations.par_iter_mut())
            .zip(status.par_iter_mut())
            .enumerate()
            .with_min_len(64)
            .for_each_init(
                || Workspace::new(n),
                |ws, (k, ((((x, se), c), it), st))| {
                    let (vars, y, weights) = data.columns(&model_vars, k);
                    let chunk = Chunk { vars: &vars, y, weights };
                    let outcome = fit_one(kernels, &chunk, options, x, se, ws);
                    (*st, *c, *it) = (outcome.status, outcome.chi2, outcome.iterations);
                },
            );
        Ok(BatchResults {
            n_params: n,
            values,
            std_errors,
            chi2,
            iterations,
            status,
            elapsed: started.elapsed(),
            backend: Backend::Cpu,
            adapter: None,
        }
        .settle())
    }
}
