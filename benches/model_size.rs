//! The model-size curve (issue 14): how long building a model takes, and how much memory, for
//! the shapes that used to take minutes and gigabytes — each answered (compiled or refused)
//! within the budget of 5 s and 1 GB on a 2-core machine. Not a timed test: it prints the curve.
//!
//! `cargo bench --bench model_size` (add a shape name to run only those rows).

use std::time::Instant;

/// The peak resident memory since the last reset, in MB (Linux; 0 elsewhere).
fn peak_mb() -> f64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let kb = status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches(" kB").trim().parse::<f64>().ok());
    kb.unwrap_or(0.0) / 1024.0
}

/// Resets the peak (writing 5 to clear_refs, Linux ≥ 4.0).
fn reset_peak() {
    let _ = std::fs::write("/proc/self/clear_refs", "5");
}

fn shapes() -> Vec<(String, String)> {
    let mut out = Vec::new();
    for n in [100, 300, 1000, 3000, 20_000] {
        out.push((
            format!("product of {n} parameters"),
            (0..n).map(|i| format!("p{i}")).collect::<Vec<_>>().join("*") + "*x",
        ));
    }
    for n in [1000, 4000, 16_000, 50_000, 128_000] {
        out.push((format!("a*a*…*a*x, {n} factors"), vec!["a"; n].join("*") + "*x"));
    }
    for n in [1000, 3000, 10_000, 24_000] {
        out.push((format!("Σ p_i*x, {n} terms"), (0..n).map(|i| format!("p{i}*x")).collect::<Vec<_>>().join(" + ")));
    }
    for n in [1000, 10_000] {
        let helpers: Vec<String> = (0..n).map(|i| format!("h{i} = a*x")).collect();
        out.push((format!("{n} helpers, one used"), helpers.join("; ") + "; h0"));
    }
    let chain: Vec<String> = (1..60).map(|i| format!("g{i} = g{} * g{} + b", i - 1, i - 1)).collect();
    out.push(("60 helpers, each used twice by the next".into(), format!("g0 = a*x; {}; g59", chain.join("; "))));
    out
}

fn main() {
    let filter: Vec<String> = std::env::args().skip(1).filter(|a| !a.starts_with("--")).collect();
    println!("{:<44} {:>8} {:>9} {:>8}  outcome", "shape", "KiB", "seconds", "peak MB");
    for (name, source) in shapes() {
        if !filter.is_empty() && !filter.iter().any(|f| name.contains(f.as_str())) {
            continue;
        }
        reset_peak();
        let started = Instant::now();
        let outcome = match jitfit::Model::parse(&source).and_then(|m| m.compile()) {
            Ok(compiled) => format!("compiled: {} instructions", compiled.kernel().insts.len()),
            Err(e) => {
                let text = e.to_string();
                format!("refused: {}", text.lines().next().unwrap_or("").chars().take(70).collect::<String>())
            }
        };
        let seconds = started.elapsed().as_secs_f64();
        println!("{name:<44} {:>8.1} {seconds:>9.3} {:>8.0}  {outcome}", source.len() as f64 / 1024.0, peak_mb());
    }
}
