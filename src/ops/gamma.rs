//! ln|Γ(x)| and the polygamma functions ψ⁽ⁿ⁾(x) = dⁿ⁺¹/dxⁿ⁺¹ ln Γ(x): what the Pearson VII
//! lineshape's normalisation needs, closed under differentiation (d lgamma = ψ⁽⁰⁾, d ψ⁽ⁿ⁾ =
//! ψ⁽ⁿ⁺¹⁾). Written with `+ − × ÷`, `ln`, `sin` and small loops only, so that the WGSL
//! preludes can carry the same algorithm (`jf_lgamma`, `jf_polygamma`).
//!
//! Both shift the argument up past [`SHIFT_TO`] by the recurrences Γ(x+1) = x·Γ(x) and
//! ψ⁽ⁿ⁾(x+1) = ψ⁽ⁿ⁾(x) + (−1)ⁿ n!/xⁿ⁺¹, then sum the asymptotic (Stirling) series; lgamma
//! reflects x < ½ through Γ(x)Γ(1−x) = π/sin(πx), digamma x < 0 through ψ(1−x) − ψ(x) =
//! π/tan(πx). The error is absolute (~1e-15 at lgamma's and digamma's zeros) and relative
//! elsewhere, measured against scipy.special (`tests/data/gamma/`, `tests/functions.rs`).

/// Where the asymptotic series starts (every term below f64's resolution at 10 terms).
pub const SHIFT_TO: f64 = 10.0;

/// B₂ₖ/(2k(2k−1)), k = 1…8: Stirling's series for ln Γ.
const STIRLING: [f64; 8] = [
    1.0 / 12.0,
    -1.0 / 360.0,
    1.0 / 1260.0,
    -1.0 / 1680.0,
    1.0 / 1188.0,
    -691.0 / 360360.0,
    1.0 / 156.0,
    -3617.0 / 122400.0,
];

/// The Bernoulli numbers B₂ₖ, k = 1…10.
const BERNOULLI: [f64; 10] = [
    1.0 / 6.0,
    -1.0 / 30.0,
    1.0 / 42.0,
    -1.0 / 30.0,
    5.0 / 66.0,
    -691.0 / 2730.0,
    7.0 / 6.0,
    -3617.0 / 510.0,
    43867.0 / 798.0,
    -174611.0 / 330.0,
];

/// The largest order [`polygamma`] computes: a model may write orders up to
/// [`MAX_MODEL_ORDER`], and each derivative (the Jacobian, then ∂/∂x for `--sigma-x`, …)
/// raises the order by one.
pub const MAX_ORDER: f64 = 24.0;

/// The largest order a model may write in `polygamma(n, x)`.
pub const MAX_MODEL_ORDER: f64 = 20.0;

/// sin(πx), reduced exactly first (x − k, k = ⌊x + ½⌋, is exact), so that it is 0 at integers.
fn sin_pi(x: f64) -> f64 {
    let k = (x + 0.5).floor();
    // sin(π(k + r)) = (−1)ᵏ sin(πr)
    let s = (std::f64::consts::PI * (x - k)).sin();
    if k * 0.5 != (k * 0.5).floor() { -s } else { s }
}

/// ln|Γ(x)| (scipy's `gammaln`): +∞ at the poles 0, −1, −2, … and at ±∞; NaN for NaN.
pub fn lgamma(x: f64) -> f64 {
    if x.is_nan() {
        return x;
    }
    if x.is_infinite() {
        return f64::INFINITY;
    }
    if x < 0.5 {
        let s = sin_pi(x);
        if s == 0.0 {
            return f64::INFINITY;
        }
        return (std::f64::consts::PI / s.abs()).ln() - lgamma_from_half(1.0 - x);
    }
    lgamma_from_half(x)
}

/// ln Γ(x) for x ≥ ½: Γ(x) = Γ(x + k)/(x(x+1)…(x+k−1)), then Stirling's series.
fn lgamma_from_half(x: f64) -> f64 {
    let (mut z, mut product) = (x, 1.0);
    while z < SHIFT_TO {
        product *= z;
        z += 1.0;
    }
    let inverse = 1.0 / z;
    let inverse2 = inverse * inverse;
    let mut series = 0.0;
    for c in STIRLING.iter().rev() {
        series = series * inverse2 + c;
    }
    let half_ln_2pi = 0.918_938_533_204_672_8;
    (z - 0.5) * z.ln() - z + half_ln_2pi + series * inverse - product.ln()
}

