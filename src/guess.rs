//! Starting values from the data for models built of the library's lineshapes (lmfit's
//! `guess()`): the model's right side is read as a sum of terms, and each term it recognizes
//! gets estimates of its parameters — peaks (`gaussian`, `lorentzian`, `pseudo_voigt`, `voigt`) from the
//! largest maxima of the smoothed data above the baseline (centre at the maximum, width from
//! the half maximum, amplitude from height × width), `exponential` from a log-linear fit,
//! steps (`step_erf`, `step_logistic`, `step_atan`, `hill`) from the levels at the ends and
//! where the data cross a quarter, half and three quarters of the way, `linear` from least
//! squares, a lone parameter as the constant background. Terms it does
//! not recognize are left alone (their parameters keep the caller's starts), and it says so.

use crate::ops::BinaryOp;
use crate::syntax::{AstKind, parse};

/// Guessed starting values, and what was guessed how.
#[derive(Clone, Debug, Default)]
pub struct Guess {
    pub values: Vec<(String, f64)>,
    pub notes: Vec<String>,
}

/// A term of the model's sum that the guesser knows.
enum Term {
    Peak {
        shape: &'static str,
        amplitude: String,
        center: String,
        sigma: String,
        fraction: Option<String>,
        /// A `voigt`'s Lorentzian width `gamma`, a `pearson7`'s exponent `expon`.
        extra: Option<String>,
    },
    Exponential {
        amplitude: String,
        decay: String,
    },
    /// `step_erf`, `step_logistic`, `step_atan` (from 0 to amplitude) and `hill` (from bottom
    /// to top): a rise or fall across the data.
    Step {
        shape: &'static str,
        amplitude: String,
        center: String,
        sigma: String,
    },
    Hill {
        bottom: String,
        top: String,
        ec50: String,
        n: String,
    },
    Linear {
        slope: String,
        intercept: String,
    },
    /// `polynomialN`: c0, c1, … in order.
    Polynomial(Vec<String>),
    Offset(String),
}

