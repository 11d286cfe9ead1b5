// jitfit's WGSL prelude, both precisions: helpers written once over `jf_t` (an alias for f32
// or f64 that the writer puts first), matching `ops::eval` where WGSL's own functions are
// unspecified or inexact.

// x^n for an integer n (|n| ≤ 64 where used) by repeated squaring: exact where the result is
// representable, as Rust's powf is (exp(n·log x) makes (−2)^3 = −7.999…).
fn jf_powi(x: jf_t, n: jf_t) -> jf_t {
    var e = abs(n);
    var base = x;
    var result = jf_t(1.0);
    loop {
        if (e < 1.0) {
            break;
        }
        let half = floor(e * 0.5);
        if (e - 2.0 * half == 1.0) {
            result = result * base;
        }
        base = base * base;
        e = half;
    }
    if (n < 0.0) {
        return 1.0 / result;
    }
    return result;
}

// min and max as the CPU computes them (IEEE 754-2019 minimum/maximum): NaN when either is
// NaN (WGSL's own may return the other operand), −0 below +0.
fn jf_min(a: jf_t, b: jf_t) -> jf_t {
    if (!(a == a) || !(b == b)) {
        return a + b;
    }
    if (a < b || (a == b && 1.0 / a < 0.0)) {
        return a;
    }
    return b;
}

fn jf_max(a: jf_t, b: jf_t) -> jf_t {
    if (!(a == a) || !(b == b)) {
        return a + b;
    }
    if (a > b || (a == b && 1.0 / a > 0.0)) {
        return a;
    }
    return b;
}

// sign as the CPU computes it: ±1, ±0 for ±0, NaN for NaN (WGSL's own is unspecified at NaN).
fn jf_sign(a: jf_t) -> jf_t {
    if (a > 0.0) {
        return 1.0;
    }
    if (a < 0.0) {
        return -1.0;
    }
    return a;
}

// The comparison `a < b` as a number (1 or 0), as the IR's `less`.
fn jf_less(a: jf_t, b: jf_t) -> jf_t {
    return select(jf_t(0.0), jf_t(1.0), a < b);
}

// x·log(y), 0 where x = 0 (scipy's xlogy).
fn jf_xlogy(x: jf_t, y: jf_t) -> jf_t {
    return select(x * jf_log(y), jf_t(0.0), x == 0.0);
}

// The Faddeeva function w(x + iy) as (Re w, Im w): ops/faddeeva.rs operation for operation
// (Weideman's N = 40 approximation in the upper half-plane, the asymptote beyond |z| = 1e8,
// reflection below). The coefficients are that file's, highest degree first.
fn jf_cdiv(a: vec2<jf_t>, d: vec2<jf_t>) -> vec2<jf_t> {
    if (abs(d.x) >= abs(d.y)) {
        let r = d.y / d.x;
        let t = d.x + d.y * r;
        return vec2<jf_t>((a.x + a.y * r) / t, (a.y - a.x * r) / t);
    }
    let r = d.x / d.y;
    let t = d.x * r + d.y;
    return vec2<jf_t>((a.x * r + a.y) / t, (a.y * r - a.x) / t);
}

