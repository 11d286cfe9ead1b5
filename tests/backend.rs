//! Every backend against the reference interpreter: random models (proptest) and the NIST
//! corpus, all three kernels, bit for bit.

use crate::support::models::{PARAMS, body, model_text};
use crate::support::nist::all_problems;
use jitfit::backend::cranelift::CraneliftKernels;
use jitfit::backend::{BackendError, Chunk, InterpreterKernels, Kernels, NormalEquations};
use jitfit::loss::{Loss, LossSpec};
use jitfit::solve::PointSums;
use jitfit::{Model, ModelOptions, Names};
use proptest::prelude::*;

fn same(a: f64, b: f64) -> bool {
    a.to_bits() == b.to_bits() || (a.is_nan() && b.is_nan())
}

fn assert_same(what: &str, a: &[f64], b: &[f64]) {
    assert_eq!(a.len(), b.len(), "{what}: lengths");
    for (i, (x, y)) in a.iter().zip(b).enumerate() {
        assert!(same(*x, *y), "{what}[{i}]: compiled {x:e} vs interpreter {y:e}");
    }
}

/// Runs all three kernels of both backends on one chunk and compares them bit for bit.
fn compare(reference: &dyn Kernels, compiled: &dyn Kernels, chunk: &Chunk<'_>, params: &[f64]) {
    let (n, p) = (chunk.len(), params.len());
    let (mut f1, mut f2) = (vec![0.0; n], vec![0.0; n]);
    reference.predict(chunk.vars, params, &mut f1).unwrap();
    compiled.predict(chunk.vars, params, &mut f2).unwrap();
    assert_same("predict", &f2, &f1);

    let (mut r1, mut j1, mut r2, mut j2) = (vec![0.0; n], vec![0.0; n * p], vec![0.0; n], vec![0.0; n * p]);
    reference.residual_jacobian(chunk, params, &mut r1, &mut j1).unwrap();
    compiled.residual_jacobian(chunk, params, &mut r2, &mut j2).unwrap();
    assert_same("residuals", &r2, &r1);
    assert_same("jacobian", &j2, &j1);
    // The residual-only kernels give the same residuals.
    let (mut q1, mut q2) = (vec![0.0; n], vec![0.0; n]);
    reference.residuals(chunk, params, &mut q1).unwrap();
    compiled.residuals(chunk, params, &mut q2).unwrap();
    assert_same("residuals alone (interpreter)", &q1, &r1);
    assert_same("residuals alone (compiled)", &q2, &r2);

    let (mut a1, mut a2) = (NormalEquations::zeros(p), NormalEquations::zeros(p));
    reference.normal_equations(chunk, params, &mut a1).unwrap();
    compiled.normal_equations(chunk, params, &mut a2).unwrap();
    assert_same("JᵀJ", &a2.jtj, &a1.jtj);
    assert_same("Jᵀr", &a2.jtr, &a1.jtr);
    assert!(same(a2.rss, a1.rss), "Σr²: {} vs {}", a2.rss, a1.rss);

    // normal_equations equals JᵀJ/Jᵀr formed from residual_jacobian.
    let mut formed = NormalEquations::zeros(p);
    let mut sums = PointSums::new(p);
    for i in 0..n {
        sums.add_point(r2[i], &j2[i * p..(i + 1) * p]);
    }
    sums.add_to(&mut formed);
    assert_same("JᵀJ from J", &a2.jtj, &formed.jtj);
    assert_same("Jᵀr from J", &a2.jtr, &formed.jtr);

    // Under every robust loss: both backends, and the dense path's own scaling, agree.
    for loss in [Loss::SoftL1, Loss::Huber, Loss::Cauchy, Loss::Arctan] {
        let spec = LossSpec { loss, f_scale: 0.5 };
        let (mut b1, mut b2) = (NormalEquations::zeros(p), NormalEquations::zeros(p));
        reference.robust_normal_equations(chunk, params, spec, &mut b1).unwrap();
        compiled.robust_normal_equations(chunk, params, spec, &mut b2).unwrap();
        assert_same("robust JᵀJ", &b2.jtj, &b1.jtj);
        assert_same("robust Jᵀr", &b2.jtr, &b1.jtr);
        assert!(same(b2.rss, b1.rss), "robust cost {} vs {}", b2.rss, b1.rss);
        let c1 = reference.robust_cost(chunk, params, spec).unwrap();
        let c2 = compiled.robust_cost(chunk, params, spec).unwrap();
        assert!(same(c1, c2) && same(c2, b2.rss), "{loss:?}: robust cost {c1} {c2} {}", b2.rss);
        let (mut r, mut j) = (r2.clone(), j2.clone());
        loss.scale(&mut r, &mut j, p, 0.5);
        let mut dense = NormalEquations::zeros(p);
        let mut sums = PointSums::new(p);
        for i in 0..n {
            sums.add_point_with_cost(r[i], &j[i * p..(i + 1) * p], loss.point(r2[i], 0.25).0);
        }
        sums.add_to(&mut dense);
        assert_same("robust JᵀJ from the dense scaling", &b2.jtj, &dense.jtj);
        assert_same("robust Jᵀr from the dense scaling", &b2.jtr, &dense.jtr);
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 200, ..ProptestConfig::default() })]

    #[test]
    fn compiled_kernels_match_the_interpreter(
        body in body(),
        xs in prop::collection::vec(-3.0..3.0f64, 0..40),
        params in prop::array::uniform3(-2.0..2.0f64),
        weighted in any::<bool>(),
    ) {
        let text = model_text(&body);
        let names = Names { vars: vec!["x".into()], params: Some(PARAMS.iter().map(|s| s.to_string()).collect()) };
        let model = Model::parse_with(&text, &ModelOptions { names, ..Default::default() }).unwrap();
        let reference = InterpreterKernels::new(model.kernel().clone());
        let compiled = CraneliftKernels::compile(model.kernel()).unwrap();
        let y: Vec<f64> = xs.iter().map(|x| x.sin()).collect();
        let w: Vec<f64> = xs.iter().map(|x| 1.0 + x.abs()).collect();
        let vars: [&[f64]; 1] = [&xs];
        let chunk = Chunk { vars: &vars, y: &y, weights: weighted.then_some(w.as_slice()) };
        compare(&reference, &compiled, &chunk, &params);
        // The streaming kernels without weights (their own compiled variant) are the weighted
        // ones with every weight 1, bit for bit, side by side in one model.
        let ones = vec![1.0; xs.len()];
        let (unweighted, all_ones) = (Chunk { weights: None, ..chunk }, Chunk { weights: Some(&ones), ..chunk });
        let (mut a1, mut a2) = (NormalEquations::zeros(3), NormalEquations::zeros(3));
        compiled.normal_equations(&unweighted, &params, &mut a1).unwrap();
        compiled.normal_equations(&all_ones, &params, &mut a2).unwrap();
        assert_same("JᵀJ, w = 1", &a1.jtj, &a2.jtj);
        assert_same("Jᵀr, w = 1", &a1.jtr, &a2.jtr);
        let (s1, s2) = (compiled.sum_of_squares(&unweighted, &params).unwrap(), compiled.sum_of_squares(&all_ones, &params).unwrap());
        prop_assert!(same(s1, s2) && same(a1.rss, a2.rss), "Σr² {s1} {s2} {} {}", a1.rss, a2.rss);
    }
}

