//! The fit report: an lmfit-style text report and the same content as JSON (`jitfit.fit/1`).

use crate::columns::{Columns, Sigma};
use crate::format::{duration, num};
use jitfit::Fit;
use jitfit::cache::Origin;
use serde_json::{Value, json};
use std::fmt::Write;
use std::time::Duration;

/// What the report says besides the fit itself.
pub struct Context<'a> {
    pub model: &'a str,
    pub data_path: &'a str,
    pub columns: &'a Columns,
    pub compile_time: Duration,
    pub compile_origin: Origin,
    pub total_time: Duration,
    pub min_correl: f64,
}

impl<'a> Context<'a> {
    /// The context of a fit made from `args`: the model and data as named there.
    pub fn new(
        args: &'a crate::args::FitArgs,
        columns: &'a Columns,
        compile_time: Duration,
        compile_origin: Origin,
        total_time: Duration,
    ) -> Context<'a> {
        Context {
            model: &args.model,
            data_path: args.data.as_deref().and_then(|p| p.to_str()).unwrap_or("data"),
            columns,
            compile_time,
            compile_origin,
            total_time,
            min_correl: args.min_correl.unwrap_or(0.1),
        }
    }
}

pub fn text(fit: &Fit, ctx: &Context<'_>) -> String {
    let mut out = String::new();
    let w = &mut out;
    let vars: Vec<String> =
        ctx.columns.vars.iter().map(|(v, c)| if v == c { v.clone() } else { format!("{v} ← {c}") }).collect();
    let _ = writeln!(w, "[[Model]]");
    let _ = writeln!(w, "    {}", ctx.model.trim().replace('\n', "\n    "));
    let _ = writeln!(w, "[[Data]]");
    let _ = writeln!(
        w,
        "    {}: {} points; variables {}; response {}{}",
        ctx.data_path,
        fit.n_points,
        vars.join(", "),
        ctx.columns.y,
        match &ctx.columns.sigma {
            Some(sigma) => format!("; {}", sigma.describe()),
            None => String::new(),
        }
    );
    if let Some(r) = &fit.reweighting {
        let _ = if r.converged {
            writeln!(w, "    σ follows the fitted values: reweighted to its fixed point in {} fits", r.rounds)
        } else {
            writeln!(
                w,
                "    σ follows the fitted values: NOT at its fixed point after {} fits (the parameters still moved)",
                r.rounds
            )
        };
    }
    if !ctx.columns.sigma_x.is_empty() {
        let errors: Vec<String> = ctx.columns.sigma_x.iter().map(|(v, c)| format!("σ of {v} in {c}")).collect();
        let _ = writeln!(
            w,
            "    errors in x: {}; effective variance σ_y² + (∂f/∂x·σ_x)², exact ∂f/∂x; started from the fit with σ_y alone",
            errors.join(", ")
        );
    }
    for note in &ctx.columns.notes {
        let _ = writeln!(w, "    {note}");
    }
    let _ = writeln!(w, "[[Fit Statistics]]");
    // A Poisson fit minimizes the deviance: its "χ²" is the deviance, and says so.
    let poisson = fit.estimator == jitfit::Estimator::Poisson;
    let (method, chi2_name, reduced_name) = if poisson {
        (format!("{} (Poisson maximum likelihood)", fit.method.name()), "deviance", "deviance / dof")
    } else {
        (format!("{} (loss {})", fit.method.name(), fit.loss.name()), "chi-square", "reduced chi-square")
    };
    let stats: [(&str, String); 11] = [
        ("fitting method", method),
        ("backend", backend_text(fit)),
        ("function evals", format!("{} (Jacobian evals {})", fit.nfev, fit.njev)),
        ("data points", fit.n_points.to_string()),
        ("variables", format!("{} free of {}", fit.n_free, fit.values.len())),
        (chi2_name, num(fit.chi2)),
        (reduced_name, num(fit.reduced_chi2)),
        ("Akaike info crit", num(fit.aic)),
        ("Bayesian info crit", num(fit.bic)),
        ("R-squared", r_squared_text(fit, ctx)),
        ("optimality", num(fit.optimality)),
    ];
    for (name, value) in stats {
        let _ = writeln!(w, "    {name:<20} = {value}");
    }
    let _ = writeln!(w, "[[Variables]]");
    // Capped: a formatting width must stay below 2^16, and no column of names needs more.
    let width = fit.param_names.iter().map(|n| n.len()).max().unwrap_or(1).min(40);
    for k in 0..fit.values.len() {
        let name = &fit.param_names[k];
        let value = num(fit.values[k]);
        let detail = variable_detail(
            fit.values[k],
            fit.std_errors[k],
            fit.fixed[k],
            fit.initial[k],
            Start::of(fit.initial_given[k], ctx.columns.guessed.contains(name)),
            fit.active_mask[k],
        );
        let _ = writeln!(w, "    {name:<width$} = {value:>12} {detail}");
    }
    let n = fit.values.len();
    let mut pairs: Vec<(f64, String)> = Vec::new();
    for a in 0..n {
        for b in a + 1..n {
            let c = fit.correlation[a * n + b];
            if c.is_finite() && c.abs() >= ctx.min_correl {
                pairs.push((c, format!("C({}, {})", fit.param_names[a], fit.param_names[b])));
            }
        }
    }
    pairs.sort_by(|a, b| b.0.abs().total_cmp(&a.0.abs()));
    let _ = writeln!(w, "[[Correlations]] (unreported correlations are < {})", ctx.min_correl);
    if pairs.is_empty() {
        let _ = writeln!(w, "    none");
    }
    for (c, label) in pairs {
        let _ = writeln!(w, "    {label:<width$} = {c:+.4}", width = 2 * width + 6);
    }
    let _ = writeln!(w, "[[Status]]");
    let verdict = if fit.status.converged() { "converged" } else { "did NOT converge" };
    let _ = writeln!(w, "    {verdict}: {} (status {})", fit.message, fit.status.code());
    for warning in fit.covariance_warning.iter().chain(&fit.conditioning_warning).chain(&fit.checkpoint_warning) {
        let _ = writeln!(w, "    warning: {warning}");
    }
    let _ = writeln!(w, "[[Timing]]");
    let _ = writeln!(w, "    {}", timing(ctx, fit.solve_time));
    out
}