fn jf_faddeeva_upper(x: jf_t, y: jf_t) -> vec2<jf_t> {
    let big = max(abs(x), abs(y));
    let small = min(abs(x), abs(y));
    var r = big;
    if (big > 0.0) {
        let q = small / big;
        r = big * sqrt(1.0 + q * q);
    }
    let frac_1_sqrt_pi = jf_t(0.5641895835477563);
    if (r > 1e8) {
        let k = frac_1_sqrt_pi / r;
        return vec2<jf_t>(k * (y / r), k * (x / r));
    }
    let l = jf_t(5.3182958969449885);
    let d = vec2<jf_t>(l + y, -x);
    let zz = jf_cdiv(vec2<jf_t>(l - y, x), d);
    var p = vec2<jf_t>(jf_t(-1.7356980998791865e-15), 0.0);
    p = vec2<jf_t>(p.x * zz.x - p.y * zz.y + jf_t(1.201674910759281e-15), p.x * zz.y + p.y * zz.x);
    p = vec2<jf_t>(p.x * zz.x - p.y * zz.y + jf_t(1.1519170220749485e-14), p.x * zz.y + p.y * zz.x);
    p = vec2<jf_t>(p.x * zz.x - p.y * zz.y + jf_t(-5.231716366324404e-15), p.x * zz.y + p.y * zz.x);
    p = vec2<jf_t>(p.x * zz.x - p.y * zz.y + jf_t(-7.071088022159408e-14), p.x * zz.y + p.y * zz.x);
    p = vec2<jf_t>(p.x * zz.x - p.y * zz.y + jf_t(1.3778224047664046e-14), p.x * zz.y + p.y * zz.x);
    p = vec2<jf_t>(p.x * zz.x - p.y * zz.y + jf_t(4.5341448909434655e-13), p.x * zz.y + p.y * zz.x);
    p = vec2<jf_t>(p.x * zz.x - p.y * zz.y + jf_t(1.203330952919568e-13), p.x * zz.y + p.y * zz.x);
    p = vec2<jf_t>(p.x * zz.x - p.y * zz.y + jf_t(-2.90771851041427e-12), p.x * zz.y + p.y * zz.x);
    p = vec2<jf_t>(p.x * zz.x - p.y * zz.y + jf_t(-2.7277735625830245e-12), p.x * zz.y + p.y * zz.x);
    p = vec2<jf_t>(p.x * zz.x - p.y * zz.y + jf_t(1.771418567386718e-11), p.x * zz.y + p.y * zz.x);
    p = vec2<jf_t>(p.x * zz.x - p.y * zz.y + jf_t(3.4727420938907015e-11), p.x * zz.y + p.y * zz.x);
    p = vec2<jf_t>(p.x * zz.x - p.y * zz.y + jf_t(-9.055138860958323e-11), p.x * zz.y + p.y * zz.x);
    p = vec2<jf_t>(p.x * zz.x - p.y * zz.y + jf_t(-3.5632350403602684e-10), p.x * zz.y + p.y * zz.x);
    p = vec2<jf_t>(p.x * zz.x - p.y * zz.y + jf_t(2.1085990731251058e-10), p.x * zz.y + p.y * zz.x);
    p = vec2<jf_t>(p.x * zz.x - p.y * zz.y + jf_t(3.017780425551564e-09), p.x * zz.y + p.y * zz.x);
    p = vec2<jf_t>(p.x * zz.x - p.y * zz.y + jf_t(3.249746582945079e-09), p.x * zz.y + p.y * zz.x);
    p = vec2<jf_t>(p.x * zz.x - p.y * zz.y + jf_t(-1.8315616834296834e-08), p.x * zz.y + p.y * zz.x);
    p = vec2<jf_t>(p.x * zz.x - p.y * zz.y + jf_t(-6.351773483015411e-08), p.x * zz.y + p.y * zz.x);
    p = vec2<jf_t>(p.x * zz.x - p.y * zz.y + jf_t(1.419864237295343e-08), p.x * zz.y + p.y * zz.x);
    p = vec2<jf_t>(p.x * zz.x - p.y * zz.y + jf_t(5.912136953029057e-07), p.x * zz.y + p.y * zz.x);
    p = vec2<jf_t>(p.x * zz.x - p.y * zz.y + jf_t(1.4835661133172014e-06), p.x * zz.y + p.y * zz.x);
    p = vec2<jf_t>(p.x * zz.x - p.y * zz.y + jf_t(-1.066013898416273e-06), p.x * zz.y + p.y * zz.x);
    p = vec2<jf_t>(p.x * zz.x - p.y * zz.y + jf_t(-1.8007447144723407e-05), p.x * zz.y + p.y * zz.x);
    p = vec2<jf_t>(p.x * zz.x - p.y * zz.y + jf_t(-5.5913092642348794e-05), p.x * zz.y + p.y * zz.x);
    p = vec2<jf_t>(p.x * zz.x - p.y * zz.y + jf_t(-3.939363145483805e-05), p.x * zz.y + p.y * zz.x);
    p = vec2<jf_t>(p.x * zz.x - p.y * zz.y + jf_t(0.000439807015986967), p.x * zz.y + p.y * zz.x);
    p = vec2<jf_t>(p.x * zz.x - p.y * zz.y + jf_t(0.002705405633073729), p.x * zz.y + p.y * zz.x);
    p = vec2<jf_t>(p.x * zz.x - p.y * zz.y + jf_t(0.010048186242783535), p.x * zz.y + p.y * zz.x);
    p = vec2<jf_t>(p.x * zz.x - p.y * zz.y + jf_t(0.02920291647124188), p.x * zz.y + p.y * zz.x);
    p = vec2<jf_t>(p.x * zz.x - p.y * zz.y + jf_t(0.07182361779074328), p.x * zz.y + p.y * zz.x);
    p = vec2<jf_t>(p.x * zz.x - p.y * zz.y + jf_t(0.15504263802479504), p.x * zz.y + p.y * zz.x);
    p = vec2<jf_t>(p.x * zz.x - p.y * zz.y + jf_t(0.2998943799615006), p.x * zz.y + p.y * zz.x);
    p = vec2<jf_t>(p.x * zz.x - p.y * zz.y + jf_t(0.5266528988277086), p.x * zz.y + p.y * zz.x);
    p = vec2<jf_t>(p.x * zz.x - p.y * zz.y + jf_t(0.8472174576593815), p.x * zz.y + p.y * zz.x);
    p = vec2<jf_t>(p.x * zz.x - p.y * zz.y + jf_t(1.2563815675765133), p.x * zz.y + p.y * zz.x);
    p = vec2<jf_t>(p.x * zz.x - p.y * zz.y + jf_t(1.7253830848179779), p.x * zz.y + p.y * zz.x);
    p = vec2<jf_t>(p.x * zz.x - p.y * zz.y + jf_t(2.201513794878312), p.x * zz.y + p.y * zz.x);
    p = vec2<jf_t>(p.x * zz.x - p.y * zz.y + jf_t(2.6160541527618597), p.x * zz.y + p.y * zz.x);
    p = vec2<jf_t>(p.x * zz.x - p.y * zz.y + jf_t(2.899624509389705), p.x * zz.y + p.y * zz.x);
    let q = jf_cdiv(vec2<jf_t>(2.0 * p.x, 2.0 * p.y), d);
    return jf_cdiv(vec2<jf_t>(q.x + frac_1_sqrt_pi, q.y), d);
}

