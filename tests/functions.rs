//! Functions the model defines (`G(x, A, m, w) = …`): the same model as written out by hand,
//! in every stage, and in fits.

use jitfit::syntax::{eval_ast, parse};
use jitfit::{Data, Model, compile};
use std::collections::HashMap;

const TWO_PEAKS: &str = "G(x, A, m, w) = A*exp(-(x-m)^2/(2*w^2))\nG(x, A1, m1, w1) + G(x, A2, m2, w2) + c";
const BY_HAND: &str = "A1*exp(-(x-m1)^2/(2*w1^2)) + A2*exp(-(x-m2)^2/(2*w2^2)) + c";

#[test]
fn a_function_is_its_body_with_the_arguments_bound() {
    let defined = Model::parse(TWO_PEAKS).unwrap();
    let by_hand = Model::parse(BY_HAND).unwrap();
    assert_eq!(defined.params(), ["A1", "m1", "w1", "A2", "m2", "w2", "c"]);
    assert_eq!(defined.params(), by_hand.params());
    // The same simplified value and derivatives.
    assert_eq!(defined.value_text(), by_hand.value_text());
    assert_eq!(defined.derivative_texts(), by_hand.derivative_texts());
    // And the reference evaluator of the text agrees at a point.
    let p = [2.0, -1.0, 0.5, 1.5, 1.2, 0.8, 0.1];
    let mut values: HashMap<String, f64> = defined.params().iter().cloned().zip(p).collect();
    values.insert("x".into(), 0.3);
    let direct = eval_ast(&parse(TWO_PEAKS).unwrap(), &values).unwrap();
    let hand = eval_ast(&parse(BY_HAND).unwrap(), &values).unwrap();
    assert_eq!(direct, hand);
    // The argument names are not the model's names.
    assert_eq!(parse(TWO_PEAKS).unwrap().rhs_names(), ["x", "A1", "m1", "w1", "A2", "m2", "w2", "c"]);
}

#[test]
fn a_fit_of_a_defined_function_is_the_fit_of_the_model_written_out() {
    let x: Vec<f64> = (0..200).map(|i| -4.0 + 8.0 * i as f64 / 199.0).collect();
    let y: Vec<f64> = x
        .iter()
        .enumerate()
        .map(|(i, x)| {
            2.0 * (-(x + 1.0f64).powi(2) / 0.5).exp()
                + 1.5 * (-(x - 1.2f64).powi(2) / 1.28).exp()
                + 0.1
                + 0.01 * ((i * 7 % 13) as f64 - 6.0)
        })
        .collect();
    let data = Data::new().var("x", x).y(y);
    let start = [1.5, -0.8, 0.6, 1.0, 1.0, 0.7, 0.0];
    let defined = compile(TWO_PEAKS).unwrap().fit(&data).p0(&start).run().unwrap();
    let by_hand = compile(BY_HAND).unwrap().fit(&data).p0(&start).run().unwrap();
    assert!(defined.status.converged());
    for k in 0..7 {
        assert_eq!(defined.values[k], by_hand.values[k], "{}", defined.param_names[k]);
        assert_eq!(defined.std_errors[k], by_hand.std_errors[k]);
    }
}

#[test]
fn functions_call_earlier_functions_and_see_helpers_and_shared_parameters() {
    // A width shared by every peak (a free name in the body is the model's), a helper, and a
    // function of a function.
    let text =
        "s2 = 2*w^2\nG(x, A, m) = A*exp(-(x-m)^2/s2)\nP(x, A, m) = G(x, A, m) + G(x, A/2, m + d)\nP(x, a, m1) + c";
    let hand = "a*exp(-(x-m1)^2/(2*w^2)) + a/2*exp(-(x-(m1 + d))^2/(2*w^2)) + c";
    let defined = Model::parse(text).unwrap();
    assert_eq!(defined.params(), ["w", "a", "m1", "d", "c"]);
    let mut values: HashMap<String, f64> = defined.params().iter().cloned().zip([0.7, 2.0, 0.3, 1.1, 0.05]).collect();
    for x in [-1.0, 0.0, 0.4, 2.5] {
        values.insert("x".into(), x);
        let a = eval_ast(&parse(text).unwrap(), &values).unwrap();
        let b = eval_ast(&parse(hand).unwrap(), &values).unwrap();
        assert!((a - b).abs() <= 1e-15 * b.abs(), "{a} vs {b}");
        let interp = defined.kernel();
        let mut interpreter = jitfit::ir::Interpreter::new(interp);
        let params: Vec<f64> = defined.params().iter().map(|p| values[p]).collect();
        let out = interpreter.eval_point(&[x], f64::NAN, &params);
        let v = out[interp.outputs.value.index()];
        assert!((v - b).abs() <= 1e-14 * b.abs(), "kernel {v} vs {b}");
    }
}

/// The reference evaluator and the compiled kernel agree at a point (the check every model
/// loaded from a disk cache passes).
fn agree(text: &str, values: &[(&str, f64)], x: f64) {
    let model = Model::parse(text).unwrap();
    let mut named: HashMap<String, f64> = values.iter().map(|(n, v)| (n.to_string(), *v)).collect();
    named.insert("x".into(), x);
    let direct = eval_ast(&parse(text).unwrap(), &named).unwrap();
    let params: Vec<f64> = model.params().iter().map(|p| named[p]).collect();
    let kernel = model.kernel();
    let v = jitfit::ir::Interpreter::new(kernel).eval_point(&[x], f64::NAN, &params)[kernel.outputs.value.index()];
    assert!((v - direct).abs() <= 1e-13 * direct.abs(), "{text}: kernel {v} vs text {direct}");
}

#[test]
fn the_reference_evaluator_scopes_and_orders_functions_as_the_resolver_does() {
    // A body sees its own arguments and the model's names, not its caller's arguments.
    agree("G(t) = t*k\nF(u, k) = G(u) + k\nF(x, a)", &[("k", 2.0), ("a", 3.0)], 0.7);
    // A call above a definition of the same name is the library's.
    agree(
        "h = linear(x, a, b)\nlinear(t, s, i) = s*t*t + i\nh + linear(x, c, 0)",
        &[("a", 2.0), ("b", 0.5), ("c", 1.5)],
        1.3,
    );
}

#[test]
fn a_chain_of_calls_evaluates_in_the_time_of_its_distinct_calls() {
    // Each level calls the one below twice with the same arguments: 2^30 calls unshared.
    let mut text = String::from("F0(t, a) = a*t\n");
    for i in 1..=30 {
        text += &format!("F{i}(t, a) = F{}(t, a) + F{}(t, a)\n", i - 1, i - 1);
    }
    text += "F30(x, a)*exp(-b*x) + c";
    // Unshared, this would not finish: the test would hang rather than pass.
    agree(&text, &[("a", 1e-9), ("b", 0.5), ("c", 0.1)], 0.4);
}
