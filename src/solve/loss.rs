//! Robust loss functions, as scipy's `least_squares`: ρ(z) of z = (r / f_scale)², with its
//! first and second derivatives. The cost is ½ Σ f_scale²·ρ(z_i).

use serde::{Deserialize, Serialize};

/// The loss applied to each residual.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Loss {
    /// ρ(z) = z: ordinary least squares.
    #[default]
    Linear,
    /// ρ(z) = 2(√(1+z) − 1): a smooth approximation of the absolute value.
    SoftL1,
    /// ρ(z) = z for z ≤ 1, 2√z − 1 beyond.
    Huber,
    /// ρ(z) = ln(1+z).
    Cauchy,
    /// ρ(z) = arctan(z).
    Arctan,
}

impl Loss {
    pub fn name(self) -> &'static str {
        match self {
            Loss::Linear => "linear",
            Loss::SoftL1 => "soft_l1",
            Loss::Huber => "huber",
            Loss::Cauchy => "cauchy",
            Loss::Arctan => "arctan",
        }
    }

    pub fn from_name(name: &str) -> Option<Loss> {
        [Loss::Linear, Loss::SoftL1, Loss::Huber, Loss::Cauchy, Loss::Arctan].into_iter().find(|l| l.name() == name)
    }

    /// (ρ, ρ′, ρ″) at z.
    pub fn rho(self, z: f64) -> (f64, f64, f64) {
        match self {
            Loss::Linear => (z, 1.0, 0.0),
            Loss::SoftL1 => {
                let t = 1.0 + z;
                (2.0 * (t.sqrt() - 1.0), t.powf(-0.5), -0.5 * t.powf(-1.5))
            }
            Loss::Huber => {
                if z <= 1.0 {
                    (z, 1.0, 0.0)
                } else {
                    let s = z.sqrt();
                    (2.0 * s - 1.0, 1.0 / s, -0.5 / (z * s))
                }
            }
            Loss::Cauchy => {
                let t = 1.0 + z;
                (z.ln_1p(), 1.0 / t, -1.0 / (t * t))
            }
            Loss::Arctan => {
                let t = 1.0 + z * z;
                (z.atan(), 1.0 / t, -2.0 * z / (t * t))
            }
        }
    }

    /// ½ Σ f_scale²·ρ((r/f_scale)²).
    pub fn cost(self, residuals: &[f64], f_scale: f64) -> f64 {
        if self == Loss::Linear {
            return 0.5 * residuals.iter().map(|r| r * r).sum::<f64>();
        }
        let c2 = f_scale * f_scale;
        0.5 * residuals.iter().map(|r| c2 * self.rho(r * r / c2).0).sum::<f64>()
    }

    /// Rescales residuals and Jacobian rows so that the Gauss–Newton model of the robust
    /// cost is a least-squares model (scipy's `scale_for_robust_loss_function`).
    pub fn scale(self, residuals: &mut [f64], jacobian: &mut [f64], n: usize, f_scale: f64) {
        if self == Loss::Linear {
            return;
        }
        let c2 = f_scale * f_scale;
        for (i, r) in residuals.iter_mut().enumerate() {
            let z = *r * *r / c2;
            let (_, rho1, rho2) = self.rho(z);
            // In scipy's units: ρ″ is divided by f_scale², and f² = r².
            let mut j_scale = rho1 + 2.0 * (rho2 / c2) * *r * *r;
            if j_scale < f64::EPSILON {
                j_scale = f64::EPSILON;
            }
            let j_scale = j_scale.sqrt();
            *r *= rho1 / j_scale;
            for d in &mut jacobian[i * n..(i + 1) * n] {
                *d *= j_scale;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// ρ′ and ρ″ agree with central differences of ρ.
    #[test]
    fn derivatives_match_finite_differences() {
        for loss in [Loss::Linear, Loss::SoftL1, Loss::Huber, Loss::Cauchy, Loss::Arctan] {
            for z in [0.1, 0.5, 0.9, 1.5, 4.0, 30.0] {
                let h = 1e-5 * z;
                let (_, d1, d2) = loss.rho(z);
                let fd1 = (loss.rho(z + h).0 - loss.rho(z - h).0) / (2.0 * h);
                let fd2 = (loss.rho(z + h).1 - loss.rho(z - h).1) / (2.0 * h);
                assert!((d1 - fd1).abs() < 1e-7 * (1.0 + d1.abs()), "{loss:?} ρ′ at {z}");
                assert!((d2 - fd2).abs() < 1e-6 * (1.0 + d2.abs()), "{loss:?} ρ″ at {z}");
            }
        }
    }
}
