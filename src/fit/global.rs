//! Global fits solved with their structure: several data sets, one model, some parameters
//! shared by every set and the others fitted per set.
//!
//! The Jacobian of such a fit is block-sparse — set k's rows depend on its own parameters
//! x_k and on the shared ones s only — so JᵀJ is an arrow matrix:
//!
//! ```text
//!       ⎡ A₁          B₁ ⎤   A_k = L_kᵀL_k   (set k's own parameters)
//!       ⎢     A₂      B₂ ⎥   B_k = L_kᵀS_k   (own × shared)
//! JᵀJ = ⎢         ⋱   ⋮  ⎥   C   = Σ S_kᵀS_k (shared × shared)
//!       ⎣ B₁ᵀ B₂ᵀ …   C  ⎦
//! ```
//!
//! Each Levenberg–Marquardt step eliminates the per-set blocks (the Schur complement
//! S = C − Σ B_kᵀA_k⁻¹B_k, damped like the full matrix would be), solves the small shared
//! system and substitutes back: time and memory linear in the number of sets, where the same
//! fit written as one model (indicator columns, [`crate::syntax::global_model`]) has a dense
//! Jacobian over every set's parameters. Each set's A_k, B_k, C_k come from the compiled
//! `normal_equations` kernel over its own points (the streamed path: J is never stored); sets
//! are evaluated in parallel and their contributions summed in set order, so the result does
//! not depend on the number of threads.
//!
//! The covariance is the exact inverse of JᵀJ, computed blockwise: the shared block S⁻¹, each
//! set's own block A_k⁻¹ + A_k⁻¹B_k S⁻¹ B_kᵀA_k⁻¹ and their cross terms −A_k⁻¹B_k S⁻¹; between
//! two sets' own parameters A_a⁻¹B_a S⁻¹ B_bᵀA_b⁻¹, computed on demand from kept factors
//! ([`GlobalFit::covariance_between`], [`GlobalFit::joint_covariance`]). Bounds are kept by projecting
//! each trial point onto the box, as the compact batch solver does.

// Small dense blocks, indexed by row and column together: index loops read as the algebra.
#![allow(clippy::needless_range_loop)]

use super::validate;
use super::{Data, Estimator, FitBuilder, FitError, FitOptions};
use crate::backend::{Backend, Chunk, Kernels};
use crate::compiled::CompiledModel;
use crate::solve::{
    self, NormalEquations, Status, XScale, cholesky, cholesky_inverse, cholesky_solve, cholesky_with_floor,
};
use rayon::prelude::*;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// One data set's share of a [`GlobalFit`].
#[derive(Clone, Debug, serde::Serialize)]
pub struct SetFit {
    /// This set's model's parameters.
    pub param_names: Vec<String>,
    /// True for the parameters every set (whose model has them) shares.
    pub shared: Vec<bool>,
    pub fixed: Vec<bool>,
    pub lower: Vec<f64>,
    pub upper: Vec<f64>,
    /// Every parameter of the set's model (the shared ones repeated), in the model's order.
    pub values: Vec<f64>,
    /// Standard errors, in the same order: 0 for fixed parameters, ∞ when the covariance
    /// cannot be estimated.
    pub std_errors: Vec<f64>,
    /// The covariance of `values`, q × q row-major (zero rows for fixed parameters).
    pub covariance: Vec<f64>,
    /// Where this set's parameters started.
    pub initial: Vec<f64>,
    /// −1 / +1 where a parameter ended at its lower / upper bound.
    pub active_mask: Vec<i8>,
    pub points: usize,
    /// Σ r² over this set's weighted residuals.
    pub chi2: f64,
}

impl SetFit {
    pub fn index(&self, name: &str) -> Option<usize> {
        self.param_names.iter().position(|n| n == name)
    }
}

/// The result of [`CompiledModel::fit_global`] and [`fit_global_sets`].
#[derive(Clone, Debug, serde::Serialize)]
pub struct GlobalFit {
    /// The shared parameters, as named.
    pub shared_names: Vec<String>,
    pub sets: Vec<SetFit>,
    /// ½ Σ r² over every set.
    pub cost: f64,
    pub chi2: f64,
    pub reduced_chi2: f64,
    /// 1 − χ²/Σw²(t − t̄)² over the stacked data (t̄ the weighted mean of every set), as the
    /// same fit written as one model reports it.
    pub r_squared: f64,
    /// ‖Jᵀr‖∞ over the free parameters at the solution.
    pub optimality: f64,
    /// −2 ln L up to a constant, as a single fit's (`m·ln(χ²/m) + 2k`, lmfit's convention).
    pub aic: f64,
    pub bic: f64,
    pub n_points: usize,
    /// Free parameters in all: the shared ones once, the others once per set.
    pub n_free: usize,
    pub dof: usize,
    pub covariance_warning: Option<String>,
    pub absolute_sigma: bool,
    pub iterations: usize,
    pub nfev: usize,
    pub njev: usize,
    pub status: Status,
    pub message: String,
    pub solve_time: Duration,
    /// What the covariance between two sets' parameters is made of (None where the
    /// covariance was not estimated).
    #[serde(skip)]
    cross: Option<CrossFactors>,
}

/// The covariance between two different sets' parameters, in factors: with G_k (q_k × ns) a
/// set's rows of −A_k⁻¹B_k for its own free parameters, unit rows for its shared ones and zero
/// rows for its fixed ones, cov(set a, set b) = G_a S⁻¹ G_bᵀ (times the χ²/dof scale) for
/// a ≠ b. O(sets · q · ns) memory where the joint matrix would be O((sets · q)²).
#[derive(Clone, Debug)]
struct CrossFactors {
    /// The free shared parameters.
    ns: usize,
    /// S⁻¹, ns × ns, and the scale of the covariance (χ²/dof, or 1 for absolute σ).
    s_inv: Vec<f64>,
    scale: f64,
    /// Each set's G, q × ns row-major.
    g: Vec<Vec<f64>>,
}