/// ψ⁽ⁿ⁾(x) for an integer order 0 ≤ n ≤ [`MAX_ORDER`] (scipy's `polygamma(n, x)`; n = 0 is
/// the digamma function). NaN at the poles 0, −1, −2, …, for any other n, and — for n ≥ 1 —
/// below x = −1000 (no reflection formula is carried for those orders).
pub fn polygamma(n: f64, x: f64) -> f64 {
    if !(0.0..=MAX_ORDER).contains(&n) || n.fract() != 0.0 || x.is_nan() {
        return f64::NAN;
    }
    if x <= 0.0 && x.fract() == 0.0 {
        return f64::NAN;
    }
    if n == 0.0 {
        return digamma(x);
    }
    if x == f64::INFINITY {
        return if (n * 0.5).floor() != n * 0.5 { 0.0 } else { -0.0 };
    }
    if x < -1000.0 {
        return f64::NAN;
    }
    // ψ⁽ⁿ⁾(x) = (−1)ⁿ⁺¹ [Σₖ n!/(x+k)ⁿ⁺¹ + the series at z = x + shift].
    let (mut z, mut head) = (x, 0.0);
    let start = SHIFT_TO + n;
    while z < start {
        head += factorial_over_power(z, n);
        z += 1.0;
    }
    // (n−1)!/zⁿ · [1 + n/(2z) + Σₖ B₂ₖ (2k+n−1)!/((n−1)!(2k)!) z^−2k].
    let inverse = 1.0 / z;
    let inverse2 = inverse * inverse;
    let mut series = 0.0;
    let mut coefficients = [0.0; BERNOULLI.len()];
    let mut ratio = 1.0; // (2k+n−1)!/((n−1)!(2k)!)
    for (k, c) in coefficients.iter_mut().enumerate() {
        let k2 = 2.0 * (k as f64 + 1.0);
        ratio *= (k2 + n - 2.0) * (k2 + n - 1.0) / ((k2 - 1.0) * k2);
        *c = BERNOULLI[k] * ratio;
    }
    for c in coefficients.iter().rev() {
        series = (series + c) * inverse2;
    }
    let first = factorial_over_power(z, n - 1.0);
    let value = head + first * (1.0 + 0.5 * n * inverse + series);
    if (n * 0.5).floor() != n * 0.5 { value } else { -value }
}

/// m!/z^(m+1) as the running product (1/z)·(1/z)·(2/z)·…·(m/z): neither m! nor z^(m+1) is
/// formed (each leaves f32's range, on the GPU's f32 path, long before their quotient does).
fn factorial_over_power(z: f64, m: f64) -> f64 {
    let mut p = 1.0 / z;
    let mut j = 1.0;
    while j <= m {
        p *= j / z;
        j += 1.0;
    }
    p
}

/// ψ(x) = Γ′(x)/Γ(x).
fn digamma(x: f64) -> f64 {
    if x == f64::INFINITY {
        return x;
    }
    if x == f64::NEG_INFINITY {
        return f64::NAN;
    }
    if x < 0.0 {
        // ψ(x) = ψ(1 − x) − π/tan(πx), tan(πx) = sin(πx)/sin(π(x + ½)).
        let t = sin_pi(x) / sin_pi(x + 0.5);
        return digamma_positive(1.0 - x) - std::f64::consts::PI / t;
    }
    digamma_positive(x)
}

/// ψ(x) for x > 0: ψ(x) = ψ(x + k) − Σ 1/(x + j), then the asymptotic series.
fn digamma_positive(x: f64) -> f64 {
    let (mut z, mut head) = (x, 0.0);
    while z < SHIFT_TO {
        head -= 1.0 / z;
        z += 1.0;
    }
    // ln z − 1/(2z) − Σₖ B₂ₖ/(2k z^2k).
    let inverse2 = 1.0 / (z * z);
    let mut series = 0.0;
    for (k, b) in BERNOULLI.iter().enumerate().rev() {
        series = (series + b / (2.0 * (k as f64 + 1.0))) * inverse2;
    }
    head + z.ln() - 0.5 / z - series
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn special_values() {
        // Absolute near the zeros 1 and 2: the shifted series cancels (1.8e-15 measured).
        assert!(lgamma(1.0).abs() < 4e-15);
        assert!(lgamma(2.0).abs() < 4e-15);
        assert!((lgamma(0.5) - std::f64::consts::PI.sqrt().ln()).abs() < 4e-15);
        assert_eq!(lgamma(0.0), f64::INFINITY);
        assert_eq!(lgamma(-3.0), f64::INFINITY);
        assert!((polygamma(0.0, 1.0) + 0.577_215_664_901_532_9).abs() < 1e-15);
        assert!((polygamma(1.0, 1.0) - std::f64::consts::PI.powi(2) / 6.0).abs() < 1e-15);
        assert!(polygamma(0.0, 0.0).is_nan() && polygamma(1.5, 2.0).is_nan() && polygamma(-1.0, 2.0).is_nan());
    }
}
