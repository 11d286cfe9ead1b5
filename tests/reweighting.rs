//! σ that follows the fitted values (iteratively reweighted least squares): against scipy
//! (`tests/data/reweighting/generate.py`, curve_fit rounds) and against the Poisson maximum
//! likelihood, which σ = √fitted reaches at its fixed point.

use jitfit::{Data, compile};
use serde::Deserialize;

#[derive(Deserialize)]
struct Reference {
    x: Vec<f64>,
    y: Vec<f64>,
    sigma: String,
    values: Vec<f64>,
    std_errors: Vec<f64>,
}

fn reference() -> Reference {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/data/reweighting/reference.json");
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

#[test]
fn a_proportional_error_is_scipy_reweighted_to_its_fixed_point() {
    let r = reference();
    let model = compile("a*exp(-b*x) + c").unwrap();
    let data = Data::new().var("x", r.x.clone()).y(r.y.clone()).sigma_of_fit(&r.sigma);
    let fit = model.fit(&data).run().unwrap();
    let reweighting = fit.reweighting.as_ref().unwrap();
    assert!(reweighting.converged && reweighting.rounds > 2, "{reweighting:?}");
    for k in 0..3 {
        let (value, se) = (fit.values[k], fit.std_errors[k]);
        assert!((value - r.values[k]).abs() <= 1e-9 * r.values[k].abs(), "{k}: {value} vs {}", r.values[k]);
        assert!((se - r.std_errors[k]).abs() <= 1e-6 * r.std_errors[k], "{k}: σ {se} vs {}", r.std_errors[k]);
    }
    // Not the unweighted fit.
    let plain = model.fit(&Data::new().var("x", r.x.clone()).y(r.y.clone())).run().unwrap();
    assert!((plain.values[1] - fit.values[1]).abs() > 1e-3 * fit.std_errors[1]);
}

#[test]
fn sigma_root_fitted_reaches_the_poisson_maximum_likelihood() {
    // IRLS with σ² = f solves the Poisson score equations Σ (y − f)/f · ∂f/∂p = 0.
    let x: Vec<f64> = (0..40).map(|i| i as f64 * 0.15).collect();
    let counts = [
        52.0, 46.0, 45.0, 40.0, 41.0, 33.0, 35.0, 33.0, 27.0, 29.0, 24.0, 27.0, 25.0, 20.0, 22.0, 17.0, 22.0, 18.0,
        15.0, 19.0, 14.0, 17.0, 16.0, 12.0, 15.0, 13.0, 11.0, 14.0, 12.0, 10.0, 14.0, 11.0, 12.0, 9.0, 13.0, 10.0,
        11.0, 12.0, 9.0, 10.0,
    ];
    let model = compile("a*exp(-b*x) + c").unwrap();
    let base = Data::new().var("x", x).y(counts.to_vec());
    let mle = model.fit(&base).p0(&[40.0, 0.5, 10.0]).poisson().run().unwrap();
    let irls = model.fit(&base.clone().sigma_of_fit("sqrt(fitted)")).p0(&[40.0, 0.5, 10.0]).run().unwrap();
    assert!(irls.reweighting.as_ref().unwrap().converged);
    for k in 0..3 {
        assert!((irls.values[k] - mle.values[k]).abs() <= 1e-8 * mle.values[k].abs(), "{k}");
    }
}

#[test]
fn reweighting_refuses_what_it_cannot_mean() {
    let model = compile("a*x + b").unwrap();
    let x = vec![1.0, 2.0, 3.0, 4.0];
    let data = Data::new().var("x", x.clone()).y(vec![2.0, 2.9, 4.2, 4.8]);
    let message = |data: &Data| model.fit(data).run().unwrap_err().to_string();
    assert_eq!(
        message(&data.clone().sigma(vec![1.0; 4]).sigma_of_fit("0.1*fitted")),
        "σ is given twice: as a column and as an expression of the fitted values"
    );
    assert_eq!(
        message(&data.clone().sigma_of_fit("fitted - 3")),
        "σ = fitted - 3 is -0.98 at data row 1 (fitted value 2.02): σ must be positive and finite"
    );
    assert_eq!(
        message(&data.clone().var("fitted", x).sigma_of_fit("fitted")),
        "`fitted` names the model's value in a σ expression, but the data have a column of that name"
    );
}