/// Guesses for the parameters of `source`, a model of the one variable `var`, from the points
/// (x, y). Nothing is guessed for a model without a library term of `var` in its sum.
pub fn guess(source: &str, var: &str, x: &[f64], y: &[f64]) -> Guess {
    let mut out = Guess::default();
    let Some(terms) = terms(source, var, &mut out.notes) else { return out };
    // Only a model of the library's terms is guessed (a lone offset beside formulas is not).
    if terms.iter().all(|t| matches!(t, Term::Offset(_))) {
        return Guess::default();
    }
    let mut order: Vec<usize> = (0..x.len()).filter(|i| x[*i].is_finite() && y[*i].is_finite()).collect();
    if order.len() < 3 {
        return out;
    }
    order.sort_by(|a, b| x[*a].total_cmp(&x[*b]));
    let xs: Vec<f64> = order.iter().map(|i| x[*i]).collect();
    let ys: Vec<f64> = order.iter().map(|i| y[*i]).collect();
    let n = xs.len();
    let span = xs[n - 1] - xs[0];
    let put = |name: &str, value: f64, out: &mut Guess| {
        if value.is_finite() && !out.values.iter().any(|(n, _)| n == name) {
            out.values.push((name.to_owned(), value));
        }
    };
    // The background: a line through the two ends when the model has one, else a level.
    let edge = (n / 10).max(1);
    let mean = |v: &[f64]| v.iter().sum::<f64>() / v.len() as f64;
    let (x_lo, y_lo) = (mean(&xs[..edge]), mean(&ys[..edge]));
    let (x_hi, y_hi) = (mean(&xs[n - edge..]), mean(&ys[n - edge..]));
    let peaks = terms.iter().filter(|t| matches!(t, Term::Peak { .. })).count();
    let has_exponential = terms.iter().any(|t| matches!(t, Term::Exponential { .. }));
    let has_step = terms.iter().any(|t| matches!(t, Term::Step { .. } | Term::Hill { .. }));
    let mut background = vec![0.0; n];
    for term in &terms {
        match term {
            Term::Linear { slope, intercept } => {
                let (s, b) = if peaks > 0 || has_exponential {
                    let s = (y_hi - y_lo) / (x_hi - x_lo);
                    (s, y_lo - s * x_lo)
                } else {
                    least_squares_line(&xs, &ys)
                };
                put(slope, s, &mut out);
                put(intercept, b, &mut out);
                for (b_i, x) in background.iter_mut().zip(&xs) {
                    *b_i += s * x + b;
                }
            }
            Term::Polynomial(coefficients) => {
                // Least squares alone; as a background under peaks or a decay, the line
                // through the ends (higher coefficients 0).
                let c = if peaks > 0 || has_exponential || has_step {
                    let s = (y_hi - y_lo) / (x_hi - x_lo);
                    let mut c = vec![0.0; coefficients.len()];
                    c[0] = y_lo - s * x_lo;
                    c[1] = s;
                    c
                } else {
                    least_squares_polynomial(&xs, &ys, coefficients.len() - 1)
                };
                for (name, value) in coefficients.iter().zip(&c) {
                    put(name, *value, &mut out);
                }
                for (b_i, x) in background.iter_mut().zip(&xs) {
                    *b_i += c.iter().rev().fold(0.0, |acc, c| acc * x + c);
                }
            }
            Term::Offset(name) => {
                // Peaks stand on the lower end's level; a decay ends on its level; a step
                // starts from its level.
                let level = if has_exponential {
                    y_hi
                } else if has_step {
                    y_lo
                } else {
                    y_lo.min(y_hi)
                };
                put(name, level, &mut out);
                for b_i in background.iter_mut() {
                    *b_i += level;
                }
            }
            _ => {}
        }
    }
    let rest: Vec<f64> = ys.iter().zip(&background).map(|(y, b)| y - b).collect();
    // Steps: from the level at the low end to the level at the high end; the centre where the
    // smoothed data cross halfway, the width from where they cross a quarter and three quarters.
    for term in &terms {
        let (low, high) = (mean(&rest[..edge]), mean(&rest[n - edge..]));
        let crossing = |fraction: f64| -> f64 {
            let level = low + fraction * (high - low);
            let above = |v: f64| if high >= low { v >= level } else { v <= level };
            let window = (n / 50).max(1);
            (0..n)
                .find(|&i| above(mean(&rest[i.saturating_sub(window)..(i + window + 1).min(n)])))
                .map_or(xs[n / 2], |i| xs[i])
        };
        match term {
            Term::Step { shape, amplitude, center, sigma } => {
                let quartiles = (crossing(0.75) - crossing(0.25)).abs().max(span / n as f64);
                // The quartiles' distance in units of sigma for each form.
                let per_sigma = match *shape {
                    "erf" => 2.0 * 0.476_936_276_204_469_9,
                    "logistic" => 2.0 * 3.0f64.ln(),
                    _ => 2.0,
                };
                put(amplitude, high - low, &mut out);
                put(center, crossing(0.5), &mut out);
                put(sigma, quartiles / per_sigma, &mut out);
            }
            Term::Hill { bottom, top, ec50, n: hill_n } => {
                // A rise over positive x: bottom at the low end, top at the high end.
                put(bottom, low, &mut out);
                put(top, high, &mut out);
                put(ec50, crossing(0.5).max(f64::MIN_POSITIVE), &mut out);
                put(hill_n, 1.0, &mut out);
            }
            _ => {}
        }
    }
    // Peaks: the largest maxima of the smoothed rest, assigned to the terms in order of x.
    if peaks > 0 {
        let window = (n / 100).max(1);
        let smooth: Vec<f64> = (0..n)
            .map(|i| {
                let (a, b) = (i.saturating_sub(window), (i + window + 1).min(n));
                mean(&rest[a..b])
            })
            .collect();
        let mut found = local_maxima(&smooth, (n / 50).max(2));
        found.truncate(peaks);
        if found.len() < peaks {
            out.notes.push(format!("guess: {} of {peaks} peaks found in the data", found.len()));
        }
        found.sort_unstable();
        let mut peak_terms = terms.iter().filter(|t| matches!(t, Term::Peak { .. }));
        for &i in &found {
            let Some(Term::Peak { shape, amplitude, center, sigma, fraction, extra }) = peak_terms.next() else {
                break;
            };
            let height = smooth[i];
            let fwhm = half_width(&xs, &smooth, i).unwrap_or(span / (4.0 * peaks as f64));
            let (s, area) = match *shape {
                "gaussian" => {
                    let s = fwhm / 2.354_820_045_030_949;
                    (s, height * s * (2.0 * std::f64::consts::PI).sqrt())
                }
                "lorentzian" => (fwhm / 2.0, height * std::f64::consts::PI * fwhm / 2.0),
                "voigt" => {
                    // Half the width Gaussian, half Lorentzian: equal component FWHMs f with
                    // the Voigt's FWHM ≈ 0.5346·f + √(0.2166·f² + f²) (Olivero and Longbothum).
                    let f = fwhm / (0.5346 + (0.2166f64 + 1.0).sqrt());
                    let (s, g) = (f / 2.354_820_045_030_949, f / 2.0);
                    let peak_of_unit = crate::ops::faddeeva::faddeeva(0.0, g / (s * std::f64::consts::SQRT_2)).0
                        / (s * (2.0 * std::f64::consts::PI).sqrt());
                    if let Some(gamma) = extra {
                        put(gamma, g, &mut out);
                    }
                    (s, height / peak_of_unit)
                }
                "pearson7" => {
                    // lmfit's Pearson7Model guess: expon 1.5; FWHM = 2σ·√(2^(1/m) − 1).
                    let m = 1.5f64;
                    let s = fwhm / (2.0 * ((1.0 / m).exp2() - 1.0).sqrt());
                    let peak_of_unit = (crate::ops::gamma::lgamma(m) - crate::ops::gamma::lgamma(m - 0.5)).exp()
                        / (std::f64::consts::PI.sqrt() * s);
                    if let Some(expon) = extra {
                        put(expon, m, &mut out);
                    }
                    (s, height / peak_of_unit)
                }
                _ => {
                    // pseudo_voigt with fraction ½: sigma is half the FWHM.
                    let s = fwhm / 2.0;
                    let sg = s / (2.0 * std::f64::consts::LN_2).sqrt();
                    let peak_of_unit =
                        0.5 / (sg * (2.0 * std::f64::consts::PI).sqrt()) + 0.5 / (std::f64::consts::PI * s);
                    (s, height / peak_of_unit)
                }
            };
            put(amplitude, area, &mut out);
            put(center, xs[i], &mut out);
            put(sigma, s, &mut out);
            if let Some(f) = fraction {
                put(f, 0.5, &mut out);
            }
        }
        out.notes.push(format!(
            "guess: {} peak{} from the largest maxima of the smoothed data, assigned in order of x",
            found.len(),
            if found.len() == 1 { "" } else { "s" }
        ));
    }
    for term in &terms {
        if let Term::Exponential { amplitude, decay } = term {
            // ln(rest) against x over the points well above zero.
            let floor = 0.05 * rest.iter().cloned().fold(0.0, f64::max);
            let points: Vec<(f64, f64)> =
                xs.iter().zip(&rest).filter(|(_, r)| **r > floor).map(|(x, r)| (*x, r.ln())).collect();
            let (xv, lv): (Vec<f64>, Vec<f64>) = points.into_iter().unzip();
            let (slope, intercept) = if xv.len() >= 2 { least_squares_line(&xv, &lv) } else { (f64::NAN, f64::NAN) };
            let d = if slope < 0.0 { -1.0 / slope } else { span / 3.0 };
            let a = if slope < 0.0 { intercept.exp() } else { rest[0] * (xs[0] / d).exp() };
            put(decay, d, &mut out);
            put(amplitude, a, &mut out);
            out.notes.push("guess: the exponential from a straight line through ln(y − background)".into());
        }
    }
    out
}

