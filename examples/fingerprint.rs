//! The exact bits of 216 fits — the NIST StRD problems from both starts with TRF, LM, wide
//! bounds and the soft-L1 loss: values, cost, standard errors, covariance, counts. For
//! refactors that promise "bit for bit the same": run before and after, and compare.
//!
//! Run: `cargo run --release --example fingerprint > before.txt` (then after, `cmp`).

use jitfit::loss::Loss;
use jitfit::solve::Method;
use jitfit::{Data, ModelOptions, Names};
/// One line per fit: counts, status, and every number as its IEEE-754 bits.
fn show(tag: &str, f: &jitfit::Fit) {
    let h = |v: &[f64]| v.iter().map(|x| format!("{:x}", x.to_bits())).collect::<Vec<_>>().join(",");
    println!(
        "{tag} {} {} {} {:?} v={} c={:x} se={} cov={}",
        f.nfev,
        f.njev,
        f.iterations,
        f.status,
        h(&f.values),
        f.cost.to_bits(),
        h(&f.std_errors),
        h(&f.covariance)
    );
}
fn main() {
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/data/nist");
    let mut files: Vec<_> = std::fs::read_dir(dir).unwrap().map(|e| e.unwrap().path()).collect();
    files.retain(|p| p.extension().is_some_and(|e| e == "dat"));
    files.sort();
    for path in &files {
        let p = jitfit::data::nist::read_nist(path).unwrap();
        let mut data = Data::new().y(p.y());
        for (k, v) in p.vars.iter().enumerate() {
            data = data.var(v, p.column(k));
        }
        let names = Names { vars: p.vars.clone(), params: Some(p.params.clone()) };
        let model = jitfit::KernelCache::global()
            .compile(&p.model, &ModelOptions { names, ..Default::default() })
            .unwrap()
            .model;
        for (s, start) in [&p.start1, &p.start2].iter().enumerate() {
            for m in [Method::Trf, Method::Lm] {
                let fit = model.fit(&data).p0(start).method(m).run().unwrap();
                show(&format!("{} {s} {m:?}", path.file_name().unwrap().to_string_lossy()), &fit);
            }
            let lower: Vec<f64> = start.iter().map(|v| v - 10.0 * v.abs() - 1.0).collect();
            let upper: Vec<f64> = start.iter().map(|v| v + 10.0 * v.abs() + 1.0).collect();
            let fit = model.fit(&data).p0(start).bounds(&lower, &upper).run().unwrap();
            show(&format!("{} {s} bounded", path.file_name().unwrap().to_string_lossy()), &fit);
            let fit = model.fit(&data).p0(start).loss(Loss::SoftL1, 0.5).run().unwrap();
            show(&format!("{} {s} softl1", path.file_name().unwrap().to_string_lossy()), &fit);
        }
    }
}
