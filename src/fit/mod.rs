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

//!
//! The steps of [`FitBuilder::run`], each in its own module: [`validate`] (the data and
//! options, the free parameters), the problem (kernels over data, the estimator, fixed
//! parameters: [`crate::problem`]), [`gpu_phase`] (f32 iterations on a GPU), the solve with
//! its [`checkpoint`] observer, [`polish`] (a streamed solution finished on the dense
//! Jacobian), [`statistics`] (covariance and the rest of the report).

mod bands;
mod bootstrap;
mod checkpoint;
mod contour;
mod derived;
mod errors_in_x;
mod global;
mod gpu_phase;
mod levels;
mod polish;
mod profile;
mod reweight;
mod statistics;
mod validate;

pub use bands::Bands;
pub use bootstrap::{Bootstrap, BootstrapParameter, Resampling};
pub use contour::Contour;
pub use derived::Derived;
pub use global::{GlobalFit, GlobalSet, SetFit, fit_global_sets};
pub use levels::{Level, Scale};
pub use profile::{Interval, Limit, ParameterProfile, Profile, ProfileTest};
pub use reweight::{FITTED, Reweighting};

pub use validate::default_start;
pub(crate) use validate::{bounds_in_order, columns as checked_columns};

use crate::backend::{Backend, BackendReport};
use crate::compiled::CompiledModel;
use crate::data::Column;
use crate::problem::{DataProblem, FixedParams, PoissonProblem};
use crate::solve::{self, Loss, Method, Problem, SolveError, SolveOptions, Status, XScale};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Data to fit: named variable columns, the response, optional σ per point.
#[derive(Clone, Debug, Default)]
pub struct Data {
    columns: Vec<(String, Column)>,
    y: Column,
    sigma: Option<Column>,
    /// σ of variables (errors in x), by variable name.
    sigma_x: Vec<(String, Column)>,
    /// σ of y as an expression of the columns and the fitted values.
    sigma_expression: Option<String>,
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

    /// Standard deviations of the variable `var` (errors in x): the fit minimizes the
    /// effective-variance χ², σ_eff² = σ_y² + Σ (∂f/∂x·σ_x)², with the exact ∂f/∂x. Needs
    /// [`Data::sigma`] too; σ_x may be 0 where a variable is known exactly.
    pub fn sigma_x(mut self, var: &str, values: impl Into<Column>) -> Self {
        self.sigma_x.retain(|(n, _)| n != var);
        self.sigma_x.push((var.to_owned(), values.into()));
        self
    }

    /// σ of y as an expression of the data's columns (by name) and [`FITTED`], the model's
    /// value: `0.02*fitted` (a proportional error), `sqrt(fitted)` (Pearson's χ² for counts).
    /// The fit is iteratively reweighted (see [`Reweighting`]): σ is held at the last round's
    /// curve, and the rounds go on until the parameters stop moving.
    pub fn sigma_of_fit(mut self, expression: &str) -> Self {
        self.sigma_expression = Some(expression.to_owned());
        self
    }

    /// The σ of a variable given by [`Data::sigma_x`].
    pub fn sigma_x_values(&self, var: &str) -> Option<&[f64]> {
        self.sigma_x.iter().find(|(n, _)| n == var).map(|(_, v)| v.as_slice())
    }

    pub fn len(&self) -> usize {
        self.y.len()
    }

    pub fn is_empty(&self) -> bool {
        self.y.is_empty()
    }

