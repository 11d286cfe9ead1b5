//! The solvers: Trust Region Reflective (bounds, robust losses, scaling) and
//! Levenberg–Marquardt (Moré 1978), over any [`Problem`].
//!
//! The solver sees only the `Problem` contract: residuals and Jacobian for a parameter
//! vector. It never sees expressions, kernels or data files.

mod checkpoint;
mod common;
mod covariance;
mod lm;
mod normal_equations;
mod problem;
mod trf;

pub use crate::loss::{Loss, LossSpec};
pub use checkpoint::{CHECKPOINT_FORMAT, Checkpoint, CheckpointError};
pub use covariance::{Covariance, covariance, covariance_from_gram};
pub use normal_equations::{
    NormalEquations, Partials, PointSums, cholesky, cholesky_inverse, cholesky_solve, cholesky_with_floor,
};
pub use problem::{ClosureProblem, FiniteDifference, Problem, finite_difference_jacobian};

/// Which algorithm runs.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Method {
    /// TRF. (curve_fit picks LM when there are no bounds; measured on the NIST StRD suite
    /// from both starts, TRF reaches 6 digits on all 54 fits and LM on 52 — LM stops on the
    /// plateaus of BoxBOD and MGH17 from start 1 — so jitfit's default is TRF everywhere.)
    #[default]
    Auto,
    Trf,
    Lm,
}

impl Method {
    pub fn name(self) -> &'static str {
        match self {
            Method::Auto => "auto",
            Method::Trf => "trf",
            Method::Lm => "lm",
        }
    }
}

/// How parameters are scaled in the trust region.
#[derive(Clone, Debug, Default, PartialEq)]
pub enum XScale {
    /// Inverse column norms of the Jacobian, never decreasing (scipy's `x_scale="jac"`).
    #[default]
    Jacobian,
    /// A fixed characteristic scale per parameter.
    Fixed(Vec<f64>),
}

/// Solver options. Tolerances have scipy's meanings (for LM, MINPACK's).
#[derive(Clone, Debug)]
pub struct SolveOptions {
    pub method: Method,
    /// Stop when the relative reduction of the cost is below `ftol`.
    pub ftol: f64,
    /// Stop when the relative step is below `xtol`.
    pub xtol: f64,
    /// Stop when the (scaled) gradient's infinity norm is below `gtol`.
    pub gtol: f64,
    /// Most residual evaluations (default 1000·n: ten times scipy's 100·n, which stops
    /// Bennett5 and MGH17 short of their certified values).
    pub max_nfev: Option<usize>,
    pub x_scale: XScale,
    pub loss: Loss,
    /// The residual scale of a robust loss: residuals far above it are down-weighted.
    pub f_scale: f64,
    /// Lower and upper bounds per parameter (±∞ for none); empty means unbounded.
    pub lower: Vec<f64>,
    pub upper: Vec<f64>,
    /// Whether the solver stores J or only JᵀJ.
    pub jacobian: JacobianMode,
}

/// How the solver holds the Jacobian.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum JacobianMode {
    /// Dense J (best conditioning: the subproblem is an SVD of J) unless J would exceed
    /// [`DENSE_JACOBIAN_LIMIT`] values and the problem can accumulate JᵀJ itself.
    #[default]
    Auto,
    /// Always store J (m × n).
    Dense,
    /// Never store J: accumulate JᵀJ, Jᵀr over the data (O(n²) memory); the subproblem is an
    /// eigendecomposition of the scaled JᵀJ. Squares the condition number.
    NormalEquations,
}

/// Above this many Jacobian entries (2 MiB of f64: ~87 000 points of a 3-parameter model),
/// `JacobianMode::Auto` streams the normal equations. Measured with `examples/large.rs`: at
/// 10^6 points the dense path (one SVD of J per iteration, single-threaded) takes 0.93 s, the
/// streamed one 0.07 s; every NIST problem (≤ 250 points) stays dense.
pub const DENSE_JACOBIAN_LIMIT: usize = 1 << 18;

/// The default evaluation budget per parameter.
pub const DEFAULT_NFEV_PER_PARAM: usize = 1000;

