//! Per-point cost of the compiled kernels over 10^6 points (best of 7 runs, one thread), next to
//! hand-written Rust with std's `exp` in the same run.
//!
//! Run: `cargo run --release --example throughput`

use jitfit::backend::cranelift::CraneliftKernels;
use jitfit::backend::{Chunk, Kernels, NormalEquations};
use jitfit::{ModelOptions, Names};
use std::time::Instant;

const N: usize = 1_000_000;

fn best(mut f: impl FnMut()) -> f64 {
    (0..7)
        .map(|_| {
            let t = Instant::now();
            f();
            t.elapsed().as_secs_f64() * 1e9 / N as f64
        })
        .fold(f64::INFINITY, f64::min)
}

fn main() {
    let x: Vec<f64> = (0..N).map(|i| (i % 1000) as f64 * 0.01).collect();
    let x2: Vec<f64> = (0..N).map(|i| (i / 1000) as f64 * 0.01).collect();
    let y: Vec<f64> = x.iter().map(|x| 3.0 * (-0.7 * x).exp() + 0.5).collect();
    let models: [(&str, &[&str], &str, &[f64]); 7] = [
        ("exp_decay", &["x"], "a*exp(-b*x) + c", &[3.0, 0.7, 0.5]),
        ("power_law", &["x"], "a*(x + 0.5)^b + c", &[3.0, -0.7, 0.5]),
        ("cubic", &["x"], "a + b*x + c*x^2 + d*x^3", &[0.5, -0.2, 0.03, -0.001]),
        ("damped_sine", &["x"], "a*exp(-b*x)*sin(w*x + p) + c", &[3.0, 0.7, 2.0, 0.3, 0.5]),
        ("step_atan", &["x"], "A*(0.5 + atan((x - c)/s)/pi) + B", &[2.0, 5.0, 0.7, 0.5]),
        ("rat43", &["x"], "b1 / ((1+exp[b2-b3*x])**(1/b4))", &[700.0, 5.0, 0.75, 1.3]),
        (
            "gauss2d_rotated",
            &["x", "y"],
            "ct = cos(theta); st = sin(theta)
             u = ((x - x0)*ct + (y - y0)*st)/sx
             v = ((y - y0)*ct - (x - x0)*st)/sy
             A*exp(-(u^2 + v^2)/2) + B",
            &[1.0, 5.0, 5.0, 1.0, 2.0, 0.3, 0.1],
        ),
    ];
    println!("{:<16} {:>14} {:>14} {:>14}", "ns/point", "sum_of_squares", "residual_jac", "normal_eq");
    for (name, vars, source, params) in models {
        let names = Names { vars: vars.iter().map(|v| v.to_string()).collect(), params: None };
        let model = jitfit::Model::parse_with(source, &ModelOptions { names, ..Default::default() }).unwrap();
        let kernels = CraneliftKernels::compile(model.kernel()).unwrap();
        let columns: Vec<&[f64]> = [&x[..], &x2[..]][..vars.len()].to_vec();
        let chunk = Chunk { vars: &columns, y: &y, weights: None };
        let p = params.len();
        let ss = best(|| {
            std::hint::black_box(kernels.sum_of_squares(&chunk, params).unwrap());
        });
        let (mut r, mut j) = (vec![0.0; N], vec![0.0; N * p]);
        let rj = best(|| kernels.residual_jacobian(&chunk, params, &mut r, &mut j).unwrap());
        let ne = best(|| {
            let mut acc = NormalEquations::zeros(p);
            kernels.normal_equations(&chunk, params, &mut acc).unwrap();
            std::hint::black_box(acc);
        });
        println!("{name:<16} {ss:>14.2} {rj:>14.2} {ne:>14.2}");
    }
    let hand = best(|| {
        let s: f64 = x.iter().zip(&y).map(|(x, y)| (3.0 * (-0.7 * x).exp() + 0.5 - y).powi(2)).sum();
        std::hint::black_box(s);
    });
    println!("{:<16} {hand:>14.2}   (hand-written Rust, std exp)", "exp_decay");
    let hand = best(|| {
        let s: f64 = x.iter().zip(&y).map(|(x, y)| (3.0 * (x + 0.5).powf(-0.7) + 0.5 - y).powi(2)).sum();
        std::hint::black_box(s);
    });
    println!("{:<16} {hand:>14.2}   (hand-written Rust, std powf)", "power_law");
    let hand = best(|| {
        let s: f64 =
            x.iter().zip(&y).map(|(x, y)| (3.0 * (-0.7 * x).exp() * (2.0 * x + 0.3).sin() + 0.5 - y).powi(2)).sum();
        std::hint::black_box(s);
    });
    println!("{:<16} {hand:>14.2}   (hand-written Rust, std exp and sin)", "damped_sine");
    let hand = best(|| {
        use jitfit::ops::math;
        let s: f64 = x
            .iter()
            .zip(&y)
            .map(|(x, y)| (3.0 * math::exp(-0.7 * x) * math::sin(2.0 * x + 0.3) + 0.5 - y).powi(2))
            .sum();
        std::hint::black_box(s);
    });
    println!("{:<16} {hand:>14.2}   (hand-written Rust, jitfit's exp and sin)", "damped_sine");
    let hand = best(|| {
        let pi = std::f64::consts::PI;
        let s: f64 =
            x.iter().zip(&y).map(|(x, y)| (2.0 * (0.5 + ((x - 5.0) / 0.7).atan() / pi) + 0.5 - y).powi(2)).sum();
        std::hint::black_box(s);
    });
    println!("{:<16} {hand:>14.2}   (hand-written Rust, std atan)", "step_atan");
}
