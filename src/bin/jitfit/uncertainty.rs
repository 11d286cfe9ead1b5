//! `--ci`, `--derive`, `--band`, `--band-grid`, `--bootstrap`, `--contour`: what a fit reports
//! beyond its covariance, as report sections and JSON.

use crate::args::FitArgs;
use crate::format::{duration, num};
use anyhow::Context as _;
use jitfit::report::finite_or_null;
use jitfit::{Bands, Bootstrap, Contour, Data, Derived, Fit, Level, Limit, Profile, Resampling};
use serde_json::{Value, json};
use std::fmt::Write;

/// The options, checked before the fit (a bad level is not found after a long fit).
pub struct Requests {
    pub ci: Vec<Level>,
    pub band: Option<Level>,
    pub resample: Resampling,
    /// Pairs of parameter names, the level and the points per contour.
    pub contours: Vec<(String, String)>,
    pub contour_level: Level,
    pub contour_points: usize,
}

impl Requests {
    pub fn from_args(args: &FitArgs) -> anyhow::Result<Requests> {
        let ci = args
            .ci
            .iter()
            .map(|t| Level::parse(t))
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| anyhow::anyhow!("--ci: {e}"))?;
        let band = args.band.as_deref().map(Level::parse).transpose().map_err(|e| anyhow::anyhow!("--band: {e}"))?;
        if !ci.is_empty() {
            likelihood_loss(&args.loss, "--ci: profile intervals")?;
        }
        if args.band_grid.is_some_and(|n| n < 2) {
            anyhow::bail!("--band-grid: at least 2 points");
        }
        let resample = match args.resample.as_deref() {
            None => Resampling::Residuals,
            Some(name) => Resampling::from_name(name)
                .ok_or_else(|| anyhow::anyhow!("--resample: `{name}` is not one of residuals, cases"))?,
        };
        if args.bootstrap.is_some_and(|n| n < 2) {
            anyhow::bail!("--bootstrap: at least 2 samples");
        }
        let mut contours = Vec::new();
        for pair in &args.contour {
            let Some((a, b)) = pair.split_once(',') else {
                anyhow::bail!("--contour {pair}: name two parameters, e.g. --contour a,b");
            };
            contours.push((a.trim().to_owned(), b.trim().to_owned()));
        }
        let contour_level = args
            .contour_level
            .as_deref()
            .map(Level::parse)
            .transpose()
            .map_err(|e| anyhow::anyhow!("--contour-level: {e}"))?
            .unwrap_or(Level::Sigma(1.0));
        let contour_points = args.contour_points.unwrap_or(CONTOUR_POINTS);
        if contour_points < 4 {
            anyhow::bail!("--contour-points: at least 4");
        }
        if !contours.is_empty() {
            likelihood_loss(&args.loss, "--contour: confidence regions")?;
        }
        Ok(Requests { ci, band, resample, contours, contour_level, contour_points })
    }
}

/// What was computed after the fit.
#[derive(Default)]
pub struct Extras {
    pub profile: Option<Profile>,
    pub derived: Vec<Derived>,
    /// At the data points (for the summary and --output-residuals).
    pub bands: Option<Bands>,
    /// On the grid: the variable's values and the bands there.
    pub grid: Option<(String, Vec<f64>, Bands)>,
    pub bootstrap: Option<Bootstrap>,
    pub contours: Vec<Contour>,
    /// The `--tie`d parameters: their values and delta-method standard errors.
    pub tied: Vec<Derived>,
}