/// Default tolerances (scipy's are 1e-8). Measured on the 27 NIST StRD problems from both
/// starts (`tests/solve.rs`): 1e-15 with a budget of 1000·n evaluations brings all 54 fits of
/// both LM and TRF to at least 6 correct digits; 1e-12 leaves 4 short, 1e-10 eight.
pub const DEFAULT_FTOL: f64 = 1e-15;
pub const DEFAULT_XTOL: f64 = 1e-15;
pub const DEFAULT_GTOL: f64 = 1e-15;

impl Default for SolveOptions {
    fn default() -> Self {
        SolveOptions {
            method: Method::Auto,
            ftol: DEFAULT_FTOL,
            xtol: DEFAULT_XTOL,
            gtol: DEFAULT_GTOL,
            max_nfev: None,
            x_scale: XScale::Jacobian,
            loss: Loss::Linear,
            f_scale: 1.0,
            lower: Vec::new(),
            upper: Vec::new(),
            jacobian: JacobianMode::Auto,
        }
    }
}

/// Why the solver stopped. Not converging is a status, not an error.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    /// The evaluation budget ran out (scipy status 0).
    MaxEvaluations,
    /// `gtol` (1).
    Gtol,
    /// `ftol` (2).
    Ftol,
    /// `xtol` (3).
    Xtol,
    /// `ftol` and `xtol` (4).
    FtolXtol,
    /// The Jacobian stopped being finite (-2: not a scipy status).
    NonFiniteJacobian,
    /// Stopped on request (Ctrl-C) after an iteration (-3: not a scipy status).
    Interrupted,
    /// The trust-region subproblem's SVD failed mid-fit (-4: not a scipy status); the fit
    /// stops at its last accepted parameters. A status, not an error: the report is printed.
    LinearAlgebraFailure,
}

impl Status {
    pub fn from_code(code: i32) -> Status {
        match code {
            1 => Status::Gtol,
            2 => Status::Ftol,
            3 => Status::Xtol,
            4 => Status::FtolXtol,
            -2 => Status::NonFiniteJacobian,
            -3 => Status::Interrupted,
            -4 => Status::LinearAlgebraFailure,
            _ => Status::MaxEvaluations,
        }
    }

    /// scipy's status code.
    pub fn code(self) -> i32 {
        match self {
            Status::MaxEvaluations => 0,
            Status::Gtol => 1,
            Status::Ftol => 2,
            Status::Xtol => 3,
            Status::FtolXtol => 4,
            Status::NonFiniteJacobian => -2,
            Status::Interrupted => -3,
            Status::LinearAlgebraFailure => -4,
        }
    }

    /// scipy's message.
    pub fn message(self) -> &'static str {
        match self {
            Status::MaxEvaluations => "The maximum number of function evaluations is exceeded.",
            Status::Gtol => "`gtol` termination condition is satisfied.",
            Status::Ftol => "`ftol` termination condition is satisfied.",
            Status::Xtol => "`xtol` termination condition is satisfied.",
            Status::FtolXtol => "Both `ftol` and `xtol` termination conditions are satisfied.",
            Status::NonFiniteJacobian => "The Jacobian is not finite at the current parameters.",
            Status::Interrupted => "Interrupted; the last state is in the checkpoint, if one was asked for.",
            Status::LinearAlgebraFailure => {
                "The singular value decomposition of the scaled Jacobian did not converge; the fit stopped at its last accepted parameters."
            }
        }
    }

    /// True for the tolerance-based stops.
    pub fn converged(self) -> bool {
        self.code() > 0
    }
}

