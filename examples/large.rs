//! Fits `a*exp(-b*x) + c` to N generated points (default 10^7) and reports wall time, passes
//! over the data and peak memory, next to one plain Rust pass over the same data.
//!
//! Run: `cargo run --release --example large -- 100000000`

use jitfit::{Data, compile};
use std::time::Instant;

fn peak_rss_mb() -> f64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmHWM:"))
                .map(|l| l.split_whitespace().nth(1).unwrap_or("0").parse::<f64>().unwrap_or(0.0))
        })
        .unwrap_or(0.0)
        / 1024.0
}

fn main() {
    let n: usize = std::env::args().nth(1).map_or(10_000_000, |s| s.parse().expect("a number of points"));
    let t = Instant::now();
    let x: Vec<f64> = (0..n).map(|i| i as f64 * 10.0 / n as f64).collect();
    let y: Vec<f64> = x
        .iter()
        .enumerate()
        .map(|(i, x)| 3.0 * (-0.7 * x).exp() + 0.5 + 0.01 * (((i.wrapping_mul(7919)) % 1000) as f64 / 500.0 - 1.0))
        .collect();
    let generate = t.elapsed();
    let data_mb = (2 * n * 8) as f64 / (1024.0 * 1024.0);
    let rss_before = peak_rss_mb();

    // One plain pass: Σ (a·exp(−b·x) + c − y)², single thread and all threads.
    let t = Instant::now();
    let plain: f64 = x.iter().zip(&y).map(|(x, y)| (1.0 * (-1.0 * x).exp() + 0.0 - y).powi(2)).sum();
    let plain_pass = t.elapsed();
    // Memory bandwidth: copy x into a buffer whose pages are already touched.
    let mut copy = vec![1.0f64; n];
    let t = Instant::now();
    copy.copy_from_slice(&x);
    let copy_time = t.elapsed();
    std::hint::black_box(&copy);
    drop(copy);

    let data = Data::new().var("x", x).y(y);
    let model = compile("a*exp(-b*x) + c").unwrap();
    let t = Instant::now();
    let fit = model.fit(&data).p0(&[1.0, 1.0, 0.0]).run().unwrap();
    let elapsed = t.elapsed();
    println!("points            {n}  ({data_mb:.0} MiB of x and y, generated in {generate:.2?})");
    println!("fit               {elapsed:.3?}  {}  ({:?})", fit.message, fit.jacobian_mode);
    // Streamed, every evaluation is one pass accumulating Σr², JᵀJ and Jᵀr together; an
    // accepted point's Jacobian comes from its evaluation's pass.
    println!("passes            {} ({} iterations, {} Jacobians taken from them)", fit.nfev, fit.iterations, fit.njev);
    println!("per pass          {:.3?}", elapsed / fit.nfev as u32);
    println!("plain Rust pass   {plain_pass:.3?} (one thread, Σr² with exp; {plain:.3e})");
    let bandwidth = 2.0 * (n * 8) as f64 / copy_time.as_secs_f64(); // read + write
    println!("memory copy       {copy_time:.3?} for {:.0} MiB: {:.1} GB/s read+write", data_mb / 2.0, bandwidth / 1e9);
    println!(
        "bandwidth bound   {:.3?} per pass (reading x and y once)",
        std::time::Duration::from_secs_f64((2 * n * 8) as f64 / bandwidth)
    );
    println!(
        "peak RSS          {:.0} MiB (after generating: {rss_before:.0} MiB; data {data_mb:.0} MiB)",
        peak_rss_mb()
    );
    println!("parameters        {:?}", fit.values);
}
