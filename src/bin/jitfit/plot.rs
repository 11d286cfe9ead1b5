//! `--plot FILE.svg`: the data, the fitted curve and the residuals, as a self-contained SVG.
//!
//! One-variable models: data points and the model evaluated densely over the data's range,
//! residuals below. Models of several variables: observed against fitted (with the identity
//! line), residuals by point index below. The SVG is written directly (no plotting crate:
//! plotters needs system fonts to lay out text, which a fresh machine may not have).

use crate::columns::Columns;
use jitfit::backend::Kernels;
use jitfit::{CompiledModel, Data, Fit};
use std::fmt::Write;
use std::path::Path;

const WIDTH: f64 = 800.0;
const LEFT: f64 = 80.0;
const RIGHT: f64 = 780.0;

struct Panel {
    top: f64,
    bottom: f64,
    x: (f64, f64),
    y: (f64, f64),
}

impl Panel {
    fn px(&self, x: f64) -> f64 {
        LEFT + (x - self.x.0) / (self.x.1 - self.x.0) * (RIGHT - LEFT)
    }
    fn py(&self, y: f64) -> f64 {
        self.bottom - (y - self.y.0) / (self.y.1 - self.y.0) * (self.bottom - self.top)
    }
}

fn range(values: impl Iterator<Item = f64>) -> (f64, f64) {
    let (lo, hi) =
        values.filter(|v| v.is_finite()).fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), v| (a.min(v), b.max(v)));
    if !lo.is_finite() {
        return (0.0, 1.0);
    }
    let pad = if hi > lo { 0.05 * (hi - lo) } else { 0.5 * lo.abs().max(1.0) };
    (lo - pad, hi + pad)
}