/// What a solver returns.
#[derive(Clone, Debug)]
pub struct Solution {
    pub x: Vec<f64>,
    /// ½ Σ ρ(r²) at x.
    pub cost: f64,
    /// r(x), before any robust-loss scaling.
    pub residuals: Vec<f64>,
    /// J(x), row-major m × n, as the solver last used it (scaled by a robust loss); empty
    /// when the solver ran on the normal equations.
    pub jacobian: Vec<f64>,
    /// JᵀJ at x (n × n, full) when the solver ran on the normal equations; empty otherwise
    /// (then `jacobian` holds J itself).
    pub jtj: Vec<f64>,
    /// How the Jacobian was held.
    pub jacobian_mode: JacobianMode,
    pub gradient: Vec<f64>,
    /// First-order optimality: the infinity norm of the (Coleman–Li scaled) gradient.
    pub optimality: f64,
    /// −1 / +1 where x is at its lower / upper bound, 0 elsewhere.
    pub active_mask: Vec<i8>,
    pub nfev: usize,
    pub njev: usize,
    pub iterations: usize,
    pub status: Status,
    /// The algorithm that actually ran.
    pub method: Method,
}

/// Why a problem cannot be solved at all (bad input, or an evaluation failure).
#[derive(Clone, Debug, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum SolveError {
    #[error("{0}")]
    InvalidInput(String),
    #[error("the residuals are not finite at the initial parameters {0:?}")]
    NonFiniteStart(Vec<f64>),
    #[error("the Jacobian is not finite at the initial parameters {0:?}")]
    NonFiniteJacobianAtStart(Vec<f64>),
    #[error("the singular value decomposition did not converge")]
    LinearAlgebra,
    #[error("evaluating the model failed: {0}")]
    Evaluation(String),
}

/// TRF's state between two iterations: everything needed to continue a fit exactly as if it
/// had not stopped (the residuals and Jacobian are recomputed from `x`).
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct TrfState {
    pub x: Vec<f64>,
    pub delta: f64,
    pub alpha: f64,
    pub scale_inv: Vec<f64>,
    pub nfev: usize,
    pub njev: usize,
    pub iterations: usize,
    /// The cost at x: for progress displays, and checked on resuming (the cost at x must be
    /// this, bit for bit).
    pub cost: f64,
    /// The status code when this iteration ended the fit (a checkpoint of a finished fit):
    /// resuming it finishes at once instead of iterating again.
    #[serde(default)]
    pub status: Option<i32>,
}

/// Called with the state at the end of an iteration, and whether the fit is being interrupted.
pub type IterationHook<'a> = dyn FnMut(&TrfState, bool) + 'a;

/// Hooks into a running solve: iteration callbacks and resuming are TRF's; `cancel` works
/// for TRF and LM.
#[derive(Default)]
pub struct Hooks<'a> {
    /// Called at the end of every iteration with the state to resume from; the flag is true
    /// when the fit is being interrupted (save now).
    pub on_iteration: Option<&'a mut IterationHook<'a>>,
    /// When set (by a Ctrl-C handler, say), the fit stops after the current iteration with
    /// [`Status::Interrupted`].
    pub cancel: Option<&'a std::sync::atomic::AtomicBool>,
    /// Continue from this state instead of starting at `x0`.
    pub resume: Option<TrfState>,
}

/// Why bounds cannot be used.
#[derive(Clone, Debug, PartialEq, thiserror::Error)]
pub enum BoundsError {
    #[error("bounds for {lower} and {upper} parameters, expected {n}")]
    Length { lower: usize, upper: usize, n: usize },
    #[error("parameter {index}: the lower bound {lower} is not below the upper bound {upper}")]
    Order { index: usize, lower: f64, upper: f64 },
}

/// The one check of bounds, shared by the solver, the fit façade and the batch solvers: n
/// lower and n upper values, each lower strictly below its upper (no NaN; ±∞ for none).
pub fn check_bounds(lower: &[f64], upper: &[f64], n: usize) -> Result<(), BoundsError> {
    if lower.len() != n || upper.len() != n {
        return Err(BoundsError::Length { lower: lower.len(), upper: upper.len(), n });
    }
    match (0..n).find(|k| lower[*k].partial_cmp(&upper[*k]) != Some(std::cmp::Ordering::Less)) {
        Some(index) => Err(BoundsError::Order { index, lower: lower[index], upper: upper[index] }),
        None => Ok(()),
    }
}

