//! The kernel IR: golden text, JSON round trips, and `verify` refusing ill-formed programs.

use expect_test::expect;
use jitfit::Model;
use jitfit::ir::{IR_VERSION, Inst, Kernel, LoadError, Outputs, ValueId, VerifyError};
use jitfit::ops::{BinaryOp, ParamId, UnaryOp, VarId};

#[test]
fn gaussian_shares_one_exp_between_f_and_every_derivative() {
    let model = Model::parse("A*exp(-(x-mu)^2/(2*s^2)) + B").unwrap();
    expect![[r#"
        kernel v1 (x) -> (A, mu, s, B)
          %0 = var x
          %1 = param A
          %2 = param mu
          %3 = param s
          %4 = param B
          %5 = mul %3 %3
          %6 = const 2.0
          %7 = mul %6 %5
          %8 = sub %0 %2
          %9 = mul %8 %8
          %10 = div %9 %7
          %11 = neg %10
          %12 = exp %11
          %13 = mul %1 %12
          %14 = add %13 %4
          %15 = mul %6 %8
          %16 = div %15 %7
          %17 = mul %12 %16
          %18 = mul %1 %17
          %19 = const 4.0
          %20 = mul %19 %3
          %21 = mul %10 %20
          %22 = div %21 %7
          %23 = mul %12 %22
          %24 = mul %1 %23
          %25 = const 1.0
          f = %14
          df/dA = %12
          df/dmu = %18
          df/ds = %24
          df/dB = %25
    "#]]
    .assert_eq(&model.kernel().to_string());
    let exps = model.kernel().insts.iter().filter(|i| matches!(i, Inst::Unary(UnaryOp::Exp, _))).count();
    assert_eq!(exps, 1);
}

#[test]
fn json_round_trip_verifies() {
    for source in ["a*exp(-b*x) + c", "log[y] = a - b*x", "a*x + 1e300*0 + min(a, x) - 0.1"] {
        let kernel = Model::parse(source).unwrap().kernel().clone();
        let back = Kernel::from_json(&kernel.to_json()).unwrap();
        assert_eq!(back, kernel);
    }
}

#[test]
fn non_finite_constants_survive_json() {
    let kernel = small(vec![Inst::Const(f64::NAN), Inst::Const(f64::NEG_INFINITY), Inst::Param(ParamId(0))], 2);
    let back = Kernel::from_json(&kernel.to_json()).unwrap();
    assert!(matches!(back.insts[0], Inst::Const(c) if c.is_nan()));
    assert_eq!(back.insts[1], Inst::Const(f64::NEG_INFINITY));
}

fn small(insts: Vec<Inst>, value: u32) -> Kernel {
    Kernel {
        version: IR_VERSION,
        var_names: vec!["x".into()],
        param_names: vec!["a".into()],
        insts,
        outputs: Outputs { value: ValueId(value), derivatives: vec![ValueId(0)], response: None },
    }
}

#[test]
fn verify_rejects_ill_formed_programs() {
    let ok = small(
        vec![Inst::Var(VarId(0)), Inst::Param(ParamId(0)), Inst::Binary(BinaryOp::Mul, ValueId(0), ValueId(1))],
        2,
    );
    assert_eq!(ok.verify(), Ok(()));

    let cases: Vec<(Kernel, VerifyError)> = vec![
        (
            small(vec![Inst::Unary(UnaryOp::Exp, ValueId(0))], 0),
            VerifyError::UseBeforeDef { at: 0, operand: ValueId(0) },
        ),
        (
            small(vec![Inst::Var(VarId(0)), Inst::Binary(BinaryOp::Add, ValueId(0), ValueId(5))], 1),
            VerifyError::UseBeforeDef { at: 1, operand: ValueId(5) },
        ),
        (small(vec![Inst::Var(VarId(3))], 0), VerifyError::BadVar { at: 0, var: 3, n_vars: 1 }),
        (small(vec![Inst::Param(ParamId(1))], 0), VerifyError::BadParam { at: 0, param: 1, n_params: 1 }),
        (small(vec![Inst::Var(VarId(0))], 7), VerifyError::BadOutput { name: "f".into(), value: ValueId(7), len: 1 }),
        (small(vec![Inst::Response], 0), VerifyError::ResponseInModel),
        (
            {
                let mut k = small(vec![Inst::Var(VarId(0))], 0);
                k.version = IR_VERSION + 1;
                k
            },
            VerifyError::Version { found: IR_VERSION + 1, expected: IR_VERSION },
        ),
        (
            {
                let mut k = small(vec![Inst::Var(VarId(0))], 0);
                k.outputs.derivatives.clear();
                k
            },
            VerifyError::DerivativeCount { found: 0, n_params: 1 },
        ),
        (
            {
                let mut k = small(vec![Inst::Var(VarId(0))], 0);
                k.param_names = vec!["x".into()];
                k
            },
            VerifyError::BadNames,
        ),
    ];
    for (kernel, expected) in cases {
        assert_eq!(kernel.verify(), Err(expected.clone()));
        // The same program, loaded from JSON, is refused too.
        assert_eq!(Kernel::from_json(&kernel.to_json()), Err(LoadError::Verify(expected)));
    }
}

#[test]
fn garbage_json_is_refused_not_trusted() {
    let good = Model::parse("a*exp(-b*x) + 2").unwrap().kernel().to_json();
    let hostile = [
        String::new(),
        "{}".to_owned(),
        good[..good.len() / 2].to_owned(),
        good.replace("\"exp\"", "\"system\""),
        good.replace("\"mul\"", "\"exp\""),
        good.replace("\"const\":\"", "\"const\":\"zz"),
        "[1, 2, 3]".to_owned(),
    ];
    for text in hostile {
        assert_ne!(text, good);
        assert!(Kernel::from_json(&text).is_err(), "accepted: {text}");
    }
}

/// Only verification makes a `VerifiedKernel`, which is all a backend accepts: an
/// out-of-range parameter id (which compiled code would read out of bounds) never gets there.
#[test]
fn backends_take_only_verified_kernels() {
    let bad = small(vec![Inst::Param(ParamId(3))], 0);
    assert_eq!(
        jitfit::ir::VerifiedKernel::new(bad.clone()).unwrap_err(),
        VerifyError::BadParam { at: 0, param: 3, n_params: 1 }
    );
    let good = small(vec![Inst::Var(VarId(0)), Inst::Param(ParamId(0))], 1);
    let verified = jitfit::ir::VerifiedKernel::new(good.clone()).unwrap();
    let kernels = jitfit::backend::cranelift::CraneliftKernels::compile(&verified).unwrap();
    let mut out = [0.0; 2];
    jitfit::backend::Kernels::predict(&kernels, &[&[1.0, 2.0]], &[5.0], &mut out).unwrap();
    assert_eq!(out, [5.0, 5.0]);
}
