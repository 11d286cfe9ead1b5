//! Bootstrap intervals: the fit repeated on resampled data sets, in parallel, and the
//! percentiles of each parameter over the refits that converged.
//!
//! Residual resampling keeps the points and adds resampled residuals to the fitted curve:
//! y*_i = f_i + σ_i·e*_i, the e* drawn with replacement from the (σ-weighted) residuals scaled by
//! √(m / (m − n)) (their shrinkage corrected, Davison & Hinkley §6.2). Case resampling draws
//! whole points with replacement. Each data set comes from its own seeded generator (the seed
//! and its index), so results do not depend on the thread count.

use super::levels::Level;
use super::{Callbacks, Data, Estimator, Fit, FitError, FitSource, run_fit};
use rayon::prelude::*;
use std::time::Instant;

/// How the data sets are resampled.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Resampling {
    Residuals,
    Cases,
}

impl Resampling {
    pub fn from_name(name: &str) -> Option<Resampling> {
        match name {
            "residuals" => Some(Resampling::Residuals),
            "cases" => Some(Resampling::Cases),
            _ => None,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Resampling::Residuals => "residuals",
            Resampling::Cases => "cases",
        }
    }
}

#[derive(Clone, Debug, serde::Serialize)]
pub struct Bootstrap {
    pub resampling: Resampling,
    pub samples: usize,
    pub seed: u64,
    /// Refits that did not converge (or failed): left out of the percentiles.
    pub failed: usize,
    pub parameters: Vec<BootstrapParameter>,
    pub seconds: f64,
}

#[derive(Clone, Debug, serde::Serialize)]
pub struct BootstrapParameter {
    pub name: String,
    pub value: f64,
    /// Mean and standard deviation over the converged refits.
    pub mean: f64,
    pub std: f64,
    /// Per level: the (1 − p)/2 and (1 + p)/2 percentiles (linear interpolation, numpy's default).
    pub intervals: Vec<(Level, f64, f64)>,
}

/// SplitMix64: a small, well-mixed generator; one per data set.
struct SplitMix(u64);

impl SplitMix {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// Uniform in 0..n (Lemire's multiply-shift; the bias is below 2^-40 for any data size here).
    fn below(&mut self, n: usize) -> usize {
        ((self.next() as u128 * n as u128) >> 64) as usize
    }
}

impl Fit {
    /// `samples` refits on resampled data (see the module documentation), started from this
    /// fit's values, with its options; percentile intervals at each level.
    pub fn bootstrap(
        &self,
        samples: usize,
        resampling: Resampling,
        seed: u64,
        levels: &[Level],
    ) -> Result<Bootstrap, FitError> {
        let started = Instant::now();
        let source = self.source()?;
        for level in levels {
            level.check().map_err(FitError::Invalid)?;
        }
        if samples < 2 {
            return Err(FitError::Invalid("a bootstrap needs at least 2 samples".into()));
        }
        let model = &source.model;
        let data = &source.data;
        let m = data.len();
        let vars: Vec<&[f64]> = model.vars().iter().map(|v| data.column(v).unwrap_or(&[])).collect();
        // For residual resampling: the curve and the scaled, weighted residuals.
        let (curve, residuals) = if resampling == Resampling::Residuals {
            if source.options.estimator == Estimator::Poisson {
                return Err(FitError::Invalid(
                    "residual resampling does not apply to Poisson counts (resample cases)".into(),
                ));
            }
            if !source.errors_in_x.is_empty() {
                return Err(FitError::Invalid(
                    "residual resampling adds residuals to the curve, but with errors in x the points move in x \
                     too (resample cases)"
                        .into(),
                ));
            }
            if model.transforms_response() {
                return Err(FitError::Invalid(
                    "residual resampling adds residuals to y, but this model's left side transforms y (resample \
                     cases)"
                        .into(),
                ));
            }
            let curve = self.predict(data)?;
            let inflate = (m as f64 / self.dof.max(1) as f64).sqrt();
            let residuals: Vec<f64> = (0..m)
                .map(|i| {
                    let sigma = data.sigma_values().map_or(1.0, |s| s[i]);
                    (data.response()[i] - curve[i]) / sigma * inflate
                })
                .collect();
            (curve, residuals)
        } else {
            (Vec::new(), Vec::new())
        };
        let refits: Vec<Option<Vec<f64>>> = (0..samples)
            .into_par_iter()
            .map(|k| {
                let mut rng = SplitMix(seed ^ (k as u64).wrapping_mul(0xd134_2543_de82_ef95));
                rng.next();
                let sample = match resampling {
                    Resampling::Residuals => {
                        let y: Vec<f64> = (0..m)
                            .map(|i| {
                                let sigma = data.sigma_values().map_or(1.0, |s| s[i]);
                                curve[i] + sigma * residuals[rng.below(m)]
                            })
                            .collect();
                        let mut d = data.clone().y(y);
                        if let Some(s) = data.sigma_values() {
                            d = d.sigma(s.to_vec());
                        }
                        d
                    }
                    Resampling::Cases => {
                        let rows: Vec<usize> = (0..m).map(|_| rng.below(m)).collect();
                        let pick = |c: &[f64]| rows.iter().map(|i| c[*i]).collect::<Vec<f64>>();
                        let mut d = Data::new().y(pick(data.response()));
                        for (name, column) in model.vars().iter().zip(&vars) {
                            d = d.var(name, pick(column));
                        }
                        if let Some(s) = data.sigma_values() {
                            d = d.sigma(pick(s));
                        }
                        d
                    }
                };
                refit(source, &sample, &self.values)
            })
            .collect();
        let good: Vec<&Vec<f64>> = refits.iter().flatten().collect();
        let failed = samples - good.len();
        let mut parameters = Vec::new();
        for k in (0..self.values.len()).filter(|k| !self.fixed[*k]) {
            let mut values: Vec<f64> = good.iter().map(|v| v[k]).collect();
            values.sort_by(f64::total_cmp);
            let n = values.len();
            let mean = values.iter().sum::<f64>() / n.max(1) as f64;
            let std = if n > 1 {
                (values.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / (n - 1) as f64).sqrt()
            } else {
                f64::NAN
            };
            let intervals = levels
                .iter()
                .map(|level| {
                    let p = level.probability();
                    (*level, percentile(&values, (1.0 - p) / 2.0), percentile(&values, (1.0 + p) / 2.0))
                })
                .collect();
            parameters.push(BootstrapParameter {
                name: self.param_names[k].clone(),
                value: self.values[k],
                mean,
                std,
                intervals,
            });
        }
        Ok(Bootstrap { resampling, samples, seed, failed, parameters, seconds: started.elapsed().as_secs_f64() })
    }
}

/// The q-quantile of sorted values, linearly interpolated (numpy's default); NaN when empty.
fn percentile(sorted: &[f64], q: f64) -> f64 {
    match sorted.len() {
        0 => f64::NAN,
        1 => sorted[0],
        n => {
            let at = q * (n - 1) as f64;
            let (lo, frac) = (at.floor() as usize, at - at.floor());
            let hi = (lo + 1).min(n - 1);
            sorted[lo] + frac * (sorted[hi] - sorted[lo])
        }
    }
}

/// One refit on a resampled data set; `None` when it fails or does not converge.
fn refit(source: &FitSource, data: &Data, start: &[f64]) -> Option<Vec<f64>> {
    let options = source.refit_options(start);
    let fit = run_fit(&source.model, data, &options, Callbacks::default()).ok()?;
    fit.status.converged().then_some(fit.values)
}
