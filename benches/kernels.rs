//! Compiled kernels: compile cost (cold, disk hit, memory hit) and per-point throughput of
//! `residual_jacobian` and `normal_equations`, side by side with hand-written Rust of the
//! same models in the same run.
//!
//! Run: `cargo bench --bench kernels`. Divide the per-call times by `N` for ns/point.

use divan::{Bencher, black_box};
use jitfit::backend::cranelift::CraneliftKernels;
use jitfit::backend::{Chunk, Kernels, NormalEquations};
use jitfit::cache::{CacheOptions, KernelCache};
use jitfit::{ModelOptions, Names};
use std::num::NonZeroUsize;

fn main() {
    divan::main();
}

const N: usize = 4096;

const RAT43: &str = "b1 / ((1+exp[b2-b3*x])**(1/b4))";
const ROTATED_GAUSSIAN: &str = "
    ct = cos(theta); st = sin(theta)
    u = ((x - x0)*ct + (y - y0)*st)/sx
    v = ((y - y0)*ct - (x - x0)*st)/sy
    A*exp(-(u^2 + v^2)/2) + B";

const MODELS: [(&str, &[&str], &str); 3] = [
    ("exp_decay", &["x"], "a*exp(-b*x) + c"),
    ("rat43", &["x"], RAT43),
    ("gauss2d_rotated", &["x", "y"], ROTATED_GAUSSIAN),
];
const NAMES: [&str; 3] = ["exp_decay", "rat43", "gauss2d_rotated"];

fn options(name: &str) -> (&'static str, ModelOptions) {
    let (_, vars, source) = MODELS.iter().find(|m| m.0 == name).unwrap();
    let names = Names { vars: vars.iter().map(|v| v.to_string()).collect(), params: None };
    (source, ModelOptions { names, ..Default::default() })
}

mod compile {
    use super::*;

    /// Text → parse → egg → IR → machine code, nothing cached.
    #[divan::bench(args = NAMES)]
    fn cold(bencher: Bencher, name: &str) {
        let (source, options) = options(name);
        bencher.bench(|| {
            let cache = KernelCache::new(CacheOptions { capacity: NonZeroUsize::new(1).unwrap(), disk_dir: None });
            cache.compile(black_box(source), &options).unwrap()
        });
    }

    /// A new process: the IR comes from disk (parse for the key, read, verify, compile).
    #[divan::bench(args = NAMES)]
    fn disk_hit(bencher: Bencher, name: &str) {
        let (source, options) = options(name);
        let dir = std::env::temp_dir().join(format!("jitfit-bench-{}", std::process::id()));
        let disk = CacheOptions { capacity: NonZeroUsize::new(1).unwrap(), disk_dir: Some(dir.clone()) };
        KernelCache::new(disk.clone()).compile(source, &options).unwrap();
        bencher.bench(|| {
            let compiled = KernelCache::new(disk.clone()).compile(black_box(source), &options).unwrap();
            assert_eq!(compiled.origin, jitfit::cache::Origin::DiskHit);
            compiled
        });
        let _ = std::fs::remove_dir_all(dir);
    }

    #[divan::bench(args = NAMES)]
    fn memory_hit(bencher: Bencher, name: &str) {
        let (source, options) = options(name);
        let cache = KernelCache::new(CacheOptions::default());
        cache.compile(source, &options).unwrap();
        bencher.bench(|| cache.compile(black_box(source), &options).unwrap());
    }

    /// Only the Cranelift step (IR → machine code for the kernel compiled before a fit,
    /// `residual_jacobian`; the others are compiled on first use).
    #[divan::bench(args = NAMES)]
    fn codegen_only(bencher: Bencher, name: &str) {
        let (source, options) = options(name);
        let model = jitfit::Model::parse_with(source, &options).unwrap();
        bencher.bench(|| CraneliftKernels::compile(black_box(model.kernel())).unwrap());
    }
}

struct Data {
    x: Vec<f64>,
    y: Vec<f64>,
    target: Vec<f64>,
}

fn data() -> Data {
    let x: Vec<f64> = (0..N).map(|i| -3.0 + 6.0 * i as f64 / N as f64).collect();
    let y: Vec<f64> = (0..N).map(|i| 2.0 - 4.0 * ((i * 7919) % N) as f64 / N as f64).collect();
    let target: Vec<f64> = x.iter().map(|v| 0.5 + v.sin()).collect();
    Data { x, y, target }
}

