//! Starting values guessed from the data: on a corpus of synthetic spectra and decays with
//! varied positions, widths and noise, the fit from the guess alone reaches the truth.

use jitfit::guess::guess;
use jitfit::{Data, compile};

/// A small deterministic generator (SplitMix64).
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> f64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        ((z ^ (z >> 31)) >> 11) as f64 / (1u64 << 53) as f64
    }
    fn uniform(&mut self, lo: f64, hi: f64) -> f64 {
        lo + (hi - lo) * self.next()
    }
    /// Approximately normal (sum of 12 uniforms).
    fn normal(&mut self) -> f64 {
        (0..12).map(|_| self.next()).sum::<f64>() - 6.0
    }
}

fn gaussian(x: f64, a: f64, c: f64, s: f64) -> f64 {
    a / (s * (2.0 * std::f64::consts::PI).sqrt()) * (-(x - c).powi(2) / (2.0 * s * s)).exp()
}

fn lorentzian(x: f64, a: f64, c: f64, s: f64) -> f64 {
    a / (std::f64::consts::PI * s) / (1.0 + ((x - c) / s).powi(2))
}

/// Fits `model` from the guess alone; true when every parameter is within 5 % (or 5 standard
/// errors) of the truth, in the order of `truth`.
fn reaches(model: &str, x: Vec<f64>, y: Vec<f64>, truth: &[(&str, f64)]) -> bool {
    let guessed = guess(model, "x", &x, &y);
    let compiled = compile(model).unwrap();
    let data = Data::new().var("x", x).y(y);
    let mut builder = compiled.fit(&data);
    for (name, value) in &guessed.values {
        builder = builder.initial(name, *value);
    }
    let Ok(fit) = builder.run() else { return false };
    fit.status.converged()
        && truth.iter().all(|(name, value)| {
            let (found, se) = (fit.value(name).unwrap(), fit.std_error(name).unwrap());
            (found - value).abs() <= (0.05 * value.abs()).max(5.0 * se)
        })
}

