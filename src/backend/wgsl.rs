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

use crate::ir::{Inst, VerifiedKernel};
use crate::ops::{BinaryOp, UnaryOp};
use std::fmt::Write;

/// Threads per workgroup.
pub const WORKGROUP_SIZE: u32 = 64;

/// Points each thread of a reduction accumulates before the workgroup adds its threads' sums:
/// the workgroup-wide reduction (barriers) and the partial sums read back are paid once per
/// 1024 points rather than per 64.
pub const POINTS_PER_THREAD: u32 = 16;

/// Bytes of workgroup memory one pass of the reduction may use (64 threads × 48 f32 or 24 f64
/// = 12 KiB, within WebGPU's guaranteed 16 KiB); more slots take several passes.
const REDUCTION_BYTES: usize = 12 * 1024;

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

/// A constant in the shader's precision. WGSL has no NaN or infinity literals: 0/0 and ±1/0 at
/// run time give them (and an f64 constant beyond f32's range is ±∞ in an f32 shader, as it
/// would be on the device).
fn literal(v: f64, precision: Precision) -> String {
    let (v, text) = match precision {
        Precision::F32 => (f64::from(v as f32), format!("{:?}", v as f32)),
        Precision::F64 => (v, format!("{v:?}")),
    };
    if v.is_nan() {
        return "(zero / zero)".to_owned();
    }
    if v.is_infinite() {
        return if v > 0.0 { "(one / zero)".to_owned() } else { "(-one / zero)".to_owned() };
    }
    let text = if text.contains('.') || text.contains('e') { text } else { text + ".0" };
    match precision {
        Precision::F32 => format!("f32({text})"),
        Precision::F64 => format!("{text}lf"),
    }
}

/// The f64 form of an operation.
fn unary_f64(op: UnaryOp, a: &str) -> String {
    match op {
        UnaryOp::Neg => format!("-({a})"),
        UnaryOp::Exp => format!("jf_exp({a})"),
        UnaryOp::Ln => format!("jf_log({a})"),
        UnaryOp::Log10 => format!("(jf_log({a}) * 0.4342944819032518lf)"),
        UnaryOp::Log2 => format!("(jf_log({a}) * 1.4426950408889634lf)"),
        UnaryOp::Sqrt => format!("sqrt({a})"),
        UnaryOp::Cbrt => format!("(sign({a}) * jf_exp(jf_log(abs({a})) / 3.0lf))"),
        UnaryOp::Abs => format!("abs({a})"),
        UnaryOp::Sign => format!("jf_sign({a})"),
        UnaryOp::Sin => format!("jf_sin({a})"),
        UnaryOp::Cos => format!("jf_cos({a})"),
        UnaryOp::Tan => format!("jf_tan({a})"),
        UnaryOp::Asin => format!("jf_asin({a})"),
        UnaryOp::Acos => format!("jf_acos({a})"),
        UnaryOp::Atan => format!("jf_atan({a})"),
        UnaryOp::Sinh => format!("jf_sinh({a})"),
        UnaryOp::Cosh => format!("jf_cosh({a})"),
        UnaryOp::Tanh => format!("jf_tanh({a})"),
        UnaryOp::Asinh => format!("jf_asinh({a})"),
        UnaryOp::Acosh => format!("jf_acosh({a})"),
        UnaryOp::Atanh => format!("jf_atanh({a})"),
        UnaryOp::Erf => format!("jf_erf({a})"),
        UnaryOp::Erfc => format!("jf_erfc({a})"),
    }
}

