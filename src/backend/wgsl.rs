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

use crate::ir::{Inst, Kernel};
use crate::ops::{BinaryOp, UnaryOp};
use std::fmt::Write;

/// Threads per workgroup.
pub const WORKGROUP_SIZE: u32 = 64;

/// Points each thread of a reduction accumulates before the workgroup adds its threads' sums:
/// the workgroup-wide reduction (barriers) and the partial sums read back are paid once per
/// 1024 points rather than per 64.
pub const POINTS_PER_THREAD: u32 = 16;

/// The most slots one pass of the workgroup reduction holds in workgroup memory (64 threads ×
/// 48 f32 = 12 KiB, within WebGPU's guaranteed 16 KiB); more slots take several passes.
const SLOTS_PER_PASS: usize = 48;

/// How many partial sums `normal_equations` writes per workgroup: p(p+1)/2 + p + 1.
pub fn normal_equations_slots(n_params: usize) -> usize {
    n_params * (n_params + 1) / 2 + n_params + 1
}

fn float(v: f64) -> String {
    let v = v as f32;
    if v.is_nan() {
        // WGSL has no NaN literal; 0/0 at run time gives one.
        "(zero / zero)".to_owned()
    } else if v.is_infinite() {
        if v > 0.0 { "(one / zero)".to_owned() } else { "(-one / zero)".to_owned() }
    } else {
        let s = format!("{v:?}");
        if s.contains('.') || s.contains('e') { format!("f32({s})") } else { format!("f32({s}.0)") }
    }
}

fn unary(op: UnaryOp, a: &str) -> String {
    match op {
        UnaryOp::Neg => format!("-({a})"),
        UnaryOp::Exp => format!("exp({a})"),
        UnaryOp::Ln => format!("log({a})"),
        UnaryOp::Log10 => format!("(log2({a}) * 0.30102999566398120)"),
        UnaryOp::Log2 => format!("log2({a})"),
        UnaryOp::Sqrt => format!("sqrt({a})"),
        UnaryOp::Cbrt => format!("(sign({a}) * pow(abs({a}), 1.0 / 3.0))"),
        UnaryOp::Abs => format!("abs({a})"),
        UnaryOp::Sin => format!("sin({a})"),
        UnaryOp::Cos => format!("cos({a})"),
        UnaryOp::Tan => format!("tan({a})"),
        UnaryOp::Asin => format!("asin({a})"),
        UnaryOp::Acos => format!("acos({a})"),
        UnaryOp::Atan => format!("atan({a})"),
        UnaryOp::Sinh => format!("sinh({a})"),
        UnaryOp::Cosh => format!("cosh({a})"),
        UnaryOp::Tanh => format!("tanh({a})"),
        UnaryOp::Asinh => format!("asinh({a})"),
        UnaryOp::Acosh => format!("acosh({a})"),
        UnaryOp::Atanh => format!("atanh({a})"),
        UnaryOp::Erf => format!("jf_erf({a})"),
        UnaryOp::Erfc => format!("(1.0 - jf_erf({a}))"),
        UnaryOp::Sign => format!("sign({a})"),
    }
}

fn binary(op: BinaryOp, a: &str, b: &str) -> String {
    match op {
        BinaryOp::Add => format!("({a} + {b})"),
        BinaryOp::Sub => format!("({a} - {b})"),
        BinaryOp::Mul => format!("({a} * {b})"),
        BinaryOp::Div => format!("({a} / {b})"),
        BinaryOp::Pow => format!("jf_pow({a}, {b})"),
        BinaryOp::Atan2 => format!("atan2({a}, {b})"),
        BinaryOp::Min => format!("min({a}, {b})"),
        BinaryOp::Max => format!("max({a}, {b})"),
        BinaryOp::Less => format!("select(0.0, 1.0, {a} < {b})"),
        BinaryOp::XLogY => format!("select({a} * log({b}), 0.0, {a} == 0.0)"),
    }
}

