//! Writes the shaders: the per-point body from the IR (through the op table in `conv.rs`), the
//! four data kernels with their reductions, and the batch fit loop.

use super::conv::{binary, literal, unary};
use super::{POINTS_PER_THREAD, Precision, REDUCTION_BYTES, WORKGROUP_SIZE, WgslKernel, batch_outputs, prelude};
use crate::ir::{Inst, VerifiedKernel};
use std::fmt::Write;

/// Writes the WGSL compute shader for one kernel; its entry point is `main`.
///
/// Points are numbered by the linear workgroup index (`wid.x + wid.y·num_workgroups.x`), so a
/// dispatch may spread its workgroups over two dimensions when there are more than a device
/// allows in one; workgroups past the data write zeros (reductions) or nothing.
pub fn write_shader(kernel: &VerifiedKernel, which: WgslKernel) -> String {
    write_shader_in(kernel, which, Precision::F32)
}

/// [`write_shader`] in a given precision (every operation has both forms).
pub fn write_shader_in(kernel: &VerifiedKernel, which: WgslKernel, precision: Precision) -> String {
    let (n_vars, p) = (kernel.n_vars(), kernel.n_params());
    let t = precision.type_name();
    let mut s = String::new();
    let _ = writeln!(s, "// jitfit {:?} kernel ({t}): {} variables, {} parameters.", which, n_vars, p);
    s += "struct Info { n: u32, weighted: u32 }\n";
    let _ = writeln!(s, "@group(0) @binding(0) var<storage, read> vars: array<{t}>;");
    let _ = writeln!(s, "@group(0) @binding(1) var<storage, read> y: array<{t}>;");
    let _ = writeln!(s, "@group(0) @binding(2) var<storage, read> w: array<{t}>;");
    let _ = writeln!(s, "@group(0) @binding(3) var<storage, read> params: array<{t}>;");
    let _ = writeln!(s, "@group(0) @binding(4) var<storage, read_write> result: array<{t}>;");
    s += "@group(0) @binding(5) var<uniform> info: Info;\n";
    s += &prelude(precision);
    let slots = which.outputs(p);
    let per_pass = slots.min(REDUCTION_BYTES / (WORKGROUP_SIZE as usize * precision.size()));
    if which.is_reduction() {
        let _ = writeln!(s, "var<workgroup> partial_sums: array<{t}, {}>;", WORKGROUP_SIZE as usize * per_pass);
    }

    // The point's values: one `let` per live instruction.
    let needs_derivatives = matches!(which, WgslKernel::ResidualJacobian | WgslKernel::NormalEquations);
    let live = kernel.live(needs_derivatives, which != WgslKernel::Predict);
    let var = |k: usize| format!("vars[{k}u * info.n + i]");
    let body = point_body(kernel, &live, var, |k| format!("params[{k}u]"), "        ", precision);
    let f = format!("v{}", kernel.outputs.value.0);
    let target = kernel.outputs.response.map_or("y[i]".to_owned(), |t| format!("v{}", t.0));

    let _ = writeln!(s, "\n@compute @workgroup_size({WORKGROUP_SIZE})");
    s += "fn main(@builtin(local_invocation_id) lid: vec3<u32>, @builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) groups: vec3<u32>) {\n";
    s += "    let group = wid.x + wid.y * groups.x;\n";
    let _ = writeln!(s, "    let zero = {t}(0.0);\n    let one = {t}(1.0);");
    if !which.is_reduction() {
        let _ = writeln!(s, "    let i = group * {WORKGROUP_SIZE}u + lid.x;");
        s += "    if (i >= info.n) {\n        return;\n    }\n    {\n";
        s += &body;
        if which == WgslKernel::Predict {
            let _ = writeln!(s, "        result[i] = {f};");
        } else {
            let _ = writeln!(s, "        let r = w[i * info.weighted] * ({f} - {target});");
            let _ = writeln!(s, "        result[i * {}u] = r;", p + 1);
            for (k, d) in kernel.outputs.derivatives.iter().enumerate() {
                let _ = writeln!(s, "        result[i * {}u + {}u] = w[i * info.weighted] * v{};", p + 1, k + 1, d.0);
            }
        }
        s += "    }\n}\n";
        return s;
    }
    // Each thread adds POINTS_PER_THREAD points (consecutive threads, consecutive points).
    let _ = writeln!(s, "    var acc: array<{t}, {slots}>;");
    let _ = writeln!(s, "    for (var s: u32 = 0u; s < {slots}u; s = s + 1u) {{\n        acc[s] = 0.0;\n    }}");
    let _ = writeln!(s, "    for (var t: u32 = 0u; t < {POINTS_PER_THREAD}u; t = t + 1u) {{");
    let _ = writeln!(
        s,
        "    let i = (group * {POINTS_PER_THREAD}u + t) * {WORKGROUP_SIZE}u + lid.x;\n    if (i < info.n) {{"
    );
    s += &body;
    let _ = writeln!(s, "        let r = w[i * info.weighted] * ({f} - {target});");
    if which == WgslKernel::NormalEquations {
        for (k, d) in kernel.outputs.derivatives.iter().enumerate() {
            let _ = writeln!(s, "        let j{k} = w[i * info.weighted] * v{};", d.0);
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
    // Add the threads' sums across the workgroup, a pass of up to `per_pass` slots at a
    // time, in a fixed tree order.
    let _ = writeln!(s, "    for (var first: u32 = 0u; first < {slots}u; first = first + {per_pass}u) {{");
    let _ = writeln!(s, "        for (var s: u32 = 0u; s < {per_pass}u; s = s + 1u) {{");
    let _ = writeln!(
        s,
        "            var v: {t} = 0.0;\n            if (first + s < {slots}u) {{\n                v = acc[first + s];\n            }}"
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

/// One `let` per live instruction of the kernel: the point's values. `var(k)` and `param(k)`
/// say how to read variable k and parameter k; the response is `y[i]`.
fn point_body(
    kernel: &VerifiedKernel,
    live: &[bool],
    var: impl Fn(usize) -> String,
    param: impl Fn(usize) -> String,
    indent: &str,
    precision: Precision,
) -> String {
    let mut body = String::new();
    let t = precision.type_name();
    for (i, inst) in kernel.insts.iter().enumerate() {
        if !live[i] {
            continue;
        }
        let v = |id: &crate::ir::ValueId| format!("v{}", id.0);
        let rhs = match (inst, precision) {
            (Inst::Const(c), _) => literal(*c, precision),
            (Inst::Var(k), _) => var(k.index()),
            (Inst::Param(k), _) => param(k.index()),
            (Inst::Response, _) => "y[i]".to_owned(),
            (Inst::Unary(op, a), _) => unary(*op, &v(a)),
            (Inst::Binary(op, a, b), _) => binary(*op, &v(a), &v(b)),
        };
        let _ = writeln!(body, "{indent}let v{i}: {t} = {rhs};");
    }
    body
}

/// The fit loop itself on the device, one thread per fit (Gpufit's layout): the compact
/// Levenberg–Marquardt of [`crate::batch`] in f32 — normal equations over the fit's points,
/// Marquardt damping, Cholesky, projection on the bounds, covariance at the end.
///
/// Bindings: `vars` (each variable's values, at `fit_meta[2k]`; shared by every fit when
/// `fit_meta[2k+1]` is 1, else aligned with `y`), `y`, `w` (weights, when `info.weighted`),
/// `fit_meta` (then the fits' offsets into `y` from `fit_meta[2·n_vars]`), `params` (fits × n:
/// the start in, the result out), `fit_out` (fits × [`batch_outputs`]), `bounds` (n lower, n upper),
/// uniform `info`.
pub fn write_batch_shader(kernel: &VerifiedKernel) -> String {
    let (n_vars, n) = (kernel.n_vars(), kernel.n_params());
    let np = n.max(1);
    let live = kernel.live(true, true);
    let var = |k: usize| format!("vars[fit_meta[{}u] + select(i, j, fit_meta[{}u] == 1u)]", 2 * k, 2 * k + 1);
    let body = point_body(kernel, &live, var, |k| format!("x[{k}]"), "        ", Precision::F32);
    let f = format!("v{}", kernel.outputs.value.0);
    let target = kernel.outputs.response.map_or("y[i]".to_owned(), |t| format!("v{}", t.0));
    let weight = "select(1.0, w[i], info.weighted == 1u)";
    let mut s = String::new();
    let _ = writeln!(s, "// jitfit batch fit kernel: {n_vars} variables, {n} parameters.");
    s += "struct Info { fits: u32, max_iterations: u32, tolerance: f32, absolute_sigma: u32, weighted: u32, bounded: u32 }\n";
    s += "@group(0) @binding(0) var<storage, read> vars: array<f32>;\n";
    s += "@group(0) @binding(1) var<storage, read> y: array<f32>;\n";
    s += "@group(0) @binding(2) var<storage, read> w: array<f32>;\n";
    s += "@group(0) @binding(3) var<storage, read> fit_meta: array<u32>;\n";
    s += "@group(0) @binding(4) var<storage, read_write> params: array<f32>;\n";
    s += "@group(0) @binding(5) var<storage, read_write> fit_out: array<f32>;\n";
    s += "@group(0) @binding(6) var<storage, read> bounds: array<f32>;\n";
    s += "@group(0) @binding(7) var<uniform> info: Info;\n";
    s += &prelude(Precision::F32);
    let _ = writeln!(s, "struct Normal {{ a: array<f32, {}>, g: array<f32, {np}>, chi2: f32 }}", np * np);
    // Not finite: NaN fails every comparison.
    s += "fn bad(v: f32) -> bool {\n    return !(abs(v) <= 3.0e38);\n}\n";

    // Σ r² over one fit's points.
    let _ = writeln!(s, "fn chi2_at(start: u32, count: u32, x: array<f32, {np}>) -> f32 {{");
    s += "    let zero = 0.0;\n    let one = 1.0;\n    var chi2 = 0.0;\n";
    s += "    for (var j: u32 = 0u; j < count; j = j + 1u) {\n        let i = start + j;\n";
    s += &body;
    let _ = writeln!(
        s,
        "        let r = {weight} * ({f} - {target});\n        chi2 = chi2 + r * r;\n    }}\n    return chi2;\n}}"
    );

    // JᵀJ (full), Jᵀr, Σr² over one fit's points.
    let _ = writeln!(s, "fn normal_at(start: u32, count: u32, x: array<f32, {np}>) -> Normal {{");
    s += "    let zero = 0.0;\n    let one = 1.0;\n    var ne: Normal;\n";
    s += "    for (var j: u32 = 0u; j < count; j = j + 1u) {\n        let i = start + j;\n";
    s += &body;
    let _ = writeln!(s, "        let wt = {weight};\n        let r = wt * ({f} - {target});");
    let _ = writeln!(s, "        var d: array<f32, {np}>;");
    for (k, dv) in kernel.outputs.derivatives.iter().enumerate() {
        let _ = writeln!(s, "        d[{k}] = wt * v{};", dv.0);
    }
    let _ = writeln!(
        s,
        "        for (var a: u32 = 0u; a < {n}u; a = a + 1u) {{\n            for (var b: u32 = 0u; b <= a; b = b + 1u) {{\n                ne.a[a * {n}u + b] = ne.a[a * {n}u + b] + d[a] * d[b];\n            }}\n            ne.g[a] = ne.g[a] + d[a] * r;\n        }}"
    );
    s += "        ne.chi2 = ne.chi2 + r * r;\n    }\n    return ne;\n}\n";

    // Cholesky of the lower triangle of JᵀJ with the diagonal scaled by 1 + λ.
    let _ = writeln!(s, "struct Factor {{ l: array<f32, {}>, ok: bool }}", np * np);
    let _ = writeln!(s, "fn factor(a: array<f32, {}>, lambda: f32) -> Factor {{", np * np);
    let _ = writeln!(s, "    var f: Factor;\n    f.l = a;\n    f.ok = true;");
    let _ = writeln!(
        s,
        "    for (var k: u32 = 0u; k < {n}u; k = k + 1u) {{\n        f.l[k * {n}u + k] = a[k * {n}u + k] * (1.0 + lambda);\n    }}"
    );
    let _ = writeln!(
        s,
        "    for (var j: u32 = 0u; j < {n}u; j = j + 1u) {{
        var d = f.l[j * {n}u + j];
        for (var k: u32 = 0u; k < j; k = k + 1u) {{
            d = d - f.l[j * {n}u + k] * f.l[j * {n}u + k];
        }}
        if (!(d > 0.0) || bad(d)) {{
            f.ok = false;
            return f;
        }}
        d = sqrt(d);
        f.l[j * {n}u + j] = d;
        for (var i: u32 = j + 1u; i < {n}u; i = i + 1u) {{
            var t = f.l[i * {n}u + j];
            for (var k: u32 = 0u; k < j; k = k + 1u) {{
                t = t - f.l[i * {n}u + k] * f.l[j * {n}u + k];
            }}
            f.l[i * {n}u + j] = t / d;
        }}
    }}
    return f;
}}"
    );
    let _ = writeln!(
        s,
        "fn solve(l: array<f32, {nn}>, rhs: array<f32, {np}>) -> array<f32, {np}> {{
    var b = rhs;
    for (var i: u32 = 0u; i < {n}u; i = i + 1u) {{
        var t = b[i];
        for (var k: u32 = 0u; k < i; k = k + 1u) {{
            t = t - l[i * {n}u + k] * b[k];
        }}
        b[i] = t / l[i * {n}u + i];
    }}
    for (var ii: u32 = {n}u; ii > 0u; ii = ii - 1u) {{
        let i = ii - 1u;
        var t = b[i];
        for (var k: u32 = i + 1u; k < {n}u; k = k + 1u) {{
            t = t - l[k * {n}u + i] * b[k];
        }}
        b[i] = t / l[i * {n}u + i];
    }}
    return b;
}}",
        nn = np * np
    );
    let _ = writeln!(
        s,
        "fn project(x: array<f32, {np}>) -> array<f32, {np}> {{
    var p = x;
    if (info.bounded == 1u) {{
        for (var k: u32 = 0u; k < {n}u; k = k + 1u) {{
            p[k] = clamp(p[k], bounds[k], bounds[{n}u + k]);
        }}
    }}
    return p;
}}"
    );

    // The fit loop: one thread per fit.
    let outputs = batch_outputs(n);
    let _ = writeln!(s, "\n@compute @workgroup_size({WORKGROUP_SIZE})");
    s += "fn main(@builtin(local_invocation_id) lid: vec3<u32>, @builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) groups: vec3<u32>) {\n";
    let _ = writeln!(s, "    let fit = (wid.x + wid.y * groups.x) * {WORKGROUP_SIZE}u + lid.x;");
    s += "    let zero = 0.0;\n";
    s += "    if (fit >= info.fits) {\n        return;\n    }\n";
    let _ = writeln!(
        s,
        "    let start = fit_meta[{}u + fit];\n    let count = fit_meta[{}u + fit + 1u] - start;",
        2 * n_vars,
        2 * n_vars
    );
    let _ = writeln!(s, "    let o = fit * {outputs}u;");
    let _ = writeln!(s, "    var x: array<f32, {np}>;");
    let _ = writeln!(
        s,
        "    for (var k: u32 = 0u; k < {n}u; k = k + 1u) {{\n        x[k] = params[fit * {n}u + k];\n        fit_out[o + k] = zero / zero;\n    }}"
    );
    let _ = writeln!(
        s,
        "    fit_out[o + {n}u] = zero / zero;\n    fit_out[o + {n1}u] = 0.0;\n    if (count < {n}u) {{\n        fit_out[o + {n2}u] = 4.0;\n        return;\n    }}",
        n1 = n + 1,
        n2 = n + 2
    );
    s += "    x = project(x);\n    var ne = normal_at(start, count, x);\n";
    let _ = writeln!(
        s,
        "    var finite = !bad(ne.chi2);\n    for (var k: u32 = 0u; k < {n}u; k = k + 1u) {{\n        finite = finite && !bad(ne.g[k]);\n    }}"
    );
    let _ = writeln!(s, "    if (!finite) {{\n        fit_out[o + {}u] = 3.0;\n        return;\n    }}", n + 2);
    s += "    var chi2 = ne.chi2;\n    var lambda = 0.001;\n    var status = 1.0;\n    var iterations = 0u;\n";
    s += "    loop {\n        if (iterations >= info.max_iterations) {\n            break;\n        }\n        iterations = iterations + 1u;\n";
    // A parameter at a bound that the step would push past leaves the system (compact.rs's
    // hold_at_bounds).
    let _ = writeln!(
        s,
        "        var a = ne.a;
        var g = ne.g;
        if (info.bounded == 1u) {{
            for (var k: u32 = 0u; k < {n}u; k = k + 1u) {{
                if ((x[k] <= bounds[k] && g[k] > 0.0) || (x[k] >= bounds[{n}u + k] && g[k] < 0.0)) {{
                    for (var j: u32 = 0u; j < {n}u; j = j + 1u) {{
                        a[k * {n}u + j] = 0.0;
                        a[j * {n}u + k] = 0.0;
                    }}
                    a[k * {n}u + k] = 1.0;
                    g[k] = 0.0;
                }}
            }}
        }}"
    );
    s += "        let f = factor(a, lambda);\n        if (!f.ok) {\n            lambda = lambda * 10.0;\n            if (lambda > 1.0e16) {\n                status = 0.0;\n                break;\n            }\n            continue;\n        }\n";
    s += "        let step = solve(f.l, g);\n";
    let _ = writeln!(
        s,
        "        var trial: array<f32, {np}>;\n        for (var k: u32 = 0u; k < {n}u; k = k + 1u) {{\n            trial[k] = x[k] - step[k];\n        }}"
    );
    s += "        trial = project(trial);\n        let trial_chi2 = chi2_at(start, count, trial);\n";
    s += "        if (!bad(trial_chi2) && trial_chi2 <= chi2) {\n            let reduction = chi2 - trial_chi2;\n            x = trial;\n            ne = normal_at(start, count, x);\n            chi2 = ne.chi2;\n            lambda = max(lambda * 0.1, 1.0e-7);\n";
    // The new point's sums must be finite too: a NaN derivative with a finite χ² would
    // otherwise reject every later step and end as "converged".
    let _ = write!(
        s,
        "            var finite_now = !bad(chi2);\n            for (var k: u32 = 0u; k < {n}u; k = k + 1u) {{\n                finite_now = finite_now && !bad(ne.g[k]) && !bad(ne.a[k * {n}u + k]);\n            }}\n            if (!finite_now) {{\n                status = 3.0;\n                break;\n            }}\n            if (reduction <= info.tolerance * chi2) {{\n                status = 0.0;\n                break;\n            }}\n"
    );
    // A rejected step that changes χ² by less than the tolerance, taken with little damping,
    // is f32 noise at the minimum (Gpufit's criterion, guarded against the tiny steps of a
    // heavily damped iteration far from it).
    s += "        } else {\n            if (!bad(trial_chi2) && trial_chi2 - chi2 <= info.tolerance * chi2 && lambda <= 1.0) {\n                status = 0.0;\n                break;\n            }\n            lambda = lambda * 10.0;\n            if (lambda > 1.0e16) {\n                status = 0.0;\n                break;\n            }\n        }\n    }\n";
    // Covariance (JᵀJ)⁻¹ · χ²/dof (or absolute).
    let _ = writeln!(s, "    let cov = factor(ne.a, 0.0);\n    var scale = chi2 / f32(count - {n}u);");
    let _ = writeln!(s, "    if (count == {n}u) {{\n        scale = zero / zero;\n    }}");
    s += "    if (info.absolute_sigma == 1u) {\n        scale = 1.0;\n    }\n";
    let _ = writeln!(
        s,
        "    for (var k: u32 = 0u; k < {n}u; k = k + 1u) {{
        params[fit * {n}u + k] = x[k];
        if (cov.ok) {{
            var e: array<f32, {np}>;
            e[k] = 1.0;
            let c = solve(cov.l, e);
            fit_out[o + k] = sqrt(c[k] * scale);
        }} else {{
            fit_out[o + k] = 1.0 / zero;
        }}
    }}
    if (!cov.ok && status == 0.0) {{
        status = 2.0;
    }}
    fit_out[o + {n}u] = chi2;
    fit_out[o + {n1}u] = f32(iterations);
    fit_out[o + {n2}u] = status;
}}",
        n1 = n + 1,
        n2 = n + 2
    );
    s
}