fn axes(svg: &mut String, panel: &Panel, x_label: &str, y_label: &str) {
    let _ = writeln!(
        svg,
        r##"<rect x="{LEFT}" y="{}" width="{}" height="{}" fill="none" stroke="#444"/>"##,
        panel.top,
        RIGHT - LEFT,
        panel.bottom - panel.top
    );
    for k in 0..=4 {
        let fx = panel.x.0 + (panel.x.1 - panel.x.0) * k as f64 / 4.0;
        let fy = panel.y.0 + (panel.y.1 - panel.y.0) * k as f64 / 4.0;
        let (px, py) = (panel.px(fx), panel.py(fy));
        let _ = writeln!(
            svg,
            r#"<text x="{px:.1}" y="{:.1}" font-size="11" text-anchor="middle">{}</text>"#,
            panel.bottom + 14.0,
            crate::format::num(fx)
        );
        let _ = writeln!(
            svg,
            r#"<text x="{:.1}" y="{:.1}" font-size="11" text-anchor="end">{}</text>"#,
            LEFT - 4.0,
            py + 4.0,
            crate::format::num(fy)
        );
        let _ = writeln!(svg, r##"<line x1="{LEFT}" x2="{RIGHT}" y1="{py:.1}" y2="{py:.1}" stroke="#eee"/>"##);
    }
    let _ = writeln!(
        svg,
        r#"<text x="{:.1}" y="{:.1}" font-size="12" text-anchor="middle">{}</text>"#,
        (LEFT + RIGHT) / 2.0,
        panel.bottom + 30.0,
        escape(x_label)
    );
    let _ = writeln!(
        svg,
        r#"<text x="18" y="{:.1}" font-size="12" text-anchor="middle" transform="rotate(-90 18 {:.1})">{}</text>"#,
        (panel.top + panel.bottom) / 2.0,
        (panel.top + panel.bottom) / 2.0,
        escape(y_label)
    );
}

/// Above this many points, a scatter is drawn as the min–max span of the points in each pixel
/// column (what a screen shows of them), not a circle per point: 10^7 points made an 820 MB SVG.
pub const MAX_DRAWN_POINTS: usize = 10_000;

/// Points as circles, or (more than [`MAX_DRAWN_POINTS`]) as one vertical span per pixel
/// column covering every point in it.
fn scatter(
    svg: &mut String,
    class: &str,
    color: &str,
    radius: f64,
    panel: &Panel,
    points: impl Iterator<Item = (f64, f64)>,
    n: usize,
) {
    if n <= MAX_DRAWN_POINTS {
        let _ = writeln!(svg, r##"<g class="{class}" fill="{color}">"##);
        for (x, y) in points {
            let _ = writeln!(svg, r#"<circle cx="{:.2}" cy="{:.2}" r="{radius}"/>"#, panel.px(x), panel.py(y));
        }
        let _ = writeln!(svg, "</g>");
        return;
    }
    let columns = (RIGHT - LEFT).ceil() as usize + 1;
    let mut spans = vec![(f64::INFINITY, f64::NEG_INFINITY); columns];
    for (x, y) in points {
        let (px, py) = (panel.px(x), panel.py(y));
        if !(px.is_finite() && py.is_finite()) {
            continue;
        }
        let c = ((px - LEFT).round().max(0.0) as usize).min(columns - 1);
        spans[c] = (spans[c].0.min(py), spans[c].1.max(py));
    }
    let mut path = String::new();
    for (c, (lo, hi)) in spans.iter().enumerate() {
        if lo.is_finite() {
            let _ = write!(path, "M{:.1} {:.2}V{:.2}", LEFT + c as f64, lo - radius, hi + radius);
        }
    }
    let _ = writeln!(
        svg,
        r#"<path class="{class}" stroke="{color}" stroke-width="{}" d="{path}"><title>{n} points, drawn as the span of those in each pixel column</title></path>"#,
        2.0 * radius
    );
}

fn escape(s: &str) -> String {
    s.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;")
}

/// Plots are SVG: refuse another extension up front rather than write SVG into a `.png`.
pub fn check_extension(path: &Path) -> anyhow::Result<()> {
    match path.extension().and_then(|e| e.to_str()) {
        Some(e) if e.eq_ignore_ascii_case("svg") => Ok(()),
        _ => anyhow::bail!("--plot {}: plots are written as SVG; name the file *.svg", path.display()),
    }
}

pub fn write_plot(path: &Path, model: &CompiledModel, data: &Data, fit: &Fit, columns: &Columns) -> anyhow::Result<()> {
    check_extension(path)?;
    let vars: Vec<&[f64]> = model.vars().iter().map(|v| data.column(v).unwrap_or(&[])).collect();
    let (fitted, observed) = fitted_and_observed(model, &vars, data, fit)?;
    let residuals: Vec<f64> = fitted.iter().zip(&observed).map(|(f, t)| f - t).collect();
    let mut svg = String::new();
    let height = 640.0;
    let _ = writeln!(
        svg,
        r#"<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{height}" viewBox="0 0 {WIDTH} {height}" font-family="sans-serif">"#
    );
    let _ = writeln!(svg, r#"<rect width="100%" height="100%" fill="white"/>"#);
    let _ = writeln!(
        svg,
        r#"<text x="{:.1}" y="22" font-size="14" text-anchor="middle">{}</text>"#,
        WIDTH / 2.0,
        escape(fit_title(model, fit).as_str())
    );

    let one_var = vars.len() == 1;
    let (xs, x_label): (Vec<f64>, String) = if one_var {
        (vars[0].to_vec(), columns.vars[0].1.clone())
    } else {
        ((0..data.len()).map(|i| i as f64).collect(), "point".into())
    };
    if one_var {
        // Data and the model evaluated densely over the data's range.
        let (lo, hi) = range(xs.iter().copied());
        let dense_x: Vec<f64> = (0..=400).map(|i| lo + (hi - lo) * i as f64 / 400.0).collect();
        let mut dense_y = vec![0.0; dense_x.len()];
        model.kernels().predict(&[&dense_x], &fit.values, &mut dense_y)?;
        let panel = Panel { top: 40.0, bottom: 400.0, x: (lo, hi), y: range(observed.iter().chain(&dense_y).copied()) };
        axes(&mut svg, &panel, &x_label, &columns.y);
        scatter(&mut svg, "data", "#1f77b4", 2.5, &panel, xs.iter().copied().zip(observed.iter().copied()), xs.len());
        let points: Vec<String> = dense_x
            .iter()
            .zip(&dense_y)
            .filter(|(_, y)| y.is_finite())
            .map(|(x, y)| format!("{:.2},{:.2}", panel.px(*x), panel.py(y.clamp(panel.y.0, panel.y.1))))
            .collect();
        let _ = writeln!(
            svg,
            r##"<polyline class="fit" fill="none" stroke="#d62728" stroke-width="2" points="{}"/>"##,
            points.join(" ")
        );
    } else {
        // Observed against fitted, with the identity line.
        let r = range(observed.iter().chain(&fitted).copied());
        let panel = Panel { top: 40.0, bottom: 400.0, x: r, y: r };
        axes(&mut svg, &panel, "fitted", &format!("observed {}", columns.y));
        let _ = writeln!(
            svg,
            r##"<line class="fit" x1="{:.2}" y1="{:.2}" x2="{:.2}" y2="{:.2}" stroke="#d62728" stroke-width="2"/>"##,
            panel.px(r.0),
            panel.py(r.0),
            panel.px(r.1),
            panel.py(r.1)
        );
        let points = fitted.iter().copied().zip(observed.iter().copied());
        scatter(&mut svg, "data", "#1f77b4", 2.5, &panel, points, fitted.len());
    }
    // Residuals.
    let rmax = residuals.iter().filter(|v| v.is_finite()).fold(0.0f64, |m, v| m.max(v.abs())).max(f64::MIN_POSITIVE);
    let panel = Panel { top: 450.0, bottom: 600.0, x: range(xs.iter().copied()), y: (-1.1 * rmax, 1.1 * rmax) };
    axes(&mut svg, &panel, &x_label, "residual");
    let _ = writeln!(
        svg,
        r##"<line x1="{LEFT}" x2="{RIGHT}" y1="{:.1}" y2="{:.1}" stroke="#888"/>"##,
        panel.py(0.0),
        panel.py(0.0)
    );
    scatter(&mut svg, "residuals", "#2ca02c", 2.0, &panel, xs.iter().copied().zip(residuals.iter().copied()), xs.len());
    let _ = writeln!(svg, "</svg>");
    jitfit::fsutil::write_bytes_atomically(path, svg.as_bytes())?;
    Ok(())
}

/// The model at the fitted values and the observed response on the fitted scale (t(y) for a
/// transformed response), with the compiled kernels (the interpreter only for t(y)).
pub fn fitted_and_observed(
    model: &CompiledModel,
    vars: &[&[f64]],
    data: &Data,
    fit: &Fit,
) -> anyhow::Result<(Vec<f64>, Vec<f64>)> {
    let mut fitted = vec![0.0; data.len()];
    model.kernels().predict(vars, &fit.values, &mut fitted)?;
    let observed = if model.transforms_response() {
        let at_fit = jitfit::ir::Interpreter::new(model.kernel()).eval_batch(vars, Some(data.response()), &fit.values);
        at_fit.response.unwrap_or_else(|| data.response().to_vec())
    } else {
        data.response().to_vec()
    };
    Ok((fitted, observed))
}

fn fit_title(model: &CompiledModel, fit: &Fit) -> String {
    let params: Vec<String> =
        fit.param_names.iter().zip(&fit.values).map(|(n, v)| format!("{n} = {}", crate::format::num(*v))).collect();
    format!("{}   ({})", model.source().trim().replace('\n', " "), params.join(", "))
}
