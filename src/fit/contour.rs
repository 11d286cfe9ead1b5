//! Two-parameter confidence regions (iminuit's `mncontour`, lmfit's `conf_interval2d`): the
//! curve around the fit where the objective, minimized over the other parameters with the two
//! held, has risen by the level's threshold for two parameters — Δχ² = −2 ln(1 − p) (the χ²
//! quantile with 2 dof) where σ is known, χ²_min·((1 − p)^(−2/dof) − 1) (the F-test with 2 and
//! dof degrees of freedom) where it is estimated.
//!
//! Points are found along rays from the fit, evenly spaced in angle in the frame where the two
//! parameters' covariance is the unit circle (so an elliptical region gets even points), each
//! by the same root search on √Δ − √threshold as a profile's end; rays run in parallel.

use super::levels::{Level, Scale};
use super::profile::refit;
use super::{Fit, FitError, FitSource};
use rayon::prelude::*;
use std::time::Instant;

/// A confidence region of two parameters.
#[derive(Clone, Debug, serde::Serialize)]
pub struct Contour {
    pub x: String,
    pub y: String,
    pub level: Level,
    /// The region's probability (for a σ level, that of ±zσ in one dimension).
    pub probability: f64,
    /// The rise of 2·cost on the curve.
    pub threshold: f64,
    /// The curve, in order around the fit: (x, y) per ray that found its point.
    pub points: Vec<(f64, f64)>,
    /// Rays that did not end on the curve: at a bound (the point there is in `points`, the
    /// region is cut by the bound), open, or failed — one sentence each.
    pub notes: Vec<String>,
    pub refits: usize,
    pub seconds: f64,
}

const MAX_EXPANSIONS: usize = 40;
const MAX_ROOT_STEPS: usize = 60;

impl Fit {
    /// The confidence region of parameters `x` and `y` at `level`, as `points` points around
    /// the fit (see the module documentation).
    pub fn contour(&self, x: &str, y: &str, level: Level, points: usize) -> Result<Contour, FitError> {
        let started = Instant::now();
        let source = self.source()?;
        level.check().map_err(FitError::Invalid)?;
        self.check_profilable()?;
        let index = |name: &str| {
            let k = self.index(name).ok_or_else(|| FitError::UnknownParameter {
                name: name.to_owned(),
                known: self.param_names.join(", "),
            })?;
            if self.fixed[k] {
                return Err(FitError::Invalid(format!("`{name}` is held fixed: a contour needs two free parameters")));
            }
            Ok(k)
        };
        let (a, b) = (index(x)?, index(y)?);
        if a == b {
            return Err(FitError::Invalid("a contour needs two different parameters".into()));
        }
        if points < 4 {
            return Err(FitError::Invalid("a contour needs at least 4 points".into()));
        }
        let p = level.probability();
        let best = 2.0 * self.cost;
        let (threshold, per_unit) = match self.scale() {
            Scale::Known => (-2.0 * (1.0 - p).ln(), 1.0),
            Scale::Estimated { dof } => (best * ((1.0 - p).powf(-2.0 / dof as f64) - 1.0), best / dof as f64),
        };
        // Directions: the Cholesky factor of the 2×2 covariance maps the unit circle onto the
        // covariance ellipse, on which Δ ≈ per_unit (σ known: 1).
        let n = self.values.len();
        let (caa, cab, cbb) = (self.covariance[a * n + a], self.covariance[a * n + b], self.covariance[b * n + b]);
        let l11 = caa.sqrt();
        let l21 = cab / l11;
        let l22 = (cbb - l21 * l21).max(0.0).sqrt();
        let frame = if [l11, l21, l22].iter().all(|v| v.is_finite()) && l11 > 0.0 && l22 > 0.0 {
            [l11, 0.0, l21, l22]
        } else {
            // No usable covariance: a tenth of each value (or 0.1) as the unit.
            let unit = |v: f64| if v != 0.0 { 0.1 * v.abs() } else { 0.1 };
            [unit(self.values[a]), 0.0, 0.0, unit(self.values[b])]
        };
        let first_guess = (threshold / per_unit).sqrt();
        let rays: Vec<Ray> = (0..points)
            .into_par_iter()
            .map(|i| {
                let angle = 2.0 * std::f64::consts::PI * i as f64 / points as f64;
                let (c, s) = (angle.cos(), angle.sin());
                let direction = (frame[0] * c + frame[1] * s, frame[2] * c + frame[3] * s);
                let mut search = RaySearch { fit: self, source, a, b, direction, best, refits: 0 };
                let end = search.run(threshold, first_guess);
                Ray { end, refits: search.refits }
            })
            .collect();
        let mut contour = Contour {
            x: x.to_owned(),
            y: y.to_owned(),
            level,
            probability: p,
            threshold,
            points: Vec::with_capacity(points),
            notes: Vec::new(),
            refits: 0,
            seconds: 0.0,
        };
        for ray in rays {
            contour.refits += ray.refits;
            match ray.end {
                RayEnd::Found(point) => contour.points.push(point),
                RayEnd::AtBound(point) => {
                    contour.notes.push(format!("the region reaches a bound at ({}, {})", point.0, point.1));
                    contour.points.push(point);
                }
                RayEnd::Open(point) => contour.notes.push(format!(
                    "the region is open: still inside at ({}, {}), far beyond the standard errors",
                    point.0, point.1
                )),
                RayEnd::Failed(reason) => contour.notes.push(reason),
            }
        }
        contour.seconds = started.elapsed().as_secs_f64();
        Ok(contour)
    }
}

