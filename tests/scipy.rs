//! Parity with scipy's `least_squares(method="trf")` on bounded and robust-loss problems.
//! The reference numbers come from `tests/data/scipy/generate.py` (scipy 1.17), stored in
//! `reference.json`; no Python runs at test time.

use jitfit::solve::{Loss, Method};
use jitfit::{Data, compile};
use serde::Deserialize;

#[derive(Deserialize)]
struct Reference {
    problems: Vec<ReferenceProblem>,
}

#[derive(Deserialize)]
struct ReferenceProblem {
    name: String,
    model: String,
    x: Vec<f64>,
    y: Vec<f64>,
    p0: Vec<f64>,
    lower: Vec<f64>,
    upper: Vec<f64>,
    loss: String,
    f_scale: f64,
    solution: Vec<f64>,
    cost: f64,
    active_mask: Vec<i8>,
}

fn infinite(v: &[f64]) -> Vec<f64> {
    v.iter().map(|v| if v.abs() >= 1e308 { v.signum() * f64::INFINITY } else { *v }).collect()
}

#[test]
fn trf_matches_scipy_on_bounded_and_robust_problems() {
    let text =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/data/scipy/reference.json")).unwrap();
    let reference: Reference = serde_json::from_str(&text).unwrap();
    assert_eq!(reference.problems.len(), 7);
    for p in reference.problems {
        let model = compile(&p.model).unwrap();
        let data = Data::new().var("x", p.x.clone()).y(p.y.clone());
        let loss = Loss::from_name(&p.loss).unwrap();
        let fit = model
            .fit(&data)
            .p0(&p.p0)
            .bounds(&infinite(&p.lower), &infinite(&p.upper))
            .loss(loss, p.f_scale)
            .method(Method::Trf)
            .run()
            .unwrap();
        assert!(fit.status.converged(), "{}: {:?}", p.name, fit.status);
        for (k, (ours, theirs)) in fit.values.iter().zip(&p.solution).enumerate() {
            let rel = (ours - theirs).abs() / theirs.abs().max(1e-3);
            assert!(rel < 1e-7, "{} parameter {k}: jitfit {ours} vs scipy {theirs}", p.name);
        }
        assert!((fit.cost - p.cost).abs() <= 1e-10 * p.cost, "{}: cost {} vs {}", p.name, fit.cost, p.cost);
        assert_eq!(fit.active_mask, p.active_mask, "{}", p.name);
    }
}
