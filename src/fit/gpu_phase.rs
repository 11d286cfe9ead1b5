//! The GPU phase of a fit (see ARCHITECTURE.md, "Precision policy of a GPU fit"): choose the
//! backend; on the GPU, TRF in f32 on the device's normal equations, then the f64 finish —
//! on the device when it can, checked against one f64 pass of the CPU backend, else on the
//! CPU. Without the `gpu` feature one stand-in ([`GpuPhase::on_device`]) says so.

use super::{Estimator, FitError, FitOptions};
use crate::backend::{Backend, BackendReport};
use crate::compiled::CompiledModel;
#[cfg(feature = "gpu")]
use crate::problem::FixedParams;
use crate::problem::FreeParams;
#[cfg(feature = "gpu")]
use crate::solve::Method;
use crate::solve::{self, Loss, Problem, Solution, SolveOptions};
#[cfg(feature = "gpu")]
use std::time::Instant;

/// Tolerances of the f32 phase on the GPU (or the caller's, when looser): f32 sums carry about
/// 7 digits, so the phase stops once steps and cost changes are at that level and the f64
/// finish takes over.
#[cfg_attr(not(feature = "gpu"), allow(dead_code))]
const GPU_PHASE_TOLERANCE: f64 = 1e-6;

/// What the GPU phase decided: the report, where the f64 iterations start, and — when they
/// ran on the device too — their solution.
pub(super) struct GpuOutcome {
    pub report: BackendReport,
    pub x_start: Vec<f64>,
    pub finished: Option<Solution>,
}

/// Evaluations per free parameter the f32 phase may spend (the f64 finish does the rest).
#[cfg_attr(not(feature = "gpu"), allow(dead_code))]
const GPU_PHASE_EVALUATIONS_PER_PARAMETER: usize = 50;

/// How closely the device's f64 χ² must match the CPU backend's at the solution (both f64,
/// summed in different orders).
const GPU_CROSS_CHECK: f64 = 1e-9;

/// The first phase of a fit on the GPU backend.
#[cfg_attr(not(feature = "gpu"), allow(dead_code))]
pub(super) struct GpuPhase<'a> {
    pub vars: &'a [&'a [f64]],
    pub y: &'a [f64],
    pub weights: Option<&'a [f64]>,
    pub initial: &'a [f64],
    pub free: &'a FreeParams,
}

