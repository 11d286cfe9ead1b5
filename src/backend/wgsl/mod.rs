//! WGSL from the kernel IR: the GPU form of `predict`, `residual_jacobian` and
//! `normal_equations`, generated from the same IR as every other backend (no second lowering
//! of the model). f32 throughout: WGSL has no f64 transcendentals, and a device's `SHADER_F64`
//! support is optional.
//!
//! Layout (structure of arrays): `vars[k * n + i]`, `y[i]`, `w[i]`, `params[k]`, uniform
//! `info` = (n). `normal_equations` reduces JᵀJ (upper), Jᵀr and Σr² within each workgroup
//! and writes one row of partial sums per workgroup, which the host adds in f64 in a fixed
//! order (`sum_of_squares` likewise for Σr² alone). The runtime that runs these shaders is
//! [`crate::backend::gpu`]; every shader is validated with naga in the tests.

mod conv;
mod writer;

pub use writer::{write_batch_shader, write_shader, write_shader_in};

/// Threads per workgroup.
pub const WORKGROUP_SIZE: u32 = 64;

/// Points each thread of a reduction accumulates before the workgroup adds its threads' sums:
/// the workgroup-wide reduction (barriers) and the partial sums read back are paid once per
/// 1024 points rather than per 64.
pub const POINTS_PER_THREAD: u32 = 16;

/// Bytes of workgroup memory one pass of the reduction may use (64 threads × 48 f32 or 24 f64
/// = 12 KiB, within WebGPU's guaranteed 16 KiB); more slots take several passes.
pub(crate) const REDUCTION_BYTES: usize = 12 * 1024;

/// How many partial sums `normal_equations` writes per workgroup: p(p+1)/2 + p + 1.
pub fn normal_equations_slots(n_params: usize) -> usize {
    n_params * (n_params + 1) / 2 + n_params + 1
}

/// The floating-point type a shader computes in.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Precision {
    /// Every device; WGSL's own math functions.
    F32,
    /// Devices with `SHADER_F64`. WGSL's transcendentals are f32-only (and lavapipe's f64
    /// `exp` silently returns 0), so every function of the grammar is written out in software:
    /// exp and log by range reduction + polynomials (≤ 1 ulp measured), the others on top of
    /// them or by their own series (sin/cos/tan by Cody–Waite reduction, accurate while
    /// |x| < ~1.6e6; erf/erfc by series and continued fraction). Measured errors are in the
    /// GPU tests.
    F64,
}

impl Precision {
    pub fn type_name(self) -> &'static str {
        match self {
            Precision::F32 => "f32",
            Precision::F64 => "f64",
        }
    }

    /// Bytes per value.
    pub fn size(self) -> usize {
        match self {
            Precision::F32 => 4,
            Precision::F64 => 8,
        }
    }
}

/// Which kernel a shader computes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum WgslKernel {
    /// `result[i] = f(x_i)`.
    Predict,
    /// `result[i·(p+1)] = r_i`, `result[i·(p+1) + 1 + k] = ∂r_i/∂p_k`.
    ResidualJacobian,
    /// Per workgroup: JᵀJ (upper, row by row, each row followed by its Jᵀr entry), then Σr².
    NormalEquations,
    /// Per workgroup: Σr² (the cost of a trial step).
    SumOfSquares,
}

impl WgslKernel {
    pub const ALL: [WgslKernel; 4] =
        [WgslKernel::Predict, WgslKernel::ResidualJacobian, WgslKernel::NormalEquations, WgslKernel::SumOfSquares];

    /// Values written per point (per-point kernels) or per workgroup (reductions).
    pub fn outputs(self, n_params: usize) -> usize {
        match self {
            WgslKernel::Predict => 1,
            WgslKernel::ResidualJacobian => n_params + 1,
            WgslKernel::NormalEquations => normal_equations_slots(n_params),
            WgslKernel::SumOfSquares => 1,
        }
    }

    /// True for the kernels that write one row per workgroup rather than per point.
    pub fn is_reduction(self) -> bool {
        matches!(self, WgslKernel::NormalEquations | WgslKernel::SumOfSquares)
    }

    /// Points one workgroup covers.
    pub fn points_per_workgroup(self) -> usize {
        let per_thread = if self.is_reduction() { POINTS_PER_THREAD } else { 1 };
        (WORKGROUP_SIZE * per_thread) as usize
    }
}

/// Values the batch shader writes per fit after the parameters: the standard errors (n),
/// then χ², iterations and the status code (0 converged, 1 max_iterations, 2 singular,
/// 3 not_finite, 4 too_few_points: [`crate::batch::BatchStatus::from_code`]).
pub fn batch_outputs(n_params: usize) -> usize {
    n_params + 3
}

/// The prelude of a shader in `precision`: the alias `jf_t`, the precision's own functions and
/// the helpers written over `jf_t`. Between the marker comments `// jitfit prelude` and
/// `// end of the jitfit prelude`.
pub fn prelude(precision: Precision) -> String {
    let own = match precision {
        Precision::F32 => include_str!("prelude_f32.wgsl"),
        Precision::F64 => include_str!("prelude_f64.wgsl"),
    };
    format!(
        "// jitfit prelude\nalias jf_t = {};\n{own}\n{}// end of the jitfit prelude\n",
        precision.type_name(),
        include_str!("prelude_typed.wgsl")
    )
}
