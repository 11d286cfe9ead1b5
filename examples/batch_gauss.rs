//! Gpufit's benchmark: N fits of a 2-D Gaussian (5 parameters) to 5×5-pixel spots.
//!
//! Run: `cargo run --release --example batch_gauss -- 100000`

use jitfit::Data;

fn main() {
    let n: usize = std::env::args().nth(1).map_or(10_000, |s| s.parse().unwrap());
    let model = jitfit::compile_with_vars("A*exp(-((x-x0)^2 + (y-y0)^2)/(2*s^2)) + B", &["x", "y"]).unwrap();
    let (xs, ys): (Vec<f64>, Vec<f64>) = (0..25).map(|k| ((k % 5) as f64, (k / 5) as f64)).unzip();
    let mut state = 12345u64;
    let mut noise = || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        (state >> 11) as f64 / (1u64 << 53) as f64 - 0.5
    };
    let datasets: Vec<Data> = (0..n)
        .map(|_| {
            let (a, x0, y0, s, b) =
                (10.0 + noise(), 2.0 + 0.3 * noise(), 2.0 + 0.3 * noise(), 1.0 + 0.1 * noise(), 1.0);
            let z: Vec<f64> = xs
                .iter()
                .zip(&ys)
                .map(|(x, y)| a * (-((x - x0).powi(2) + (y - y0).powi(2)) / (2.0 * s * s)).exp() + b + 0.1 * noise())
                .collect();
            Data::new().var("x", xs.clone()).var("y", ys.clone()).y(z)
        })
        .collect();
    let batch = model.fit_batch(&datasets, |_, fit| fit.p0(&[9.0, 2.1, 1.9, 1.2, 0.5]).tolerances(1e-10, 1e-10, 1e-10));
    println!(
        "{n} fits in {:.3?}: {:.0} fits/s, {} converged, median {} iterations",
        batch.elapsed,
        batch.fits_per_second(),
        batch.converged(),
        batch.median_iterations().unwrap_or(0)
    );
}
