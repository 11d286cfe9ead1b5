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

// ln|Γ| and the polygamma functions: ops/gamma.rs step for step (shift past 10, then the
// asymptotic series; reflection below ½ for lgamma and below 0 for digamma). WGSL has no
// recursion: the reflected calls go to the helpers for the other half-line.
fn jf_gamma_inf() -> f32 {
    var z = f32(0.0);
    return f32(1.0) / z;
}

fn jf_gamma_nan() -> f32 {
    var z = f32(0.0);
    return z / z;
}

fn jf_sin_pi(x: f32) -> f32 {
    let k = floor(x + f32(0.5));
    let s = sin(f32(3.141592653589793) * (x - k));
    if (k * f32(0.5) != floor(k * f32(0.5))) {
        return -s;
    }
    return s;
}

fn jf_power(z: f32, k: f32) -> f32 {
    var result = f32(1.0);
    var base = z;
    var e = u32(k);
    loop {
        if ((e & 1u) == 1u) {
            result = result * base;
        }
        e = e >> 1u;
        if (e == 0u) {
            return result;
        }
        base = base * base;
    }
    return result;
}

fn jf_lgamma_from_half(x: f32) -> f32 {
    var z = x;
    var product = f32(1.0);
    while (z < f32(10.0)) {
        product = product * z;
        z = z + f32(1.0);
    }
    let inverse = f32(1.0) / z;
    let inverse2 = inverse * inverse;
    var series = f32(-0.029550653594771242);
    series = series * inverse2 + f32(0.00641025641025641);
    series = series * inverse2 + f32(-0.0019175269175269176);
    series = series * inverse2 + f32(0.0008417508417508417);
    series = series * inverse2 + f32(-0.0005952380952380953);
    series = series * inverse2 + f32(0.0007936507936507937);
    series = series * inverse2 + f32(-0.002777777777777778);
    series = series * inverse2 + f32(0.08333333333333333);
    return (z - f32(0.5)) * log(z) - z + f32(0.9189385332046728) + series * inverse - log(product);
}

fn jf_lgamma(x: f32) -> f32 {
    if (!(x == x)) {
        return x;
    }
    if (abs(x) == jf_gamma_inf()) {
        return jf_gamma_inf();
    }
    if (x < f32(0.5)) {
        let s = jf_sin_pi(x);
        if (s == f32(0.0)) {
            return jf_gamma_inf();
        }
        return log(f32(3.141592653589793) / abs(s)) - jf_lgamma_from_half(f32(1.0) - x);
    }
    return jf_lgamma_from_half(x);
}

fn jf_digamma_positive(x: f32) -> f32 {
    var z = x;
    var head = f32(0.0);
    while (z < f32(10.0)) {
        head = head - f32(1.0) / z;
        z = z + f32(1.0);
    }
    let inverse2 = f32(1.0) / (z * z);
    var series = f32(0.0);
    series = (series + f32(-529.1242424242424) / f32(20.0)) * inverse2;
    series = (series + f32(54.971177944862156) / f32(18.0)) * inverse2;
    series = (series + f32(-7.092156862745098) / f32(16.0)) * inverse2;
    series = (series + f32(1.1666666666666667) / f32(14.0)) * inverse2;
    series = (series + f32(-0.2531135531135531) / f32(12.0)) * inverse2;
    series = (series + f32(0.07575757575757576) / f32(10.0)) * inverse2;
    series = (series + f32(-0.03333333333333333) / f32(8.0)) * inverse2;
    series = (series + f32(0.023809523809523808) / f32(6.0)) * inverse2;
    series = (series + f32(-0.03333333333333333) / f32(4.0)) * inverse2;
    series = (series + f32(0.16666666666666666) / f32(2.0)) * inverse2;
    return head + log(z) - f32(0.5) / z - series;
}

fn jf_digamma(x: f32) -> f32 {
    if (x == jf_gamma_inf()) {
        return x;
    }
    if (x == -jf_gamma_inf()) {
        return jf_gamma_nan();
    }
    if (x < f32(0.0)) {
        let t = jf_sin_pi(x) / jf_sin_pi(x + f32(0.5));
        return jf_digamma_positive(f32(1.0) - x) - f32(3.141592653589793) / t;
    }
    return jf_digamma_positive(x);
}

