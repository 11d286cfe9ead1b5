//! The fit report as `jitfit fit` prints it, for every front end (the CLI, the REPL, the
//! Python module): numbers to six significant digits, the lmfit-style sections, and the
//! fit's part of the JSON report. What a front end knows besides the fit (the data's file
//! and columns, timings) it writes around these.

use crate::Fit;
use serde_json::{Value, json};
use std::fmt::Write;
use std::time::Duration;

/// The [[Data]] note of a model that uses `e`, which is Euler's number, not a parameter.
pub const EULER_NOTE: &str = "`e` is Euler's number 2.718281828…, not a parameter (name a parameter otherwise)";

/// A duration in µs, ms or s, whichever reads best.
pub fn duration(d: Duration) -> String {
    let s = d.as_secs_f64();
    if s < 1e-3 {
        format!("{:.0} µs", s * 1e6)
    } else if s < 1.0 {
        format!("{:.2} ms", s * 1e3)
    } else {
        format!("{s:.2} s")
    }
}

/// A number with 6 significant digits, in plain or scientific notation as fits.
pub fn num(v: f64) -> String {
    if v == 0.0 || !v.is_finite() {
        return format!("{v}");
    }
    let a = v.abs();
    if (1e-3..1e6).contains(&a) {
        let digits = (5 - a.log10().floor() as i32).max(0) as usize;
        let s = format!("{v:.digits$}");
        if s.contains('.') { s.trim_end_matches('0').trim_end_matches('.').to_owned() } else { s }
    } else {
        let s = format!("{v:.5e}");
        match s.split_once('e') {
            Some((mantissa, exponent)) if mantissa.contains('.') => {
                format!("{}e{exponent}", mantissa.trim_end_matches('0').trim_end_matches('.'))
            }
            _ => s,
        }
    }
}

/// The report's [[Fit Statistics]], [[Variables]], [[Correlations]] and [[Status]]
/// sections, as `jitfit fit` prints them: `guessed`, the parameters whose starts were guessed
/// from the data; correlations below `min_correl` are not listed; `errors_in_x`: the fit
/// weighted by σ of the variables (then R² is not given).
pub fn sections(fit: &Fit, guessed: &[String], min_correl: f64, errors_in_x: bool) -> String {
    let mut out = String::new();
    let w = &mut out;
    let _ = writeln!(w, "[[Fit Statistics]]");
    // A Poisson fit minimizes the deviance: its "χ²" is the deviance, and says so.
    let poisson = fit.estimator == crate::Estimator::Poisson;
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
        ("R-squared", r_squared_text(fit, errors_in_x)),
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
            Start::of(fit.initial_given[k], guessed.contains(name)),
            fit.active_mask[k],
        );
        let _ = writeln!(w, "    {name:<width$} = {value:>12} {detail}");
    }
    let n = fit.values.len();
    let mut pairs: Vec<(f64, String)> = Vec::new();
    for a in 0..n {
        for b in a + 1..n {
            let c = fit.correlation[a * n + b];
            if c.is_finite() && c.abs() >= min_correl {
                pairs.push((c, format!("C({}, {})", fit.param_names[a], fit.param_names[b])));
            }
        }
    }
    pairs.sort_by(|a, b| b.0.abs().total_cmp(&a.0.abs()));
    let _ = writeln!(w, "[[Correlations]] (unreported correlations are < {})", min_correl);
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
    out
}

/// The fit's part of the JSON report (`jitfit.fit/1`, documented in `docs/json.md`), from
/// `method` to `warnings`, in that order; non-finite numbers are `null`. `guessed`: as for
/// [`sections`].
pub fn fit_json(fit: &Fit, guessed: &[String]) -> serde_json::Map<String, Value> {
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
                "initial_guessed": guessed.contains(&fit.param_names[k]),
                "fixed": fit.fixed[k],
                "lower": finite_or_null(fit.lower[k]),
                "upper": finite_or_null(fit.upper[k]),
                "at_bound": match fit.active_mask[k] { -1 => "lower", 1 => "upper", _ => "none" },
            })
        })
        .collect();
    let Value::Object(map) = json!({
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
        "statistics": Statistics::from(fit).json(),
        "parameters": parameters,
        "covariance": matrix(&fit.covariance),
        "correlation": matrix(&fit.correlation),
        "warnings": fit.covariance_warning.iter().chain(&fit.conditioning_warning).chain(&fit.checkpoint_warning).collect::<Vec<_>>(),
    }) else {
        unreachable!("json! of braces is an object")
    };
    map
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

/// R², or why there is none.
fn r_squared_text(fit: &Fit, errors_in_x: bool) -> String {
    if fit.r_squared.is_finite() {
        num(fit.r_squared)
    } else if fit.estimator == crate::Estimator::Poisson {
        "n/a (a deviance is not a sum of squares)".to_owned()
    } else if errors_in_x {
        "n/a (errors in x: the weights depend on the parameters)".to_owned()
    } else {
        num(fit.r_squared)
    }
}

/// "cpu", or "gpu (adapter): N f32 iterations, then M f64 on the GPU|CPU; T on the device",
/// and the backend's note.
fn backend_text(fit: &Fit) -> String {
    let b = &fit.backend;
    let mut text = match (&b.used, &b.adapter) {
        (crate::backend::Backend::Gpu, Some(adapter)) => format!(
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

/// An n × n row-major matrix as JSON rows (non-finite entries null).
pub fn matrix_json(m: &[f64], n: usize) -> Value {
    Value::Array((0..n).map(|i| Value::Array((0..n).map(|j| finite_or_null(m[i * n + j])).collect())).collect())
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

/// The statistics of a single fit and of a global one: the same fields.
macro_rules! statistics_of {
    ($fit:expr) => {
        Statistics {
            cost: $fit.cost,
            chi2: $fit.chi2,
            reduced_chi2: $fit.reduced_chi2,
            r_squared: $fit.r_squared,
            aic: $fit.aic,
            bic: $fit.bic,
            points: $fit.n_points,
            free: $fit.n_free,
            dof: $fit.dof,
            optimality: $fit.optimality,
            nfev: $fit.nfev,
            njev: $fit.njev,
            iterations: $fit.iterations,
        }
    };
}

impl From<&Fit> for Statistics {
    fn from(fit: &Fit) -> Statistics {
        statistics_of!(fit)
    }
}

impl From<&crate::fit::GlobalFit> for Statistics {
    fn from(fit: &crate::fit::GlobalFit) -> Statistics {
        statistics_of!(fit)
    }
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