struct Ray {
    end: RayEnd,
    refits: usize,
}

enum RayEnd {
    Found((f64, f64)),
    AtBound((f64, f64)),
    Open((f64, f64)),
    Failed(String),
}

/// The search along one ray: held values (x₀ + r·dx, y₀ + r·dy).
struct RaySearch<'a> {
    fit: &'a Fit,
    source: &'a FitSource,
    a: usize,
    b: usize,
    direction: (f64, f64),
    best: f64,
    refits: usize,
}

impl RaySearch<'_> {
    fn at(&self, r: f64) -> (f64, f64) {
        (self.fit.values[self.a] + r * self.direction.0, self.fit.values[self.b] + r * self.direction.1)
    }

    /// The largest r on the ray inside both parameters' bounds.
    fn reach(&self) -> f64 {
        let mut reach = f64::INFINITY;
        for (k, d) in [(self.a, self.direction.0), (self.b, self.direction.1)] {
            let v = self.fit.values[k];
            if d > 0.0 {
                reach = reach.min((self.fit.upper[k] - v) / d);
            } else if d < 0.0 {
                reach = reach.min((self.fit.lower[k] - v) / d);
            }
        }
        reach
    }

    /// Δ objective at r, with the other parameters refitted from `start`.
    fn delta(&mut self, r: f64, start: &[f64]) -> Result<(f64, Vec<f64>), String> {
        self.refits += 1;
        let (x, y) = self.at(r);
        let (objective, values) = refit(self.source, &[(self.a, x), (self.b, y)], start).map_err(|e| {
            let names = (&self.fit.param_names[self.a], &self.fit.param_names[self.b]);
            format!("the refit with {} = {x}, {} = {y} failed: {e}", names.0, names.1)
        })?;
        let delta = objective - self.best;
        if delta < -1e-8 * self.best.max(f64::MIN_POSITIVE) - 1e-12 {
            return Err(format!(
                "a lower minimum was found at {} = {x}, {} = {y}: the fit had not reached its minimum",
                self.fit.param_names[self.a], self.fit.param_names[self.b]
            ));
        }
        Ok((delta, values))
    }

    fn run(&mut self, threshold: f64, first_guess: f64) -> RayEnd {
        match self.search(threshold, first_guess) {
            Ok(end) => end,
            Err(reason) => RayEnd::Failed(reason),
        }
    }

    fn search(&mut self, threshold: f64, first_guess: f64) -> Result<RayEnd, String> {
        let root = threshold.sqrt();
        let reach = self.reach();
        let (mut r_in, mut d_in, mut v_in) = (0.0, 0.0, self.fit.values.clone());
        let mut r = first_guess;
        let mut outside = None;
        for _ in 0..MAX_EXPANSIONS {
            let at_bound = r >= reach;
            if at_bound {
                r = reach;
            }
            let (d, v) = self.delta(r, &v_in)?;
            if d >= threshold {
                outside = Some((r, d, v));
                break;
            }
            (r_in, d_in, v_in) = (r, d, v);
            if at_bound {
                return Ok(RayEnd::AtBound(self.at(r)));
            }
            let guess = if d > 0.0 { r * root / d.sqrt() * 1.05 } else { 0.0 };
            r = guess.max(1.5 * r);
            if !r.is_finite() || r > 1e6 * first_guess.max(1.0) {
                return Ok(RayEnd::Open(self.at(r_in)));
            }
        }
        let Some((mut r_out, d_out, mut v_out)) = outside else { return Ok(RayEnd::Open(self.at(r_in))) };
        // Illinois regula falsi on √Δ − √threshold.
        let g = |d: f64| d.max(0.0).sqrt() - root;
        let (mut g_in, mut g_out) = (g(d_in), g(d_out));
        let mut side = 0i8;
        for _ in 0..MAX_ROOT_STEPS {
            let t = (r_in * g_out - r_out * g_in) / (g_out - g_in);
            if !t.is_finite() || (r_out - r_in).abs() <= 1e-12 * r_out.abs() {
                break;
            }
            let start = if (t - r_in).abs() < (t - r_out).abs() { v_in.clone() } else { v_out.clone() };
            let (d, v) = self.delta(t, &start)?;
            let gt = g(d);
            if gt.abs() <= 1e-9 * root {
                return Ok(RayEnd::Found(self.at(t)));
            }
            if gt < 0.0 {
                (r_in, g_in, v_in) = (t, gt, v);
                if side == -1 {
                    g_out *= 0.5;
                }
                side = -1;
            } else {
                (r_out, g_out, v_out) = (t, gt, v);
                if side == 1 {
                    g_in *= 0.5;
                }
                side = 1;
            }
        }
        // The bracket closed to rounding without the threshold met to 1e-9: its last
        // estimate is as good as the data's arithmetic allows; a bracket still wide is not.
        if (r_out - r_in).abs() <= 1e-9 * r_out.abs() {
            Ok(RayEnd::Found(self.at((r_in * g_out - r_out * g_in) / (g_out - g_in))))
        } else {
            Err(format!("the search along a ray did not converge in {MAX_ROOT_STEPS} steps"))
        }
    }
}
