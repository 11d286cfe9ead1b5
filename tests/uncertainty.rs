//! Profile-likelihood intervals, bands, derived quantities and quantiles against the peers:
//! `tests/data/uncertainty/generate.py` (scipy, lmfit, iminuit) wrote `reference.json`; no Python runs
//! at test time.

use jitfit::{Data, Fit, Level, Limit, Scale, compile};
use serde::Deserialize;

#[derive(Deserialize)]
struct Reference {
    cases: Vec<Case>,
    quantiles: Vec<(f64, f64, f64)>,
}

#[derive(Deserialize)]
struct Case {
    name: String,
    model: String,
    x: Vec<f64>,
    y: Vec<f64>,
    sigma: Option<Vec<f64>>,
    absolute_sigma: bool,
    poisson: bool,
    values: Vec<f64>,
    stderr: Vec<f64>,
    levels: Vec<f64>,
    /// Per parameter `p{k}`, per level: [lower, upper] (scipy, tight).
    profile: std::collections::BTreeMap<String, Vec<[f64; 2]>>,
    lmfit: Option<std::collections::BTreeMap<String, Vec<[f64; 2]>>>,
    /// iminuit's MINOS, where σ is known.
    minos: Option<std::collections::BTreeMap<String, Vec<[f64; 2]>>>,
    /// iminuit's mncontour of p0, p1, where σ is known.
    mncontour: Option<Vec<ContourReference>>,
    bands: BandsReference,
}

#[derive(Deserialize)]
struct BandsReference {
    quantile: f64,
    confidence: Vec<f64>,
    prediction: Vec<f64>,
}

fn reference() -> Reference {
    let text =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/data/uncertainty/reference.json")).unwrap();
    serde_json::from_str(&text).unwrap()
}

fn data(case: &Case) -> Data {
    let data = Data::new().var("x", case.x.clone()).y(case.y.clone());
    match &case.sigma {
        Some(s) => data.sigma(s.clone()),
        None => data,
    }
}

fn fit(case: &Case) -> Fit {
    let model = compile(&case.model).unwrap();
    let data = data(case);
    // Started near the answer: these tests are about what comes after the fit.
    let start: Vec<f64> = case.values.iter().map(|v| v * 1.01).collect();
    let mut builder = model.fit(&data).p0(&start).absolute_sigma(case.absolute_sigma);
    if case.poisson {
        builder = builder.poisson();
    }
    let fit = builder.run().unwrap();
    assert!(fit.status.converged(), "{}: {:?}", case.name, fit.status);
    for (k, (ours, theirs)) in fit.values.iter().zip(&case.values).enumerate() {
        assert!((ours - theirs).abs() <= 1e-7 * theirs.abs(), "{} p{k}: {ours} vs scipy {theirs}", case.name);
    }
    for (k, (ours, theirs)) in fit.std_errors.iter().zip(&case.stderr).enumerate() {
        assert!((ours - theirs).abs() <= 1e-6 * theirs, "{} stderr p{k}: {ours} vs {theirs}", case.name);
    }
    fit
}

fn level(value: f64) -> Level {
    Level::parse(&value.to_string()).unwrap()
}

#[test]
fn profile_intervals_match_scipy_lmfit_and_minos() {
    let reference = reference();
    assert_eq!(reference.cases.len(), 5);
    for case in &reference.cases {
        let fit = fit(case);
        let levels: Vec<Level> = case.levels.iter().map(|l| level(*l)).collect();
        let profile = fit.profile(&levels).unwrap();
        assert_eq!(profile.parameters.len(), fit.values.len());
        for (k, p) in profile.parameters.iter().enumerate() {
            let scipy = &case.profile[&format!("p{k}")];
            for (l, interval) in p.intervals.iter().enumerate() {
                for (side, limit) in [&interval.lower, &interval.upper].into_iter().enumerate() {
                    let Limit::Found { value } = limit else {
                        panic!("{} p{k} level {l} side {side}: {limit:?}", case.name)
                    };
                    let expected = scipy[l][side];
                    let half_width = (expected - p.value).abs();
                    assert!(
                        (value - expected).abs() <= 1e-6 * half_width,
                        "{} p{k} level {} side {side}: jitfit {value} vs scipy {expected}",
                        case.name,
                        case.levels[l]
                    );
                    if let Some(lmfit) = &case.lmfit {
                        // lmfit ends its root search at rtol 5e-5 of the value.
                        let theirs = lmfit[&format!("p{k}")][l][side];
                        assert!(
                            (value - theirs).abs() <= 5e-5 * theirs.abs() + 1e-6 * half_width,
                            "{} p{k}: jitfit {value} vs lmfit {theirs}",
                            case.name
                        );
                    }
                    if let Some(minos) = &case.minos {
                        // MINOS stops at its own tolerance, ~1e-4 of the half-width.
                        let theirs = minos[&format!("p{k}")][l][side];
                        assert!(
                            (value - theirs).abs() <= 1e-3 * half_width,
                            "{} p{k}: jitfit {value} vs MINOS {theirs}",
                            case.name
                        );
                    }
                }
            }
        }
    }
}

