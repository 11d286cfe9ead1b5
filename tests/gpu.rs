//! The GPU backend on a real device (lavapipe in CI): f32 kernels against the f64 interpreter,
//! reproducible reductions, chunking, and whole fits against the CPU backend. Without an
//! adapter these tests skip and say so — except under `CI`, where a missing adapter fails.
//! The errors that need no device (refused options, a missing adapter) are tested always.

use crate::support::nist::all_problems;
use jitfit::backend::gpu::{GpuData, GpuDevice, GpuKernels, device};
use jitfit::backend::wgsl::Precision;
use jitfit::backend::{Backend, Chunk, InterpreterKernels, Kernels, NormalEquations};
use jitfit::{Data, FitError, Model, ModelOptions, Names};
use std::sync::Arc;

/// The device, or `None` (with a message) where there is none and `CI` is unset.
fn gpu() -> Option<&'static GpuDevice> {
    match device() {
        Ok(d) => Some(d),
        Err(e) if std::env::var_os("CI").is_some() => panic!("CI must have a GPU adapter (lavapipe): {e}"),
        Err(e) => {
            eprintln!("skipping a GPU test: {e}");
            None
        }
    }
}

/// |a − b| ≤ tol·(|b| + scale) for every element, where `scale` is the largest |b| of the set:
/// f32 relative precision, measured against the magnitude of what is being computed.
fn assert_close(what: &str, gpu: &[f64], reference: &[f64], tol: f64) {
    assert_eq!(gpu.len(), reference.len(), "{what}: lengths");
    let scale = reference.iter().fold(0.0f64, |m, v| m.max(v.abs()));
    for (i, (a, b)) in gpu.iter().zip(reference).enumerate() {
        assert!((a - b).abs() <= tol * (b.abs() + scale), "{what}[{i}]: GPU {a} vs f64 {b} (scale {scale})");
    }
}

#[test]
fn nist_kernels_agree_with_the_interpreter_in_f32() {
    let Some(device) = gpu() else { return };
    for p in all_problems() {
        let names = Names { vars: p.vars.clone(), params: Some(p.params.clone()) };
        let model = Model::parse_with(&p.model, &ModelOptions { names, ..Default::default() }).unwrap();
        let reference = InterpreterKernels::new(model.kernel().clone());
        let kernels = Arc::new(GpuKernels::new(device, model.kernel()).unwrap());
        let columns: Vec<Vec<f64>> = (0..p.vars.len()).map(|k| p.column(k)).collect();
        let vars: Vec<&[f64]> = columns.iter().map(|c| c.as_slice()).collect();
        let y = p.y();
        let weights: Vec<f64> = (0..y.len()).map(|i| 1.0 + (i % 3) as f64 * 0.25).collect();
        let data = GpuData::upload(device, kernels, &vars, &y, Some(&weights)).unwrap();
        let chunk = Chunk { vars: &vars, y: &y, weights: Some(&weights) };
        let (m, n) = (y.len(), p.params.len());
        for params in [&p.certified, &p.start2] {
            let what = |k: &str| format!("{} at {params:?}: {k}", p.name);
            let mut f = vec![0.0; m];
            reference.predict(&vars, params, &mut f).unwrap();
            assert_close(&what("predict"), &data.predict(Precision::F32, params).unwrap(), &f, 1e-4);
            let (mut r, mut j) = (vec![0.0; m], vec![0.0; m * n]);
            reference.residual_jacobian(&chunk, params, &mut r, &mut j).unwrap();
            let (gr, gj) = data.residual_jacobian(Precision::F32, params).unwrap();
            // A residual is a difference of f and y, each good to f32 precision: its error is
            // bounded by their magnitudes, not its own.
            let delta: Vec<f64> = (0..m).map(|i| 1e-4 * weights[i] * (f[i].abs() + y[i].abs())).collect();
            for i in 0..m {
                assert!(
                    (gr[i] - r[i]).abs() <= delta[i],
                    "{}: r[{i}] GPU {} vs f64 {}",
                    what("residuals"),
                    gr[i],
                    r[i]
                );
            }
            for k in 0..n {
                let column = |jac: &[f64]| (0..m).map(|i| jac[i * n + k]).collect::<Vec<_>>();
                assert_close(&what(&format!("∂f/∂p{k}")), &column(&gj), &column(&j), 1e-4);
            }
            // Sums: each term's error as above, plus f32 rounding of the workgroup sums —
            // bounded by 1e-4 of the sum of the terms' magnitudes.
            let mut acc = NormalEquations::zeros(n);
            reference.normal_equations(&chunk, params, &mut acc).unwrap();
            let g = data.normal_equations(Precision::F32, params).unwrap();
            let col = |i: usize, a: usize| j[i * n + a];
            for a in 0..n {
                for b in a..n {
                    let bound: f64 = 1e-4 * (0..m).map(|i| (col(i, a) * col(i, b)).abs()).sum::<f64>();
                    let (x, e) = (g.jtj[a * n + b], acc.jtj[a * n + b]);
                    assert!((x - e).abs() <= bound, "{}: JᵀJ[{a},{b}] GPU {x} vs f64 {e}", what(""));
                }
                let bound: f64 =
                    (0..m).map(|i| col(i, a).abs() * delta[i] + 1e-4 * (col(i, a) * r[i]).abs()).sum::<f64>();
                assert!(
                    (g.jtr[a] - acc.jtr[a]).abs() <= bound,
                    "{}: Jᵀr[{a}] GPU {} vs f64 {}",
                    what(""),
                    g.jtr[a],
                    acc.jtr[a]
                );
            }
            let bound: f64 =
                (0..m).map(|i| 2.0 * r[i].abs() * delta[i] + delta[i] * delta[i] + 1e-4 * r[i] * r[i]).sum();
            assert!((g.rss - acc.rss).abs() <= bound, "{}: Σr² GPU {} vs f64 {}", what(""), g.rss, acc.rss);
            let ss = data.sum_of_squares(Precision::F32, params).unwrap();
            assert_eq!(ss.to_bits(), g.rss.to_bits(), "{}: Σr² from both kernels", what(""));
        }
    }
}

