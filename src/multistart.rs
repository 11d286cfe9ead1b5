//! Multi-start global search: N starting points spread over the parameter box (Sobol, Latin
//! hypercube or uniform random), tournament rounds that run every survivor a few iterations
//! and keep the best half, then full fits of the finalists. Deterministic for a seed.
//!
//! It can only improve on a plain fit: the caller's own start is always fitted to the end
//! as one of the finalists, and the best is the lowest cost (the status breaks ties only).

use crate::backend::Kernels;
use crate::compiled::CompiledModel;
use crate::fit::{Data, Fit, FitBuilder, FitError};
use crate::problem::FreeParams;
use rayon::prelude::*;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// How starting points are drawn.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Sampler {
    /// Sobol' low-discrepancy points (up to 10 free parameters; Latin hypercube above, with a
    /// note).
    Sobol,
    /// Latin hypercube: every parameter's range cut into N strata, one point in each.
    Lhs,
    /// Independent uniform points.
    Random,
}

impl Sampler {
    pub fn from_name(name: &str) -> Option<Sampler> {
        match name {
            "sobol" => Some(Sampler::Sobol),
            "lhs" => Some(Sampler::Lhs),
            "random" => Some(Sampler::Random),
            _ => None,
        }
    }
}

/// Multi-start options.
#[derive(Clone, Debug)]
pub struct MultiStart {
    pub starts: usize,
    pub sampler: Sampler,
    pub seed: u64,
    /// The search box for parameters without finite bounds: initial value ± scale·h, where h
    /// is max(|initial|, the change that moves the model by the data's range to first order)
    /// (see [`search_half_widths`]); only the start's side of 0 for a parameter the model is
    /// even in; a location (a centre in `x - m`) is searched over its variable's range instead.
    pub scale: f64,
    /// Evaluations each survivor gets per tournament round.
    pub round_nfev: usize,
    /// Tournament rounds stop when this many starts are left; they are fitted to the end.
    pub finalists: usize,
}

impl Default for MultiStart {
    fn default() -> Self {
        MultiStart { starts: 64, sampler: Sampler::Sobol, seed: 0, scale: 1.0, round_nfev: 10, finalists: 4 }
    }
}

/// What a multi-start search found.
#[derive(Debug)]
pub struct MultiStartResult {
    /// The best fit: the lowest cost among the finalists, which always include the plain fit
    /// from the caller's start (so it is never worse than that fit). Its `initial` is the
    /// caller's start.
    pub best: Fit,
    /// Distinct local minima among the finalists, best first (copies that differ only by an
    /// exchange of parameter values at the same cost are one).
    pub minima: Vec<Fit>,
    pub starts: usize,
    /// Model evaluations of the whole search (residuals and Jacobians): the work, which grows
    /// in proportion to `starts`.
    pub evaluations: usize,
    /// What the search chose that the caller did not say (a sampler fallback, unbounded
    /// parameters' search box).
    pub notes: Vec<String>,
    pub elapsed: Duration,
}

fn splitmix(state: &mut u64) -> f64 {
    *state = state.wrapping_add(0x9E37_79B9_7F4A_7C15);
    let mut z = *state;
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    ((z ^ (z >> 31)) >> 11) as f64 / (1u64 << 53) as f64
}

/// Sobol' direction numbers (Joe & Kuo): (degree, coefficients, initial m) for dimensions 2–10.
const SOBOL: [(u32, u32, &[u32]); 9] = [
    (1, 0, &[1]),
    (2, 1, &[1, 3]),
    (3, 1, &[1, 3, 1]),
    (3, 2, &[1, 1, 1]),
    (4, 1, &[1, 1, 3, 3]),
    (4, 4, &[1, 3, 5, 13]),
    (5, 2, &[1, 1, 5, 5, 17]),
    (5, 4, &[1, 1, 5, 5, 5]),
    (5, 7, &[1, 1, 7, 11, 19]),
];

/// The first `n` points of the `dims`-dimensional Sobol' sequence in [0, 1)^dims (the point
/// 0 skipped), with a random digital shift from `seed` (0: no shift).
pub fn sobol(n: usize, dims: usize, seed: u64) -> Option<Vec<Vec<f64>>> {
    if dims > SOBOL.len() + 1 {
        return None;
    }
    const BITS: usize = 32;
    let mut directions: Vec<[u32; BITS]> = Vec::with_capacity(dims);
    for d in 0..dims {
        let mut v = [0u32; BITS];
        if d == 0 {
            for (i, slot) in v.iter_mut().enumerate() {
                *slot = 1 << (31 - i);
            }
        } else {
            let (s, a, m) = SOBOL[d - 1];
            let s = s as usize;
            for i in 0..s.min(BITS) {
                v[i] = m[i] << (31 - i);
            }
            for i in s..BITS {
                let mut value = v[i - s] ^ (v[i - s] >> s);
                for k in 1..s {
                    if (a >> (s - 1 - k)) & 1 == 1 {
                        value ^= v[i - k];
                    }
                }
                v[i] = value;
            }
        }
        directions.push(v);
    }
    let mut state = seed;
    let shift: Vec<u32> =
        (0..dims).map(|_| if seed == 0 { 0 } else { (splitmix(&mut state) * 4_294_967_296.0) as u32 }).collect();
    let mut x = vec![0u32; dims];
    let mut points = Vec::with_capacity(n);
    for i in 1..=n {
        // Gray-code order: flip the direction of the lowest zero bit of i - 1.
        let c = (i - 1).trailing_ones() as usize;
        for d in 0..dims {
            x[d] ^= directions[d][c.min(BITS - 1)];
        }
        points.push((0..dims).map(|d| f64::from(x[d] ^ shift[d]) / 4_294_967_296.0).collect());
    }
    Some(points)
}

