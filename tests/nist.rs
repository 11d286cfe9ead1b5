//! The 27 NIST StRD model lines, as written in the files, parse and resolve to the file's
//! parameters, in order; the kernel evaluates the certified model to the certified residual
//! sum of squares.

use crate::support::nist::all_problems;
use jitfit::ir::Interpreter;
use jitfit::{Model, ModelOptions, Names};

#[test]
fn all_27_models_parse_with_their_parameters() {
    let problems = all_problems();
    assert_eq!(problems.len(), 27);
    for p in &problems {
        let options = ModelOptions { names: Names { vars: p.vars.clone(), params: None }, ..Default::default() };
        let model = Model::parse_with(&p.model, &options).unwrap_or_else(|e| panic!("{}:\n{e}", p.name));
        // Free names become parameters in order of first appearance (ENSO writes b5 before b4).
        let mut found = model.params().to_vec();
        found.sort_by_key(|b| b[1..].parse::<u32>().unwrap());
        assert_eq!(found, p.params, "{}", p.name);
        // With the file's list, the kernel's parameters come in the file's order.
        let listed = ModelOptions {
            names: Names { vars: p.vars.clone(), params: Some(p.params.clone()) },
            ..Default::default()
        };
        assert_eq!(Model::parse_with(&p.model, &listed).unwrap().params(), p.params.as_slice());
        assert_eq!(model.response_name(), Some("y"), "{}", p.name);
        assert_eq!(model.transforms_response(), p.name == "Nelson", "{}", p.name);
    }
}

/// At the certified parameters, Σ (t(y) - f)² is the certified residual sum of squares (to the
/// digits NIST prints): the kernel computes the NIST model, response transform included.
#[test]
fn kernels_reproduce_certified_residual_sums_of_squares() {
    for p in all_problems() {
        let names = Names { vars: p.vars.clone(), params: Some(p.params.clone()) };
        let options = ModelOptions { names, ..Default::default() };
        let model = Model::parse_with(&p.model, &options).unwrap();
        let text = std::fs::read_to_string(crate::support::nist::nist_dir().join(format!("{}.dat", p.name))).unwrap();
        let certified_rss: f64 = text
            .lines()
            .find(|l| l.starts_with("Residual Sum of Squares:"))
            .and_then(|l| l.split_whitespace().last())
            .unwrap()
            .parse()
            .unwrap();
        let y: Vec<f64> = p.rows.iter().map(|r| r[0]).collect();
        let columns: Vec<Vec<f64>> = (0..p.vars.len()).map(|k| p.rows.iter().map(|r| r[k + 1]).collect()).collect();
        let column_refs: Vec<&[f64]> = columns.iter().map(Vec::as_slice).collect();
        let mut interp = Interpreter::new(model.kernel());
        let batch = interp.eval_batch(&column_refs, Some(&y), &p.certified);
        let target = batch.response.clone().unwrap_or(y);
        let rss: f64 = target.iter().zip(&batch.value).map(|(t, f)| (t - f).powi(2)).sum();
        // The certified parameters are printed to 11 digits, which limits how well they
        // reproduce a near-zero RSS (Lanczos1: 1.4e-25): allow that floor.
        let floor = 1e-16 * target.iter().map(|t| t * t).sum::<f64>();
        let error = (rss - certified_rss).abs();
        assert!(error <= 1e-6 * certified_rss + floor, "{}: rss {rss:e} vs certified {certified_rss:e}", p.name);
    }
}
