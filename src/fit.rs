//! The fitting façade: data columns, a builder for the options, and a [`Fit`] with everything
//! `curve_fit` and lmfit report.
//!
//! ```
//! let x: Vec<f64> = (0..20).map(|i| i as f64 / 2.0).collect();
//! let y: Vec<f64> = x.iter().map(|x| 3.0 * (-0.7 * x).exp() + 0.5).collect();
//! let fit = jitfit::compile("a*exp(-b*x) + c").unwrap()
//!     .fit(&jitfit::Data::new().var("x", x).y(y))
//!     .p0(&[1.0, 1.0, 0.0])
//!     .run()
//!     .unwrap();
//! assert!(fit.status.converged());
//! assert!((fit.value("b").unwrap() - 0.7).abs() < 1e-10);
//! ```

use crate::backend::{Backend, BackendReport};
use crate::problem::{DataProblem, FixedParams};
use crate::compiled::CompiledModel;
use crate::data::Column;
use crate::solve::{
    self, Covariance, Loss, Method, Problem, Solution, SolveError, SolveOptions, Status, XScale,
};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Data to fit: named variable columns, the response, optional σ per point.
#[derive(Clone, Debug, Default)]
pub struct Data {
    columns: Vec<(String, Column)>,
    y: Column,
    sigma: Option<Column>,
}

impl Data {
    pub fn new() -> Self {
        Data::default()
    }

    /// Adds (or replaces) a variable column.
    pub fn var(mut self, name: &str, values: impl Into<Column>) -> Self {
        self.columns.retain(|(n, _)| n != name);
        self.columns.push((name.to_owned(), values.into()));
        self
    }

    /// The observed response.
    pub fn y(mut self, values: impl Into<Column>) -> Self {
        self.y = values.into();
        self
    }

    /// Standard deviations of y (curve_fit's `sigma`): residuals are divided by them.
    pub fn sigma(mut self, values: impl Into<Column>) -> Self {
        self.sigma = Some(values.into());
        self
    }

    pub fn len(&self) -> usize {
        self.y.len()
    }

    pub fn is_empty(&self) -> bool {
        self.y.is_empty()
    }

    pub fn column(&self, name: &str) -> Option<&[f64]> {
        self.columns.iter().find(|(n, _)| n == name).map(|(_, v)| v.as_slice())
    }

    pub fn response(&self) -> &[f64] {
        &self.y
    }

    pub fn sigma_values(&self) -> Option<&[f64]> {
        self.sigma.as_deref()
    }
}

/// Bad data or options for a fit.
#[derive(Clone, Debug, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum FitError {
    #[error("the data have no column `{name}` for the model's variable (columns: {available})")]
    MissingColumn { name: String, available: String },
    #[error("column `{name}` has {found} values, but y has {expected}")]
    LengthMismatch { name: String, expected: usize, found: usize },
    #[error("{what} holds a non-finite value ({value}) at row {row}")]
    NonFinite { what: String, row: usize, value: f64 },
    #[error("sigma must be positive, but row {row} has {value}")]
    BadSigma { row: usize, value: f64 },
    #[error("unknown parameter `{name}` (parameters: {known})")]
    UnknownParameter { name: String, known: String },
    #[error("{found} initial values for {expected} parameters")]
    WrongP0Length { expected: usize, found: usize },
    #[error("{0}")]
    Invalid(String),
    #[error(transparent)]
    Solve(#[from] SolveError),
    #[error("{0}")]
    Gpu(String),
}

/// Options of one fit; see the builder methods of [`FitBuilder`].
#[derive(Clone, Debug)]
pub struct FitOptions {
    pub p0: Vec<Option<f64>>,
    pub lower: Vec<f64>,
    pub upper: Vec<f64>,
    pub fixed: Vec<Option<f64>>,
    pub absolute_sigma: bool,
    pub solve: SolveOptions,
    /// Write the solver state to this file every `checkpoint_every` iterations.
    pub checkpoint: Option<std::path::PathBuf>,
    pub checkpoint_every: usize,
    /// Continue from this checkpoint (it must be of the same model, data and options).
    pub resume: Option<std::path::PathBuf>,
    /// Maximize the Poisson likelihood of counts instead of least squares.
    pub poisson: bool,
    /// Where the model is evaluated (default `Auto`).
    pub backend: Backend,
}

/// Builds and runs a fit of a compiled model to data.
pub struct FitBuilder<'d> {
    model: Arc<CompiledModel>,
    data: &'d Data,
    options: FitOptions,
    errors: Vec<FitError>,
    after_checkpoint: Option<Box<dyn FnMut(usize) + 'd>>,
    progress: Option<Box<dyn FnMut(&solve::TrfState) + 'd>>,
    cancel: Option<&'d std::sync::atomic::AtomicBool>,
}

impl CompiledModel {
    /// Starts a fit of this model to `data`.
    pub fn fit<'d>(self: &Arc<Self>, data: &'d Data) -> FitBuilder<'d> {
        let n = self.n_params();
        FitBuilder {
            model: self.clone(),
            data,
            options: FitOptions {
                p0: vec![None; n],
                lower: vec![f64::NEG_INFINITY; n],
                upper: vec![f64::INFINITY; n],
                fixed: vec![None; n],
                absolute_sigma: false,
                solve: SolveOptions::default(),
                checkpoint: None,
                checkpoint_every: 1,
                resume: None,
                poisson: false,
                backend: Backend::Auto,
            },
            errors: Vec::new(),
            after_checkpoint: None,
            progress: None,
            cancel: None,
        }
    }
}