fn jf_faddeeva(x: jf_t, y: jf_t) -> vec2<jf_t> {
    if (!(x == x) || !(y == y)) {
        return vec2<jf_t>(x + y, x + y);
    }
    if (y < 0.0) {
        let w = jf_faddeeva_upper(-x, -y);
        let scale = 2.0 * jf_exp((y - x) * (y + x));
        let angle = 2.0 * x * y;
        return vec2<jf_t>(scale * jf_cos(angle) - w.x, -scale * jf_sin(angle) - w.y);
    }
    return jf_faddeeva_upper(x, y);
}

fn jf_faddeeva_re(x: jf_t, y: jf_t) -> jf_t {
    return jf_faddeeva(x, y).x;
}

fn jf_faddeeva_im(x: jf_t, y: jf_t) -> jf_t {
    return jf_faddeeva(x, y).y;
}

// ln|Γ| and the polygamma functions: ops/gamma.rs step for step (shift past 10, then the
// asymptotic series; reflection below ½ for lgamma and below 0 for digamma). WGSL has no
// recursion: the reflected calls go to the helpers for the other half-line.
fn jf_gamma_inf() -> jf_t {
    var z = jf_t(0.0);
    return 1.0 / z;
}

fn jf_gamma_nan() -> jf_t {
    var z = jf_t(0.0);
    return z / z;
}

fn jf_sin_pi(x: jf_t) -> jf_t {
    let k = floor(x + 0.5);
    let s = jf_sin(3.141592653589793 * (x - k));
    if (k * 0.5 != floor(k * 0.5)) {
        return -s;
    }
    return s;
}

fn jf_lgamma_from_half(x: jf_t) -> jf_t {
    var z = x;
    var product = jf_t(1.0);
    while (z < 10.0) {
        product = product * z;
        z = z + 1.0;
    }
    let inverse = 1.0 / z;
    let inverse2 = inverse * inverse;
    var series = jf_t(-0.029550653594771242);
    series = series * inverse2 + 0.00641025641025641;
    series = series * inverse2 + -0.0019175269175269176;
    series = series * inverse2 + 0.0008417508417508417;
    series = series * inverse2 + -0.0005952380952380953;
    series = series * inverse2 + 0.0007936507936507937;
    series = series * inverse2 + -0.002777777777777778;
    series = series * inverse2 + 0.08333333333333333;
    return (z - 0.5) * jf_log(z) - z + 0.9189385332046728 + series * inverse - jf_log(product);
}

fn jf_lgamma(x: jf_t) -> jf_t {
    if (!(x == x)) {
        return x;
    }
    if (abs(x) == jf_gamma_inf()) {
        return jf_gamma_inf();
    }
    if (x < 0.5) {
        let s = jf_sin_pi(x);
        if (s == 0.0) {
            return jf_gamma_inf();
        }
        return jf_log(3.141592653589793 / abs(s)) - jf_lgamma_from_half(1.0 - x);
    }
    return jf_lgamma_from_half(x);
}