fn decay_data(m: usize) -> (Vec<f64>, Vec<f64>) {
    let x: Vec<f64> = (0..m).map(|i| 10.0 * i as f64 / m as f64).collect();
    // Deterministic "noise": a fast-varying bounded sequence.
    let y = x
        .iter()
        .enumerate()
        .map(|(i, x)| 3.0 * (-0.7 * x).exp() + 0.5 + 0.01 * ((i * 7919 % 1000) as f64 / 500.0 - 1.0))
        .collect();
    (x, y)
}

/// The same data and parameters give the same sums, bit for bit, call after call — and the
/// same again when the data are split into chunks (chunks hold whole workgroups, and the host
/// adds the partial sums in one fixed order).
#[test]
fn reductions_are_reproducible_and_independent_of_chunking() {
    let Some(device) = gpu() else { return };
    let model = Model::parse("a*exp(-b*x) + c").unwrap();
    let kernels = Arc::new(GpuKernels::new(device, model.kernel()).unwrap());
    let (x, y) = decay_data(100_003);
    let whole = GpuData::upload(device, kernels.clone(), &[&x], &y, None).unwrap();
    let chunked = GpuData::upload_in_chunks(device, kernels, &[&x], &y, None, 1024 * 6).unwrap();
    assert_eq!(whole.n_chunks(), 1);
    assert_eq!(chunked.n_chunks(), 100_003usize.div_ceil(6144));
    let params = [2.5, 0.6, 0.4];
    let first = whole.normal_equations(Precision::F32, &params).unwrap();
    for _ in 0..3 {
        assert_eq!(whole.normal_equations(Precision::F32, &params).unwrap(), first);
    }
    assert_eq!(chunked.normal_equations(Precision::F32, &params).unwrap(), first);
    assert_eq!(chunked.sum_of_squares(Precision::F32, &params).unwrap().to_bits(), first.rss.to_bits());
    assert_eq!(chunked.predict(Precision::F32, &params).unwrap(), whole.predict(Precision::F32, &params).unwrap());
    if whole.has_f64() {
        let first = whole.normal_equations(Precision::F64, &params).unwrap();
        assert_eq!(whole.normal_equations(Precision::F64, &params).unwrap(), first);
        assert_eq!(chunked.normal_equations(Precision::F64, &params).unwrap(), first);
    }
    // And the sums are those of the data: Σr² against f64 within f32 tolerance.
    let cpu = jitfit::compile("a*exp(-b*x) + c").unwrap();
    let chunk = Chunk { vars: &[&x], y: &y, weights: None };
    let rss = cpu.kernels().sum_of_squares(&chunk, &params).unwrap();
    assert!((first.rss - rss).abs() < 1e-4 * rss, "{} vs {rss}", first.rss);
}

/// A whole fit on the GPU backend: f32 iterations on the device, an f64 finish on the CPU;
/// the result equals the CPU backend's to 1e-6 (the f64 finish makes it far closer), and the
/// report says what ran.
#[test]
fn gpu_fit_of_a_million_points_agrees_with_the_cpu_fit() {
    let Some(_) = gpu() else { return };
    let model = jitfit::compile("a*exp(-b*x) + c").unwrap();
    // 10^6 points under JITFIT_SLOW_TESTS; 2^17 exercise the same path.
    let (x, y) = decay_data(crate::support::size(1 << 17, 1_000_000));
    let sigma: Vec<f64> = (0..y.len()).map(|i| 0.01 * (1.0 + (i % 5) as f64 * 0.1)).collect();
    let data = Data::new().var("x", x).y(y).sigma(sigma);
    let fit = |backend| model.fit(&data).p0(&[1.0, 1.0, 0.0]).backend(backend).run().unwrap();
    let (cpu, gpu) = (fit(Backend::Cpu), fit(Backend::Gpu));
    assert!(cpu.status.converged() && gpu.status.converged(), "{} / {}", cpu.message, gpu.message);
    assert_eq!(cpu.backend.used, Backend::Cpu);
    assert_eq!(gpu.backend.used, Backend::Gpu);
    assert!(gpu.backend.adapter.is_some() && gpu.backend.gpu_iterations > 0);
    // The f32 phase did the travelling: the f64 finish needs only a few iterations.
    assert!(
        gpu.iterations < cpu.iterations,
        "f64 iterations: GPU fit {} vs CPU fit {}",
        gpu.iterations,
        cpu.iterations
    );
    for k in 0..3 {
        let (a, b) = (gpu.values[k], cpu.values[k]);
        assert!((a - b).abs() <= 1e-6 * b.abs(), "{}: GPU {a} vs CPU {b}", cpu.param_names[k]);
        let (a, b) = (gpu.std_errors[k], cpu.std_errors[k]);
        assert!((a - b).abs() <= 1e-6 * b.abs(), "stderr {}: GPU {a} vs CPU {b}", cpu.param_names[k]);
    }
    assert!((gpu.chi2 - cpu.chi2).abs() <= 1e-9 * cpu.chi2, "χ² {} vs {}", gpu.chi2, cpu.chi2);
}