const RAT43_P: [f64; 4] = [699.6, 5.28, 0.76, 1.28];
const GAUSS_P: [f64; 7] = [0.4, 0.2, -0.1, 1.1, 0.7, 2.0, 0.1];

/// Hand-written Rat43 residual and Jacobian row, sharing subexpressions by hand.
#[inline(always)]
fn rat43_hand(x: f64, y: f64, p: &[f64; 4], row: &mut [f64]) -> f64 {
    let [b1, b2, b3, b4] = *p;
    let e = (b2 - b3 * x).exp();
    let u = 1.0 + e;
    let q = u.powf(1.0 / b4);
    let f = b1 / q;
    let common = b1 / b4 * e / (u * q);
    row[0] = 1.0 / q;
    row[1] = -common;
    row[2] = common * x;
    row[3] = b1 * u.ln() / (b4 * b4 * q);
    f - y
}

const DECAY_P: [f64; 3] = [3.0, 0.7, 0.5];

/// Hand-written `a*exp(-b*x) + c` residual and Jacobian row.
#[inline(always)]
fn decay_hand(x: f64, y: f64, p: &[f64; 3], row: &mut [f64]) -> f64 {
    let [a, b, c] = *p;
    let e = (-b * x).exp();
    row[0] = e;
    row[1] = -a * x * e;
    row[2] = 1.0;
    a * e + c - y
}

/// Hand-written rotated 2-D Gaussian residual and Jacobian row.
#[inline(always)]
fn gauss_hand(x: f64, y: f64, z: f64, p: &[f64; 7], ct: f64, st: f64, row: &mut [f64]) -> f64 {
    let [_theta, x0, y0, sx, sy, a, b] = *p;
    let (dx, dy) = (x - x0, y - y0);
    let u = (dx * ct + dy * st) / sx;
    let v = (dy * ct - dx * st) / sy;
    let g = (-(u * u + v * v) / 2.0).exp();
    let ag = a * g;
    row[0] = -ag * (u * v * sy / sx - v * u * sx / sy);
    row[1] = -ag * (u * (-ct / sx) + v * (st / sy));
    row[2] = -ag * (u * (-st / sx) + v * (-ct / sy));
    row[3] = ag * u * u / sx;
    row[4] = ag * v * v / sy;
    row[5] = g;
    row[6] = 1.0;
    ag + b - z
}

/// The compiled `residual_jacobian` of one of `MODELS` over `data()`, per call.
fn jit_residual_jacobian(bencher: Bencher, name: &str, params: &[f64]) {
    let d = data();
    let (source, options) = options(name);
    let compiled = KernelCache::new(CacheOptions::default()).compile(source, &options).unwrap();
    let (mut r, mut j) = (vec![0.0; N], vec![0.0; N * params.len()]);
    let columns: [&[f64]; 2] = [&d.x, &d.y];
    let vars = &columns[..options.names.vars.len()];
    bencher.counter(divan::counter::ItemsCount::new(N)).bench_local(|| {
        let chunk = Chunk { vars, y: &d.target, weights: None };
        compiled.model.kernels().residual_jacobian(&chunk, params, &mut r, &mut j).unwrap();
    });
}

/// The compiled `normal_equations` of one of `MODELS` over `data()`, per call.
fn jit_normal_equations(bencher: Bencher, name: &str, params: &[f64]) {
    let d = data();
    let (source, options) = options(name);
    let compiled = KernelCache::new(CacheOptions::default()).compile(source, &options).unwrap();
    let columns: [&[f64]; 2] = [&d.x, &d.y];
    let vars = &columns[..options.names.vars.len()];
    bencher.counter(divan::counter::ItemsCount::new(N)).bench_local(|| {
        let mut acc = NormalEquations::zeros(params.len());
        let chunk = Chunk { vars, y: &d.target, weights: None };
        compiled.model.kernels().normal_equations(&chunk, params, &mut acc).unwrap();
        acc
    });
}

mod residual_jacobian {
    use super::*;

    #[divan::bench]
    fn exp_decay_jit(bencher: Bencher) {
        jit_residual_jacobian(bencher, "exp_decay", &DECAY_P);
    }

