//! Gpufit's benchmark: N fits of a 2-D Gaussian (5 parameters) to 5×5-pixel spots, three ways
//! in one run: the compact batch LM on the CPU (`fit_many`), the same loop on the GPU (when
//! there is one), and the exact per-fit solver (`fit_batch`, TRF with every option).
//!
//! Run: `cargo run --release --example batch_gauss -- 100000`

use jitfit::backend::Backend;
use jitfit::{BatchData, BatchOptions, Data};

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
    let mut z = Vec::with_capacity(25 * n);
    for _ in 0..n {
        let (a, x0, y0, s, b) = (10.0 + noise(), 2.0 + 0.3 * noise(), 2.0 + 0.3 * noise(), 1.0 + 0.1 * noise(), 1.0);
        for (x, y) in xs.iter().zip(&ys) {
            z.push(a * (-((x - x0).powi(2) + (y - y0).powi(2)) / (2.0 * s * s)).exp() + b + 0.1 * noise());
        }
    }
    let p0 = [9.0, 2.1, 1.9, 1.2, 0.5];
    let data = BatchData::uniform(&z, 25).shared_var("x", &xs).shared_var("y", &ys);
    let report = |what: &str, r: &jitfit::BatchResults| {
        println!(
            "{what}: {n} fits in {:.3?}: {:.0} fits/s, {} converged, median {} iterations",
            r.elapsed,
            r.fits_per_second(),
            r.converged(),
            r.median_iterations().unwrap_or(0)
        );
    };
    let cpu = model.fit_many(&data, &BatchOptions::new(&p0).backend(Backend::Cpu)).unwrap();
    report("fit_many, CPU", &cpu);
    match model.fit_many(&data, &BatchOptions::new(&p0).backend(Backend::Gpu)) {
        Ok(gpu) => {
            report(&format!("fit_many, GPU ({})", gpu.adapter.as_deref().unwrap_or("?")), &gpu);
            let worst = (0..n * 5)
                .filter(|i| cpu.status[i / 5].converged() && gpu.status[i / 5].converged())
                .map(|i| (gpu.values[i] - cpu.values[i]).abs() / cpu.std_errors[i])
                .fold(0.0, f64::max);
            println!("  largest |GPU − CPU| / stderr over the converged fits: {worst:.2e}");
            // The first run opened the device and built the pipeline; again warm, and with one
            // iteration per fit: what the transfers and the host cost apart from the fit loop.
            let time = |options: BatchOptions| model.fit_many(&data, &options).map(|r| r.elapsed);
            if let (Ok(warm), Ok(one)) = (
                time(BatchOptions::new(&p0).backend(Backend::Gpu)),
                time(BatchOptions::new(&p0).backend(Backend::Gpu).max_iterations(1)),
            ) {
                println!("  again: {warm:.3?}; with one iteration per fit: {one:.3?}");
            }
        }
        Err(e) => println!("fit_many, GPU: {e}"),
    }
    let datasets: Vec<Data> =
        z.chunks(25).map(|spot| Data::new().var("x", xs.clone()).var("y", ys.clone()).y(spot.to_vec())).collect();
    let exact = model.fit_batch(&datasets, |_, fit| fit.p0(&p0).tolerances(1e-10, 1e-10, 1e-10).backend(Backend::Cpu));
    println!(
        "fit_batch (TRF per fit), CPU: {n} fits in {:.3?}: {:.0} fits/s, {} converged, median {} iterations",
        exact.elapsed,
        exact.fits_per_second(),
        exact.converged(),
        exact.median_iterations().unwrap_or(0)
    );
    let cpu_values = &cpu.values;
    let worst = exact
        .fits
        .iter()
        .enumerate()
        .filter_map(|(k, f)| {
            f.as_ref().ok().filter(|f| f.status.converged() && cpu.status[k].converged()).map(|f| (k, f))
        })
        .flat_map(|(k, f)| (0..5).map(move |j| (f.values[j] - cpu_values[k * 5 + j]).abs() / f.std_errors[j]))
        .fold(0.0, f64::max);
    println!("  largest |fit_many − fit_batch| / stderr: {worst:.2e}");
}