pub fn compute(
    args: &FitArgs,
    requests: &Requests,
    model: &jitfit::CompiledModel,
    data: &Data,
    fit: &Fit,
) -> anyhow::Result<Extras> {
    let mut extras = Extras::default();
    if !requests.ci.is_empty() {
        extras.profile = Some(fit.profile(&requests.ci).context("--ci")?);
    }
    if let Some(samples) = args.bootstrap {
        let levels = if requests.ci.is_empty() { vec![Level::Sigma(1.0)] } else { requests.ci.clone() };
        let seed = args.seed.unwrap_or(0);
        extras.bootstrap = Some(fit.bootstrap(samples, requests.resample, seed, &levels).context("--bootstrap")?);
    }
    for (a, b) in &requests.contours {
        let contour = fit.contour(a, b, requests.contour_level, requests.contour_points);
        extras.contours.push(contour.with_context(|| format!("--contour {a},{b}"))?);
    }
    for definition in &args.derive {
        extras.derived.push(fit.derive_definition(definition).context("--derive")?);
    }
    extras.tied = ties(args, fit)?;
    if let Some(level) = requests.band {
        extras.bands = Some(fit.bands(data, level).context("--band")?);
        if let Some(n) = args.band_grid {
            let [var] = model.vars() else {
                anyhow::bail!("--band-grid: the model has {} variables; a grid spans one", model.vars().len());
            };
            let x = data.column(var).unwrap_or_default();
            let (lo, hi) = x.iter().fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), v| (lo.min(*v), hi.max(*v)));
            let grid: Vec<f64> = (0..n).map(|i| lo + (hi - lo) * i as f64 / (n - 1) as f64).collect();
            let bands = fit.bands(&Data::new().var(var, grid.clone()), level).context("--band-grid")?;
            extras.grid = Some((var.clone(), grid, bands));
        }
    }
    Ok(extras)
}

/// `1σ (68.27%)`, `95%`.
fn level_text(level: Level) -> String {
    match level {
        Level::Sigma(_) => format!("{} ({:.2}%)", level.label(), 100.0 * level.probability()),
        Level::Probability(_) => level.label(),
    }
}

fn limit_text(limit: &Limit) -> String {
    match limit {
        Limit::Found { value } => num(*value),
        Limit::AtBound { value } => format!("{} (bound)", num(*value)),
        Limit::Open { searched_to } => format!("open beyond {}", num(*searched_to)),
        Limit::Failed { .. } => "failed".to_owned(),
    }
}

