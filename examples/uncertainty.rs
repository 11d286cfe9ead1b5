//! Profile intervals, a contour, bands and derived quantities of a 5-parameter, 1 000-point fit, timed in
//! the process (best of 5): `cargo run --release --example uncertainty`.

use jitfit::{Data, Level, compile};
use std::time::{Duration, Instant};

fn best<T>(mut run: impl FnMut() -> T) -> (T, Duration) {
    let mut fastest = Duration::MAX;
    let mut last = None;
    for _ in 0..5 {
        let started = Instant::now();
        last = Some(run());
        fastest = fastest.min(started.elapsed());
    }
    (last.expect("five runs"), fastest)
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let x: Vec<f64> = (0..1000).map(|i| -5.0 + 10.0 * i as f64 / 999.0).collect();
    // Deterministic noise: a fixed sequence, no random generator needed.
    let y: Vec<f64> = x
        .iter()
        .enumerate()
        .map(|(i, x)| {
            let noise = 0.1 * ((i as f64 * 12.9898).sin() * 43758.5453).fract();
            2.0 * (-(x - 0.3).powi(2) / (2.0 * 0.64)).exp() + 0.5 + 0.05 * x + noise
        })
        .collect();
    let model = compile("a*exp(-(x-m)^2/(2*s^2)) + c + d*x")?;
    let data = Data::new().var("x", x).y(y);
    let (fit, fit_time) = best(|| model.fit(&data).p0(&[1.5, 0.0, 1.0, 0.0, 0.0]).run());
    let fit = fit?;
    let (profile, profile_time) = best(|| fit.profile(&[Level::Sigma(1.0)]));
    let profile = profile?;
    let grid = Data::new().var("x", (0..10_000).map(|i| -5.0 + i as f64 / 1000.0).collect::<Vec<_>>());
    let (bands, band_time) = best(|| fit.bands(&grid, Level::Sigma(1.0)));
    let bands = bands?;
    let (contour, contour_time) = best(|| fit.contour("a", "s", Level::Sigma(1.0), 36));
    let contour = contour?;
    let (derived, derive_time) = best(|| fit.derive("area", "a*s*sqrt(2*pi)"));
    let derived = derived?;
    println!("fit: {:.3} ms", fit_time.as_secs_f64() * 1e3);
    println!(
        "profile 1σ of 5 parameters: {:.3} ms, {} refits, {:.1}× the fit",
        profile_time.as_secs_f64() * 1e3,
        profile.refits,
        profile_time.as_secs_f64() / fit_time.as_secs_f64()
    );
    println!(
        "bands on {} grid points: {:.3} ms (prediction band: {})",
        bands.value.len(),
        band_time.as_secs_f64() * 1e3,
        bands.prediction.is_some()
    );
    println!(
        "contour of a, s (1σ, {} points): {:.3} ms, {} refits, {:.1}× the fit",
        contour.points.len(),
        contour_time.as_secs_f64() * 1e3,
        contour.refits,
        contour_time.as_secs_f64() / fit_time.as_secs_f64()
    );
    println!("derived area = {} ± {}: {:.1} µs", derived.value, derived.std_error, derive_time.as_secs_f64() * 1e6);
    Ok(())
}