#[test]
fn nist_corpus_compiled_matches_the_interpreter() {
    for p in all_problems() {
        let names = Names { vars: p.vars.clone(), params: Some(p.params.clone()) };
        let model = Model::parse_with(&p.model, &ModelOptions { names, ..Default::default() }).unwrap();
        let reference = InterpreterKernels::new(model.kernel().clone());
        let compiled = CraneliftKernels::compile(model.kernel()).unwrap();
        let y: Vec<f64> = p.rows.iter().map(|r| r[0]).collect();
        let columns: Vec<Vec<f64>> = (0..p.vars.len()).map(|k| p.rows.iter().map(|r| r[k + 1]).collect()).collect();
        let vars: Vec<&[f64]> = columns.iter().map(Vec::as_slice).collect();
        for params in [&p.start1, &p.start2, &p.certified] {
            compare(&reference, &compiled, &Chunk { vars: &vars, y: &y, weights: None }, params);
        }
    }
}

#[test]
fn kernels_refuse_wrong_shapes() {
    let model = Model::parse("a*exp(-b*x)").unwrap();
    let compiled = CraneliftKernels::compile(model.kernel()).unwrap();
    let x = [1.0, 2.0];
    let mut out = [0.0; 3];
    let err = compiled.predict(&[&x], &[1.0, 2.0], &mut out).unwrap_err();
    assert_eq!(err, BackendError::Shape { what: "points in a variable column", expected: 3, found: 2 });
    let err = compiled.predict(&[&x], &[1.0], &mut out[..2]).unwrap_err();
    assert_eq!(err, BackendError::Shape { what: "parameters", expected: 2, found: 1 });
    let y = [1.0, 2.0];
    let chunk = Chunk { vars: &[&x], y: &y, weights: Some(&[1.0]) };
    let mut acc = NormalEquations::zeros(2);
    assert!(compiled.normal_equations(&chunk, &[1.0, 1.0], &mut acc).is_err());
    let mut r = [0.0; 2];
    let mut j = [0.0; 3];
    let chunk = Chunk { vars: &[&x], y: &y, weights: None };
    assert!(compiled.residual_jacobian(&chunk, &[1.0, 1.0], &mut r, &mut j).is_err());
}

