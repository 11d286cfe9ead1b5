//! Confidence levels and the quantiles behind intervals and bands: the normal distribution
//! where σ is known (`absolute_sigma`, Poisson), Student's t with the fit's degrees of
//! freedom where σ is estimated from the residuals (lmfit's and curve_fit's convention).

use std::f64::consts::SQRT_2;

/// A confidence level, as a number of standard deviations (1σ ≈ 68.27 %) or as a probability.
#[derive(Clone, Copy, Debug, PartialEq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Level {
    Sigma(f64),
    Probability(f64),
}

impl Level {
    /// `1`, `2`, `2.5` are σ multiples (≥ 1); `0.95` is a probability (between 0 and 1) —
    /// lmfit's `conf_interval(sigmas=…)` convention.
    pub fn parse(text: &str) -> Result<Level, String> {
        let value: f64 = text
            .trim()
            .parse()
            .map_err(|_| format!("`{text}` is not a number (a σ multiple like 1 or 2, or a probability like 0.95)"))?;
        if value > 0.0 && value < 1.0 {
            Ok(Level::Probability(value))
        } else if (1.0..=8.0).contains(&value) {
            Ok(Level::Sigma(value))
        } else {
            Err(format!("`{text}` is neither a probability (between 0 and 1) nor a σ multiple (from 1 to 8)"))
        }
    }

    /// The two-sided probability: P(|Z| ≤ n) for `Sigma(n)`.
    pub fn probability(self) -> f64 {
        match self {
            Level::Sigma(n) => libm::erf(n / SQRT_2),
            Level::Probability(p) => p,
        }
    }

    /// `1σ`, `2.5σ`, `95%`.
    pub fn label(self) -> String {
        match self {
            Level::Sigma(n) => format!("{n}σ"),
            Level::Probability(p) => format!("{}%", trim(100.0 * p)),
        }
    }

    pub(crate) fn check(self) -> Result<(), String> {
        match self {
            Level::Sigma(n) if n.is_finite() && n > 0.0 && n <= 8.0 => Ok(()),
            Level::Probability(p) if p > 0.0 && p < 1.0 => Ok(()),
            _ => Err(format!("the confidence level {self:?} is not a σ multiple in (0, 8] or a probability in (0, 1)")),
        }
    }
}

/// 95.449973…% → "95.45", 68.0 → "68".
fn trim(percent: f64) -> String {
    let text = format!("{percent:.4}");
    text.trim_end_matches('0').trim_end_matches('.').to_owned()
}

/// How a fit's uncertainty scale is known, which decides the quantiles.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case", tag = "kind")]
pub enum Scale {
    /// σ are absolute (or Poisson counts): normal quantiles, Δχ² thresholds.
    Known,
    /// σ are estimated from the residuals (χ²/dof): Student t quantiles, the F-test.
    Estimated { dof: usize },
}

impl Scale {
    /// z (known) or t_dof (estimated) with P(|·| ≤ q) = p.
    pub fn quantile(self, p: f64) -> f64 {
        match self {
            Scale::Known => normal_two_sided(p),
            Scale::Estimated { dof } => student_two_sided(p, dof as f64),
        }
    }
}

/// z with P(|Z| ≤ z) = p for a standard normal Z.
pub fn normal_two_sided(p: f64) -> f64 {
    SQRT_2 * puruspe::inverf(p)
}

/// t with P(|T| ≤ t) = p for Student's T with `nu` degrees of freedom (`nu` ≥ 1).
///
/// P(|T| > t) = I_x(ν/2, ½) with x = ν/(ν + t²): the inverse incomplete beta function, polished
/// by Newton steps on the same relation; above 1000 degrees of freedom the Cornish–Fisher
/// expansion to 1/ν⁴ (Abramowitz & Stegun 26.7.5), whose next term is below 1e-12 relative
/// there.
pub fn student_two_sided(p: f64, nu: f64) -> f64 {
    if nu > 1000.0 {
        let z = normal_two_sided(p);
        let z2 = z * z;
        let g1 = (z2 + 1.0) * z / 4.0;
        let g2 = ((5.0 * z2 + 16.0) * z2 + 3.0) * z / 96.0;
        let g3 = (((3.0 * z2 + 19.0) * z2 + 17.0) * z2 - 15.0) * z / 384.0;
        let g4 = ((((79.0 * z2 + 776.0) * z2 + 1482.0) * z2 - 1920.0) * z2 - 945.0) * z / 92160.0;
        return z + (g1 + (g2 + (g3 + g4 / nu) / nu) / nu) / nu;
    }
    let (a, b) = (nu / 2.0, 0.5);
    let tail = 1.0 - p;
    let mut x = puruspe::invbetai(tail, a, b);
    // Newton on I_x(a, b) = tail: dI/dx = x^(a−1) (1−x)^(b−1) / B(a, b).
    let log_beta = puruspe::ln_gamma(a) + puruspe::ln_gamma(b) - puruspe::ln_gamma(a + b);
    for _ in 0..3 {
        if !(x > 0.0 && x < 1.0) {
            break;
        }
        let density = ((a - 1.0) * x.ln() + (b - 1.0) * (1.0 - x).ln() - log_beta).exp();
        let step = (puruspe::betai(a, b, x) - tail) / density;
        let next = x - step;
        if !(next > 0.0 && next < 1.0) || step.abs() <= 1e-16 * x {
            break;
        }
        x = next;
    }
    (nu * (1.0 - x) / x).sqrt()
}