/// Bounds and fixed parameters carry over to the f32 phase.
#[test]
fn gpu_fit_respects_bounds_and_fixed_parameters() {
    let Some(_) = gpu() else { return };
    let model = jitfit::compile("a*exp(-b*x) + c").unwrap();
    let (x, y) = decay_data(50_000);
    let data = Data::new().var("x", x).y(y);
    let run = |backend| {
        model.fit(&data).p0(&[1.0, 0.3, 0.0]).bound("b", 0.0, 0.6).fix("c", 0.5).backend(backend).run().unwrap()
    };
    let (cpu, gpu) = (run(Backend::Cpu), run(Backend::Gpu));
    assert_eq!(gpu.backend.used, Backend::Gpu);
    assert_eq!(gpu.values[2], 0.5);
    assert_eq!(gpu.active_mask[1], 1, "b ends at its upper bound");
    assert!((gpu.values[0] - cpu.values[0]).abs() <= 1e-8 * cpu.values[0].abs());
    assert!((gpu.values[1] - 0.6).abs() < 1e-12);
}

/// What the GPU backend refuses, and what `auto` does instead: no device needed.
#[test]
fn gpu_backend_refuses_what_it_cannot_do_and_auto_stays_on_the_cpu() {
    let model = jitfit::compile("a*exp(-b*x) + c").unwrap();
    let (x, y) = decay_data(1000);
    let data = Data::new().var("x", x).y(y);
    let robust = model.fit(&data).loss(jitfit::solve::Loss::SoftL1, 0.1).backend(Backend::Gpu).run();
    assert!(matches!(&robust, Err(FitError::Invalid(m)) if m.contains("plain least squares")), "{robust:?}");
    let poisson = model.fit(&data).poisson().backend(Backend::Gpu).run();
    assert!(matches!(&poisson, Err(FitError::Invalid(m)) if m.contains("plain least squares")), "{poisson:?}");
    // Small data: auto does not even look for a device.
    let auto = model.fit(&data).p0(&[1.0, 1.0, 0.0]).run().unwrap();
    assert_eq!(auto.backend.used, Backend::Cpu);
    assert_eq!(auto.backend.note, None);
}

/// No adapter (here: only the GL back end asked for, which this build leaves out) is a clear
/// error with exit code 1 — never a panic; an unknown backend name is refused.
#[test]
fn cli_without_an_adapter_says_so() {
    let cache = crate::support::TempDir::new("gpu-cli");
    let run = |backend: &str| {
        std::process::Command::new(env!("CARGO_BIN_EXE_jitfit"))
            .args(["fit", "y = b1*(1-exp[-b2*x])", "examples/data/misra1a.csv", "--p0", "b1=500,b2=1e-4"])
            .args(["--backend", backend])
            .current_dir(env!("CARGO_MANIFEST_DIR"))
            .env("JITFIT_CACHE_DIR", cache.path())
            .env("WGPU_BACKEND", "gl")
            .output()
            .unwrap()
    };
    let out = run("gpu");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("no GPU adapter found") && stderr.contains("--backend cpu"), "{stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");
    let out = run("tpu");
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("not one of auto, cpu, gpu"));
    // `auto` on small data never touches the device.
    let out = run("auto");
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(String::from_utf8_lossy(&out.stdout).contains("backend              = cpu"));
}

/// The batch fit loop on the device agrees with the CPU's within f32 tolerance (a small
/// fraction of each parameter's standard error), and degenerate fits get the same statuses.
#[test]
fn gpu_batch_agrees_with_the_cpu_batch() {
    use crate::batch::{GAUSS, GAUSS_P0, spots};
    use jitfit::{BatchData, BatchOptions, BatchStatus};
    let Some(_) = gpu() else { return };
    let model = jitfit::compile_with_vars(GAUSS, &["x", "y"]).unwrap();
    let (xs, ys, mut z) = spots(3000);
    z[25 * 7 + 3] = f64::NAN;
    let mut offsets: Vec<usize> = (0..=3000).map(|k| 25 * k).collect();
    offsets.push(z.len() + 3); // one more fit of 3 points
    z.extend([1.0, 2.0, 3.0]);
    let (x_all, y_all): (Vec<f64>, Vec<f64>) =
        (0..z.len()).map(|i| if i < 75_000 { (xs[i % 25], ys[i % 25]) } else { (0.0, 0.0) }).unzip();
    let data = BatchData::with_offsets(&z, offsets).var("x", &x_all).var("y", &y_all);
    let cpu = model.fit_many(&data, &BatchOptions::new(&GAUSS_P0).backend(Backend::Cpu)).unwrap();
    let gpu = model.fit_many(&data, &BatchOptions::new(&GAUSS_P0).backend(Backend::Gpu)).unwrap();
    assert_eq!(gpu.backend, Backend::Gpu);
    assert_eq!(cpu.status[7], BatchStatus::NotFinite);
    assert_eq!(gpu.status[7], BatchStatus::NotFinite);
    assert_eq!(cpu.status[3000], BatchStatus::TooFewPoints);
    assert_eq!(gpu.status[3000], BatchStatus::TooFewPoints);
    assert_eq!(gpu.converged(), 2999, "{:?}", gpu.status.iter().filter(|s| !s.converged()).collect::<Vec<_>>());
    for k in (0..3000).filter(|k| *k != 7) {
        for j in 0..5 {
            let (g, c, se) = (gpu.values[k * 5 + j], cpu.values[k * 5 + j], cpu.std_errors[k * 5 + j]);
            assert!((g - c).abs() <= 0.05 * se, "fit {k} parameter {j}: GPU {g} vs CPU {c} (stderr {se})");
            let gse = gpu.std_errors[k * 5 + j];
            assert!((gse - se).abs() <= 0.01 * se, "fit {k} stderr {j}: GPU {gse} vs CPU {se}");
        }
        assert!((gpu.chi2[k] - cpu.chi2[k]).abs() <= 1e-3 * cpu.chi2[k], "fit {k} χ²");
    }
}