#[test]
fn a_bound_inside_an_interval_ends_it_and_says_so() {
    let reference = reference();
    let case = &reference.cases[0];
    let model = compile(&case.model).unwrap();
    let data = data(case);
    let fit = model.fit(&data).p0(&case.values).bound("b", 0.0, 0.74).run().unwrap();
    let profile = fit.profile(&[Level::Sigma(1.0), Level::Sigma(2.0)]).unwrap();
    let b = &profile.parameters[1];
    let scipy = &case.profile["p1"];
    assert_eq!(b.name, "b");
    let found = |limit: &Limit| limit.value().unwrap();
    assert!((found(&b.intervals[0].upper) - scipy[0][1]).abs() < 1e-6 * 0.02);
    assert_eq!(b.intervals[1].upper, Limit::AtBound { value: 0.74 });
    assert!((found(&b.intervals[1].lower) - scipy[1][0]).abs() < 1e-6 * 0.03);
}

#[test]
fn profiles_are_refused_where_they_mean_nothing() {
    let reference = reference();
    let case = &reference.cases[0];
    let model = compile(&case.model).unwrap();
    let data = data(case);
    let robust = model.fit(&data).p0(&case.values).loss(jitfit::solve::Loss::SoftL1, 1.0).run().unwrap();
    let e = robust.profile(&[Level::Sigma(1.0)]).unwrap_err().to_string();
    assert_eq!(e, "profile intervals and contours need the linear loss: the soft_l1 loss's cost is not a likelihood");
    let fit = model.fit(&data).p0(&case.values).run().unwrap();
    assert!(fit.profile(&[]).is_err());
    assert!(fit.profile(&[Level::Probability(1.5)]).is_err());
}

#[test]
fn bands_match_the_delta_method_with_scipy_covariance() {
    for case in &reference().cases {
        let fit = fit(case);
        let bands = fit.bands(&data(case), Level::Sigma(1.0)).unwrap();
        assert!(
            (bands.quantile - case.bands.quantile).abs() <= 1e-11 * case.bands.quantile,
            "{}: {} vs {}",
            case.name,
            bands.quantile,
            case.bands.quantile
        );
        let prediction = bands.prediction.as_ref().unwrap();
        assert_eq!((bands.confidence.len(), prediction.len()), (case.x.len(), case.x.len()));
        let expected = case.bands.confidence.iter().zip(&case.bands.prediction);
        for (i, ((ours, our_p), (c, p))) in bands.confidence.iter().zip(prediction).zip(expected).enumerate() {
            assert!((ours - c).abs() <= 1e-6 * c, "{} {i}: {ours} vs {c}", case.name);
            assert!((our_p - p).abs() <= 1e-6 * p, "{} {i}: {our_p} vs {p}", case.name);
        }
        // The curve itself is the fit's prediction.
        let grid = Data::new().var("x", vec![0.5, 1.5]);
        let values = fit.predict(&grid).unwrap();
        let again = fit.bands(&grid, Level::Sigma(2.0)).unwrap();
        assert_eq!(values, again.value);
    }
}

#[test]
fn a_weighted_fit_needs_sigma_for_a_prediction_band() {
    let reference = reference();
    let case = &reference.cases[0];
    let fit = fit(case);
    let bands = fit.bands(&Data::new().var("x", vec![1.0, 2.0]), Level::Sigma(1.0)).unwrap();
    assert_eq!(bands.prediction, None);
    assert_eq!(
        bands.prediction_note.as_deref(),
        Some("the fit was weighted by σ: give σ at these points for a prediction band")
    );
    let with_sigma = fit.bands(&Data::new().var("x", vec![1.0, 2.0]).sigma(vec![0.05, 0.05]), Level::Sigma(1.0));
    assert_eq!(with_sigma.unwrap().prediction.map(|p| p.len()), Some(2));
}