/// `n` points in [0, 1)^dims from the sampler.
pub fn sample(sampler: Sampler, n: usize, dims: usize, seed: u64) -> Result<Vec<Vec<f64>>, FitError> {
    let mut state = seed ^ 0x5EED;
    Ok(match sampler {
        Sampler::Sobol => sobol(n, dims, seed).ok_or_else(|| {
            FitError::Invalid(format!("Sobol' points go up to {} parameters; use lhs or random", SOBOL.len() + 1))
        })?,
        Sampler::Random => (0..n).map(|_| (0..dims).map(|_| splitmix(&mut state)).collect()).collect(),
        Sampler::Lhs => {
            let mut points = vec![vec![0.0; dims]; n];
            for d in 0..dims {
                // A random permutation of the strata (Fisher–Yates), a random point in each.
                let mut strata: Vec<usize> = (0..n).collect();
                for i in (1..n).rev() {
                    let j = (splitmix(&mut state) * (i + 1) as f64) as usize;
                    strata.swap(i, j.min(i));
                }
                for (point, stratum) in points.iter_mut().zip(strata) {
                    point[d] = (stratum as f64 + splitmix(&mut state)) / n as f64;
                }
            }
            points
        }
    })
}

impl CompiledModel {
    /// Fits from many starting points and returns the best fit and the distinct minima.
    /// `configure` sets the fit's options (bounds, loss, ...); its initial values are the
    /// centre of the search box for parameters without finite bounds.
    pub fn multi_start<F>(
        self: &Arc<Self>,
        data: &Data,
        configure: F,
        options: &MultiStart,
    ) -> Result<MultiStartResult, FitError>
    where
        F: for<'d> Fn(FitBuilder<'d>) -> FitBuilder<'d> + Sync,
    {
        let started = Instant::now();
        let n = self.n_params();
        if options.starts == 0 {
            return Err(FitError::Invalid("multi-start needs at least one start".into()));
        }
        // The search box, from one plain fit's options (it also validates them).
        let probe = configure(self.fit(data)).max_nfev(1).run()?;
        let fixed: Vec<Option<f64>> = (0..n).map(|k| probe.fixed[k].then_some(probe.initial[k])).collect();
        let free = FreeParams::from_fixed(&fixed);
        let sampled = Sampled::new(self, data)?;
        let var_refs = sampled.var_refs();
        let boxes = SearchBox::new(
            self,
            data,
            &sampled.chunk(&var_refs),
            &probe.lower,
            &probe.upper,
            &probe.initial,
            free.indices(),
            options.scale,
        );
        let (lower, upper): (Vec<f64>, Vec<f64>) =
            free.indices().iter().map(|k| (boxes.lower[*k], boxes.upper[*k])).unzip();
        let mut notes = Vec::new();
        let unbounded: Vec<usize> =
            free.indices().iter().copied().filter(|k| boxes.rule[*k] != BoxRule::Bounds).collect();
        if !unbounded.is_empty() {
            notes.push(format!(
                "without finite bounds, searched {}; bounds set the search box",
                boxes.describe(self, &unbounded)
            ));
        }
        let sampler = if options.sampler == Sampler::Sobol && free.len() > SOBOL.len() + 1 {
            notes.push(format!(
                "Sobol' points go up to {} parameters: {} free ones were sampled by Latin hypercube",
                SOBOL.len() + 1,
                free.len()
            ));
            Sampler::Lhs
        } else {
            options.sampler
        };
        let unit = sample(sampler, options.starts, free.len(), options.seed)?;
        let mut candidates: Vec<Vec<f64>> = unit
            .iter()
            .map(|u| {
                // Strictly inside the box (TRF needs interior points).
                let inside: Vec<f64> =
                    (0..free.len()).map(|c| lower[c] + u[c].clamp(1e-6, 1.0 - 1e-6) * (upper[c] - lower[c])).collect();
                free.expand(&inside, &probe.initial)
            })
            .collect();

        // Tournament: a few evaluations for everyone, the better half goes on.
        let evaluations = std::sync::atomic::AtomicUsize::new(probe.nfev + probe.njev);
        let run_from = |x: &Vec<f64>, budget: Option<usize>| {
            let fit = configure(self.fit(data)).p0(x);
            let fit = match budget {
                Some(b) => fit.max_nfev(b).run(),
                None => fit.run(),
            };
            if let Ok(fit) = &fit {
                evaluations.fetch_add(fit.nfev + fit.njev, std::sync::atomic::Ordering::Relaxed);
            }
            fit
        };
        while candidates.len() > options.finalists.max(1) {
            let mut scored: Vec<(f64, Vec<f64>)> = candidates
                .par_iter()
                .map(|x| match run_from(x, Some(options.round_nfev.max(1))) {
                    Ok(fit) if fit.cost.is_finite() => (fit.cost, fit.values),
                    _ => (f64::INFINITY, x.clone()),
                })
                .collect();
            scored.sort_by(|a, b| a.0.total_cmp(&b.0));
            scored.truncate(candidates.len().div_ceil(2));
            candidates = scored.into_iter().map(|(_, x)| x).collect();
        }
        // The caller's own start is always fitted to the end, with the caller's budget: the
        // search can only improve on it. The other finalists get a budget of the same order
        // (4× what that fit used, at least 100 per parameter), so that finalists wandering
        // along a flat valley cannot make the search's time depend on luck; the best of them,
        // if stopped by that budget, goes on with the caller's.
        let user_budget = configure(self.fit(data))
            .into_options()?
            .solve
            .max_nfev
            .unwrap_or(crate::solve::DEFAULT_NFEV_PER_PARAM * free.len().max(1));
        let plain = run_from(&probe.initial, None);
        let cap = match &plain {
            Ok(fit) => (4 * fit.nfev).max(100 * (free.len() + 1)).min(user_budget),
            Err(_) => user_budget,
        };
        if cap < user_budget {
            notes.push(format!(
                "the other finalists had {cap} evaluations each (4× the given start's fit, at least 100 per parameter); the best, if stopped by that, went on to {user_budget}"
            ));
        }
        let mut finals: Vec<Fit> = candidates.par_iter().filter_map(|x| run_from(x, Some(cap)).ok()).collect();
        finals.extend(plain.ok());
        if finals.is_empty() {
            return Err(FitError::Invalid("no start could be fitted".into()));
        }
        let by_cost =
            |a: &Fit, b: &Fit| a.cost.total_cmp(&b.cost).then((!a.status.converged()).cmp(&!b.status.converged()));
        finals.sort_by(by_cost);
        if finals[0].status == crate::solve::Status::MaxEvaluations && cap < user_budget {
            if let Ok(more) = run_from(&finals[0].values, Some(user_budget - cap))
                && more.cost <= finals[0].cost
            {
                finals[0] = more;
            }
            finals.sort_by(by_cost);
        }
        let mut minima: Vec<Fit> = Vec::new();
        // Parameter sets with the cost of a listed minimum but other values (not a permutation
        // of them): a flat direction or a symmetry the check cannot see, never "distinct".
        let mut same_cost_elsewhere: Vec<f64> = Vec::new();
        for fit in &finals {
            let close = |a: f64, b: f64| (a - b).abs() <= 1e-6 * a.abs().max(b.abs()).max(1e-12);
            let same_cost = |m: &Fit| (m.cost - fit.cost).abs() <= 1e-9 * m.cost.abs().max(f64::MIN_POSITIVE);
            let same = |m: &Fit| {
                let equal = m.values.iter().zip(&fit.values).all(|(a, b)| close(*a, *b));
                // The same minimum with parameter values exchanged (two equal peaks swapped):
                // the same cost and the same values as a multiset.
                let sorted = |v: &[f64]| {
                    let mut v = v.to_vec();
                    v.sort_by(f64::total_cmp);
                    v
                };
                let permuted =
                    same_cost(m) && sorted(&m.values).iter().zip(&sorted(&fit.values)).all(|(a, b)| close(*a, *b));
                equal || permuted
            };
            if minima.iter().any(same) {
                continue;
            }
            if minima.iter().any(same_cost) {
                same_cost_elsewhere.push(fit.cost);
                continue;
            }
            minima.push(fit.clone());
        }
        if !same_cost_elsewhere.is_empty() {
            let costs: Vec<String> = same_cost_elsewhere.iter().map(|c| short(*c)).collect();
            notes.push(format!(
                "{} more parameter set{} reached the cost of a listed minimum ({}) with other values: a flat direction or a symmetry of the model, listed once",
                costs.len(),
                if costs.len() == 1 { "" } else { "s" },
                costs.join(", ")
            ));
        }
        let mut best = finals[0].clone();
        best.initial = probe.initial.clone();
        best.initial_given = probe.initial_given.clone();
        Ok(MultiStartResult {
            best,
            minima,
            starts: options.starts,
            evaluations: evaluations.into_inner(),
            notes,
            elapsed: started.elapsed(),
        })
    }
}