#[test]
fn guessed_peaks_and_decays_fit_to_the_truth() {
    let mut rng = Rng(20261203);
    let (mut tried, mut reached) = (0, 0);
    let mut misses = Vec::new();
    for case in 0..360 {
        let x: Vec<f64> = (0..300).map(|i| i as f64 / 299.0 * 10.0).collect();
        let noise = rng.uniform(0.002, 0.03);
        let (model, truth, y): (&str, Vec<(&str, f64)>, Vec<f64>) = match case % 6 {
            4 => {
                // A rising or falling erf or logistic step on a level.
                let (a, c, s, b) = (
                    rng.uniform(0.5, 3.0) * if rng.next() < 0.5 { -1.0 } else { 1.0 },
                    rng.uniform(3.0, 7.0),
                    rng.uniform(0.2, 1.0),
                    rng.uniform(0.0, 1.0),
                );
                if case % 12 == 4 {
                    let y = x.iter().map(|x| a * (1.0 + erf((x - c) / s)) / 2.0 + b + noise * rng.normal()).collect();
                    ("step_erf(x, A, c, s) + b", vec![("A", a), ("c", c), ("s", s), ("b", b)], y)
                } else {
                    let y = x
                        .iter()
                        .map(|x| a * (1.0 - 1.0 / (1.0 + ((x - c) / s).exp())) + b + noise * rng.normal())
                        .collect();
                    ("step_logistic(x, A, c, s) + b", vec![("A", a), ("c", c), ("s", s), ("b", b)], y)
                }
            }
            5 => {
                // A dose response over positive x.
                let (lo, hi, e, h) =
                    (rng.uniform(0.0, 0.5), rng.uniform(1.5, 3.0), rng.uniform(2.0, 6.0), rng.uniform(1.0, 3.0));
                let y = x
                    .iter()
                    .map(|x| lo + (hi - lo) / (1.0 + (e / x.max(1e-9)).powf(h)) + noise * rng.normal())
                    .collect();
                ("hill(x, bottom, top, ec50, n)", vec![("bottom", lo), ("top", hi), ("ec50", e), ("n", h)], y)
            }
            0 => {
                let (a, c, s, b) =
                    (rng.uniform(0.5, 3.0), rng.uniform(2.0, 8.0), rng.uniform(0.2, 0.8), rng.uniform(0.0, 0.5));
                let y = x.iter().map(|x| gaussian(*x, a, c, s) + b + noise * rng.normal()).collect();
                ("gaussian(x, A, c, s) + b", vec![("A", a), ("c", c), ("s", s)], y)
            }
            1 => {
                // Two peaks at least five widths apart.
                let (s1, s2) = (rng.uniform(0.15, 0.4), rng.uniform(0.15, 0.4));
                let c1 = rng.uniform(1.5, 4.0);
                let c2 = c1 + 5.0 * (s1 + s2) + rng.uniform(0.0, 8.5 - c1 - 5.0 * (s1 + s2)).max(0.0);
                let (a1, a2) = (rng.uniform(0.5, 2.0), rng.uniform(0.5, 2.0));
                let y = x
                    .iter()
                    .map(|x| gaussian(*x, a1, c1, s1) + lorentzian(*x, a2, c2, s2) + 0.1 + noise * rng.normal())
                    .collect();
                let truth = vec![("A1", a1), ("c1", c1), ("s1", s1), ("A2", a2), ("c2", c2), ("s2", s2)];
                ("gaussian(x, A1, c1, s1) + lorentzian(x, A2, c2, s2) + b", truth, y)
            }
            2 => {
                let (a, d, b) = (rng.uniform(1.0, 5.0), rng.uniform(0.5, 3.0), rng.uniform(0.0, 1.0));
                let y = x.iter().map(|x| a * (-x / d).exp() + b + noise * rng.normal()).collect();
                ("exponential(x, A, tau) + b", vec![("A", a), ("tau", d), ("b", b)], y)
            }
            _ => {
                let (a, c, s, f) =
                    (rng.uniform(0.5, 3.0), rng.uniform(2.0, 8.0), rng.uniform(0.2, 0.6), rng.uniform(0.2, 0.8));
                let sg = s / (2.0 * std::f64::consts::LN_2).sqrt();
                let y = x
                    .iter()
                    .map(|x| {
                        (1.0 - f) * gaussian(*x, a, c, sg)
                            + f * lorentzian(*x, a, c, s)
                            + 0.2 * x / 10.0
                            + noise * rng.normal()
                    })
                    .collect();
                ("pseudo_voigt(x, A, c, s, f) + linear(x, m, b)", vec![("A", a), ("c", c), ("s", s)], y)
            }
        };
        tried += 1;
        if reaches(model, x, y, &truth) {
            reached += 1;
        } else {
            misses.push(case);
        }
    }
    eprintln!("guess corpus: {reached} of {tried} reached the truth; missed {misses:?}");
    // The bar: at least 95 % from the guess alone.
    assert!(reached * 100 >= 95 * tried, "{reached} of {tried} reached the truth; missed {misses:?}");
}

/// Voigt peaks (σ and γ both free) on a sloped background, from the guess alone.
#[test]
fn guessed_voigt_peaks_fit_to_the_truth() {
    let mut rng = Rng(20261204);
    let mut misses = Vec::new();
    for case in 0..40 {
        let x: Vec<f64> = (0..300).map(|i| i as f64 / 299.0 * 10.0).collect();
        let (a, c, s, g, m, b) = (
            rng.uniform(1.0, 5.0),
            rng.uniform(3.0, 7.0),
            rng.uniform(0.15, 0.6),
            rng.uniform(0.1, 0.6),
            rng.uniform(-0.05, 0.05),
            rng.uniform(0.0, 1.0),
        );
        let noise = rng.uniform(0.002, 0.01);
        let voigt = |x: f64| {
            let z = std::f64::consts::SQRT_2 * s;
            a * jitfit::ops::faddeeva::faddeeva((x - c) / z, g / z).0 / (s * (2.0 * std::f64::consts::PI).sqrt())
        };
        let y: Vec<f64> = x.iter().map(|x| voigt(*x) + m * x + b + noise * rng.normal()).collect();
        let truth = [("A", a), ("c", c), ("s", s), ("g", g)];
        if !reaches("voigt(x, A, c, s, g) + linear(x, m, b)", x, y, &truth) {
            misses.push(case);
        }
    }
    assert!(misses.is_empty(), "missed: {misses:?}");
}

