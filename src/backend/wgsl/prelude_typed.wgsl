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
