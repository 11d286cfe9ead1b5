//! `jitfit nist FILE.dat`: fit a NIST StRD problem from its own model line with default
//! options and compare with the certified values.

use jitfit::data::nist::{lre, read_nist};
use jitfit::{Data, ModelOptions, Names};
use serde_json::json;
use std::path::PathBuf;

#[derive(clap::Args)]
pub struct NistArgs {
    /// A NIST StRD nonlinear regression file, e.g. tests/data/nist/Misra1a.dat.
    file: PathBuf,
    /// Fit from this start only (1 or 2); default both.
    #[arg(long)]
    start: Option<u8>,
    /// Print JSON instead of a table.
    #[arg(long)]
    json: bool,
}

pub fn run(args: &NistArgs) -> anyhow::Result<i32> {
    let p = read_nist(&args.file).map_err(anyhow::Error::msg)?;
    let starts: Vec<u8> = match args.start {
        Some(s @ (1 | 2)) => vec![s],
        Some(s) => anyhow::bail!("--start must be 1 or 2, got {s}"),
        None => vec![1, 2],
    };
    let names = Names { vars: p.vars.clone(), params: Some(p.params.clone()) };
    let compiled = jitfit::KernelCache::global().compile(&p.model, &ModelOptions { names, ..Default::default() })?;
    let mut data = Data::new().y(p.y());
    for (k, v) in p.vars.iter().enumerate() {
        data = data.var(v, p.column(k));
    }
    let mut runs = Vec::new();
    let mut all_converged = true;
    if !args.json {
        outln!("{}  ({} points)\n  model: {}", p.name, p.rows.len(), p.model.replace('\n', " "))?;
    }
    for s in starts {
        let start = if s == 1 { &p.start1 } else { &p.start2 };
        let fit = compiled.model.fit(&data).p0(start).run()?;
        all_converged &= fit.status.converged();
        let value_lre: Vec<f64> = fit.values.iter().zip(&p.certified).map(|(e, c)| lre(*e, *c)).collect();
        let sd_lre: Vec<f64> = fit.std_errors.iter().zip(&p.certified_sd).map(|(e, c)| lre(*e, *c)).collect();
        if args.json {
            runs.push(json!({
                "start": s,
                "status": {"code": fit.status.code(), "converged": fit.status.converged(), "message": fit.message},
                "nfev": fit.nfev,
                "rss": fit.chi2,
                "rss_lre": lre(fit.chi2, p.certified_rss),
                "parameters": (0..p.params.len()).map(|k| json!({
                    "name": p.params[k],
                    "value": fit.values[k],
                    "certified": p.certified[k],
                    "lre": value_lre[k],
                    "stderr": fit.std_errors[k],
                    "certified_sd": p.certified_sd[k],
                    "sd_lre": sd_lre[k],
                })).collect::<Vec<_>>(),
            }));
        } else {
            outln!("\nstart {s}: {} ({} evaluations)", fit.message, fit.nfev)?;
            outln!("  {:<4} {:>22} {:>22} {:>6}  {:>14} {:>6}", "", "fitted", "certified", "LRE", "std error", "LRE")?;
            for k in 0..p.params.len() {
                outln!(
                    "  {:<4} {:>22.15e} {:>22.10e} {:>6.2}  {:>14.6e} {:>6.2}",
                    p.params[k],
                    fit.values[k],
                    p.certified[k],
                    value_lre[k],
                    fit.std_errors[k],
                    sd_lre[k]
                )?;
            }
            outln!("  RSS  {:>22.15e} {:>22.10e} {:>6.2}", fit.chi2, p.certified_rss, lre(fit.chi2, p.certified_rss))?;
        }
    }
    if args.json {
        outln!(
            "{}",
            serde_json::to_string_pretty(
                &json!({"schema": "jitfit.nist/1", "problem": p.name, "model": p.model, "runs": runs})
            )?
        )?;
    }
    Ok(if all_converged { 0 } else { 2 })
}