impl<'d> FitBuilder<'d> {
    fn index(&mut self, name: &str) -> Option<usize> {
        let k = self.model.params().iter().position(|p| p == name);
        if k.is_none() {
            self.errors
                .push(FitError::UnknownParameter { name: name.to_owned(), known: self.model.params().join(", ") });
        }
        k
    }

    /// Initial values for every parameter, in order. Unset parameters start at 1.
    pub fn p0(mut self, values: &[f64]) -> Self {
        if values.len() != self.model.n_params() {
            self.errors.push(FitError::WrongP0Length { expected: self.model.n_params(), found: values.len() });
        } else {
            self.options.p0 = values.iter().map(|v| Some(*v)).collect();
        }
        self
    }

    /// The initial value of one parameter.
    pub fn initial(mut self, name: &str, value: f64) -> Self {
        if let Some(k) = self.index(name) {
            self.options.p0[k] = Some(value);
        }
        self
    }

    /// Bounds of one parameter (±∞ for none).
    pub fn bound(mut self, name: &str, lower: f64, upper: f64) -> Self {
        if let Some(k) = self.index(name) {
            self.options.lower[k] = lower;
            self.options.upper[k] = upper;
        }
        self
    }

    /// Bounds of every parameter, in order.
    pub fn bounds(mut self, lower: &[f64], upper: &[f64]) -> Self {
        let n = self.model.n_params();
        if lower.len() != n || upper.len() != n {
            self.errors.push(FitError::Invalid(format!(
                "bounds for {} and {} parameters, expected {n}",
                lower.len(),
                upper.len()
            )));
        } else {
            self.options.lower = lower.to_vec();
            self.options.upper = upper.to_vec();
        }
        self
    }

    /// Holds a parameter at a value.
    pub fn fix(mut self, name: &str, value: f64) -> Self {
        if let Some(k) = self.index(name) {
            self.options.fixed[k] = Some(value);
        }
        self
    }

    pub fn loss(mut self, loss: Loss, f_scale: f64) -> Self {
        self.options.solve.loss = loss;
        self.options.solve.f_scale = f_scale;
        self
    }

    pub fn method(mut self, method: Method) -> Self {
        self.options.solve.method = method;
        self
    }

    /// The Poisson maximum-likelihood estimator for counts (Gpufit's MLE): minimizes the
    /// deviance Σ d_i² (−2 ln L + const); y must be counts (≥ 0), no σ; the covariance is the
    /// inverse Fisher information (not rescaled by χ²/dof).
    pub fn poisson(mut self) -> Self {
        self.options.poisson = true;
        self
    }

    /// σ are absolute standard deviations: the covariance is not rescaled by χ²/dof.
    pub fn absolute_sigma(mut self, absolute: bool) -> Self {
        self.options.absolute_sigma = absolute;
        self
    }

    pub fn tolerances(mut self, ftol: f64, xtol: f64, gtol: f64) -> Self {
        (self.options.solve.ftol, self.options.solve.xtol, self.options.solve.gtol) = (ftol, xtol, gtol);
        self
    }

    pub fn max_nfev(mut self, max_nfev: usize) -> Self {
        self.options.solve.max_nfev = Some(max_nfev);
        self
    }

    /// Whether the solver stores J or only JᵀJ (default: by size).
    pub fn jacobian_mode(mut self, mode: solve::JacobianMode) -> Self {
        self.options.solve.jacobian = mode;
        self
    }

    pub fn x_scale(mut self, x_scale: XScale) -> Self {
        self.options.solve.x_scale = x_scale;
        self
    }

    /// Writes the solver state to `path` every `every` iterations (atomically), so that an
    /// interrupted fit can [`resume`](FitBuilder::resume). TRF only.
    pub fn checkpoint(mut self, path: impl Into<std::path::PathBuf>, every: usize) -> Self {
        self.options.checkpoint = Some(path.into());
        self.options.checkpoint_every = every.max(1);
        self
    }

    /// Continues an interrupted fit from its checkpoint; the result is the one the
    /// uninterrupted fit would have given.
    pub fn resume(mut self, path: impl Into<std::path::PathBuf>) -> Self {
        self.options.resume = Some(path.into());
        self
    }

    /// Called with the iteration number after each checkpoint is written.
    pub fn after_checkpoint(mut self, callback: impl FnMut(usize) + 'd) -> Self {
        self.after_checkpoint = Some(Box::new(callback));
        self
    }

    /// Called at the end of every iteration (TRF) with the solver's state: for progress
    /// displays.
    pub fn progress(mut self, callback: impl FnMut(&solve::TrfState) + 'd) -> Self {
        self.progress = Some(Box::new(callback));
        self
    }

    /// Stops the fit after the current iteration once `flag` is set (a Ctrl-C handler sets
    /// it); a checkpoint, if asked for, is written then. TRF only.
    pub fn cancel_flag(mut self, flag: &'d std::sync::atomic::AtomicBool) -> Self {
        self.cancel = Some(flag);
        self
    }