/// The minimum-norm least-squares solution of A·z ≈ b (A `rows × cols`, row-major), from the
/// SVD the solvers use (QR + Jacobi for narrow A) with singular values at rounding dropped
/// ([`common::rounding_cut`]); `None` if the SVD fails.
pub fn linear_least_squares(a: &[f64], rows: usize, cols: usize, b: &[f64]) -> Option<Vec<f64>> {
    let parts = common::Jac::Dense { j: a, m: rows, n: cols }.svd_parts(&vec![1.0; cols], None, b, &[])?;
    let cut = common::rounding_cut(&parts, rows, cols);
    let w: Vec<f64> = parts.s.iter().zip(&parts.uf).map(|(s, uf)| if *s > cut { uf / s } else { 0.0 }).collect();
    Some(parts.v_times(&w))
}

/// Minimizes ½ Σ ρ(r_i(x)²) from `x0`.
pub fn solve(problem: &mut dyn Problem, x0: &[f64], options: &SolveOptions) -> Result<Solution, SolveError> {
    solve_with_hooks(problem, x0, options, &mut Hooks::default())
}

/// [`solve`] with hooks: a callback per iteration (to write checkpoints) and resumption.
pub fn solve_with_hooks(
    problem: &mut dyn Problem,
    x0: &[f64],
    options: &SolveOptions,
    hooks: &mut Hooks<'_>,
) -> Result<Solution, SolveError> {
    let (m, n) = (problem.n_residuals(), problem.n_params());
    let invalid = |s: String| Err(SolveError::InvalidInput(s));
    if x0.len() != n {
        return invalid(format!("{} initial values for {n} parameters", x0.len()));
    }
    if n == 0 {
        return invalid("there are no parameters to fit".into());
    }
    if let Some(k) = x0.iter().position(|v| !v.is_finite()) {
        return invalid(format!("the initial value of parameter {k} is {}", x0[k]));
    }
    let mut options = options.clone();
    if options.lower.is_empty() {
        options.lower = vec![f64::NEG_INFINITY; n];
    }
    if options.upper.is_empty() {
        options.upper = vec![f64::INFINITY; n];
    }
    check_bounds(&options.lower, &options.upper, n).map_err(|e| SolveError::InvalidInput(e.to_string()))?;
    for (k, x) in x0.iter().enumerate() {
        let (l, u) = (options.lower[k], options.upper[k]);
        if *x < l || *x > u {
            return invalid(format!("parameter {k}: the initial value {x} is outside [{l}, {u}]"));
        }
    }
    if m < n {
        return invalid(format!(
            "{m} residuals for {n} free parameters: at least as many residuals as parameters are needed"
        ));
    }
    for (name, v) in [("ftol", options.ftol), ("xtol", options.xtol), ("gtol", options.gtol)] {
        if v.is_nan() || v < 0.0 {
            return invalid(format!("{name} must be a non-negative number, got {v}"));
        }
    }
    if !(options.f_scale > 0.0 && options.f_scale.is_finite()) {
        return invalid(format!("f_scale must be positive, got {}", options.f_scale));
    }
    if let XScale::Fixed(s) = &options.x_scale
        && (s.len() != n || s.iter().any(|v| !(*v > 0.0 && v.is_finite())))
    {
        return invalid("x_scale must have one positive, finite value per parameter".into());
    }
    let bounded = options.lower.iter().any(|l| l.is_finite()) || options.upper.iter().any(|u| u.is_finite());
    let method = match options.method {
        Method::Auto => Method::Trf,
        Method::Lm if bounded => {
            return invalid("method `lm` does not support bounds; use `trf`".into());
        }
        Method::Lm if hooks.on_iteration.is_some() || hooks.resume.is_some() => {
            return invalid("checkpoints and resuming need method `trf`".into());
        }
        Method::Lm if options.loss != Loss::Linear => {
            return invalid("method `lm` supports only the linear loss; use `trf`".into());
        }
        other => other,
    };
    let mode = match options.jacobian {
        JacobianMode::Auto if problem.supports_normal_equations() && m.saturating_mul(n) > DENSE_JACOBIAN_LIMIT => {
            JacobianMode::NormalEquations
        }
        JacobianMode::Auto => JacobianMode::Dense,
        other => other,
    };
    if mode == JacobianMode::NormalEquations && !problem.supports_normal_equations() {
        return invalid("this problem cannot accumulate the normal equations; use a dense Jacobian".into());
    }
    let mut ev = Evaluator::new(problem, options.loss, options.f_scale, mode);
    let mut solution = match method {
        Method::Lm => lm::lm(&mut ev, x0, &options, hooks.cancel)?,
        _ => {
            let x0 = if bounded {
                common::make_strictly_feasible(x0, &options.lower, &options.upper, 1e-10)
            } else {
                x0.to_vec()
            };
            trf::trf(&mut ev, &x0, &options, hooks)?
        }
    };
    solution.method = method;
    Ok(solution)
}

