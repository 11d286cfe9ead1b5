//! The `jitfit` command line.
//!
//! Exit codes: 0 success (the fit converged), 1 a usage or input error, 2 the fit did not
//! converge (the report is still printed), 130 interrupted by Ctrl-C (report printed,
//! checkpoint saved if asked for).

/// `println!` that returns the write's error instead of panicking: a closed pipe
/// (`jitfit … | head`) ends the command quietly (see `main`).
macro_rules! outln {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        writeln!(std::io::stdout().lock(), $($arg)*)
    }};
}

/// `print!` likewise.
macro_rules! out {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        write!(std::io::stdout().lock(), $($arg)*)
    }};
}

mod args;
mod batch;
mod cache;
mod columns;
mod config;
mod convert;
mod explain;
mod fit;
mod format;
mod global;
mod nist;
mod plot;
mod ranks;
mod repl;
mod report;
mod uncertainty;

use clap::{Parser, Subcommand};
use std::process::ExitCode;

/// Fit string-defined models to data, fast.
#[derive(Parser)]
#[command(name = "jitfit", version, about, long_about = None)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Fit a model to a data file and print a report.
    ///
    /// Examples:
    ///   jitfit fit 'y = b1*(1-exp[-b2*x])' examples/data/misra1a.csv --p0 b1=500,b2=1e-4
    ///   jitfit fit 'a*exp(-b*t) + c' decay.csv --p0 a=3,b=0.5 --bounds c=0:inf --plot fit.svg
    ///   jitfit fit 'a*exp(-b*x) + c' data.csv --x time --y signal --sigma err --json
    ///   jitfit fit 'A*exp(-((x-x0)^2 + (y-y0)^2)/(2*s^2)) + B' spot.csv --y z --vars x,y --loss soft_l1
    ///
    /// Exit status: 0 converged, 1 bad input, 2 did not converge, 130 interrupted (Ctrl-C).
    Fit(Box<args::FitArgs>),
    /// Fit one model to every group of rows of a long-format table, in parallel.
    ///
    /// Example: jitfit batch 'A*exp(-t/tau) + B' decays.csv --by pixel --out fits.csv
    ///
    /// Exit status: 0 every fit converged, 1 bad input, 2 some did not (all are reported).
    Batch(Box<batch::BatchArgs>),
    /// Fit a NIST StRD problem (`.dat`) from its own model line and starts, with default
    /// options, and compare with the certified values (log relative errors).
    ///
    /// Example: jitfit nist tests/data/nist/Misra1a.dat
    Nist(nist::NistArgs),
    /// Show what jitfit makes of a model: parameters, derivatives, the kernel IR, sizes and
    /// the time each stage took.
    ///
    /// Examples:
    ///   jitfit explain 'a*exp(-b*x) + c'
    ///   jitfit explain 'A*exp(-((x-x0)^2 + (y-y0)^2)/(2*s^2)) + B' --vars x,y
    ///   jitfit explain 'log[y] = b1 - b2*x1 * exp[-b3*x2]' --vars x1,x2
    Explain(explain::ExplainArgs),
    /// An interactive session: load data, set a model, fit, report, plot. Reads a script
    /// from standard input when it is not a terminal: `jitfit repl < session.jf` (errors name
    /// their line; the session goes on; exit status 1 when any command failed).
    Repl,
    /// Write each column of a data file as a `.npy` file (memory-mapped by `fit`).
    ///
    /// Example: jitfit convert data.csv data/   then   jitfit fit MODEL --x data/x.npy --y data/y.npy
    Convert(convert::ConvertArgs),
    /// Write x.npy and y.npy sampled from a model with noise: benchmark data of any size.
    ///
    /// Example: jitfit generate 'a*exp(-b*x) + c' big/ --n 1e8 --params a=3,b=0.7,c=0.5
    Generate(convert::GenerateArgs),
    /// The compilation cache: `path`, `stats`, `clear`, `compile MODEL`.
    #[command(subcommand)]
    Cache(cache::CacheCommand),
    /// The GPU `--backend gpu` would use: adapter, graphics API, f64 support, limits.
    /// Exit status 1 when there is none (or this build has no GPU support).
    Gpu,
    /// The model library: functions any model may call, e.g.
    /// `gaussian(x, A1, c1, s1) + gaussian(x, A2, c2, s2) + b` (lmfit's parameter conventions).
    Models,
}

