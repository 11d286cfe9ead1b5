//! Backends: what runs a kernel over data. Every backend implements [`Kernels`] from one
//! verified [`Kernel`](crate::ir::Kernel) — the IR is the only thing a backend sees — so the
//! solver and the front ends do not care which one runs.
//!
//! The kernels of a model, each looping over a chunk of points (structure of arrays: one
//! slice per variable, plus `y` and optional weights):
//! - `predict`: f(x_i);
//! - `residual_jacobian`: r_i = w_i·(f(x_i) − t(y_i)) and the Jacobian row w_i·∂f/∂p (row-major);
//! - `normal_equations`: adds JᵀJ (upper triangle), Jᵀr and Σr² over the chunk without storing J;
//! - `sum_of_squares`: Σr² alone (the cost of a trial step on streamed data);
//! - `robust_normal_equations`, `robust_cost`: the same under a robust loss, rows and residuals
//!   scaled as scipy does.

pub mod cranelift;
#[cfg(feature = "gpu")]
pub mod gpu;
mod interp;
pub mod wgsl;

pub use interp::InterpreterKernels;

use crate::ir::{Kernel, VerifiedKernel};
use crate::loss::LossSpec;
/// The accumulator the streaming kernels add into: the solver's type.
pub use crate::solve::NormalEquations;

/// Which backend evaluates a fit's model.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Backend {
    /// The GPU when a hardware adapter exists, the data have at least [`GPU_AUTO_MIN_POINTS`]
    /// points and the fit is plain least squares; the CPU otherwise.
    #[default]
    Auto,
    /// Cranelift's native kernels, f64.
    Cpu,
    /// f32 iterations on the GPU (wgpu), then an f64 finish on the CPU.
    Gpu,
}

impl Backend {
    pub fn name(self) -> &'static str {
        match self {
            Backend::Auto => "auto",
            Backend::Cpu => "cpu",
            Backend::Gpu => "gpu",
        }
    }
}

/// The fewest points for which `Backend::Auto` uses the GPU: below, the device's start-up
/// (tens of ms) and per-iteration round trips cost more than the CPU's whole fit.
pub const GPU_AUTO_MIN_POINTS: usize = 1 << 20;

/// What evaluated a fit, for reports.
#[derive(Clone, Debug, PartialEq, serde::Serialize)]
pub struct BackendReport {
    /// `Cpu`, or `Gpu` when an f32 phase ran on the device.
    pub used: Backend,
    /// The GPU adapter, when one ran.
    pub adapter: Option<String>,
    /// Iterations and model evaluations of the f32 phase on the GPU (the f64 finish's are the
    /// fit's own `iterations` and `nfev`).
    pub gpu_iterations: usize,
    pub gpu_nfev: usize,
    /// Wall time of the GPU phase: device start (first use), upload, iterations (f64 ones
    /// included when they ran on the device).
    pub gpu_time: std::time::Duration,
    /// True when the f64 finish ran on the device (`SHADER_F64`), false when on the CPU.
    pub f64_on_gpu: bool,
    /// Why `auto` stayed on the CPU, or why a GPU phase was abandoned.
    pub note: Option<String>,
}

impl BackendReport {
    pub fn cpu(note: Option<String>) -> Self {
        BackendReport {
            used: Backend::Cpu,
            adapter: None,
            gpu_iterations: 0,
            gpu_nfev: 0,
            gpu_time: std::time::Duration::ZERO,
            f64_on_gpu: false,
            note,
        }
    }
}

/// The data of one chunk of points, as columns.
#[derive(Clone, Copy, Debug)]
pub struct Chunk<'a> {
    /// One slice per variable, in the kernel's variable order, all of one length.
    pub vars: &'a [&'a [f64]],
    /// The observed response.
    pub y: &'a [f64],
    /// Per-point weights (1/σ for curve_fit's `sigma`); `None` means all ones.
    pub weights: Option<&'a [f64]>,
}

impl Chunk<'_> {
    pub fn len(&self) -> usize {
        self.y.len()
    }

    pub fn is_empty(&self) -> bool {
        self.y.is_empty()
    }
}

/// Why a backend refused a call.
#[derive(Clone, Debug, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum BackendError {
    #[error("{what}: expected {expected}, got {found}")]
    Shape { what: &'static str, expected: usize, found: usize },
    #[error("code generation failed (a bug in jitfit): {0}")]
    Compile(String),
}

/// A model's compiled kernels. Implementations are callable from many threads at once.
pub trait Kernels: Send + Sync {
    /// The IR these kernels were built from.
    fn kernel(&self) -> &VerifiedKernel;

    /// `out[i] = f(x_i)`.
    fn predict(&self, vars: &[&[f64]], params: &[f64], out: &mut [f64]) -> Result<(), BackendError>;

