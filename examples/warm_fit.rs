//! A warm 100-point exponential fit in a loop, for profiling (`perf record`).
//!
//! Run: `cargo run --release --example warm_fit -- 20000`

fn main() {
    let n: usize = std::env::args().nth(1).map_or(20_000, |s| s.parse().unwrap());
    let x: Vec<f64> = (0..100).map(|i| i as f64 * 0.1).collect();
    let y: Vec<f64> =
        x.iter().enumerate().map(|(i, x)| 3.0 * (-0.7 * x).exp() + 0.5 + 0.01 * ((i * 37 % 11) as f64 - 5.0)).collect();
    let data = jitfit::Data::new().var("x", x).y(y);
    let model = jitfit::compile("a*exp(-b*x) + c").unwrap();
    let fit = model.fit(&data).p0(&[1.0, 1.0, 0.0]).run().unwrap();
    println!("{} iterations, {} evaluations of r, {} of J", fit.iterations, fit.nfev, fit.njev);
    // The best of five rounds: this machine's neighbours make single rounds drift.
    let best = (0..5)
        .map(|_| {
            let t = std::time::Instant::now();
            for _ in 0..n / 5 {
                std::hint::black_box(model.fit(&data).p0(&[1.0, 1.0, 0.0]).run().unwrap());
            }
            t.elapsed() / (n / 5) as u32
        })
        .min()
        .unwrap();
    println!("{best:?} per fit (best of 5 rounds of {})", n / 5);
}