/// A number for a note: four significant digits.
fn short(v: f64) -> String {
    if v == 0.0 || !v.is_finite() {
        return v.to_string();
    }
    if v.abs() >= 1e6 || v.abs() < 1e-4 {
        return format!("{v:.3e}");
    }
    let digits = (3 - v.abs().log10().floor() as i32).clamp(0, 12) as usize;
    let text = format!("{v:.digits$}");
    if text.contains('.') { text.trim_end_matches('0').trim_end_matches('.').to_owned() } else { text }
}

/// What [`CompiledModel::pre_search`] found: starting values for the searched parameters.
#[derive(Clone, Debug)]
pub struct PreSearch {
    /// Every parameter's start: the searched ones at the best point, the others as given.
    pub values: Vec<f64>,
    /// The parameters searched, by name.
    pub searched: Vec<String>,
    /// Σ r² at the best point (on the rows evaluated), and at the given start.
    pub cost: f64,
    pub start_cost: f64,
    /// Points of the design (not counting the given start, which is evaluated too; where
    /// parameters are solved by least squares, each point also costs an evaluation of J).
    pub points: usize,
    /// The box searched and the rows used, in words.
    pub notes: Vec<String>,
}

/// Most rows a pre-search evaluates (evenly spaced beyond).
const PRE_SEARCH_ROWS: usize = 4096;

