//! Whole fits: a warm 100-point exponential fit (the model already compiled), LM and TRF, and
//! the NIST StRD suite (27 problems × 2 starts, default options, compile included).
//!
//! Run: `cargo bench --bench fit`.

use divan::{Bencher, black_box};
use jitfit::solve::Method;
use jitfit::{Data, ModelOptions, Names, compile};

fn main() {
    divan::main();
}

fn decay() -> Data {
    let x: Vec<f64> = (0..100).map(|i| i as f64 * 0.1).collect();
    let y: Vec<f64> =
        x.iter().enumerate().map(|(i, x)| 3.0 * (-0.7 * x).exp() + 0.5 + 0.01 * ((i * 37 % 11) as f64 - 5.0)).collect();
    Data::new().var("x", x).y(y)
}

#[divan::bench(args = [Method::Trf, Method::Lm])]
fn warm_100_point_exponential(bencher: Bencher, method: Method) {
    let model = compile("a*exp(-b*x) + c").unwrap();
    let data = decay();
    bencher.bench(|| model.fit(black_box(&data)).p0(&[1.0, 1.0, 0.0]).method(method).run().unwrap());
}

struct Problem {
    model: String,
    vars: Vec<String>,
    params: Vec<String>,
    data: Data,
    starts: [Vec<f64>; 2],
}

/// The NIST files, read once (parsing them is not what we measure).
fn nist() -> Vec<Problem> {
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/data/nist");
    let mut files: Vec<_> = std::fs::read_dir(dir).unwrap().map(|e| e.unwrap().path()).collect();
    files.retain(|p| p.extension().is_some_and(|e| e == "dat"));
    files.sort();
    files
        .iter()
        .map(|path| {
            let p = jitfit::data::nist::read_nist(path).unwrap();
            let mut data = Data::new().y(p.y());
            for (k, v) in p.vars.iter().enumerate() {
                data = data.var(v, p.column(k));
            }
            Problem { model: p.model, vars: p.vars, params: p.params, data, starts: [p.start1, p.start2] }
        })
        .collect()
}

/// All 54 NIST fits, each model compiled from scratch (no cache).
#[divan::bench(sample_count = 10)]
fn nist_suite(bencher: Bencher) {
    let problems = nist();
    bencher.bench(|| {
        for p in &problems {
            let cache = jitfit::KernelCache::new(jitfit::cache::CacheOptions::default());
            let names = Names { vars: p.vars.clone(), params: Some(p.params.clone()) };
            let model = cache.compile(&p.model, &ModelOptions { names, ..Default::default() }).unwrap().model;
            for start in &p.starts {
                black_box(model.fit(&p.data).p0(start).run().unwrap());
            }
        }
    });
}

/// Gpufit's benchmark on the CPU: 10 000 fits of a 2-D Gaussian to 5×5-pixel spots with the
/// compact batch LM (`fit_many`), and the same spots through the exact per-fit solver
/// (`fit_batch`), side by side. Fits/s = 10 000 / the time.
#[divan::bench(args = ["compact", "exact"], sample_count = 10)]
fn gpufit_spots_10k(bencher: Bencher, solver: &str) {
    use jitfit::{BatchData, BatchOptions, backend::Backend};
    let model = jitfit::compile_with_vars("A*exp(-((x-x0)^2 + (y-y0)^2)/(2*s^2)) + B", &["x", "y"]).unwrap();
    let (xs, ys): (Vec<f64>, Vec<f64>) = (0..25).map(|k| ((k % 5) as f64, (k / 5) as f64)).unzip();
    let mut z = Vec::with_capacity(250_000);
    for f in 0..10_000 {
        let t = f as f64;
        let (a, x0, y0) = (10.0 + (t * 0.37).sin(), 2.0 + 0.3 * (t * 0.71).sin(), 2.0 + 0.3 * (t * 1.3).cos());
        for (i, (x, y)) in xs.iter().zip(&ys).enumerate() {
            let wiggle = 0.05 * (((f * 31 + i * 17) % 13) as f64 / 6.0 - 1.0);
            z.push(a * (-((x - x0).powi(2) + (y - y0).powi(2)) / 2.0).exp() + 1.0 + wiggle);
        }
    }
    let p0 = [9.0, 2.1, 1.9, 1.2, 0.5];
    if solver == "compact" {
        let data = BatchData::uniform(&z, 25).shared_var("x", &xs).shared_var("y", &ys);
        let options = BatchOptions::new(&p0).backend(Backend::Cpu);
        bencher.bench(|| model.fit_many(black_box(&data), &options).unwrap());
    } else {
        let datasets: Vec<Data> =
            z.chunks(25).map(|s| Data::new().var("x", xs.clone()).var("y", ys.clone()).y(s.to_vec())).collect();
        bencher.bench(|| model.fit_batch(black_box(&datasets), |_, fit| fit.p0(&p0)));
    }
}
