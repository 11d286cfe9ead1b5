//! Robust loss functions, as scipy's `least_squares`: ρ(z) of z = (r / f_scale)², with its
//! first and second derivatives. The cost is ½ Σ f_scale²·ρ(z_i).
//!
//! Shared by the solver (dense path) and the compiled streaming kernels (which call
//! [`Loss::point`] through a shim), so both scale residuals and Jacobian rows identically.

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

    /// A stable code for compiled kernels (`from_code` inverts it).
    pub fn code(self) -> f64 {
        match self {
            Loss::Linear => 0.0,
            Loss::SoftL1 => 1.0,
            Loss::Huber => 2.0,
            Loss::Cauchy => 3.0,
            Loss::Arctan => 4.0,
        }
    }

    pub fn from_code(code: f64) -> Loss {
        match code as i64 {
            1 => Loss::SoftL1,
            2 => Loss::Huber,
            3 => Loss::Cauchy,
            4 => Loss::Arctan,
            _ => Loss::Linear,
        }
    }

    /// For one residual r with c2 = f_scale²: (f_scale²·ρ(z), the scaled residual, the scale
    /// of its Jacobian row) — scipy's `scale_for_robust_loss_function`, term by term.
    #[inline]
    pub fn point(self, r: f64, c2: f64) -> (f64, f64, f64) {
        let z = r * r / c2;
        let (rho0, rho1, rho2) = self.rho(z);
        let mut j_scale = rho1 + 2.0 * (rho2 / c2) * r * r;
        if j_scale < f64::EPSILON {
            j_scale = f64::EPSILON;
        }
        let j_scale = j_scale.sqrt();
        (c2 * rho0, r * (rho1 / j_scale), j_scale)
    }

    /// ½ Σ f_scale²·ρ((r/f_scale)²).
    pub fn cost(self, residuals: &[f64], f_scale: f64) -> f64 {
        if self == Loss::Linear {
            return 0.5 * residuals.iter().map(|r| r * r).sum::<f64>();
        }
        let c2 = f_scale * f_scale;
        0.5 * residuals.iter().map(|r| self.point(*r, c2).0).sum::<f64>()
    }

    /// Rescales residuals and Jacobian rows so that the Gauss–Newton model of the robust
    /// cost is a least-squares model (scipy's `scale_for_robust_loss_function`).
    pub fn scale(self, residuals: &mut [f64], jacobian: &mut [f64], n: usize, f_scale: f64) {
        if self == Loss::Linear {
            return;
        }
        let c2 = f_scale * f_scale;
        for (i, r) in residuals.iter_mut().enumerate() {
            let (_, scaled, j_scale) = self.point(*r, c2);
            *r = scaled;
            for d in &mut jacobian[i * n..(i + 1) * n] {
                *d *= j_scale;
            }
        }
    }
}

/// A loss and its residual scale, as the streaming kernels take them.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct LossSpec {
    pub loss: Loss,
    pub f_scale: f64,
}

impl LossSpec {
    pub const LINEAR: LossSpec = LossSpec { loss: Loss::Linear, f_scale: 1.0 };

    pub fn is_linear(&self) -> bool {
        self.loss == Loss::Linear
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