impl CompiledModel {
    /// A cheap global pre-search for starting values: Σ r² (plain least squares, on at most
    /// 4096 evenly spaced rows) at `points` Sobol' points over the box of the parameters named
    /// in `search` — their bounds; else for a location (`m` in `x - m`: `location_parameters`)
    /// its variable's range, for a parameter the model is even in (a width) the start's side
    /// of 0, and otherwise the start ± the change that moves the model by the data's range
    /// ([`search_half_widths`]) — the others held at the start `configure`
    /// gives. Searched parameters the model is linear in (amplitudes, offsets: found by
    /// evaluating J: `linear_parameters`) are not part of the design: at every point
    /// they are solved by linear least squares (and clamped to their bounds), so a peak's
    /// centre and width are searched in two dimensions, not four. No fit is run, in parallel
    /// over the points. The given start is one of the points, so the result is never worse
    /// than it.
    pub fn pre_search<F>(
        self: &Arc<Self>,
        data: &Data,
        configure: F,
        search: &[String],
        points: usize,
        seed: u64,
    ) -> Result<PreSearch, FitError>
    where
        F: for<'d> Fn(FitBuilder<'d>) -> FitBuilder<'d>,
    {
        let n = self.n_params();
        let options = configure(self.fit(data)).into_options()?;
        // (The box and the clamping below need bounds in order: refused as a fit refuses them.)
        crate::fit::bounds_in_order(self, &options)?;
        let index: Vec<usize> = search
            .iter()
            .map(|name| {
                self.params()
                    .iter()
                    .position(|p| p == name)
                    .ok_or_else(|| FitError::UnknownParameter { name: name.clone(), known: self.params().join(", ") })
            })
            .collect::<Result<_, _>>()?;
        if let Some(k) = index.iter().find(|k| options.fixed[**k].is_some()) {
            return Err(FitError::Invalid(format!("`{}` is fixed: it cannot be searched", self.params()[*k])));
        }
        let start: Vec<f64> = (0..n)
            .map(|k| {
                options.fixed[k]
                    .or(options.p0[k])
                    .unwrap_or_else(|| crate::fit::default_start(options.lower[k], options.upper[k]))
            })
            .collect();
        // The rows evaluated, and their weights.
        let sampled = Sampled::new(self, data)?;
        let len = data.len();
        let rows = &sampled.rows;
        let var_refs = sampled.var_refs();
        let chunk = sampled.chunk(&var_refs);
        let cost = |x: &[f64]| self.kernels().sum_of_squares(&chunk, x).unwrap_or(f64::NAN);
        let boxes = SearchBox::new(self, data, &chunk, &options.lower, &options.upper, &start, &index, 1.0);
        let linear = linear_parameters(self, &chunk, &index, &boxes.probe);
        let design: Vec<usize> = index.iter().copied().filter(|k| !linear.contains(k)).collect();
        // The linear parameters at their least-squares values for the others at x.
        let rows_used = rows.len();
        let solve_linear = |mut x: Vec<f64>| -> Vec<f64> {
            if linear.is_empty() {
                return x;
            }
            let Some((r, j)) = residuals_and_jacobian(self, &chunk, &x) else { return x };
            let a: Vec<f64> =
                (0..rows_used).flat_map(|i| linear.iter().map(move |k| (i, *k))).map(|(i, k)| j[i * n + k]).collect();
            if let Some(step) = crate::solve::linear_least_squares(&a, rows_used, linear.len(), &r) {
                for (k, dz) in linear.iter().zip(step) {
                    x[*k] = (x[*k] - dz).clamp(options.lower[*k], options.upper[*k]);
                }
            }
            x
        };
        let sampler = if design.len() > SOBOL.len() + 1 { Sampler::Lhs } else { Sampler::Sobol };
        let unit = if design.is_empty() { Vec::new() } else { sample(sampler, points, design.len(), seed)? };
        let candidates: Vec<Vec<f64>> = unit
            .iter()
            .map(|u| {
                let mut x = start.clone();
                for (c, k) in design.iter().enumerate() {
                    let (lower, upper) = (boxes.lower[*k], boxes.upper[*k]);
                    x[*k] = lower + u[c].clamp(1e-6, 1.0 - 1e-6) * (upper - lower);
                }
                x
            })
            .collect();
        let start_cost = cost(&start);
        let solved: Vec<(Vec<f64>, f64)> = std::iter::once(start.clone())
            .chain(candidates)
            .collect::<Vec<_>>()
            .into_par_iter()
            .map(|x| {
                let x = solve_linear(x);
                let c = cost(&x);
                (x, c)
            })
            .collect();
        let (mut best, mut best_cost) = (start.clone(), start_cost);
        for (x, c) in solved {
            // (NaN and ∞ never win; ties keep the earlier point.)
            if c.is_finite() && (c < best_cost || best_cost.is_nan()) {
                best = x;
                best_cost = c;
            }
        }
        let described = boxes.describe(self, &design);
        let names = |ks: &[usize]| ks.iter().map(|k| self.params()[*k].as_str()).collect::<Vec<_>>().join(", ");
        let solved_note = if linear.is_empty() {
            String::new()
        } else {
            format!("; {} by linear least squares at each point (the model is linear in them)", names(&linear))
        };
        let rows_note = if rows.len() < len { format!(", on {} of the {len} rows", rows.len()) } else { String::new() };
        let mut notes = vec![if design.is_empty() {
            format!(
                "pre-search: {} by linear least squares from the start (the model is linear in them){rows_note}",
                names(&linear)
            )
        } else {
            // The seed is said where it is not the default: the design is its points.
            let seeded = if seed == 0 { String::new() } else { format!(" (seed {seed})") };
            format!(
                "pre-search: Σr² at {points} {}{seeded} points over {}{solved_note}{rows_note}",
                if sampler == Sampler::Sobol { "Sobol'" } else { "Latin hypercube" },
                described,
            )
        }];
        if best == start {
            notes.push("pre-search: no point of the design was better than the given start; it is kept".into());
        }
        let points = if design.is_empty() { 0 } else { points };
        Ok(PreSearch {
            values: best,
            searched: search.to_vec(),
            cost: best_cost,
            start_cost,
            points: points + 1,
            notes,
        })
    }
}

