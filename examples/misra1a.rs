//! Parses NIST's Misra1a model as the file writes it, evaluates the model and its analytic
//! Jacobian over the data with the reference interpreter, and checks the residual sum of
//! squares at the certified parameters against NIST's certified value.
//!
//! Run: `cargo run --release --example misra1a`

use jitfit::ir::Interpreter;
use jitfit::{Model, ModelOptions, Names};

const DATA: &str = include_str!("../tests/data/nist/Misra1a.dat");

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let model = Model::parse_with(
        "y = b1*(1-exp[-b2*x])",
        &ModelOptions { names: Names { vars: vec!["x".into()], params: None }, ..Default::default() },
    )?;
    // Data lines come after the last "Data:" header: y, then x.
    let rows: Vec<(f64, f64)> = DATA
        .lines()
        .skip_while(|l| !l.trim_start().starts_with("Data:   y"))
        .skip(1)
        .filter_map(|l| {
            let mut it = l.split_whitespace().map(str::parse::<f64>);
            Some((it.next()?.ok()?, it.next()?.ok()?))
        })
        .collect();
    let (y, x): (Vec<f64>, Vec<f64>) = rows.into_iter().unzip();
    let certified = [2.3894212918E+02, 5.5015643181E-04];
    let certified_rss = 1.2455138894E-01;

    let mut interp = Interpreter::new(model.kernel());
    let batch = interp.eval_batch(&[&x], None, &certified);
    let rss: f64 = y.iter().zip(&batch.value).map(|(y, f)| (y - f).powi(2)).sum();

    println!("model      {}", model.source());
    println!("jacobian   df/db1 = {}", model.derivative_texts()[0]);
    println!("           df/db2 = {}", model.derivative_texts()[1]);
    println!("points     {}", x.len());
    println!("first row  f = {:.6}, J = [{:.6e}, {:.6e}]", batch.value[0], batch.jacobian[0], batch.jacobian[1]);
    println!("RSS at the certified parameters: {rss:.10e} (certified {certified_rss:.10e})");
    Ok(())
}
