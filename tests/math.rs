//! jitfit's own `exp`, `ln`, `sin` and `cos` (`ops::math`) against correctly rounded values
//! (`tests/data/ulp/reference.py`, mpmath at 200 bits): how many results are off, and by how
//! many units in the last place. std's (the platform libm's) are measured alongside.

use jitfit::ops::math;

/// The signed distance between two finite doubles of one sign, in ulps.
fn ulps(a: f64, b: f64) -> i64 {
    let key = |v: f64| {
        let bits = v.to_bits() as i64;
        if bits < 0 { i64::MIN - bits } else { bits }
    };
    key(a) - key(b)
}

fn cases(name: &str) -> Vec<(f64, f64)> {
    let path = format!("{}/tests/data/ulp/{name}.txt", env!("CARGO_MANIFEST_DIR"));
    let text = std::fs::read_to_string(path).unwrap();
    text.lines()
        .filter(|l| !l.starts_with('#'))
        .map(|l| {
            let (x, y) = l.split_once(' ').unwrap();
            let bits = |s: &str| f64::from_bits(u64::from_str_radix(s, 16).unwrap());
            (bits(x), bits(y))
        })
        .collect()
}

/// "n arguments: k exact, j off by 1 ulp, max |error| u ulp" for `f` over the cases.
fn table(name: &str, f: impl Fn(f64) -> f64) -> String {
    let cases = cases(name);
    let errors: Vec<i64> = cases.iter().map(|(x, y)| ulps(f(*x), *y).abs()).collect();
    let exact = errors.iter().filter(|e| **e == 0).count();
    let one = errors.iter().filter(|e| **e == 1).count();
    let max = errors.iter().max().unwrap();
    format!("{} arguments: {exact} correctly rounded, {one} off by 1 ulp, max {max} ulp", cases.len())
}

#[test]
fn exp_ln_sin_and_cos_are_within_one_ulp() {
    let report = format!(
        "exp  jitfit: {}\nexp  std:    {}\nln   jitfit: {}\nln   std:    {}\nsin  jitfit: {}\nsin  std:    {}\ncos  jitfit: {}\ncos  std:    {}\n",
        table("exp", math::exp),
        table("exp", f64::exp),
        table("ln", math::ln),
        table("ln", f64::ln),
        table("sin", math::sin),
        table("sin", f64::sin),
        table("cos", math::cos),
        table("cos", f64::cos),
    );
    // jitfit's rows are the promise (≤ 1 ulp); std's depend on the machine's libm, so only
    // jitfit's are compared exactly.
    let ours: String = report.lines().filter(|l| l.contains("jitfit")).map(|l| format!("{l}\n")).collect();
    println!("{report}");
    expect_test::expect_file!["snapshots/math_ulp.txt"].assert_eq(&ours);
    for line in ours.lines() {
        assert!(line.ends_with("max 0 ulp") || line.ends_with("max 1 ulp"), "{line}");
    }
}

/// The Faddeeva function against scipy's `wofz` (`tests/data/faddeeva/generate.py`): |w| to
/// 1e-14 relative and each part to 1e-14 of |w| everywhere on the grid (both half-planes, the
/// axes, |z| to 1e4).
#[test]
fn faddeeva_matches_scipy() {
    #[derive(serde::Deserialize)]
    struct Reference {
        cases: Vec<[String; 4]>,
    }
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/data/faddeeva/reference.json");
    let reference: Reference = serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    assert!(reference.cases.len() > 2000);
    let (mut worst_abs, mut worst_part) = (0.0f64, 0.0f64);
    for case in &reference.cases {
        let [x, y, re, im] = case.clone().map(|s| s.parse::<f64>().unwrap());
        let (u, v) = jitfit::ops::faddeeva::faddeeva(x, y);
        let size = re.hypot(im);
        let error = (u - re).hypot(v - im) / size;
        let part = (u - re).abs().max((v - im).abs()) / size;
        assert!(error < 1e-14 && part < 1e-14, "w({x} + {y}i) = {u} + {v}i, scipy {re} + {im}i");
        worst_abs = worst_abs.max(error);
        worst_part = worst_part.max(part);
    }
    println!("faddeeva vs scipy: |Δw|/|w| ≤ {worst_abs:e}, max part error / |w| ≤ {worst_part:e}");
    // The edges: NaN in, NaN out; far out, the asymptote.
    assert!(jitfit::ops::faddeeva::faddeeva(f64::NAN, 1.0).0.is_nan());
    let (u, v) = jitfit::ops::faddeeva::faddeeva(3e9, 4e9);
    let k = 1.0 / (std::f64::consts::PI.sqrt() * 25e18);
    assert!((u - 4e9 * k).abs() < 1e-15 * u && (v - 3e9 * k).abs() < 1e-15 * v);
    // erfcx(t) = w(it).
    let (u, v) = jitfit::ops::faddeeva::faddeeva(0.0, 30.0);
    assert!((u - 0.018795888861416754).abs() < 1e-15 && v == 0.0, "{u} {v}");
}

