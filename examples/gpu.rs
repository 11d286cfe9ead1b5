//! The GPU backend's costs, next to the CPU backend's, in one run: device start, upload, one
//! iteration's dispatch + read-back (normal equations; the cost of a trial step), and whole
//! fits of `a*exp(-b*x) + c` on both backends.
//!
//! Run: `cargo run --release --example gpu -- 1000000` (lavapipe is for correctness: expect it
//! to be slower than the CPU backend).

use jitfit::backend::gpu::{GpuData, device};
use jitfit::backend::wgsl::Precision;
use jitfit::backend::{Backend, Chunk, Kernels, NormalEquations};
use jitfit::{Data, compile};
use std::time::{Duration, Instant};

fn median(mut times: Vec<Duration>) -> Duration {
    times.sort();
    times[times.len() / 2]
}

fn ms(d: Duration) -> String {
    format!("{:.2} ms", d.as_secs_f64() * 1e3)
}

fn main() {
    let n: usize = std::env::args().nth(1).map_or(1_000_000, |s| s.parse().expect("a number of points"));
    let x: Vec<f64> = (0..n).map(|i| i as f64 * 10.0 / n as f64).collect();
    let y: Vec<f64> = x
        .iter()
        .enumerate()
        .map(|(i, x)| 3.0 * (-0.7 * x).exp() + 0.5 + 0.01 * (((i.wrapping_mul(7919)) % 1000) as f64 / 500.0 - 1.0))
        .collect();
    let model = compile("a*exp(-b*x) + c").expect("model");
    let params = [2.5, 0.6, 0.4];

    let t = Instant::now();
    let device = match device() {
        Ok(d) => d,
        Err(e) => {
            eprintln!("{e}");
            std::process::exit(1);
        }
    };
    let start = t.elapsed();
    let t = Instant::now();
    let kernels = model.gpu_kernels().expect("pipelines");
    let pipelines = t.elapsed();
    let t = Instant::now();
    let data = GpuData::upload(device, kernels.clone(), &[&x], &y, None).expect("upload");
    let upload = t.elapsed();
    // Once more, into fresh buffers: the first upload also pays for the host's staging memory
    // being touched for the first time (on a VM, its pages being mapped in).
    let t = Instant::now();
    drop(GpuData::upload(device, kernels, &[&x], &y, None).expect("upload"));
    let upload_again = t.elapsed();
    let repeat = 7;
    let gpu_ne =
        median((0..repeat).map(|_| time(|| drop(data.normal_equations(Precision::F32, &params).unwrap()))).collect());
    let gpu_ne64 = data.has_f64().then(|| {
        median((0..repeat).map(|_| time(|| drop(data.normal_equations(Precision::F64, &params).unwrap()))).collect())
    });
    let gpu_ss = median(
        (0..repeat)
            .map(|_| {
                time(|| {
                    data.sum_of_squares(Precision::F32, &params).unwrap();
                })
            })
            .collect(),
    );
    // The CPU backend's same iteration: chunked, all cores.
    let chunk = Chunk { vars: &[&x], y: &y, weights: None };
    let cpu_ne = median(
        (0..repeat)
            .map(|_| {
                time(|| {
                    let mut problem = jitfit::problem::DataProblem::new(model.kernels(), vec![&x], &y, None);
                    let mut acc = NormalEquations::zeros(3);
                    jitfit::solve::Problem::normal_equations(
                        &mut problem,
                        &params,
                        jitfit::loss::LossSpec::LINEAR,
                        &mut acc,
                    )
                    .unwrap();
                })
            })
            .collect(),
    );
    let _ = model.kernels().sum_of_squares(&chunk, &params);
    let fit_data = Data::new().var("x", x.clone()).y(y.clone());
    let fit = |backend| {
        let t = Instant::now();
        let fit = model.fit(&fit_data).p0(&[1.0, 1.0, 0.0]).backend(backend).run().expect("fit");
        (t.elapsed(), fit)
    };
    let (cpu_time, cpu) = fit(Backend::Cpu);
    let (gpu_time, gpu) = fit(Backend::Gpu);
    println!("adapter: {}", device.describe());
    println!("{n} points");
    let mb = (n * 2 * (4 + 8)) as f64 / 1e6; // x and y, in f32 and in f64
    println!(
        "device start {}, pipelines {}, upload of {mb:.0} MB {} ({:.1} GB/s), again {} ({:.1} GB/s)",
        ms(start),
        ms(pipelines),
        ms(upload),
        mb / 1e3 / upload.as_secs_f64(),
        ms(upload_again),
        mb / 1e3 / upload_again.as_secs_f64()
    );
    println!(
        "one iteration (normal equations, dispatch + read-back): GPU {} ({:.0} Mpoints/s), CPU {} ({:.0} Mpoints/s)",
        ms(gpu_ne),
        n as f64 / gpu_ne.as_secs_f64() / 1e6,
        ms(cpu_ne),
        n as f64 / cpu_ne.as_secs_f64() / 1e6
    );
    if let Some(t) = gpu_ne64 {
        println!("one iteration in f64 on the GPU: {} ({:.0} Mpoints/s)", ms(t), n as f64 / t.as_secs_f64() / 1e6);
    }
    println!("trial step (Σr²): GPU {}", ms(gpu_ss));
    println!("whole fit, CPU backend: {} ({} iterations)", ms(cpu_time), cpu.iterations);
    println!(
        "whole fit, GPU backend: {} ({} f32 iterations ({} evaluations), then {} f64 ({} evaluations) on the {}; {} on the device)",
        ms(gpu_time),
        gpu.backend.gpu_iterations,
        gpu.backend.gpu_nfev,
        gpu.iterations,
        gpu.nfev,
        if gpu.backend.f64_on_gpu { "GPU" } else { "CPU" },
        ms(gpu.backend.gpu_time)
    );
    let worst = (0..3).map(|k| ((gpu.values[k] - cpu.values[k]) / cpu.values[k]).abs()).fold(0.0, f64::max);
    println!("largest relative difference of the parameters, GPU vs CPU fit: {worst:.1e}");
}

fn time(f: impl FnOnce()) -> Duration {
    let t = Instant::now();
    f();
    t.elapsed()
}