    /// Where the model is evaluated: `Cpu`, `Gpu` (f32 iterations on the device, then an f64
    /// finish on the CPU) or `Auto` (the default: the GPU for large plain least-squares fits
    /// when a hardware adapter exists). [`Fit::backend`] says what ran.
    pub fn backend(mut self, backend: Backend) -> Self {
        self.options.backend = backend;
        self
    }

    /// All the options at once (replaces what the other methods set).
    pub fn options(mut self, options: FitOptions) -> Self {
        self.options = options;
        self
    }

    /// The options set so far (the first invalid one is an `Err`), e.g. to run the same
    /// options as a batch.
    pub fn into_options(self) -> Result<FitOptions, FitError> {
        match self.errors.into_iter().next() {
            Some(e) => Err(e),
            None => Ok(self.options),
        }
    }

    /// Runs the fit. Invalid input is an `Err`; not converging is a status in the `Fit`.
    pub fn run(self) -> Result<Fit, FitError> {
        if let Some(e) = self.errors.into_iter().next() {
            return Err(e);
        }
        run_fit(&self.model, self.data, &self.options, self.after_checkpoint, self.progress, self.cancel)
    }
}

/// The outcome of a fit: parameters, uncertainties, statistics and how the solver did.
#[derive(Clone, Debug, serde::Serialize)]
pub struct Fit {
    pub param_names: Vec<String>,
    pub values: Vec<f64>,
    pub initial: Vec<f64>,
    /// True for parameters given an initial value by the caller (the others started at 1, or
    /// inside their bounds when 1 is not).
    pub initial_given: Vec<bool>,
    pub fixed: Vec<bool>,
    /// Standard errors (0 for fixed parameters, ∞ when the covariance cannot be estimated).
    pub std_errors: Vec<f64>,
    /// Covariance over all parameters, n × n row-major (zero rows for fixed ones).
    pub covariance: Vec<f64>,
    /// Correlations, n × n row-major (NaN where a parameter is fixed).
    pub correlation: Vec<f64>,
    pub covariance_warning: Option<String>,
    /// Set when the streamed path met an ill-conditioned JᵀJ (and what was done about it).
    pub conditioning_warning: Option<String>,
    pub lower: Vec<f64>,
    pub upper: Vec<f64>,
    /// −1 / +1 where a parameter ended at its lower / upper bound.
    pub active_mask: Vec<i8>,
    /// ½ Σ ρ(r²), the minimized cost.
    pub cost: f64,
    /// Σ r² of the weighted residuals.
    pub chi2: f64,
    pub reduced_chi2: f64,
    pub r_squared: f64,
    pub aic: f64,
    pub bic: f64,
    pub n_points: usize,
    pub n_free: usize,
    pub dof: usize,
    /// Weighted residuals w_i·(f(x_i) − t(y_i)); empty when the fit ran on the normal
    /// equations (large data: r is never stored).
    pub residuals: Vec<f64>,
    /// Whether J was stored or only JᵀJ accumulated.
    pub jacobian_mode: solve::JacobianMode,
    pub optimality: f64,
    pub nfev: usize,
    pub njev: usize,
    pub iterations: usize,
    pub status: Status,
    pub message: String,
    pub method: Method,
    pub loss: Loss,
    pub absolute_sigma: bool,
    pub solve_time: Duration,
    /// What evaluated the model (and the GPU phase, if one ran).
    pub backend: BackendReport,
}

impl Fit {
    pub fn index(&self, name: &str) -> Option<usize> {
        self.param_names.iter().position(|p| p == name)
    }

    pub fn value(&self, name: &str) -> Option<f64> {
        self.index(name).map(|k| self.values[k])
    }

    pub fn std_error(&self, name: &str) -> Option<f64> {
        self.index(name).map(|k| self.std_errors[k])
    }
}

/// An unset initial value: 1 (curve_fit's default), or inside the bounds [l, u] when 1 is not.
pub(crate) fn default_start(l: f64, u: f64) -> f64 {
    if (l..=u).contains(&1.0) {
        1.0
    } else if l.is_finite() && u.is_finite() {
        0.5 * (l + u)
    } else if l.is_finite() {
        l + l.abs().max(1.0)
    } else {
        u - u.abs().max(1.0)
    }
}

fn check_finite(what: &str, values: &[f64]) -> Result<(), FitError> {
    match values.iter().position(|v| !v.is_finite()) {
        Some(row) => Err(FitError::NonFinite { what: what.to_owned(), row, value: values[row] }),
        None => Ok(()),
    }
}