/// `jitfit batch --backend gpu` runs the compact solver on the device and says so.
#[test]
fn cli_batch_on_the_gpu() {
    let Some(_) = gpu() else { return };
    let dir = crate::support::TempDir::new("gpu-batch-cli");
    let (xs, _, z) = crate::batch::spots(40);
    let mut csv = String::from("spot,x,y,z\n");
    for (i, v) in z.iter().enumerate() {
        csv += &format!("{},{},{},{v:?}\n", i / 25, xs[i % 25], (i % 25) / 5);
    }
    let input = dir.path().join("spots.csv");
    std::fs::write(&input, csv).unwrap();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_jitfit"))
        .args(["batch", crate::batch::GAUSS, input.to_str().unwrap(), "--by", "spot", "--y", "z", "--vars", "x=x,y=y"])
        .args(["--p0", "A=9,x0=2.1,y0=1.9,s=1.2,B=0.5", "--backend", "gpu"])
        .env("JITFIT_CACHE_DIR", dir.path().join("cache"))
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    assert!(stderr.contains("40 fits: 40 converged") && stderr.contains("compact LM on the GPU"), "{stderr}");
    assert_eq!(String::from_utf8_lossy(&out.stdout).lines().count(), 41);
}

/// The device's f64 kernels: software exp and log within 2 ulp of Rust's over their whole
/// range (subnormals, overflow and the special values included), and every NIST model with an
/// f64 form agreeing with the f64 interpreter to ~1e-13.
#[test]
fn f64_kernels_match_rust_and_the_interpreter() {
    let Some(device) = gpu() else { return };
    if !device.has_f64() {
        eprintln!("skipping: the device has no SHADER_F64");
        return;
    }
    let ulps = |a: f64, b: f64| -> u64 {
        if a == b || (a.is_nan() && b.is_nan()) {
            return 0;
        }
        if a.is_sign_negative() != b.is_sign_negative() || !a.is_finite() || !b.is_finite() {
            return u64::MAX;
        }
        a.to_bits().abs_diff(b.to_bits())
    };
    let check = |text: &str, xs: &[f64], reference: &dyn Fn(f64) -> f64, allowed: u64| {
        let model = Model::parse(text).unwrap();
        let kernels = Arc::new(GpuKernels::new(device, model.kernel()).unwrap());
        assert!(kernels.has_f64(), "{text}");
        let zeros = vec![0.0; xs.len()];
        let data = GpuData::upload(device, kernels, &[xs], &zeros, None).unwrap();
        let got = data.predict(Precision::F64, &[1.0]).unwrap();
        let worst = xs.iter().zip(&got).map(|(x, g)| (ulps(*g, reference(*x)), *x, *g)).max_by_key(|t| t.0).unwrap();
        eprintln!("{text} in f64 on the device: at most {} ulp from Rust's", worst.0);
        assert!(
            worst.0 <= allowed,
            "{text}: {} ulp at x = {:e} (GPU {:e}, Rust {:e})",
            worst.0,
            worst.1,
            worst.2,
            reference(worst.1)
        );
    };
    let mut state = 7u64;
    let mut uniform = move || {
        state = state.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
        (state >> 11) as f64 / (1u64 << 53) as f64
    };
    // A fifth of the points unless JITFIT_SLOW_TESTS: the specials and range ends are always in.
    let scale = if crate::support::slow_tests() { 1 } else { 5 };
    let mut span =
        |lo: f64, hi: f64, n: usize| -> Vec<f64> { (0..n / scale).map(|_| lo + (hi - lo) * uniform()).collect() };
    let special = [0.0, -0.0, 1e-300, -1e-300, 5e-324, f64::NAN, f64::INFINITY, f64::NEG_INFINITY];
    let with_special = |mut v: Vec<f64>| {
        v.extend(special);
        v
    };
    let mut logs: Vec<f64> = span(-310.0, 308.0, 20_000).iter().map(|e| 10f64.powf(*e)).collect();
    logs.extend(span(0.5, 1.5, 2000));
    logs.extend([1.0, f64::MIN_POSITIVE, f64::MAX]);
    let exp_range = with_special(span(-745.0, 709.7, 20_000));
    check("exp(a*x)", &exp_range, &f64::exp, 1);
    check("log(a*x)", &with_special(logs), &f64::ln, 1);
    let trig = with_special([span(-10.0, 10.0, 10_000), span(-1e5, 1e5, 5000)].concat());
    check("sin(a*x)", &trig, &f64::sin, 2);
    check("cos(a*x)", &trig, &f64::cos, 2);
    check("tan(a*x)", &trig, &f64::tan, 4);
    let wide = with_special([span(-4.0, 4.0, 10_000), span(-1e10, 1e10, 2000)].concat());
    check("atan(a*x)", &wide, &f64::atan, 2);
    check("atan2(a*x, a)", &wide, &|x: f64| x.atan2(1.0), 2);
    check("atan2(a*x, a - 2)", &wide, &|x: f64| x.atan2(-1.0), 2);
    check("atan2(a, x)", &wide, &|x: f64| 1f64.atan2(x), 2);
    let unit = with_special(span(-1.0, 1.0, 10_000));
    check("asin(a*x)", &unit, &f64::asin, 3);
    check("acos(a*x)", &unit, &f64::acos, 3);
    check("atanh(a*x)", &unit, &|x: f64| libm::atanh(x), 4);
    let hyperbolic = with_special([span(-3.0, 3.0, 10_000), span(-710.0, 710.0, 2000)].concat());
    check("sinh(a*x)", &hyperbolic, &f64::sinh, 4);
    check("cosh(a*x)", &hyperbolic, &f64::cosh, 3);
    check("tanh(a*x)", &hyperbolic, &f64::tanh, 4);
    check(
        "asinh(a*x)",
        &with_special([span(-5.0, 5.0, 10_000), span(-1e300, 1e300, 1000)].concat()),
        &|x: f64| libm::asinh(x),
        4,
    );
    check(
        "acosh(a*x)",
        &with_special([span(1.0, 5.0, 10_000), span(1.0, 1e300, 1000)].concat()),
        &|x: f64| libm::acosh(x),
        4,
    );
    // Integer exponents are exact where the result is representable, negative bases included.
    let integers: Vec<f64> = (-60..=60).map(f64::from).collect();
    check("pow(-2, a*x)", &integers, &|x: f64| (-2f64).powf(x), 0);
    check("pow(a*x, 3)", &integers, &|x: f64| x.powf(3.0), 0);
    check("pow(a*x, -7)", &integers, &|x: f64| x.powf(-7.0), 1);
    check("pow(1.5 + a*x*x, 0.37)", &with_special(span(-30.0, 30.0, 5000)), &|x: f64| (1.5 + x * x).powf(0.37), 4);
    // min/max propagate NaN as the CPU does (WGSL's own may return the other operand).
    let around_one = with_special(span(-3.0, 3.0, 2000));
    check("min(a, acosh(x))", &around_one, &|x: f64| jitfit::ops::min(1.0, x.acosh()), 4);
    check("max(a*x, asin(x))", &around_one, &|x: f64| jitfit::ops::max(x, x.asin()), 3);
    let bases = [f64::NEG_INFINITY, f64::INFINITY, -1.0, -0.5, 0.5, 2.0, -2.0, 0.0, -0.0];
    for y in [-0.16, 0.16, -3.0, 3.0, 2.0, -2.0, f64::INFINITY, f64::NEG_INFINITY] {
        check(&format!("pow(a*x, {y:?})").replace("inf", "(1/0)"), &bases, &move |x: f64| x.powf(y), 4);
    }
    let erf_range = with_special(span(-7.0, 7.0, 10_000));
    check("erf(a*x)", &erf_range, &|x: f64| libm::erf(x), 4);
    check("erfc(a*x)", &with_special(span(-7.0, 27.0, 10_000)), &|x: f64| libm::erfc(x), 8);
    // (Last: the points drawn above stay those of the checks written before it.)
    // The Faddeeva function: the same operations as ops/faddeeva.rs in the upper half-plane —
    // but a shader compiler may fuse multiply-adds, and the 40-term sum carries the difference
    // (lavapipe: 32 ulp; both within 6e-15·|w| of scipy).
    let voigt_range = with_special([span(-30.0, 30.0, 5000), span(-1e9, 1e9, 1000)].concat());
    check("faddeeva_re(a*x, 0.7)", &voigt_range, &|x: f64| jitfit::ops::faddeeva::faddeeva(x, 0.7).0, 64);
    check("faddeeva_im(a*x, 0.01)", &voigt_range, &|x: f64| jitfit::ops::faddeeva::faddeeva(x, 0.01).1, 64);
    // Below the real axis Re w = 2·exp(y² − x²)·cos(2xy) − Re w(−z) cancels near its zeros: the
    // error is measured against the size of the terms, not in ulps of the difference.
    let lower = span(-5.0, 5.0, 2000);
    let model = Model::parse("faddeeva_re(a*x, -0.4)").unwrap();
    let kernels = Arc::new(GpuKernels::new(device, model.kernel()).unwrap());
    let zeros = vec![0.0; lower.len()];
    let data = GpuData::upload(device, kernels, &[&lower], &zeros, None).unwrap();
    let got = data.predict(Precision::F64, &[1.0]).unwrap();
    let worst = lower
        .iter()
        .zip(&got)
        .map(|(x, g)| {
            let terms = 2.0 * (0.16 - x * x).exp() + jitfit::ops::faddeeva::faddeeva(-x, 0.4).0.abs();
            (g - jitfit::ops::faddeeva::faddeeva(*x, -0.4).0).abs() / terms
        })
        .fold(0.0, f64::max);
    eprintln!("faddeeva_re(a*x, -0.4) in f64 on the device: within {worst:e} of the terms' size");
    assert!(worst < 1e-14, "{worst:e}");
    // (After the Faddeeva checks, which keep their points.) ln|Γ| and ψ⁽ⁿ⁾: ops/gamma.rs's steps; lgamma from 5 up, away from its zeros (1, 2), where the
    // shifted series cancels (and the error is absolute) — from −6 down it has none.
    let gammas = with_special([span(5.0, 40.0, 5000), span(40.0, 1e6, 1000), span(-30.0, -6.0, 2000)].concat());
    check("lgamma(a*x)", &gammas, &jitfit::ops::gamma::lgamma, 64);
    check("polygamma(1, a*x)", &gammas, &|x: f64| jitfit::ops::gamma::polygamma(1.0, x), 64);
    check("polygamma(3, a*x)", &gammas, &|x: f64| jitfit::ops::gamma::polygamma(3.0, x), 64);

    for p in all_problems() {
        let names = Names { vars: p.vars.clone(), params: Some(p.params.clone()) };
        let model = Model::parse_with(&p.model, &ModelOptions { names, ..Default::default() }).unwrap();
        let kernels = Arc::new(GpuKernels::new(device, model.kernel()).unwrap());
        if !kernels.has_f64() {
            continue;
        }
        let reference = InterpreterKernels::new(model.kernel().clone());
        let columns: Vec<Vec<f64>> = (0..p.vars.len()).map(|k| p.column(k)).collect();
        let vars: Vec<&[f64]> = columns.iter().map(|c| c.as_slice()).collect();
        let y = p.y();
        let data = GpuData::upload(device, kernels, &vars, &y, None).unwrap();
        let chunk = Chunk { vars: &vars, y: &y, weights: None };
        let (m, n) = (y.len(), p.params.len());
        for params in [&p.certified, &p.start1] {
            let what = |k: &str| format!("{} at {params:?}: {k} (f64)", p.name);
            let mut f = vec![0.0; m];
            reference.predict(&vars, params, &mut f).unwrap();
            assert_close(&what("predict"), &data.predict(Precision::F64, params).unwrap(), &f, 1e-12);
            let (mut r, mut j) = (vec![0.0; m], vec![0.0; m * n]);
            reference.residual_jacobian(&chunk, params, &mut r, &mut j).unwrap();
            let (gr, gj) = data.residual_jacobian(Precision::F64, params).unwrap();
            for i in 0..m {
                assert!((gr[i] - r[i]).abs() <= 1e-12 * (f[i].abs() + y[i].abs()), "{}: r[{i}]", what("residuals"));
            }
            for k in 0..n {
                let column = |jac: &[f64]| (0..m).map(|i| jac[i * n + k]).collect::<Vec<_>>();
                assert_close(&what(&format!("∂f/∂p{k}")), &column(&gj), &column(&j), 1e-12);
            }
        }
    }
}

