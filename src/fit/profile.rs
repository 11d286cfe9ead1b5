//! Profile-likelihood confidence intervals: one parameter is held at values along a scan while
//! the others are refitted (warm-started from the nearest point already fitted), and each
//! interval's end is where the objective 2·cost has risen by the level's threshold:
//! Δχ² = z² where σ is known (or the deviance, Poisson), the F-test form
//! χ²_min · t²_dof / dof where σ is estimated from the residuals (lmfit's `conf_interval`).
//!
//! The root is found on √Δ(t) − √threshold, which is nearly linear in t (Δ is nearly quadratic
//! near the minimum), so a few refits per end suffice; every end that cannot be found is
//! reported as such, per parameter and side, never as an error of the whole profile.

use super::levels::{Level, Scale};
use super::{Callbacks, Estimator, Fit, FitError, FitSource, run_fit};
use crate::solve::Loss;
use rayon::prelude::*;
use std::time::Instant;

/// The profile intervals of every free parameter.
#[derive(Clone, Debug, serde::Serialize)]
pub struct Profile {
    pub test: ProfileTest,
    pub parameters: Vec<ParameterProfile>,
    /// Refits run, over every parameter and side.
    pub refits: usize,
    pub seconds: f64,
}

/// How an interval's threshold is set.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case", tag = "kind")]
pub enum ProfileTest {
    /// σ known: Δχ² = z².
    ChiSquare,
    /// Poisson: the deviance rises by z².
    Deviance,
    /// σ estimated from the residuals: χ² ≤ χ²_min (1 + t²_dof / dof).
    FTest { dof: usize },
}

impl ProfileTest {
    pub fn describe(self) -> String {
        match self {
            ProfileTest::ChiSquare => "Δχ² = z² (σ known)".into(),
            ProfileTest::Deviance => "Δdeviance = z² (Poisson likelihood)".into(),
            ProfileTest::FTest { dof } => {
                format!(
                    "F-test, σ estimated from the residuals: χ² ≤ χ²_min·(1 + t²/{dof}), t of Student's t with {dof} dof"
                )
            }
        }
    }
}

#[derive(Clone, Debug, serde::Serialize)]
pub struct ParameterProfile {
    pub name: String,
    pub value: f64,
    pub intervals: Vec<Interval>,
    /// Every point fitted, in order of the parameter's value: (value, Δ objective).
    pub curve: Vec<(f64, f64)>,
}

#[derive(Clone, Debug, serde::Serialize)]
pub struct Interval {
    pub level: Level,
    pub probability: f64,
    /// The rise of 2·cost that ends the interval.
    pub threshold: f64,
    pub lower: Limit,
    pub upper: Limit,
}

/// One end of an interval.
#[derive(Clone, Debug, PartialEq, serde::Serialize)]
#[serde(rename_all = "snake_case", tag = "kind")]
pub enum Limit {
    Found {
        value: f64,
    },
    /// The parameter's bound was reached with the objective still below the threshold.
    AtBound {
        value: f64,
    },
    /// The objective never rose to the threshold up to this value (the data do not close the
    /// interval on this side).
    Open {
        searched_to: f64,
    },
    Failed {
        reason: String,
    },
}

impl Limit {
    pub fn value(&self) -> Option<f64> {
        match self {
            Limit::Found { value } => Some(*value),
            _ => None,
        }
    }
}