fn run_fit(
    model: &CompiledModel,
    data: &Data,
    options: &FitOptions,
    mut after_checkpoint: Option<Box<dyn FnMut(usize) + '_>>,
    mut progress: Option<Box<dyn FnMut(&solve::TrfState) + '_>>,
    cancel: Option<&std::sync::atomic::AtomicBool>,
) -> Result<Fit, FitError> {
    let started = Instant::now();
    let n = model.n_params();
    let m = data.y.len();
    // Data: every variable present, equal lengths, finite values, positive σ.
    let mut vars = Vec::with_capacity(model.vars().len());
    for name in model.vars() {
        let column = data.column(name).ok_or_else(|| FitError::MissingColumn {
            name: name.clone(),
            available: data.columns.iter().map(|(n, _)| n.as_str()).collect::<Vec<_>>().join(", "),
        })?;
        if column.len() != m {
            return Err(FitError::LengthMismatch { name: name.clone(), expected: m, found: column.len() });
        }
        check_finite(&format!("column `{name}`"), column)?;
        vars.push(column);
    }
    check_finite("y", &data.y)?;
    let weights: Option<Vec<f64>> = match &data.sigma {
        None => None,
        Some(sigma) => {
            if sigma.len() != m {
                return Err(FitError::LengthMismatch { name: "sigma".into(), expected: m, found: sigma.len() });
            }
            check_finite("sigma", sigma)?;
            if let Some(row) = sigma.iter().position(|s| *s <= 0.0) {
                return Err(FitError::BadSigma { row, value: sigma[row] });
            }
            Some(sigma.iter().map(|s| 1.0 / s).collect())
        }
    };
    if model.transforms_response() {
        // t(y) must be finite where the model is fitted (log of a negative y, say).
        let t = crate::ir::Interpreter::new(model.kernel())
            .eval_batch(&vars, Some(&data.y), &vec![1.0; n])
            .response
            .unwrap_or_default();
        if let Some(row) = t.iter().position(|v| !v.is_finite()) {
            return Err(FitError::NonFinite {
                what: format!("the transformed response (at y = {})", data.y[row]),
                row,
                value: t[row],
            });
        }
    }

    // Unset initial values are 1 (curve_fit's default), moved inside the bounds when 1 is not.
    let default_start = |k: usize| default_start(options.lower[k], options.upper[k]);
    let initial: Vec<f64> =
        (0..n).map(|k| options.fixed[k].or(options.p0[k]).unwrap_or_else(|| default_start(k))).collect();
    let free: Vec<usize> = (0..n).filter(|k| options.fixed[*k].is_none()).collect();
    if free.is_empty() {
        return Err(FitError::Invalid("every parameter is fixed: nothing to fit".into()));
    }
    if m < free.len() {
        return Err(FitError::Invalid(format!(
            "{m} data points for {} free parameters: at least as many points as parameters are needed",
            free.len()
        )));
    }
    for k in 0..n {
        let name = &model.params()[k];
        let (l, u) = (options.lower[k], options.upper[k]);
        if l.is_nan() || u.is_nan() || l >= u {
            return Err(FitError::Invalid(format!("`{name}`: the lower bound {l} is not below the upper bound {u}")));
        }
        if !initial[k].is_finite() {
            return Err(FitError::Invalid(format!("`{name}`: the initial value {} is not finite", initial[k])));
        }
        if options.fixed[k].is_none() && (initial[k] < l || initial[k] > u) {
            return Err(FitError::Invalid(format!(
                "`{name}`: the initial value {} is outside its bounds [{l}, {u}]",
                initial[k]
            )));
        }
    }

    let mut solve_options = options.solve.clone();
    solve_options.lower = free.iter().map(|k| options.lower[*k]).collect();
    solve_options.upper = free.iter().map(|k| options.upper[*k]).collect();
    if let XScale::Fixed(s) = &options.solve.x_scale
        && s.len() == n
    {
        solve_options.x_scale = XScale::Fixed(free.iter().map(|k| s[*k]).collect());
    }
    let x0: Vec<f64> = free.iter().map(|k| initial[*k]).collect();
    if options.poisson {
        if data.sigma.is_some() {
            return Err(FitError::Invalid("the Poisson estimator takes counts without sigma".into()));
        }
        if let Some(row) = data.y.iter().position(|y| *y < 0.0) {
            return Err(FitError::Invalid(format!(
                "the Poisson estimator needs counts ≥ 0; row {row} has {}",
                data.y[row]
            )));
        }
        if model.transforms_response() || options.solve.loss != Loss::Linear {
            return Err(FitError::Invalid("the Poisson estimator needs a plain response and the linear loss".into()));
        }
        // Deviance residuals need J itself.
        solve_options.jacobian = solve::JacobianMode::Dense;
    }
    let mut data_problem = DataProblem::new(model.kernels(), vars.clone(), &data.y, weights.as_deref());
    let mut poisson_problem;
    let inner: &mut dyn Problem = if options.poisson {
        poisson_problem = crate::problem::PoissonProblem::new(&mut data_problem, &data.y);
        &mut poisson_problem
    } else {
        &mut data_problem
    };
    let mut problem = FixedParams::new(inner, initial.clone(), free.clone());
    // A resumed fit continues from its checkpoint's state: no GPU phase.
    let gpu_outcome = if options.resume.is_some() {
        GpuOutcome { report: BackendReport::cpu(None), x_start: x0, finished: None }
    } else {
        let gpu = GpuPhase { vars: &vars, y: &data.y, weights: weights.as_deref(), initial: &initial, free: &free };
        gpu.run(model, options, &solve_options, x0, cancel, progress.as_deref_mut())?
    };
    let progress_wanted = progress.is_some();
    // Checkpoints identify the fit by its model, data and options.
    let identity = (options.checkpoint.is_some() || options.resume.is_some())
        .then(|| (data_fingerprint(model, data), options_fingerprint(model, options)));
    let mut hooks = solve::Hooks::default();
    if let (Some(path), Some((data_id, options_id))) = (&options.resume, &identity) {
        let checkpoint = solve::Checkpoint::read(path, model.source(), data_id, options_id)
            .map_err(|e| FitError::Invalid(e.to_string()))?;
        hooks.resume = Some(checkpoint.state);
    }
    let mut write_error: Option<String> = None;
    let mut on_iteration = |state: &solve::TrfState, save_now: bool| {
        if let Some(callback) = progress.as_mut() {
            callback(state);
        }
        let (Some(path), Some((data_id, options_id))) = (&options.checkpoint, &identity) else { return };
        if !state.iterations.is_multiple_of(options.checkpoint_every) && !save_now {
            return;
        }
        let checkpoint = solve::Checkpoint {
            format: solve::CHECKPOINT_FORMAT,
            jitfit_version: env!("CARGO_PKG_VERSION").to_owned(),
            model: model.source().to_owned(),
            data_fingerprint: data_id.clone(),
            options: options_id.clone(),
            state: state.clone(),
        };
        match checkpoint.write(path) {
            Ok(()) => {
                if let Some(callback) = after_checkpoint.as_mut() {
                    callback(state.iterations);
                }
            }
            Err(e) => write_error = Some(format!("cannot write the checkpoint {}: {e}", path.display())),
        }
    };
    let wants_hook = options.checkpoint.is_some() || (progress_wanted && solve_options.method != solve::Method::Lm);
    if wants_hook {
        hooks.on_iteration = Some(&mut on_iteration);
    }
    hooks.cancel = cancel;
    let mut backend_report = gpu_outcome.report;
    // A finish on the device is checked against one f64 pass of the CPU backend: Vulkan
    // drivers may compile assuming no inf/NaN, so a model that passes through them can
    // evaluate differently there. If the costs disagree, the CPU finishes the fit.
    let finished = match gpu_outcome.finished {
        Some(solution) => {
            let cpu = problem.sum_of_squares(&solution.x, crate::loss::LossSpec::LINEAR)?;
            let gpu = 2.0 * solution.cost;
            match cpu {
                Some(cpu) if (cpu - gpu).abs() <= GPU_CROSS_CHECK * cpu.abs().max(f64::MIN_POSITIVE) => Some(solution),
                other => {
                    backend_report.f64_on_gpu = false;
                    backend_report.note = Some(format!(
                        "the device's f64 χ² ({gpu:e}) disagreed with the CPU's ({}): the f64 iterations ran on the CPU",
                        other.map_or("none".into(), |c| format!("{c:e}"))
                    ));
                    None
                }
            }
        }
        None => None,
    };
    let mut solution = match finished {
        Some(solution) => solution,
        None => solve::solve_with_hooks(&mut problem, &gpu_outcome.x_start, &solve_options, &mut hooks)?,
    };
    drop(hooks);
    // The streamed path squares J's condition number. When JᵀJ (columns scaled to unit norm)
    // is too ill-conditioned to trust, J fits in memory and the caller left the choice to us,
    // polish on the dense path from the streamed solution; otherwise say how many digits may
    // be lost.
    let mut conditioning_warning = None;
    if solution.jacobian_mode == solve::JacobianMode::NormalEquations && solution.status.converged() {
        let kappa = scaled_condition_number(&solution.jtj, free.len());
        if kappa > MAX_TRUSTED_GRAM_CONDITION {
            let m = data.len();
            let auto = options.solve.jacobian == solve::JacobianMode::Auto;
            if auto && m.saturating_mul(free.len()) <= DENSE_POLISH_LIMIT {
                let mut dense = solve_options.clone();
                dense.jacobian = solve::JacobianMode::Dense;
                let polished = solve::solve(&mut problem, &solution.x, &dense)?;
                conditioning_warning = Some(format!(
                    "JᵀJ was ill-conditioned (condition number {kappa:.1e}): the solution was polished on the dense Jacobian"
                ));
                solution = polished;
            } else {
                conditioning_warning = Some(format!(
                    "JᵀJ is ill-conditioned (condition number {kappa:.1e}): about {:.0} of 16 digits may be lost on the streamed path",
                    kappa.log10()
                ));
            }
        }
    }
    // On the streamed path r is not stored: χ² of the plain residuals is one more pass when a
    // robust loss made the cost something else.
    let chi2 = if solution.residuals.is_empty() && options.solve.loss != Loss::Linear {
        problem.sum_of_squares(&solution.x, crate::loss::LossSpec::LINEAR)?
    } else {
        None
    };
    if let Some(e) = write_error {
        return Err(FitError::Invalid(e));
    }
    // The Poisson covariance is the inverse Fisher information Σ ∂f ∂fᵀ / f: rows of J scaled
    // by 1/√f (the deviance residuals' own Jacobian differs away from f = y).

    if options.poisson {
        let mut full = initial.clone();
        for (c, k) in free.iter().enumerate() {
            full[*k] = solution.x[c];
        }
        let (m, n_all) = (data.len(), full.len());
        let (mut r, mut j) = (vec![0.0; m], vec![0.0; m * n_all]);
        let vars: Vec<&[f64]> = model.vars().iter().map(|v| data.column(v).unwrap_or(&[])).collect();
        let chunk = crate::backend::Chunk { vars: &vars, y: &data.y, weights: None };
        crate::backend::Kernels::residual_jacobian(model.kernels(), &chunk, &full, &mut r, &mut j)
            .map_err(crate::problem::evaluation)?;
        let mut fisher = vec![0.0; m * free.len()];
        for i in 0..m {
            let scale = 1.0 / (r[i] + data.y[i]).sqrt();
            for (c, k) in free.iter().enumerate() {
                fisher[i * free.len() + c] = j[i * n_all + k] * scale;
            }
        }
        solution.jacobian = fisher;
    }
    let mut fit = assemble(model, data, options, &initial, &free, solution, chi2, started.elapsed());
    fit.conditioning_warning = conditioning_warning;
    fit.backend = backend_report;
    Ok(fit)
}