/// An n × n row-major matrix as JSON rows (non-finite entries null).
pub fn matrix_json(m: &[f64], n: usize) -> Value {
    Value::Array((0..n).map(|i| Value::Array((0..n).map(|j| finite_or_null(m[i * n + j])).collect())).collect())
}

/// Where a parameter's start came from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Start {
    /// --p0 (or a previous fit's values).
    Given,
    /// From the data (the library's guess).
    Guessed,
    /// 1, or inside the bounds.
    Default,
}

impl Start {
    pub fn of(given: bool, guessed: bool) -> Start {
        match (given, guessed) {
            (_, true) => Start::Guessed,
            (true, false) => Start::Given,
            (false, false) => Start::Default,
        }
    }
}

/// What follows a parameter's value in [[Variables]]: `± error (relative)  (init = …)`, or
/// `(fixed)`, or `± not determined` where the covariance does not give an error.
pub fn variable_detail(value: f64, se: f64, fixed: bool, initial: f64, start: Start, active: i8) -> String {
    if fixed {
        return "(fixed)".to_owned();
    }
    let rel = if value != 0.0 { format!(" ({:.2}%)", 100.0 * (se / value).abs()) } else { String::new() };
    let init = match start {
        Start::Given => format!("init = {}", num(initial)),
        Start::Guessed => format!("init = {}, guessed", num(initial)),
        Start::Default => format!("init = {}, by default", num(initial)),
    };
    let bound = match active {
        -1 => ", at its lower bound",
        1 => ", at its upper bound",
        _ => "",
    };
    if se.is_finite() {
        format!("± {}{rel}  ({init}{bound})", num(se))
    } else {
        // Never a precision the data do not support (the covariance warning says why).
        format!("± not determined  ({init}{bound})")
    }
}

