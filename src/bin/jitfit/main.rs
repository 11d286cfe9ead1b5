//! The `jitfit` command line.

mod cache;
mod explain;

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
    /// Show what jitfit makes of a model: parameters, derivatives, the kernel IR, sizes and
    /// the time each stage took.
    ///
    /// Examples:
    ///   jitfit explain 'a*exp(-b*x) + c'
    ///   jitfit explain 'A*exp(-((x-x0)^2 + (y-y0)^2)/(2*s^2)) + B' --vars x,y
    ///   jitfit explain 'log[y] = b1 - b2*x1 * exp[-b3*x2]' --vars x1,x2
    Explain(explain::ExplainArgs),
    /// The compilation cache: `path`, `stats`, `clear`, `compile MODEL`.
    #[command(subcommand)]
    Cache(cache::CacheCommand),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Explain(args) => explain::run(&args),
        Command::Cache(command) => cache::run(&command),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("{e}");
            ExitCode::from(1)
        }
    }
}