    /// `residuals[i] = w_i·(f(x_i) − t(y_i))`, `jacobian[i·p + k] = w_i·∂f/∂p_k(x_i)`.
    fn residual_jacobian(
        &self,
        chunk: &Chunk<'_>,
        params: &[f64],
        residuals: &mut [f64],
        jacobian: &mut [f64],
    ) -> Result<(), BackendError>;

    /// Adds the chunk's JᵀJ (upper triangle), Jᵀr and Σr² to `acc`.
    fn normal_equations(
        &self,
        chunk: &Chunk<'_>,
        params: &[f64],
        acc: &mut NormalEquations,
    ) -> Result<(), BackendError>;

    /// `out[i] = w_i·(f(x_i) − t(y_i))`: the residuals alone, bit-identical to those of
    /// `residual_jacobian`.
    fn residuals(&self, chunk: &Chunk<'_>, params: &[f64], out: &mut [f64]) -> Result<(), BackendError>;

    /// Σ r_i² over the chunk, storing nothing per point.
    fn sum_of_squares(&self, chunk: &Chunk<'_>, params: &[f64]) -> Result<f64, BackendError>;

    /// `normal_equations` under a robust loss: each row of J and each residual scaled as
    /// scipy does ([`Loss::point`](crate::loss::Loss::point)); `acc.rss` gets Σ f_scale²·ρ.
    fn robust_normal_equations(
        &self,
        chunk: &Chunk<'_>,
        params: &[f64],
        loss: LossSpec,
        acc: &mut NormalEquations,
    ) -> Result<(), BackendError>;

    /// Σ f_scale²·ρ(z_i) over the chunk: twice the robust cost.
    fn robust_cost(&self, chunk: &Chunk<'_>, params: &[f64], loss: LossSpec) -> Result<f64, BackendError>;
}

/// Checks the lengths of a call's slices against the kernel.
pub(crate) fn check_shapes(kernel: &Kernel, vars: &[&[f64]], n: usize, params: &[f64]) -> Result<(), BackendError> {
    let shape = |what, expected, found| {
        if expected == found { Ok(()) } else { Err(BackendError::Shape { what, expected, found }) }
    };
    shape("variable columns", kernel.n_vars(), vars.len())?;
    for column in vars {
        shape("points in a variable column", n, column.len())?;
    }
    shape("parameters", kernel.n_params(), params.len())
}

pub(crate) fn check_chunk(kernel: &Kernel, chunk: &Chunk<'_>, params: &[f64]) -> Result<(), BackendError> {
    check_shapes(kernel, chunk.vars, chunk.len(), params)?;
    if let Some(w) = chunk.weights
        && w.len() != chunk.len()
    {
        return Err(BackendError::Shape { what: "weights", expected: chunk.len(), found: w.len() });
    }
    Ok(())
}

/// The checks of a `residual_jacobian` call: the chunk, and room for n residuals and n·p
/// derivatives.
pub(crate) fn check_residual_jacobian(
    kernel: &Kernel,
    chunk: &Chunk<'_>,
    params: &[f64],
    residuals: &[f64],
    jacobian: &[f64],
) -> Result<(), BackendError> {
    check_chunk(kernel, chunk, params)?;
    let (n, p) = (chunk.len(), kernel.n_params());
    if residuals.len() != n {
        return Err(BackendError::Shape { what: "residuals", expected: n, found: residuals.len() });
    }
    if jacobian.len() != n * p {
        return Err(BackendError::Shape { what: "jacobian", expected: n * p, found: jacobian.len() });
    }
    Ok(())
}

/// The checks of a `residuals` call: the chunk, and room for one residual per point.
pub(crate) fn check_residuals(
    kernel: &Kernel,
    chunk: &Chunk<'_>,
    params: &[f64],
    out: &[f64],
) -> Result<(), BackendError> {
    check_chunk(kernel, chunk, params)?;
    if out.len() != chunk.len() {
        return Err(BackendError::Shape { what: "residuals", expected: chunk.len(), found: out.len() });
    }
    Ok(())
}

/// The checks of a normal-equations call: the chunk, and an accumulator of p parameters.
pub(crate) fn check_normal_equations(
    kernel: &Kernel,
    chunk: &Chunk<'_>,
    params: &[f64],
    acc: &NormalEquations,
) -> Result<(), BackendError> {
    check_chunk(kernel, chunk, params)?;
    let p = kernel.n_params();
    if acc.n_params != p || acc.jtj.len() != p * p || acc.jtr.len() != p {
        return Err(BackendError::Shape { what: "normal equations", expected: p, found: acc.n_params });
    }
    Ok(())
}
