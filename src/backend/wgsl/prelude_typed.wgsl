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