/// On a device with f64 the whole fit stays there: f32 iterations, then the f64 finish with
/// the caller's tolerances; the result matches the CPU fit as closely as two f64 fits can.
#[test]
fn f64_finish_on_the_device() {
    let Some(device) = gpu() else { return };
    if !device.has_f64() {
        eprintln!("skipping: the device has no SHADER_F64");
        return;
    }
    let model = jitfit::compile("a*exp(-b*x) + c").unwrap();
    let (x, y) = decay_data(200_000);
    let data = Data::new().var("x", x).y(y);
    let fit = |backend| model.fit(&data).p0(&[1.0, 1.0, 0.0]).backend(backend).run().unwrap();
    let (cpu, gpu) = (fit(Backend::Cpu), fit(Backend::Gpu));
    assert!(gpu.backend.f64_on_gpu && gpu.status.converged(), "{:?} {}", gpu.backend, gpu.message);
    for k in 0..3 {
        let (a, b) = (gpu.values[k], cpu.values[k]);
        assert!((a - b).abs() <= 1e-9 * b.abs(), "{}: GPU {a} vs CPU {b}", cpu.param_names[k]);
        let (a, b) = (gpu.std_errors[k], cpu.std_errors[k]);
        assert!((a - b).abs() <= 1e-6 * b, "stderr {}: GPU {a} vs CPU {b}", cpu.param_names[k]);
    }
    assert!((gpu.chi2 - cpu.chi2).abs() <= 1e-10 * cpu.chi2);
}

