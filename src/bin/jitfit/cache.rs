//! `jitfit cache`: where the compilation cache lives, what it holds, and compiling through it.

use jitfit::cache::{CacheOptions, KernelCache};
use jitfit::{ModelOptions, Names};
use std::time::Duration;

#[derive(clap::Subcommand)]
pub enum CacheCommand {
    /// Print the cache folder (JITFIT_CACHE_DIR overrides it).
    Path,
    /// Print what the disk cache holds, and this process's counters.
    Stats,
    /// Delete every cache file.
    Clear,
    /// Compile a model through the cache and say where its kernels came from.
    ///
    /// Example: jitfit cache compile 'a*exp(-b*x) + c'
    Compile {
        /// The model.
        model: String,
        /// The independent variables, comma-separated.
        #[arg(long, value_delimiter = ',', default_value = "x")]
        vars: Vec<String>,
        /// Compile this many times in this process (the later ones are memory hits).
        #[arg(long, default_value_t = 1)]
        repeat: usize,
    },
}

pub fn run(command: &CacheCommand) -> anyhow::Result<()> {
    let cache = KernelCache::new(CacheOptions::from_env());
    let Some(store) = cache.disk() else {
        outln!("the disk cache is off (JITFIT_NO_DISK_CACHE is set)")?;
        if !matches!(command, CacheCommand::Compile { .. }) {
            return Ok(());
        }
        return compile(&cache, command);
    };
    match command {
        CacheCommand::Path => outln!("{}", store.dir().display())?,
        CacheCommand::Stats => {
            let (files, bytes) = store.usage();
            outln!("folder      {}", store.dir().display())?;
            outln!("entries     {files} ({})", human_bytes(bytes))?;
            print_counters(&cache)?;
        }
        CacheCommand::Clear => {
            let removed = store.clear()?;
            outln!("removed {removed} files from {}", store.root().display())?;
        }
        CacheCommand::Compile { .. } => compile(&cache, command)?,
    }
    Ok(())
}

fn compile(cache: &KernelCache, command: &CacheCommand) -> anyhow::Result<()> {
    let CacheCommand::Compile { model, vars, repeat } = command else {
        return Ok(());
    };
    let options = ModelOptions { names: Names { vars: vars.clone(), params: None }, ..Default::default() };
    for _ in 0..(*repeat).max(1) {
        let compiled = cache.compile(model, &options)?;
        for warning in &compiled.warnings {
            eprintln!("warning: {warning}");
        }
        outln!(
            "{}  {}  {:.3} ms  params {}",
            compiled.model.key(),
            compiled.origin.describe(),
            compiled.elapsed.as_secs_f64() * 1e3,
            compiled.model.params().join(", ")
        )?;
    }
    print_counters(cache)?;
    Ok(())
}

fn print_counters(cache: &KernelCache) -> std::io::Result<()> {
    let s = cache.stats();
    let ms = |d: Duration| format!("{:.3} ms", d.as_secs_f64() * 1e3);
    outln!(
        "this process: {} memory hits, {} disk hits, {} misses, {} evictions, {} disk errors; {} of {} in memory",
        s.memory_hits,
        s.disk_hits,
        s.misses,
        s.evictions,
        s.disk_errors,
        s.in_memory,
        s.capacity
    )?;
    outln!(
        "time: parse {}, simplify {}, lower {}, disk load {}, compile {}",
        ms(s.parse),
        ms(s.simplify),
        ms(s.lower),
        ms(s.disk_load),
        ms(s.compile)
    )
}

fn human_bytes(bytes: u64) -> String {
    match bytes {
        b if b < 10 * 1024 => format!("{b} B"),
        b if b < 10 * 1024 * 1024 => format!("{:.1} KiB", b as f64 / 1024.0),
        b => format!("{:.1} MiB", b as f64 / (1024.0 * 1024.0)),
    }
}