impl CompiledModel {
    /// The library's guesses from the data's shape (`guess::guess`) for a model of one
    /// variable, keeping only its parameters not named in `given` (those with a start or a fixed
    /// value already); nothing for a model of several variables. What `jitfit fit` and
    /// Python's `guess=True` both start from, before the pre-search.
    pub fn shape_guess(&self, data: &Data, given: &[&str]) -> crate::guess::Guess {
        let [var] = self.vars() else { return crate::guess::Guess::default() };
        let x = data.column(var).unwrap_or_default();
        let mut out = crate::guess::guess(self.source(), var, x, data.response());
        out.values.retain(|(name, _)| !given.contains(&name.as_str()) && self.params().contains(name));
        out
    }

    /// Starts from the data for the parameters `given` names no start for (`jitfit fit`'s
    /// guesses and `--guess`, Python's `guess=True`): where `shapes`, the library's guesses
    /// ([`CompiledModel::shape_guess`]); where `search`, then a pre-search
    /// ([`CompiledModel::pre_search`], 256 points from `seed`) over the parameters still
    /// without one, from the options `configure` sets with the shape guesses applied. Each
    /// front end says what was found in its own words (its flags' names).
    pub fn guess_starts<F>(
        self: &Arc<Self>,
        data: &Data,
        configure: F,
        given: &[&str],
        shapes: bool,
        search: bool,
        seed: u64,
    ) -> Result<GuessedStarts, FitError>
    where
        F: for<'d> Fn(FitBuilder<'d>) -> FitBuilder<'d>,
    {
        let mut out = GuessedStarts::default();
        if shapes {
            // (What the guessers said counts only with a start to show for it.)
            let guess = self.shape_guess(data, given);
            if !guess.values.is_empty() {
                (out.shaped, out.shape_notes) = (guess.values, guess.notes);
            }
        }
        if !search {
            return Ok(out);
        }
        let names: Vec<String> = self
            .params()
            .iter()
            .filter(|p| !given.contains(&p.as_str()) && !out.shaped.iter().any(|(n, _)| n == *p))
            .cloned()
            .collect();
        if names.is_empty() {
            return Ok(out);
        }
        let with_shapes =
            crate::fit::fit_options(|fit| out.shaped.iter().fold(configure(fit), |fit, (n, v)| fit.initial(n, *v)));
        let found = self.pre_search(data, with_shapes, &names, 256, seed)?;
        out.searched = names
            .into_iter()
            .map(|name| {
                let k = self.params().iter().position(|p| *p == name).expect("a parameter");
                (name, found.values[k])
            })
            .collect();
        out.search = Some(found);
        Ok(out)
    }
}

/// What [`CompiledModel::guess_starts`] found.
#[derive(Clone, Debug, Default)]
pub struct GuessedStarts {
    /// Starts from the lineshapes' guesses, and what the guessers said.
    pub shaped: Vec<(String, f64)>,
    pub shape_notes: Vec<String>,
    /// Starts from the pre-search, and the search itself (its box, Σr² there and at the
    /// start); none when it was not asked for or every parameter had a start.
    pub searched: Vec<(String, f64)>,
    pub search: Option<PreSearch>,
}

/// The parameters among `candidates` that the model is linear in, jointly: changing them all
/// at once leaves their columns of J unchanged (to 1e-9 of each column's largest value), at
/// `x` on the chunk's rows. A column too small to matter (moving its parameter by its own size
/// changes the model by less than 1e-6 of the residuals) is never counted linear: a peak's
/// centre far from the data has a zero column at any centre nearby.
pub(crate) fn linear_parameters(
    model: &CompiledModel,
    chunk: &crate::backend::Chunk<'_>,
    candidates: &[usize],
    x: &[f64],
) -> Vec<usize> {
    let (rows, n) = (chunk.y.len(), model.n_params());
    let Some((r, j0)) = residuals_and_jacobian(model, chunk, x) else { return Vec::new() };
    let r_norm = r.iter().map(|v| v * v).sum::<f64>().sqrt();
    let column_max = |j: &[f64], k: usize| (0..rows).fold(0.0f64, |m, i| m.max(j[i * n + k].abs()));
    let mut linear: Vec<usize> = Vec::new();
    for &k in candidates {
        let norm = (0..rows).map(|i| j0[i * n + k].powi(2)).sum::<f64>().sqrt();
        if norm * (1.0 + x[k].abs()) <= 1e-6 * r_norm || norm.is_nan() {
            continue;
        }
        let mut trial = linear.clone();
        trial.push(k);
        // Moved up and down (`abs(a)*x` is linear on either side of 0, not across it).
        let unchanged_after = |sign: f64| {
            let mut moved = x.to_vec();
            for (c, t) in trial.iter().enumerate() {
                moved[*t] += sign * (0.731 + 0.11 * c as f64) * (1.0 + moved[*t].abs());
            }
            residuals_and_jacobian(model, chunk, &moved).is_some_and(|(_, j1)| {
                trial.iter().all(|t| {
                    let scale = column_max(&j0, *t);
                    (0..rows).all(|i| (j0[i * n + t] - j1[i * n + t]).abs() <= 1e-9 * scale)
                })
            })
        };
        if unchanged_after(1.0) && unchanged_after(-1.0) {
            linear = trial;
        }
    }
    linear
}