/// `auto` on large data: a hardware GPU runs it; a software adapter (lavapipe) does not, and
/// the report says why.
#[test]
fn auto_on_large_data_uses_only_a_hardware_gpu() {
    let Some(device) = gpu() else { return };
    let model = jitfit::compile("a*exp(-b*x) + c").unwrap();
    let (x, y) = decay_data(jitfit::backend::GPU_AUTO_MIN_POINTS);
    let data = Data::new().var("x", x).y(y);
    let fit = model.fit(&data).p0(&[1.0, 1.0, 0.0]).run().unwrap();
    assert!(fit.status.converged());
    if device.is_software() {
        assert_eq!(fit.backend.used, Backend::Cpu);
        assert!(fit.backend.note.as_deref().is_some_and(|n| n.contains("software")), "{:?}", fit.backend);
    } else {
        assert_eq!(fit.backend.used, Backend::Gpu);
    }
}

/// Where the f64 finish cannot stay on the device (here: LM, which needs J itself), it runs
/// on the CPU backend from the f32 phase's end — and the result is the CPU fit's.
#[test]
fn f64_finish_on_the_cpu_when_the_device_cannot_do_it() {
    let Some(_) = gpu() else { return };
    let model = jitfit::compile("a*exp(-b*x) + c").unwrap();
    let (x, y) = decay_data(20_000);
    let data = Data::new().var("x", x).y(y);
    let fit = |backend| {
        model.fit(&data).p0(&[1.0, 1.0, 0.0]).method(jitfit::solve::Method::Lm).backend(backend).run().unwrap()
    };
    let (cpu, gpu) = (fit(Backend::Cpu), fit(Backend::Gpu));
    assert_eq!(gpu.backend.used, Backend::Gpu);
    assert!(!gpu.backend.f64_on_gpu && gpu.backend.gpu_iterations > 0);
    assert_eq!(gpu.method, jitfit::solve::Method::Lm);
    for k in 0..3 {
        assert!((gpu.values[k] - cpu.values[k]).abs() <= 1e-9 * cpu.values[k].abs());
    }
}

