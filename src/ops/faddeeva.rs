//! The Faddeeva function w(z) = exp(−z²)·erfc(−iz) of z = x + iy, as two real operations
//! (its real and imaginary parts), closed under differentiation:
//! dw/dz = −2z·w + 2i/√π, so ∂Re w/∂x = ∂Im w/∂y = −2(x·Re w − y·Im w) and
//! ∂Im w/∂x = −∂Re w/∂y = 2/√π − 2(x·Im w + y·Re w).
//!
//! Re w(x + iy) is the Voigt profile's shape; w(iy) = erfcx(y) for real y.
//!
//! The upper half-plane is Weideman's rational approximation with N = 40 terms (SIAM J.
//! Numer. Anal. 31 (1994) 1497): w(z) = 2·p(Z)/(L − iz)² + π^(−1/2)/(L − iz),
//! Z = (L + iz)/(L − iz), with the coefficients of p printed by
//! `tests/data/faddeeva/generate.py` (a discrete Fourier transform, as his Matlab code). Only
//! `+ − × ÷` in the upper half-plane: the interpreter and Cranelift (which calls this
//! function) agree bit for bit; the WGSL form is the same operations, but a shader compiler
//! may fuse multiply-adds (lavapipe's f64: within 32 ulp; below the real axis, where the two
//! terms of the reflection cancel, within 1e-14 of their size). Measured against scipy's `wofz` on
//! 2 482 points of both half-planes, |z| up to 1e4 (`tests/math.rs`): |Δw| ≤ 5.7e-15·|w|,
//! and each part within 5.7e-15·|w| (a part much smaller than |w| — Re w for |x| ≫ 1,
//! y ≪ 1 — has that absolute error, not a relative one). Beyond |z| = 1e8 the asymptotic i/(√π·z) (relative error below 1e-16). The lower
//! half-plane by reflection: w(z) = 2·exp(−z²) − w(−z).

const L: f64 = 5.3182958969449885;
// Highest degree first.
const A: [f64; 40] = [
    -1.7356980998791865e-15,
    1.201674910759281e-15,
    1.1519170220749485e-14,
    -5.231716366324404e-15,
    -7.071088022159408e-14,
    1.3778224047664046e-14,
    4.5341448909434655e-13,
    1.203330952919568e-13,
    -2.90771851041427e-12,
    -2.7277735625830245e-12,
    1.771418567386718e-11,
    3.4727420938907015e-11,
    -9.055138860958323e-11,
    -3.5632350403602684e-10,
    2.1085990731251058e-10,
    3.017780425551564e-09,
    3.249746582945079e-09,
    -1.8315616834296834e-08,
    -6.351773483015411e-08,
    1.419864237295343e-08,
    5.912136953029057e-07,
    1.4835661133172014e-06,
    -1.066013898416273e-06,
    -1.8007447144723407e-05,
    -5.5913092642348794e-05,
    -3.939363145483805e-05,
    0.000439807015986967,
    0.002705405633073729,
    0.010048186242783535,
    0.02920291647124188,
    0.07182361779074328,
    0.15504263802479504,
    0.2998943799615006,
    0.5266528988277086,
    0.8472174576593815,
    1.2563815675765133,
    1.7253830848179779,
    2.201513794878312,
    2.6160541527618597,
    2.899624509389705,
];

/// 1/√π.
const FRAC_1_SQRT_PI: f64 = 0.5641895835477563;

/// (Re w, Im w) at z = x + iy.
pub fn faddeeva(x: f64, y: f64) -> (f64, f64) {
    if x.is_nan() || y.is_nan() {
        return (f64::NAN, f64::NAN);
    }
    if y < 0.0 {
        // w(z) = 2·exp(−z²) − w(−z); exp(−z²) = exp(y² − x²)·(cos 2xy − i·sin 2xy).
        let (u, v) = upper(-x, -y);
        let scale = 2.0 * crate::ops::math::exp((y - x) * (y + x));
        let angle = 2.0 * x * y;
        let (s, c) = angle.sin_cos();
        return (scale * c - u, -scale * s - v);
    }
    upper(x, y)
}

/// w in the closed upper half-plane (y ≥ 0).
fn upper(x: f64, y: f64) -> (f64, f64) {
    // |z| as the WGSL prelude computes it (not `hypot`, whose last bit is the platform's).
    let (big, small) = (x.abs().max(y.abs()), x.abs().min(y.abs()));
    let r = if big > 0.0 { big * (1.0 + (small / big) * (small / big)).sqrt() } else { big };
    if r > 1e8 {
        // i/(√π·z) = i·z̄/(√π·|z|²), each part scaled by |z| first (no overflow).
        let k = FRAC_1_SQRT_PI / r;
        return (k * (y / r), k * (x / r));
    }
    // d = L − iz = (L + y) − ix.
    let (dr, di) = (L + y, -x);
    // Z = (L + iz)/(L − iz) = ((L − y) + ix)/d.
    let (zr, zi) = div(L - y, x, dr, di);
    // p(Z) by Horner.
    let (mut pr, mut pi) = (A[0], 0.0);
    for a in &A[1..] {
        let (r, i) = (pr * zr - pi * zi, pr * zi + pi * zr);
        pr = r + a;
        pi = i;
    }
    // 2p/d² + (1/√π)/d = (2p/d + 1/√π)/d.
    let (qr, qi) = div(2.0 * pr, 2.0 * pi, dr, di);
    div(qr + FRAC_1_SQRT_PI, qi, dr, di)
}

/// (a + ib)/(c + id), by Smith's method (no overflow of c² + d²).
fn div(a: f64, b: f64, c: f64, d: f64) -> (f64, f64) {
    if c.abs() >= d.abs() {
        let r = d / c;
        let t = c + d * r;
        ((a + b * r) / t, (b - a * r) / t)
    } else {
        let r = c / d;
        let t = c * r + d;
        ((a * r + b) / t, (b * r - a) / t)
    }
}
