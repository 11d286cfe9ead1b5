//! Errors in x (the effective variance) against scipy: `tests/data/errors_in_x/generate.py`
//! minimized the same χ² with least_squares and ran scipy.odr; no Python runs at test time.

use jitfit::{Data, Fit, compile_with_vars};
use serde::Deserialize;
use std::collections::BTreeMap;

#[derive(Deserialize)]
struct Case {
    model: String,
    params: Vec<String>,
    columns: BTreeMap<String, Vec<f64>>,
    errors_in: Vec<String>,
    effective: Reference,
    odr: Option<Reference>,
    /// A start for cases with more than one minimum.
    p0: Option<Vec<f64>>,
    /// Published values (Pearson–York).
    published: Option<Vec<f64>>,
}

#[derive(Deserialize)]
struct Reference {
    values: Vec<f64>,
    std_errors: Vec<f64>,
}

fn cases() -> BTreeMap<String, Case> {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/data/errors_in_x/reference.json");
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

/// The variables of a case: its columns that are not y or a σ.
fn vars(case: &Case) -> Vec<String> {
    case.columns.keys().filter(|c| *c != "y" && !c.starts_with("sigma")).cloned().collect()
}

fn data(case: &Case, with_x_errors: bool) -> Data {
    let mut data = Data::new().y(case.columns["y"].clone()).sigma(case.columns["sigma"].clone());
    for var in vars(case) {
        data = data.var(&var, case.columns[&var].clone());
    }
    if with_x_errors {
        for var in &case.errors_in {
            data = data.sigma_x(var, case.columns[&format!("sigma_{var}")].clone());
        }
    }
    data
}

fn fit(case: &Case, with_x_errors: bool) -> Fit {
    let model = compile_with_vars(&case.model, &vars(case)).unwrap();
    assert_eq!(model.params(), case.params);
    let data = data(case, with_x_errors);
    let mut builder = model.fit(&data);
    if let Some(p0) = &case.p0 {
        builder = builder.p0(p0);
    }
    let fit = builder.run().unwrap();
    assert!(fit.status.converged(), "{}", fit.message);
    fit
}

fn assert_close(what: &str, found: f64, expected: f64, rel: f64) {
    assert!((found - expected).abs() <= rel * expected.abs(), "{what}: {found} vs {expected} (rel {rel})");
}

#[test]
fn the_effective_variance_fit_matches_scipy_minimizing_the_same_chi_square() {
    for (name, case) in cases() {
        let fit = fit(&case, true);
        for (k, p) in case.params.iter().enumerate() {
            assert_close(&format!("{name} {p}"), fit.values[k], case.effective.values[k], 1e-7);
            assert_close(&format!("{name} σ {p}"), fit.std_errors[k], case.effective.std_errors[k], 1e-6);
        }
        // And it is not the fit without the x errors.
        let plain = self::fit(&case, false);
        let moved = (0..case.params.len()).any(|k| (plain.values[k] - fit.values[k]).abs() > 1e-3 * fit.std_errors[k]);
        assert!(moved, "{name}: σ of x changed nothing");
        assert!(fit.chi2 < plain.chi2, "{name}: the effective variance is larger than σ_y² alone");
    }
}

#[test]
fn a_straight_line_with_errors_in_x_is_scipy_odr() {
    // For a line the effective-variance χ² is ODR's objective with the true x profiled out.
    let case = &cases()["line"];
    let odr = case.odr.as_ref().unwrap();
    let fit = fit(case, true);
    for k in 0..2 {
        assert_close(&format!("line {}", case.params[k]), fit.values[k], odr.values[k], 1e-6);
    }
}

#[test]
fn pearson_york_is_the_published_line() {
    // York's (1966) weights on Pearson's (1901) points; the line of York, Reed (1992) and
    // Cantrell (2008), published to 9 digits — and scipy.odr's.
    let case = &cases()["pearson_york"];
    let fit = fit(case, true);
    let published = case.published.as_ref().unwrap();
    let odr = case.odr.as_ref().unwrap();
    for (k, published) in published.iter().enumerate() {
        assert_close(&format!("published {}", case.params[k]), fit.values[k], *published, 2e-8);
        // ODR stops 1.7e-7 (relative) from the published slope; the fit is 1.5e-8 from it.
        assert_close(&format!("odr {}", case.params[k]), fit.values[k], odr.values[k], 1e-6);
        // scipy.odr's sd_beta is scaled by χ²/dof, as curve_fit's default.
        assert_close(&format!("odr σ {}", case.params[k]), fit.std_errors[k], odr.std_errors[k], 1e-5);
    }
}

#[test]
fn a_curved_model_differs_from_odr_by_a_fraction_of_its_standard_errors() {
    // ODR estimates the true x too: a different estimator, close but not equal.
    let case = &cases()["decay"];
    let odr = case.odr.as_ref().unwrap();
    let fit = fit(case, true);
    for k in 0..3 {
        let gap = (fit.values[k] - odr.values[k]).abs() / fit.std_errors[k];
        assert!(gap < 0.2, "{}: {gap} σ from ODR", case.params[k]);
        assert!(gap > 1e-6, "{}: identical to ODR?", case.params[k]);
    }
}

#[test]
fn errors_in_x_refuse_what_they_cannot_mean() {
    let case = &cases()["line"];
    let model = compile_with_vars(&case.model, &["x"]).unwrap();
    let x = case.columns["x"].clone();
    let y = case.columns["y"].clone();
    let sx = case.columns["sigma_x"].clone();
    let message = |data: Data| model.fit(&data).run().unwrap_err().to_string();
    let no_sigma_y = Data::new().var("x", x.clone()).y(y.clone()).sigma_x("x", sx.clone());
    assert_eq!(
        message(no_sigma_y),
        "errors in x need the σ of y as well: the effective variance is σ_y² + (∂f/∂x·σ_x)² (give σ_y; a constant one too)"
    );
    let base = Data::new().var("x", x.clone()).y(y.clone()).sigma(vec![0.3; x.len()]);
    assert_eq!(
        message(base.clone().sigma_x("t", sx.clone())),
        "σ is given for `t`, which is not a variable of the model (variables: x)"
    );
    let mut negative = sx.clone();
    negative[3] = -0.1;
    assert_eq!(
        message(base.clone().sigma_x("x", negative)),
        "σ of `x` must be finite and not negative, but data row 4 has -0.1"
    );
    let fit = model.fit(&base.clone().sigma_x("x", sx)).run().unwrap();
    assert!(fit.r_squared.is_nan());
    // Residual resampling would move the points only in y.
    let refused = fit.bootstrap(10, jitfit::Resampling::Residuals, 1, &[]).unwrap_err().to_string();
    assert_eq!(
        refused,
        "residual resampling adds residuals to the curve, but with errors in x the points move in x too (resample cases)"
    );
    // The curve is the model's own f, not the effective-variance residual.
    let at = Data::new().var("x", vec![0.0, 1.0]);
    let predicted = fit.predict(&at).unwrap();
    assert_eq!(predicted, vec![fit.values[0], fit.values[0] + fit.values[1]]);
    let bands = fit.bands(&at, jitfit::Level::Sigma(1.0)).unwrap();
    assert!(bands.prediction.is_none());
    assert_eq!(
        bands.prediction_note.as_deref(),
        Some("with errors in x the noise at a point depends on σ of x there and the curve's slope: no prediction band")
    );
}

#[test]
fn profiles_and_case_bootstraps_of_an_errors_in_x_fit_run_on_its_objective() {
    let case = &cases()["decay"];
    let fit = fit(case, true);
    let profile = fit.profile(&[jitfit::Level::Sigma(1.0)]).unwrap();
    for (k, parameter) in profile.parameters.iter().enumerate() {
        let interval = &parameter.intervals[0];
        let (lower, upper) = (interval.lower.value().unwrap(), interval.upper.value().unwrap());
        // Nearly symmetric here, and about ±1 standard error wide (F-test form).
        let half = (upper - lower) / 2.0;
        assert!((half / fit.std_errors[k] - 1.0).abs() < 0.1, "{}: {half} vs {}", case.params[k], fit.std_errors[k]);
    }
    let boot = fit.bootstrap(50, jitfit::Resampling::Cases, 7, &[jitfit::Level::Sigma(1.0)]).unwrap();
    assert!(boot.failed < 5);
}
