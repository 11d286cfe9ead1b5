// jitfit's WGSL prelude, f64 (devices with SHADER_F64): every function of the grammar in
// software, by the names the op table (`conv.rs`) gives them in both precisions. WGSL's
// transcendentals are f32-only (and lavapipe's f64 `exp` returns 0): exp and log by range
// reduction and polynomials, the rest on top of them or by their own series. No
// Goldberg/Dekker tricks: a fast-math shader compiler folds `(1+u)-1` away, and Vulkan's `fma`
// need not be fused. Validated on its own by the tests (with `alias jf_t = f64;`).

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

fn jf_log10(x: f64) -> f64 {
    return jf_log(x) * 0.4342944819032518lf;
}

fn jf_log2(x: f64) -> f64 {
    return jf_log(x) * 1.4426950408889634lf;
}

fn jf_cbrt(x: f64) -> f64 {
    return sign(x) * jf_exp(jf_log(abs(x)) / 3.0lf);
}
