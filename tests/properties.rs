//! Property tests over random models:
//! - the IR interpreter agrees with direct evaluation of the syntax tree;
//! - every derivative agrees with a Richardson-extrapolated central difference where the
//!   model is smooth;
//! - every rewrite rule evaluates equal on both sides;
//! - no input text makes the front end panic.

use jitfit::ir::Interpreter;
use jitfit::ops::{BinaryOp, UnaryOp};
use jitfit::syntax::{eval_ast, parse};
use jitfit::{Model, ModelOptions, Names};
use proptest::prelude::*;
use std::collections::HashMap;

use crate::support::models::{PARAMS, body, model_text};

fn point() -> impl Strategy<Value = (f64, [f64; 3])> {
    (-3.0..3.0f64, -2.0..2.0f64, -2.0..2.0f64, 0.1..3.0f64).prop_map(|(x, a, b, c)| (x, [a, b, c]))
}

fn values(x: f64, p: &[f64; 3]) -> HashMap<String, f64> {
    let mut m: HashMap<String, f64> = PARAMS.iter().map(|n| n.to_string()).zip(p.iter().copied()).collect();
    m.insert("x".into(), x);
    m
}

fn build(text: &str) -> Model {
    let names = Names { vars: vec!["x".into()], params: Some(PARAMS.iter().map(|s| s.to_string()).collect()) };
    Model::parse_with(text, &ModelOptions { names, ..Default::default() }).unwrap_or_else(|e| panic!("{e}"))
}

fn close(a: f64, b: f64, rel: f64) -> bool {
    (a.is_nan() && b.is_nan()) || a == b || (a - b).abs() <= rel * a.abs().max(b.abs()).max(1.0)
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    #[test]
    fn interpreter_agrees_with_the_syntax_tree(body in body(), (x, p) in point()) {
        let text = model_text(&body);
        let model = build(&text);
        let direct = eval_ast(&parse(&text).unwrap(), &values(x, &p)).unwrap();
        let ir = Interpreter::new(model.kernel()).value(&[x], &p);
        // Simplification may reorder a constant product or turn x^2 into x*x: a few ulps,
        // amplified at most by cancellation in the rest of the model.
        if direct.is_finite() && direct.abs() < 1e8 {
            prop_assert!(close(ir, direct, 1e-9), "{text}\n at x={x}, p={p:?}: ir {ir:e} vs direct {direct:e}");
        } else if direct.is_nan() {
            prop_assert!(ir.is_nan(), "{text}\n at x={x}, p={p:?}: ir {ir:e} but direct is NaN");
        }
    }

    #[test]
    fn derivatives_agree_with_finite_differences(body in body(), (x, p) in point()) {
        let text = model_text(&body);
        let model = build(&text);
        let ast = parse(&text).unwrap();
        let mut interp = Interpreter::new(model.kernel());
        let kernel = model.kernel().clone();
        let all = interp.eval_point(&[x], f64::NAN, &p).to_vec();
        for k in 0..3 {
            let analytic = all[kernel.outputs.derivatives[k].index()];
            let f = |h: f64| {
                let mut q = p;
                q[k] += h;
                eval_ast(&ast, &values(x, &q)).unwrap()
            };
            let h = 1e-4 * (1.0 + p[k].abs());
            let d1 = (f(h) - f(-h)) / (2.0 * h);
            let d2 = (f(h / 2.0) - f(-h / 2.0)) / h;
            let samples = [f(0.0), f(h), f(-h), f(h / 2.0), f(-h / 2.0)];
            // Only where the model is smooth and tame around the point.
            if samples.iter().any(|v| !v.is_finite() || v.abs() > 1e6) || !analytic.is_finite() {
                continue;
            }
            if (d1 - d2).abs() > 1e-3 * (1.0 + d2.abs()) {
                continue;
            }
            let richardson = (4.0 * d2 - d1) / 3.0;
            prop_assert!(
                (analytic - richardson).abs() <= 1e-5 * (1.0 + richardson.abs()),
                "{text}\n d/d{} at x={x}, p={p:?}: analytic {analytic:e} vs finite difference {richardson:e}",
                PARAMS[k]
            );
        }
    }

    #[test]
    fn no_text_makes_the_front_end_panic(text in "[-+*/^()\\[\\],;=a-z0-9 .\n#]{0,60}") {
        let _ = Model::parse(&text);
    }

    #[test]
    fn no_model_shaped_text_makes_the_front_end_panic(body in body(), cut in 0usize..200, junk in "[-+*/^()\\[\\],;= ]{0,3}") {
        let mut text = model_text(&body);
        let cut = cut.min(text.len());
        text.insert_str(cut, &junk);
        let _ = Model::parse(&text);
    }
}