/// The model's right side as a sum of known terms; `None` (with a note) when it is not one.
fn terms(source: &str, var: &str, notes: &mut Vec<String>) -> Option<Vec<Term>> {
    // The model's own statement: helpers before it (ties, say) only rename parameters, and a
    // guess for a name that is not a parameter is dropped by the caller.
    let ast = parse(source).ok()?;
    let name = |id: crate::syntax::AstId| match &ast.node(id).kind {
        AstKind::Name(n) => Some(n.clone()),
        _ => None,
    };
    // Split the sum.
    let mut stack = vec![ast.model_statement().rhs];
    let mut parts = Vec::new();
    while let Some(id) = stack.pop() {
        match &ast.node(id).kind {
            AstKind::Binary(BinaryOp::Add, a, b) => stack.extend([*b, *a]),
            _ => parts.push(id),
        }
    }
    let mut terms = Vec::new();
    for part in parts {
        let term = match &ast.node(part).kind {
            AstKind::Name(n) if n != var => Some(Term::Offset(n.clone())),
            AstKind::Call { name: f, args, .. } if args.first().and_then(|a| name(*a)).as_deref() == Some(var) => {
                let names: Option<Vec<String>> = args[1..].iter().map(|a| name(*a)).collect();
                match (f.as_str(), names.as_deref()) {
                    ("gaussian" | "lorentzian", Some([a, c, s])) => Some(Term::Peak {
                        shape: if f == "gaussian" { "gaussian" } else { "lorentzian" },
                        amplitude: a.clone(),
                        center: c.clone(),
                        sigma: s.clone(),
                        fraction: None,
                        extra: None,
                    }),
                    ("pseudo_voigt", Some([a, c, s, fr])) => Some(Term::Peak {
                        shape: "pseudo_voigt",
                        amplitude: a.clone(),
                        center: c.clone(),
                        sigma: s.clone(),
                        fraction: Some(fr.clone()),
                        extra: None,
                    }),
                    ("voigt" | "pearson7", Some([a, c, s, g])) => Some(Term::Peak {
                        shape: if f == "voigt" { "voigt" } else { "pearson7" },
                        amplitude: a.clone(),
                        center: c.clone(),
                        sigma: s.clone(),
                        fraction: None,
                        extra: Some(g.clone()),
                    }),
                    ("exponential", Some([a, d])) => Some(Term::Exponential { amplitude: a.clone(), decay: d.clone() }),
                    ("linear", Some([s, b])) => Some(Term::Linear { slope: s.clone(), intercept: b.clone() }),
                    (f, Some(c))
                        if f.starts_with("polynomial") && f[10..].parse::<usize>().ok() == Some(c.len() - 1) =>
                    {
                        Some(Term::Polynomial(c.to_vec()))
                    }
                    ("step_erf" | "step_logistic" | "step_atan", Some([a, c, s])) => Some(Term::Step {
                        shape: match f.as_str() {
                            "step_erf" => "erf",
                            "step_logistic" => "logistic",
                            _ => "atan",
                        },
                        amplitude: a.clone(),
                        center: c.clone(),
                        sigma: s.clone(),
                    }),
                    ("hill", Some([b, t, e, h])) => {
                        Some(Term::Hill { bottom: b.clone(), top: t.clone(), ec50: e.clone(), n: h.clone() })
                    }
                    _ => None,
                }
            }
            _ => None,
        };
        match term {
            Some(t) => terms.push(t),
            None => notes.push(format!("guess: nothing for the term `{}`", ast.to_text(part))),
        }
    }
    Some(terms)
}

