//! The fit report: an lmfit-style text report and the same content as JSON (`jitfit.fit/1`).

use crate::columns::{Columns, Sigma};
use jitfit::Fit;
use jitfit::cache::Origin;
use jitfit::report::{duration, finite_or_null, num};
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
    out += &jitfit::report::sections(fit, &ctx.columns.guessed, ctx.min_correl, !ctx.columns.sigma_x.is_empty());
    let w = &mut out;
    let _ = writeln!(w, "[[Timing]]");
    let _ = writeln!(w, "    {}", timing(ctx, fit.solve_time));
    out
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

/// The report as JSON. Non-finite numbers are `null`. The schema is documented in
/// `docs/json.md`; fields are only ever added, never renamed or removed, within `jitfit.fit/1`.
pub fn json(fit: &Fit, ctx: &Context<'_>) -> Value {
    let mut report = serde_json::Map::new();
    report.insert("schema".into(), json!("jitfit.fit/1"));
    report.insert("model".into(), json!(ctx.model));
    report.insert("data".into(), data_json(ctx, ctx.data_path, fit.n_points, json!(fit.reweighting)));
    report.extend(jitfit::report::fit_json(fit, &ctx.columns.guessed));
    report.insert("timing".into(), timing_json(ctx, fit.solve_time));
    Value::Object(report)
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