/// Up to this many parameters, a streamed fit accumulates JᵀJ with every trial point's cost
/// (one pass per iteration); above, a trial's cost is a Σr² pass of its own. (A rejected
/// step wastes the accumulation; past 64 parameters the compiled kernels also form JᵀJ from
/// blocks of rows, several times a Σr² pass.)
pub const ONE_PASS_MAX_PARAMS: usize = 64;

/// Residuals and Jacobian at the current iterate, scaled for the loss.
pub(crate) struct State {
    /// Residuals, scaled for a robust loss.
    f: Vec<f64>,
    /// J (row-major m × n, scaled for a robust loss) or JᵀJ (n × n), per the mode.
    jac: Vec<f64>,
    /// Jᵀf.
    g: Vec<f64>,
    cost: f64,
    /// The raw residuals.
    f_true: Vec<f64>,
}

/// Counts evaluations and applies the loss; the solvers call the problem only through it.
pub(crate) struct Evaluator<'p> {
    problem: &'p mut dyn Problem,
    pub(crate) m: usize,
    pub(crate) n: usize,
    loss: Loss,
    f_scale: f64,
    mode: JacobianMode,
    pub(crate) nfev: usize,
    pub(crate) njev: usize,
    /// The residuals of the last `cost_at` call (dense mode).
    trial: Vec<f64>,
    /// Normal-equations mode: the last `cost_at` call's point and its accumulation (JᵀJ, Jᵀr
    /// and Σr² in one pass over the data), so that accepting that point needs no second pass.
    streamed: Option<(Vec<f64>, NormalEquations)>,
    /// Normal-equations mode above `ONE_PASS_MAX_PARAMS`: the last `cost_at` call's cost
    /// (from its Σr² pass), the accepted state's cost.
    streamed_cost: Option<f64>,
    non_finite_jacobian: bool,
    /// A state the solver is done with, whose buffers the next `accept` fills (a small fit
    /// then allocates nothing per iteration).
    spare: Option<State>,
    /// Dense mode, where the problem evaluates r and J together: J at the last `cost_at`
    /// point, for `accept` to take (one evaluation per trial instead of two per accepted
    /// step). `None` once the problem has said it does not.
    trial_jacobian: Option<TrialJacobian>,
}

/// The Jacobian the last trial evaluation computed along with its residuals.
#[derive(Default)]
struct TrialJacobian {
    j: Vec<f64>,
    /// Where it was evaluated (empty: nowhere yet, or not usable).
    at: Vec<f64>,
}

impl<'p> Evaluator<'p> {
    fn new(problem: &'p mut dyn Problem, loss: Loss, f_scale: f64, mode: JacobianMode) -> Self {
        let (m, n) = (problem.n_residuals(), problem.n_params());
        // Streamed problems never hold a vector of m residuals.
        let streamed = mode == JacobianMode::NormalEquations;
        Evaluator {
            problem,
            m,
            n,
            loss,
            f_scale,
            mode,
            nfev: 0,
            njev: 0,
            trial: if streamed { Vec::new() } else { vec![0.0; m] },
            streamed: None,
            streamed_cost: None,
            non_finite_jacobian: false,
            spare: None,
            trial_jacobian: (!streamed).then(TrialJacobian::default),
        }
    }