/// Residuals too large for f32 (r² overflows) fail the f32 phase, not the fit: the f64
/// iterations run on the CPU from the start and the report says why.
#[test]
fn f32_overflow_sends_the_fit_to_the_cpu() {
    let Some(_) = gpu() else { return };
    let model = jitfit::compile("a*exp(-b*x) + c").unwrap();
    let (x, y) = decay_data(5000);
    let y: Vec<f64> = y.iter().map(|v| v * 1e20).collect();
    let data = Data::new().var("x", x).y(y);
    let fit = |backend| model.fit(&data).p0(&[1e20, 1.0, 0.0]).backend(backend).run().unwrap();
    let (cpu, gpu) = (fit(Backend::Cpu), fit(Backend::Gpu));
    assert!(gpu.status.converged(), "{}", gpu.message);
    assert_eq!(gpu.backend.used, Backend::Cpu);
    assert!(gpu.backend.note.as_deref().is_some_and(|n| n.contains("f32 phase")), "{:?}", gpu.backend);
    assert_eq!(gpu.values, cpu.values);
}

/// A fit too large for one GPU thread is refused with a message, not sent to the watchdog.
#[test]
fn gpu_batch_refuses_fits_too_large_for_a_thread() {
    use jitfit::{BatchData, BatchOptions};
    let model = jitfit::compile("a*exp(-b*x) + c").unwrap();
    let (x, y) = decay_data(jitfit::batch::MAX_POINTS_PER_FIT + 1);
    let data = BatchData::uniform(&y, y.len()).shared_var("x", &x);
    let err = model.fit_many(&data, &BatchOptions::new(&[1.0, 1.0, 0.0]).backend(Backend::Gpu)).unwrap_err();
    assert!(err.to_string().contains("one thread"), "{err}");
}

/// The progress callback (the CLI's progress line) hears from the GPU iterations too.
#[test]
fn progress_follows_the_gpu_phase() {
    let Some(_) = gpu() else { return };
    let model = jitfit::compile("a*exp(-b*x) + c").unwrap();
    let (x, y) = decay_data(20_000);
    let data = Data::new().var("x", x).y(y);
    let mut calls = 0;
    let fit = model.fit(&data).p0(&[1.0, 1.0, 0.0]).backend(Backend::Gpu).progress(|_| calls += 1).run().unwrap();
    let on_device = fit.backend.gpu_iterations + if fit.backend.f64_on_gpu { fit.iterations } else { 0 };
    assert!(calls >= on_device, "{calls} progress calls for {on_device} iterations on the device");
}

proptest::proptest! {
    #![proptest_config(proptest::prelude::ProptestConfig { cases: crate::support::size(8, 24) as u32, ..Default::default() })]

    /// Random models (every function and operator, nested) through the f64 shaders: the
    /// values and every derivative agree with the f64 interpreter at nearly every point. The
    /// software functions are within a few ulp, but nesting can amplify that at a rare
    /// ill-conditioned point (tan near a pole, say), so 95 % of the finite points must agree
    /// to 1e-9 of the model's scale (the largest finite value or derivative: a derivative that
    /// cancels to zero is rounding noise on both sides) — a writer bug (a wrong function or
    /// operand) misses nearly all of them. Points where any intermediate value is infinite or
    /// NaN are left out: Vulkan drivers may compile shaders assuming neither occurs (lavapipe
    /// makes x + b/0 zero), so the GPU backend promises nothing there.
    #[test]
    fn random_models_in_f64_match_the_interpreter(body in crate::support::models::body()) {
        use crate::support::models::{PARAMS, model_text};
        let Some(device) = gpu() else { return Ok(()) };
        if !device.has_f64() {
            return Ok(());
        }
        let text = model_text(&body);
        let names = Names { vars: vec!["x".into()], params: Some(PARAMS.iter().map(|s| s.to_string()).collect()) };
        let model = Model::parse_with(&text, &ModelOptions { names, ..Default::default() }).unwrap();
        let kernels = Arc::new(GpuKernels::new(device, model.kernel()).unwrap());
        proptest::prop_assert!(kernels.has_f64());
        let xs: Vec<f64> = (0..200).map(|i| -3.0 + 6.0 * i as f64 / 199.0).collect();
        let y: Vec<f64> = xs.iter().map(|x| x.sin()).collect();
        let params = [0.7, -1.3, 0.4];
        let data = GpuData::upload(device, kernels, &[&xs], &y, None).unwrap();
        let reference = InterpreterKernels::new(model.kernel().clone());
        let chunk = Chunk { vars: &[&xs], y: &y, weights: None };
        let (mut r, mut j) = (vec![0.0; 200], vec![0.0; 600]);
        reference.residual_jacobian(&chunk, &params, &mut r, &mut j).unwrap();
        let (gr, gj) = data.residual_jacobian(Precision::F64, &params).unwrap();
        let columns: Vec<(Vec<f64>, Vec<f64>)> = std::iter::once((gr, r))
            .chain((0..3).map(|k| ((0..200).map(|i| gj[i * 3 + k]).collect(), (0..200).map(|i| j[i * 3 + k]).collect())))
            .collect();
        let mut interpreter = jitfit::ir::Interpreter::new(model.kernel());
        let clean: Vec<bool> = (0..200)
            .map(|i| interpreter.eval_point(&[xs[i]], y[i], &params).iter().all(|v| v.is_finite() && v.abs() < 1e100))
            .collect();
        let usable = |v: f64| v.is_finite() && v.abs() < 1e100;
        let scale = columns.iter().flat_map(|(_, cpu)| cpu.iter()).filter(|v| usable(**v)).fold(0.0f64, |m, v| m.max(v.abs()));
        for (c, (gpu, cpu)) in columns.iter().enumerate() {
            let finite: Vec<usize> = (0..200).filter(|i| clean[*i] && usable(cpu[*i])).collect();
            let agree = finite.iter().filter(|i| (gpu[**i] - cpu[**i]).abs() <= 1e-9 * (cpu[**i].abs() + scale)).count();
            proptest::prop_assert!(
                agree * 100 >= finite.len() * 95,
                "{text}: column {c}: {agree} of {} finite points agree", finite.len()
            );
        }
    }
}