/// Least-squares line y = s·x + b.
fn least_squares_line(x: &[f64], y: &[f64]) -> (f64, f64) {
    let n = x.len() as f64;
    let (mx, my) = (x.iter().sum::<f64>() / n, y.iter().sum::<f64>() / n);
    let sxy: f64 = x.iter().zip(y).map(|(x, y)| (x - mx) * (y - my)).sum();
    let sxx: f64 = x.iter().map(|x| (x - mx) * (x - mx)).sum();
    let s = if sxx > 0.0 { sxy / sxx } else { 0.0 };
    (s, my - s * mx)
}

/// The least-squares polynomial of degree `degree` through (x, y), coefficients from the
/// constant up: fitted in u = (x − m)/h (the points centred and scaled, so the normal
/// equations stay well conditioned), then expanded back in powers of x.
fn least_squares_polynomial(x: &[f64], y: &[f64], degree: usize) -> Vec<f64> {
    let p = degree + 1;
    let n = x.len() as f64;
    let m = x.iter().sum::<f64>() / n;
    let h = x.iter().map(|x| (x - m).abs()).fold(0.0, f64::max).max(f64::MIN_POSITIVE);
    let mut ata = vec![0.0; p * p];
    let mut aty = vec![0.0; p];
    for (x, y) in x.iter().zip(y) {
        let u = (x - m) / h;
        let powers: Vec<f64> = (0..p).map(|k| u.powi(k as i32)).collect();
        for a in 0..p {
            for b in 0..p {
                ata[a * p + b] += powers[a] * powers[b];
            }
            aty[a] += powers[a] * y;
        }
    }
    let mut factor = ata.clone();
    if !crate::solve::cholesky(&mut factor, p) {
        return vec![0.0; p];
    }
    crate::solve::cholesky_solve(&factor, p, &mut aty);
    // Σ b_k ((x − m)/h)^k = Σ_j c_j x^j: expand each power binomially.
    let mut c = vec![0.0; p];
    for (k, b) in aty.iter().enumerate() {
        let scale = b / h.powi(k as i32);
        let mut binomial = 1.0;
        for (j, c_j) in c.iter_mut().enumerate().take(k + 1) {
            // C(k, j)·x^j·(−m)^(k−j)
            *c_j += scale * binomial * (-m).powi((k - j) as i32);
            binomial *= (k - j) as f64 / (j + 1) as f64;
        }
    }
    c
}