    /// The Jacobian of a state, as the solvers see it.
    fn jac<'s>(&self, state: &'s State) -> common::Jac<'s> {
        match self.mode {
            JacobianMode::NormalEquations => common::Jac::Gram { jtj: &state.jac, m: self.m, n: self.n },
            _ => common::Jac::Dense { j: &state.jac, m: self.m, n: self.n },
        }
    }

    /// Evaluates at the starting point; both r and J must be finite.
    fn start(&mut self, x: &[f64]) -> Result<State, SolveError> {
        if self.mode == JacobianMode::NormalEquations {
            if self.cost_at(x)?.is_none() {
                return Err(SolveError::NonFiniteStart(x.to_vec()));
            }
            let state = self.accept(x)?;
            if self.non_finite_jacobian {
                return Err(SolveError::NonFiniteJacobianAtStart(x.to_vec()));
            }
            return Ok(state);
        }
        if self.cost_at(x)?.is_none() {
            return Err(SolveError::NonFiniteStart(x.to_vec()));
        }
        let state = self.accept(x)?;
        if self.non_finite_jacobian {
            return Err(SolveError::NonFiniteJacobianAtStart(x.to_vec()));
        }
        Ok(state)
    }

    /// The cost at x, or `None` if a residual is not finite.
    fn cost_at(&mut self, x: &[f64]) -> Result<Option<f64>, SolveError> {
        if self.mode == JacobianMode::NormalEquations && self.n > ONE_PASS_MAX_PARAMS {
            // Many parameters: JᵀJ's n²/2 products per point dominate a pass, so a trial
            // point gets Σr² alone and an accepted one its own JᵀJ pass.
            let spec = LossSpec { loss: self.loss, f_scale: self.f_scale };
            let ss = match self.problem.sum_of_squares(x, spec)? {
                Some(ss) => ss,
                None => {
                    // The problem cannot stream Σr²: evaluate r once, then drop it.
                    let mut r = vec![0.0; self.m];
                    self.problem.residuals(x, &mut r)?;
                    2.0 * self.loss.cost(&r, self.f_scale)
                }
            };
            self.nfev += 1;
            self.streamed = None;
            let cost = 0.5 * ss;
            self.streamed_cost = cost.is_finite().then_some(cost);
            return Ok(self.streamed_cost);
        }
        if self.mode == JacobianMode::NormalEquations {
            // One pass: the trial point's normal equations come with its cost, kept for
            // `accept`. (A rejected step wastes the JᵀJ accumulation, which costs less than
            // a second pass over the data for a few parameters.)
            let mut acc = NormalEquations::zeros(self.n);
            self.problem.normal_equations(x, LossSpec { loss: self.loss, f_scale: self.f_scale }, &mut acc)?;
            self.nfev += 1;
            let cost = self.streamed_cost.take().unwrap_or(0.5 * acc.rss);
            self.streamed = cost.is_finite().then(|| (x.to_vec(), acc));
            return Ok(cost.is_finite().then_some(cost));
        }
        let mut f = std::mem::take(&mut self.trial);
        let result = self.evaluate_trial(x, &mut f);
        self.trial = f;
        result?;
        self.nfev += 1;
        // A non-finite residual makes Σr² non-finite: for the linear loss the residuals are
        // searched only then (a finite sum can also overflow: then all are finite, and the
        // cost is ∞). A robust loss may be finite at r = ∞ (arctan's is π/2).
        let cost = self.loss.cost(&self.trial, self.f_scale);
        let searched = self.loss != Loss::Linear || !cost.is_finite();
        if searched && self.trial.iter().any(|v| !v.is_finite()) {
            return Ok(None);
        }
        Ok(Some(cost))
    }

    /// The residuals at x into `f`, and J with them where the problem computes both at once.
    fn evaluate_trial(&mut self, x: &[f64], f: &mut [f64]) -> Result<(), SolveError> {
        if let Some(mut trial) = self.trial_jacobian.take() {
            trial.j.resize(self.m * self.n, 0.0);
            trial.at.clear();
            match self.problem.residuals_with_jacobian(x, f, &mut trial.j) {
                Ok(true) => {
                    trial.at.extend_from_slice(x);
                    self.trial_jacobian = Some(trial);
                    return Ok(());
                }
                // The problem does not: plain residuals from now on.
                Ok(false) => {}
                Err(e) => {
                    self.trial_jacobian = Some(trial);
                    return Err(e);
                }
            }
        }
        self.problem.residuals(x, f)
    }

    /// Makes x (the point of the last `cost_at`, or the start) the iterate: evaluates J.
    fn accept(&mut self, x: &[f64]) -> Result<State, SolveError> {
        let (m, n) = (self.m, self.n);
        let (mut f_true, mut f, mut j, mut g) = match self.spare.take() {
            Some(s) => (s.f_true, s.f, s.jac, s.g),
            None => (Vec::new(), Vec::new(), Vec::new(), Vec::new()),
        };
        f_true.clone_from(&self.trial);
        f.clone_from(&f_true);
        let (jac, g, cost) = if self.mode == JacobianMode::NormalEquations {
            let acc = match self.streamed.take() {
                Some((at, acc)) if at == x => acc,
                _ => {
                    let mut acc = NormalEquations::zeros(n);
                    let spec = LossSpec { loss: self.loss, f_scale: self.f_scale };
                    self.problem.normal_equations(x, spec, &mut acc)?;
                    acc
                }
            };
            let cost = self.streamed_cost.take().unwrap_or(0.5 * acc.rss);
            let mut jtj = acc.jtj;
            for a in 0..n {
                for b in 0..a {
                    jtj[a * n + b] = jtj[b * n + a];
                }
            }
            (jtj, acc.jtr, cost)
        } else {
            let cost = self.loss.cost(&f_true, self.f_scale);
            match &mut self.trial_jacobian {
                // Evaluated with the residuals at this very point: taken, not recomputed.
                Some(trial) if trial.at == x => {
                    std::mem::swap(&mut j, &mut trial.j);
                    trial.at.clear();
                }
                _ => {
                    j.clear();
                    j.resize(m * n, 0.0);
                    self.problem.jacobian(x, &f_true, &mut j)?;
                }
            }
            self.loss.scale(&mut f, &mut j, n, self.f_scale);
            common::gradient_into(&j, m, n, &f, &mut g);
            (j, g, cost)
        };
        self.njev += 1;
        let mut state = State { f, jac, g, cost, f_true };
        // Dense J: a non-finite entry of J makes its column's Jᵀf non-finite (∞·0 is NaN, and
        // no sum with ∞ or NaN is finite) — f is finite (x is the last trial, whose cost was),
        // or NaN where the arctan loss's scaling overflows at a huge r, which makes g NaN as
        // well: g alone tells, n values instead of m·n.
        let suspect = state.g.iter().any(|v| !v.is_finite())
            || (self.mode == JacobianMode::NormalEquations && state.jac.iter().any(|v| !v.is_finite()));
        if suspect && state.jac.iter().chain(&state.g).any(|v| !v.is_finite()) {
            self.non_finite_jacobian = true;
            // Keep the linear algebra finite; the iteration loops stop on this flag.
            for v in state.jac.iter_mut().chain(state.g.iter_mut()) {
                if !v.is_finite() {
                    *v = 0.0;
                }
            }
        }
        Ok(state)
    }

    /// Hands back a state the solver replaced, for the next `accept` to reuse.
    fn recycle(&mut self, state: State) {
        self.spare = Some(state);
    }

    #[allow(clippy::too_many_arguments)]
    fn finish(
        &self,
        x: Vec<f64>,
        state: State,
        gradient: Vec<f64>,
        optimality: f64,
        active_mask: Vec<i8>,
        iterations: usize,
        status: Status,
    ) -> Solution {
        let status = if self.non_finite_jacobian && !status.converged() { Status::NonFiniteJacobian } else { status };
        let (jacobian, jtj) = match self.mode {
            JacobianMode::NormalEquations => (Vec::new(), state.jac),
            _ => (state.jac, Vec::new()),
        };
        Solution {
            x,
            cost: state.cost,
            residuals: state.f_true,
            jacobian,
            jtj,
            jacobian_mode: self.mode,
            gradient,
            optimality,
            active_mask,
            nfev: self.nfev,
            njev: self.njev,
            iterations,
            status,
            method: Method::Auto,
        }
    }
}