impl Fit {
    /// Profile-likelihood intervals of every free parameter at each level (see the module
    /// documentation). The fit must have converged, under the linear loss (a robust cost is
    /// not a likelihood).
    ///
    /// ```
    /// use jitfit::{Data, Level, Limit};
    /// let x: Vec<f64> = (0..40).map(|i| i as f64 / 4.0).collect();
    /// let y: Vec<f64> = x.iter().enumerate()
    ///     .map(|(i, x)| 3.0 * (-0.7 * x).exp() + 0.5 + 0.01 * ((i * 7 % 11) as f64 - 5.0))
    ///     .collect();
    /// let fit = jitfit::compile("a*exp(-b*x) + c").unwrap()
    ///     .fit(&Data::new().var("x", x).y(y)).p0(&[1.0, 1.0, 0.0]).run().unwrap();
    /// let profile = fit.profile(&[Level::Sigma(1.0)]).unwrap();
    /// let b = &profile.parameters[1];
    /// let (Limit::Found { value: lo }, Limit::Found { value: hi }) = (&b.intervals[0].lower, &b.intervals[0].upper)
    /// else { panic!("both ends found") };
    /// assert!(*lo < fit.values[1] && fit.values[1] < *hi);
    /// // Near-quadratic here: the profile agrees with ± stderr to a few percent.
    /// assert!(((hi - lo) / (2.0 * fit.std_errors[1]) - 1.0).abs() < 0.05);
    /// ```
    pub fn profile(&self, levels: &[Level]) -> Result<Profile, FitError> {
        let started = Instant::now();
        let source = self.source()?;
        if levels.is_empty() {
            return Err(FitError::Invalid("a profile needs at least one confidence level".into()));
        }
        for level in levels {
            level.check().map_err(FitError::Invalid)?;
        }
        self.check_profilable()?;
        let scale = self.scale();
        let test = match (self.estimator, scale) {
            (Estimator::Poisson, _) => ProfileTest::Deviance,
            (_, Scale::Known) => ProfileTest::ChiSquare,
            (_, Scale::Estimated { dof }) => ProfileTest::FTest { dof },
        };
        let best = 2.0 * self.cost;
        // Thresholds in increasing order, each level's index kept.
        let mut order: Vec<(usize, f64)> = levels
            .iter()
            .enumerate()
            .map(|(i, level)| {
                let q = scale.quantile(level.probability());
                let threshold = match scale {
                    Scale::Known => q * q,
                    Scale::Estimated { dof } => best * q * q / dof as f64,
                };
                (i, threshold)
            })
            .collect();
        order.sort_by(|a, b| a.1.total_cmp(&b.1));
        let free: Vec<usize> = (0..self.values.len()).filter(|k| !self.fixed[*k]).collect();
        let jobs: Vec<(usize, f64)> = free.iter().flat_map(|k| [(*k, -1.0), (*k, 1.0)]).collect();
        let sides: Vec<SideResult> = jobs
            .par_iter()
            .map(|&(k, dir)| Scan { fit: self, source, k, dir, best, refits: 0, curve: Vec::new() }.run(&order))
            .collect();
        let mut parameters = Vec::new();
        let mut refits = 0;
        for (k, pair) in free.iter().zip(sides.chunks(2)) {
            let (below, above) = (&pair[0], &pair[1]);
            refits += below.refits + above.refits;
            let intervals = levels
                .iter()
                .enumerate()
                .map(|(i, level)| {
                    let slot = order.iter().position(|(j, _)| *j == i).expect("every level is ordered");
                    Interval {
                        level: *level,
                        probability: level.probability(),
                        threshold: order[slot].1,
                        lower: below.limits[slot].clone(),
                        upper: above.limits[slot].clone(),
                    }
                })
                .collect();
            let mut curve: Vec<(f64, f64)> =
                below.curve.iter().chain(&above.curve).copied().chain([(self.values[*k], 0.0)]).collect();
            curve.sort_by(|a, b| a.0.total_cmp(&b.0));
            parameters.push(ParameterProfile {
                name: self.param_names[*k].clone(),
                value: self.values[*k],
                intervals,
                curve,
            });
        }
        Ok(Profile { test, parameters, refits, seconds: started.elapsed().as_secs_f64() })
    }

    /// What a profile (or a contour) needs: the linear loss, a converged fit, and a scale.
    pub(super) fn check_profilable(&self) -> Result<(), FitError> {
        if self.loss != Loss::Linear {
            return Err(FitError::Invalid(format!(
                "profile intervals and contours need the linear loss: the {} loss's cost is not a likelihood",
                self.loss.name()
            )));
        }
        if !self.status.converged() {
            return Err(FitError::Invalid(format!(
                "profile intervals and contours need a converged fit (this one stopped: {})",
                self.message
            )));
        }
        if self.scale() == (Scale::Estimated { dof: 0 }) {
            return Err(FitError::Invalid(
                "no degrees of freedom left to estimate σ from the residuals: profile intervals and contours need σ known \
                 (absolute sigma) or more points than free parameters"
                    .into(),
            ));
        }
        Ok(())
    }
}