/// A model that passes through an infinity (here atan2(x, −1/0) = π for x > 0) can evaluate
/// differently on a driver that assumes none: the f64 finish on the device is checked against
/// the CPU backend and, where they disagree, the CPU finishes the fit — the result is the
/// CPU's either way.
#[test]
fn the_device_finish_is_checked_against_the_cpu() {
    let Some(device) = gpu() else { return };
    if !device.has_f64() {
        return;
    }
    let model = jitfit::compile("a*exp(-b*x) + c + atan2(x + 1, d/(g - g))").unwrap();
    let (x, y) = decay_data(50_000);
    let y: Vec<f64> = y.iter().map(|v| v + std::f64::consts::PI).collect();
    let data = Data::new().var("x", x).y(y);
    let fit = |backend| {
        let fit = model.fit(&data).p0(&[1.0, 1.0, 0.0, -1.0, 0.5]).fix("d", -1.0).fix("g", 0.5);
        fit.backend(backend).run().unwrap()
    };
    let (cpu, gpu) = (fit(Backend::Cpu), fit(Backend::Gpu));
    assert!(cpu.status.converged() && gpu.status.converged());
    assert!((cpu.values[2] - 0.5).abs() < 1e-3, "the CPU sees atan2(x + 1, −∞) = π: {:?}", cpu.values);
    for k in 0..3 {
        assert!(
            (gpu.values[k] - cpu.values[k]).abs() <= 1e-8 * cpu.values[k].abs().max(1e-3),
            "{:?} vs {:?}",
            gpu.values,
            cpu.values
        );
    }
    eprintln!("device finish kept: {}; note: {:?}", gpu.backend.f64_on_gpu, gpu.backend.note);
}

/// `jitfit gpu` describes the adapter, or says there is none (exit 1).
#[test]
fn cli_gpu_describes_the_adapter() {
    let run = |env: Option<(&str, &str)>| {
        let mut command = std::process::Command::new(env!("CARGO_BIN_EXE_jitfit"));
        command.arg("gpu");
        if let Some((k, v)) = env {
            command.env(k, v);
        }
        command.output().unwrap()
    };
    let none = run(Some(("WGPU_BACKEND", "gl")));
    assert_eq!(none.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&none.stderr).contains("no GPU adapter found"));
    if let Some(device) = gpu() {
        let out = run(None);
        assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
        // The whole text: every line follows from what the device says of itself.
        let mut expected = format!("adapter     {}\n", device.describe());
        expected += if device.has_f64() {
            "f64         yes (SHADER_F64): f64 finishes stay on the device\n"
        } else {
            "f64         no: f64 finishes run on the CPU\n"
        };
        expected += if device.exact_arithmetic() {
            "arithmetic  as on the CPU: every operation rounded on its own (SPIR-V NoContraction; no fused a*b + c)\n"
        } else {
            "arithmetic  the driver may fuse a*b + c (no SPIR-V on this backend): results agree with the CPU's to rounding, not bit for bit\n"
        };
        expected += &format!("largest     {} MiB per buffer binding\n", device.largest_binding() / (1024 * 1024));
        if device.is_software() {
            expected += "note        a software adapter: correct, but slower than the CPU backend; `--backend auto` does not use it\n";
        }
        assert_eq!(String::from_utf8_lossy(&out.stdout), expected);
        // Lavapipe and NVIDIA's driver both take our SPIR-V (CI runs on lavapipe).
        if device.describe().contains("Vulkan") {
            assert!(device.exact_arithmetic());
        }
    }
}

/// Data whose residuals f32 cannot resolve (a large offset: f ≈ 1000, r ≈ 0.01): the f32
/// phase stops early (measured: 4 evaluations; its budget of 50 per parameter is a backstop)
/// and the f64 finish reaches the CPU fit's result.
#[test]
fn residuals_below_f32_resolution_are_left_to_the_f64_finish() {
    let Some(_) = gpu() else { return };
    let model = jitfit::compile("a*exp(-b*x) + c").unwrap();
    let (x, y) = decay_data(100_000);
    let y: Vec<f64> = y.iter().map(|v| v + 1000.0).collect();
    let data = Data::new().var("x", x).y(y);
    let fit = |backend| model.fit(&data).p0(&[2.5, 0.6, 1000.3]).backend(backend).run().unwrap();
    let (cpu, gpu) = (fit(Backend::Cpu), fit(Backend::Gpu));
    assert!(gpu.status.converged(), "{}", gpu.message);
    assert!(gpu.backend.gpu_nfev <= 150, "{} f32 evaluations", gpu.backend.gpu_nfev);
    for k in 0..3 {
        assert!(
            (gpu.values[k] - cpu.values[k]).abs() <= 1e-8 * cpu.values[k].abs(),
            "{:?} vs {:?}",
            gpu.values,
            cpu.values
        );
    }
}