/// The [[Timing]] line: compile (and where the kernel came from), solve, total.
pub fn timing(ctx: &Context<'_>, solve: Duration) -> String {
    format!(
        "compile {} ({}), solve {}, total {}",
        duration(ctx.compile_time),
        match ctx.compile_origin {
            Origin::MemoryHit => "from the memory cache",
            Origin::DiskHit => "IR from the disk cache",
            Origin::Miss => "built",
        },
        duration(solve),
        duration(ctx.total_time)
    )
}

/// "cpu", or "gpu (adapter): N f32 iterations, then the f64 finish on the CPU".
fn backend_text(fit: &Fit) -> String {
    let b = &fit.backend;
    let mut text = match (&b.used, &b.adapter) {
        (jitfit::backend::Backend::Gpu, Some(adapter)) => format!(
            "gpu ({adapter}): {} f32 iterations, then {} f64 on the {}; {} on the device",
            b.gpu_iterations,
            fit.iterations,
            if b.f64_on_gpu { "GPU" } else { "CPU" },
            duration(b.gpu_time),
        ),
        _ => "cpu".to_owned(),
    };
    if let Some(note) = &b.note {
        text += &format!(" — {note}");
    }
    text
}

pub fn finite_or_null(v: f64) -> Value {
    if v.is_finite() { json!(v) } else { Value::Null }
}

/// The report as JSON. Non-finite numbers are `null`. The schema is documented in
/// `docs/json.md`; fields are only ever added, never renamed or removed, within `jitfit.fit/1`.
pub fn json(fit: &Fit, ctx: &Context<'_>) -> Value {
    let n = fit.values.len();
    let matrix = |m: &[f64]| matrix_json(m, n);
    let parameters: Vec<Value> = (0..n)
        .map(|k| {
            json!({
                "name": fit.param_names[k],
                "value": finite_or_null(fit.values[k]),
                "stderr": finite_or_null(fit.std_errors[k]),
                "initial": fit.initial[k],
                "initial_given": fit.initial_given[k],
                "initial_guessed": ctx.columns.guessed.contains(&fit.param_names[k]),
                "fixed": fit.fixed[k],
                "lower": finite_or_null(fit.lower[k]),
                "upper": finite_or_null(fit.upper[k]),
                "at_bound": match fit.active_mask[k] { -1 => "lower", 1 => "upper", _ => "none" },
            })
        })
        .collect();
    json!({
        "schema": "jitfit.fit/1",
        "model": ctx.model,
        "data": data_json(ctx, ctx.data_path, fit.n_points, json!(fit.reweighting)),
        "method": fit.method.name(),
        "estimator": fit.estimator,
        "loss": fit.loss.name(),
        "backend": {
            "used": fit.backend.used.name(),
            "adapter": fit.backend.adapter,
            "gpu_iterations": fit.backend.gpu_iterations,
            "gpu_nfev": fit.backend.gpu_nfev,
            "gpu_seconds": fit.backend.gpu_time.as_secs_f64(),
            "f64_on_gpu": fit.backend.f64_on_gpu,
            "note": fit.backend.note,
        },
        "absolute_sigma": fit.absolute_sigma,
        "status": {
            "code": fit.status.code(),
            "converged": fit.status.converged(),
            "message": fit.message,
        },
        "statistics": Statistics {
            cost: fit.cost,
            chi2: fit.chi2,
            reduced_chi2: fit.reduced_chi2,
            r_squared: fit.r_squared,
            aic: fit.aic,
            bic: fit.bic,
            points: fit.n_points,
            free: fit.n_free,
            dof: fit.dof,
            optimality: fit.optimality,
            nfev: fit.nfev,
            njev: fit.njev,
            iterations: fit.iterations,
        }
        .json(),
        "parameters": parameters,
        "covariance": matrix(&fit.covariance),
        "correlation": matrix(&fit.correlation),
        "warnings": fit.covariance_warning.iter().chain(&fit.conditioning_warning).chain(&fit.checkpoint_warning).collect::<Vec<_>>(),
        "timing": timing_json(ctx, fit.solve_time),
    })
}