impl GlobalFit {
    /// The covariance between set `a`'s and set `b`'s parameters (each in its model's
    /// order), q_a × q_b row-major: set `a`'s own covariance when `a == b`; between two sets,
    /// their own parameters' covariance through the shared ones. `None` for a set that does
    /// not exist or where the covariance was not estimated (a warning says why).
    pub fn covariance_between(&self, a: usize, b: usize) -> Option<Vec<f64>> {
        let (set_a, set_b) = (self.sets.get(a)?, self.sets.get(b)?);
        if a == b {
            return Some(set_a.covariance.clone());
        }
        let cross = self.cross.as_ref()?;
        let (free_a, free_b): (Vec<bool>, Vec<bool>) =
            (set_a.fixed.iter().map(|f| !f).collect(), set_b.fixed.iter().map(|f| !f).collect());
        let mut out = through_shared((&cross.g[a], &free_a), (&cross.g[b], &free_b), &cross.s_inv, cross.ns);
        scale_free(&mut out, (&free_a, &free_b), cross.scale);
        Some(out)
    }

    /// The joint covariance of the parameters `params`, each given as (set, index in that
    /// set's model), n × n row-major in that order (a shared parameter may be named through
    /// any set that has it). `None` where [`GlobalFit::covariance_between`] is.
    pub fn joint_covariance(&self, params: &[(usize, usize)]) -> Option<Vec<f64>> {
        let n = params.len();
        let mut out = vec![0.0; n * n];
        use std::collections::hash_map::{Entry, HashMap};
        let mut blocks: HashMap<(usize, usize), Vec<f64>> = HashMap::new();
        for (r, &(a, i)) in params.iter().enumerate() {
            for (c, &(b, j)) in params.iter().enumerate() {
                let block = match blocks.entry((a, b)) {
                    Entry::Occupied(e) => e.into_mut(),
                    Entry::Vacant(e) => e.insert(self.covariance_between(a, b)?),
                };
                out[r * n + c] = block[i * self.sets[b].param_names.len() + j];
            }
        }
        Some(out)
    }

    /// Parameter `name`'s value in set `set` (from 0).
    pub fn value(&self, set: usize, name: &str) -> Option<f64> {
        let set = self.sets.get(set)?;
        Some(set.values[set.index(name)?])
    }

    /// Parameter `name`'s standard error in set `set` (from 0).
    pub fn std_error(&self, set: usize, name: &str) -> Option<f64> {
        let set = self.sets.get(set)?;
        Some(set.std_errors[set.index(name)?])
    }
}

/// One data set of a global fit: its model (sets may have different models sharing
/// parameters by name), its data, the options over its model's parameters (as a single fit's:
/// starts, bounds, fixed values) and, optionally, its own starts (`None` entries: the
/// options').
pub struct GlobalSet<'d> {
    pub model: Arc<CompiledModel>,
    pub data: &'d Data,
    pub options: FitOptions,
    pub start: Option<Vec<Option<f64>>>,
}

impl CompiledModel {
    /// Fits this model to every data set of `sets` at once, the parameters named in `shared`
    /// common to all sets and the others fitted per set, with the structured solver of
    /// [`global`](self). `configure` sets the options as for a single fit (starts, bounds
    /// and fixed values apply to the parameter in every set; σ per set goes with its `Data`);
    /// options this solver cannot honour (a robust loss, the Poisson estimator, checkpoints,
    /// the GPU, fixed x-scales, errors in x, σ following the fit) are refused.
    ///
    /// ```
    /// let x: Vec<f64> = (0..30).map(|i| i as f64 / 5.0).collect();
    /// let set = |a: f64, c: f64| {
    ///     let y: Vec<f64> = x.iter().map(|x| a * (-x / 1.5).exp() + c).collect();
    ///     jitfit::Data::new().var("x", x.clone()).y(y)
    /// };
    /// let sets = [set(2.0, 0.1), set(3.0, 0.4), set(5.0, -0.2)];
    /// let model = jitfit::compile("A*exp(-x/tau) + c").unwrap();
    /// let fit = model.fit_global(&sets, &["tau"], |fit| fit.initial("tau", 1.0)).unwrap();
    /// assert!((fit.value(1, "tau").unwrap() - 1.5).abs() < 1e-9);
    /// assert!((fit.value(2, "A").unwrap() - 5.0).abs() < 1e-9);
    /// ```
    pub fn fit_global<'d>(
        self: &Arc<Self>,
        sets: &'d [Data],
        shared: &[&str],
        configure: impl FnOnce(FitBuilder<'d>) -> FitBuilder<'d>,
    ) -> Result<GlobalFit, FitError> {
        let Some(first) = sets.first() else {
            return Err(FitError::Invalid("a global fit needs at least one data set".into()));
        };
        let options = configure(self.fit(first)).into_options()?;
        self.fit_global_with(sets, shared, &options, None)
    }

    /// [`fit_global`](Self::fit_global) with checked options and, optionally, starts per set
    /// (`starts[k][j]`: parameter j's start in set k, `None` for the options' start; a
    /// shared parameter takes the first set's; fixed values and bounds still apply).
    pub fn fit_global_with(
        self: &Arc<Self>,
        sets: &[Data],
        shared: &[&str],
        options: &FitOptions,
        starts: Option<&[Vec<Option<f64>>]>,
    ) -> Result<GlobalFit, FitError> {
        if let Some(starts) = starts
            && starts.len() != sets.len()
        {
            return Err(FitError::Invalid(format!("per-set starts: {} sets were expected", sets.len())));
        }
        let sets: Vec<GlobalSet<'_>> = sets
            .iter()
            .enumerate()
            .map(|(k, data)| GlobalSet {
                model: self.clone(),
                data,
                options: options.clone(),
                start: starts.map(|s| s[k].clone()),
            })
            .collect();
        fit_global_sets(&sets, shared)
    }
}

