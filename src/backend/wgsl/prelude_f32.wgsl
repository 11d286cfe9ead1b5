// jitfit's WGSL prelude, f32: the functions the kernels call, by the names the op table
// (`conv.rs`) gives them in both precisions. Most are WGSL's own; erf, erfc and pow are
// written out. Validated on its own by the tests (with `alias jf_t = f32;`).

fn jf_exp(x: f32) -> f32 { return exp(x); }
fn jf_log(x: f32) -> f32 { return log(x); }
fn jf_log10(x: f32) -> f32 { return log2(x) * 0.30102999566398120; }
fn jf_log2(x: f32) -> f32 { return log2(x); }
fn jf_cbrt(x: f32) -> f32 { return sign(x) * pow(abs(x), 1.0 / 3.0); }
fn jf_sin(x: f32) -> f32 { return sin(x); }
fn jf_cos(x: f32) -> f32 { return cos(x); }
fn jf_tan(x: f32) -> f32 { return tan(x); }
fn jf_asin(x: f32) -> f32 { return asin(x); }
fn jf_acos(x: f32) -> f32 { return acos(x); }
fn jf_atan(x: f32) -> f32 { return atan(x); }
fn jf_atan2(y: f32, x: f32) -> f32 { return atan2(y, x); }
fn jf_sinh(x: f32) -> f32 { return sinh(x); }
fn jf_cosh(x: f32) -> f32 { return cosh(x); }
fn jf_tanh(x: f32) -> f32 { return tanh(x); }
fn jf_asinh(x: f32) -> f32 { return asinh(x); }
fn jf_acosh(x: f32) -> f32 { return acosh(x); }
fn jf_atanh(x: f32) -> f32 { return atanh(x); }

// erfc(|x|) by Abramowitz & Stegun 7.1.26: absolute error < 1.5e-7 (f32 precision near 1;
// not a relative bound: far in the tail, where erfc is below ~1e-7, it is only that close).
// erf and erfc both come from it, so the f32 and f64 shaders call the same two functions.
fn jf_erfc_abs(x: f32) -> f32 {
    let a = abs(x);
    let t = 1.0 / (1.0 + 0.3275911 * a);
    return ((((1.061405429 * t - 1.453152027) * t + 1.421413741) * t - 0.284496736) * t + 0.254829592) * t * exp(-a * a);
}

fn jf_erf(x: f32) -> f32 {
    return sign(x) * (1.0 - jf_erfc_abs(x));
}

fn jf_erfc(x: f32) -> f32 {
    if (x < 0.0) {
        return 2.0 - jf_erfc_abs(x);
    }
    return jf_erfc_abs(x); // NaN stays NaN
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