/// The exact derivatives of `faddeeva_re` and `faddeeva_im` (the Cauchy–Riemann form of
/// w' = −2zw + 2i/√π) agree with central differences.
#[test]
fn faddeeva_derivatives_match_finite_differences() {
    let text = "faddeeva_re(a*x, b) + c*faddeeva_im(x - a, b*x)";
    let xs = [-3.0, -0.7, 0.0, 0.4, 1.9, 6.0];
    derivatives_match_central_differences(text, &xs, &[[0.8, 0.3, 1.5], [1.7, 2.0, -0.5], [0.2, 0.05, 2.0]], 1e-7);
}

/// Every exact ∂f/∂p of a three-parameter model of `x` at `xs` against a central difference
/// (step 1e-6 of the parameter), within `tolerance`·(1 + |∂f/∂p|).
fn derivatives_match_central_differences(text: &str, xs: &[f64], param_sets: &[[f64; 3]], tolerance: f64) {
    let model = jitfit::Model::parse_with_vars(text, &["x"]).unwrap();
    let mut interp = jitfit::ir::Interpreter::new(model.kernel());
    for params in param_sets {
        let at = interp.eval_batch(&[xs], None, params);
        for k in 0..3 {
            let h = 1e-6 * params[k].abs().max(1e-3);
            let (mut up, mut down) = (*params, *params);
            up[k] += h;
            down[k] -= h;
            let fu = interp.eval_batch(&[xs], None, &up).value;
            let fd = interp.eval_batch(&[xs], None, &down).value;
            for i in 0..xs.len() {
                let numeric = (fu[i] - fd[i]) / (2.0 * h);
                let exact = at.jacobian[i * 3 + k];
                assert!(
                    (numeric - exact).abs() <= tolerance * (1.0 + exact.abs()),
                    "{text}: ∂/∂p{k} at x = {}, {params:?}: {exact} vs {numeric}",
                    xs[i]
                );
            }
        }
    }
}

/// ln|Γ| and ψ⁽ⁿ⁾ against scipy's `gammaln` and `polygamma` (`tests/data/gamma/generate.py`):
/// within 8e-15 (lgamma) and 4e-15 (digamma) of max(1, |value|) — absolute near their zeros,
/// where the shifted series cancels — and 4e-15 relative for the higher orders (left of 0,
/// relative to the largest of the terms that cancel there).
#[test]
fn gamma_functions_match_scipy() {
    #[derive(serde::Deserialize)]
    struct Case {
        x: Vec<f64>,
        values: Vec<Option<f64>>,
    }
    #[derive(serde::Deserialize)]
    struct Reference {
        cases: std::collections::BTreeMap<String, Case>,
    }
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/data/gamma/reference.json");
    let reference: Reference = serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    use jitfit::ops::gamma::{lgamma, polygamma};
    for (name, case) in &reference.cases {
        let (f, tolerance): (Box<dyn Fn(f64) -> f64>, f64) = match name.as_str() {
            "lgamma" => (Box::new(lgamma), 8e-15),
            n => {
                let order: f64 = n.trim_start_matches("polygamma").parse().unwrap();
                (Box::new(move |x| polygamma(order, x)), 4e-15)
            }
        };
        let mut worst = 0.0f64;
        for (x, value) in case.x.iter().zip(&case.values) {
            let ours = f(*x);
            let Some(value) = value else { continue };
            if *x < -1000.0 && name != "lgamma" && name != "polygamma0" {
                assert!(ours.is_nan(), "{name}({x}) = {ours}");
                continue;
            }
            if *value == 0.0 {
                assert!(ours.abs() <= tolerance, "{name}({x}) = {ours:e}, scipy 0");
                continue;
            }
            let size = if name == "lgamma" || name == "polygamma0" {
                value.abs().max(1.0)
            } else if *x < 0.0 {
                // Left of 0 the terms n!/(x+k)ⁿ⁺¹ change sign: against the largest, nearest the pole.
                let n: f64 = name.trim_start_matches("polygamma").parse().unwrap();
                let largest = (1..=n as u32).map(f64::from).product::<f64>() / (x - x.round()).abs().powf(n + 1.0);
                value.abs().max(largest)
            } else {
                value.abs()
            };
            let error = (ours - value).abs() / size;
            assert!(error <= tolerance, "{name}({x}) = {ours:e}, scipy {value:e}: {error:e}");
            worst = worst.max(error);
        }
        println!("{name} vs scipy: at most {worst:e}");
    }
}

/// The exact derivatives of `lgamma` (ψ) and `polygamma` (the next order) agree with central
/// differences, negative arguments included.
#[test]
fn gamma_derivatives_match_finite_differences() {
    let text = "lgamma(a*x + 0.3) + c*polygamma(1, x*b + 2) + digamma(b - x)";
    // Parameters in order of appearance: a, c, b.
    derivatives_match_central_differences(
        text,
        &[-3.3, -0.7, 0.4, 1.9, 6.0, 30.0],
        &[[0.8, 0.3, 1.5], [1.7, -0.5, 0.85]],
        1e-6,
    );
}