/// A global fit of data sets that may each have their own model: parameters named in `shared`
/// are one value in every set whose model has them (their bounds and fixed values must agree
/// between the models), the others are fitted per set. See [`CompiledModel::fit_global`].
pub fn fit_global_sets(sets: &[GlobalSet<'_>], shared: &[&str]) -> Result<GlobalFit, FitError> {
    let started = Instant::now();
    if sets.is_empty() {
        return Err(FitError::Invalid("a global fit needs at least one data set".into()));
    }
    for name in shared {
        if !sets.iter().any(|s| s.model.params().iter().any(|p| p == name)) {
            let mut known: Vec<String> = Vec::new();
            for set in sets {
                for p in set.model.params() {
                    if !known.contains(p) {
                        known.push(p.clone());
                    }
                }
            }
            return Err(FitError::UnknownParameter { name: (*name).to_owned(), known: known.join(", ") });
        }
    }
    // The shared parameters' bounds and fixed values: one per name, the same in every model.
    /// A shared parameter's lower and upper bounds, fixed value, and the first set that has it.
    type SharedBounds = (f64, f64, Option<f64>, usize);
    let mut shared_bounds: Vec<Option<SharedBounds>> = vec![None; shared.len()];
    for (k, set) in sets.iter().enumerate() {
        let o = &set.options;
        for (j, name) in set.model.params().iter().enumerate() {
            let Some(c) = shared.iter().position(|s| s == name) else { continue };
            let here = (o.lower[j], o.upper[j], o.fixed[j], k);
            match shared_bounds[c] {
                None => shared_bounds[c] = Some(here),
                Some((l, u, f, first)) => {
                    if l.to_bits() != here.0.to_bits() || u.to_bits() != here.1.to_bits() || f != here.2 {
                        return Err(FitError::Invalid(format!(
                            "`{name}` is shared, but its bounds or fixed value differ between data sets {} and {}",
                            first + 1,
                            k + 1
                        )));
                    }
                }
            }
        }
    }
    // One solve: every set's tolerances, budget and σ convention must be the first's.
    let first = &sets[0].options;
    for (k, set) in sets.iter().enumerate().skip(1) {
        let (a, b) = (&first.solve, &set.options.solve);
        if (a.ftol, a.xtol, a.gtol, a.max_nfev) != (b.ftol, b.xtol, b.gtol, b.max_nfev)
            || first.absolute_sigma != set.options.absolute_sigma
        {
            return Err(FitError::Invalid(format!(
                "data set {}'s tolerances, evaluation budget or absolute σ differ from data set 1's: a global fit is one solve",
                k + 1
            )));
        }
    }
    let shared_bounds: Vec<(f64, f64, Option<f64>)> =
        shared_bounds.into_iter().map(|b| b.map(|(l, u, f, _)| (l, u, f)).expect("checked above")).collect();
    // The free shared parameters, in the order given: their index in the shared system.
    let free_shared: Vec<usize> = (0..shared.len()).filter(|c| shared_bounds[*c].2.is_none()).collect();
    let ns = free_shared.len();

    let mut inputs = Vec::with_capacity(sets.len());
    let mut specs = Vec::with_capacity(sets.len());
    for (k, set) in sets.iter().enumerate() {
        let in_set = |e: FitError| FitError::Invalid(format!("data set {}: {e}", k + 1));
        let (model, data, options) = (&set.model, set.data, &set.options);
        refuse_options(options)?;
        if data.sigma_x.iter().any(|(_, c)| !c.is_empty()) || data.sigma_expression.is_some() {
            return Err(in_set(FitError::Invalid(
                "errors in x and σ that follows the fit are not available in a global fit".into(),
            )));
        }
        let q = model.n_params();
        if let Some(start) = &set.start
            && start.len() != q
        {
            return Err(in_set(FitError::WrongP0Length { expected: q, found: start.len() }));
        }
        let vars = validate::columns(model, data).map_err(in_set)?;
        validate::transformed_response(model, data, &vars, 0..data.len()).map_err(in_set)?;
        let weights = validate::weights(data).map_err(in_set)?;
        inputs.push(SetInput { vars, y: data.response(), weights });
        let shared_of = |j: usize| shared.iter().position(|s| *s == model.params()[j]);
        let mut spec = Spec {
            q,
            local: Vec::new(),
            shared: Vec::new(),
            lower: options.lower.clone(),
            upper: options.upper.clone(),
        };
        for j in 0..q {
            match shared_of(j) {
                Some(c) => {
                    if let Some(free) = free_shared.iter().position(|f| *f == c) {
                        spec.shared.push((j, free));
                    }
                }
                None if options.fixed[j].is_none() => spec.local.push(j),
                None => {}
            }
        }
        specs.push(spec);
    }
    // Starts: fixed values, the set's own start, the options' start, else the default; a
    // shared parameter takes its value in the first set that has it.
    let mut theta: Vec<Vec<f64>> = sets
        .iter()
        .map(|set| {
            let o = &set.options;
            (0..set.model.n_params())
                .map(|j| {
                    o.fixed[j]
                        .or(set.start.as_ref().and_then(|s| s[j]))
                        .or(o.p0[j])
                        .unwrap_or_else(|| validate::default_start(o.lower[j], o.upper[j]))
                })
                .collect()
        })
        .collect();
    let mut shared_values = vec![f64::NAN; ns];
    for (spec, params) in specs.iter().zip(&theta) {
        for &(j, c) in &spec.shared {
            if shared_values[c].is_nan() {
                shared_values[c] = params[j];
            }
        }
    }
    for (spec, params) in specs.iter().zip(theta.iter_mut()) {
        for &(j, c) in &spec.shared {
            params[j] = shared_values[c];
        }
    }
    for (k, (set, start)) in sets.iter().zip(&theta).enumerate() {
        validate::bounds_and_starts(&set.model, &set.options, start)
            .map_err(|e| FitError::Invalid(format!("data set {}: {e}", k + 1)))?;
    }
    let n_points: usize = inputs.iter().map(|s| s.y.len()).sum();
    let n_free = specs.iter().map(|s| s.local.len()).sum::<usize>() + ns;
    if n_free == 0 {
        return Err(FitError::Invalid("every parameter is fixed: nothing to fit".into()));
    }
    if n_points < n_free {
        return Err(FitError::Invalid(format!(
            "{n_points} data points for {n_free} free parameters: at least as many points as parameters are needed"
        )));
    }
    for (k, (set, spec)) in inputs.iter().zip(&specs).enumerate() {
        if set.y.len() < spec.local.len() {
            return Err(FitError::Invalid(format!(
                "data set {} has {} points for its {} own parameters",
                k + 1,
                set.y.len(),
                spec.local.len()
            )));
        }
    }
    let initial = theta.clone();
    let shared_lower: Vec<f64> = free_shared.iter().map(|c| shared_bounds[*c].0).collect();
    let shared_upper: Vec<f64> = free_shared.iter().map(|c| shared_bounds[*c].1).collect();
    let solve = &sets[0].options.solve;
    let solver = Solver {
        kernels: sets.iter().map(|s| s.model.kernels() as &dyn Kernels).collect(),
        inputs: &inputs,
        specs: &specs,
        ns,
        shared_lower,
        shared_upper,
        solve,
    };
    let outcome = solver.run(&mut theta);
    if outcome.blocks.is_empty() {
        return Err(FitError::Invalid(
            "the model or its derivatives are not finite at the starting values (in some data set): give other starts"
                .into(),
        ));
    }

    // Statistics and the covariance at the solution.
    let chi2: f64 = outcome.blocks.iter().map(|b| b.rss).sum();
    let dof = n_points - n_free;
    let absolute_sigma = sets[0].options.absolute_sigma;
    // As a single fit's covariance: no degrees of freedom → ∞, no scatter → NaN, said.
    let (scale, why) = if absolute_sigma {
        (1.0, None)
    } else if dof == 0 {
        (
            f64::INFINITY,
            Some(format!(
                "{n_points} points for {n_free} parameters leave no degrees of freedom to estimate the covariance"
            )),
        )
    } else if chi2 == 0.0 {
        (f64::NAN, Some("the residuals are all zero, so χ²/dof says nothing about the uncertainties (with known σ, use absolute sigma)".to_owned()))
    } else {
        (chi2 / dof as f64, None)
    };
    let (covariances, cross, covariance_warning) = solver.covariance(&outcome.blocks, scale);
    let covariance_warning = match (covariance_warning, why) {
        (Some(a), Some(b)) => Some(format!("{a}; {b}")),
        (a, b) => a.or(b),
    };
    let optimality = outcome
        .blocks
        .iter()
        .flat_map(|b| b.g.iter().copied())
        .chain((0..ns).map(|c| outcome.blocks.iter().map(|b| b.h[c]).sum()))
        .fold(0.0f64, |m, g| m.max(g.abs()));
    let ss_tot = stacked_total_sum_of_squares(sets, &inputs, &theta);
    let m = n_points as f64;
    let neg2_log_likelihood = m * (chi2 / m).max(f64::MIN_POSITIVE).ln();
    let blocks = &outcome.blocks;
    let sets_out = sets
        .iter()
        .zip(theta)
        .zip(initial)
        .zip(covariances)
        .zip(&inputs)
        .enumerate()
        .map(|(k, ((((set, values), initial), covariance), input))| {
            let (o, q) = (&set.options, set.model.n_params());
            let active_mask = (0..q)
                .map(|j| {
                    if o.fixed[j].is_some() {
                        0
                    } else if values[j] <= o.lower[j] {
                        -1
                    } else if values[j] >= o.upper[j] {
                        1
                    } else {
                        0
                    }
                })
                .collect();
            SetFit {
                param_names: set.model.params().to_vec(),
                shared: set.model.params().iter().map(|p| shared.contains(&p.as_str())).collect(),
                fixed: o.fixed.iter().map(Option::is_some).collect(),
                lower: o.lower.clone(),
                upper: o.upper.clone(),
                std_errors: (0..q).map(|j| covariance[j * q + j].sqrt()).collect(),
                values,
                covariance,
                initial,
                active_mask,
                points: input.y.len(),
                chi2: blocks.get(k).map_or(f64::NAN, |b| b.rss),
            }
        })
        .collect();
    Ok(GlobalFit {
        shared_names: shared.iter().map(|s| s.to_string()).collect(),
        sets: sets_out,
        cost: chi2 / 2.0,
        chi2,
        reduced_chi2: if dof > 0 { chi2 / dof as f64 } else { f64::NAN },
        r_squared: if ss_tot > 0.0 { 1.0 - chi2 / ss_tot } else { f64::NAN },
        optimality,
        aic: neg2_log_likelihood + 2.0 * n_free as f64,
        bic: neg2_log_likelihood + m.ln() * n_free as f64,
        n_points,
        n_free,
        dof,
        covariance_warning,
        absolute_sigma,
        iterations: outcome.iterations,
        nfev: outcome.nfev,
        njev: outcome.njev,
        message: outcome.status.message().to_owned(),
        status: outcome.status,
        solve_time: started.elapsed(),
        cross,
    })
}

/// Σ w²(t − t̄)² over every set's points, t̄ the weighted mean of them all (t = y, or the
/// transformed response).
fn stacked_total_sum_of_squares(sets: &[GlobalSet<'_>], inputs: &[SetInput<'_>], theta: &[Vec<f64>]) -> f64 {
    let targets: Vec<Vec<f64>> = inputs
        .iter()
        .zip(theta)
        .zip(sets)
        .map(|((input, params), set)| {
            let model = &set.model;
            if model.transforms_response() {
                crate::ir::Interpreter::new(model.kernel())
                    .eval_batch(&input.vars, Some(input.y), params)
                    .response
                    .unwrap_or_default()
            } else {
                input.y.to_vec()
            }
        })
        .collect();
    let weight = |input: &SetInput<'_>, i: usize| input.weights.as_ref().map_or(1.0, |w| w[i] * w[i]);
    let (mut sum_w2, mut sum_w2t) = (0.0, 0.0);
    for (input, t) in inputs.iter().zip(&targets) {
        for (i, t) in t.iter().enumerate() {
            sum_w2 += weight(input, i);
            sum_w2t += weight(input, i) * t;
        }
    }
    let mean = sum_w2t / sum_w2;
    inputs
        .iter()
        .zip(&targets)
        .map(|(input, t)| t.iter().enumerate().map(|(i, t)| weight(input, i) * (t - mean).powi(2)).sum::<f64>())
        .sum()
}

/// What this solver cannot do is an error, never ignored.
fn refuse_options(options: &FitOptions) -> Result<(), FitError> {
    let refuse = |what: &str| Err(FitError::Invalid(format!("{what} is not available in a global fit")));
    if options.estimator == Estimator::Poisson {
        return refuse("the Poisson estimator");
    }
    if options.solve.loss != solve::Loss::Linear {
        return refuse("a robust loss");
    }
    if options.checkpoint.is_some() || options.resume.is_some() {
        return refuse("a checkpoint");
    }
    if options.backend == Backend::Gpu {
        return refuse("the GPU backend");
    }
    if matches!(options.solve.x_scale, XScale::Fixed(_)) {
        return refuse("a fixed x-scale");
    }
    if options.solve.method == solve::Method::Trf {
        return refuse("TRF (the structured solver is Levenberg–Marquardt)");
    }
    Ok(())
}

/// One data set's columns, checked.
struct SetInput<'d> {
    vars: Vec<&'d [f64]>,
    y: &'d [f64],
    weights: Option<Vec<f64>>,
}