/// At most [`PRE_SEARCH_ROWS`] evenly spaced rows of the data: the variables, the response
/// and the weights (1/σ) that the searches evaluate.
struct Sampled {
    rows: Vec<usize>,
    vars: Vec<Vec<f64>>,
    y: Vec<f64>,
    weights: Option<Vec<f64>>,
}

impl Sampled {
    fn new(model: &CompiledModel, data: &Data) -> Result<Sampled, FitError> {
        let len = data.len();
        let step = len.div_ceil(PRE_SEARCH_ROWS).max(1);
        let rows: Vec<usize> = (0..len).step_by(step).collect();
        let pick = |c: &[f64]| rows.iter().map(|i| c[*i]).collect::<Vec<f64>>();
        // (Every variable present, of y's length, finite, as a fit requires.)
        let vars = crate::fit::checked_columns(model, data)?.into_iter().map(pick).collect();
        let y = pick(data.response());
        let weights = data.sigma_values().map(|s| pick(s).iter().map(|s| 1.0 / s).collect());
        Ok(Sampled { rows, vars, y, weights })
    }

    fn var_refs(&self) -> Vec<&[f64]> {
        self.vars.iter().map(Vec::as_slice).collect()
    }

    fn chunk<'a>(&'a self, var_refs: &'a [&'a [f64]]) -> crate::backend::Chunk<'a> {
        crate::backend::Chunk { vars: var_refs, y: &self.y, weights: self.weights.as_deref() }
    }
}

/// Why a parameter's search interval is what it is, where it is not its bounds or the start ±
/// the change that moves the model by the data's range.
#[derive(Clone, Copy, Debug, PartialEq)]
enum BoxRule {
    /// Both bounds finite: the bounds.
    Bounds,
    /// A location in variable `.0` (`location_parameters`): that variable's range.
    Location(usize),
    /// The model is even in it (`is_even_in`): the start's side of 0.
    Even,
    /// The start ± the change that moves the model by the data's range (× the scale).
    Scale,
}

/// The interval each parameter of a search is sampled over (both searches: `pre_search` and
/// `multi_start`), indexed by parameter; `probe` is the start with every location outside its
/// range moved to the middle of it — where a peak far from the start has columns of J at all,
/// so where the widths and (for the pre-search) the linear parameters are measured.
struct SearchBox {
    lower: Vec<f64>,
    upper: Vec<f64>,
    rule: Vec<BoxRule>,
    probe: Vec<f64>,
    scale: f64,
}

impl SearchBox {
    #[allow(clippy::too_many_arguments)]
    fn new(
        model: &CompiledModel,
        data: &Data,
        chunk: &crate::backend::Chunk<'_>,
        lower: &[f64],
        upper: &[f64],
        start: &[f64],
        candidates: &[usize],
        scale: f64,
    ) -> SearchBox {
        let n = model.n_params();
        let bounded = |k: usize| lower[k].is_finite() && upper[k].is_finite();
        let open: Vec<usize> = candidates.iter().copied().filter(|k| !bounded(*k)).collect();
        let mut rule = vec![BoxRule::Bounds; n];
        let (mut lo, mut hi) = (lower.to_vec(), upper.to_vec());
        let mut probe = start.to_vec();
        for (k, v) in location_parameters(model, chunk, &open, start) {
            let (low, high) = finite_range(data.column(&model.vars()[v]).unwrap_or(&[]));
            let (low, high) = (low.max(lower[k]), high.min(upper[k]));
            if low < high {
                (lo[k], hi[k], rule[k]) = (low, high, BoxRule::Location(v));
                if !(low..=high).contains(&start[k]) {
                    probe[k] = 0.5 * (low + high);
                }
            }
        }
        let half_widths = search_half_widths(model, data, &probe);
        for &k in &open {
            if rule[k] != BoxRule::Bounds {
                continue;
            }
            let (p, r) = (start[k], scale * half_widths[k]);
            (lo[k], hi[k], rule[k]) = if is_even_in(model, chunk, k, &probe) {
                if p >= 0.0 {
                    (lower[k].max(0.0), (p + r).min(upper[k]), BoxRule::Even)
                } else {
                    ((p - r).max(lower[k]), upper[k].min(0.0), BoxRule::Even)
                }
            } else {
                ((p - r).max(lower[k]), (p + r).min(upper[k]), BoxRule::Scale)
            };
        }
        SearchBox { lower: lo, upper: hi, rule, probe, scale }
    }