/// The report's sections for what was asked.
pub fn text(fit: &Fit, extras: &Extras) -> String {
    let mut out = String::new();
    let w = &mut out;
    if let Some(profile) = &extras.profile {
        let _ = writeln!(w, "[[Confidence Intervals]] (profile likelihood)");
        let _ = writeln!(w, "    threshold: {}", profile.test.describe());
        let width = profile.parameters.iter().map(|p| p.name.len()).max().unwrap_or(1).min(40);
        let mut failures = Vec::new();
        for p in &profile.parameters {
            for interval in &p.intervals {
                let minus = interval.lower.value().map_or(String::new(), |v| num(v - p.value));
                let plus = interval.upper.value().map_or(String::new(), |v| format!("+{}", num(v - p.value)));
                let _ = writeln!(
                    w,
                    "    {:<width$} {:>13}: [{}, {}]  {minus} / {plus}",
                    p.name,
                    level_text(interval.level),
                    limit_text(&interval.lower),
                    limit_text(&interval.upper),
                );
                for (side, limit) in [("lower", &interval.lower), ("upper", &interval.upper)] {
                    if let Limit::Failed { reason } = limit {
                        failures.push(format!("{} {} {side} end: {reason}", p.name, interval.level.label()));
                    }
                }
            }
        }
        for failure in failures {
            let _ = writeln!(w, "    failed: {failure}");
        }
        let _ = writeln!(
            w,
            "    {} refits in {}",
            profile.refits,
            duration(std::time::Duration::from_secs_f64(profile.seconds))
        );
    }
    if let Some(b) = &extras.bootstrap {
        let _ = writeln!(
            w,
            "[[Bootstrap]] {} refits on resampled {} (seed {}), {} failed, in {}",
            b.samples,
            b.resampling.name(),
            b.seed,
            b.failed,
            duration(std::time::Duration::from_secs_f64(b.seconds))
        );
        let width = b.parameters.iter().map(|p| p.name.len()).max().unwrap_or(1).min(40);
        for p in &b.parameters {
            let intervals: Vec<String> = p
                .intervals
                .iter()
                .map(|(level, lo, hi)| format!("{}: [{}, {}]", level_text(*level), num(*lo), num(*hi)))
                .collect();
            let _ = writeln!(
                w,
                "    {:<width$} mean {}, std {}; {}",
                p.name,
                num(p.mean),
                num(p.std),
                intervals.join("; ")
            );
        }
    }
    if let Some(first) = extras.contours.first() {
        let test = match fit.scale() {
            jitfit::Scale::Known => "Δχ² = −2 ln(1 − p), χ² with 2 dof".to_owned(),
            jitfit::Scale::Estimated { dof } => format!("F-test with 2 and {dof} dof, σ from the residuals"),
        };
        let _ = writeln!(
            w,
            "[[Contours]] {} 2-parameter regions ({test}): ranges; the points are in the JSON",
            level_text(first.level)
        );
        let mut refits = 0;
        let mut seconds = 0.0;
        for c in &extras.contours {
            let range = |values: &mut dyn Iterator<Item = f64>| {
                let (lo, hi) = values.fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), v| (lo.min(v), hi.max(v)));
                format!("[{}, {}]", num(lo), num(hi))
            };
            let _ = writeln!(
                w,
                "    {}, {}: {} points; {} in {}, {} in {}",
                c.x,
                c.y,
                c.points.len(),
                c.x,
                range(&mut c.points.iter().map(|p| p.0)),
                c.y,
                range(&mut c.points.iter().map(|p| p.1))
            );
            for note in &c.notes {
                let _ = writeln!(w, "    note: {note}");
            }
            refits += c.refits;
            seconds += c.seconds;
        }
        let _ = writeln!(w, "    {refits} refits in {}", duration(std::time::Duration::from_secs_f64(seconds)));
    }
    tied_text(w, &extras.tied);
    if !extras.derived.is_empty() {
        let _ = writeln!(w, "[[Derived]] (standard errors by the delta method)");
        derived_lines(w, &extras.derived, "");
    }
    if let Some(b) = &extras.bands {
        let _ = writeln!(
            w,
            "[[Bands]] {}: half-width = {} × standard deviation ({})",
            level_text(b.level),
            num(b.quantile),
            match b.scale {
                jitfit::Scale::Known => "normal quantile: σ known".to_owned(),
                jitfit::Scale::Estimated { dof } => format!("Student's t, {dof} dof: σ from the residuals"),
            }
        );
        let summary = |values: &[f64]| -> String {
            let mut sorted: Vec<f64> = values.to_vec();
            sorted.sort_by(f64::total_cmp);
            match sorted.len() {
                0 => "no points".into(),
                len => format!("median {}, max {}", num(sorted[len / 2]), num(sorted[len - 1])),
            }
        };
        let _ = writeln!(w, "    confidence at the {} data points: {}", fit.n_points, summary(&b.confidence));
        match (&b.prediction, &b.prediction_note) {
            (Some(p), _) => {
                let _ = writeln!(w, "    prediction at the data points: {}", summary(p));
            }
            (None, Some(note)) => {
                let _ = writeln!(w, "    prediction: none ({note})");
            }
            (None, None) => {}
        }
    }
    out
}

fn limit_json(limit: &Limit) -> Value {
    match limit {
        Limit::Found { value } => json!({"kind": "found", "value": value}),
        Limit::AtBound { value } => json!({"kind": "at_bound", "value": value}),
        Limit::Open { searched_to } => json!({"kind": "open", "searched_to": searched_to}),
        Limit::Failed { reason } => json!({"kind": "failed", "reason": reason}),
    }
}