impl SetInput<'_> {
    fn chunk(&self) -> Chunk<'_> {
        Chunk { vars: &self.vars, y: self.y, weights: self.weights.as_deref() }
    }
}

/// One set's parameters in the solve: its model's q parameters, the free ones of its own
/// (`local`, indices into the model's) and the free shared ones it has (model index, index in
/// the shared system), and its bounds.
struct Spec {
    q: usize,
    local: Vec<usize>,
    shared: Vec<(usize, usize)>,
    lower: Vec<f64>,
    upper: Vec<f64>,
}

impl Spec {
    /// Per parameter: free (own or shared), or fixed.
    fn free(&self) -> Vec<bool> {
        let mut free = vec![false; self.q];
        for j in self.local.iter().copied().chain(self.shared.iter().map(|s| s.0)) {
            free[j] = true;
        }
        free
    }
}

/// One set's blocks of JᵀJ and Jᵀr over the free parameters (A: own × own, B: own × shared,
/// C: shared × shared, over every shared parameter — zero where the set's model lacks one; g,
/// h: the gradient's parts), and its Σ r².
#[derive(Clone)]
struct Blocks {
    a: Vec<f64>,
    b: Vec<f64>,
    c: Vec<f64>,
    g: Vec<f64>,
    h: Vec<f64>,
    rss: f64,
}

