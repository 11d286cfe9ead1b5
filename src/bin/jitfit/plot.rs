//! `--plot FILE.svg` (or `.png`): the data, the fitted curve and the residuals, as a
//! self-contained SVG, or that SVG rasterized by resvg with a bundled font.
//!
//! One-variable models: the data (with σ error bars when σ is known, and σ_x ones for
//! `--sigma-x`), the model evaluated
//! densely over the data's range only (clipped to the plot, never setting its range), the
//! confidence and prediction bands with `--band`, a legend, and residuals below — fitted − y,
//! divided by σ where σ is known (the axis says which; the sign of `--output-residuals`).
//! Models of several variables: observed against fitted (with the identity line), residuals
//! by point index below. Axes have 1-2-5 ticks with as many decimals as the step needs
//! (scientific past 10^5 or below 10^-3), minor ticks, and log scales (`--log-x`, `--log-y`, or
//! chosen for a positive axis spanning three decades or more, with a note). Past
//! [`MAX_DRAWN_POINTS`] a scatter is drawn as the span of its points in each pixel column.
//! The SVG is written directly (no plotting crate: plotters needs system fonts to lay out text,
//! which a fresh machine may not have; the layout is ours).

use crate::columns::Columns;
use jitfit::backend::Kernels;
use jitfit::{CompiledModel, Data, Fit, Level};
use std::fmt::Write;
use std::path::Path;

const WIDTH: f64 = 800.0;
const LEFT: f64 = 90.0;
const RIGHT: f64 = 780.0;

/// What the command line asks of a plot.
#[derive(Clone, Copy, Debug, Default)]
pub struct PlotOptions {
    /// `Some(true)`: log x axis; `Some(false)`: linear; `None`: log for a positive x spanning
    /// three decades or more.
    pub log_x: Option<bool>,
    pub log_y: Option<bool>,
    /// Draw the confidence (and prediction) band at this level.
    pub band: Option<Level>,
}

/// One axis: its range and scale.
#[derive(Clone, Copy, Debug, PartialEq)]
struct Axis {
    lo: f64,
    hi: f64,
    log: bool,
}

impl Axis {
    fn t(&self, v: f64) -> f64 {
        if self.log { v.log10() } else { v }
    }

    /// Where `v` falls, 0 at `lo` and 1 at `hi` (outside for values beyond).
    fn frac(&self, v: f64) -> f64 {
        (self.t(v) - self.t(self.lo)) / (self.t(self.hi) - self.t(self.lo))
    }

    /// The range of `values` (positive ones on a log axis) padded by 5 % of it each side.
    fn of(values: impl Iterator<Item = f64>, log: bool) -> Axis {
        let (lo, hi) = values
            .filter(|v| v.is_finite() && (!log || *v > 0.0))
            .fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), v| (a.min(v), b.max(v)));
        if !lo.is_finite() {
            return if log { Axis { lo: 0.1, hi: 10.0, log } } else { Axis { lo: 0.0, hi: 1.0, log } };
        }
        if log {
            let (a, b) = (lo.log10(), hi.log10());
            let pad = if b > a { 0.05 * (b - a) } else { 0.5 };
            // Within f64's normal range: padding 1e300 by decades would overflow.
            let clamp = |e: f64| 10f64.powf(e.clamp(-307.0, 308.0));
            return Axis { lo: clamp(a - pad), hi: clamp(b + pad), log };
        }
        let pad = if hi > lo { 0.05 * (hi - lo) } else { 0.5 * lo.abs().max(1.0) };
        Axis { lo: lo - pad, hi: hi + pad, log }
    }

    /// Major ticks (about `target` on a linear axis) with their labels, and minor ticks.
    fn ticks(&self, target: usize) -> (Vec<(f64, String)>, Vec<f64>) {
        if self.log { log_ticks(self.lo, self.hi) } else { linear_ticks(self.lo, self.hi, target) }
    }
}

/// The 1-2-5 step giving about `target` intervals over `span`, and its leading digit.
fn nice_step(span: f64, target: usize) -> (f64, u8) {
    let raw = span / target as f64;
    let magnitude = 10f64.powf(raw.log10().floor());
    let f = raw / magnitude;
    let digit = if f <= 1.0 {
        1
    } else if f <= 2.0 {
        2
    } else if f <= 5.0 {
        5
    } else {
        10
    };
    (digit as f64 * magnitude, if digit == 10 { 1 } else { digit })
}

/// Ticks at multiples of a 1-2-5 step inside [lo, hi], labelled with the decimals the step
/// needs (a common notation: scientific when the largest is ≥ 10^5 or below 10^-3); minor
/// ticks at fifths of the step (quarters for a 2).
fn linear_ticks(lo: f64, hi: f64, target: usize) -> (Vec<(f64, String)>, Vec<f64>) {
    if !(lo.is_finite() && hi.is_finite() && hi > lo) {
        return (vec![(lo, tick_label(lo, 1.0, None))], Vec::new());
    }
    let (step, digit) = nice_step(hi - lo, target);
    if !(step > 0.0 && step.is_finite()) {
        // A span too small (subnormal) or too large for a step: the ends alone.
        return (vec![(lo, crate::format::num(lo)), (hi, crate::format::num(hi))], Vec::new());
    }
    // At least two labelled ticks (a 1-2-5 step may leave one inside a short range).
    if ((hi / step + 1e-9).floor() - (lo / step - 1e-9).ceil()) < 1.0 && target < 24 {
        return linear_ticks(lo, hi, 2 * target);
    }
    let at = |k: f64, step: f64| {
        let v = k * step;
        // 0.1·3 is 0.30000000000000004: the tick is 0.3, and −0 is 0.
        if v.abs() < step * 1e-9 { 0.0 } else { v }
    };
    // Ends within rounding of a multiple are ticks (0.7/0.1 is 6.999…).
    let multiples = |step: f64| (lo / step - 1e-9).ceil() as i64..=(hi / step + 1e-9).floor() as i64;
    let values: Vec<f64> = multiples(step).map(|k| at(k as f64, step)).collect();
    let largest = values.iter().fold(0.0f64, |m, v| m.max(v.abs()));
    let exponent = (largest >= 1e5 || (largest > 0.0 && largest < 1e-3)).then(|| largest.log10().floor() as i32);
    let major = values.iter().map(|v| (*v, tick_label(*v, step, exponent))).collect();
    let minor_step = step / if digit == 2 { 4.0 } else { 5.0 };
    let minor = multiples(minor_step)
        .map(|k| at(k as f64, minor_step))
        .filter(|v| !values.iter().any(|m| (m - v).abs() < minor_step * 1e-6))
        .collect();
    (major, minor)
}

/// `v` with the decimals a tick step needs; `exponent`: written as m·10^exponent (`2.5e6`).
fn tick_label(v: f64, step: f64, exponent: Option<i32>) -> String {
    let step_exponent = step.log10().floor() as i32;
    let text = match exponent {
        None => {
            let decimals = (-step_exponent).max(0) as usize;
            format!("{v:.decimals$}")
        }
        Some(e) if v != 0.0 => {
            let decimals = (e - step_exponent).max(0) as usize;
            format!("{:.decimals$}e{e}", v / 10f64.powi(e))
        }
        Some(_) => "0".to_owned(),
    };
    if text.trim_start_matches('-').chars().all(|c| c == '0' || c == '.') {
        text.trim_start_matches('-').to_owned()
    } else {
        text
    }
}

/// Decades (and 2 and 5 between them when the range spans less than two decades) as major
/// ticks; 2…9 times each decade as minor ones.
fn log_ticks(lo: f64, hi: f64) -> (Vec<(f64, String)>, Vec<f64>) {
    let (a, b) = (lo.log10().floor().max(-330.0) as i32, hi.log10().ceil().min(310.0) as i32);
    if b - a > 30 {
        // Many decades: every k-th one labelled, no minor ticks.
        let every = (b - a + 9) / 10;
        let major = (a..=b)
            .filter(|k| k.rem_euclid(every) == 0)
            .map(|k| (10f64.powi(k), log_label(1, k)))
            .filter(|(v, _)| *v >= lo && *v <= hi)
            .collect();
        return (major, Vec::new());
    }
    let inside = |v: &f64| *v >= lo * (1.0 - 1e-12) && *v <= hi * (1.0 + 1e-12);
    let few = hi / lo < 100.0;
    let mut major = Vec::new();
    let mut minor = Vec::new();
    for k in a..=b {
        let decade = 10f64.powi(k);
        for m in 1..=9 {
            let v = m as f64 * decade;
            if !inside(&v) {
                continue;
            }
            if m == 1 || (few && (m == 2 || m == 5)) {
                major.push((v, log_label(m, k)));
            } else {
                minor.push(v);
            }
        }
    }
    (major, minor)
}

/// m·10^k as written on a log axis: plainly from 0.001 to 10000, else `2e-6`.
fn log_label(m: u32, k: i32) -> String {
    if (-3..=4).contains(&k) {
        let decimals = (-k).max(0) as usize;
        format!("{:.decimals$}", m as f64 * 10f64.powi(k))
    } else {
        format!("{m}e{k}")
    }
}

/// The least and greatest finite values of a column (found in parallel: one pass).
#[derive(Clone, Copy, Debug)]
struct Extent {
    lo: f64,
    hi: f64,
}

impl Extent {
    fn of(values: &[f64]) -> Extent {
        use rayon::prelude::*;
        let (lo, hi) = values
            .par_chunks(1 << 16)
            .map(Extent::chunk)
            .reduce(|| (f64::INFINITY, f64::NEG_INFINITY), |a, b| (a.0.min(b.0), a.1.max(b.1)));
        Extent { lo, hi }
    }

    /// A chunk's extent in eight independent lanes without branches (the compiler makes them
    /// vector compares and selects: one chain of `min` through every value ran at a quarter of
    /// the memory's speed).
    fn chunk(values: &[f64]) -> (f64, f64) {
        const LANES: usize = 8;
        let (mut lo, mut hi) = ([f64::INFINITY; LANES], [f64::NEG_INFINITY; LANES]);
        let blocks = values.chunks_exact(LANES);
        let tail = blocks.remainder();
        for block in blocks {
            for k in 0..LANES {
                let v = block[k];
                // False for NaN and ±∞ alike.
                let finite = v.abs() < f64::INFINITY;
                lo[k] = if finite && v < lo[k] { v } else { lo[k] };
                hi[k] = if finite && v > hi[k] { v } else { hi[k] };
            }
        }
        let finite = tail.iter().copied().filter(|v| v.is_finite());
        let lo = lo.into_iter().chain(finite.clone()).fold(f64::INFINITY, f64::min);
        let hi = hi.into_iter().chain(finite).fold(f64::NEG_INFINITY, f64::max);
        (lo, hi)
    }

    /// Whether a positive axis spans enough decades to be drawn on a log scale by default.
    fn spans_decades(&self) -> bool {
        self.lo > 0.0 && self.hi / self.lo >= 1e3
    }

    fn axis(&self, log: bool) -> Axis {
        Axis::of([self.lo, self.hi].into_iter(), log)
    }
}

struct Panel {
    left: f64,
    right: f64,
    top: f64,
    bottom: f64,
    x: Axis,
    y: Axis,
    id: String,
}