/// Tolerances of the f32 phase on the GPU (or the caller's, when looser): f32 sums carry about
/// 7 digits, so the phase stops once steps and cost changes are at that level and the f64
/// finish takes over.
#[cfg_attr(not(feature = "gpu"), allow(dead_code))]
const GPU_PHASE_TOLERANCE: f64 = 1e-6;

/// What the GPU phase decided: the report, where the f64 iterations start, and — when they
/// ran on the device too — their solution.
struct GpuOutcome {
    report: BackendReport,
    x_start: Vec<f64>,
    finished: Option<Solution>,
}

/// Evaluations per free parameter the f32 phase may spend (the f64 finish does the rest).
#[cfg_attr(not(feature = "gpu"), allow(dead_code))]
const GPU_PHASE_EVALUATIONS_PER_PARAMETER: usize = 50;

/// How closely the device's f64 χ² must match the CPU backend's at the solution (both f64,
/// summed in different orders).
const GPU_CROSS_CHECK: f64 = 1e-9;

/// The first phase of a fit on the GPU backend.
#[cfg_attr(not(feature = "gpu"), allow(dead_code))]
struct GpuPhase<'a> {
    vars: &'a [&'a [f64]],
    y: &'a [f64],
    weights: Option<&'a [f64]>,
    initial: &'a [f64],
    free: &'a [usize],
}