impl Blocks {
    fn new(ne: &NormalEquations, spec: &Spec, ns: usize) -> Blocks {
        let q = spec.q;
        let at = |i: usize, j: usize| ne.jtj[i.min(j) * q + i.max(j)];
        let nl = spec.local.len();
        let mut b = vec![0.0; nl * ns];
        let mut c = vec![0.0; ns * ns];
        let mut h = vec![0.0; ns];
        for &(j, col) in &spec.shared {
            for (i, &l) in spec.local.iter().enumerate() {
                b[i * ns + col] = at(l, j);
            }
            for &(j2, col2) in &spec.shared {
                c[col * ns + col2] = at(j, j2);
            }
            h[col] = ne.jtr[j];
        }
        Blocks {
            a: spec.local.iter().flat_map(|i| spec.local.iter().map(move |j| at(*i, *j))).collect(),
            b,
            c,
            g: spec.local.iter().map(|i| ne.jtr[*i]).collect(),
            h,
            rss: ne.rss,
        }
    }

    /// These blocks with the held parameters' rows and columns removed (an identity row, no
    /// gradient), so their step is zero.
    fn holding(&self, own: &[bool], shared: &[bool]) -> Blocks {
        let (nl, ns) = (own.len(), shared.len());
        let mut b = self.clone();
        for i in 0..nl {
            if own[i] {
                for j in 0..nl {
                    b.a[i * nl + j] = 0.0;
                    b.a[j * nl + i] = 0.0;
                }
                b.a[i * nl + i] = 1.0;
                b.g[i] = 0.0;
                for c in 0..ns {
                    b.b[i * ns + c] = 0.0;
                }
            }
        }
        for c in 0..ns {
            if shared[c] {
                for i in 0..nl {
                    b.b[i * ns + c] = 0.0;
                }
            }
        }
        b
    }
}

/// A set's part of one damped step: A⁻¹B, A⁻¹g, and its terms of the Schur complement
/// (BᵀA⁻¹B) and of its right side (BᵀA⁻¹g).
struct Elimination {
    a_inv_b: Vec<f64>,
    a_inv_g: Vec<f64>,
    bt_a_inv_b: Vec<f64>,
    bt_a_inv_g: Vec<f64>,
}

/// Eliminates one set's own parameters: `damp` scales A's diagonal by (1 + damp). None when
/// the damped A is not positive definite.
fn eliminate(blocks: &Blocks, nl: usize, ns: usize, damp: f64) -> Option<Elimination> {
    let mut factor = blocks.a.clone();
    for i in 0..nl {
        factor[i * nl + i] += damp * diagonal_scale(blocks.a[i * nl + i]);
    }
    if !cholesky(&mut factor, nl) {
        return None;
    }
    let mut a_inv_b = vec![0.0; nl * ns];
    let mut column = vec![0.0; nl];
    for c in 0..ns {
        for i in 0..nl {
            column[i] = blocks.b[i * ns + c];
        }
        cholesky_solve(&factor, nl, &mut column);
        for i in 0..nl {
            a_inv_b[i * ns + c] = column[i];
        }
    }
    let mut a_inv_g = blocks.g.clone();
    cholesky_solve(&factor, nl, &mut a_inv_g);
    let mut bt_a_inv_b = vec![0.0; ns * ns];
    let mut bt_a_inv_g = vec![0.0; ns];
    for r in 0..ns {
        for c in 0..ns {
            bt_a_inv_b[r * ns + c] = (0..nl).map(|i| blocks.b[i * ns + r] * a_inv_b[i * ns + c]).sum();
        }
        bt_a_inv_g[r] = (0..nl).map(|i| blocks.b[i * ns + r] * a_inv_g[i]).sum();
    }
    Some(Elimination { a_inv_b, a_inv_g, bt_a_inv_b, bt_a_inv_g })
}