    /// `name in [lower, upper] (why), …` for the parameters `ks`; the boxes that are the start ±
    /// the data's change are said once, after the list.
    fn describe(&self, model: &CompiledModel, ks: &[usize]) -> String {
        let name = |k: usize| model.params()[k].as_str();
        let entries: Vec<String> = ks
            .iter()
            .map(|&k| {
                let why = match self.rule[k] {
                    BoxRule::Bounds => " (its bounds)".to_owned(),
                    BoxRule::Location(v) => format!(" ({0}'s range: a location in {0})", model.vars()[v]),
                    BoxRule::Even => format!(" (the start's side of 0: the model is even in {})", name(k)),
                    BoxRule::Scale => String::new(),
                };
                format!("{} in [{}, {}]{why}", name(k), short(self.lower[k]), short(self.upper[k]))
            })
            .collect();
        let scaled: Vec<&str> = ks.iter().filter(|k| self.rule[**k] == BoxRule::Scale).map(|k| name(*k)).collect();
        let mut text = entries.join(", ");
        if !scaled.is_empty() {
            let which = if scaled.len() == ks.len() { "each".to_owned() } else { scaled.join(", ") };
            let factor = if self.scale == 1.0 { String::new() } else { format!("{} × ", self.scale) };
            text += &format!(
                " ({which}: the start ± {factor}max(|start|, the change that moves the model by the data's range))"
            );
        }
        text
    }
}

/// The smallest and largest finite value of a column (`(∞, −∞)` when there is none).
fn finite_range(column: &[f64]) -> (f64, f64) {
    column.iter().filter(|v| v.is_finite()).fold((f64::INFINITY, f64::NEG_INFINITY), |(l, h), v| (l.min(*v), h.max(*v)))
}

/// The parameters among `candidates` that are a location in one of the variables, with that
/// variable's index: moving the parameter and the variable together by the same amount leaves
/// the parameter's column of J unchanged (to 1e-8 of its largest value), while moving the
/// variable alone changes it — a peak's centre `m` in `x - m` (one peak of several too: the
/// others' terms drop out of the column), an onset, a phase written `x - phi`; never an offset
/// (its column is constant) or a slope. Tested with the parameter at three quartiles of the
/// variable and the others at `x`, then again with the others moved (`w*x - phi` is invariant
/// only while w is 1, its default start); a test that cannot decide (a column of zeros) does not
/// count. Variables of fewer than three values (the dense global fit's set indicators) are
/// not tested.
fn location_parameters(
    model: &CompiledModel,
    chunk: &crate::backend::Chunk<'_>,
    candidates: &[usize],
    x: &[f64],
) -> Vec<(usize, usize)> {
    let (rows, n) = (chunk.y.len(), model.n_params());
    let column = |chunk: &crate::backend::Chunk<'_>, p: &[f64], k: usize| -> Option<Vec<f64>> {
        residuals_and_jacobian(model, chunk, p).map(|(_, j)| (0..rows).map(|i| j[i * n + k]).collect())
    };
    let largest = |c: &[f64]| c.iter().fold(0.0f64, |m, v| m.max(v.abs()));
    let mut found = Vec::new();
    for (v, values) in chunk.vars.iter().enumerate() {
        let mut sorted: Vec<f64> = values.iter().copied().filter(|v| v.is_finite()).collect();
        sorted.sort_by(f64::total_cmp);
        sorted.dedup();
        if sorted.len() < 3 {
            continue;
        }
        let (low, high) = (sorted[0], sorted[sorted.len() - 1]);
        let shift = (high - low) / std::f64::consts::PI;
        if !shift.is_finite() {
            continue;
        }
        let moved: Vec<f64> = values.iter().map(|t| t + shift).collect();
        let mut vars = chunk.vars.to_vec();
        vars[v] = &moved;
        let shifted = crate::backend::Chunk { vars: &vars, y: chunk.y, weights: chunk.weights };
        // (None: not a location; Some(depends): invariant, and whether the variable matters.)
        let invariant_at = |others: &[f64], k: usize| -> Option<bool> {
            let mut depends = false;
            for q in [0.25, 0.5, 0.75] {
                let c = sorted[(q * (sorted.len() - 1) as f64) as usize];
                let mut p = others.to_vec();
                p[k] = c;
                let j0 = column(chunk, &p, k)?;
                let scale = largest(&j0);
                if scale == 0.0 {
                    continue;
                }
                let differs = |a: &[f64], tol: f64| a.iter().zip(&j0).any(|(a, b)| (a - b).abs() > tol * scale);
                let mut p_moved = p.clone();
                p_moved[k] = c + shift;
                if differs(&column(&shifted, &p_moved, k)?, 1e-8) {
                    return None;
                }
                depends = depends || differs(&column(&shifted, &p, k)?, 1e-3);
            }
            Some(depends)
        };
        for &k in candidates {
            if found.iter().any(|(f, _)| *f == k) {
                continue;
            }
            if invariant_at(x, k) == Some(true) && invariant_at(&others_moved(x, k), k).is_some() {
                found.push((k, v));
            }
        }
    }
    found
}

/// `x` with every parameter but `k` moved by a tenth of itself and 0.1 (off the defaults 0 and 1):
/// a second point for the tests above, at which a property that holds only by coincidence
/// (a slope that starts at 1, a coefficient at 0) fails.
fn others_moved(x: &[f64], k: usize) -> Vec<f64> {
    x.iter().enumerate().map(|(j, v)| if j == k { *v } else { 1.1 * v + 0.1 }).collect()
}