impl GpuPhase<'_> {
    /// Chooses the backend; when it is the GPU, iterates there in f32 from `x0` and returns
    /// where the f64 finish starts. A GPU the caller asked for that cannot run is an error;
    /// under `Auto` the fit stays on the CPU and the report says why.
    fn run(
        &self,
        model: &CompiledModel,
        options: &FitOptions,
        solve_options: &SolveOptions,
        x0: Vec<f64>,
        cancel: Option<&std::sync::atomic::AtomicBool>,
        progress: Option<&mut (dyn FnMut(&solve::TrfState) + '_)>,
    ) -> Result<GpuOutcome, FitError> {
        let cpu = |note: Option<String>, x0: Vec<f64>| {
            Ok(GpuOutcome { report: BackendReport::cpu(note), x_start: x0, finished: None })
        };
        let explicit = options.backend == Backend::Gpu;
        let plain_least_squares = !options.poisson && options.solve.loss == Loss::Linear;
        match options.backend {
            Backend::Cpu => return cpu(None, x0),
            Backend::Gpu if !plain_least_squares => {
                return Err(FitError::Invalid(
                    "the GPU backend fits plain least squares only (no robust loss, no Poisson estimator); use --backend cpu"
                        .into(),
                ));
            }
            Backend::Auto if !plain_least_squares || self.y.len() < crate::backend::GPU_AUTO_MIN_POINTS => {
                return cpu(None, x0);
            }
            _ => {}
        }
        #[cfg(not(feature = "gpu"))]
        {
            let _ = (model, solve_options, cancel, progress);
            let why = "this build of jitfit has no GPU support (cargo feature `gpu`)";
            if explicit {
                return Err(FitError::Gpu(why.into()));
            }
            cpu(Some(why.into()), x0)
        }
        #[cfg(feature = "gpu")]
        {
            let started = Instant::now();
            let device = match crate::backend::gpu::device() {
                Ok(device) => device,
                Err(e) if explicit => return Err(FitError::Gpu(e.to_string())),
                Err(e) => return cpu(Some(format!("auto: no GPU ({e})")), x0),
            };
            if device.is_software() && !explicit {
                let note = format!("auto: the only GPU adapter is a software one ({})", device.adapter_name());
                return cpu(Some(note), x0);
            }
            let mut report = BackendReport::cpu(None);
            report.adapter = Some(device.describe());
            // The f64 finish stays on the device (TRF on the normal equations) unless the caller
            // asked for what only the CPU does: checkpoints, LM, a dense Jacobian.
            let finish_here = options.checkpoint.is_none()
                && options.solve.method != Method::Lm
                && options.solve.jacobian != solve::JacobianMode::Dense;
            match self.iterate(model, device, solve_options, &x0, cancel, finish_here, progress) {
                Ok((rough, finished)) => {
                    report.used = Backend::Gpu;
                    report.gpu_iterations = rough.iterations;
                    report.gpu_nfev = rough.nfev;
                    report.gpu_time = started.elapsed();
                    report.f64_on_gpu = finished.is_some();
                    Ok(GpuOutcome { report, x_start: rough.x, finished })
                }
                // The device itself failing is an error when the caller asked for it; the f32
                // arithmetic failing (overflow in r², say) only sends the fit to the CPU.
                Err(e @ FitError::Gpu(_)) if explicit => Err(e),
                Err(e) => {
                    report.note = Some(format!("the f32 phase on the GPU failed ({e}); the fit ran on the CPU"));
                    Ok(GpuOutcome { report, x_start: x0, finished: None })
                }
            }
        }
    }

    /// The f32 iterations (TRF on the normal equations accumulated by the device), then —
    /// when the device and the model have f64 kernels and `finish_here` — the f64 finish on
    /// the device too, from where the f32 iterations stopped, with the caller's tolerances.
    #[cfg(feature = "gpu")]
    fn iterate(
        &self,
        model: &CompiledModel,
        device: &'static crate::backend::gpu::GpuDevice,
        solve_options: &SolveOptions,
        x0: &[f64],
        cancel: Option<&std::sync::atomic::AtomicBool>,
        finish_here: bool,
        mut progress: Option<&mut (dyn FnMut(&solve::TrfState) + '_)>,
    ) -> Result<(Solution, Option<Solution>), FitError> {
        use crate::backend::gpu::GpuData;
        use crate::problem::GpuProblem;
        use crate::backend::wgsl::Precision;
        let gpu = |e: crate::backend::gpu::GpuError| FitError::Gpu(e.to_string());
        let kernels = model.gpu_kernels().map_err(gpu)?;
        let data = if finish_here {
            GpuData::upload(device, kernels, self.vars, self.y, self.weights)
        } else {
            GpuData::upload_f32(device, kernels, self.vars, self.y, self.weights)
        }
        .map_err(gpu)?;
        let mut inner = GpuProblem::new(&data, model.n_params(), Precision::F32);
        let mut problem =
            FixedParams::new(&mut inner, self.initial.to_vec(), self.free.to_vec());
        let mut options = solve_options.clone();
        options.method = Method::Trf;
        options.jacobian = solve::JacobianMode::NormalEquations;
        options.ftol = options.ftol.max(GPU_PHASE_TOLERANCE);
        options.xtol = options.xtol.max(GPU_PHASE_TOLERANCE);
        options.gtol = options.gtol.max(GPU_PHASE_TOLERANCE);
        // f32 noise can keep the tolerances from ever triggering (r = f − y loses digits to
        // cancellation): the f32 phase only has to get close, so it gets a short budget.
        let budget = GPU_PHASE_EVALUATIONS_PER_PARAMETER * self.free.len().max(1);
        options.max_nfev = Some(options.max_nfev.map_or(budget, |user| user.min(budget)));
        // Progress (the CLI's line) follows both phases; checkpoints are the CPU's alone.
        let mut report = |state: &solve::TrfState, _save_now: bool| {
            if let Some(callback) = progress.as_mut() {
                callback(state);
            }
        };
        let mut hooks = solve::Hooks { cancel, ..Default::default() };
        hooks.on_iteration = Some(&mut report);
        let solution = solve::solve_with_hooks(&mut problem, x0, &options, &mut hooks)?;
        drop(hooks);
        if solution.x.iter().any(|v| !v.is_finite()) {
            return Err(FitError::Solve(SolveError::Evaluation(
                "the f32 iterations ended at non-finite parameters".into(),
            )));
        }
        if !(finish_here && data.has_f64()) {
            return Ok((solution, None));
        }
        let mut inner = GpuProblem::new(&data, model.n_params(), Precision::F64);
        let mut problem =
            FixedParams::new(&mut inner, self.initial.to_vec(), self.free.to_vec());
        let mut options = solve_options.clone();
        options.method = Method::Trf;
        options.jacobian = solve::JacobianMode::NormalEquations;
        let mut hooks = solve::Hooks { cancel, ..Default::default() };
        hooks.on_iteration = Some(&mut report);
        let finished = solve::solve_with_hooks(&mut problem, &solution.x, &options, &mut hooks)?;
        Ok((solution, Some(finished)))
    }
}

fn assemble(
    model: &CompiledModel,
    data: &Data,
    options: &FitOptions,
    initial: &[f64],
    free: &[usize],
    s: Solution,
    streamed_chi2: Option<f64>,
    solve_time: Duration,
) -> Fit {
    let n = model.n_params();
    let n_free = free.len();
    let mut values = initial.to_vec();
    for (c, k) in free.iter().enumerate() {
        values[*k] = s.x[c];
    }
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
    let absolute = options.absolute_sigma || options.poisson;
    let cov: Covariance = if s.jacobian.is_empty() {
        solve::covariance_from_gram(&s.jtj, m, n_free, 2.0 * s.cost, absolute)
    } else {
        solve::covariance(&s.jacobian, m, n_free, 2.0 * s.cost, absolute)
    };
    let mut covariance = vec![0.0; n * n];
    for (a, ka) in free.iter().enumerate() {
        for (b, kb) in free.iter().enumerate() {
            covariance[ka * n + kb] = cov.get(a, b);
        }
    }
    let std_errors: Vec<f64> = (0..n).map(|k| covariance[k * n + k].sqrt()).collect();
    let mut correlation = vec![f64::NAN; n * n];
    for a in free {
        for b in free {
            correlation[a * n + b] =
                if a == b { 1.0 } else { covariance[a * n + b] / (std_errors[*a] * std_errors[*b]) };
        }
    }
    // R² on the fitted scale, weighted like the residuals.
    let ss_tot = weighted_total_sum_of_squares(model, data, &values);
    let r_squared = if ss_tot > 0.0 { 1.0 - chi2 / ss_tot } else { f64::NAN };
    let neg2_log_likelihood = m as f64 * (chi2 / m as f64).max(f64::MIN_POSITIVE).ln();
    let mut active_mask = vec![0i8; n];
    for (c, k) in free.iter().enumerate() {
        active_mask[*k] = s.active_mask[c];
    }
    Fit {
        param_names: model.params().to_vec(),
        values,
        initial: initial.to_vec(),
        initial_given: (0..n).map(|k| options.p0[k].is_some() || options.fixed[k].is_some()).collect(),
        fixed: (0..n).map(|k| options.fixed[k].is_some()).collect(),
        std_errors,
        covariance,
        correlation,
        covariance_warning: cov.warning,
        conditioning_warning: None,
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
        loss: options.solve.loss,
        absolute_sigma: absolute,
        solve_time,
        backend: BackendReport::cpu(None),
    }
}

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

/// `len:xxh3` over the data's length, variable names and up to 4096 evenly spaced rows of
/// every column: cheap at any size, and different for a different data set.
fn data_fingerprint(model: &CompiledModel, data: &Data) -> String {
    let m = data.len();
    let mut bytes: Vec<u8> = Vec::new();
    let rows: Vec<usize> = if m <= 4096 { (0..m).collect() } else { (0..4096).map(|k| k * (m - 1) / 4095).collect() };
    let mut column = |name: &str, values: &[f64]| {
        bytes.extend_from_slice(name.as_bytes());
        bytes.push(0);
        for &i in &rows {
            bytes.extend_from_slice(&values.get(i).copied().unwrap_or(f64::NAN).to_le_bytes());
        }
    };
    for v in model.vars() {
        column(v, data.column(v).unwrap_or(&[]));
    }
    column("y", &data.y);
    if let Some(s) = &data.sigma {
        column("sigma", s);
    }
    format!("{m}:{:032x}", xxhash_rust::xxh3::xxh3_128(&bytes))
}

/// The options that shape a fit's solution, as text (initial values excluded: a resumed fit
/// continues from its saved state).
fn options_fingerprint(model: &CompiledModel, options: &FitOptions) -> String {
    let s = &options.solve;
    format!(
        "params {:?} lower {:?} upper {:?} fixed {:?} loss {:?} f_scale {:?} method {:?} tol {:?} max_nfev {:?} x_scale {:?} jacobian {:?} poisson {}",
        model.params(),
        options.lower,
        options.upper,
        options.fixed,
        s.loss,
        s.f_scale,
        s.method,
        (s.ftol, s.xtol, s.gtol),
        s.max_nfev,
        s.x_scale,
        s.jacobian,
        options.poisson
    )
}

/// Σ (w_i (t_i − t̄))² with t_i = t(y_i) (y itself unless the left side transforms it) and t̄
/// the w²-weighted mean; in chunks, so nothing of the data's size is allocated.
fn weighted_total_sum_of_squares(model: &CompiledModel, data: &Data, params: &[f64]) -> f64 {
    let m = data.len();
    let weight = |i: usize| data.sigma.as_ref().map_or(1.0, |s| 1.0 / s[i]);
    let mut interp = crate::ir::Interpreter::new(model.kernel());
    let vars: Vec<&[f64]> = model.vars().iter().map(|v| data.column(v).unwrap_or(&[])).collect();
    let mut targets = |start: usize, end: usize| -> Vec<f64> {
        if !model.transforms_response() {
            return data.y[start..end].to_vec();
        }
        let chunk: Vec<&[f64]> = vars.iter().map(|v| &v[start..end]).collect();
        interp.eval_batch(&chunk, Some(&data.y[start..end]), params).response.unwrap_or_default()
    };
    const CHUNK: usize = 4096;
    let (mut sum_w2, mut sum_w2t) = (0.0, 0.0);
    for start in (0..m).step_by(CHUNK) {
        let end = (start + CHUNK).min(m);
        for (k, t) in targets(start, end).iter().enumerate() {
            let w2 = weight(start + k).powi(2);
            sum_w2 += w2;
            sum_w2t += w2 * t;
        }
    }
    let mean = sum_w2t / sum_w2;
    let mut ss = 0.0;
    for start in (0..m).step_by(CHUNK) {
        let end = (start + CHUNK).min(m);
        for (k, t) in targets(start, end).iter().enumerate() {
            ss += (weight(start + k) * (t - mean)).powi(2);
        }
    }
    ss
}

/// Compiles a model with one variable `x` through the process-wide cache.
pub fn compile(source: &str) -> Result<Arc<CompiledModel>, crate::Error> {
    Ok(crate::KernelCache::global().compile_default(source)?.model)
}

/// Compiles a model with the given variables through the process-wide cache.
pub fn compile_with_vars<S: AsRef<str>>(source: &str, vars: &[S]) -> Result<Arc<CompiledModel>, crate::Error> {
    let names = crate::Names { vars: vars.iter().map(|v| v.as_ref().to_owned()).collect(), params: None };
    Ok(crate::KernelCache::global().compile(source, &crate::ModelOptions { names, ..Default::default() })?.model)
}