impl GpuPhase<'_> {
    /// Chooses the backend; when it is the GPU, iterates there in f32 from `x0` and returns
    /// where the f64 finish starts. A GPU the caller asked for that cannot run is an error;
    /// under `Auto` the fit stays on the CPU and the report says why.
    pub fn run(
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
        let plain_least_squares = options.estimator == Estimator::LeastSquares && options.solve.loss == Loss::Linear;
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
        self.on_device(model, options, solve_options, x0, cancel, progress)
    }

    /// The GPU phase proper, once the GPU was chosen (explicitly or by `Auto`).
    #[cfg(feature = "gpu")]
    fn on_device(
        &self,
        model: &CompiledModel,
        options: &FitOptions,
        solve_options: &SolveOptions,
        x0: Vec<f64>,
        cancel: Option<&std::sync::atomic::AtomicBool>,
        progress: Option<&mut (dyn FnMut(&solve::TrfState) + '_)>,
    ) -> Result<GpuOutcome, FitError> {
        let explicit = options.backend == Backend::Gpu;
        let cpu = |note: String, x0: Vec<f64>| {
            Ok(GpuOutcome { report: BackendReport::cpu(Some(note)), x_start: x0, finished: None })
        };
        let started = Instant::now();
        let device = match crate::backend::gpu::device() {
            Ok(device) => device,
            Err(e) if explicit => return Err(FitError::Gpu(e.to_string())),
            Err(e) => return cpu(format!("auto: no GPU ({e})"), x0),
        };
        if device.is_software() && !explicit {
            let note = format!("auto: the only GPU adapter is a software one ({})", device.adapter_name());
            return cpu(note, x0);
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

    /// The one stand-in for the GPU phase in a build without the `gpu` feature.
    #[cfg(not(feature = "gpu"))]
    fn on_device(
        &self,
        _model: &CompiledModel,
        options: &FitOptions,
        _solve_options: &SolveOptions,
        x0: Vec<f64>,
        _cancel: Option<&std::sync::atomic::AtomicBool>,
        _progress: Option<&mut (dyn FnMut(&solve::TrfState) + '_)>,
    ) -> Result<GpuOutcome, FitError> {
        let why = "this build of jitfit has no GPU support (cargo feature `gpu`)";
        if options.backend == Backend::Gpu {
            return Err(FitError::Gpu(why.into()));
        }
        Ok(GpuOutcome { report: BackendReport::cpu(Some(why.into())), x_start: x0, finished: None })
    }

    /// The f32 iterations (TRF on the normal equations accumulated by the device), then —
    /// when the device and the model have f64 kernels and `finish_here` — the f64 finish on
    /// the device too, from where the f32 iterations stopped, with the caller's tolerances.
    #[cfg(feature = "gpu")]
    // The phase's inputs are separate borrows with separate lifetimes; a struct of them would
    // only rename this list.
    #[allow(clippy::too_many_arguments)]
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
        use crate::backend::wgsl::Precision;
        use crate::problem::GpuProblem;
        let gpu = |e: crate::backend::gpu::GpuError| FitError::Gpu(e.to_string());
        let kernels = model.gpu_kernels().map_err(gpu)?;
        let data = if finish_here {
            GpuData::upload(device, kernels, self.vars, self.y, self.weights)
        } else {
            GpuData::upload_f32(device, kernels, self.vars, self.y, self.weights)
        }
        .map_err(gpu)?;
        let mut inner = GpuProblem::new(&data, model.n_params(), Precision::F32);
        let mut problem = FixedParams::new(&mut inner, self.initial.to_vec(), self.free);
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
        let solution = solve::solve_with_hooks(&mut problem, x0, &options, &mut hooks)
            .map_err(|e| super::name_the_start(model, self.free, "the initial parameters", e))?;
        drop(hooks);
        if solution.x.iter().any(|v| !v.is_finite()) {
            return Err(FitError::Solve(solve::SolveError::Evaluation(
                "the f32 iterations ended at non-finite parameters".into(),
            )));
        }
        if !(finish_here && data.has_f64()) {
            return Ok((solution, None));
        }
        let mut inner = GpuProblem::new(&data, model.n_params(), Precision::F64);
        let mut problem = FixedParams::new(&mut inner, self.initial.to_vec(), self.free);
        let mut options = solve_options.clone();
        options.method = Method::Trf;
        options.jacobian = solve::JacobianMode::NormalEquations;
        let mut hooks = solve::Hooks { cancel, ..Default::default() };
        hooks.on_iteration = Some(&mut report);
        let finished = solve::solve_with_hooks(&mut problem, &solution.x, &options, &mut hooks)
            .map_err(|e| super::name_the_start(model, self.free, "the parameters the GPU phase ended at", e))?;
        Ok((solution, Some(finished)))
    }
}

/// A finish on the device is checked against one f64 pass of the CPU backend: Vulkan drivers
/// may compile assuming no inf/NaN, so a model that passes through them can evaluate
/// differently there. Returns the device's solution when the costs agree; otherwise `None`
/// (the CPU finishes the fit) with a note in the report.
pub(super) fn cross_check(
    cpu_problem: &mut dyn Problem,
    finished: Option<Solution>,
    report: &mut BackendReport,
) -> Result<Option<Solution>, FitError> {
    let Some(solution) = finished else { return Ok(None) };
    let cpu = cpu_problem.sum_of_squares(&solution.x, crate::loss::LossSpec::LINEAR)?;
    let gpu = 2.0 * solution.cost;
    match cpu {
        Some(cpu) if (cpu - gpu).abs() <= GPU_CROSS_CHECK * cpu.abs().max(f64::MIN_POSITIVE) => Ok(Some(solution)),
        other => {
            report.f64_on_gpu = false;
            report.note = Some(format!(
                "the device's f64 χ² ({gpu:e}) disagreed with the CPU's ({}): the f64 iterations ran on the CPU",
                other.map_or("none".into(), |c| format!("{c:e}"))
            ));
            Ok(None)
        }
    }
}
