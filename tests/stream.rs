//! The streamed path (J never stored; JᵀJ and Σr² accumulated over chunks in parallel) against
//! the materialized path, and its independence from the number of threads.

use jitfit::solve::JacobianMode;
use jitfit::{Data, Fit, compile};

fn data(n: usize) -> Data {
    let x: Vec<f64> = (0..n).map(|i| i as f64 * 10.0 / n as f64).collect();
    // Deterministic pseudo-noise.
    let y: Vec<f64> = x
        .iter()
        .enumerate()
        .map(|(i, x)| 3.0 * (-0.7 * x).exp() + 0.5 + 0.01 * (((i * 7919) % 1000) as f64 / 500.0 - 1.0))
        .collect();
    let sigma: Vec<f64> = (0..n).map(|i| 0.01 * (1.0 + (i % 3) as f64)).collect();
    Data::new().var("x", x).y(y).sigma(sigma)
}

fn fit(data: &Data, mode: JacobianMode, method: jitfit::solve::Method) -> Fit {
    compile("a*exp(-b*x) + c").unwrap().fit(data).p0(&[1.0, 1.0, 0.0]).method(method).jacobian_mode(mode).run().unwrap()
}

#[test]
fn streamed_and_materialized_paths_agree() {
    let data = data(100_000);
    for method in [jitfit::solve::Method::Trf, jitfit::solve::Method::Lm] {
        let dense = fit(&data, JacobianMode::Dense, method);
        let streamed = fit(&data, JacobianMode::NormalEquations, method);
        assert_eq!(streamed.jacobian_mode, JacobianMode::NormalEquations);
        assert!(streamed.residuals.is_empty() && !dense.residuals.is_empty());
        assert!(dense.status.converged() && streamed.status.converged(), "{method:?}");
        for k in 0..3 {
            let rel = (dense.values[k] - streamed.values[k]).abs() / dense.values[k].abs();
            assert!(rel < 1e-10, "{method:?} parameter {k}: {} vs {}", dense.values[k], streamed.values[k]);
        }
        for (a, b) in dense.covariance.iter().zip(&streamed.covariance) {
            assert!((a - b).abs() <= 1e-8 * a.abs().max(1e-30), "{method:?} covariance {a} vs {b}");
        }
        assert!((dense.chi2 / streamed.chi2 - 1.0).abs() < 1e-10);
        assert!((dense.r_squared - streamed.r_squared).abs() < 1e-12);
    }
}

#[test]
fn thread_count_does_not_change_results() {
    let data = data(200_000);
    let run = |threads: usize| {
        let pool = rayon::ThreadPoolBuilder::new().num_threads(threads).build().unwrap();
        pool.install(|| fit(&data, JacobianMode::NormalEquations, jitfit::solve::Method::Trf))
    };
    let (one, four) = (run(1), run(4));
    assert_eq!(one.values, four.values);
    assert_eq!(one.covariance, four.covariance);
    assert_eq!(one.cost.to_bits(), four.cost.to_bits());
    assert_eq!(one.nfev, four.nfev);
}

#[test]
fn auto_mode_streams_large_data() {
    // 10^5 points × 3 parameters = 3·10^5 Jacobian entries: above the dense limit
    // (`DENSE_JACOBIAN_LIMIT` = 2^18); 6·10^6 points under JITFIT_SLOW_TESTS.
    const { assert!(100_000 * 3 > jitfit::solve::DENSE_JACOBIAN_LIMIT) };
    let data = data(crate::support::size(100_000, 6_000_000));
    let fit = compile("a*exp(-b*x) + c").unwrap().fit(&data).p0(&[1.0, 1.0, 0.0]).run().unwrap();
    assert_eq!(fit.jacobian_mode, JacobianMode::NormalEquations);
    assert!(fit.status.converged());
    assert!((fit.values[1] - 0.7).abs() < 1e-3, "{:?}", fit.values);
}

/// Robust losses on the streamed path: the same fit as the dense path.
#[test]
fn robust_losses_stream_too() {
    let mut data = data(crate::support::size(20_000, 50_000));
    // Outliers.
    let mut y = data.response().to_vec();
    for i in (0..y.len()).step_by(997) {
        y[i] += 5.0;
    }
    data = data.y(y);
    let model = compile("a*exp(-b*x) + c").unwrap();
    for loss in [jitfit::solve::Loss::SoftL1, jitfit::solve::Loss::Cauchy] {
        let run = |mode| model.fit(&data).p0(&[1.0, 1.0, 0.0]).loss(loss, 0.05).jacobian_mode(mode).run().unwrap();
        let (dense, streamed) = (run(JacobianMode::Dense), run(JacobianMode::NormalEquations));
        assert!(dense.status.converged() && streamed.status.converged(), "{loss:?}");
        for k in 0..3 {
            let rel = (dense.values[k] - streamed.values[k]).abs() / dense.values[k].abs();
            assert!(rel < 1e-8, "{loss:?} parameter {k}: {} vs {}", dense.values[k], streamed.values[k]);
        }
        assert!((dense.chi2 / streamed.chi2 - 1.0).abs() < 1e-8, "{loss:?}: χ² {} vs {}", dense.chi2, streamed.chi2);
        assert!((dense.cost / streamed.cost - 1.0).abs() < 1e-8);
        assert!((dense.values[1] - 0.7).abs() < 1e-3, "the loss resists the outliers: {:?}", dense.values);
    }
}

/// A cubic in x ∈ [30, 31] on 200 000 points: its columns are nearly collinear, so JᵀJ
/// loses too many digits. The streamed fit notices and polishes on the dense Jacobian, ending
/// where the dense fit does.
#[test]
fn ill_conditioned_normal_equations_are_polished_on_the_dense_path() {
    let n = 200_000;
    let x: Vec<f64> = (0..n).map(|i| 30.0 + i as f64 / n as f64).collect();
    let y: Vec<f64> = x
        .iter()
        .enumerate()
        .map(|(i, x)| {
            let t = x - 30.0;
            1.0 + 2.0 * t - 3.0 * t * t + 0.5 * t * t * t + 1e-3 * (((i * 7919) % 1000) as f64 / 500.0 - 1.0)
        })
        .collect();
    let data = Data::new().var("x", x).y(y);
    let model = compile("a + b*x + c*x^2 + d*x^3").unwrap();
    let dense = model.fit(&data).jacobian_mode(JacobianMode::Dense).run().unwrap();
    let auto = model.fit(&data).run().unwrap();
    let warning = auto.conditioning_warning.as_deref().unwrap_or("");
    assert!(warning.contains("polished on the dense Jacobian"), "{warning:?}");
    assert_eq!(auto.jacobian_mode, JacobianMode::Dense);
    for k in 0..4 {
        let rel = (dense.values[k] - auto.values[k]).abs() / dense.values[k].abs();
        assert!(rel < 1e-6, "parameter {k}: {} vs {}", dense.values[k], auto.values[k]);
    }
    // Asked for explicitly, the streamed path is kept, with a warning.
    let streamed = model.fit(&data).jacobian_mode(JacobianMode::NormalEquations).run().unwrap();
    assert_eq!(streamed.jacobian_mode, JacobianMode::NormalEquations);
    assert!(streamed.conditioning_warning.as_deref().unwrap_or("").contains("digits may be lost"));
}
