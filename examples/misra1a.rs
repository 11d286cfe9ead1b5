//! Fits NIST's Misra1a problem through the Rust API and compares with the certified values.
//!
//! Run: `cargo run --release --example misra1a`

use jitfit::Data;
use jitfit::data::nist::parse_nist;

const FILE: &str = include_str!("../tests/data/nist/Misra1a.dat");

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let problem = parse_nist(FILE, "Misra1a")?;
    let model = jitfit::compile(&problem.model)?;
    let data = Data::new().var("x", problem.column(0)).y(problem.y());
    for (name, start) in [("start 1", &problem.start1), ("start 2", &problem.start2)] {
        let fit = model.fit(&data).p0(start).run()?;
        println!("{name}: {} ({} evaluations)", fit.message, fit.nfev);
        for k in 0..fit.values.len() {
            println!(
                "  {} = {:.12e} ± {:.6e}   certified {:.10e} ± {:.10e}",
                fit.param_names[k], fit.values[k], fit.std_errors[k], problem.certified[k], problem.certified_sd[k]
            );
        }
    }
    Ok(())
}