/// Indices of the local maxima of `v` (positive ones), largest first, at least `gap` apart.
fn local_maxima(v: &[f64], gap: usize) -> Vec<usize> {
    let mut candidates: Vec<usize> = (0..v.len())
        .filter(|&i| {
            let left = if i == 0 { f64::NEG_INFINITY } else { v[i - 1] };
            let right = if i + 1 == v.len() { f64::NEG_INFINITY } else { v[i + 1] };
            v[i] > 0.0 && v[i] >= left && v[i] >= right
        })
        .collect();
    candidates.sort_by(|a, b| v[*b].total_cmp(&v[*a]));
    let mut chosen: Vec<usize> = Vec::new();
    for i in candidates {
        if chosen.iter().all(|c| c.abs_diff(i) >= gap) {
            chosen.push(i);
        }
    }
    chosen
}

/// The full width at half maximum around the maximum at `i` (interpolated; from one side,
/// doubled, when the other side leaves the data).
fn half_width(x: &[f64], v: &[f64], i: usize) -> Option<f64> {
    let half = v[i] / 2.0;
    let cross = |j: usize, k: usize| x[j] + (half - v[j]) * (x[k] - x[j]) / (v[k] - v[j]);
    let left = (1..=i).rev().find(|&j| v[j - 1] < half).map(|j| cross(j - 1, j));
    let right = (i..v.len() - 1).find(|&j| v[j + 1] < half).map(|j| cross(j, j + 1));
    match (left, right) {
        (Some(l), Some(r)) => Some(r - l),
        (Some(l), None) => Some(2.0 * (x[i] - l)),
        (None, Some(r)) => Some(2.0 * (r - x[i])),
        (None, None) => None,
    }
}
