//! Every generated WGSL shader passes naga's parser and validator (no GPU needed): the NIST
//! model corpus and random models from the property generator, all three kernels.

use crate::support::models::{PARAMS, body, model_text};
use crate::support::nist::all_problems;
use jitfit::backend::wgsl::{WgslKernel, write_shader};
use jitfit::{Model, ModelOptions, Names};
use proptest::prelude::*;

const KERNELS: [WgslKernel; 4] = WgslKernel::ALL;

fn validate(source: &str) -> Result<(), String> {
    validate_with(source, naga::valid::Capabilities::empty())
}

fn validate_with(source: &str, capabilities: naga::valid::Capabilities) -> Result<(), String> {
    let module = naga::front::wgsl::parse_str(source).map_err(|e| e.emit_to_string(source))?;
    naga::valid::Validator::new(naga::valid::ValidationFlags::all(), capabilities)
        .validate(&module)
        .map_err(|e| format!("{e:?}"))?;
    Ok(())
}

#[test]
fn nist_shaders_validate() {
    for p in all_problems() {
        let names = Names { vars: p.vars.clone(), params: Some(p.params.clone()) };
        let model = Model::parse_with(&p.model, &ModelOptions { names, ..Default::default() }).unwrap();
        for kernel in KERNELS {
            let shader = write_shader(model.kernel(), kernel);
            if let Err(e) = validate(&shader) {
                panic!("{} {kernel:?}:\n{e}\n{shader}", p.name);
            }
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]

    #[test]
    fn random_model_shaders_validate(body in body()) {
        let text = model_text(&body);
        let names = Names { vars: vec!["x".into()], params: Some(PARAMS.iter().map(|s| s.to_string()).collect()) };
        let model = Model::parse_with(&text, &ModelOptions { names, ..Default::default() }).unwrap();
        for kernel in KERNELS {
            let shader = write_shader(model.kernel(), kernel);
            prop_assert!(validate(&shader).is_ok(), "{text} {kernel:?}: {}\n{shader}", validate(&shader).unwrap_err());
            let f64_shader = jitfit::backend::wgsl::write_shader_in(model.kernel(), kernel, jitfit::backend::wgsl::Precision::F64);
            let check = validate_with(&f64_shader, naga::valid::Capabilities::FLOAT64);
            prop_assert!(check.is_ok(), "{text} {kernel:?} (f64): {}\n{f64_shader}", check.unwrap_err());
        }
        let batch = jitfit::backend::wgsl::write_batch_shader(model.kernel());
        prop_assert!(validate(&batch).is_ok(), "{text} (batch): {}\n{batch}", validate(&batch).unwrap_err());
    }
}

/// Models with ln|Γ| and the polygamma functions (Pearson VII's normalisation and its
/// derivatives) give valid shaders in both precisions and for the batch.
#[test]
fn gamma_function_shaders_validate() {
    for text in ["pearson7(x, A, c, s, m)", "lgamma(a*x) + b*polygamma(2, x + a) + digamma(b*x)"] {
        let model = Model::parse(text).unwrap();
        for kernel in KERNELS {
            let shader = write_shader(model.kernel(), kernel);
            assert!(validate(&shader).is_ok(), "{text} {kernel:?}: {}", validate(&shader).unwrap_err());
            let f64_shader =
                jitfit::backend::wgsl::write_shader_in(model.kernel(), kernel, jitfit::backend::wgsl::Precision::F64);
            let check = validate_with(&f64_shader, naga::valid::Capabilities::FLOAT64);
            assert!(check.is_ok(), "{text} {kernel:?} (f64): {}", check.unwrap_err());
        }
        let batch = jitfit::backend::wgsl::write_batch_shader(model.kernel());
        assert!(validate(&batch).is_ok(), "{text} (batch): {}", validate(&batch).unwrap_err());
    }
}

/// The check can fail: a shader with an unknown function or a type error is refused.
#[test]
fn validation_catches_broken_shaders() {
    let model = Model::parse("a*exp(-b*x) + c").unwrap();
    let shader = write_shader(model.kernel(), WgslKernel::Predict);
    assert!(validate(&shader).is_ok());
    assert!(validate(&shader.replace("exp(", "expp(")).is_err());
    assert!(validate(&shader.replace("params[1u]", "params[true]")).is_err());
}

/// Each prelude is valid WGSL on its own (f64 with the capability), so an error in one is
/// reported against the prelude's own lines, not a generated shader's.
#[test]
fn preludes_validate_on_their_own() {
    use jitfit::backend::wgsl::{Precision, prelude};
    validate(&prelude(Precision::F32)).unwrap_or_else(|e| panic!("f32 prelude:\n{e}"));
    validate_with(&prelude(Precision::F64), naga::valid::Capabilities::FLOAT64)
        .unwrap_or_else(|e| panic!("f64 prelude:\n{e}"));
    // Both define every function the op table calls.
    for precision in [Precision::F32, Precision::F64] {
        let text = prelude(precision);
        for f in ["exp", "log", "log10", "log2", "cbrt", "sign", "sin", "cos", "tan", "asin", "acos", "atan", "atan2"]
            .into_iter()
            .chain([
                "sinh", "cosh", "tanh", "asinh", "acosh", "atanh", "erf", "erfc", "pow", "min", "max", "less", "xlogy",
            ])
            .chain(["faddeeva_re", "faddeeva_im"])
        {
            assert!(text.contains(&format!("fn jf_{f}(")), "{precision:?} prelude lacks jf_{f}");
        }
    }
}

/// Golden text of one shader: a change to the generated WGSL must be deliberate.
#[test]
fn normal_equations_shader_golden() {
    let model = Model::parse("a*exp(-b*x)").unwrap();
    let shader = write_shader(model.kernel(), WgslKernel::NormalEquations);
    let without_prelude = shader.split("// jitfit prelude").next().unwrap().to_owned()
        + &shader[shader.find("// end of the jitfit prelude\n").unwrap() + 29..];
    expect_test::expect![[r#"
        // jitfit NormalEquations kernel (f32): 1 variables, 2 parameters.
        struct Info { n: u32, weighted: u32 }
        @group(0) @binding(0) var<storage, read> vars: array<f32>;
        @group(0) @binding(1) var<storage, read> y: array<f32>;
        @group(0) @binding(2) var<storage, read> w: array<f32>;
        @group(0) @binding(3) var<storage, read> params: array<f32>;
        @group(0) @binding(4) var<storage, read_write> result: array<f32>;
        @group(0) @binding(5) var<uniform> info: Info;
        var<workgroup> partial_sums: array<f32, 384>;

        @compute @workgroup_size(64)
        fn main(@builtin(local_invocation_id) lid: vec3<u32>, @builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) groups: vec3<u32>) {
            let group = wid.x + wid.y * groups.x;
            let zero = f32(0.0);
            let one = f32(1.0);
            var acc: array<f32, 6>;
            for (var s: u32 = 0u; s < 6u; s = s + 1u) {
                acc[s] = 0.0;
            }
            for (var t: u32 = 0u; t < 16u; t = t + 1u) {
            let i = (group * 16u + t) * 64u + lid.x;
            if (i < info.n) {
                let v0: f32 = vars[0u * info.n + i];
                let v1: f32 = params[0u];
                let v2: f32 = params[1u];
                let v3: f32 = (v2 * v0);
                let v4: f32 = -(v3);
                let v5: f32 = jf_exp(v4);
                let v6: f32 = (v1 * v5);
                let v7: f32 = (v5 * v0);
                let v8: f32 = (v1 * v7);
                let v9: f32 = -(v8);
                let r = w[i * info.weighted] * (v6 - y[i]);
                let j0 = w[i * info.weighted] * v5;
                let j1 = w[i * info.weighted] * v9;
                acc[0u] = acc[0u] + j0 * j0;
                acc[1u] = acc[1u] + j0 * j1;
                acc[2u] = acc[2u] + j0 * r;
                acc[3u] = acc[3u] + j1 * j1;
                acc[4u] = acc[4u] + j1 * r;
                acc[5u] = acc[5u] + r * r;
            }
            }
            for (var first: u32 = 0u; first < 6u; first = first + 6u) {
                for (var s: u32 = 0u; s < 6u; s = s + 1u) {
                    var v: f32 = 0.0;
                    if (first + s < 6u) {
                        v = acc[first + s];
                    }
                    partial_sums[lid.x * 6u + s] = v;
                }
                workgroupBarrier();
                for (var stride: u32 = 32u; stride > 0u; stride = stride / 2u) {
                    if (lid.x < stride) {
                        for (var s: u32 = 0u; s < 6u; s = s + 1u) {
                            partial_sums[lid.x * 6u + s] = partial_sums[lid.x * 6u + s] + partial_sums[(lid.x + stride) * 6u + s];
                        }
                    }
                    workgroupBarrier();
                }
                if (lid.x < 6u && first + lid.x < 6u) {
                    result[group * 6u + first + lid.x] = partial_sums[lid.x];
                }
                workgroupBarrier();
            }
        }
    "#]].assert_eq(&without_prelude);
}

/// The batch fit shader (the whole LM loop per thread) validates for every NIST model.
#[test]
fn batch_fit_shaders_validate() {
    for p in all_problems() {
        let names = Names { vars: p.vars.clone(), params: Some(p.params.clone()) };
        let model = Model::parse_with(&p.model, &ModelOptions { names, ..Default::default() }).unwrap();
        let shader = jitfit::backend::wgsl::write_batch_shader(model.kernel());
        if let Err(e) = validate(&shader) {
            panic!("{}:\n{e}\n{shader}", p.name);
        }
    }
}

/// f64 shaders (for devices with `SHADER_F64`) validate for every NIST model: every function
/// of the grammar has an f64 form.
#[test]
fn f64_shaders_validate() {
    use jitfit::backend::wgsl::{Precision, write_shader_in};
    for p in all_problems() {
        let names = Names { vars: p.vars.clone(), params: Some(p.params.clone()) };
        let model = Model::parse_with(&p.model, &ModelOptions { names, ..Default::default() }).unwrap();
        for kernel in KERNELS {
            let shader = write_shader_in(model.kernel(), kernel, Precision::F64);
            if let Err(e) = validate_with(&shader, naga::valid::Capabilities::FLOAT64) {
                panic!("{} {kernel:?}:\n{e}\n{shader}", p.name);
            }
        }
    }
}

/// The Faddeeva lineshapes (voigt, expgaussian with erfcx) compile to valid shaders in both
/// precisions, every kernel.
#[test]
fn faddeeva_shaders_validate() {
    use jitfit::backend::wgsl::{Precision, write_shader_in};
    let model =
        Model::parse("voigt(x, A, c, s, g) + expgaussian(x, B, d, w, k) + faddeeva_im(x, g) + erfcx(x - c)").unwrap();
    for kernel in KERNELS {
        for (precision, capabilities) in
            [(Precision::F32, naga::valid::Capabilities::empty()), (Precision::F64, naga::valid::Capabilities::FLOAT64)]
        {
            let shader = write_shader_in(model.kernel(), kernel, precision);
            if let Err(e) = validate_with(&shader, capabilities) {
                panic!("{kernel:?} {precision:?}:\n{e}");
            }
        }
    }
}

/// `jitfit explain --wgsl KERNEL [--f64]` prints the shader the GPU would run: it validates.
#[test]
fn explain_prints_valid_shaders() {
    let run = |args: &[&str]| {
        std::process::Command::new(env!("CARGO_BIN_EXE_jitfit"))
            .args(["explain", "A*exp(-((x-x0)^2 + (y-y0)^2)/(2*s^2)) + B", "--vars", "x,y"])
            .args(args)
            .output()
            .unwrap()
    };
    for (args, capabilities) in [
        (&["--wgsl", "normal-equations"][..], naga::valid::Capabilities::empty()),
        (&["--wgsl", "predict", "--f64"][..], naga::valid::Capabilities::FLOAT64),
        (&["--wgsl", "batch"][..], naga::valid::Capabilities::empty()),
    ] {
        let out = run(args);
        assert_eq!(out.status.code(), Some(0), "{args:?}: {}", String::from_utf8_lossy(&out.stderr));
        let shader = String::from_utf8(out.stdout).unwrap();
        assert!(validate_with(&shader, capabilities).is_ok(), "{args:?}:\n{shader}");
    }
    let out = run(&["--wgsl", "everything"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("not one of predict"));
}