/// The `data` object: the columns, σ and the contract's notes.
pub fn data_json(ctx: &Context<'_>, path: &str, points: usize, reweighting: Value) -> Value {
    json!({
        "path": path,
        "points": points,
        "variables": ctx.columns.vars.iter().map(|(v, c)| json!({"name": v, "column": c})).collect::<Vec<_>>(),
        "response": ctx.columns.y,
        "sigma": match &ctx.columns.sigma { Some(Sigma::Column(c)) => Some(c), _ => None },
        "weights": match &ctx.columns.sigma { Some(Sigma::Weights(c)) => Some(c), _ => None },
        "sigma_expression": match &ctx.columns.sigma { Some(Sigma::Expression { text, .. }) => Some(text), _ => None },
        "reweighting": reweighting,
        "sigma_x": ctx.columns.sigma_x.iter().map(|(v, c)| json!({"variable": v, "column": c})).collect::<Vec<_>>(),
        "notes": ctx.columns.notes,
    })
}

/// The `statistics` object's numbers.
pub struct Statistics {
    pub cost: f64,
    pub chi2: f64,
    pub reduced_chi2: f64,
    pub r_squared: f64,
    pub aic: f64,
    pub bic: f64,
    pub points: usize,
    pub free: usize,
    pub dof: usize,
    pub optimality: f64,
    pub nfev: usize,
    pub njev: usize,
    pub iterations: usize,
}

impl Statistics {
    pub fn json(&self) -> Value {
        json!({
            "cost": finite_or_null(self.cost),
            "chi_square": finite_or_null(self.chi2),
            "reduced_chi_square": finite_or_null(self.reduced_chi2),
            "r_squared": finite_or_null(self.r_squared),
            "aic": finite_or_null(self.aic),
            "bic": finite_or_null(self.bic),
            "data_points": self.points,
            "free_parameters": self.free,
            "degrees_of_freedom": self.dof,
            "optimality": finite_or_null(self.optimality),
            "nfev": self.nfev,
            "njev": self.njev,
            "iterations": self.iterations,
        })
    }
}

/// The `timing` object.
pub fn timing_json(ctx: &Context<'_>, solve: Duration) -> Value {
    json!({
        "compile_seconds": ctx.compile_time.as_secs_f64(),
        "compile_origin": match ctx.compile_origin { Origin::MemoryHit => "memory", Origin::DiskHit => "disk", Origin::Miss => "built" },
        "solve_seconds": solve.as_secs_f64(),
        "total_seconds": ctx.total_time.as_secs_f64(),
    })
}

/// The distinct minima of a multi-start search, best first.
pub fn minima_text(minima: &[Fit], starts: usize, notes: &[String]) -> String {
    let mut out =
        format!("[[Minima]] ({} distinct among the finalists of {starts} starts and the given start)\n", minima.len());
    for note in notes {
        let _ = writeln!(out, "    note: {note}");
    }
    for (k, m) in minima.iter().enumerate() {
        let params: Vec<String> =
            m.param_names.iter().zip(&m.values).map(|(n, v)| format!("{n} = {}", num(*v))).collect();
        let _ = writeln!(out, "    {}. cost {}  {}", k + 1, num(m.cost), params.join(", "));
    }
    out
}

pub fn minima_json(minima: &[Fit]) -> Value {
    Value::Array(
        minima
            .iter()
            .map(|m| {
                json!({
                    "cost": finite_or_null(m.cost),
                    "converged": m.status.converged(),
                    "values": m.param_names.iter().zip(&m.values).map(|(n, v)| json!({"name": n, "value": finite_or_null(*v)})).collect::<Vec<_>>(),
                })
            })
            .collect(),
    )
}

/// R², or why there is none.
fn r_squared_text(fit: &Fit, ctx: &Context<'_>) -> String {
    if fit.r_squared.is_finite() {
        num(fit.r_squared)
    } else if fit.estimator == jitfit::Estimator::Poisson {
        "n/a (a deviance is not a sum of squares)".to_owned()
    } else if !ctx.columns.sigma_x.is_empty() {
        "n/a (errors in x: the weights depend on the parameters)".to_owned()
    } else {
        num(fit.r_squared)
    }
}
