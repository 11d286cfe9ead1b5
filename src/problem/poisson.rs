//! The Poisson maximum-likelihood estimator for count data (Gpufit's MLE), as least squares:
//! the deviance residuals d_i = sign(f_i − y_i)·√(2(f_i − y_i − y_i ln(f_i/y_i))) have Σd² equal
//! to −2 ln L up to a constant, so minimizing it is maximizing the Poisson likelihood.

use crate::solve::{Problem, SolveError};

/// Wraps a problem whose residuals are f_i − y_i (unweighted) into deviance residuals.
pub struct PoissonProblem<'a> {
    inner: &'a mut dyn Problem,
    y: &'a [f64],
    raw: Vec<f64>,
}

impl<'a> PoissonProblem<'a> {
    pub fn new(inner: &'a mut dyn Problem, y: &'a [f64]) -> Self {
        let m = y.len();
        PoissonProblem { inner, y, raw: vec![0.0; m] }
    }
}

/// The deviance residual of a count y for a mean f (NaN for f ≤ 0).
pub fn deviance_residual(f: f64, y: f64) -> f64 {
    if f.is_nan() || f <= 0.0 {
        return f64::NAN;
    }
    // 2(f − y − y ln(f/y)) = 2y(t − ln(1+t)) with t = (f − y)/y, without the cancellation of
    // the direct form where f ≈ y.
    let d2 = if y > 0.0 { 2.0 * y * t_minus_log1p((f - y) / y) } else { 2.0 * f };
    d2.max(0.0).sqrt().copysign(f - y)
}

/// t − ln(1 + t), by its series where it is small.
fn t_minus_log1p(t: f64) -> f64 {
    if t.abs() < 1e-2 {
        let mut term = t * t;
        let mut sum = 0.0;
        for k in 2..=9 {
            let sign = if k % 2 == 0 { 1.0 } else { -1.0 };
            sum += sign * term / k as f64;
            term *= t;
        }
        sum
    } else {
        t - t.ln_1p()
    }
}

/// ∂d/∂f: (1 − y/f)/d, or its limit 1/√f where f ≈ y.
fn deviance_slope(f: f64, y: f64, d: f64) -> f64 {
    if (f - y).abs() > 1e-6 * f.max(1.0) { (1.0 - y / f) / d } else { 1.0 / f.sqrt() }
}

impl Problem for PoissonProblem<'_> {
    fn n_residuals(&self) -> usize {
        self.inner.n_residuals()
    }

    fn n_params(&self) -> usize {
        self.inner.n_params()
    }

    fn residuals(&mut self, params: &[f64], out: &mut [f64]) -> Result<(), SolveError> {
        self.inner.residuals(params, &mut self.raw)?;
        for ((o, r), y) in out.iter_mut().zip(&self.raw).zip(self.y) {
            *o = deviance_residual(r + y, *y);
        }
        Ok(())
    }

    fn jacobian(&mut self, params: &[f64], residuals: &[f64], out: &mut [f64]) -> Result<(), SolveError> {
        self.inner.residuals(params, &mut self.raw)?;
        let raw = self.raw.clone();
        self.inner.jacobian(params, &raw, out)?;
        let n = self.n_params();
        for i in 0..self.y.len() {
            let slope = deviance_slope(raw[i] + self.y[i], self.y[i], residuals[i]);
            for d in &mut out[i * n..(i + 1) * n] {
                *d *= slope;
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn deviance_residuals() {
        assert_eq!(deviance_residual(3.0, 3.0), 0.0);
        assert!(deviance_residual(5.0, 3.0) > 0.0 && deviance_residual(1.0, 3.0) < 0.0);
        assert!((deviance_residual(2.0, 0.0) - 2.0).abs() < 1e-15); // √(2·2)
        assert!(deviance_residual(0.0, 1.0).is_nan());
        // The slope is d(d)/df, checked by a central difference.
        for (f, y) in [(5.0, 3.0), (1.0, 3.0), (2.0, 0.0), (3.0 + 1e-9, 3.0)] {
            let h = 1e-6 * f;
            let fd = (deviance_residual(f + h, y) - deviance_residual(f - h, y)) / (2.0 * h);
            let slope = deviance_slope(f, y, deviance_residual(f, y));
            assert!((slope - fd).abs() < 1e-5 * fd.abs().max(1.0), "f {f} y {y}: {slope} vs {fd}");
        }
    }
}
