//! `jitfit convert DATA DIR` and `jitfit generate MODEL DIR`: `.npy` columns for large data
//! (parsing text on every pass over the data would dominate a fit; `.npy` is mapped).

use crate::config::{parse_assignments, parse_number};
use anyhow::{Context, bail};
use jitfit::backend::Kernels;
use jitfit::data::npy::write_npy;
use jitfit::data::read_table;
use std::path::PathBuf;

#[derive(clap::Args)]
pub struct ConvertArgs {
    /// A CSV/TSV/text data file.
    data: PathBuf,
    /// The folder to write one `.npy` file per column into.
    out: PathBuf,
}

pub fn convert(args: &ConvertArgs) -> anyhow::Result<i32> {
    let table = read_table(&args.data)?;
    // Each column's file name, checked before anything is written: two names that differ only
    // in characters a file name cannot keep (`a b`, `a_b`), or only in case where file names
    // do not (`X`, `x` on macOS and Windows), would write one file twice.
    let mut files: Vec<(String, PathBuf)> = Vec::new();
    for name in &table.names {
        let safe: String =
            name.chars().map(|c| if c.is_alphanumeric() || c == '_' || c == '-' { c } else { '_' }).collect();
        let path = args.out.join(format!("{safe}.npy"));
        let same = |p: &PathBuf| p.to_string_lossy().to_lowercase() == path.to_string_lossy().to_lowercase();
        if let Some((other, _)) = files.iter().find(|(_, p)| same(p)) {
            bail!("columns `{other}` and `{name}` would both be written to {}: rename one", path.display());
        }
        files.push((name.clone(), path));
    }
    let Some(first) = files.first() else { bail!("{}: no columns to convert", args.data.display()) };
    std::fs::create_dir_all(&args.out).with_context(|| format!("creating {}", args.out.display()))?;
    for ((_, path), column) in files.iter().zip(&table.columns) {
        write_npy(path, column).with_context(|| format!("writing {}", path.display()))?;
    }
    outln!("wrote {} columns of {} rows:", files.len(), table.n_rows())?;
    for (name, path) in &files {
        outln!("  {name:<12} {}", path.display())?;
    }
    // The example names the columns called x and y where there are such, else the first two.
    let named = |n: &str| files.iter().find(|(name, _)| name == n);
    let (x, y) = match (named("x"), named("y")) {
        (Some(x), Some(y)) => (x, y),
        _ => (first, files.get(1).unwrap_or(first)),
    };
    outln!("fit them with, e.g.: jitfit fit MODEL --x {} --y {}", x.1.display(), y.1.display())?;
    Ok(0)
}

#[derive(clap::Args)]
pub struct GenerateArgs {
    /// A model in one variable `x`, e.g. 'a*exp(-b*x) + c'.
    #[arg(allow_hyphen_values = true)]
    model: String,
    /// The folder to write x.npy and y.npy into.
    out: PathBuf,
    /// Number of points.
    #[arg(long, default_value = "1000000")]
    n: f64,
    /// The parameters' true values, e.g. `a=3,b=0.7,c=0.5` (unset ones are 1).
    #[arg(long, value_delimiter = ',')]
    params: Vec<String>,
    /// The range of x, LOW:HIGH.
    #[arg(long, default_value = "0:10", allow_hyphen_values = true)]
    range: String,
    /// Standard deviation of the Gaussian noise added to y.
    #[arg(long, default_value_t = 0.01)]
    noise: f64,
    /// Seed of the noise.
    #[arg(long, default_value_t = 1)]
    seed: u64,
}

pub fn generate(args: &GenerateArgs) -> anyhow::Result<i32> {
    if !(args.n >= 1.0 && args.n <= 1e9 && args.n.fract() == 0.0) {
        bail!("--n must be a whole number of points from 1 to 1e9, got {}", args.n);
    }
    let n = args.n as usize;
    let model = jitfit::compile(&args.model)?;
    let mut params = vec![1.0; model.n_params()];
    for (name, value) in parse_assignments(&args.params, "params")? {
        let k =
            model.params().iter().position(|p| *p == name).with_context(|| format!("unknown parameter `{name}`"))?;
        params[k] = parse_number(&value, &format!("--params {name}"))?;
    }
    let (lo, hi) = args.range.split_once(':').context("--range must be LOW:HIGH")?;
    let (lo, hi) = (parse_number(lo, "--range")?, parse_number(hi, "--range")?);
    let x: Vec<f64> = (0..n).map(|i| lo + (hi - lo) * i as f64 / (n.max(2) - 1) as f64).collect();
    let mut y = vec![0.0; n];
    model.kernels().predict(&[&x], &params, &mut y)?;
    // Gaussian noise by Box–Muller over a splitmix64 stream: deterministic for a seed.
    let mut state = args.seed;
    let mut uniform = || {
        state = state.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = state;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        ((z ^ (z >> 31)) >> 11) as f64 / (1u64 << 53) as f64
    };
    for v in y.iter_mut() {
        let (u1, u2) = (uniform().max(f64::MIN_POSITIVE), uniform());
        *v += args.noise * (-2.0 * u1.ln()).sqrt() * (std::f64::consts::TAU * u2).cos();
    }
    std::fs::create_dir_all(&args.out).with_context(|| format!("creating {}", args.out.display()))?;
    let (xp, yp) = (args.out.join("x.npy"), args.out.join("y.npy"));
    write_npy(&xp, &x)?;
    write_npy(&yp, &y)?;
    outln!("wrote {n} points to {} and {}", xp.display(), yp.display())?;
    Ok(0)
}