struct SideResult {
    /// One per level, in the order of increasing threshold.
    limits: Vec<Limit>,
    curve: Vec<(f64, f64)>,
    refits: usize,
}

/// A point of the scan: the held value, Δ objective there, and every parameter's value.
#[derive(Clone)]
struct Point {
    t: f64,
    delta: f64,
    values: Vec<f64>,
}

/// The scan of one parameter to one side.
struct Scan<'a> {
    fit: &'a Fit,
    source: &'a FitSource,
    k: usize,
    dir: f64,
    best: f64,
    refits: usize,
    curve: Vec<(f64, f64)>,
}

/// Expansions of the search before a side is declared open.
const MAX_EXPANSIONS: usize = 40;
/// Root-finding steps per end.
const MAX_ROOT_STEPS: usize = 60;

impl Scan<'_> {
    fn run(mut self, order: &[(usize, f64)]) -> SideResult {
        let mut limits = Vec::with_capacity(order.len());
        let center = self.fit.values[self.k];
        let mut inside = Point { t: center, delta: 0.0, values: self.fit.values.clone() };
        let mut ended: Option<Limit> = None;
        for &(_, threshold) in order {
            if let Some(end) = &ended {
                limits.push(end.clone());
                continue;
            }
            match self.crossing(&mut inside, threshold) {
                Ok(limit) => {
                    if !matches!(limit, Limit::Found { .. }) {
                        ended = Some(limit.clone());
                    }
                    limits.push(limit);
                }
                Err(reason) => {
                    let failed = Limit::Failed { reason };
                    ended = Some(failed.clone());
                    limits.push(failed);
                }
            }
        }
        SideResult { limits, curve: self.curve, refits: self.refits }
    }

    /// The end of one level's interval, starting from the last point inside (which moves out).
    fn crossing(&mut self, inside: &mut Point, threshold: f64) -> Result<Limit, String> {
        let center = self.fit.values[self.k];
        let bound = if self.dir > 0.0 { self.fit.upper[self.k] } else { self.fit.lower[self.k] };
        let se = self.fit.std_errors[self.k];
        let unit = if se.is_finite() && se > 0.0 {
            se
        } else if center != 0.0 {
            0.1 * center.abs()
        } else {
            0.1
        };
        let root = threshold.sqrt();
        // The first guess: where a quadratic through the inside point (or the covariance's
        // curvature at the minimum) reaches the threshold.
        let mut distance = if inside.delta > 0.0 {
            (inside.t - center).abs() * root / inside.delta.sqrt()
        } else {
            unit * self.quadratic_scale(threshold)
        };
        let mut outside = None;
        for _ in 0..MAX_EXPANSIONS {
            let mut t = center + self.dir * distance;
            let at_bound = (self.dir > 0.0 && t >= bound) || (self.dir < 0.0 && t <= bound);
            if at_bound {
                t = bound;
            }
            let point = self.evaluate(t, &inside.values)?;
            if point.delta >= threshold {
                outside = Some(point);
                break;
            }
            *inside = point;
            if at_bound {
                return Ok(Limit::AtBound { value: bound });
            }
            // Extrapolate √Δ linearly from here, and at least 1.5× farther.
            let reached = (inside.t - center).abs();
            let guess = if inside.delta > 0.0 { reached * root / inside.delta.sqrt() * 1.05 } else { 0.0 };
            distance = guess.max(1.5 * reached);
            if !distance.is_finite() || distance > 1e6 * unit.max(center.abs()) {
                return Ok(Limit::Open { searched_to: inside.t });
            }
        }
        let Some(mut outside) = outside else { return Ok(Limit::Open { searched_to: inside.t }) };
        // Illinois regula falsi on g(t) = √Δ(t) − √threshold, bracketed by inside and outside.
        let g = |p: &Point| p.delta.max(0.0).sqrt() - root;
        let (mut g_in, mut g_out) = (g(inside), g(&outside));
        let mut lo = inside.clone();
        let mut side = 0i8;
        for _ in 0..MAX_ROOT_STEPS {
            let t = (lo.t * g_out - outside.t * g_in) / (g_out - g_in);
            let width = (outside.t - lo.t).abs();
            if !t.is_finite() || width <= 1e-12 * (center.abs() + unit) {
                break;
            }
            let start = if (t - lo.t).abs() < (t - outside.t).abs() { &lo.values } else { &outside.values };
            let point = self.evaluate(t, start)?;
            let gp = g(&point);
            if gp.abs() <= 1e-9 * root {
                *inside = lo;
                return Ok(Limit::Found { value: t });
            }
            if gp < 0.0 {
                lo = point;
                g_in = gp;
                if side == -1 {
                    g_out *= 0.5;
                }
                side = -1;
            } else {
                outside = point;
                g_out = gp;
                if side == 1 {
                    g_in *= 0.5;
                }
                side = 1;
            }
        }
        let t = (lo.t * g_out - outside.t * g_in) / (g_out - g_in);
        *inside = lo;
        Ok(Limit::Found { value: t })
    }

    /// The first guess in units of the standard error: the level's quantile (what the
    /// covariance would give).
    fn quadratic_scale(&self, threshold: f64) -> f64 {
        match self.fit.scale() {
            Scale::Known => threshold.sqrt(),
            Scale::Estimated { dof } => (threshold * dof as f64 / self.best).sqrt(),
        }
    }

    /// Refits with the parameter held at `t`, warm-started from `start`.
    fn evaluate(&mut self, t: f64, start: &[f64]) -> Result<Point, String> {
        self.refits += 1;
        let (objective, values) = refit(self.source, &[(self.k, t)], start)
            .map_err(|e| format!("the refit with {} = {t} failed: {e}", self.fit.param_names[self.k]))?;
        let delta = objective - self.best;
        // A lower minimum than the fit's own: the fit was not at its minimum.
        if delta < -1e-8 * self.best.max(f64::MIN_POSITIVE) - 1e-12 {
            let name = &self.fit.param_names[self.k];
            return Err(format!(
                "a lower minimum (2·cost {objective:e} < {:e}) was found at {name} = {t}: the fit had not reached \
                 its minimum; fit again from there",
                self.best
            ));
        }
        self.curve.push((t, delta));
        Ok(Point { t, delta, values })
    }
}