    /// The variable columns' names, in the order they were added.
    pub fn column_names(&self) -> impl Iterator<Item = &str> {
        self.columns.iter().map(|(n, _)| n.as_str())
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
    /// `row` counts from 0; the message counts data rows from 1, as a reader of the file does.
    #[error("{what} holds a non-finite value ({value}) at data row {}", .row + 1)]
    NonFinite { what: String, row: usize, value: f64 },
    /// `row` counts from 0; the message counts data rows from 1.
    #[error("sigma must be positive, but data row {} has {value}", .row + 1)]
    BadSigma { row: usize, value: f64 },
    #[error("unknown parameter `{name}` (parameters: {known})")]
    UnknownParameter { name: String, known: String },
    #[error("{found} initial values for {expected} parameters")]
    WrongP0Length { expected: usize, found: usize },
    #[error("`{name}`: the lower bound {lower} is not below the upper bound {upper}")]
    BadBounds { name: String, lower: f64, upper: f64 },
    /// Bounds given as vectors that do not fit the parameters.
    #[error(transparent)]
    Bounds(#[from] solve::BoundsError),
    /// A checkpoint to resume from was refused.
    #[error(transparent)]
    Checkpoint(#[from] solve::CheckpointError),
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
    /// What is minimized: least squares (under `solve.loss`) or the Poisson deviance.
    pub estimator: Estimator,
    /// Where the model is evaluated (default `Auto`).
    pub backend: Backend,
    /// Processes sharing the data (MPI ranks): each evaluates its share of the chunks and the
    /// fit is bit for bit the one-process fit on the normal equations. `None`: this process
    /// alone.
    pub collective: Option<Arc<dyn crate::problem::Collective>>,
}

/// A progress callback: called with the solver's state at the end of each iteration.
pub(crate) type ProgressFn<'a> = Box<dyn FnMut(&solve::TrfState) + 'a>;

/// What a fit minimizes.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Estimator {
    /// ½ Σ ρ(r_i²) of the weighted residuals, ρ the solver options' loss (curve_fit,
    /// least_squares).
    #[default]
    LeastSquares,
    /// The Poisson deviance of counts (maximum likelihood, Gpufit's MLE): y ≥ 0, no σ, the
    /// linear loss; the covariance is the inverse Fisher information.
    Poisson,
}

/// Returns `f`, typed as a closure that sets a fit's options for a builder of any lifetime —
/// what `pre_search`, `guess_starts` and `fit_batch` take. (A closure written in place gets
/// one lifetime, not all; passing it through this function makes it generic.)
pub fn fit_options<F: for<'d> Fn(FitBuilder<'d>) -> FitBuilder<'d>>(f: F) -> F {
    f
}

/// Builds and runs a fit of a compiled model to data.
pub struct FitBuilder<'d> {
    model: Arc<CompiledModel>,
    data: &'d Data,
    options: FitOptions,
    errors: Vec<FitError>,
    after_checkpoint: Option<Box<dyn FnMut(usize) + 'd>>,
    progress: Option<ProgressFn<'d>>,
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
                estimator: Estimator::LeastSquares,
                backend: Backend::Auto,
                collective: None,
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
            self.errors.push(FitError::Bounds(solve::BoundsError::Length {
                lower: lower.len(),
                upper: upper.len(),
                n,
            }));
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
        self.options.estimator = Estimator::Poisson;
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
    /// it), with [`Status::Interrupted`] and the fit so far; a checkpoint, if asked for (TRF),
    /// is written then. TRF and LM.
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

    /// Shares the fit with other processes (MPI ranks, see [`crate::problem::Collective`]):
    /// every process calls this with the same model, data and options and its own rank; each
    /// evaluates only its share of the chunks, and every process gets the fit one process
    /// would get on the normal equations, bit for bit. The streamed path only: a dense
    /// Jacobian, the GPU, the Poisson estimator, σ of x and σ as an expression are refused.
    pub fn collective(mut self, collective: Arc<dyn crate::problem::Collective>) -> Self {
        self.options.collective = Some(collective);
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
        if self.options.collective.is_some() {
            shared_refusals(self.data, &self.options)?;
        }
        let callbacks =
            Callbacks { after_checkpoint: self.after_checkpoint, progress: self.progress, cancel: self.cancel };
        if let Some(expression) = &self.data.sigma_expression {
            let (mut fit, data, reweighting) =
                reweight::run(&self.model, self.data, expression, &self.options, callbacks)?;
            fit.reweighting = Some(reweighting);
            fit.source = Some(Arc::new(FitSource {
                model: self.model.clone(),
                data,
                options: self.options,
                curve: self.model,
                errors_in_x: Vec::new(),
            }));
            return Ok(fit);
        }
        let source = match errors_in_x::prepare(&self.model, self.data, &self.options)? {
            None => FitSource {
                model: self.model.clone(),
                data: self.data.clone(),
                options: self.options,
                curve: self.model,
                errors_in_x: Vec::new(),
            },
            Some(effective) => FitSource {
                model: effective.model,
                data: effective.data,
                options: self.options,
                curve: self.model,
                errors_in_x: effective.vars,
            },
        };
        let mut options = source.options.clone();
        let mut plain_start = None;
        if !source.errors_in_x.is_empty() {
            // Started where σ_y alone puts the curve: from a poor start the effective variance
            // can have other stationary points (Pearson–York's line from (1, 1) finds one). A
            // resumed fit runs this too, so that its options are the checkpoint's.
            let mut first = source.options.clone();
            (first.checkpoint, first.resume) = (None, None);
            let plain = run_fit(&source.curve, self.data, &first, Callbacks::default())?;
            if plain.values.iter().all(|v| v.is_finite()) {
                for (k, value) in plain.values.iter().enumerate() {
                    if options.fixed[k].is_none() {
                        options.p0[k] = Some(*value);
                    }
                }
            }
            plain_start = Some((plain.initial, plain.initial_given));
        }
        let mut fit = run_fit(&source.model, &source.data, &options, callbacks)?;
        if let Some((initial, given)) = plain_start {
            // The start reported is the caller's, not the σ_y-only fit's solution.
            (fit.initial, fit.initial_given) = (initial, given);
        }
        if !source.errors_in_x.is_empty() {
            // The objective's response is zeros: R² of it would mean nothing.
            fit.r_squared = f64::NAN;
        }
        fit.source = Some(Arc::new(source));
        Ok(fit)
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
    /// Standard errors: 0 for fixed parameters; ∞ for a parameter the data do not determine
    /// (a share in the null space of J) and for all when the covariance cannot be estimated.
    pub std_errors: Vec<f64>,
    /// Covariance over all parameters, n × n row-major (zero rows for fixed ones).
    pub covariance: Vec<f64>,
    /// Correlations, n × n row-major (NaN where a parameter is fixed).
    pub correlation: Vec<f64>,
    pub covariance_warning: Option<String>,
    /// Set when σ followed the fitted values ([`Data::sigma_of_fit`]).
    pub reweighting: Option<Reweighting>,
    /// Set when the streamed path met an ill-conditioned JᵀJ (and what was done about it).
    pub conditioning_warning: Option<String>,
    /// Set when a checkpoint could not be written during the fit (the fit went on: its result
    /// is not thrown away for a failed save).
    pub checkpoint_warning: Option<String>,
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
    /// What was minimized; for `Poisson`, `chi2` is the deviance.
    pub estimator: Estimator,
    pub loss: Loss,
    pub absolute_sigma: bool,
    pub solve_time: Duration,
    /// What evaluated the model (and the GPU phase, if one ran).
    pub backend: BackendReport,
    /// The model, data and options this fit came from: what profiles, bands and derived
    /// quantities are computed from (the same data, never data passed again).
    #[serde(skip)]
    source: Option<Arc<FitSource>>,
}