#[test]
fn derived_standard_errors_match_finite_differences() {
    let reference = reference();
    let case = &reference.cases[2];
    let fit = fit(case);
    let n = fit.values.len();
    // g(p) written out in Rust, differentiated by central differences.
    type G = fn(&[f64]) -> f64;
    let cases: [(&str, G); 3] = [
        ("log(2)/s", |p| 2f64.ln() / p[2]),
        ("a*s*sqrt(2*pi)", |p| p[0] * p[2] * (2.0 * std::f64::consts::PI).sqrt()),
        ("m + c*exp(d)", |p| p[1] + p[3] * p[4].exp()),
    ];
    for (expression, g) in cases {
        let derived = fit.derive("q", expression).unwrap();
        assert!((derived.value - g(&fit.values)).abs() <= 1e-14 * derived.value.abs().max(1.0), "{expression}");
        let mut gradient = vec![0.0; n];
        for k in 0..n {
            let h = 1e-6 * fit.values[k].abs().max(1e-3);
            let (mut up, mut down) = (fit.values.clone(), fit.values.clone());
            up[k] += h;
            down[k] -= h;
            gradient[k] = (g(&up) - g(&down)) / (2.0 * h);
        }
        let mut variance = 0.0;
        for a in 0..n {
            for b in 0..n {
                variance += gradient[a] * fit.covariance[a * n + b] * gradient[b];
            }
        }
        let expected = variance.sqrt();
        assert!(
            (derived.std_error - expected).abs() <= 1e-6 * expected,
            "{expression}: {} vs {expected}",
            derived.std_error
        );
    }
    let e = fit.derive_definition("w = a*q").unwrap_err().to_string();
    assert_eq!(e, "derived quantity `w`: `q` is not a parameter of the model (parameters: a, m, s, c, d)");
    assert!(fit.derive_definition("log(2)/s").is_err());
}

#[test]
fn quantiles_match_scipy() {
    for (p, nu, expected) in reference().quantiles {
        let scale = if nu == 0.0 { Scale::Known } else { Scale::Estimated { dof: nu as usize } };
        let q = scale.quantile(p);
        // puruspe's incomplete beta is good to a few 1e-12; in the far tail (p = 1 − 1e-6) the
        // rounding of 1 − p itself is ~1e-10 of the quantile.
        let tolerance = if p > 0.999 { 2e-10 } else { 1e-11 };
        assert!((q - expected).abs() <= tolerance * expected, "p {p}, dof {nu}: {q} vs scipy {expected}");
    }
}

/// A 68.27 % (1σ) profile interval covers the true value about 68.27 % of the time: 2 000
/// synthetic data sets of a decay with known σ (`JITFIT_SLOW_TESTS`; 300 otherwise, with a
/// correspondingly wider window).
#[test]
fn one_sigma_profile_intervals_cover_the_truth() {
    let sets = crate::support::size(300, 2000);
    let model = compile("a*exp(-b*x) + c").unwrap();
    let x: Vec<f64> = (0..30).map(|i| i as f64 * 0.25).collect();
    let truth = [3.0, 0.7, 0.5];
    let sigma = vec![0.05; x.len()];
    let mut state = 0x9e3779b97f4a7c15u64;
    let mut uniform = move || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        ((state >> 11) as f64 + 0.5) / (1u64 << 53) as f64
    };
    let mut covered = 0;
    for _ in 0..sets {
        let y: Vec<f64> = x
            .iter()
            .map(|x| {
                let normal = (-2.0 * uniform().ln()).sqrt() * (2.0 * std::f64::consts::PI * uniform()).cos();
                truth[0] * (-truth[1] * x).exp() + truth[2] + 0.05 * normal
            })
            .collect();
        let data = Data::new().var("x", x.clone()).y(y).sigma(sigma.clone());
        let fit = model.fit(&data).p0(&truth).absolute_sigma(true).run().unwrap();
        let profile = fit.profile(&[Level::Sigma(1.0)]).unwrap();
        let b = &profile.parameters[1].intervals[0];
        if b.lower.value().unwrap() <= truth[1] && truth[1] <= b.upper.value().unwrap() {
            covered += 1;
        }
    }
    let rate = covered as f64 / sets as f64;
    // ±2 binomial standard deviations around 68.27 %.
    let window = 2.0 * (0.6827 * 0.3173 / sets as f64).sqrt();
    assert!((rate - 0.6827).abs() <= window, "coverage {rate} of {sets} sets");
}