fn bands_json(b: &Bands) -> Value {
    let values = |v: &[f64]| Value::Array(v.iter().map(|v| finite_or_null(*v)).collect());
    json!({
        "level": b.level.label(),
        "probability": b.probability,
        "quantile": b.quantile,
        "value": values(&b.value),
        "confidence": values(&b.confidence),
        "prediction": b.prediction.as_deref().map(values),
        "prediction_note": b.prediction_note,
    })
}

/// Adds what was asked to the report's JSON (`confidence_intervals`, `derived`, `band_grid`).
pub fn add_json(value: &mut Value, extras: &Extras) {
    if let Some(profile) = &extras.profile {
        value["confidence_intervals"] = json!({
            "method": "profile_likelihood",
            "test": profile.test,
            "refits": profile.refits,
            "seconds": profile.seconds,
            "parameters": profile.parameters.iter().map(|p| json!({
                "name": p.name,
                "value": p.value,
                "intervals": p.intervals.iter().map(|i| json!({
                    "level": i.level.label(),
                    "probability": i.probability,
                    "threshold": i.threshold,
                    "lower": limit_json(&i.lower),
                    "upper": limit_json(&i.upper),
                })).collect::<Vec<_>>(),
                "profile": p.curve.iter().map(|(t, d)| json!([t, d])).collect::<Vec<_>>(),
            })).collect::<Vec<_>>(),
        });
    }
    if let Some(b) = &extras.bootstrap {
        value["bootstrap"] = json!({
            "resampling": b.resampling.name(),
            "samples": b.samples,
            "seed": b.seed,
            "failed": b.failed,
            "seconds": b.seconds,
            "parameters": b.parameters.iter().map(|p| json!({
                "name": p.name,
                "value": p.value,
                "mean": finite_or_null(p.mean),
                "std": finite_or_null(p.std),
                "intervals": p.intervals.iter().map(|(level, lo, hi)| json!({
                    "level": level.label(), "probability": level.probability(),
                    "lower": finite_or_null(*lo), "upper": finite_or_null(*hi),
                })).collect::<Vec<_>>(),
            })).collect::<Vec<_>>(),
        });
    }
    if !extras.derived.is_empty() {
        value["derived"] = derived_json(&extras.derived);
    }
    if !extras.tied.is_empty() {
        value["tied"] = derived_json(&extras.tied);
    }
    if !extras.contours.is_empty() {
        value["contours"] = Value::Array(
            extras
                .contours
                .iter()
                .map(|c| {
                    json!({
                        "x": c.x, "y": c.y, "level": c.level.label(), "probability": c.probability,
                        "threshold": c.threshold, "points": c.points.iter().map(|p| json!([p.0, p.1])).collect::<Vec<_>>(),
                        "notes": c.notes, "refits": c.refits, "seconds": c.seconds,
                    })
                })
                .collect(),
        );
    }
    if let Some((var, grid, bands)) = &extras.grid {
        let mut b = bands_json(bands);
        b[var.as_str()] = json!(grid);
        value["band_grid"] = b;
    }
}

/// A contour's points unless `--contour-points` says otherwise.
pub const CONTOUR_POINTS: usize = 36;

/// Profiles and contours compare costs as likelihoods: the linear loss only (`what`: the flag
/// or command and what it computes).
pub fn likelihood_loss(loss: &str, what: &str) -> anyhow::Result<()> {
    if loss != "linear" {
        anyhow::bail!("{what} need the linear loss: the {loss} loss's cost is not a likelihood");
    }
    Ok(())
}

/// The `--tie`d parameters' values and errors (a global fit's as [`dense_ties`] names them).
pub fn ties(args: &FitArgs, fit: &Fit) -> anyhow::Result<Vec<Derived>> {
    let mut tied = Vec::new();
    for tie in &args.tie {
        if args.sets.is_some() {
            tied.extend(dense_ties(fit, tie).context("--tie")?);
        } else {
            tied.push(fit.derive_definition(tie).context("--tie")?);
        }
    }
    Ok(tied)
}