/// Whether the symmetric n × n matrix (a block of JᵀJ) determines every parameter: its
/// Cholesky pivots, each relative to its own diagonal element, above 64 ε — below that the
/// normal equations cannot tell the parameter from a combination of the others.
fn determined(matrix: &[f64], n: usize) -> bool {
    cholesky_with_floor(&mut matrix.to_vec(), n, 64.0 * f64::EPSILON)
}

/// Marquardt's scale of a diagonal element: the element itself, or 1 for a parameter this
/// set's data do not move (so damping still makes the matrix definite).
fn diagonal_scale(d: f64) -> f64 {
    if d > 0.0 { d } else { 1.0 }
}

struct Outcome {
    /// The blocks at the solution.
    blocks: Vec<Blocks>,
    status: Status,
    iterations: usize,
    nfev: usize,
    njev: usize,
}

struct Solver<'a, 'd> {
    kernels: Vec<&'a dyn Kernels>,
    inputs: &'a [SetInput<'d>],
    specs: &'a [Spec],
    /// The free shared parameters and their bounds.
    ns: usize,
    shared_lower: Vec<f64>,
    shared_upper: Vec<f64>,
    solve: &'a solve::SolveOptions,
}

impl Solver<'_, '_> {
    /// Every set's blocks at `theta` (None when anything is not finite).
    fn blocks(&self, theta: &[Vec<f64>]) -> Option<Vec<Blocks>> {
        let blocks: Vec<Option<Blocks>> = (0..self.inputs.len())
            .into_par_iter()
            .with_min_len(8)
            .map(|k| {
                let spec = &self.specs[k];
                let mut ne = NormalEquations::zeros(spec.q);
                self.kernels[k].normal_equations(&self.inputs[k].chunk(), &theta[k], &mut ne).ok()?;
                let finite =
                    ne.rss.is_finite() && ne.jtj.iter().all(|v| v.is_finite()) && ne.jtr.iter().all(|v| v.is_finite());
                finite.then(|| Blocks::new(&ne, spec, self.ns))
            })
            .collect();
        blocks.into_iter().collect()
    }

    /// Σ r² over every set at `theta`, summed in set order.
    fn rss(&self, theta: &[Vec<f64>]) -> f64 {
        let per_set: Vec<f64> = (0..self.inputs.len())
            .into_par_iter()
            .with_min_len(8)
            .map(|k| self.kernels[k].sum_of_squares(&self.inputs[k].chunk(), &theta[k]).unwrap_or(f64::NAN))
            .collect();
        per_set.iter().sum()
    }

    /// The free shared parameters' values (from the first set that has each).
    fn shared_values(&self, theta: &[Vec<f64>]) -> Vec<f64> {
        let mut values = vec![f64::NAN; self.ns];
        for (spec, params) in self.specs.iter().zip(theta) {
            for &(j, c) in &spec.shared {
                if values[c].is_nan() {
                    values[c] = params[j];
                }
            }
        }
        values
    }

    /// The damped Gauss–Newton step (δ per set over the own parameters, δ shared), or None
    /// when a damped block is not positive definite.
    fn step(&self, blocks: &[Blocks], theta: &[Vec<f64>], damp: f64) -> Option<(Vec<Vec<f64>>, Vec<f64>)> {
        let ns = self.ns;
        // A parameter at a bound whose descent direction leaves the box is held for this step
        // (projected Newton): its row and column drop out of the system.
        let held = |value: f64, lower: f64, upper: f64, gradient: f64| {
            (value <= lower && gradient > 0.0) || (value >= upper && gradient < 0.0)
        };
        let shared_now = self.shared_values(theta);
        let held_shared: Vec<bool> = (0..ns)
            .map(|c| {
                held(shared_now[c], self.shared_lower[c], self.shared_upper[c], blocks.iter().map(|b| b.h[c]).sum())
            })
            .collect();
        let eliminations: Vec<Option<Elimination>> = (0..blocks.len())
            .into_par_iter()
            .with_min_len(8)
            .map(|k| {
                let (b, spec, params) = (&blocks[k], &self.specs[k], &theta[k]);
                let held_own: Vec<bool> = spec
                    .local
                    .iter()
                    .enumerate()
                    .map(|(i, &j)| held(params[j], spec.lower[j], spec.upper[j], b.g[i]))
                    .collect();
                let nl = spec.local.len();
                if held_own.iter().chain(&held_shared).any(|h| *h) {
                    eliminate(&b.holding(&held_own, &held_shared), nl, ns, damp)
                } else {
                    eliminate(b, nl, ns, damp)
                }
            })
            .collect();
        let eliminations: Vec<Elimination> = eliminations.into_iter().collect::<Option<_>>()?;
        // The shared system: Σ C_k damped as the whole matrix would be, minus the eliminated parts.
        let mut schur = vec![0.0; ns * ns];
        let mut rhs = vec![0.0; ns];
        for (b, e) in blocks.iter().zip(&eliminations) {
            for i in 0..ns * ns {
                schur[i] += b.c[i] - e.bt_a_inv_b[i];
            }
            for i in 0..ns {
                rhs[i] += b.h[i] - e.bt_a_inv_g[i];
            }
        }
        for i in 0..ns {
            let c_ii: f64 = blocks.iter().map(|b| b.c[i * ns + i]).sum();
            schur[i * ns + i] += damp * diagonal_scale(c_ii);
            if held_shared[i] {
                for j in 0..ns {
                    schur[i * ns + j] = 0.0;
                    schur[j * ns + i] = 0.0;
                }
                schur[i * ns + i] = 1.0;
                rhs[i] = 0.0;
            }
        }
        if !cholesky(&mut schur, ns) {
            return None;
        }
        cholesky_solve(&schur, ns, &mut rhs);
        let own: Vec<Vec<f64>> = eliminations
            .iter()
            .map(|e| {
                let nl = e.a_inv_g.len();
                (0..nl).map(|i| e.a_inv_g[i] - (0..ns).map(|c| e.a_inv_b[i * ns + c] * rhs[c]).sum::<f64>()).collect()
            })
            .collect();
        Some((own, rhs))
    }