impl Panel {
    fn px(&self, x: f64) -> f64 {
        self.left + self.x.frac(x) * (self.right - self.left)
    }

    fn py(&self, y: f64) -> f64 {
        self.bottom - self.y.frac(y) * (self.bottom - self.top)
    }

    /// A y pixel held to the panel (a log axis's ≤ 0 at its bottom).
    fn py_clamped(&self, y: f64) -> f64 {
        let p = if self.y.log && y <= 0.0 { self.bottom } else { self.py(y) };
        p.clamp(self.top, self.bottom)
    }

    /// The frame, grid, ticks with labels, axis labels, and a clip path for what is drawn in it.
    fn axes(&self, svg: &mut String, x_label: &str, y_label: &str) {
        let (left, right, top, bottom, height) = (self.left, self.right, self.top, self.bottom, self.bottom - self.top);
        let _ = writeln!(
            svg,
            r#"<clipPath id="{}"><rect x="{left}" y="{top}" width="{}" height="{height}"/></clipPath>"#,
            self.id,
            right - left
        );
        // About one major tick per 110 pixels along x (4 to 6), per 40 along y (3 to 6).
        let (x_major, x_minor) = self.x.ticks((((right - left) / 110.0) as usize).clamp(4, 6));
        let (y_major, y_minor) = self.y.ticks((((bottom - top) / 40.0) as usize).clamp(3, 6));
        let mut grid = String::new();
        let mut marks = String::new();
        for (v, _) in &y_major {
            let _ = write!(grid, "M{left} {py:.1}H{right}", py = self.py(*v));
        }
        for (v, _) in &x_major {
            let _ = write!(grid, "M{px:.1} {top}V{bottom}", px = self.px(*v));
        }
        let _ = writeln!(svg, r##"<path class="grid" stroke="#e8e8e8" d="{grid}"/>"##);
        for (v, len) in x_major.iter().map(|(v, _)| (*v, 6.0)).chain(x_minor.iter().map(|v| (*v, 3.0))) {
            let _ = write!(marks, "M{px:.1} {bottom}v{len}", px = self.px(v));
        }
        for (v, len) in y_major.iter().map(|(v, _)| (*v, 6.0)).chain(y_minor.iter().map(|v| (*v, 3.0))) {
            let _ = write!(marks, "M{left} {py:.1}h-{len}", py = self.py(v));
        }
        let _ = writeln!(svg, r##"<path class="ticks" stroke="#444" d="{marks}"/>"##);
        let _ = writeln!(
            svg,
            r##"<rect x="{left}" y="{top}" width="{}" height="{height}" fill="none" stroke="#444"/>"##,
            right - left
        );
        for (v, label) in &x_major {
            let _ = writeln!(
                svg,
                r#"<text x="{:.1}" y="{:.1}" font-size="11" text-anchor="middle">{label}</text>"#,
                self.px(*v),
                bottom + 18.0
            );
        }
        for (v, label) in &y_major {
            let _ = writeln!(
                svg,
                r#"<text x="{:.1}" y="{:.1}" font-size="11" text-anchor="end">{label}</text>"#,
                left - 8.0,
                self.py(*v) + 4.0
            );
        }
        let _ = writeln!(
            svg,
            r#"<text x="{:.1}" y="{:.1}" font-size="12" text-anchor="middle">{}</text>"#,
            (left + right) / 2.0,
            bottom + 36.0,
            escape(x_label)
        );
        // Left of the tick labels: at the figure's edge for a panel there, between panels else.
        let (middle, at) = ((top + bottom) / 2.0, (left - 74.0).max(16.0));
        if y_label.is_empty() {
            return;
        }
        let _ = writeln!(
            svg,
            r#"<text x="{at}" y="{middle:.1}" font-size="12" text-anchor="middle" transform="rotate(-90 {at} {middle:.1})">{}</text>"#,
            escape(y_label)
        );
    }
}

/// Above this many points, a scatter is drawn as the min–max span of the points in each pixel
/// column (what a screen shows of them), not a circle per point: 10^7 points made an 820 MB SVG.
pub const MAX_DRAWN_POINTS: usize = 10_000;

/// The pixel column of `x` on a log axis.
#[inline(never)]
fn log_column(x: f64, origin: f64, scale: f64) -> f64 {
    (x.log10() - origin) * scale
}

/// Each column's least and greatest y of the points (`x[i]`, `y[i]`), a point in column
/// `column(x)` rounded (below 0 is column 0, past the last the last); `monotone`: `column`
/// never decreases as x grows. Points sorted by x under a monotone `column` are reduced a
/// column's run at a time (found by bisection), as [`Extent::chunk`] reduces a slice;
/// otherwise the extremes of a run of points in one column are kept in registers and stored
/// when the column changes. (A min and max through memory for every point was the slowest
/// part of a 10^8-point plot.)
fn spans(x: &[f64], y: &[f64], column: impl Fn(f64) -> f64, monotone: bool, lo: &mut [f64], hi: &mut [f64]) {
    let last = lo.len() - 1;
    // A saturating cast: below 0 is column 0.
    let column_of = |x: f64| {
        let c = column(x);
        c.is_finite().then(|| ((c + 0.5) as usize).min(last))
    };
    // False where any x is NaN.
    if monotone && x.windows(2).all(|w| w[0] <= w[1]) {
        let mut start = 0;
        while start < x.len() {
            let Some(c) = column_of(x[start]) else {
                start += 1;
                continue;
            };
            let end = start + x[start..].partition_point(|x| column_of(*x) == Some(c));
            let (l, h) = Extent::chunk(&y[start..end]);
            (lo[c], hi[c]) = (lo[c].min(l), hi[c].max(h));
            start = end;
        }
        return;
    }
    let (mut current, mut run_lo, mut run_hi) = (usize::MAX, f64::INFINITY, f64::NEG_INFINITY);
    for (x, y) in x.iter().zip(y) {
        let (Some(c), true) = (column_of(*x), y.is_finite()) else {
            continue;
        };
        let y = *y;
        if c != current {
            if current != usize::MAX {
                (lo[current], hi[current]) = (lo[current].min(run_lo), hi[current].max(run_hi));
            }
            (current, run_lo, run_hi) = (c, y, y);
        } else {
            run_lo = if y < run_lo { y } else { run_lo };
            run_hi = if y > run_hi { y } else { run_hi };
        }
    }
    if current != usize::MAX {
        (lo[current], hi[current]) = (lo[current].min(run_lo), hi[current].max(run_hi));
    }
}

/// A scatter as it is gathered: its points (up to [`MAX_DRAWN_POINTS`]), or the least and
/// greatest y in each pixel column (in data units, so the y axis may be chosen after), with
/// memory independent of the number of points.
enum Scatter {
    Few(Vec<(f64, f64)>),
    /// `origin` and `scale` map x (its log for a log axis) to its pixel column.
    Many {
        n: usize,
        log: bool,
        origin: f64,
        scale: f64,
        lo: Vec<f64>,
        hi: Vec<f64>,
    },
}

impl Scatter {
    /// For `n` points over the x axis `x`, `width` pixels wide.
    fn new(n: usize, x: Axis, width: f64) -> Scatter {
        if n <= MAX_DRAWN_POINTS {
            Scatter::Few(Vec::with_capacity(n))
        } else {
            let (origin, scale) = (x.t(x.lo), width / (x.t(x.hi) - x.t(x.lo)));
            let columns = width as usize + 1;
            Scatter::Many {
                n,
                log: x.log,
                origin,
                scale,
                lo: vec![f64::INFINITY; columns],
                hi: vec![f64::NEG_INFINITY; columns],
            }
        }
    }

    /// The points (`x[i]`, `y[i]`).
    fn add(&mut self, x: &[f64], y: &[f64]) {
        match self {
            Scatter::Few(points) => points.extend(x.iter().copied().zip(y.iter().copied())),
            Scatter::Many { log: true, origin, scale, lo, hi, .. } => {
                // A call, not `x.log10()` inline: the compiler evaluated the intrinsic for
                // every point of a linear axis too (a third of a 10^7-point plot's time).
                let (origin, scale) = (*origin, *scale);
                // (Not taken as monotone: the platform's log10 need not be.)
                spans(x, y, |x| log_column(x, origin, scale), false, lo, hi)
            }
            Scatter::Many { origin, scale, lo, hi, .. } => {
                let (origin, scale) = (*origin, *scale);
                // Rounded subtraction and multiplication by a positive scale keep order.
                spans(x, y, |x| (x - origin) * scale, true, lo, hi)
            }
        }
    }

    /// `other`, gathered over the points after this one's, added to it.
    fn merge(mut self, other: Scatter) -> Scatter {
        match (&mut self, other) {
            (Scatter::Few(points), Scatter::Few(more)) => points.extend(more),
            (Scatter::Many { lo, hi, .. }, Scatter::Many { lo: lo2, hi: hi2, .. }) => {
                for c in 0..lo.len() {
                    lo[c] = lo[c].min(lo2[c]);
                    hi[c] = hi[c].max(hi2[c]);
                }
            }
            _ => unreachable!("scatters of one number of points are of one kind"),
        }
        self
    }

    /// The least and greatest finite y gathered (of the points drawn, for spans).
    fn extent(&self) -> Extent {
        match self {
            Scatter::Few(points) => {
                let y: Vec<f64> = points.iter().map(|p| p.1).collect();
                let (lo, hi) = Extent::chunk(&y);
                Extent { lo, hi }
            }
            Scatter::Many { lo, hi, .. } => Extent {
                lo: lo.iter().copied().fold(f64::INFINITY, f64::min),
                hi: hi.iter().copied().fold(f64::NEG_INFINITY, f64::max),
            },
        }
    }

    /// Circles, or one vertical span per pixel column covering every point in it.
    fn draw(&self, svg: &mut String, class: &str, color: &str, radius: f64, panel: &Panel) {
        let clip = format!(r#"clip-path="url(#{})""#, panel.id);
        match self {
            Scatter::Few(points) => {
                let _ = writeln!(svg, r##"<g class="{class}" fill="{color}" {clip}>"##);
                for (x, y) in points {
                    let (px, py) = (panel.px(*x), panel.py(*y));
                    if px.is_finite() && py.is_finite() {
                        let _ = writeln!(svg, r#"<circle cx="{px:.2}" cy="{py:.2}" r="{radius}"/>"#);
                    }
                }
                let _ = writeln!(svg, "</g>");
            }
            Scatter::Many { n, lo, hi, .. } => {
                let mut path = String::new();
                for (c, (lo, hi)) in lo.iter().zip(hi).enumerate() {
                    let (top, bottom) = (panel.py(*hi), panel.py(*lo));
                    if top.is_finite() && bottom.is_finite() {
                        let _ =
                            write!(path, "M{:.1} {:.2}V{:.2}", panel.left + c as f64, top - radius, bottom + radius);
                    }
                }
                let _ = writeln!(
                    svg,
                    r#"<path class="{class}" stroke="{color}" stroke-width="{}" {clip} d="{path}"><title>{n} points, drawn as the span of those in each pixel column</title></path>"#,
                    2.0 * radius
                );
            }
        }
    }

    /// Pixel positions of what is drawn, for the legend to avoid.
    fn occupied(&self, panel: &Panel) -> Vec<(f64, f64)> {
        let pixels: Vec<(f64, f64)> = match self {
            Scatter::Few(points) => points.iter().map(|(x, y)| (panel.px(*x), panel.py(*y))).collect(),
            Scatter::Many { lo, hi, .. } => (0..lo.len())
                .flat_map(|c| {
                    let x = panel.left + c as f64;
                    let (top, bottom) = (panel.py(hi[c]), panel.py(lo[c]));
                    let steps = ((bottom - top) / 8.0).ceil().clamp(0.0, 100.0) as usize;
                    (0..=steps).map(move |k| (x, top + (bottom - top) * k as f64 / steps.max(1) as f64))
                })
                .collect(),
        };
        pixels.into_iter().filter(|(x, y)| x.is_finite() && y.is_finite()).collect()
    }
}

/// A curve as polylines (broken where it is not finite, or ≤ 0 on a log axis), clipped to the
/// panel.
fn curve(svg: &mut String, class: &str, color: &str, panel: &Panel, points: impl Iterator<Item = (f64, f64)>) {
    let mut pieces: Vec<Vec<String>> = vec![Vec::new()];
    for (x, y) in points {
        let (px, py) = (panel.px(x), panel.py(y));
        if px.is_finite() && py.is_finite() {
            if let Some(piece) = pieces.last_mut() {
                piece.push(format!("{px:.2},{py:.2}"));
            }
        } else if pieces.last().is_some_and(|p| !p.is_empty()) {
            pieces.push(Vec::new());
        }
    }
    for piece in pieces.iter().filter(|p| p.len() > 1) {
        let _ = writeln!(
            svg,
            r#"<polyline class="{class}" fill="none" stroke="{color}" stroke-width="2" clip-path="url(#{})" points="{}"/>"#,
            panel.id,
            piece.join(" ")
        );
    }
}

/// A band between `lower` and `upper` over `x`, filled, clipped to the panel.
fn band(
    svg: &mut String,
    class: &str,
    color: &str,
    opacity: f64,
    panel: &Panel,
    x: &[f64],
    (lower, upper): (&[f64], &[f64]),
) {
    let mut path = String::new();
    let valid = |i: &usize| lower[*i].is_finite() && upper[*i].is_finite();
    let idx: Vec<usize> = (0..x.len()).filter(valid).collect();
    if idx.len() < 2 {
        return;
    }
    for (k, &i) in idx.iter().enumerate() {
        let _ =
            write!(path, "{}{:.2} {:.2}", if k == 0 { "M" } else { "L" }, panel.px(x[i]), panel.py_clamped(upper[i]));
    }
    for &i in idx.iter().rev() {
        let _ = write!(path, "L{:.2} {:.2}", panel.px(x[i]), panel.py_clamped(lower[i]));
    }
    let _ = writeln!(
        svg,
        r#"<path class="{class}" fill="{color}" fill-opacity="{opacity}" stroke="none" clip-path="url(#{})" d="{path}Z"/>"#,
        panel.id
    );
}

/// Vertical bars y ± σ, clipped to the panel.
fn error_bars(svg: &mut String, panel: &Panel, x: &[f64], y: &[f64], sigma: &[f64]) {
    let mut path = String::new();
    for ((x, y), s) in x.iter().zip(y).zip(sigma) {
        let px = panel.px(*x);
        if !(px.is_finite() && y.is_finite() && s.is_finite()) {
            continue;
        }
        let _ = write!(path, "M{px:.2} {:.2}V{:.2}", panel.py_clamped(y - s), panel.py_clamped(y + s));
    }
    let _ = writeln!(svg, r##"<path class="error-bars" stroke="#1f77b4" stroke-opacity="0.6" d="{path}"/>"##);
}

/// Horizontal bars x ± σ_x, clipped to the panel.
fn x_error_bars(svg: &mut String, panel: &Panel, x: &[f64], y: &[f64], sigma_x: &[f64]) {
    let mut path = String::new();
    for ((x, y), s) in x.iter().zip(y).zip(sigma_x) {
        let py = panel.py(*y);
        let (left, right) = (panel.px(x - s), panel.px(x + s));
        if !(py.is_finite() && left.is_finite() && right.is_finite()) {
            continue;
        }
        let _ = write!(path, "M{left:.2} {py:.2}H{right:.2}");
    }
    let _ = writeln!(
        svg,
        r##"<path class="x-error-bars" stroke="#1f77b4" stroke-opacity="0.6" clip-path="url(#{})" d="{path}"/>"##,
        panel.id
    );
}

/// The legend, in the panel's corner that covers the fewest of `occupied` (pixel positions of
/// what is drawn; the top right on a tie): (kind, color, text) with kind `point`, `line`,
/// `bar` or `band`.
fn legend(svg: &mut String, panel: &Panel, entries: &[(&str, &str, String)], occupied: &[(f64, f64)]) {
    let width = 14.0 + entries.iter().map(|(_, _, t)| t.chars().count()).max().unwrap_or(0) as f64 * 6.2 + 30.0;
    let height = 8.0 + 16.0 * entries.len() as f64;
    let corners = [
        (panel.right - width - 8.0, panel.top + 8.0),
        (panel.left + 8.0, panel.top + 8.0),
        (panel.right - width - 8.0, panel.bottom - height - 8.0),
        (panel.left + 8.0, panel.bottom - height - 8.0),
    ];
    let covered = |(x, y): (f64, f64)| {
        occupied
            .iter()
            .filter(|(px, py)| *px >= x - 4.0 && *px <= x + width + 4.0 && *py >= y - 4.0 && *py <= y + height + 4.0)
            .count()
    };
    let (x, y) = corners.iter().copied().min_by_key(|c| covered(*c)).unwrap_or(corners[0]);
    let _ = writeln!(
        svg,
        r##"<g class="legend"><rect x="{x:.1}" y="{y:.1}" width="{width:.1}" height="{:.1}" fill="white" fill-opacity="0.85" stroke="#bbb"/>"##,
        8.0 + 16.0 * entries.len() as f64
    );
    for (k, (kind, color, text)) in entries.iter().enumerate() {
        let (cx, cy) = (x + 16.0, y + 14.0 + 16.0 * k as f64);
        let mark = match *kind {
            // A disc as a path: `<circle>` is a data point.
            "point" => format!(r#"<path d="M{:.1} {cy:.1}a3 3 0 1 0 6 0a3 3 0 1 0 -6 0" fill="{color}"/>"#, cx - 3.0),
            "line" => format!(r#"<path d="M{:.1} {cy:.1}h20" stroke="{color}" stroke-width="2"/>"#, cx - 10.0),
            "bar" => format!(r#"<path d="M{cx:.1} {:.1}v12" stroke="{color}"/>"#, cy - 6.0),
            _ => format!(
                r#"<rect x="{:.1}" y="{:.1}" width="20" height="10" fill="{color}" fill-opacity="0.3"/>"#,
                cx - 10.0,
                cy - 5.0
            ),
        };
        let _ = writeln!(
            svg,
            r#"{mark}<text x="{:.1}" y="{:.1}" font-size="11">{}</text>"#,
            cx + 16.0,
            cy + 4.0,
            escape(text)
        );
    }
    let _ = writeln!(svg, "</g>");
}

fn escape(s: &str) -> String {
    s.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;")
}

/// An SVG figure's opening: its size and a white background.
fn open_svg(width: f64, height: f64) -> String {
    format!(
        "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{width}\" height=\"{height}\" viewBox=\"0 0 {width} {height}\" font-family=\"sans-serif\">\n<rect width=\"100%\" height=\"100%\" fill=\"white\"/>\n"
    )
}

/// The figure's title, centred at `x`, cut to `max` characters.
fn write_title(svg: &mut String, x: f64, text: &str, max: usize) {
    let _ = writeln!(
        svg,
        r#"<text class="title" x="{x:.1}" y="20" font-size="14" text-anchor="middle">{}</text>"#,
        escape(&fitted_to(text, max))
    );
}

/// A figure written as the file's extension says: the SVG, or it rasterized to PNG.
fn write_figure(path: &Path, svg: &str) -> anyhow::Result<()> {
    match check_extension(path)? {
        Format::Svg => jitfit::fsutil::write_bytes_atomically(path, svg.as_bytes())?,
        Format::Png => jitfit::fsutil::write_bytes_atomically(path, &png(svg)?)?,
    }
    Ok(())
}

/// `text` cut to `max` characters, with an ellipsis where it was cut.
fn fitted_to(text: &str, max: usize) -> String {
    if text.chars().count() <= max {
        return text.to_owned();
    }
    let mut cut: String = text.chars().take(max.saturating_sub(1)).collect();
    cut.push('…');
    cut
}

/// A value with its standard error, both to the error's second significant digit
/// (`2.988 ± 0.016`, `(1.23 ± 0.05)e-7`); a value alone where the error is 0 (fixed) and
/// with "undetermined" where it is not finite.
pub fn value_with_error(v: f64, e: f64) -> String {
    if e == 0.0 {
        return format!("{} (fixed)", crate::format::num(v));
    }
    if !e.is_finite() || !v.is_finite() {
        return format!("{} (undetermined)", crate::format::num(v));
    }
    let place = e.log10().floor() as i32 - 1;
    let largest = v.abs().max(e);
    if (1e-3..1e5).contains(&largest) {
        let decimals = (-place).max(0) as usize;
        return format!("{v:.decimals$} ± {e:.decimals$}");
    }
    let exponent = largest.log10().floor() as i32;
    let scale = 10f64.powi(exponent);
    let decimals = (exponent - place).max(0) as usize;
    format!("({:.decimals$} ± {:.decimals$})e{exponent}", v / scale, e / scale)
}

/// What a plot file is, by its extension.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    Svg,
    Png,
}

/// `v` to three significant digits (`0.00482`, `12.3`, `4.82e-7`).
pub fn three_digits(v: f64) -> String {
    if v == 0.0 || !v.is_finite() {
        return format!("{v}");
    }
    let exponent = v.abs().log10().floor() as i32;
    if (-3..5).contains(&exponent) {
        let decimals = (2 - exponent).max(0) as usize;
        format!("{v:.decimals$}")
    } else {
        format!("{v:.2e}")
    }
}

/// Plots are SVG or PNG: another extension is refused up front (before the fit).
pub fn check_extension(path: &Path) -> anyhow::Result<Format> {
    match path.extension().and_then(|e| e.to_str()).map(str::to_ascii_lowercase).as_deref() {
        Some("svg") => Ok(Format::Svg),
        Some("png") => Ok(Format::Png),
        _ => anyhow::bail!("--plot {}: plots are written as SVG or PNG; name the file *.svg or *.png", path.display()),
    }
}

/// The font PNG text is drawn with, shipped in the binary (a bare machine may have none):
/// DejaVu Sans (Bitstream Vera license, `assets/fonts/LICENSE-DejaVu.txt`).
const FONT: &[u8] = include_bytes!("../../../assets/fonts/DejaVuSans.ttf");

/// PNG pixels per SVG unit: 1600 × 1320 for the 800 × 660 plot.
const PNG_SCALE: f32 = 2.0;

/// The SVG rasterized to PNG bytes with the bundled font.
pub fn png(svg: &str) -> anyhow::Result<Vec<u8>> {
    use resvg::{tiny_skia, usvg};
    let mut options = usvg::Options::default();
    let fonts = options.fontdb_mut();
    fonts.load_font_data(FONT.to_vec());
    fonts.set_sans_serif_family("DejaVu Sans");
    let tree = usvg::Tree::from_str(svg, &options)?;
    let size = tree.size().to_int_size().scale_by(PNG_SCALE).ok_or_else(|| anyhow::anyhow!("an empty plot"))?;
    let mut pixmap =
        tiny_skia::Pixmap::new(size.width(), size.height()).ok_or_else(|| anyhow::anyhow!("a plot too large"))?;
    resvg::render(&tree, tiny_skia::Transform::from_scale(PNG_SCALE, PNG_SCALE), &mut pixmap.as_mut());
    Ok(pixmap.encode_png()?)
}

/// Profiles and contours computed after the fit (`--ci`, `--contour`): drawn under the fit,
/// a panel each.
#[derive(Clone, Copy, Default)]
pub struct Uncertainty<'a> {
    pub profile: Option<&'a jitfit::Profile>,
    pub contours: &'a [jitfit::Contour],
}

/// Writes the plot; returns the notes on what it chose (log axes), for the caller to print.
pub fn write_plot(
    path: &Path,
    model: &CompiledModel,
    data: &Data,
    fit: &Fit,
    columns: &Columns,
    options: &PlotOptions,
    uncertainty: Uncertainty<'_>,
) -> anyhow::Result<Vec<String>> {
    check_extension(path)?;
    let (svg, notes) = render(model, data, fit, columns, options, uncertainty)?;
    write_figure(path, &svg)?;
    Ok(notes)
}

/// The profiles (with a curve) of `uncertainty`.
fn profiles<'a>(uncertainty: Uncertainty<'a>) -> Vec<&'a jitfit::ParameterProfile> {
    uncertainty.profile.map(|p| p.parameters.iter().filter(|p| p.curve.len() > 1).collect()).unwrap_or_default()
}

/// Rows of the profile and contour panels: two to a row.
const UNCERTAINTY_ROW: f64 = 260.0;

/// The height the profile and contour panels add to a figure.
fn uncertainty_height(uncertainty: Uncertainty<'_>) -> f64 {
    (profiles(uncertainty).len() + uncertainty.contours.len()).div_ceil(2) as f64 * UNCERTAINTY_ROW
}

/// Two panels to a row from `height` down: each profile's rise of the objective against its
/// parameter (the levels' thresholds dashed, the interval's ends marked), each contour's
/// curve around the fit.
fn draw_uncertainty(out: &mut String, fit: &Fit, uncertainty: Uncertainty<'_>, width: f64, height: f64) {
    let profiles = profiles(uncertainty);
    let panels = profiles.len() + uncertainty.contours.len();
    let cell_h = UNCERTAINTY_ROW;
    let cell_w = width / 2.0;
    for k in 0..panels {
        let (col, row) = ((k % 2) as f64, (k / 2) as f64);
        let (left, right) = (cell_w * col + 80.0, cell_w * (col + 1.0) - 25.0);
        let (top, bottom) = (height + cell_h * row + 30.0, height + cell_h * row + 200.0);
        if let Some(profile) = profiles.get(k) {
            let thresholds: Vec<f64> = profile.intervals.iter().map(|i| i.threshold).collect();
            let ends: Vec<f64> =
                profile.intervals.iter().flat_map(|i| [i.lower.value(), i.upper.value()]).flatten().collect();
            let x = Axis::of(profile.curve.iter().map(|p| p.0).chain(ends.iter().copied()), false);
            let y = Axis::of(profile.curve.iter().map(|p| p.1).chain(thresholds.iter().copied()).chain([0.0]), false);
            let panel = Panel { left, right, top, bottom, x, y, id: format!("profile-{}", k + 1) };
            let _ = writeln!(
                out,
                r#"<text x="{:.1}" y="{:.1}" font-size="12" text-anchor="middle">profile of {}</text>"#,
                (left + right) / 2.0,
                top - 8.0,
                escape(&profile.name)
            );
            panel.axes(out, &profile.name, "rise of 2·cost");
            for (interval, threshold) in profile.intervals.iter().zip(&thresholds) {
                let py = panel.py(*threshold);
                let _ = writeln!(
                    out,
                    r##"<path d="M{left} {py:.1}H{right}" stroke="#888" stroke-dasharray="4 3"/><text x="{:.1}" y="{:.1}" font-size="10" text-anchor="end" fill="#555">{}</text>"##,
                    right - 4.0,
                    py - 3.0,
                    interval.level.label()
                );
                for end in [interval.lower.value(), interval.upper.value()].into_iter().flatten() {
                    let px = panel.px(end);
                    let _ = writeln!(
                        out,
                        r##"<path d="M{px:.1} {py:.1}V{bottom}" stroke="#d62728" stroke-dasharray="2 2"/>"##
                    );
                }
            }
            curve(out, "profile", "#1f77b4", &panel, profile.curve.iter().copied());
            let mut points = Scatter::new(profile.curve.len(), x, right - left);
            let (a, b): (Vec<f64>, Vec<f64>) = profile.curve.iter().copied().unzip();
            points.add(&a, &b);
            points.draw(out, "profile-points", "#1f77b4", 2.0, &panel);
        } else {
            let contour = &uncertainty.contours[k - profiles.len()];
            let index = |name: &str| fit.param_names.iter().position(|n| n == name);
            let best = (index(&contour.x).map(|i| fit.values[i]), index(&contour.y).map(|i| fit.values[i]));
            let x = Axis::of(contour.points.iter().map(|p| p.0).chain(best.0), false);
            let y = Axis::of(contour.points.iter().map(|p| p.1).chain(best.1), false);
            let panel = Panel { left, right, top, bottom, x, y, id: format!("contour-{}", k + 1) };
            let _ = writeln!(
                out,
                r#"<text x="{:.1}" y="{:.1}" font-size="12" text-anchor="middle">{} region of ({}, {})</text>"#,
                (left + right) / 2.0,
                top - 8.0,
                contour.level.label(),
                escape(&contour.x),
                escape(&contour.y)
            );
            panel.axes(out, &contour.x, &contour.y);
            let closed = contour.points.iter().chain(contour.points.first()).copied();
            curve(out, "contour", "#d62728", &panel, closed);
            if let (Some(bx), Some(by)) = best {
                let _ = writeln!(
                    out,
                    r##"<circle class="best" cx="{:.2}" cy="{:.2}" r="3" fill="#1f77b4"/>"##,
                    panel.px(bx),
                    panel.py(by)
                );
            }
        }
    }
}

/// A pass over the points a chunk at a time, in parallel, with the model's values (memory
/// independent of the data): `add(the points' indices, values there, accumulator)`; the chunks'
/// accumulators are merged in order, so the result does not depend on the threads.
fn gather<A: Send>(
    model: &CompiledModel,
    vars: &[&[f64]],
    params: &[f64],
    n: usize,
    empty: impl Fn() -> A + Sync + Send,
    add: impl Fn(std::ops::Range<usize>, &[f64], &mut A) + Sync,
    merge: impl Fn(A, A) -> A + Sync + Send,
) -> anyhow::Result<A> {
    use rayon::prelude::*;
    const CHUNK: usize = 1 << 16;
    (0..n.div_ceil(CHUNK))
        .into_par_iter()
        .map(|c| {
            let range = c * CHUNK..(n.min((c + 1) * CHUNK));
            let slices: Vec<&[f64]> = vars.iter().map(|v| &v[range.clone()]).collect();
            let mut fitted = vec![0.0; range.len()];
            model.kernels().predict(&slices, params, &mut fitted)?;
            let mut acc = empty();
            add(range, &fitted, &mut acc);
            Ok(acc)
        })
        .try_reduce(&empty, |a, b| Ok(merge(a, b)))
}

/// Two scatters, merged.
fn merged((a, b): (Scatter, Scatter), (a2, b2): (Scatter, Scatter)) -> (Scatter, Scatter) {
    (a.merge(a2), b.merge(b2))
}

/// The SVG text and the notes.
pub fn render(
    model: &CompiledModel,
    data: &Data,
    fit: &Fit,
    columns: &Columns,
    options: &PlotOptions,
    uncertainty: Uncertainty<'_>,
) -> anyhow::Result<(String, Vec<String>)> {
    let n = data.len();
    let vars: Vec<&[f64]> = model.vars().iter().map(|v| data.column(v).unwrap_or(&[])).collect();
    let observed = observed(model, &vars, data, fit);
    // σ on the scale the fit used (not for a transformed response, whose σ is of y).
    let sigma = data.sigma_values().filter(|_| !model.transforms_response());
    let one_var = vars.len() == 1;
    let mut notes = Vec::new();
    // (x ≤ 0 or y ≤ 0 under a log flag: refused by log_scale below, on the extents it needs.)
    check_variables(options, vars.len())?;
    // Data on a grid are heat maps: no axis of the response to scale.
    if vars.len() == 2
        && let Some(grid) = grid(vars[0], vars[1])
    {
        if options.log_y == Some(true) {
            anyhow::bail!("--log-y: data on a grid are drawn as heat maps, whose colours are linear");
        }
        return render_maps(model, fit, columns, &vars, &observed, sigma, grid, notes, uncertainty);
    }
    let x_extent = Extent::of(if one_var { vars[0] } else { &[] });
    let x_label = if one_var { columns.vars[0].1.clone() } else { "point".to_owned() };
    let log_x = one_var && log_scale(options.log_x, x_extent, "x", &x_label, &mut notes)?;
    // (The y axis's scale is chosen from y's extent: for one variable, that of the data's
    // spans, gathered in the pass over the points.)

    let base = 660.0;
    let mut svg = open_svg(WIDTH, base + uncertainty_height(uncertainty));
    let title = model.source().trim().replace('\n', " ");
    write_title(&mut svg, WIDTH / 2.0, &title, 100);
    let top = 50.0 + 14.0 * (parameter_lines(&mut svg, fit, WIDTH / 2.0) - 1) as f64;

    let large = n > MAX_DRAWN_POINTS;
    let data_entry =
        if large { format!("data: {n} points, as their span per pixel column") } else { format!("data ({n} points)") };
    // The residuals' x axis: the data's x, or the point index.
    let residual_x =
        if one_var { x_extent.axis(log_x) } else { Axis::of([0.0, n.saturating_sub(1) as f64].into_iter(), false) };
    // The data (against x, or against their fitted values on `axis`) and the residuals
    // (against x or the point's index), gathered in one pass over the points.
    let points_and_residuals = |axis: Axis| {
        gather(
            model,
            &vars,
            &fit.values,
            n,
            || (Scatter::new(n, axis, RIGHT - LEFT), Scatter::new(n, residual_x, RIGHT - LEFT)),
            |range, fitted, (points, residuals)| {
                let y = &observed[range.clone()];
                let r: Vec<f64> = match sigma {
                    Some(s) => fitted.iter().zip(y).zip(&s[range.clone()]).map(|((f, y), s)| (f - y) / s).collect(),
                    None => fitted.iter().zip(y).map(|(f, y)| f - y).collect(),
                };
                if one_var {
                    let x = &vars[0][range];
                    points.add(x, y);
                    residuals.add(x, &r);
                } else {
                    let index: Vec<f64> = range.map(|i| i as f64).collect();
                    points.add(fitted, y);
                    residuals.add(&index, &r);
                }
            },
            merged,
        )
    };
    let residuals = if one_var {
        let x = vars[0];
        let x_axis = residual_x;
        let (points, residuals) = points_and_residuals(x_axis)?;
        let y_extent = points.extent();
        let log_y = log_scale(options.log_y, y_extent, "y", &columns.y, &mut notes)?;
        // The range is the data's (with their error bars), not the curve's.
        let bars = sigma.filter(|_| !large);
        let y_axis = match bars {
            Some(s) => Axis::of(observed.iter().zip(s).flat_map(|(y, s)| [y - s, *y, y + s]), log_y),
            None => y_extent.axis(log_y),
        };
        let panel = Panel { left: LEFT, right: RIGHT, top, bottom: 410.0, x: x_axis, y: y_axis, id: "main".into() };
        panel.axes(&mut svg, &x_label, &columns.y);
        // The curve over the data's range only (evenly spaced on the axis's scale).
        let dense_x = dense(x_extent, log_x);
        let mut dense_y = vec![0.0; dense_x.len()];
        model.kernels().predict(&[&dense_x], &fit.values, &mut dense_y)?;
        let mut entries: Vec<(&str, &str, String)> =
            vec![("point", "#1f77b4", data_entry), ("line", "#d62728", "fit".into())];
        if let Some(level) = options.band.filter(|_| !dense_x.is_empty()) {
            let name = model.vars()[0].clone();
            let bands = fit.bands(&Data::new().var(&name, dense_x.clone()), level)?;
            let spread = |w: &[f64]| -> (Vec<f64>, Vec<f64>) {
                (
                    bands.value.iter().zip(w).map(|(v, w)| v - w).collect(),
                    bands.value.iter().zip(w).map(|(v, w)| v + w).collect(),
                )
            };
            let level_text = level.label();
            if let Some(prediction) = &bands.prediction {
                let (lower, upper) = spread(prediction);
                band(&mut svg, "prediction-band", "#d62728", 0.10, &panel, &dense_x, (&lower, &upper));
                entries.push(("band", "#f2b0b0", format!("{level_text} prediction band")));
            }
            let (lower, upper) = spread(&bands.confidence);
            band(&mut svg, "confidence-band", "#d62728", 0.25, &panel, &dense_x, (&lower, &upper));
            entries.push(("band", "#d62728", format!("{level_text} confidence band")));
        }
        if let Some(s) = bars {
            error_bars(&mut svg, &panel, x, &observed, s);
            entries.push(("bar", "#1f77b4", "±σ".to_owned()));
        }
        // σ of x (--sigma-x), on the fit's own scale of x.
        if let Some(sx) = data.sigma_x_values(&model.vars()[0]).filter(|_| !large) {
            x_error_bars(&mut svg, &panel, x, &observed, sx);
            entries.push(("line", "#1f77b4", "±σ_x".to_owned()));
        }
        points.draw(&mut svg, "data", "#1f77b4", 2.5, &panel);
        curve(&mut svg, "fit", "#d62728", &panel, dense_x.iter().copied().zip(dense_y.iter().copied()));
        let mut occupied = points.occupied(&panel);
        occupied.extend(dense_x.iter().zip(&dense_y).map(|(x, y)| (panel.px(*x), panel.py(*y))));
        legend(&mut svg, &panel, &entries, &occupied);
        residuals
    } else {
        let y_extent = Extent::of(&observed);
        let log_y = log_scale(options.log_y, y_extent, "y", &columns.y, &mut notes)?;
        // Observed against fitted, with the identity line: the fitted values' range first
        // (its extremes as a scatter's, a pass of its own).
        let (lo, hi) = gather(
            model,
            &vars,
            &fit.values,
            n,
            || (f64::INFINITY, f64::NEG_INFINITY),
            |_, fitted, (lo, hi)| {
                for f in fitted.iter().filter(|f| f.is_finite() && (!log_y || **f > 0.0)) {
                    (*lo, *hi) = (lo.min(*f), hi.max(*f));
                }
            },
            |a, b| (a.0.min(b.0), a.1.max(b.1)),
        )?;
        let range = Axis::of([y_extent.lo, y_extent.hi, lo, hi].into_iter(), log_y);
        let (points, residuals) = points_and_residuals(range)?;
        let panel = Panel { left: LEFT, right: RIGHT, top, bottom: 410.0, x: range, y: range, id: "main".into() };
        panel.axes(&mut svg, &format!("fitted {}", columns.y), &format!("observed {}", columns.y));
        curve(&mut svg, "fit", "#d62728", &panel, [(range.lo, range.lo), (range.hi, range.hi)].into_iter());
        points.draw(&mut svg, "data", "#1f77b4", 2.5, &panel);
        let entries = [("point", "#1f77b4", data_entry), ("line", "#d62728", "observed = fitted".into())];
        legend(&mut svg, &panel, &entries, &points.occupied(&panel));
        residuals
    };
    // Residuals, on a linear axis symmetric about 0.
    let r = residuals.extent();
    let rmax = (-r.lo).max(r.hi).max(f64::MIN_POSITIVE);
    let panel = Panel {
        left: LEFT,
        right: RIGHT,
        top: 470.0,
        bottom: 610.0,
        x: residual_x,
        y: Axis { lo: -1.1 * rmax, hi: 1.1 * rmax, log: false },
        id: "residual-panel".into(),
    };
    // With σ of x the fit weighs each point by its effective σ; the plot divides by σ of y only.
    let with_sigma_x = model.vars().iter().any(|v| data.sigma_x_values(v).is_some());
    let residual_label = match (sigma.is_some(), with_sigma_x) {
        (true, true) => "(fitted − y)/σ_y",
        (true, false) => "(fitted − y)/σ",
        (false, _) => "fitted − y",
    };
    panel.axes(&mut svg, &x_label, residual_label);
    let _ = writeln!(
        svg,
        r##"<line x1="{}" x2="{}" y1="{:.1}" y2="{:.1}" stroke="#888"/>"##,
        panel.left,
        panel.right,
        panel.py(0.0),
        panel.py(0.0)
    );
    residuals.draw(&mut svg, "residuals", "#2ca02c", 2.0, &panel);
    draw_uncertainty(&mut svg, fit, uncertainty, WIDTH, base);
    let _ = writeln!(svg, "</svg>");
    Ok((svg, notes))
}

/// The plot options a model's figure cannot honour, refused — before the fit, too: `--log-x`
/// for several variables or with x ≤ 0, `--log-y` with y ≤ 0 (`response`: y as the plot shows
/// it, `None` where only the fit knows it, for a transformed response).
pub fn check_options(
    options: &PlotOptions,
    columns: &Columns,
    variables: &[&[f64]],
    response: Option<&[f64]>,
) -> anyhow::Result<()> {
    check_variables(options, variables.len())?;
    let mut notes = Vec::new();
    // (Only what a flag asks for: each extent is a pass over a column.)
    if let ([x], Some(true)) = (variables, options.log_x) {
        log_scale(Some(true), Extent::of(x), "x", &columns.vars[0].1, &mut notes)?;
    }
    if let (Some(y), Some(true)) = (response, options.log_y) {
        log_scale(Some(true), Extent::of(y), "y", &columns.y, &mut notes)?;
    }
    Ok(())
}

/// `--log-x` for a model of several variables, refused: its figure has no x axis.
fn check_variables(options: &PlotOptions, variables: usize) -> anyhow::Result<()> {
    if variables > 1 && options.log_x == Some(true) {
        anyhow::bail!("--log-x: a model of several variables is plotted against the fitted values, not one x");
    }
    Ok(())
}

/// Whether an axis is logarithmic: as `flag` says (refused with values ≤ 0), or by default
/// when positive values span three decades — said in `notes`.
fn log_scale(
    flag: Option<bool>,
    extent: Extent,
    axis: &str,
    name: &str,
    notes: &mut Vec<String>,
) -> anyhow::Result<bool> {
    match flag {
        Some(true) if extent.lo <= 0.0 => {
            anyhow::bail!("--log-{axis}: `{name}` has values ≤ 0, which a log axis cannot show")
        }
        Some(log) => Ok(log),
        None if extent.spans_decades() => {
            notes.push(format!(
                "--plot: `{name}` spans three decades or more: drawn on a log {axis} axis (--log-{axis}=false draws it linear)"
            ));
            Ok(true)
        }
        None => Ok(false),
    }
}

/// Past this many points the grid test (a sort of each variable) is not tried.
const MAX_GRID_POINTS: usize = 1_000_000;

/// Past this many cells along an axis a heat map shows block averages.
const MAX_MAP_CELLS: usize = 150;

/// A grid: the distinct x and y values (ascending) and each point's cell (row-major, y the
/// row), when the points are every (x, y) pair exactly once.
fn grid(x: &[f64], y: &[f64]) -> Option<(Vec<f64>, Vec<f64>, Vec<usize>)> {
    if x.len() > MAX_GRID_POINTS || x.iter().chain(y).any(|v| !v.is_finite()) {
        return None;
    }
    let distinct = |v: &[f64]| {
        let mut d = v.to_vec();
        d.sort_by(f64::total_cmp);
        d.dedup();
        d
    };
    let (xs, ys) = (distinct(x), distinct(y));
    if xs.len() < 2 || ys.len() < 2 || xs.len() * ys.len() != x.len() {
        return None;
    }
    let mut seen = vec![false; x.len()];
    let mut cells = Vec::with_capacity(x.len());
    for (a, b) in x.iter().zip(y) {
        let i = xs.binary_search_by(|v| v.total_cmp(a)).ok()?;
        let j = ys.binary_search_by(|v| v.total_cmp(b)).ok()?;
        let cell = j * xs.len() + i;
        if std::mem::replace(&mut seen[cell], true) {
            return None;
        }
        cells.push(cell);
    }
    Some((xs, ys, cells))
}

/// Cell edges around grid values: midpoints, the ends half a spacing out.
fn edges(values: &[f64]) -> Vec<f64> {
    let n = values.len();
    let mut e = Vec::with_capacity(n + 1);
    e.push(values[0] - (values[1] - values[0]) / 2.0);
    e.extend(values.windows(2).map(|w| (w[0] + w[1]) / 2.0));
    e.push(values[n - 1] + (values[n - 1] - values[n - 2]) / 2.0);
    e
}

/// Viridis, by nine stops.
fn viridis(t: f64) -> (u8, u8, u8) {
    const STOPS: [(f64, f64, f64); 9] = [
        (68.0, 1.0, 84.0),
        (71.0, 44.0, 122.0),
        (59.0, 81.0, 139.0),
        (44.0, 113.0, 142.0),
        (33.0, 144.0, 141.0),
        (39.0, 173.0, 129.0),
        (92.0, 200.0, 99.0),
        (170.0, 220.0, 50.0),
        (253.0, 231.0, 37.0),
    ];
    interpolate(&STOPS, t)
}

/// Blue through white to red, for residuals about 0 (t = 0.5).
fn diverging(t: f64) -> (u8, u8, u8) {
    const STOPS: [(f64, f64, f64); 3] = [(59.0, 76.0, 192.0), (247.0, 247.0, 247.0), (180.0, 4.0, 38.0)];
    interpolate(&STOPS, t)
}

fn interpolate(stops: &[(f64, f64, f64)], t: f64) -> (u8, u8, u8) {
    let at = t.clamp(0.0, 1.0) * (stops.len() - 1) as f64;
    let k = (at.floor() as usize).min(stops.len() - 2);
    let f = at - k as f64;
    let mix = |a: f64, b: f64| (a + (b - a) * f).round() as u8;
    let (a, b) = (stops[k], stops[k + 1]);
    (mix(a.0, b.0), mix(a.1, b.1), mix(a.2, b.2))
}

/// A colour map: 0…1 to RGB.
type ColorMap = fn(f64) -> (u8, u8, u8);

/// Colour levels of a heat map.
const LEVELS: usize = 64;

/// A heat map of `values` (ny × nx, row-major) over cell edges, colours from `lo` to `hi`:
/// one path per colour level; and its colour bar at the right with ticks.
#[allow(clippy::too_many_arguments)]
fn heat_map(
    svg: &mut String,
    panel: &Panel,
    (x_edges, y_edges): (&[f64], &[f64]),
    values: &[f64],
    (lo, hi): (f64, f64),
    colors: ColorMap,
    class: &str,
) {
    let nx = x_edges.len() - 1;
    let mut paths = vec![String::new(); LEVELS];
    let span = if hi > lo { hi - lo } else { 1.0 };
    for (cell, v) in values.iter().enumerate() {
        if !v.is_finite() {
            continue;
        }
        let level = (((v - lo) / span * (LEVELS - 1) as f64).round().max(0.0) as usize).min(LEVELS - 1);
        let (i, j) = (cell % nx, cell / nx);
        let (x0, x1) = (panel.px(x_edges[i]), panel.px(x_edges[i + 1]));
        let (y0, y1) = (panel.py(y_edges[j]), panel.py(y_edges[j + 1]));
        let _ = write!(paths[level], "M{x0:.1} {y1:.1}H{x1:.1}V{y0:.1}H{x0:.1}Z");
    }
    let _ = writeln!(svg, r#"<g class="{class}">"#);
    for (level, path) in paths.iter().enumerate().filter(|(_, p)| !p.is_empty()) {
        let (r, g, b) = colors(level as f64 / (LEVELS - 1) as f64);
        // Edges drawn in the fill colour too: no hairline gaps between cells.
        let _ =
            writeln!(svg, r#"<path fill="rgb({r},{g},{b})" stroke="rgb({r},{g},{b})" stroke-width="0.4" d="{path}"/>"#);
    }
    let _ = writeln!(svg, "</g>");
    // The colour bar.
    let (left, width) = (panel.right + 8.0, 10.0);
    let step = (panel.bottom - panel.top) / LEVELS as f64;
    for level in 0..LEVELS {
        let (r, g, b) = colors(level as f64 / (LEVELS - 1) as f64);
        let y = panel.bottom - step * (level + 1) as f64;
        let _ = writeln!(
            svg,
            r#"<rect x="{left:.1}" y="{y:.2}" width="{width}" height="{:.2}" fill="rgb({r},{g},{b})"/>"#,
            step + 0.3
        );
    }
    let bar = Axis { lo, hi: if hi > lo { hi } else { lo + lo.abs().max(1.0) }, log: false };
    for (v, label) in bar.ticks(4).0 {
        let y = panel.bottom - bar.frac(v) * (panel.bottom - panel.top);
        let _ = writeln!(
            svg,
            r##"<path d="M{:.1} {y:.1}h3" stroke="#444"/><text x="{:.1}" y="{:.1}" font-size="10">{label}</text>"##,
            left + width,
            left + width + 5.0,
            y + 3.5
        );
    }
}

/// Averages of `values` (ny × nx) over blocks of `bx × by` cells (NaN cells left out).
fn blocks(values: &[f64], nx: usize, ny: usize, bx: usize, by: usize) -> Vec<f64> {
    let (mx, my) = (nx.div_ceil(bx), ny.div_ceil(by));
    let mut sums = vec![(0.0, 0usize); mx * my];
    for (cell, v) in values.iter().enumerate() {
        if v.is_finite() {
            let (i, j) = (cell % nx / bx, cell / nx / by);
            sums[j * mx + i].0 += v;
            sums[j * mx + i].1 += 1;
        }
    }
    sums.iter().map(|(s, n)| if *n > 0 { s / *n as f64 } else { f64::NAN }).collect()
}

/// Data on a grid of two variables: heat maps of the observed response, the fitted one (one
/// colour scale) and the residuals (a diverging scale about 0), each with its colour bar.
#[allow(clippy::too_many_arguments)]
fn render_maps(
    model: &CompiledModel,
    fit: &Fit,
    columns: &Columns,
    vars: &[&[f64]],
    observed: &[f64],
    sigma: Option<&[f64]>,
    (xs, ys, cells): (Vec<f64>, Vec<f64>, Vec<usize>),
    mut notes: Vec<String>,
    uncertainty: Uncertainty<'_>,
) -> anyhow::Result<(String, Vec<String>)> {
    let n = observed.len();
    let mut fitted = vec![0.0; n];
    model.kernels().predict(vars, &fit.values, &mut fitted)?;
    let (nx, ny) = (xs.len(), ys.len());
    let on_grid = |f: &dyn Fn(usize) -> f64| {
        let mut grid = vec![f64::NAN; nx * ny];
        for (i, cell) in cells.iter().enumerate() {
            grid[*cell] = f(i);
        }
        grid
    };
    let mut maps = [
        on_grid(&|i| observed[i]),
        on_grid(&|i| fitted[i]),
        on_grid(&|i| (fitted[i] - observed[i]) / sigma.map_or(1.0, |s| s[i])),
    ];
    let (mut x_edges, mut y_edges) = (edges(&xs), edges(&ys));
    let (bx, by) = (nx.div_ceil(MAX_MAP_CELLS), ny.div_ceil(MAX_MAP_CELLS));
    if bx > 1 || by > 1 {
        for map in &mut maps {
            *map = blocks(map, nx, ny, bx, by);
        }
        // Every bx-th edge, and the last where the blocks do not end on it.
        let thin = |e: &[f64], b: usize, n: usize| -> Vec<f64> {
            e.iter().step_by(b).copied().chain((!n.is_multiple_of(b)).then(|| e[n])).collect()
        };
        (x_edges, y_edges) = (thin(&x_edges, bx, nx), thin(&y_edges, by, ny));
        notes.push(format!("--plot: a {nx} × {ny} grid drawn as the averages of {bx} × {by} blocks"));
    }
    let extent = |v: &[f64]| {
        v.iter().filter(|v| v.is_finite()).fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), v| (a.min(*v), b.max(*v)))
    };
    let (o, f) = (extent(&maps[0]), extent(&maps[1]));
    let shared_scale = (o.0.min(f.0), o.1.max(f.1));
    let r = maps[2].iter().filter(|v| v.is_finite()).fold(0.0f64, |m, v| m.max(v.abs())).max(f64::MIN_POSITIVE);

    let (width, height) = (900.0, 360.0);
    let mut svg = open_svg(width, height + uncertainty_height(uncertainty));
    let title = model.source().trim().replace('\n', " ");
    write_title(&mut svg, 450.0, &title, 110);
    let top = 80.0 + 14.0 * (parameter_lines(&mut svg, fit, 450.0) - 1) as f64;
    let y_name = &columns.y;
    let residual = if sigma.is_some() { format!("(fitted − {y_name})/σ") } else { format!("fitted − {y_name}") };
    let titles = [format!("observed {y_name}"), format!("fitted {y_name}"), residual];
    let x_axis = Axis { lo: x_edges[0], hi: *x_edges.last().expect("two edges"), log: false };
    let y_axis = Axis { lo: y_edges[0], hi: *y_edges.last().expect("two edges"), log: false };
    for (k, map) in maps.iter().enumerate() {
        let left = 60.0 + 300.0 * k as f64;
        let panel = Panel {
            left,
            right: left + 185.0,
            top,
            bottom: top + 185.0,
            x: x_axis,
            y: y_axis,
            id: format!("map-{}", k + 1),
        };
        let _ = writeln!(
            svg,
            r#"<text x="{:.1}" y="{:.1}" font-size="12" text-anchor="middle">{}</text>"#,
            (panel.left + panel.right) / 2.0,
            top - 8.0,
            escape(&titles[k])
        );
        panel.axes(&mut svg, &columns.vars[0].1, if k == 0 { &columns.vars[1].1 } else { "" });
        let (scale, colors): ((f64, f64), ColorMap) =
            if k < 2 { (shared_scale, viridis) } else { ((-r, r), diverging) };
        heat_map(&mut svg, &panel, (&x_edges, &y_edges), map, scale, colors, ["observed", "fitted", "residuals"][k]);
    }
    draw_uncertainty(&mut svg, fit, uncertainty, width, height);
    let _ = writeln!(svg, "</svg>");
    Ok((svg, notes))
}

/// A figure of equal panels, three to a row under a title and a line of text.
struct PanelGrid {
    per_row: usize,
    cell_w: f64,
    cell_h: f64,
}

/// Above the first row of panels: the title and the line under it.
const PANEL_HEAD: f64 = 60.0;

impl PanelGrid {
    /// Panel `k`'s column, row, cell size and the height above the first row.
    fn cell(&self, k: usize) -> (f64, f64, f64, f64, f64) {
        ((k % self.per_row) as f64, (k / self.per_row) as f64, self.cell_w, self.cell_h, PANEL_HEAD)
    }
}

/// The opening of a 900-wide figure of `panels` panels of height `cell_h`, its title and the
/// line under it.
fn panel_figure(panels: usize, cell_h: f64, title: &str, line: &str) -> (String, PanelGrid) {
    let per_row = panels.clamp(1, 3);
    let width = 900.0;
    let mut svg = open_svg(width, PANEL_HEAD + cell_h * panels.div_ceil(per_row) as f64);
    write_title(&mut svg, width / 2.0, title, 110);
    let _ = writeln!(
        svg,
        r##"<text class="parameters" x="{:.1}" y="38" font-size="11" text-anchor="middle" fill="#333">{}</text>"##,
        width / 2.0,
        escape(&fitted_to(line, 140))
    );
    (svg, PanelGrid { per_row, cell_w: width / per_row as f64, cell_h })
}

/// A batch's summary figure: a histogram of each parameter's values and of χ²/dof over the
/// converged fits, three to a row, each titled with its median and the number drawn.
pub fn render_histograms(title: &str, names: &[String], columns: &[Vec<f64>], fits: usize, converged: usize) -> String {
    let subtitle = format!("{fits} fits, {converged} converged: the histograms are of the converged fits");
    let (mut svg, grid) = panel_figure(names.len(), 240.0, title, &subtitle);
    for (k, (name, values)) in names.iter().zip(columns).enumerate() {
        let (col, row, cell_w, cell_h, head) = grid.cell(k);
        let mut finite: Vec<f64> = values.iter().copied().filter(|v| v.is_finite()).collect();
        finite.sort_by(f64::total_cmp);
        let extent = Extent::of(&finite);
        let bins = ((finite.len() as f64).sqrt().ceil() as usize).clamp(5, 50);
        let half = 0.5 * extent.lo.abs().max(1.0);
        let (lo, hi) =
            if extent.hi > extent.lo { (extent.lo, extent.hi) } else { (extent.lo - half, extent.lo + half) };
        let mut counts = vec![0usize; bins];
        for v in &finite {
            counts[(((v - lo) / (hi - lo) * bins as f64) as usize).min(bins - 1)] += 1;
        }
        let most = counts.iter().copied().max().unwrap_or(0).max(1) as f64;
        let panel = Panel {
            left: cell_w * col + 60.0,
            right: cell_w * (col + 1.0) - 20.0,
            top: head + cell_h * row + 22.0,
            bottom: head + cell_h * row + 175.0,
            x: Axis::of([lo, hi].into_iter(), false),
            y: Axis { lo: 0.0, hi: most * 1.1, log: false },
            id: format!("histogram-{}", k + 1),
        };
        let median = if finite.is_empty() { f64::NAN } else { finite[finite.len() / 2] };
        let label = format!("{name}: median {}, {} drawn", three_digits(median), finite.len());
        let _ = writeln!(
            svg,
            r#"<text class="histogram" x="{:.1}" y="{:.1}" font-size="12" text-anchor="middle">{}</text>"#,
            (panel.left + panel.right) / 2.0,
            panel.top - 7.0,
            escape(&fitted_to(&label, ((panel.right - panel.left) / 6.0) as usize))
        );
        panel.axes(&mut svg, name, if col == 0.0 { "fits" } else { "" });
        let mut bars = String::new();
        for (b, count) in counts.iter().enumerate().filter(|(_, c)| **c > 0) {
            let (x0, x1) = (lo + (hi - lo) * b as f64 / bins as f64, lo + (hi - lo) * (b + 1) as f64 / bins as f64);
            let _ = write!(
                bars,
                "M{:.1} {:.1}H{:.1}V{:.1}H{:.1}Z",
                panel.px(x0),
                panel.bottom,
                panel.px(x1),
                panel.py(*count as f64),
                panel.px(x0)
            );
        }
        let _ = writeln!(
            svg,
            r##"<path class="bars" fill="#1f77b4" fill-opacity="0.8" stroke="white" stroke-width="0.5" d="{bars}"/>"##
        );
    }
    let _ = writeln!(svg, "</svg>");
    svg
}

/// Writes a batch's summary figure (see [`render_histograms`]).
pub fn write_histograms(
    path: &Path,
    title: &str,
    names: &[String],
    columns: &[Vec<f64>],
    fits: usize,
    converged: usize,
) -> anyhow::Result<()> {
    write_figure(path, &render_histograms(title, names, columns, fits, converged))
}

/// One data set of a global fit, as its panel draws it.
pub struct SetPlot<'a> {
    pub model: &'a CompiledModel,
    pub data: &'a Data,
    pub values: &'a [f64],
    /// Its number, id (or file name) and χ².
    pub label: String,
}

/// At most this many sets are drawn (a panel each); the report has them all.
pub const MAX_SET_PANELS: usize = 12;

/// A global fit's plot: a panel per data set (its data with σ error bars, its curve over its
/// data's range, its own axes; the x scale chosen over every set's x), three to a row, the
/// shared parameters under the title.
pub fn render_sets(
    sets: &[SetPlot<'_>],
    title: &str,
    shared: &str,
    columns: &Columns,
    options: &PlotOptions,
) -> anyhow::Result<(String, Vec<String>)> {
    let mut notes = Vec::new();
    if sets.iter().any(|s| s.model.vars().len() != 1) {
        anyhow::bail!("--plot with --sets draws models of one variable (each set's data and curve)");
    }
    if sets.iter().any(|s| s.model.transforms_response()) {
        anyhow::bail!("--plot with --sets: a transformed response (`log(y) = …`) is not drawn per set yet");
    }
    if options.log_y == Some(true) && sets.iter().any(|s| s.data.response().iter().any(|v| v.is_finite() && *v <= 0.0))
    {
        anyhow::bail!("--log-y: `{}` has values ≤ 0, which a log axis cannot show", columns.y);
    }
    let x_name = columns.vars[0].1.clone();
    let all_x: Vec<f64> =
        sets.iter().flat_map(|s| s.data.column(&s.model.vars()[0]).unwrap_or(&[]).iter().copied()).collect();
    let log_x = log_scale(options.log_x, Extent::of(&all_x), "x", &x_name, &mut notes)?;
    let log_y = options.log_y == Some(true);
    let drawn = &sets[..sets.len().min(MAX_SET_PANELS)];
    if drawn.len() < sets.len() {
        notes.push(format!(
            "--plot: the first {MAX_SET_PANELS} of {} data sets drawn (the report has them all)",
            sets.len()
        ));
    }
    let (mut svg, grid) = panel_figure(drawn.len(), 250.0, title, shared);
    for (k, set) in drawn.iter().enumerate() {
        let (col, row, cell_w, cell_h, head) = grid.cell(k);
        let x = set.data.column(&set.model.vars()[0]).unwrap_or(&[]);
        let x_extent = Extent::of(x);
        let y = set.data.response();
        let sigma = set.data.sigma_values().filter(|_| !set.model.transforms_response() && x.len() <= MAX_DRAWN_POINTS);
        let y_axis = match sigma {
            Some(s) => Axis::of(y.iter().zip(s).flat_map(|(y, s)| [y - s, *y, y + s]), log_y),
            None => Axis::of(y.iter().copied(), log_y),
        };
        let panel = Panel {
            left: cell_w * col + 70.0,
            right: cell_w * (col + 1.0) - 15.0,
            top: head + cell_h * row + 22.0,
            bottom: head + cell_h * row + 185.0,
            x: x_extent.axis(log_x),
            y: y_axis,
            id: format!("set-{}", k + 1),
        };
        let _ = writeln!(
            svg,
            r#"<text class="set" x="{:.1}" y="{:.1}" font-size="12" text-anchor="middle">{}</text>"#,
            (panel.left + panel.right) / 2.0,
            panel.top - 7.0,
            escape(&fitted_to(&set.label, ((panel.right - panel.left) / 6.0) as usize))
        );
        panel.axes(&mut svg, &x_name, if col == 0.0 { &columns.y } else { "" });
        if let Some(s) = sigma {
            error_bars(&mut svg, &panel, x, y, s);
        }
        let mut points = Scatter::new(x.len(), panel.x, panel.right - panel.left);
        points.add(x, y);
        points.draw(&mut svg, "data", "#1f77b4", 2.0, &panel);
        let dense_x = dense(x_extent, log_x);
        let mut dense_y = vec![0.0; dense_x.len()];
        set.model.kernels().predict(&[&dense_x], set.values, &mut dense_y)?;
        curve(&mut svg, "fit", "#d62728", &panel, dense_x.iter().copied().zip(dense_y.iter().copied()));
    }
    let _ = writeln!(svg, "</svg>");
    Ok((svg, notes))
}

/// 401 points over `extent` (evenly on a log scale for a log axis, whose extent is positive),
/// for a curve.
fn dense(extent: Extent, log: bool) -> Vec<f64> {
    let Extent { lo, hi } = extent;
    if !lo.is_finite() || (log && lo <= 0.0) {
        return Vec::new();
    }
    (0..=400)
        .map(|i| {
            let f = i as f64 / 400.0;
            if log { 10f64.powf(lo.log10() + (hi.log10() - lo.log10()) * f) } else { lo + (hi - lo) * f }
        })
        .collect()
}

/// Writes a global fit's plot (see [`render_sets`]); returns its notes.
pub fn write_sets_plot(
    path: &Path,
    sets: &[SetPlot<'_>],
    title: &str,
    shared: &str,
    columns: &Columns,
    options: &PlotOptions,
) -> anyhow::Result<Vec<String>> {
    check_extension(path)?;
    let (svg, notes) = render_sets(sets, title, shared, columns, options)?;
    write_figure(path, &svg)?;
    Ok(notes)
}

/// The parameters, value ± error, on up to three lines under the title (past them, the
/// report has the rest); returns the number of lines.
fn parameter_lines(svg: &mut String, fit: &Fit, center: f64) -> usize {
    let params: Vec<String> = fit
        .param_names
        .iter()
        .zip(fit.values.iter().zip(&fit.std_errors))
        .map(|(n, (v, e))| format!("{n} = {}", value_with_error(*v, *e)))
        .collect();
    let mut lines: Vec<String> = vec![String::new()];
    for (k, p) in params.iter().enumerate() {
        let line = lines.last_mut().expect("one line");
        if line.is_empty() || line.chars().count() + p.chars().count() + 3 <= 125 {
            if !line.is_empty() {
                line.push_str(" · ");
            }
            line.push_str(p);
        } else if lines.len() < 3 {
            lines.push(p.clone());
        } else {
            let rest = format!(" · … ({} more in the report)", params.len() - k);
            let line = lines.last_mut().expect("one line");
            *line = fitted_to(line, 125 - rest.chars().count()) + &rest;
            break;
        }
    }
    for (k, line) in lines.iter().enumerate() {
        let _ = writeln!(
            svg,
            r##"<text class="parameters" x="{center:.1}" y="{}" font-size="11" text-anchor="middle" fill="#333">{}</text>"##,
            38 + 14 * k,
            escape(&fitted_to(line, 125))
        );
    }
    lines.len()
}

/// The observed response on the fitted scale: the data's, or t(y) for a transformed response.
fn observed<'d>(model: &CompiledModel, vars: &[&[f64]], data: &'d Data, fit: &Fit) -> std::borrow::Cow<'d, [f64]> {
    if model.transforms_response() {
        let at_fit = jitfit::ir::Interpreter::new(model.kernel()).eval_batch(vars, Some(data.response()), &fit.values);
        if let Some(t) = at_fit.response {
            return std::borrow::Cow::Owned(t);
        }
    }
    std::borrow::Cow::Borrowed(data.response())
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
    Ok((fitted, observed(model, vars, data, fit).into_owned()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn labels(lo: f64, hi: f64) -> Vec<String> {
        linear_ticks(lo, hi, 6).0.into_iter().map(|(_, l)| l).collect()
    }

    #[test]
    fn linear_ticks_are_1_2_5_steps_with_the_decimals_they_need() {
        assert_eq!(labels(0.0, 10.0), ["0", "2", "4", "6", "8", "10"]);
        assert_eq!(labels(-0.495, 4.955), ["0", "1", "2", "3", "4"]);
        assert_eq!(labels(-32.8, 1676.1), ["0", "500", "1000", "1500"]);
        assert_eq!(labels(0.08, 0.31), ["0.10", "0.15", "0.20", "0.25", "0.30"]);
        assert_eq!(labels(-1.1, 1.1), ["-1.0", "-0.5", "0.0", "0.5", "1.0"]);
        assert_eq!(labels(0.1, 0.7), ["0.1", "0.2", "0.3", "0.4", "0.5", "0.6", "0.7"]);
        // Huge and tiny: one notation (the largest tick's power of ten), decimals from the step.
        assert_eq!(labels(0.0, 2.6e6), ["0", "0.5e6", "1.0e6", "1.5e6", "2.0e6", "2.5e6"]);
        assert_eq!(labels(1e-6, 5.5e-6), ["1e-6", "2e-6", "3e-6", "4e-6", "5e-6"]);
        assert_eq!(labels(-3e-5, 3e-5), ["-3e-5", "-2e-5", "-1e-5", "0", "1e-5", "2e-5", "3e-5"]);
        // Far from zero: labels that differ.
        assert_eq!(labels(1000.001, 1000.009), ["1000.002", "1000.004", "1000.006", "1000.008"]);
        // Degenerate: one tick.
        assert_eq!(labels(3.0, 3.0), ["3"]);
        // Minor ticks between majors, none on them.
        let (major, minor) = linear_ticks(0.0, 10.0, 6);
        assert_eq!(major.len(), 6);
        assert_eq!(minor.len(), 15);
        assert!(minor.iter().all(|m| major.iter().all(|(v, _)| v != m)));
    }

    #[test]
    fn log_ticks_are_decades() {
        let (major, minor) = log_ticks(0.5, 2e4);
        let labels: Vec<&str> = major.iter().map(|(_, l)| l.as_str()).collect();
        assert_eq!(labels, ["1", "10", "100", "1000", "10000"]);
        // 0.5…0.9, 2…9 in four decades, 20000.
        assert_eq!(minor.len(), 5 + 4 * 8 + 1);
        let (major, _) = log_ticks(1e-9, 1e-5);
        assert_eq!(major.iter().map(|(_, l)| l.as_str()).collect::<Vec<_>>(), ["1e-9", "1e-8", "1e-7", "1e-6", "1e-5"]);
        // Less than two decades: 2 and 5 too.
        let (major, _) = log_ticks(0.15, 8.0);
        assert_eq!(major.iter().map(|(_, l)| l.as_str()).collect::<Vec<_>>(), ["0.2", "0.5", "1", "2", "5"]);
    }

    #[test]
    fn values_carry_the_digits_their_errors_support() {
        assert_eq!(value_with_error(2.988956511857536, 0.015918910474293235), "2.989 ± 0.016");
        assert_eq!(value_with_error(0.6960880366973471, 0.0069508171079017194), "0.6961 ± 0.0070");
        assert_eq!(value_with_error(238.94, 2.7), "238.9 ± 2.7");
        assert_eq!(value_with_error(12345.6, 250.0), "12346 ± 250");
        assert_eq!(value_with_error(1.234e-7, 5.1e-9), "(1.234 ± 0.051)e-7");
        assert_eq!(value_with_error(3.0, 0.0), "3 (fixed)");
        assert_eq!(value_with_error(3.0, f64::INFINITY), "3 (undetermined)");
        assert_eq!(value_with_error(3.0, f64::NAN), "3 (undetermined)");
        assert_eq!(
            [0.0048212, 12.345, 4.8212e-7, 123456.0].map(three_digits),
            ["0.00482", "12.3", "4.82e-7", "1.23e5"]
        );
    }

    /// Past 10^4 points each pixel column keeps exactly the least and greatest y of its points
    /// (every local extreme a screen could show), however the points are split into chunks.
    #[test]
    fn decimation_keeps_every_columns_extremes() {
        let axis = Axis { lo: 0.0, hi: 1.0, log: false };
        let mut state = 12345u64;
        let mut next = || {
            state = state.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
            (state >> 11) as f64 / (1u64 << 53) as f64
        };
        let mut x: Vec<f64> = (0..50_000).map(|_| next()).collect();
        let mut y: Vec<f64> = (0..50_000).map(|_| next() * 10.0 - 5.0).collect();
        // Some points not drawn: a y that is not finite, an x off the axis's ends (drawn in
        // the first or last column).
        (y[7], y[70], x[700], x[7000]) = (f64::NAN, f64::INFINITY, -3.0, 9.0);
        let width = 690.0;
        let gather = |x: &[f64], y: &[f64]| {
            let mut s = Scatter::new(50_000, axis, width);
            s.add(x, y);
            s
        };
        let columns = width as usize + 1;
        let expected = |x: &[f64], y: &[f64]| {
            let mut expected = vec![(f64::INFINITY, f64::NEG_INFINITY); columns];
            for (x, y) in x.iter().zip(y).filter(|(_, y)| y.is_finite()) {
                let c = ((x * width).round().max(0.0) as usize).min(columns - 1);
                expected[c] = (expected[c].0.min(*y), expected[c].1.max(*y));
            }
            expected
        };
        // Unsorted (point by point), then sorted by x (a column's run at a time).
        for sorted in [false, true] {
            if sorted {
                let mut points: Vec<(f64, f64)> = x.iter().copied().zip(y.iter().copied()).collect();
                points.sort_by(|a, b| a.0.total_cmp(&b.0));
                (x, y) = points.into_iter().unzip();
            }
            let whole = gather(&x, &y);
            let split = gather(&x[..17_000], &y[..17_000]).merge(gather(&x[17_000..], &y[17_000..]));
            let (Scatter::Many { lo, hi, .. }, Scatter::Many { lo: lo2, hi: hi2, .. }) = (&whole, &split) else {
                panic!("many points are spans")
            };
            assert_eq!((lo, hi), (lo2, hi2));
            let expected = expected(&x, &y);
            for c in 0..columns {
                assert_eq!((lo[c], hi[c]), expected[c], "column {c}, sorted {sorted}");
            }
            let extent = whole.extent();
            assert_eq!((extent.lo, extent.hi), Extent::chunk(&y), "sorted {sorted}");
        }
        // x not finite: not drawn (NaN breaks the order, ±∞ at the ends does not).
        let mut x_bad = x.clone();
        (x_bad[0], x_bad[49_999]) = (f64::NEG_INFINITY, f64::INFINITY);
        for (what, xs) in [
            ("±inf at the ends", x_bad.clone()),
            ("NaN inside", {
                x_bad[25_000] = f64::NAN;
                x_bad
            }),
        ] {
            let Scatter::Many { lo, hi, .. } = gather(&xs, &y) else { panic!("many points are spans") };
            let kept: Vec<(f64, f64)> =
                xs.iter().zip(&y).filter(|(x, _)| x.is_finite()).map(|(x, y)| (*x, *y)).collect();
            let (kx, ky): (Vec<f64>, Vec<f64>) = kept.into_iter().unzip();
            let expected = expected(&kx, &ky);
            assert!((0..columns).all(|c| (lo[c], hi[c]) == expected[c]), "{what}");
        }
        // A log axis: the column of log10(x), point by point.
        let log_axis = Axis { lo: 1.0, hi: 1e3, log: true };
        let lx: Vec<f64> = x.iter().map(|x| 10f64.powf(3.0 * x)).collect();
        let mut s = Scatter::new(50_000, log_axis, width);
        s.add(&lx, &y);
        let Scatter::Many { lo, hi, .. } = s else { panic!("many points are spans") };
        let scale = width / (log_axis.t(1e3) - log_axis.t(1.0));
        let mut expected = vec![(f64::INFINITY, f64::NEG_INFINITY); columns];
        for (x, y) in lx.iter().zip(&y).filter(|(_, y)| y.is_finite()) {
            let c = (((x.log10() - log_axis.t(1.0)) * scale + 0.5) as usize).min(columns - 1);
            expected[c] = (expected[c].0.min(*y), expected[c].1.max(*y));
        }
        assert!((0..columns).all(|c| (lo[c], hi[c]) == expected[c]));
    }

    #[test]
    fn grids_are_every_pair_once() {
        let (x, y): (Vec<f64>, Vec<f64>) = (0..12).map(|k| ((k % 4) as f64, (k / 4) as f64 * 0.5)).unzip();
        let (xs, ys, cells) = grid(&x, &y).unwrap();
        assert_eq!((xs, ys), (vec![0.0, 1.0, 2.0, 3.0], vec![0.0, 0.5, 1.0]));
        assert_eq!(cells, (0..12).collect::<Vec<_>>());
        // Shuffled rows: the same cells, found.
        let (xr, yr): (Vec<f64>, Vec<f64>) = x.iter().zip(&y).rev().map(|(a, b)| (*a, *b)).unzip();
        assert_eq!(grid(&xr, &yr).unwrap().2, (0..12).rev().collect::<Vec<_>>());
        // A pair twice (and one missing), a single row, scattered points: no grid.
        let mut twice = x.clone();
        twice[1] = 0.0;
        assert!(grid(&twice, &y).is_none());
        assert!(grid(&[0.0, 1.0, 2.0], &[5.0, 5.0, 5.0]).is_none());
        assert!(grid(&[0.0, 1.0, 2.0, 3.0], &[0.0, 1.0, 2.0, 3.0]).is_none());
        assert_eq!(edges(&[1.0, 2.0, 4.0]), [0.5, 1.5, 3.0, 5.0]);
        // Block averages leave NaN cells out.
        assert_eq!(blocks(&[1.0, 3.0, f64::NAN, 5.0, 2.0, 2.0], 3, 2, 2, 2), [2.75, 2.0]);
    }

    #[test]
    fn extents_skip_what_is_not_finite_in_every_lane_and_the_tail() {
        for n in [0, 1, 7, 8, 9, 23, 64, 100] {
            let mut values: Vec<f64> = (0..n).map(|i| ((i * 37 % 101) as f64 - 50.0) * 0.25).collect();
            // Something not finite in every lane (index mod 8) and in the tail (the last).
            let bad = [f64::NAN, f64::INFINITY, f64::NEG_INFINITY];
            for i in (0..n).filter(|i| i % 9 == 0 || *i + 1 == n) {
                values[i] = bad[i % 3];
            }
            let finite = values.iter().copied().filter(|v| v.is_finite());
            let naive = (finite.clone().fold(f64::INFINITY, f64::min), finite.fold(f64::NEG_INFINITY, f64::max));
            assert_eq!(Extent::chunk(&values), naive, "{n} values");
            let of = Extent::of(&values);
            assert_eq!((of.lo, of.hi), naive, "{n} values");
        }
    }

    #[test]
    fn axes_pad_the_data_and_map_log_scales() {
        let a = Axis::of([1.0, 3.0].into_iter(), false);
        assert_eq!((a.lo, a.hi), (0.9, 3.1));
        let l = Axis::of([1.0, 1000.0, -5.0, f64::NAN].into_iter(), true);
        assert!((l.frac(1.0) - 0.05 / 1.1).abs() < 1e-12 && (l.frac(1000.0) - 1.05 / 1.1).abs() < 1e-12);
        let spans = |v: &[f64]| Extent::of(v).spans_decades();
        assert!(spans(&[0.01, 5.0, 10.0, f64::NAN]) && !spans(&[0.0, 10.0, 1e6]) && !spans(&[1.0, 999.0]));
        assert_eq!(fitted_to("abcdef", 4), "abc…");
        // Padding huge or tiny positive values by decades stays finite, and their ticks few.
        let huge = Axis::of([1.0, 1e300].into_iter(), true);
        assert!(huge.hi.is_finite() && huge.lo > 0.0);
        assert!(huge.ticks(6).0.len() <= 12);
        let tiny = Axis::of([1e-310, 1e-300].into_iter(), true);
        assert!(tiny.lo > 0.0 && tiny.ticks(6).0.len() <= 12);
        // A subnormal span: its ends, no endless ticks.
        assert_eq!(linear_ticks(0.0, 5e-324, 6).0.len(), 2);
    }
}
