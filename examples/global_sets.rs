//! Time of a global fit against the number of data sets: the structured solver
//! (`CompiledModel::fit_global`) beside the same fit written as one model with indicator
//! columns (the dense rewrite), in one run.
//!
//!     cargo run --release --example global_sets [SETS...]
//!
//! Each set: 25 points of A·exp(−t/τ₁) + C·exp(−t/τ₂) + B + D·t with τ₁, τ₂ shared (issue
//! 16's 4 local + 2 shared), noise of σ = 0.01 from a fixed-seed generator. The dense
//! rewrite runs up to 200 sets (beyond, its Jacobian is sets·25 × (4·sets + 2)).

use jitfit::{Data, compile_with_vars};
use std::time::Instant;

const MODEL: &str = "A*exp(-t/tau1) + C*exp(-t/tau2) + B + D*t";

fn sets(count: usize) -> Vec<Data> {
    let t: Vec<f64> = (0..25).map(|i| i as f64 * 0.4).collect();
    let mut state: u64 = 0x9e3779b97f4a7c15;
    let mut normal = move || {
        // Box–Muller over a 64-bit LCG: reproducible noise without a dependency.
        let mut uniform = || {
            state = state.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
            ((state >> 11) as f64 + 0.5) / (1u64 << 53) as f64
        };
        let (u, v) = (uniform(), uniform());
        (-2.0 * u.ln()).sqrt() * (2.0 * std::f64::consts::PI * v).cos()
    };
    (0..count)
        .map(|k| {
            let (a, c, b, d) = (2.0 + (k % 7) as f64 * 0.3, 1.0 + (k % 3) as f64 * 0.5, 0.1 * (k % 4) as f64, 0.01);
            let y: Vec<f64> =
                t.iter().map(|t| a * (-t / 0.8).exp() + c * (-t / 4.0).exp() + b + d * t + 0.01 * normal()).collect();
            Data::new().var("t", t.clone()).y(y)
        })
        .collect()
}

fn dense(sets: &[Data]) -> (f64, f64) {
    let k = sets.len();
    let vars: Vec<String> =
        ["t".to_owned()].into_iter().chain((1..=k).map(jitfit::syntax::GlobalModel::indicator)).collect();
    let shared = ["tau1".to_owned(), "tau2".to_owned()];
    let started = Instant::now();
    let global = jitfit::syntax::global_model(MODEL, &vars[..1], k, &shared).unwrap();
    let model = compile_with_vars(&global.text, &vars).unwrap();
    let compiled = started.elapsed().as_secs_f64();
    let n = sets[0].len();
    let mut data = Data::new()
        .var("t", sets.iter().flat_map(|s| s.column("t").unwrap().to_vec()).collect::<Vec<_>>())
        .y(sets.iter().flat_map(|s| s.response().to_vec()).collect::<Vec<_>>());
    for j in 0..k {
        data = data.var(&vars[j + 1], (0..k * n).map(|i| if i / n == j { 1.0 } else { 0.0 }).collect::<Vec<_>>());
    }
    let fit = model.fit(&data).initial("tau1", 0.5).initial("tau2", 3.0).run().unwrap();
    let total = started.elapsed().as_secs_f64();
    println!(
        "  dense rewrite: compile {:.3} s, fit {:.3} s, chi2 {:.6e}, tau1 {:.9}",
        compiled,
        total - compiled,
        fit.chi2,
        fit.value("tau1").unwrap()
    );
    (total, fit.chi2)
}

fn main() {
    let counts: Vec<usize> = std::env::args().skip(1).filter_map(|a| a.parse().ok()).collect();
    let counts = if counts.is_empty() { vec![10, 100, 200, 1000, 10000] } else { counts };
    let model = compile_with_vars(MODEL, &["t"]).unwrap();
    for count in counts {
        let data = sets(count);
        let started = Instant::now();
        let fit =
            model.fit_global(&data, &["tau1", "tau2"], |fit| fit.initial("tau1", 0.5).initial("tau2", 3.0)).unwrap();
        let elapsed = started.elapsed().as_secs_f64();
        println!(
            "{count} sets ({} free parameters, {} points): structured {:.4} s ({:.1} µs per set), {} iterations, {:?}, chi2 {:.6e}, tau1 {:.9} ± {:.2e}",
            fit.n_free,
            fit.n_points,
            elapsed,
            elapsed / count as f64 * 1e6,
            fit.iterations,
            fit.status,
            fit.chi2,
            fit.value(0, "tau1").unwrap(),
            fit.std_error(0, "tau1").unwrap()
        );
        if count <= 200 {
            dense(&data);
        }
    }
}