/// A `--tie` of the dense global fit (the sets written as one model, a set's own parameters
/// named NAME_k): once if it names only shared parameters, else once per set as NAME_k of
/// that set's parameters, as the global report names the sets' own parameters.
fn dense_ties(fit: &Fit, tie: &str) -> anyhow::Result<Vec<Derived>> {
    use jitfit::syntax::GlobalModel;
    let (name, expression) = tie.split_once('=').map_or((tie, ""), |(n, e)| (n.trim(), e.trim()));
    let ast = jitfit::syntax::parse(expression)?;
    let own: Vec<String> = ast.names().into_iter().filter(|n| fit.index(n).is_none()).collect();
    let in_set = |k: usize| own.iter().all(|n| fit.index(&GlobalModel::name_in_set(n, k)).is_some());
    if own.is_empty() || !in_set(1) {
        // Shared parameters only (or a name the fit does not have: its error says which).
        return Ok(vec![fit.derive_definition(tie)?]);
    }
    let root = ast.model_statement().rhs;
    let mut tied = Vec::new();
    for k in (1..).take_while(|k| in_set(*k)) {
        let rename = |n: &str| own.iter().any(|o| o == n).then(|| GlobalModel::name_in_set(n, k));
        let mut d = fit.derive(&GlobalModel::name_in_set(name, k), &ast.to_text_renamed(root, &rename))?;
        d.expression = expression.to_owned();
        tied.push(d);
    }
    Ok(tied)
}

/// The `--tie`s of a structured global fit, named as [`dense_ties`] names them.
pub fn global_ties(
    fit: &jitfit::GlobalFit,
    ties: &[String],
    applies: &dyn Fn(usize, usize) -> bool,
) -> anyhow::Result<Vec<Derived>> {
    let mut tied = Vec::new();
    for (t, tie) in ties.iter().enumerate() {
        // The sets whose model the tie rewrote (all, without --model-for).
        let sets: Vec<usize> = (0..fit.sets.len()).filter(|k| applies(t, *k)).collect();
        let Some(&at) = sets.first() else { continue };
        let first = fit.derive_definition(at, tie).context("--tie")?;
        let set = &fit.sets[at];
        if sets.len() == fit.sets.len()
            && first.gradient.iter().zip(&set.shared).all(|(g, shared)| *g == 0.0 || *shared)
        {
            tied.push(first);
            continue;
        }
        for k in sets {
            let mut d = fit.derive_definition(k, tie).with_context(|| format!("--tie, set {}", k + 1))?;
            d.name = jitfit::syntax::GlobalModel::name_in_set(&d.name, k + 1);
            tied.push(d);
        }
    }
    Ok(tied)
}

/// The [[Tied]] section, when there are ties.
pub fn tied_text(w: &mut String, tied: &[Derived]) {
    if !tied.is_empty() {
        let _ = writeln!(w, "[[Tied]] (--tie: not fitted, computed; standard errors by the delta method)");
        derived_lines(w, tied, "= ");
    }
}

/// One line per derived (or tied) quantity: `name = value ± stderr  (prefix expression)`.
fn derived_lines(w: &mut String, items: &[Derived], prefix: &str) {
    let width = items.iter().map(|d| d.name.len()).max().unwrap_or(1).min(40);
    for d in items {
        let se = if d.std_error.is_finite() { format!("± {}", num(d.std_error)) } else { "± not determined".into() };
        let _ = writeln!(w, "    {:<width$} = {:>12} {se}  ({prefix}{})", d.name, num(d.value), d.expression);
    }
}

pub fn derived_json(items: &[Derived]) -> Value {
    Value::Array(
        items
            .iter()
            .map(|d| {
                json!({"name": d.name, "expression": d.expression, "value": finite_or_null(d.value), "stderr": finite_or_null(d.std_error)})
            })
            .collect(),
    )
}