#[test]
fn bootstrap_agrees_with_the_covariance_and_the_profile_and_is_reproducible() {
    use jitfit::Resampling;
    let reference = reference();
    let case = &reference.cases[0];
    let fit = fit(case);
    for resampling in [Resampling::Residuals, Resampling::Cases] {
        let boot = fit.bootstrap(1000, resampling, 7, &[Level::Sigma(1.0)]).unwrap();
        assert_eq!(boot.failed, 0);
        // Each data set has its own generator: one thread gives the same numbers.
        let pool = rayon::ThreadPoolBuilder::new().num_threads(1).build().unwrap();
        let alone = pool.install(|| fit.bootstrap(1000, resampling, 7, &[Level::Sigma(1.0)]).unwrap());
        for (a, b) in boot.parameters.iter().zip(&alone.parameters) {
            assert_eq!((a.mean, a.std, &a.intervals), (b.mean, b.std, &b.intervals));
        }
        // A near-linear problem: the spread of 1000 refits is the stderr within ~10 % (the
        // standard error of a standard deviation from 1000 samples is ~2.2 %). Resampling 60
        // cases is rougher: the few points near x = 0 that carry `a` are drawn 0 to 3 times
        // (here 16 % wider for `a`), so its bounds are looser.
        let (spread, ends) = if resampling == Resampling::Residuals { (0.1, 0.15) } else { (0.25, 0.3) };
        for (k, p) in boot.parameters.iter().enumerate() {
            let se = fit.std_errors[k];
            assert!((p.std / se - 1.0).abs() < spread, "{resampling:?} p{k}: std {} vs stderr {se}", p.std);
            let (_, lo, hi) = p.intervals[0];
            let [plo, phi] = case.profile[&format!("p{k}")][0];
            let width = phi - plo;
            assert!((lo - plo).abs() < ends * width && (hi - phi).abs() < ends * width, "{resampling:?} p{k}");
        }
    }
    let other_seed = fit.bootstrap(200, Resampling::Residuals, 8, &[Level::Sigma(1.0)]).unwrap();
    let seed_7 = fit.bootstrap(200, Resampling::Residuals, 7, &[Level::Sigma(1.0)]).unwrap();
    assert_ne!(other_seed.parameters[0].mean, seed_7.parameters[0].mean);
}

#[test]
fn bootstrap_refuses_residuals_where_they_do_not_apply() {
    let reference = reference();
    let poisson = fit(&reference.cases[4]);
    let e = poisson.bootstrap(10, jitfit::Resampling::Residuals, 0, &[Level::Sigma(1.0)]).unwrap_err();
    assert_eq!(e.to_string(), "residual resampling does not apply to Poisson counts (resample cases)");
    let cases = poisson.bootstrap(50, jitfit::Resampling::Cases, 0, &[Level::Sigma(1.0)]).unwrap();
    assert_eq!(cases.parameters.len(), 3);
}

#[derive(Deserialize)]
struct ContourReference {
    level: f64,
    points: Vec<[f64; 2]>,
}

#[test]
fn a_straight_line_contour_is_the_covariance_ellipse() {
    // Linear in its parameters: the region is exactly (p − p̂)ᵀ C⁻¹ (p − p̂) = Δχ²(2 dof).
    let x: Vec<f64> = (0..20).map(|i| i as f64).collect();
    let y: Vec<f64> = x.iter().enumerate().map(|(i, x)| 1.0 + 0.5 * x + 0.3 * ((i * 7 % 5) as f64 - 2.0)).collect();
    let data = Data::new().var("x", x).y(y).sigma(vec![0.3; 20]);
    let fit = compile("a + b*x").unwrap().fit(&data).absolute_sigma(true).run().unwrap();
    let contour = fit.contour("a", "b", Level::Probability(0.9), 24).unwrap();
    assert!(contour.notes.is_empty(), "{:?}", contour.notes);
    assert_eq!(contour.points.len(), 24);
    let threshold = -2.0 * (0.1f64).ln();
    assert!((contour.threshold - threshold).abs() < 1e-12);
    let c = &fit.covariance;
    let det = c[0] * c[3] - c[1] * c[2];
    for (a, b) in &contour.points {
        let (da, db) = (a - fit.values[0], b - fit.values[1]);
        let q = (c[3] * da * da - 2.0 * c[1] * da * db + c[0] * db * db) / det;
        assert!((q - threshold).abs() <= 1e-7 * threshold, "{q} vs {threshold}");
    }
}

#[test]
fn contours_match_iminuit_mncontour() {
    let reference = reference();
    let case = reference.cases.iter().find(|c| c.name == "decay_absolute").unwrap();
    let fit = fit(case);
    for theirs in case.mncontour.as_ref().unwrap() {
        let ours = fit.contour("a", "b", level(theirs.level), 200).unwrap();
        assert!(ours.notes.is_empty(), "{:?}", ours.notes);
        // The extents of the two 200-point polygons (sampling differs: ~1e-4 of the size).
        for axis in 0..2 {
            let extent = |points: &mut dyn Iterator<Item = f64>| {
                points.fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), v| (lo.min(v), hi.max(v)))
            };
            let ours = extent(&mut ours.points.iter().map(|p| if axis == 0 { p.0 } else { p.1 }));
            let theirs = extent(&mut theirs.points.iter().map(|p| p[axis]));
            let size = theirs.1 - theirs.0;
            assert!((ours.0 - theirs.0).abs() <= 2e-3 * size, "axis {axis} low: {ours:?} vs {theirs:?}");
            assert!((ours.1 - theirs.1).abs() <= 2e-3 * size, "axis {axis} high: {ours:?} vs {theirs:?}");
        }
    }
}