/// 2·cost of the best fit with the parameters `held` (index, value) held, and its parameters.
pub(super) fn refit(source: &FitSource, held: &[(usize, f64)], start: &[f64]) -> Result<(f64, Vec<f64>), FitError> {
    let mut options = source.refit_options(start);
    for &(k, t) in held {
        options.fixed[k] = Some(t);
    }
    if options.fixed.iter().all(Option::is_some) {
        let values: Vec<f64> = options.fixed.iter().map(|v| v.expect("all held")).collect();
        return Ok((objective_at(source, &values)?, values));
    }
    let fit = run_fit(&source.model, &source.data, &options, Callbacks::default())?;
    if !fit.status.converged() {
        return Err(FitError::Invalid(format!("it did not converge ({})", fit.message)));
    }
    Ok((2.0 * fit.cost, fit.values))
}

/// 2·cost at `values` with nothing refitted (the profile of a fit's only free parameter).
fn objective_at(source: &FitSource, values: &[f64]) -> Result<f64, FitError> {
    use crate::problem::{DataProblem, PoissonProblem};
    use crate::solve::Problem;
    let (model, data) = (&source.model, &source.data);
    let vars: Vec<&[f64]> = model.vars().iter().map(|v| data.column(v).unwrap_or(&[])).collect();
    let weights = super::validate::weights(data)?;
    let y = data.response();
    let mut inner = DataProblem::new(model.kernels(), vars, y, weights.as_deref());
    let mut r = vec![0.0; data.len()];
    match source.options.estimator {
        Estimator::LeastSquares => inner.residuals(values, &mut r)?,
        Estimator::Poisson => PoissonProblem::new(&mut inner, y).residuals(values, &mut r)?,
    }
    Ok(r.iter().map(|r| r * r).sum())
}