fn jf_digamma_positive(x: jf_t) -> jf_t {
    var z = x;
    var head = jf_t(0.0);
    while (z < 10.0) {
        head = head - 1.0 / z;
        z = z + 1.0;
    }
    let inverse2 = 1.0 / (z * z);
    var series = jf_t(0.0);
    series = (series + jf_t(-529.1242424242424) / 20.0) * inverse2;
    series = (series + jf_t(54.971177944862156) / 18.0) * inverse2;
    series = (series + jf_t(-7.092156862745098) / 16.0) * inverse2;
    series = (series + jf_t(1.1666666666666667) / 14.0) * inverse2;
    series = (series + jf_t(-0.2531135531135531) / 12.0) * inverse2;
    series = (series + jf_t(0.07575757575757576) / 10.0) * inverse2;
    series = (series + jf_t(-0.03333333333333333) / 8.0) * inverse2;
    series = (series + jf_t(0.023809523809523808) / 6.0) * inverse2;
    series = (series + jf_t(-0.03333333333333333) / 4.0) * inverse2;
    series = (series + jf_t(0.16666666666666666) / 2.0) * inverse2;
    return head + jf_log(z) - 0.5 / z - series;
}

fn jf_digamma(x: jf_t) -> jf_t {
    if (x == jf_gamma_inf()) {
        return x;
    }
    if (x == -jf_gamma_inf()) {
        return jf_gamma_nan();
    }
    if (x < 0.0) {
        let t = jf_sin_pi(x) / jf_sin_pi(x + 0.5);
        return jf_digamma_positive(1.0 - x) - 3.141592653589793 / t;
    }
    return jf_digamma_positive(x);
}

// m!/z^(m+1) as a running product: neither m! nor z^(m+1) leaves f32's range.
fn jf_factorial_over_power(z: jf_t, m: jf_t) -> jf_t {
    var p = 1.0 / z;
    for (var j = jf_t(1.0); j <= m; j = j + 1.0) {
        p = p * (j / z);
    }
    return p;
}

fn jf_polygamma(n: jf_t, x: jf_t) -> jf_t {
    if (!(n >= 0.0 && n <= 24.0) || n != floor(n) || !(x == x)) {
        return jf_gamma_nan();
    }
    if (x <= 0.0 && x == floor(x)) {
        return jf_gamma_nan();
    }
    if (n == 0.0) {
        return jf_digamma(x);
    }
    let odd = n * 0.5 != floor(n * 0.5);
    if (x == jf_gamma_inf()) {
        if (odd) {
            return jf_t(0.0);
        }
        return -jf_t(0.0);
    }
    if (x < -1000.0) {
        return jf_gamma_nan();
    }
    var z = x;
    var head = jf_t(0.0);
    let start = 10.0 + n;
    while (z < start) {
        head = head + jf_factorial_over_power(z, n);
        z = z + 1.0;
    }
    let inverse = 1.0 / z;
    let inverse2 = inverse * inverse;
    var ratio = jf_t(1.0);
    ratio = ratio * ((((2.0 + n) - 2.0) * ((2.0 + n) - 1.0)) / 2.0);
    let c1 = jf_t(0.16666666666666666) * ratio;
    ratio = ratio * ((((4.0 + n) - 2.0) * ((4.0 + n) - 1.0)) / 12.0);
    let c2 = jf_t(-0.03333333333333333) * ratio;
    ratio = ratio * ((((6.0 + n) - 2.0) * ((6.0 + n) - 1.0)) / 30.0);
    let c3 = jf_t(0.023809523809523808) * ratio;
    ratio = ratio * ((((8.0 + n) - 2.0) * ((8.0 + n) - 1.0)) / 56.0);
    let c4 = jf_t(-0.03333333333333333) * ratio;
    ratio = ratio * ((((10.0 + n) - 2.0) * ((10.0 + n) - 1.0)) / 90.0);
    let c5 = jf_t(0.07575757575757576) * ratio;
    ratio = ratio * ((((12.0 + n) - 2.0) * ((12.0 + n) - 1.0)) / 132.0);
    let c6 = jf_t(-0.2531135531135531) * ratio;
    ratio = ratio * ((((14.0 + n) - 2.0) * ((14.0 + n) - 1.0)) / 182.0);
    let c7 = jf_t(1.1666666666666667) * ratio;
    ratio = ratio * ((((16.0 + n) - 2.0) * ((16.0 + n) - 1.0)) / 240.0);
    let c8 = jf_t(-7.092156862745098) * ratio;
    ratio = ratio * ((((18.0 + n) - 2.0) * ((18.0 + n) - 1.0)) / 306.0);
    let c9 = jf_t(54.971177944862156) * ratio;
    ratio = ratio * ((((20.0 + n) - 2.0) * ((20.0 + n) - 1.0)) / 380.0);
    let c10 = jf_t(-529.1242424242424) * ratio;
    var series = jf_t(0.0);
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
    let first = jf_factorial_over_power(z, n - 1.0);
    let value = head + first * (1.0 + 0.5 * n * inverse + series);
    if (odd) {
        return value;
    }
    return -value;
}