    /// Levenberg–Marquardt over the blocks; `theta` holds the starts and receives the result.
    fn run(&self, theta: &mut [Vec<f64>]) -> Outcome {
        let (solve, ns) = (self.solve, self.ns);
        let per_set = self.specs.iter().map(|s| s.local.len()).max().unwrap_or(0);
        let max_nfev = solve.max_nfev.unwrap_or(1000 * (per_set + ns).max(1));
        for (spec, params) in self.specs.iter().zip(theta.iter_mut()) {
            for j in 0..spec.q {
                params[j] = params[j].clamp(spec.lower[j], spec.upper[j]);
            }
        }
        let (mut nfev, mut njev) = (1, 1);
        let Some(mut blocks) = self.blocks(theta) else {
            return Outcome { blocks: Vec::new(), status: Status::NonFiniteJacobian, iterations: 0, nfev, njev };
        };
        let mut rss: f64 = blocks.iter().map(|b| b.rss).sum();
        let (mut damp, mut grow) = (1e-3, 2.0);
        let mut iterations = 0;
        let mut trial: Vec<Vec<f64>> = theta.to_vec();
        let status = loop {
            if gradient_converged(&blocks, rss, solve.gtol) {
                break Status::Gtol;
            }
            if nfev >= max_nfev {
                break Status::MaxEvaluations;
            }
            iterations += 1;
            let Some((own, shared)) = self.step(&blocks, theta, damp) else {
                damp *= 10.0;
                if damp > 1e16 {
                    break Status::LinearAlgebraFailure;
                }
                continue;
            };
            // The new shared values, projected on their bounds.
            let now = self.shared_values(theta);
            let new_shared: Vec<f64> =
                (0..ns).map(|c| (now[c] - shared[c]).clamp(self.shared_lower[c], self.shared_upper[c])).collect();
            // The step actually taken, p = θ − trial (after the projection on the bounds), and
            // the quadratic model's reduction of Σr² for it, 2pᵀJᵀr − pᵀJᵀJp, summed over the
            // blocks (Nielsen's gain ratio compares the actual reduction with it).
            let p_shared: Vec<f64> = (0..ns).map(|c| now[c] - new_shared[c]).collect();
            let (mut step_norm, mut x_norm, mut predicted) = (0.0, 0.0, 0.0);
            for (k, t) in trial.iter_mut().enumerate() {
                let (spec, params, b, own) = (&self.specs[k], &theta[k], &blocks[k], &own[k]);
                t.copy_from_slice(params);
                let nl = spec.local.len();
                let mut p = vec![0.0; nl];
                for (i, &j) in spec.local.iter().enumerate() {
                    t[j] = (params[j] - own[i]).clamp(spec.lower[j], spec.upper[j]);
                    p[i] = params[j] - t[j];
                    step_norm += p[i] * p[i];
                    x_norm += params[j] * params[j];
                }
                for &(j, c) in &spec.shared {
                    t[j] = new_shared[c];
                }
                let mut quadratic = 0.0;
                for i in 0..nl {
                    predicted += 2.0 * p[i] * b.g[i];
                    quadratic += p[i] * (0..nl).map(|l| b.a[i * nl + l] * p[l]).sum::<f64>();
                    quadratic += 2.0 * p[i] * (0..ns).map(|c| b.b[i * ns + c] * p_shared[c]).sum::<f64>();
                }
                for c in 0..ns {
                    predicted += 2.0 * p_shared[c] * b.h[c];
                    quadratic += p_shared[c] * (0..ns).map(|d| b.c[c * ns + d] * p_shared[d]).sum::<f64>();
                }
                predicted -= quadratic;
            }
            for c in 0..ns {
                step_norm += p_shared[c] * p_shared[c];
                x_norm += now[c] * now[c];
            }
            // A step below xtol ends the fit whether or not it would lower χ² (scipy's test):
            // near the minimum, steps at rounding level are rejected forever otherwise.
            if step_norm.sqrt() <= solve.xtol * (solve.xtol + x_norm.sqrt()) {
                break Status::Xtol;
            }
            // A step the quadratic model credits with less than ftol of the cost is the last
            // (MINPACK's predicted-reduction test): what remains is rounding.
            let last = predicted <= solve.ftol * rss;
            let trial_rss = self.rss(&trial);
            nfev += 1;
            if trial_rss.is_finite() && trial_rss <= rss {
                let Some(new_blocks) = self.blocks(&trial) else {
                    break Status::NonFiniteJacobian;
                };
                njev += 1;
                for (params, t) in theta.iter_mut().zip(&trial) {
                    params.copy_from_slice(t);
                }
                blocks = new_blocks;
                let reduction = rss - trial_rss;
                rss = blocks.iter().map(|b| b.rss).sum();
                // Nielsen's update: a good model of the cost (ratio near 1) lowers λ by up to 3×.
                let ratio = if predicted > 0.0 { reduction / predicted } else { 0.0 };
                damp = (damp * (1.0f64 / 3.0).max(1.0 - (2.0 * ratio - 1.0).powi(3))).max(1e-15);
                grow = 2.0;
                // ftol as scipy's TRF has it: a small reduction the model predicted well.
                if last || (reduction <= solve.ftol * rss && ratio > 0.25) {
                    break Status::Ftol;
                }
            } else {
                if last {
                    break Status::Ftol;
                }
                damp *= grow;
                grow *= 2.0;
                // No step, however short, lowers χ²: a minimum to rounding.
                if damp > 1e16 {
                    break Status::Ftol;
                }
            }
        };
        Outcome { blocks, status, iterations, nfev, njev }
    }