#[test]
fn kernels_run_from_many_threads_at_once() {
    let model = Model::parse("A*exp(-(x-mu)^2/(2*s^2)) + B").unwrap();
    let compiled = std::sync::Arc::new(CraneliftKernels::compile(model.kernel()).unwrap());
    let xs: Vec<f64> = (0..1000).map(|i| i as f64 / 100.0).collect();
    let params = [2.0, 5.0, 1.5, 0.1];
    let mut expected = vec![0.0; xs.len()];
    compiled.predict(&[&xs], &params, &mut expected).unwrap();
    std::thread::scope(|s| {
        for _ in 0..8 {
            s.spawn(|| {
                for _ in 0..50 {
                    let mut out = vec![0.0; xs.len()];
                    compiled.predict(&[&xs], &params, &mut out).unwrap();
                    assert_eq!(out, expected);
                }
            });
        }
    });
}

#[test]
fn a_transformed_response_is_fitted_on_its_scale() {
    // log[y] = a*x: the residual is a*x - log(y).
    let model = Model::parse("log[y] = a*x").unwrap();
    let compiled = CraneliftKernels::compile(model.kernel()).unwrap();
    let (x, y) = ([1.0, 2.0], [std::f64::consts::E, 1.0]);
    let (mut r, mut j) = ([0.0; 2], [0.0; 2]);
    compiled.residual_jacobian(&Chunk { vars: &[&x], y: &y, weights: None }, &[3.0], &mut r, &mut j).unwrap();
    assert_eq!(r, [3.0 - 1.0, 6.0 - 0.0]);
    assert_eq!(j, [1.0, 2.0]);
}

/// d(x^b)/db = x^b·ln(x) is 0 at x = 0, not 0·(-inf) = NaN: data often start at x = 0.
#[test]
fn power_law_jacobian_is_finite_at_zero() {
    let model = Model::parse("a*x^b").unwrap();
    let compiled = CraneliftKernels::compile(model.kernel()).unwrap();
    let reference = InterpreterKernels::new(model.kernel().clone());
    let (x, y) = ([0.0, 1.0, 2.0], [0.0, 1.0, 3.0]);
    let (mut r, mut j) = ([0.0; 3], [0.0; 6]);
    let chunk = Chunk { vars: &[&x], y: &y, weights: None };
    compiled.residual_jacobian(&chunk, &[1.5, 1.2], &mut r, &mut j).unwrap();
    assert_eq!(&j[..2], &[0.0, 0.0]);
    assert!(j.iter().all(|v| v.is_finite()), "{j:?}");
    compare(&reference, &compiled, &chunk, &[1.5, 1.2]);
}