/// Whether the model is even in parameter `k` (a width that enters squared): its values at
/// ±x[k] agree to 1e-12 of their size on the chunk's rows, and moving x[k] by half its size
/// changes them (a parameter the model ignores there is not even, only absent) — at `x`, and
/// again with the other parameters moved (`A*w + …` is even in w while A is 0).
fn is_even_in(model: &CompiledModel, chunk: &crate::backend::Chunk<'_>, k: usize, x: &[f64]) -> bool {
    if x[k] == 0.0 || !x[k].is_finite() {
        return false;
    }
    // (None: not even; Some(depends): even, and whether the model changes with x[k].)
    let even_at = |others: &[f64]| -> Option<bool> {
        let at = |value: f64| {
            let mut p = others.to_vec();
            p[k] = value;
            residuals_and_jacobian(model, chunk, &p).map(|(r, _)| r)
        };
        let (plus, minus, other) = (at(x[k])?, at(-x[k])?, at(1.5 * x[k])?);
        let scale = plus.iter().chain(chunk.y).fold(0.0f64, |m, v| m.max(v.abs()));
        let close = |a: &[f64], tol: f64| a.iter().zip(&plus).all(|(a, b)| (a - b).abs() <= tol * scale);
        (scale > 0.0 && close(&minus, 1e-12)).then(|| !close(&other, 1e-6))
    };
    even_at(x) == Some(true) && even_at(&others_moved(x, k)).is_some()
}

/// The chunk's residuals and Jacobian (row-major) at x, if every value is finite.
fn residuals_and_jacobian(
    model: &CompiledModel,
    chunk: &crate::backend::Chunk<'_>,
    x: &[f64],
) -> Option<(Vec<f64>, Vec<f64>)> {
    let (rows, n) = (chunk.y.len(), model.n_params());
    let (mut r, mut j) = (vec![0.0; rows], vec![0.0; rows * n]);
    let ok = model.kernels().residual_jacobian(chunk, x, &mut r, &mut j).is_ok()
        && r.iter().chain(&j).all(|v| v.is_finite());
    ok.then_some((r, j))
}

/// For each parameter, the half-width of the search interval when it has no finite bounds:
/// max(|p0|, range(t(y)) / rms ∂f/∂p at p0) — the larger of its own size and the change that
/// moves the model by the whole range of the data, to first order (a peak's centre gets about
/// the data's x range, not ±10·|p0|). Up to 4096 evenly spaced points are evaluated; where the
/// derivative is zero or not finite, max(1, |p0|).
pub fn search_half_widths(model: &CompiledModel, data: &Data, p0: &[f64]) -> Vec<f64> {
    let n = model.n_params();
    let fallback: Vec<f64> = p0.iter().map(|p| p.abs().max(1.0)).collect();
    let len = data.len();
    if len == 0 || p0.len() != n {
        return fallback;
    }
    let columns: Vec<&[f64]> = model.vars().iter().map(|v| data.column(v).unwrap_or(&[])).collect();
    if columns.is_empty() || columns.iter().any(|c| c.len() != len) || data.response().len() != len {
        return fallback;
    }
    let step = len.div_ceil(4096);
    let rows: Vec<usize> = (0..len).step_by(step).collect();
    let pick = |c: &[f64]| rows.iter().map(|i| c[*i]).collect::<Vec<f64>>();
    let vars: Vec<Vec<f64>> = columns.iter().map(|c| pick(c)).collect();
    let var_refs: Vec<&[f64]> = vars.iter().map(Vec::as_slice).collect();
    let response = pick(data.response());
    let values = crate::ir::Interpreter::new(model.kernel()).eval_batch(&var_refs, Some(&response), p0);
    if values.jacobian.len() != rows.len() * n {
        return fallback;
    }
    let target = values.response.as_deref().unwrap_or(&response);
    let (low, high) = target
        .iter()
        .filter(|v| v.is_finite())
        .fold((f64::INFINITY, f64::NEG_INFINITY), |(l, h), v| (l.min(*v), h.max(*v)));
    let range = high - low;
    (0..n)
        .map(|k| {
            let mean_square =
                (0..rows.len()).map(|i| values.jacobian[i * n + k].powi(2)).sum::<f64>() / rows.len() as f64;
            let change = range / mean_square.sqrt();
            if change.is_finite() && change > 0.0 { change.max(p0[k].abs()) } else { fallback[k] }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The first 2^k Sobol' points in two dimensions put exactly one point in each of the 2^k
    /// dyadic boxes of any shape 2^-a × 2^-(k-a): a (0, k, 2)-net.
    #[test]
    fn sobol_is_a_net_in_two_dimensions() {
        let k = 8;
        let mut points = vec![vec![0.0, 0.0]];
        points.extend(sobol((1 << k) - 1, 2, 0).unwrap());
        for a in 0..=k {
            let mut seen = std::collections::HashSet::new();
            for p in &points {
                let cell = ((p[0] * (1 << a) as f64) as u64, (p[1] * (1 << (k - a)) as f64) as u64);
                assert!(seen.insert(cell), "two points in one {a}×{} box", k - a);
            }
        }
    }

    #[test]
    fn lhs_stratifies_every_dimension() {
        let points = sample(Sampler::Lhs, 50, 3, 7).unwrap();
        for d in 0..3 {
            let mut strata: Vec<usize> = points.iter().map(|p| (p[d] * 50.0) as usize).collect();
            strata.sort_unstable();
            assert_eq!(strata, (0..50).collect::<Vec<_>>());
        }
    }
}