/// What produced a [`Fit`]; the data columns are shared, not copied.
pub(crate) struct FitSource {
    /// The model and data of the objective (refits run on these).
    pub model: Arc<CompiledModel>,
    pub data: Data,
    pub options: FitOptions,
    /// The model's own curve f: `model` itself, except with errors in x, where `model` is the
    /// effective-variance residual.
    pub curve: Arc<CompiledModel>,
    /// The variables with errors (empty for none).
    pub errors_in_x: Vec<String>,
}

impl FitSource {
    /// The fit's options for a refit started at `start` (the free parameters; the held ones
    /// stay held): no checkpoint, no resume, on the CPU — what profiles and bootstraps run.
    fn refit_options(&self, start: &[f64]) -> FitOptions {
        let mut options = self.options.clone();
        for (k, value) in start.iter().enumerate() {
            if options.fixed[k].is_none() {
                options.p0[k] = Some(*value);
            }
        }
        options.checkpoint = None;
        options.resume = None;
        options.backend = Backend::Cpu;
        // Every rank holds all of the data: its refits (profiles, bootstraps, run from threads
        // in no fixed order) are its own, never exchanged.
        options.collective = None;
        options
    }
}

impl std::fmt::Debug for FitSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FitSource").field("model", &self.model.source()).field("points", &self.data.len()).finish()
    }
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

    /// How the uncertainty scale is known: σ absolute (or Poisson), or estimated from the
    /// residuals with the fit's degrees of freedom.
    pub fn scale(&self) -> Scale {
        if self.absolute_sigma { Scale::Known } else { Scale::Estimated { dof: self.dof } }
    }

    fn source(&self) -> Result<&FitSource, FitError> {
        self.source.as_deref().ok_or_else(|| {
            FitError::Invalid("this fit does not hold its model and data (a refit inside a profile)".into())
        })
    }
}

/// A fit's callbacks and its cancel flag.
#[derive(Default)]
struct Callbacks<'d> {
    after_checkpoint: Option<Box<dyn FnMut(usize) + 'd>>,
    progress: Option<ProgressFn<'d>>,
    cancel: Option<&'d std::sync::atomic::AtomicBool>,
}