fn binary_f64(op: BinaryOp, a: &str, b: &str) -> String {
    match op {
        BinaryOp::Pow => format!("jf_pow({a}, {b})"),
        BinaryOp::XLogY => format!("select({a} * jf_log({b}), 0.0lf, {a} == 0.0lf)"),
        BinaryOp::Less => format!("select(0.0lf, 1.0lf, {a} < {b})"),
        BinaryOp::Atan2 => format!("jf_atan2({a}, {b})"),
        _ => binary(op, a, b),
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
        UnaryOp::Sign => format!("jf_sign({a})"),
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
        BinaryOp::Min => format!("jf_min({a}, {b})"),
        BinaryOp::Max => format!("jf_max({a}, {b})"),
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
// only defined for x >= 0); small integer exponents by repeated squaring, exact where the
// result is representable (WGSL's exp2(y·log2 x) makes 3^2 = 8.99999…).
fn jf_pow(x: f32, y: f32) -> f32 {
    if (y == 0.0 || x == 1.0) {
        return 1.0;
    }
    // IEEE pow's special cases for an infinite base, and −1 raised to ±∞.
    let odd = round(y) == y && abs(y) % 2.0 == 1.0;
    if (abs(x) > 3.4028234e38) {
        var m = f32(0.0);
        if (y > 0.0) {
            m = x * x;
        }
        if (x < 0.0 && odd) {
            return -m;
        }
        return m;
    }
    if (x == -1.0 && abs(y) > 3.4028234e38) {
        return 1.0;
    }
    if (round(y) == y && abs(y) <= 64.0) {
        return jf_powi(x, y);
    }
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

/// The f64 helpers: exp and log in software (WGSL's are f32-only), pow on top of them.
const PRELUDE_F64: &str = "
fn jf_inf() -> f64 {
    var z = 0.0lf;
    return 1.0lf / z;
}

fn jf_nan() -> f64 {
    var z = 0.0lf;
    return z / z;
}

// (e^r − 1 − r)/r² = Σ r^(k−2)/k! for k = 2…13 (|r| ≤ ln2/2: truncation < 1e-17 relative):
// the part of e^r that exp and expm1 share.
fn jf_exp_tail(r: f64) -> f64 {
    var p = 1.6059043836821613e-10lf;
    p = p * r + 2.08767569878681e-09lf;
    p = p * r + 2.505210838544172e-08lf;
    p = p * r + 2.755731922398589e-07lf;
    p = p * r + 2.7557319223985893e-06lf;
    p = p * r + 2.48015873015873e-05lf;
    p = p * r + 0.0001984126984126984lf;
    p = p * r + 0.001388888888888889lf;
    p = p * r + 0.008333333333333333lf;
    p = p * r + 0.041666666666666664lf;
    p = p * r + 0.16666666666666666lf;
    return p * r + 0.5lf;
}

// exp: x = k·ln2 + r (Cody–Waite, |r| ≤ ln2/2), e^r = 1 + r + r²·tail(r), times 2^k.
fn jf_exp(x: f64) -> f64 {
    if (!(x == x)) {
        return x;
    }
    if (x > 709.782712893384lf) {
        return jf_inf();
    }
    if (x < -745.1332191019412lf) {
        return 0.0lf;
    }
    let k = round(x * 1.4426950408889634lf);
    let r = (x - k * 6.93147180369123816490e-01lf) - k * 1.90821492927058770002e-10lf;
    let p = 1.0lf + (r + r * r * jf_exp_tail(r));
    // Two steps keep 2^k representable at both ends of the range.
    let k1 = i32(k) / 2;
    return ldexp(ldexp(p, k1), i32(k) - k1);
}

// log(1 + f) for f in [√½ − 1, √2 − 1]: 2·atanh(s), s = f/(2+f), by its series to s^21
// (|s| ≤ 0.172: truncation < 1e-17), in fdlibm's form f − s·(f − …).
fn jf_log1p_core(f: f64) -> f64 {
    let s = f / (2.0lf + f);
    let z = s * s;
    var p = 0.047619047619047616lf;
    p = p * z + 0.05263157894736842lf;
    p = p * z + 0.058823529411764705lf;
    p = p * z + 0.06666666666666667lf;
    p = p * z + 0.07692307692307693lf;
    p = p * z + 0.09090909090909091lf;
    p = p * z + 0.1111111111111111lf;
    p = p * z + 0.14285714285714285lf;
    p = p * z + 0.2lf;
    p = p * z + 0.3333333333333333lf;
    let l = f - s * (f - 2.0lf * z * p);
    return l;
}

// log: x = m·2^e with m in [√½, √2], log(m) = 2·atanh(s), s = (m−1)/(m+1), by its series
// to s^21 (|s| ≤ 0.172: truncation < 1e-17); e·ln2 in two parts.
fn jf_log(x: f64) -> f64 {
    if (!(x == x) || x < 0.0lf) {
        return jf_nan();
    }
    if (x == 0.0lf) {
        return -jf_inf();
    }
    if (x > 1.7976931348623157e308lf) {
        return x;
    }
    // m·2^e = x with m in [1, 2), by exact scalings (frexp's f64 form needs 64-bit integers).
    var m = x;
    var e = 0.0lf;
    if (m < 2.2250738585072014e-308lf) {
        m = m * 18446744073709551616.0lf;
        e = -64.0lf;
    }
    // 2^512, 2^256, …, 2: exact constants (Vulkan's f64 sqrt need not be exact).
    let scales = array<f64, 10>(1.3407807929942597e+154lf, 1.157920892373162e+77lf, 3.402823669209385e+38lf, 1.8446744073709552e+19lf, 4294967296.0lf, 65536.0lf, 256.0lf, 16.0lf, 4.0lf, 2.0lf);
    var b = 512.0lf;
    for (var step = 0; step < 10; step = step + 1) {
        let scale = scales[step];
        if (m >= scale) {
            m = m / scale;
            e = e + b;
        }
        if (m * scale < 2.0lf) {
            m = m * scale;
            e = e - b;
        }
        b = b * 0.5lf;
    }
    if (m > 1.4142135623730951lf) {
        m = m * 0.5lf;
        e = e + 1.0lf;
    }
    let l = jf_log1p_core(m - 1.0lf);
    return e * 6.93147180369123816490e-01lf + (e * 1.90821492927058770002e-10lf + l);
}

// pow with the real-valued meaning for negative bases and integer exponents; exp(y·log|x|):
// the error grows with |y·log x| (about that many ulps).
fn jf_pow(x: f64, y: f64) -> f64 {
    if (y == 0.0lf || x == 1.0lf) {
        return 1.0lf;
    }
    // IEEE pow's special cases that the formula below gets wrong: an infinite base, and −1
    // raised to ±∞.
    let odd = round(y) == y && abs(y) % 2.0lf == 1.0lf;
    if (abs(x) > 1.7976931348623157e308lf) {
        var m = 0.0lf;
        if (y > 0.0lf) {
            m = jf_inf();
        }
        if (x < 0.0lf && odd) {
            return -m;
        }
        return m;
    }
    if (x == -1.0lf && abs(y) > 1.7976931348623157e308lf) {
        return 1.0lf;
    }
    // Small integer exponents by repeated squaring: exact where the result is representable,
    // as Rust's powf is (exp(y·log x) makes (−2)^3 = −7.999…, and a later negative base
    // raised to it NaN).
    if (round(y) == y && abs(y) <= 64.0lf) {
        return jf_powi(x, y);
    }
    if (x == 0.0lf) {
        if (y > 0.0lf) {
            return 0.0lf;
        }
        return jf_inf();
    }
    let m = jf_exp(y * jf_log(abs(x)));
    if (x > 0.0lf) {
        return m;
    }
    if (round(y) == y) {
        if (abs(y) % 2.0lf == 1.0lf) {
            return -m;
        }
        return m;
    }
    return jf_nan();
}

// sin(r), cos(r) for |r| ≤ π/4 by their Taylor series (to r^19 and r^18); cos in fdlibm's
// compensated form 1 − r²/2 + ….
fn jf_sin_kernel(r: f64) -> f64 {
    let z = r * r;
    var p = -8.22063524662433e-18lf;
    p = p * z + 2.8114572543455206e-15lf;
    p = p * z - 7.647163731819816e-13lf;
    p = p * z + 1.6059043836821613e-10lf;
    p = p * z - 2.505210838544172e-08lf;
    p = p * z + 2.7557319223985893e-06lf;
    p = p * z - 0.0001984126984126984lf;
    p = p * z + 0.008333333333333333lf;
    p = p * z - 0.16666666666666666lf;
    return r + r * z * p;
}

fn jf_cos_kernel(r: f64) -> f64 {
    let z = r * r;
    var q = -1.5619206968586225e-16lf;
    q = q * z + 4.779477332387385e-14lf;
    q = q * z - 1.1470745597729725e-11lf;
    q = q * z + 2.08767569878681e-09lf;
    q = q * z - 2.755731922398589e-07lf;
    q = q * z + 2.48015873015873e-05lf;
    q = q * z - 0.001388888888888889lf;
    q = q * z + 0.041666666666666664lf;
    let hz = 0.5lf * z;
    let w = 1.0lf - hz;
    return w + (((1.0lf - w) - hz) + z * z * q);
}

// x = k·π/2 + r with π/2 in three parts (Cody–Waite): accurate while |k| < 2^20 (|x| up to
// about 1.6e6); the quadrant k mod 4 picks the kernel and the sign.
struct Reduced { r: f64, quadrant: f64 }

fn jf_reduce(x: f64) -> Reduced {
    let k = round(x * 0.6366197723675814lf);
    var out: Reduced;
    out.r = ((x - k * 1.5707963267341256lf) - k * 6.077100506303966e-11lf) - k * 2.0222662487959506e-21lf;
    out.quadrant = k - 4.0lf * floor(k * 0.25lf);
    return out;
}

fn jf_sin(x: f64) -> f64 {
    if (!(abs(x) <= 1.7976931348623157e308lf)) {
        return jf_nan();
    }
    let t = jf_reduce(x);
    if (t.quadrant == 0.0lf) {
        return jf_sin_kernel(t.r);
    }
    if (t.quadrant == 1.0lf) {
        return jf_cos_kernel(t.r);
    }
    if (t.quadrant == 2.0lf) {
        return -jf_sin_kernel(t.r);
    }
    return -jf_cos_kernel(t.r);
}

fn jf_cos(x: f64) -> f64 {
    if (!(abs(x) <= 1.7976931348623157e308lf)) {
        return jf_nan();
    }
    let t = jf_reduce(x);
    if (t.quadrant == 0.0lf) {
        return jf_cos_kernel(t.r);
    }
    if (t.quadrant == 1.0lf) {
        return -jf_sin_kernel(t.r);
    }
    if (t.quadrant == 2.0lf) {
        return -jf_cos_kernel(t.r);
    }
    return jf_sin_kernel(t.r);
}

fn jf_tan(x: f64) -> f64 {
    if (!(abs(x) <= 1.7976931348623157e308lf)) {
        return jf_nan();
    }
    let t = jf_reduce(x);
    let s = jf_sin_kernel(t.r);
    let c = jf_cos_kernel(t.r);
    if (t.quadrant == 0.0lf || t.quadrant == 2.0lf) {
        return s / c;
    }
    return -c / s;
}

// atan: |x| > 1 by π/2 − atan(1/|x|), |x| > tan(π/8) by π/4 + atan((|x|−1)/(|x|+1)), then the
// series to t^49 (|t| ≤ tan(π/8): truncation < 1e-19).
fn jf_atan(x: f64) -> f64 {
    if (!(x == x)) {
        return x;
    }
    var a = abs(x);
    let invert = a > 1.0lf;
    if (invert) {
        a = 1.0lf / a;
    }
    var base = 0.0lf;
    if (a > 0.41421356237309503lf) {
        a = (a - 1.0lf) / (a + 1.0lf);
        base = 0.7853981633974483lf;
    }
    let z = a * a;
    var p = 0.02040816326530612lf;
    p = p * z - 0.02127659574468085lf;
    p = p * z + 0.022222222222222223lf;
    p = p * z - 0.023255813953488372lf;
    p = p * z + 0.024390243902439025lf;
    p = p * z - 0.02564102564102564lf;
    p = p * z + 0.02702702702702703lf;
    p = p * z - 0.02857142857142857lf;
    p = p * z + 0.030303030303030304lf;
    p = p * z - 0.03225806451612903lf;
    p = p * z + 0.034482758620689655lf;
    p = p * z - 0.037037037037037035lf;
    p = p * z + 0.04lf;
    p = p * z - 0.043478260869565216lf;
    p = p * z + 0.047619047619047616lf;
    p = p * z - 0.05263157894736842lf;
    p = p * z + 0.058823529411764705lf;
    p = p * z - 0.06666666666666667lf;
    p = p * z + 0.07692307692307693lf;
    p = p * z - 0.09090909090909091lf;
    p = p * z + 0.1111111111111111lf;
    p = p * z - 0.14285714285714285lf;
    p = p * z + 0.2lf;
    p = p * z - 0.3333333333333333lf;
    var r = base + (a + a * z * p);
    if (invert) {
        r = 1.5707963267948966lf - r;
    }
    if (x < 0.0lf) {
        return -r;
    }
    return r;
}

fn jf_atan2(y: f64, x: f64) -> f64 {
    if (!(x == x) || !(y == y)) {
        return x + y;
    }
    let big = 1.7976931348623157e308lf;
    let pi = 3.141592653589793lf;
    // The sign of y, zeros included (1/−0 = −∞).
    let y_negative = y < 0.0lf || (y == 0.0lf && 1.0lf / y < 0.0lf);
    var s = 1.0lf;
    if (y_negative) {
        s = -1.0lf;
    }
    let x_negative = x < 0.0lf || (x == 0.0lf && 1.0lf / x < 0.0lf);
    if (abs(x) > big && abs(y) > big) {
        if (x_negative) {
            return s * 0.75lf * pi;
        }
        return s * 0.25lf * pi;
    }
    if (y == 0.0lf) {
        if (x_negative) {
            return s * pi;
        }
        return y;
    }
    if (x == 0.0lf) {
        return s * 0.5lf * pi;
    }
    let t = jf_atan(y / x);
    if (x > 0.0lf) {
        return t;
    }
    return t + s * pi;
}

fn jf_asin(x: f64) -> f64 {
    return jf_atan2(x, sqrt((1.0lf - x) * (1.0lf + x)));
}

fn jf_acos(x: f64) -> f64 {
    return jf_atan2(sqrt((1.0lf - x) * (1.0lf + x)), x);
}

// expm1 and log1p where 1 + x would lose x's digits: by their own series (not by
// Goldberg's (1+u)−1 corrections, which a fast-math shader compiler simplifies away).
fn jf_expm1(x: f64) -> f64 {
    if (abs(x) < 0.34657359027997264lf) {
        return x + x * x * jf_exp_tail(x);
    }
    return jf_exp(x) - 1.0lf;
}

fn jf_log1p(u: f64) -> f64 {
    if (u >= -0.2928932188134524lf && u <= 0.41421356237309503lf) {
        return jf_log1p_core(u);
    }
    return jf_log(1.0lf + u);
}

fn jf_sinh(x: f64) -> f64 {
    let a = abs(x);
    var r: f64;
    if (a > 709.0lf) {
        let t = jf_exp(0.5lf * a);
        r = 0.5lf * t * t;
    } else {
        let e = jf_expm1(a);
        r = 0.5lf * (e + e / (e + 1.0lf));
    }
    if (x < 0.0lf) {
        return -r;
    }
    return r;
}

fn jf_cosh(x: f64) -> f64 {
    let a = abs(x);
    if (a > 709.0lf) {
        let t = jf_exp(0.5lf * a);
        return 0.5lf * t * t;
    }
    let e = jf_exp(a);
    return 0.5lf * (e + 1.0lf / e);
}

fn jf_tanh(x: f64) -> f64 {
    let a = abs(x);
    var r = 1.0lf;
    if (a < 22.0lf) {
        let e = jf_expm1(2.0lf * a);
        r = e / (e + 2.0lf);
    }
    if (!(x == x)) {
        return x;
    }
    if (x < 0.0lf) {
        return -r;
    }
    return r;
}

fn jf_asinh(x: f64) -> f64 {
    let a = abs(x);
    var r: f64;
    if (a > 1.0e8lf) {
        r = jf_log(a) + 0.6931471805599453lf;
    } else {
        r = jf_log1p(a + a * a / (1.0lf + sqrt(1.0lf + a * a)));
    }
    if (x < 0.0lf) {
        return -r;
    }
    return r;
}

fn jf_acosh(x: f64) -> f64 {
    if (!(x >= 1.0lf)) {
        return jf_nan();
    }
    if (x > 1.0e8lf) {
        return jf_log(x) + 0.6931471805599453lf;
    }
    let t = x - 1.0lf;
    return jf_log1p(t + sqrt(2.0lf * t + t * t));
}

fn jf_atanh(x: f64) -> f64 {
    let a = abs(x);
    let r = 0.5lf * jf_log1p(2.0lf * a / (1.0lf - a));
    if (x < 0.0lf) {
        return -r;
    }
    return r;
}

// exp(−x²) without the rounding of x² (which costs x² ulps): x = xh + xl with xh on a 2^-20
// grid, so xh² is exact and exp(−x²) = exp(−xh²)·exp(−(2xh + xl)·xl). Only floor and exact
// scalings: nothing a fast-math compiler can fold away (as it can Dekker's split, and as
// Vulkan's fma need not be fused).
fn jf_exp_minus_square(x: f64) -> f64 {
    let xh = floor(x * 1048576.0lf) / 1048576.0lf;
    let xl = x - xh;
    return jf_exp(-xh * xh) * jf_exp(-(2.0lf * xh + xl) * xl);
}

// erfc for x ≥ 1 by its continued fraction, evaluated backwards (300 terms: converged to
// rounding from x = 1 on).
fn jf_erfc_large(x: f64) -> f64 {
    var t = x;
    for (var k = 300; k > 0; k = k - 1) {
        t = x + (f64(k) * 0.5lf) / t;
    }
    return jf_exp_minus_square(x) * 0.5641895835477563lf / t;
}

// erf for |x| < 1: 2/√π·Σ (−x²)^n·x / (n!·(2n+1)) (terms fall at least 3× each: mild
// cancellation), to n = 21.
fn jf_erf_small(a: f64) -> f64 {
    let z = a * a;
    var p = -4.5518467589282e-22lf;
    p = p * z + 1.0025164934907719e-20lf;
    p = p * z - 2.107855191442136e-19lf;
    p = p * z + 4.221407288807088e-18lf;
    p = p * z - 8.032735012415773e-17lf;
    p = p * z + 1.4483264643598138e-15lf;
    p = p * z - 2.466827010264457e-14lf;
    p = p * z + 3.9554295164585257e-13lf;
    p = p * z - 5.9477940136376354e-12lf;
    p = p * z + 8.35070279514724e-11lf;
    p = p * z - 1.0892221037148573e-09lf;
    p = p * z + 1.3122532963802806e-08lf;
    p = p * z - 1.4503852223150468e-07lf;
    p = p * z + 1.4589169000933706e-06lf;
    p = p * z - 1.3227513227513228e-05lf;
    p = p * z + 0.00010683760683760684lf;
    p = p * z - 0.0007575757575757576lf;
    p = p * z + 0.004629629629629629lf;
    p = p * z - 0.023809523809523808lf;
    p = p * z + 0.1lf;
    p = p * z - 0.3333333333333333lf;
    p = p * z + 1.0lf;
    return 1.1283791670955126lf * (a * p);
}

fn jf_erf(x: f64) -> f64 {
    if (!(x == x)) {
        return x;
    }
    let a = abs(x);
    var r = 1.0lf;
    if (a < 1.0lf) {
        r = jf_erf_small(a);
    } else if (a < 6.0lf) {
        r = 1.0lf - jf_erfc_large(a);
    }
    if (x < 0.0lf) {
        return -r;
    }
    return r;
}

fn jf_erfc(x: f64) -> f64 {
    if (!(x == x)) {
        return x;
    }
    let a = abs(x);
    var r: f64;
    if (a < 1.0lf) {
        r = 1.0lf - jf_erf_small(a);
    } else if (a < 27.3lf) {
        r = jf_erfc_large(a);
    } else {
        r = 0.0lf;
    }
    if (x < 0.0lf) {
        return 2.0lf - r;
    }
    return r;
}

";

/// Helpers written once for both precisions, matching `ops::eval` where WGSL's own are
/// unspecified or inexact.
fn typed_helpers(precision: Precision) -> String {
    let t = precision.type_name();
    format!(
        "
// x^n for an integer n (|n| ≤ 64 where used) by repeated squaring: exact where the result is
// representable, as Rust's powf is (exp(n·log x) makes (−2)^3 = −7.999…).
fn jf_powi(x: {t}, n: {t}) -> {t} {{
    var e = abs(n);
    var base = x;
    var result = {t}(1.0);
    loop {{
        if (e < 1.0) {{
            break;
        }}
        let half = floor(e * 0.5);
        if (e - 2.0 * half == 1.0) {{
            result = result * base;
        }}
        base = base * base;
        e = half;
    }}
    if (n < 0.0) {{
        return 1.0 / result;
    }}
    return result;
}}

// min and max as the CPU computes them (IEEE 754-2019 minimum/maximum): NaN when either is
// NaN (WGSL's own may return the other operand), −0 below +0.
fn jf_min(a: {t}, b: {t}) -> {t} {{
    if (!(a == a) || !(b == b)) {{
        return a + b;
    }}
    if (a < b || (a == b && 1.0 / a < 0.0)) {{
        return a;
    }}
    return b;
}}

fn jf_max(a: {t}, b: {t}) -> {t} {{
    if (!(a == a) || !(b == b)) {{
        return a + b;
    }}
    if (a > b || (a == b && 1.0 / a > 0.0)) {{
        return a;
    }}
    return b;
}}

// sign as the CPU computes it: ±1, ±0 for ±0, NaN for NaN (WGSL's own is unspecified at NaN).
fn jf_sign(a: {t}) -> {t} {{
    if (a > 0.0) {{
        return 1.0;
    }}
    if (a < 0.0) {{
        return -1.0;
    }}
    return a;
}}
"
    )
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
            (Inst::Unary(op, a), Precision::F32) => unary(*op, &v(a)),
            (Inst::Binary(op, a, b), Precision::F32) => binary(*op, &v(a), &v(b)),
            (Inst::Unary(op, a), Precision::F64) => unary_f64(*op, &v(a)),
            (Inst::Binary(op, a, b), Precision::F64) => binary_f64(*op, &v(a), &v(b)),
        };
        let _ = writeln!(body, "{indent}let v{i}: {t} = {rhs};");
    }
    body
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
    s += "struct Info { n: u32 }\n";
    let _ = writeln!(s, "@group(0) @binding(0) var<storage, read> vars: array<{t}>;");
    let _ = writeln!(s, "@group(0) @binding(1) var<storage, read> y: array<{t}>;");
    let _ = writeln!(s, "@group(0) @binding(2) var<storage, read> w: array<{t}>;");
    let _ = writeln!(s, "@group(0) @binding(3) var<storage, read> params: array<{t}>;");
    let _ = writeln!(s, "@group(0) @binding(4) var<storage, read_write> result: array<{t}>;");
    s += "@group(0) @binding(5) var<uniform> info: Info;\n";
    s += match precision {
        Precision::F32 => PRELUDE,
        Precision::F64 => PRELUDE_F64,
    };
    s += &typed_helpers(precision);
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
    let _ = writeln!(s, "    var acc: array<{t}, {slots}>;");
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

/// Values the batch shader writes per fit after the parameters: the standard errors (n),
/// then χ², iterations and the status code (0 converged, 1 max_iterations, 2 singular,
/// 3 not_finite, 4 too_few_points: [`crate::batch::BatchStatus::from_code`]).
pub fn batch_outputs(n_params: usize) -> usize {
    n_params + 3
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
    s += PRELUDE;
    s += &typed_helpers(Precision::F32);
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
    s += "        let f = factor(ne.a, lambda);\n        if (!f.ok) {\n            lambda = lambda * 10.0;\n            if (lambda > 1.0e16) {\n                status = 0.0;\n                break;\n            }\n            continue;\n        }\n";
    s += "        let step = solve(f.l, ne.g);\n";
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
