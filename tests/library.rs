//! The model library against lmfit's lineshapes (`tests/data/library/generate.py`): each
//! function through the reference evaluator of the text, the interpreter of its kernel and the
//! compiled kernel, and its derivatives against finite differences.

use jitfit::syntax::library::LIBRARY;
use jitfit::syntax::{eval_ast, parse};
use jitfit::{Data, Model, compile_with_vars};
use serde::Deserialize;
use std::collections::HashMap;

#[derive(Deserialize)]
struct Reference {
    cases: Vec<Case>,
}

#[derive(Deserialize)]
struct Case {
    name: String,
    args: Vec<f64>,
    x: Vec<f64>,
    y: Option<Vec<f64>>,
    values: Vec<f64>,
}

fn reference() -> Reference {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/data/library/reference.json");
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

/// `name(x, p0, p1, …)` (or `name(x, y, p0, …)`), its variables and parameters.
fn call_text(case: &Case) -> (String, Vec<&'static str>, Vec<String>) {
    let vars: Vec<&str> = if case.y.is_some() { vec!["x", "y"] } else { vec!["x"] };
    let params: Vec<String> = (0..case.args.len()).map(|k| format!("p{k}")).collect();
    if case.args.len() == 1 && LIBRARY.iter().any(|f| f.name == case.name && f.args.len() == vars.len()) {
        // A function of the variable alone (erfcx): fitted as p0·f(x), p0 = 1.
        return (format!("p0*{}({})", case.name, vars.join(", ")), vars, params);
    }
    let arguments: Vec<&str> = vars.iter().copied().chain(params.iter().map(String::as_str)).collect();
    let text = format!("{}({})", case.name, arguments.join(", "));
    (text, vars, params)
}

fn close(found: f64, expected: f64, what: &str) {
    assert!((found - expected).abs() <= 1e-13 * expected.abs().max(1e-300), "{what}: {found} vs {expected}");
}

#[test]
fn every_library_function_has_a_reference_and_is_closed() {
    let reference = reference();
    for function in LIBRARY {
        assert!(reference.cases.iter().any(|c| c.name == function.name), "no reference for {}", function.name);
        // Closed: the body's free names are its arguments (and constants).
        let body = parse(function.body).unwrap();
        for name in body.rhs_names() {
            assert!(function.args.contains(&name.as_str()), "{}: `{name}` is not an argument", function.name);
        }
        assert!(jitfit::syntax::lookup_function(function.name).is_none(), "{} shadows a function", function.name);
    }
}

#[test]
fn library_functions_match_lmfit() {
    for case in reference().cases {
        let (text, vars, params) = call_text(&case);
        let model = Model::parse_with_vars(&text, &vars).unwrap();
        assert_eq!(model.params(), params, "{text}");
        let ast = parse(&text).unwrap();
        let compiled = compile_with_vars(&text, &vars).unwrap();
        let mut data = Data::new().var("x", case.x.clone());
        if let Some(y) = &case.y {
            data = data.var("y", y.clone());
        }
        let predicted = compiled.predict(&data, &case.args).unwrap();
        let kernel = model.kernel();
        let mut interpreter = jitfit::ir::Interpreter::new(kernel);
        for (i, expected) in case.values.iter().enumerate() {
            let mut point = vec![case.x[i]];
            let mut values: HashMap<String, f64> = params.iter().cloned().zip(case.args.iter().copied()).collect();
            values.insert("x".into(), case.x[i]);
            if let Some(y) = &case.y {
                point.push(y[i]);
                values.insert("y".into(), y[i]);
            }
            close(eval_ast(&ast, &values).unwrap(), *expected, &format!("{text} text at {i}"));
            let out = interpreter.eval_point(&point, f64::NAN, &case.args);
            close(out[kernel.outputs.value.index()], *expected, &format!("{text} interpreter at {i}"));
            close(predicted[i], *expected, &format!("{text} compiled at {i}"));
            // Each exact derivative against a central difference.
            for (k, d) in kernel.outputs.derivatives.iter().enumerate() {
                let h = 1e-6 * case.args[k].abs().max(1e-3);
                let (mut up, mut down) = (case.args.clone(), case.args.clone());
                up[k] += h;
                down[k] -= h;
                let mut f = |p: &[f64]| interpreter.eval_point(&point, f64::NAN, p)[kernel.outputs.value.index()];
                let fd = (f(&up) - f(&down)) / (2.0 * h);
                let exact = interpreter.eval_point(&point, f64::NAN, &case.args)[d.index()];
                // The difference's own rounding: a few ε of f over h (a large f with a small
                // derivative, x^7 at x = 4.5 against ∂/∂c0 = 1).
                let rounding = 4.0 * f64::EPSILON * expected.abs() / h;
                assert!(
                    (exact - fd).abs() <= 1e-6 * (exact.abs() + fd.abs()) + 1e-9 + rounding,
                    "{text} ∂/∂p{k} at {i}: {exact} vs {fd}"
                );
            }
        }
    }
}

#[test]
fn a_model_of_library_peaks_fits_and_a_definition_shadows_the_library() {
    let x: Vec<f64> = (0..300).map(|i| -5.0 + 10.0 * i as f64 / 299.0).collect();
    let truth = |x: f64| {
        let g = 3.0 / (0.6 * (2.0 * std::f64::consts::PI).sqrt()) * (-(x + 1.5f64).powi(2) / 0.72).exp();
        let l = 2.0 / (std::f64::consts::PI * 0.4) / (1.0 + ((x - 1.0) / 0.4).powi(2));
        g + l + 0.2
    };
    let y: Vec<f64> = x.iter().enumerate().map(|(i, x)| truth(*x) + 0.002 * ((i * 7 % 11) as f64 - 5.0)).collect();
    let data = Data::new().var("x", x).y(y);
    let model = jitfit::compile("gaussian(x, A1, c1, s1) + lorentzian(x, A2, c2, s2) + b").unwrap();
    let fit = model.fit(&data).p0(&[2.0, -1.2, 0.5, 1.5, 0.8, 0.5, 0.0]).run().unwrap();
    assert!(fit.status.converged());
    for (k, truth) in [3.0, -1.5, 0.6, 2.0, 1.0, 0.4, 0.2].iter().enumerate() {
        assert!((fit.values[k] - truth).abs() < 0.01, "{}: {}", fit.param_names[k], fit.values[k]);
    }
    // The model's own `gaussian` (unnormalized) takes precedence over the library's.
    let own = Model::parse("gaussian(x, h, c, w) = h*exp(-(x-c)^2/(2*w^2)); gaussian(x, h1, c1, w1)").unwrap();
    let lib = Model::parse("gaussian(x, h1, c1, w1)").unwrap();
    assert_ne!(own.value_text(), lib.value_text());
    assert_eq!(own.value_text(), Model::parse("h1*exp(-(x-c1)^2/(2*w1^2))").unwrap().value_text());
}
