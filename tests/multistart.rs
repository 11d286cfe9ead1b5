//! Multi-start finds global minima that a single start misses, deterministically.

use jitfit::multistart::{MultiStart, Sampler};
use jitfit::{Data, compile};

fn sinusoid() -> Data {
    let x: Vec<f64> = (0..200).map(|i| i as f64 * 0.05).collect();
    let y: Vec<f64> = x.iter().map(|x| 1.3 * (3.7 * x).sin()).collect();
    Data::new().var("x", x).y(y)
}

#[test]
fn a_sinusoids_frequency_needs_many_starts() {
    let model = compile("a*sin(w*x)").unwrap();
    let data = sinusoid();
    let single = model.fit(&data).p0(&[1.0, 1.0]).run().unwrap();
    assert!((single.values[1] - 3.7).abs() > 0.1, "one start from w = 1 should miss: {:?}", single.values);
    for sampler in [Sampler::Sobol, Sampler::Lhs, Sampler::Random] {
        let options = MultiStart { starts: 32, sampler, seed: 3, ..Default::default() };
        let result = model.multi_start(&data, |fit| fit.bound("a", 0.0, 5.0).bound("w", 0.5, 6.0), &options).unwrap();
        assert!((result.best.values[1] - 3.7).abs() < 1e-8, "{sampler:?}: {:?}", result.best.values);
        assert!(result.best.cost < 1e-20 && result.best.cost < single.cost);
        assert!(!result.minima.is_empty());
        // Deterministic for a seed.
        let again = model.multi_start(&data, |fit| fit.bound("a", 0.0, 5.0).bound("w", 0.5, 6.0), &options).unwrap();
        assert_eq!(again.best.values, result.best.values);
    }
}

#[test]
fn two_gaussians_from_a_bad_start() {
    let x: Vec<f64> = (0..300).map(|i| i as f64 * 0.05).collect();
    let g = |x: f64, a: f64, m: f64, s: f64| a * (-(x - m).powi(2) / (2.0 * s * s)).exp();
    let y: Vec<f64> = x.iter().map(|x| g(*x, 2.0, 4.0, 0.5) + g(*x, 1.0, 10.0, 0.8)).collect();
    let model = compile("a1*exp(-(x-m1)^2/(2*s1^2)) + a2*exp(-(x-m2)^2/(2*s2^2))").unwrap();
    let data = Data::new().var("x", x).y(y);
    fn bounds(fit: jitfit::FitBuilder<'_>) -> jitfit::FitBuilder<'_> {
        fit.bound("a1", 0.0, 5.0)
            .bound("m1", 0.0, 15.0)
            .bound("s1", 0.1, 3.0)
            .bound("a2", 0.0, 5.0)
            .bound("m2", 0.0, 15.0)
            .bound("s2", 0.1, 3.0)
    }
    let single = bounds(model.fit(&data)).p0(&[1.0, 1.0, 0.3, 1.0, 2.0, 0.3]).run().unwrap();
    assert!(single.cost > 1e-3, "a single start from both peaks on the left should miss: {:?}", single.values);
    let result = model.multi_start(&data, bounds, &MultiStart { starts: 64, seed: 1, ..Default::default() }).unwrap();
    assert!(result.best.cost < 1e-20, "best cost {}", result.best.cost);
    assert!(result.best.cost < single.cost);
    let mut means = [result.best.value("m1").unwrap(), result.best.value("m2").unwrap()];
    means.sort_by(f64::total_cmp);
    assert!((means[0] - 4.0).abs() < 1e-8 && (means[1] - 10.0).abs() < 1e-8, "{means:?}");
}