/// Evaluates an egg pattern such as `(add ?a (neg ?b))` with values for its variables.
fn eval_pattern(pattern: &str, env: &HashMap<&str, f64>) -> f64 {
    let tokens: Vec<String> =
        pattern.replace('(', " ( ").replace(')', " ) ").split_whitespace().map(str::to_owned).collect();
    let mut pos = 0;
    fn go(tokens: &[String], pos: &mut usize, env: &HashMap<&str, f64>) -> f64 {
        let t = &tokens[*pos];
        *pos += 1;
        if t != "(" {
            return env.get(t.as_str()).copied().unwrap_or_else(|| t.parse().expect("a number"));
        }
        let op = tokens[*pos].clone();
        *pos += 1;
        let mut args = Vec::new();
        while tokens[*pos] != ")" {
            args.push(go(tokens, pos, env));
        }
        *pos += 1;
        match args.as_slice() {
            [a] => UnaryOp::ALL.iter().find(|u| u.name() == op).unwrap().eval(*a),
            [a, b] => BinaryOp::ALL.iter().find(|u| u.name() == op).unwrap().eval(*a, *b),
            _ => panic!("bad pattern"),
        }
    }
    go(&tokens, &mut pos, env)
}

proptest! {
    /// Both sides of every rewrite rule agree at random points and at ±0, ±∞ and NaN (to
    /// rounding: constant products are reassociated), NaN where both are NaN, and zeros of
    /// the same sign.
    #[test]
    fn every_rewrite_rule_is_sound(a in -1e3..1e3f64, b in -1e3..1e3f64, c in -10.0..10.0f64, d in -10.0..10.0f64,
                                   special in prop::sample::select(vec![0.0, -0.0, 1.0, -1.0, 2.0, 0.5, f64::INFINITY, f64::NEG_INFINITY, f64::NAN])) {
        let rules = jitfit::symbolic::rule_sides();
        assert!(rules.len() >= 18);
        for env_values in [[a, b, c, d], [special, b, special, d], [a, special, c, special], [special, special, c, d]] {
            let env: HashMap<&str, f64> = ["?a", "?b", "?c", "?d"].into_iter().zip(env_values).collect();
            for (name, lhs, rhs) in &rules {
                let (l, r) = (eval_pattern(lhs, &env), eval_pattern(rhs, &env));
                prop_assert!(close(l, r, 1e-14), "rule {name}: {lhs} = {l:e} but {rhs} = {r:e} at {env:?}");
                // The sign of a zero too: atan2 and 1/x turn it into π or ∞.
                prop_assert!(l != 0.0 || l.to_bits() == r.to_bits(), "rule {name}: {lhs} = {l:e} but {rhs} = {r:e} at {env:?}");
            }
        }
    }
}

/// The rule test above can fail: an unsound rule is caught.
#[test]
fn an_unsound_rule_would_be_caught() {
    let env: HashMap<&str, f64> = [("?a", 0.0)].into_iter().collect();
    let lhs = eval_pattern("(div ?a ?a)", &env);
    assert!(!close(lhs, 1.0, 1e-14), "x/x -> 1 is unsound at x = 0");
    // -(a - b) -> b - a flips the sign of a zero at a = b; the rule test compares signs.
    let env: HashMap<&str, f64> = [("?a", 1.0), ("?b", 1.0)].into_iter().collect();
    let (l, r) = (eval_pattern("(neg (sub ?a ?b))", &env), eval_pattern("(sub ?b ?a)", &env));
    assert!(close(l, r, 1e-14) && l.to_bits() != r.to_bits());
}