/// Every rank's outcome of a step that may fail on some ranks only: all go on, or all fail.
fn agree<T>(ranks: &dyn crate::problem::Collective, outcome: Result<T, FitError>, what: &str) -> Result<T, FitError> {
    let failed = ranks
        .first_failed(outcome.is_ok())
        .map_err(|e| FitError::Invalid(format!("exchanging with the other ranks: {e}")))?;
    let value = outcome?;
    match failed {
        Some(rank) => {
            Err(FitError::Invalid(format!("rank {rank} could not {what} (its message is on its standard error)")))
        }
        None => Ok(value),
    }
}

/// What a fit shared between processes cannot do (see [`FitBuilder::collective`]).
fn shared_refusals(data: &Data, options: &FitOptions) -> Result<(), FitError> {
    let refuse = |what: &str| Err(FitError::Invalid(format!("a fit shared by several processes {what}")));
    if options.solve.jacobian == solve::JacobianMode::Dense {
        return refuse("runs on the normal equations: a dense Jacobian cannot be asked for");
    }
    if options.backend == Backend::Gpu {
        return refuse("runs on the CPU: the GPU backend cannot be asked for");
    }
    if options.solve.method == solve::Method::Lm {
        return refuse("runs TRF on the normal equations: method `lm` cannot be asked for");
    }
    if options.estimator == Estimator::Poisson {
        return refuse("minimizes least squares: the Poisson estimator is not distributed");
    }
    if data.sigma_expression.is_some() || !data.sigma_x.is_empty() {
        return refuse("takes σ of y as a column only: σ as an expression and σ of x are not distributed");
    }
    Ok(())
}