    /// Each set's covariance of its q parameters (scaled by `scale`), from the undamped
    /// blocks; ∞ with a warning where JᵀJ is singular.
    fn covariance(&self, blocks: &[Blocks], scale: f64) -> (Vec<Vec<f64>>, Option<CrossFactors>, Option<String>) {
        let ns = self.ns;
        let singular = |why: String| {
            let covariances = self
                .specs
                .iter()
                .map(|spec| {
                    let q = spec.q;
                    let mut cov = vec![0.0; q * q];
                    for j in spec.local.iter().copied().chain(spec.shared.iter().map(|s| s.0)) {
                        cov[j * q + j] = f64::INFINITY;
                    }
                    cov
                })
                .collect();
            (covariances, None, Some(why))
        };
        if blocks.len() != self.inputs.len() {
            return singular("the covariance was not estimated: the model was not finite at the start".into());
        }
        let eliminations: Vec<Option<Elimination>> = (0..blocks.len())
            .into_par_iter()
            .with_min_len(8)
            .map(|k| {
                let nl = self.specs[k].local.len();
                determined(&blocks[k].a, nl).then(|| eliminate(&blocks[k], nl, ns, 0.0)).flatten()
            })
            .collect();
        if let Some(k) = eliminations.iter().position(Option::is_none) {
            return singular(format!(
                "the covariance cannot be estimated: set {}'s own parameters are not determined by its data (JᵀJ singular)",
                k + 1
            ));
        }
        let eliminations: Vec<Elimination> = eliminations.into_iter().flatten().collect();
        let mut schur = vec![0.0; ns * ns];
        for (b, e) in blocks.iter().zip(&eliminations) {
            for i in 0..ns * ns {
                schur[i] += b.c[i] - e.bt_a_inv_b[i];
            }
        }
        if !determined(&schur, ns) || !cholesky(&mut schur, ns) {
            return singular(
                "the covariance cannot be estimated: the shared parameters are not determined (JᵀJ singular)".into(),
            );
        }
        let s_inv = cholesky_inverse(&schur, ns);
        // Each set's G: −A⁻¹B rows for its own parameters, unit rows for its shared ones, zero
        // rows for fixed ones; its covariance is A⁻¹ (own × own) + G S⁻¹ Gᵀ, scaled.
        let g: Vec<Vec<f64>> = (0..blocks.len())
            .map(|k| {
                let (e, spec) = (&eliminations[k], &self.specs[k]);
                let mut g = vec![0.0; spec.q * ns];
                for (i, &ji) in spec.local.iter().enumerate() {
                    for c in 0..ns {
                        g[ji * ns + c] = -e.a_inv_b[i * ns + c];
                    }
                }
                for &(jc, c) in &spec.shared {
                    g[jc * ns + c] = 1.0;
                }
                g
            })
            .collect();
        let covariances = (0..blocks.len())
            .into_par_iter()
            .with_min_len(8)
            .map(|k| {
                let (b, spec) = (&blocks[k], &self.specs[k]);
                let (q, nl) = (spec.q, spec.local.len());
                // A⁻¹ (its factor again: the elimination kept only products).
                let mut factor = b.a.clone();
                cholesky(&mut factor, nl);
                let a_inv = cholesky_inverse(&factor, nl);
                let free = spec.free();
                let mut cov = through_shared((&g[k], &free), (&g[k], &free), &s_inv, ns);
                for (i, &ji) in spec.local.iter().enumerate() {
                    for (j, &jj) in spec.local.iter().enumerate() {
                        cov[ji * q + jj] += a_inv[i * nl + j];
                    }
                }
                scale_free(&mut cov, (&free, &free), scale);
                cov
            })
            .collect();
        (covariances, Some(CrossFactors { ns, s_inv, scale, g }), None)
    }
}

/// G_a S⁻¹ G_bᵀ (q_a × q_b) over the free parameters of two sets (`free`: per parameter), zero
/// for fixed ones: the covariance between two sets' parameters through the shared ones, up to
/// the scale (and, within one set, A⁻¹ on its own × own block).
fn through_shared(
    (ga, free_a): (&[f64], &[bool]),
    (gb, free_b): (&[f64], &[bool]),
    s_inv: &[f64],
    ns: usize,
) -> Vec<f64> {
    let (qa, qb) = (free_a.len(), free_b.len());
    let mut out = vec![0.0; qa * qb];
    for i in (0..qa).filter(|i| free_a[*i]) {
        // Row i of G_a S⁻¹.
        let row: Vec<f64> = (0..ns).map(|c| (0..ns).map(|d| ga[i * ns + d] * s_inv[d * ns + c]).sum::<f64>()).collect();
        for j in (0..qb).filter(|j| free_b[*j]) {
            out[i * qb + j] = (0..ns).map(|c| row[c] * gb[j * ns + c]).sum();
        }
    }
    out
}

/// `m` (q_a × q_b) times `scale` where both parameters are free (fixed ones keep their 0: an
/// infinite scale makes their covariance 0, not NaN).
fn scale_free(m: &mut [f64], (free_a, free_b): (&[bool], &[bool]), scale: f64) {
    let qb = free_b.len();
    for (i, _) in free_a.iter().enumerate().filter(|(_, f)| **f) {
        for (j, _) in free_b.iter().enumerate().filter(|(_, f)| **f) {
            m[i * qb + j] *= scale;
        }
    }
}

/// scipy's gtol test: the largest cosine between the residual vector and a column of J,
/// |J_jᵀr| / (‖J_j‖·‖r‖), over every free parameter; true below `gtol` (and at r = 0).
fn gradient_converged(blocks: &[Blocks], rss: f64, gtol: f64) -> bool {
    if rss == 0.0 {
        return true;
    }
    let r = rss.sqrt();
    let mut largest: f64 = 0.0;
    for b in blocks {
        let nl = b.g.len();
        for i in 0..nl {
            let norm = b.a[i * nl + i].sqrt();
            if norm > 0.0 {
                largest = largest.max(b.g[i].abs() / (norm * r));
            }
        }
    }
    if let Some(first) = blocks.first() {
        let ns = first.h.len();
        for c in 0..ns {
            let g: f64 = blocks.iter().map(|b| b.h[c]).sum();
            let norm: f64 = blocks.iter().map(|b| b.c[c * ns + c]).sum::<f64>().sqrt();
            if norm > 0.0 {
                largest = largest.max(g.abs() / (norm * r));
            }
        }
    }
    largest <= gtol
}