/// Helpers every shader may call.
const PRELUDE: &str = "
// erf, Abramowitz & Stegun 7.1.26 (|error| < 1.5e-7: f32 precision).
fn jf_erf(x: f32) -> f32 {
    let t = 1.0 / (1.0 + 0.3275911 * abs(x));
    let y = 1.0 - (((((1.061405429 * t - 1.453152027) * t) + 1.421413741) * t - 0.284496736) * t + 0.254829592) * t * exp(-x * x);
    return sign(x) * y;
}

// pow with the real-valued meaning for negative bases and integer exponents (WGSL's pow is
// only defined for x >= 0).
fn jf_pow(x: f32, y: f32) -> f32 {
    if (x >= 0.0) {
        return pow(x, y);
    }
    if (round(y) == y) {
        let m = pow(-x, y);
        if (abs(y) % 2.0 == 1.0) {
            return -m;
        }
        return m;
    }
    return pow(x, y); // NaN, as for f64
}
";

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

/// Writes the WGSL compute shader for one kernel; its entry point is `main`.
///
/// Points are numbered by the linear workgroup index (`wid.x + wid.y·num_workgroups.x`), so a
/// dispatch may spread its workgroups over two dimensions when there are more than a device
/// allows in one; workgroups past the data write zeros (reductions) or nothing.
pub fn write_shader(kernel: &Kernel, which: WgslKernel) -> String {
    let (n_vars, p) = (kernel.n_vars(), kernel.n_params());
    let mut s = String::new();
    let _ = writeln!(s, "// jitfit {:?} kernel: {} variables, {} parameters.", which, n_vars, p);
    s += "struct Info { n: u32 }\n";
    s += "@group(0) @binding(0) var<storage, read> vars: array<f32>;\n";
    s += "@group(0) @binding(1) var<storage, read> y: array<f32>;\n";
    s += "@group(0) @binding(2) var<storage, read> w: array<f32>;\n";
    s += "@group(0) @binding(3) var<storage, read> params: array<f32>;\n";
    s += "@group(0) @binding(4) var<storage, read_write> result: array<f32>;\n";
    s += "@group(0) @binding(5) var<uniform> info: Info;\n";
    s += PRELUDE;
    let slots = which.outputs(p);
    let per_pass = slots.min(SLOTS_PER_PASS);
    if which.is_reduction() {
        let _ = writeln!(s, "var<workgroup> partial_sums: array<f32, {}>;", WORKGROUP_SIZE as usize * per_pass);
    }

    // The point's values: one `let` per live instruction.
    let needs_derivatives = matches!(which, WgslKernel::ResidualJacobian | WgslKernel::NormalEquations);
    let live = kernel.live(needs_derivatives, which != WgslKernel::Predict);
    let mut body = String::new();
    for (i, inst) in kernel.insts.iter().enumerate() {
        if !live[i] {
            continue;
        }
        let v = |id: &crate::ir::ValueId| format!("v{}", id.0);
        let rhs = match inst {
            Inst::Const(c) => float(*c),
            Inst::Var(k) => format!("vars[{}u * info.n + i]", k.0),
            Inst::Param(k) => format!("params[{}u]", k.0),
            Inst::Response => "y[i]".to_owned(),
            Inst::Unary(op, a) => unary(*op, &v(a)),
            Inst::Binary(op, a, b) => binary(*op, &v(a), &v(b)),
        };
        let _ = writeln!(body, "        let v{i}: f32 = {rhs};");
    }
    let f = format!("v{}", kernel.outputs.value.0);
    let target = kernel.outputs.response.map_or("y[i]".to_owned(), |t| format!("v{}", t.0));

    let _ = writeln!(s, "\n@compute @workgroup_size({WORKGROUP_SIZE})");
    s += "fn main(@builtin(local_invocation_id) lid: vec3<u32>, @builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) groups: vec3<u32>) {\n";
    s += "    let group = wid.x + wid.y * groups.x;\n";
    s += "    let zero = 0.0;\n    let one = 1.0;\n";
    if !which.is_reduction() {
        let _ = writeln!(s, "    let i = group * {WORKGROUP_SIZE}u + lid.x;");
        s += "    if (i >= info.n) {\n        return;\n    }\n    {\n";
        s += &body;
        if which == WgslKernel::Predict {
            let _ = writeln!(s, "        result[i] = {f};");
        } else {
            let _ = writeln!(s, "        let r = w[i] * ({f} - {target});");
            let _ = writeln!(s, "        result[i * {}u] = r;", p + 1);
            for (k, d) in kernel.outputs.derivatives.iter().enumerate() {
                let _ = writeln!(s, "        result[i * {}u + {}u] = w[i] * v{};", p + 1, k + 1, d.0);
            }
        }
        s += "    }\n}\n";
        return s;
    }
    // Each thread adds POINTS_PER_THREAD points (consecutive threads, consecutive points).
    let _ = writeln!(s, "    var acc: array<f32, {slots}>;");
    let _ = writeln!(s, "    for (var s: u32 = 0u; s < {slots}u; s = s + 1u) {{\n        acc[s] = 0.0;\n    }}");
    let _ = writeln!(s, "    for (var t: u32 = 0u; t < {POINTS_PER_THREAD}u; t = t + 1u) {{");
    let _ = writeln!(
        s,
        "    let i = (group * {POINTS_PER_THREAD}u + t) * {WORKGROUP_SIZE}u + lid.x;\n    if (i < info.n) {{"
    );
    s += &body;
    let _ = writeln!(s, "        let r = w[i] * ({f} - {target});");
    if which == WgslKernel::NormalEquations {
        for (k, d) in kernel.outputs.derivatives.iter().enumerate() {
            let _ = writeln!(s, "        let j{k} = w[i] * v{};", d.0);
        }
        let mut slot = 0;
        for a in 0..p {
            for c in a..p {
                let _ = writeln!(s, "        acc[{slot}u] = acc[{slot}u] + j{a} * j{c};");
                slot += 1;
            }
            let _ = writeln!(s, "        acc[{slot}u] = acc[{slot}u] + j{a} * r;");
            slot += 1;
        }
    }
    let _ = writeln!(s, "        acc[{0}u] = acc[{0}u] + r * r;", slots - 1);
    s += "    }\n    }\n";
    // Add the threads' sums across the workgroup, a pass of up to SLOTS_PER_PASS slots at a
    // time, in a fixed tree order.
    let _ = writeln!(s, "    for (var first: u32 = 0u; first < {slots}u; first = first + {per_pass}u) {{");
    let _ = writeln!(s, "        for (var s: u32 = 0u; s < {per_pass}u; s = s + 1u) {{");
    let _ = writeln!(
        s,
        "            var v = 0.0;\n            if (first + s < {slots}u) {{\n                v = acc[first + s];\n            }}"
    );
    let _ =
        writeln!(s, "            partial_sums[lid.x * {per_pass}u + s] = v;\n        }}\n        workgroupBarrier();");
    let _ =
        writeln!(s, "        for (var stride: u32 = {}u; stride > 0u; stride = stride / 2u) {{", WORKGROUP_SIZE / 2);
    s += "            if (lid.x < stride) {\n";
    let _ = writeln!(s, "                for (var s: u32 = 0u; s < {per_pass}u; s = s + 1u) {{");
    let _ = writeln!(
        s,
        "                    partial_sums[lid.x * {per_pass}u + s] = partial_sums[lid.x * {per_pass}u + s] + partial_sums[(lid.x + stride) * {per_pass}u + s];"
    );
    s += "                }\n            }\n            workgroupBarrier();\n        }\n";
    let _ = writeln!(
        s,
        "        if (lid.x < {per_pass}u && first + lid.x < {slots}u) {{\n            result[group * {slots}u + first + lid.x] = partial_sums[lid.x];\n        }}"
    );
    s += "        workgroupBarrier();\n    }\n}\n";
    s
}