/// A fit, step by step: validate, build the problem, the GPU phase, solve (observed for
/// progress and checkpoints), polish, statistics.
fn run_fit(
    model: &CompiledModel,
    data: &Data,
    options: &FitOptions,
    callbacks: Callbacks<'_>,
) -> Result<Fit, FitError> {
    let started = Instant::now();
    // A shared fit checks (and weights) only the rows of its share, then all ranks agree.
    let mut input = match &options.collective {
        Some(ranks) => {
            let n_chunks = data.len().div_ceil(crate::problem::STREAM_CHUNK).max(1);
            let chunks = crate::problem::Share::new(n_chunks, ranks.rank(), ranks.size()).chunks();
            let rows = (chunks.start * crate::problem::STREAM_CHUNK).min(data.len())
                ..(chunks.end * crate::problem::STREAM_CHUNK).min(data.len());
            agree(ranks.as_ref(), validate::Input::check(model, data, options, rows), "use its share of the data")?
        }
        None => validate::Input::check(model, data, options, 0..data.len())?,
    };
    // Shared by several processes: the normal equations (their sums are what the processes
    // exchange), on the CPU, and one process writes the checkpoints.
    let shared_options;
    let options = match &options.collective {
        Some(collective) => {
            input.solve.jacobian = solve::JacobianMode::NormalEquations;
            let mut shared = options.clone();
            shared.backend = Backend::Cpu;
            // The polish's "requested" mode too: never a dense refit of a shared fit.
            shared.solve.jacobian = solve::JacobianMode::NormalEquations;
            if collective.rank() != 0 {
                shared.checkpoint = None;
            }
            shared_options = shared;
            &shared_options
        }
        None => options,
    };

    // The problem: the kernels over the data, the estimator, the fixed parameters.
    let y = data.response();
    let mut data_problem = DataProblem::new(model.kernels(), input.vars.clone(), y, input.weights.as_deref())
        .with_collective(options.collective.as_deref());
    let mut poisson_problem;
    let inner: &mut dyn Problem = match options.estimator {
        Estimator::LeastSquares => &mut data_problem,
        Estimator::Poisson => {
            poisson_problem = PoissonProblem::new(&mut data_problem, y);
            &mut poisson_problem
        }
    };
    let mut problem = FixedParams::new(inner, input.initial.clone(), &input.free);

    let mut observer = checkpoint::Observer::new(model, data, options, callbacks.progress, callbacks.after_checkpoint);
    let resume = observer.resume_state(&input.solve.lower, &input.solve.upper);
    // A checkpoint on node-local disk may be readable on some ranks only: all resume or none.
    let resume = match &options.collective {
        Some(ranks) => agree(ranks.as_ref(), resume, "read the checkpoint")?,
        None => resume?,
    };
    // Each rank sees its own interrupt, maybe an iteration apart from the others': a shared fit
    // is not stopped by the flag (mpirun's signals end the job; the last checkpoint resumes it).
    let cancel = if options.collective.is_some() { None } else { callbacks.cancel };
    let x0 = input.free.restrict(&input.initial);
    // A resumed fit continues from its checkpoint's state: no GPU phase.
    let gpu = if resume.is_some() {
        gpu_phase::GpuOutcome { report: BackendReport::cpu(None), x_start: x0, finished: None }
    } else {
        let phase = gpu_phase::GpuPhase {
            vars: &input.vars,
            y,
            weights: input.weights.as_deref(),
            initial: &input.initial,
            free: &input.free,
        };
        phase.run(model, options, &input.solve, x0, cancel, observer.progress())?
    };
    let mut backend_report = gpu.report;
    if let Some(collective) = &options.collective {
        backend_report.note = Some(format!(
            "cpu: the fit is shared by {} processes (MPI ranks), each on its share of the data, on the normal equations",
            collective.size()
        ));
    }
    let finished = gpu_phase::cross_check(&mut problem, gpu.finished, &mut backend_report)?;

    let solution = match finished {
        Some(solution) => solution,
        None => {
            let wants_iterations = observer.wants_iterations(input.solve.method);
            let mut on_iteration = |state: &solve::TrfState, save_now: bool| observer.on_iteration(state, save_now);
            let mut hooks = solve::Hooks { cancel, resume, ..Default::default() };
            if wants_iterations {
                hooks.on_iteration = Some(&mut on_iteration);
            }
            solve::solve_with_hooks(&mut problem, &gpu.x_start, &input.solve, &mut hooks).map_err(|e| {
                // (After an f32 phase on the GPU the CPU starts where that phase ended.)
                let start = if gpu.x_start == input.free.restrict(&input.initial) {
                    "the initial parameters"
                } else {
                    "the parameters the GPU phase ended at"
                };
                name_the_start(model, &input.free, start, e)
            })?
        }
    };
    let (mut solution, conditioning_warning) =
        polish::polish_if_ill_conditioned(&mut problem, solution, &input.solve, options.solve.jacobian, data.len())?;
    // On the streamed path r is not stored: χ² of the plain residuals is one more pass when a
    // robust loss made the cost something else.
    let chi2 = if solution.residuals.is_empty() && options.solve.loss != Loss::Linear {
        problem.sum_of_squares(&solution.x, crate::loss::LossSpec::LINEAR)?
    } else {
        None
    };
    let checkpoint_warning = observer.finish();
    if options.estimator == Estimator::Poisson {
        statistics::use_fisher_information(model, data, &input.initial, &input.free, &mut solution)?;
    }
    let mut fit = statistics::assemble(model, data, options, &input, solution, chi2, started.elapsed())?;
    fit.conditioning_warning = conditioning_warning;
    fit.checkpoint_warning = checkpoint_warning;
    fit.backend = backend_report;
    Ok(fit)
}

/// The solver's refusals of its start, with the parameters named: it sees only the free
/// ones' values, as a vector.
pub(crate) fn name_the_start(
    model: &CompiledModel,
    free: &crate::problem::FreeParams,
    start: &str,
    error: SolveError,
) -> FitError {
    let named = |x: &[f64]| {
        let pairs: Vec<String> =
            free.indices().iter().zip(x).map(|(k, v)| format!("{} = {v}", model.params()[*k])).collect();
        pairs.join(", ")
    };
    match error {
        SolveError::NonFiniteStart(x) => {
            FitError::Invalid(format!("the residuals are not finite at {start} ({})", named(&x)))
        }
        SolveError::NonFiniteJacobianAtStart(x) => {
            FitError::Invalid(format!("the Jacobian is not finite at {start} ({})", named(&x)))
        }
        other => other.into(),
    }
}

/// Compiles a model with one variable `x` through the process-wide cache.
pub fn compile(source: &str) -> Result<Arc<CompiledModel>, crate::ModelError> {
    Ok(crate::KernelCache::global().compile_default(source)?.model)
}

/// Compiles a model with the given variables through the process-wide cache.
pub fn compile_with_vars<S: AsRef<str>>(source: &str, vars: &[S]) -> Result<Arc<CompiledModel>, crate::ModelError> {
    let names = crate::Names { vars: vars.iter().map(|v| v.as_ref().to_owned()).collect(), params: None };
    Ok(crate::KernelCache::global().compile(source, &crate::ModelOptions { names, ..Default::default() })?.model)
}