/// `jitfit models`: each library function, what it is and its definition.
fn list_models() -> anyhow::Result<i32> {
    for function in jitfit::syntax::library::LIBRARY {
        outln!("{}({})", function.name, function.args.join(", "))?;
        outln!("    {}", function.doc)?;
        outln!("    = {}", function.body)?;
    }
    Ok(0)
}

/// `jitfit gpu`: what the GPU backend would run on.
#[cfg(feature = "gpu")]
fn gpu_info() -> anyhow::Result<i32> {
    let device = jitfit::backend::gpu::device()?;
    outln!("adapter     {}", device.describe())?;
    outln!(
        "f64         {}",
        if device.has_f64() {
            "yes (SHADER_F64): f64 finishes stay on the device"
        } else {
            "no: f64 finishes run on the CPU"
        }
    )?;
    outln!(
        "arithmetic  {}",
        if device.exact_arithmetic() {
            "as on the CPU: every operation rounded on its own (SPIR-V NoContraction; no fused a*b + c)"
        } else {
            "the driver may fuse a*b + c (no SPIR-V on this backend): results agree with the CPU's to rounding, not bit for bit"
        }
    )?;
    outln!("largest     {} MiB per buffer binding", device.largest_binding() / (1024 * 1024))?;
    if device.is_software() {
        outln!(
            "note        a software adapter: correct, but slower than the CPU backend; `--backend auto` does not use it"
        )?;
    }
    Ok(0)
}

#[cfg(not(feature = "gpu"))]
fn gpu_info() -> anyhow::Result<i32> {
    anyhow::bail!("this build of jitfit has no GPU support (cargo feature `gpu`)")
}

fn main() -> ExitCode {
    // Usage errors exit 1 like every other bad input (clap's own 2 means "not converged"
    // here); help and version exit 0.
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => {
            let _ = e.print();
            return ExitCode::from(if e.use_stderr() { 1 } else { 0 });
        }
    };
    // The command line keeps compiled models on disk (the library alone does not).
    jitfit::KernelCache::configure_global(jitfit::cache::CacheOptions::from_env());
    // Under `mpirun` (feature `mpi`), `fit` and `batch` are shared by the ranks; MPI lives
    // until the end.
    let session = match &cli.command {
        Command::Fit(_) | Command::Batch(_) => ranks::start(),
        _ => Ok(ranks::start_none()),
    };
    let _session = match session {
        Ok(session) => session,
        Err(e) => {
            ranks::print_error(&render_error(&e));
            return ExitCode::from(1);
        }
    };
    let result = match cli.command {
        Command::Fit(mut args) => args.apply_ties().and_then(|()| fit::run(&args)),
        Command::Nist(args) => nist::run(&args),
        Command::Batch(args) => batch::run(&args),
        Command::Explain(args) => explain::run(&args).map(|()| 0),
        Command::Repl => repl::run(),
        Command::Convert(args) => convert::convert(&args),
        Command::Generate(args) => convert::generate(&args),
        Command::Cache(command) => cache::run(&command).map(|()| 0),
        Command::Gpu => gpu_info(),
        Command::Models => list_models(),
    };
    match result {
        Ok(code) => ExitCode::from(code as u8),
        // A closed pipe (`jitfit … | head`) is not a failure: the reader has what it wanted.
        Err(e) if is_broken_pipe(&e) => ExitCode::SUCCESS,
        Err(e) => {
            ranks::print_error(&render_error(&e));
            ExitCode::from(1)
        }
    }
}

/// An error as the user sees it: `error: ` once, then each distinct cause in the chain once,
/// joined by `: ` (a cause whose text its wrapper already shows is not repeated). Model
/// errors render their own `error:` line with a caret.
pub fn render_error(e: &anyhow::Error) -> String {
    let mut text = String::new();
    for cause in e.chain() {
        let part = cause.to_string();
        if text.contains(&part) {
            continue;
        }
        if !text.is_empty() {
            text += ": ";
        }
        text += &part;
    }
    if text.starts_with("error:") { text } else { format!("error: {text}") }
}

/// True when the error comes from writing to a closed pipe.
pub fn is_broken_pipe(e: &anyhow::Error) -> bool {
    e.chain().any(|c| c.downcast_ref::<std::io::Error>().is_some_and(|io| io.kind() == std::io::ErrorKind::BrokenPipe))
}