/// Past the fused normal-equations kernel's parameter count (FUSED_MAX_PARAMS: JᵀJ from
/// blocks of J rows) and past the sizes compiled for compile time (FAST_COMPILE_INSTRUCTIONS:
/// no optimizer, the single-pass register allocator, a model too large to simplify), the
/// kernels still equal the interpreter bit for bit.
#[test]
fn large_models_compile_fast_and_still_match_the_interpreter() {
    use jitfit::backend::cranelift::{FAST_COMPILE_INSTRUCTIONS, FUSED_MAX_PARAMS};
    let peaks: Vec<String> =
        (0..FUSED_MAX_PARAMS + 6).map(|k| format!("p{k}*exp(-(x - {})^2)", k as f64 / 10.0)).collect();
    let product: Vec<String> = (0..250).map(|k| format!("p{k}")).collect();
    // The last: sin and cos, whose arguments cross the limit of jitfit's own reduction
    // (4e5·x passes 1.6e6 at x = 4): the branch to the shim, in a kernel built without the
    // optimizer.
    for text in [peaks.join(" + "), product.join("*") + "*x", product.join("*") + "*sin(x)*cos(x*4e5)"] {
        let model = Model::parse_with_vars(&text, &["x"]).unwrap();
        let reference = InterpreterKernels::new(model.kernel().clone());
        let compiled = CraneliftKernels::compile(model.kernel()).unwrap();
        let xs: Vec<f64> = (0..300).map(|i| i as f64 / 40.0).collect();
        let y: Vec<f64> = xs.iter().map(|x| x.cos()).collect();
        let w: Vec<f64> = xs.iter().map(|x| 1.0 + x).collect();
        let params: Vec<f64> = (0..model.params().len()).map(|k| 1.0 + 0.001 * k as f64).collect();
        let vars: [&[f64]; 1] = [&xs];
        compare(&reference, &compiled, &Chunk { vars: &vars, y: &y, weights: Some(&w) }, &params);
    }
    let product = Model::parse_with_vars(&(product.join("*") + "*x"), &["x"]).unwrap();
    assert!(product.kernel().insts.len() > FAST_COMPILE_INSTRUCTIONS);
    assert!(product.simplify_report().skipped, "{:?}", product.simplify_report());
}

/// `exp`, `ln`, `sin` and `cos` are emitted inline (for two points at a time and one): at their
/// special arguments — overflow, subnormal results and arguments, zeros, negatives,
/// infinities, NaN, multiples of π/2, the limit of sin's own reduction — compiled code is the
/// interpreter (`ops::math`) bit for bit, in both lanes and the tail.
#[test]
fn inline_exp_ln_sin_and_cos_match_the_interpreter_at_special_arguments() {
    let special = [
        0.0,
        -0.0,
        1.0,
        -1.0,
        709.78,
        709.79,
        710.0,
        -708.5,
        -745.0,
        -745.2,
        -746.0,
        1e-310,
        -1e-310,
        5e-324,
        f64::MIN_POSITIVE,
        f64::MAX,
        -f64::MAX,
        f64::INFINITY,
        f64::NEG_INFINITY,
        f64::NAN,
        0.5,
        2.0f64.sqrt(),
        1e-20,
        3.0,
        // sin and cos: multiples of π/2 (the reduction's third round), both sides of the limit
        // of jitfit's own (1.6e6, beyond it the platform's, by a branch), huge.
        std::f64::consts::FRAC_PI_2,
        -3.0 * std::f64::consts::FRAC_PI_2,
        710.0 * std::f64::consts::PI,
        1_234_567.0 * std::f64::consts::FRAC_PI_2,
        1.599_999_9e6,
        1.6e6,
        -2e6,
        1e22,
    ];
    for text in [
        "exp(a*x) + b",
        "ln(a*x) + b",
        "xlogy(x, a*x) + b",
        "exp(ln(a*x) - x)*b",
        "sin(a*x) + b",
        "cos(a*x)*b",
        "sin(a*x)*cos(x + b)",
    ] {
        let names = Names { vars: vec!["x".into()], params: Some(vec!["a".into(), "b".into()]) };
        let model = Model::parse_with(text, &ModelOptions { names, ..Default::default() }).unwrap();
        let reference = InterpreterKernels::new(model.kernel().clone());
        let compiled = CraneliftKernels::compile(model.kernel()).unwrap();
        for len in [special.len(), special.len() - 1] {
            let xs = &special[..len];
            let y = vec![0.5; len];
            let vars: [&[f64]; 1] = [xs];
            let chunk = Chunk { vars: &vars, y: &y, weights: None };
            let (mut f1, mut f2) = (vec![0.0; len], vec![0.0; len]);
            reference.predict(chunk.vars, &[1.0, 0.0], &mut f1).unwrap();
            compiled.predict(chunk.vars, &[1.0, 0.0], &mut f2).unwrap();
            assert_same(text, &f2, &f1);
            compare(&reference, &compiled, &chunk, &[1.0, 0.25]);
        }
    }
}