    #[divan::bench]
    fn exp_decay_hand_written(bencher: Bencher) {
        let d = data();
        let (mut r, mut j) = (vec![0.0; N], vec![0.0; N * 3]);
        bencher.counter(divan::counter::ItemsCount::new(N)).bench_local(|| {
            let p = black_box(&DECAY_P);
            for i in 0..N {
                r[i] = decay_hand(d.x[i], d.target[i], p, &mut j[i * 3..i * 3 + 3]);
            }
        });
    }

    #[divan::bench]
    fn rat43_jit(bencher: Bencher) {
        jit_residual_jacobian(bencher, "rat43", &RAT43_P);
    }

    #[divan::bench]
    fn rat43_hand_written(bencher: Bencher) {
        let d = data();
        let (mut r, mut j) = (vec![0.0; N], vec![0.0; N * 4]);
        bencher.counter(divan::counter::ItemsCount::new(N)).bench_local(|| {
            let p = black_box(&RAT43_P);
            for i in 0..N {
                r[i] = rat43_hand(d.x[i], d.target[i], p, &mut j[i * 4..i * 4 + 4]);
            }
        });
    }

    #[divan::bench]
    fn gauss2d_jit(bencher: Bencher) {
        jit_residual_jacobian(bencher, "gauss2d_rotated", &GAUSS_P);
    }

    #[divan::bench]
    fn gauss2d_hand_written(bencher: Bencher) {
        let d = data();
        let (mut r, mut j) = (vec![0.0; N], vec![0.0; N * 7]);
        bencher.counter(divan::counter::ItemsCount::new(N)).bench_local(|| {
            let p = black_box(&GAUSS_P);
            let (ct, st) = (p[0].cos(), p[0].sin());
            for i in 0..N {
                r[i] = gauss_hand(d.x[i], d.y[i], d.target[i], p, ct, st, &mut j[i * 7..i * 7 + 7]);
            }
        });
    }
}

mod normal_equations {
    use super::*;

    /// What a hand-written loop does: one running sum per slot, point after point.
    fn add_point(acc: &mut NormalEquations, r: f64, row: &[f64]) {
        let p = acc.n_params;
        for a in 0..p {
            for b in a..p {
                acc.jtj[a * p + b] += row[a] * row[b];
            }
            acc.jtr[a] += row[a] * r;
        }
        acc.rss += r * r;
    }

    #[divan::bench]
    fn exp_decay_jit(bencher: Bencher) {
        jit_normal_equations(bencher, "exp_decay", &DECAY_P);
    }

    #[divan::bench]
    fn exp_decay_hand_written(bencher: Bencher) {
        let d = data();
        bencher.counter(divan::counter::ItemsCount::new(N)).bench_local(|| {
            let p = black_box(&DECAY_P);
            let mut acc = NormalEquations::zeros(3);
            let mut row = [0.0; 3];
            for i in 0..N {
                let r = decay_hand(d.x[i], d.target[i], p, &mut row);
                add_point(&mut acc, r, &row);
            }
            acc
        });
    }

    #[divan::bench]
    fn rat43_jit(bencher: Bencher) {
        jit_normal_equations(bencher, "rat43", &RAT43_P);
    }

    #[divan::bench]
    fn rat43_hand_written(bencher: Bencher) {
        let d = data();
        bencher.counter(divan::counter::ItemsCount::new(N)).bench_local(|| {
            let p = black_box(&RAT43_P);
            let mut acc = NormalEquations::zeros(4);
            let mut row = [0.0; 4];
            for i in 0..N {
                let r = rat43_hand(d.x[i], d.target[i], p, &mut row);
                add_point(&mut acc, r, &row);
            }
            acc
        });
    }

    #[divan::bench]
    fn gauss2d_jit(bencher: Bencher) {
        jit_normal_equations(bencher, "gauss2d_rotated", &GAUSS_P);
    }

    #[divan::bench]
    fn gauss2d_hand_written(bencher: Bencher) {
        let d = data();
        bencher.counter(divan::counter::ItemsCount::new(N)).bench_local(|| {
            let p = black_box(&GAUSS_P);
            let (ct, st) = (p[0].cos(), p[0].sin());
            let mut acc = NormalEquations::zeros(7);
            let mut row = [0.0; 7];
            for i in 0..N {
                let r = gauss_hand(d.x[i], d.y[i], d.target[i], p, ct, st, &mut row);
                add_point(&mut acc, r, &row);
            }
            acc
        });
    }
}