/// Pearson VII peaks (exponent free, 0.8 to 8: from nearly Lorentzian to nearly Gaussian) on a
/// sloped background, from the guess alone (lmfit's: expon 1.5, σ from the half width).
#[test]
fn guessed_pearson7_peaks_fit_to_the_truth() {
    let mut rng = Rng(20261205);
    let mut misses = Vec::new();
    for case in 0..40 {
        let x: Vec<f64> = (0..300).map(|i| i as f64 / 299.0 * 10.0).collect();
        let (a, c, s, e, m, b) = (
            rng.uniform(1.0, 5.0),
            rng.uniform(3.0, 7.0),
            rng.uniform(0.15, 0.6),
            rng.uniform(0.8, 8.0),
            rng.uniform(-0.05, 0.05),
            rng.uniform(0.0, 1.0),
        );
        let noise = rng.uniform(0.002, 0.01);
        let lg = jitfit::ops::gamma::lgamma;
        let scale = a * (lg(e) - lg(e - 0.5)).exp() / (std::f64::consts::PI.sqrt() * s);
        let peak = |x: f64| scale * (1.0 + ((x - c) / s).powi(2)).powf(-e);
        let y: Vec<f64> = x.iter().map(|x| peak(*x) + m * x + b + noise * rng.normal()).collect();
        let truth = [("A", a), ("c", c), ("s", s), ("p", e)];
        if !reaches("pearson7(x, A, c, s, p) + linear(x, m, b)", x, y, &truth) {
            misses.push(case);
        }
    }
    assert!(misses.is_empty(), "missed: {misses:?}");
}

/// A polynomial's guess is its least-squares fit (in the centred, scaled variable, expanded
/// back): the fit starts at its solution, far from the origin of x too.
#[test]
fn a_guessed_polynomial_is_its_least_squares_fit() {
    let mut rng = Rng(7);
    let x: Vec<f64> = (0..60).map(|i| 100.0 + 2.0 * i as f64).collect();
    let truth = [3.0, -0.5, 0.01, -2e-5];
    let y: Vec<f64> =
        x.iter().map(|x| truth.iter().rev().fold(0.0, |acc, c| acc * x + c) + 0.05 * rng.normal()).collect();
    let model = "polynomial3(x, c0, c1, c2, c3)";
    let guessed = guess(model, "x", &x, &y);
    let fit = compile(model).unwrap().fit(&Data::new().var("x", x.clone()).y(y.clone())).run().unwrap();
    for (name, value) in &guessed.values {
        let found = fit.value(name).unwrap();
        assert!(
            (value - found).abs() <= 1e-6 * fit.std_error(name).unwrap(),
            "{name}: guessed {value}, fitted {found}"
        );
    }
    assert!(reaches(model, x, y, &[("c2", truth[2]), ("c3", truth[3])]));
}

#[test]
fn what_is_not_a_library_term_is_not_guessed_and_said() {
    let x: Vec<f64> = (0..50).map(|i| i as f64 / 5.0).collect();
    let y: Vec<f64> = x.iter().map(|x| 2.0 * (-x / 1.5).exp() + 0.3).collect();
    // A formula of the user's own: nothing at all (not even the offset).
    assert!(guess("a*exp(-x/t) + b", "x", &x, &y).values.is_empty());
    // A library term beside a formula: the library term only, and the note names the formula.
    let g = guess("exponential(x, A, tau) + k*sin(x) + b", "x", &x, &y);
    let names: Vec<&str> = g.values.iter().map(|(n, _)| n.as_str()).collect();
    assert!(names.contains(&"A") && names.contains(&"tau") && names.contains(&"b") && !names.contains(&"k"));
    assert!(g.notes.iter().any(|n| n == "guess: nothing for the term `(k * sin(x))`"), "{:?}", g.notes);
}

fn erf(x: f64) -> f64 {
    puruspe::erf(x)
}