fn jf_polygamma(n: f32, x: f32) -> f32 {
    if (!(n >= f32(0.0) && n <= f32(100.0)) || n != floor(n) || !(x == x)) {
        return jf_gamma_nan();
    }
    if (x <= f32(0.0) && x == floor(x)) {
        return jf_gamma_nan();
    }
    if (n == f32(0.0)) {
        return jf_digamma(x);
    }
    let odd = n * f32(0.5) != floor(n * f32(0.5));
    if (x == jf_gamma_inf()) {
        if (odd) {
            return f32(0.0);
        }
        return -f32(0.0);
    }
    if (x < f32(-1000.0)) {
        return jf_gamma_nan();
    }
    var factorial = f32(1.0);
    for (var k = f32(2.0); k <= n; k = k + f32(1.0)) {
        factorial = factorial * k;
    }
    var z = x;
    var head = f32(0.0);
    let start = f32(10.0) + n;
    while (z < start) {
        head = head + f32(1.0) / jf_power(z, n + f32(1.0));
        z = z + f32(1.0);
    }
    let inverse = f32(1.0) / z;
    let inverse2 = inverse * inverse;
    var ratio = f32(1.0);
    ratio = ratio * (((f32(2.0) + n) - f32(2.0)) * ((f32(2.0) + n) - f32(1.0)) / f32(2.0));
    let c1 = f32(0.16666666666666666) * ratio;
    ratio = ratio * (((f32(4.0) + n) - f32(2.0)) * ((f32(4.0) + n) - f32(1.0)) / f32(12.0));
    let c2 = f32(-0.03333333333333333) * ratio;
    ratio = ratio * (((f32(6.0) + n) - f32(2.0)) * ((f32(6.0) + n) - f32(1.0)) / f32(30.0));
    let c3 = f32(0.023809523809523808) * ratio;
    ratio = ratio * (((f32(8.0) + n) - f32(2.0)) * ((f32(8.0) + n) - f32(1.0)) / f32(56.0));
    let c4 = f32(-0.03333333333333333) * ratio;
    ratio = ratio * (((f32(10.0) + n) - f32(2.0)) * ((f32(10.0) + n) - f32(1.0)) / f32(90.0));
    let c5 = f32(0.07575757575757576) * ratio;
    ratio = ratio * (((f32(12.0) + n) - f32(2.0)) * ((f32(12.0) + n) - f32(1.0)) / f32(132.0));
    let c6 = f32(-0.2531135531135531) * ratio;
    ratio = ratio * (((f32(14.0) + n) - f32(2.0)) * ((f32(14.0) + n) - f32(1.0)) / f32(182.0));
    let c7 = f32(1.1666666666666667) * ratio;
    ratio = ratio * (((f32(16.0) + n) - f32(2.0)) * ((f32(16.0) + n) - f32(1.0)) / f32(240.0));
    let c8 = f32(-7.092156862745098) * ratio;
    ratio = ratio * (((f32(18.0) + n) - f32(2.0)) * ((f32(18.0) + n) - f32(1.0)) / f32(306.0));
    let c9 = f32(54.971177944862156) * ratio;
    ratio = ratio * (((f32(20.0) + n) - f32(2.0)) * ((f32(20.0) + n) - f32(1.0)) / f32(380.0));
    let c10 = f32(-529.1242424242424) * ratio;
    var series = f32(0.0);
    series = (series + c10) * inverse2;
    series = (series + c9) * inverse2;
    series = (series + c8) * inverse2;
    series = (series + c7) * inverse2;
    series = (series + c6) * inverse2;
    series = (series + c5) * inverse2;
    series = (series + c4) * inverse2;
    series = (series + c3) * inverse2;
    series = (series + c2) * inverse2;
    series = (series + c1) * inverse2;
    let first = factorial / n / jf_power(z, n);
    let tail = first * (f32(1.0) + f32(0.5) * n * inverse + series);
    let value = factorial * head + tail;
    if (odd) {
        return value;
    }
    return -value;
}
