//! `jitfit fit MODEL DATA`: read a data file, match its columns to the model, fit, report.

use crate::report;
use anyhow::{Context, anyhow, bail};
use jitfit::backend::Backend;
use jitfit::data::{Table, read_table};
use jitfit::solve::{Loss, Method};
use jitfit::{Data, ModelOptions, Names};
use std::path::PathBuf;
use std::time::Instant;

#[derive(clap::Args, Clone)]
pub struct FitArgs {
    /// The model, e.g. 'a*exp(-b*x) + c' or 'y = b1*(1-exp[-b2*x])'.
    pub model: String,
    /// The data: CSV/TSV with a header row, whitespace-separated columns (`#` comments;
    /// without a header, two columns are `x y` and three `x y sigma`), or a `.npy` array
    /// (memory-mapped). Omit it to give one `.npy` file per column: `--x x.npy --y y.npy`.
    pub data: Option<PathBuf>,
    /// The column holding the response (default: the model's left side, or `y`), or a
    /// `.npy` file holding it.
    #[arg(long)]
    pub y: Option<String>,
    /// The column holding σ, the standard deviation of each y, or a `.npy` file.
    #[arg(long)]
    pub sigma: Option<String>,
    /// The column holding the variable `x` (for models written in x, data with other names),
    /// or a `.npy` file.
    #[arg(long)]
    pub x: Option<String>,
    /// The model's variables, comma-separated, each a column of the same name or mapped with
    /// NAME=COLUMN (default: every column whose name appears in the model).
    #[arg(long, value_delimiter = ',')]
    pub vars: Option<Vec<String>>,
    /// Initial values, e.g. `a=1,b=0.5` (unset parameters start at 1).
    #[arg(long, value_delimiter = ',')]
    pub p0: Vec<String>,
    /// Bounds, e.g. `b=0:inf,c=-1:1`.
    #[arg(long, value_delimiter = ',')]
    pub bounds: Vec<String>,
    /// Parameters held fixed, e.g. `c=0`.
    #[arg(long, value_delimiter = ',')]
    pub fix: Vec<String>,
    /// Robust loss: linear, soft_l1, huber, cauchy, arctan.
    #[arg(long, default_value = "linear")]
    pub loss: String,
    /// Residual scale of a robust loss.
    #[arg(long, default_value_t = 1.0)]
    pub f_scale: f64,
    /// Algorithm: auto (= trf), trf, lm.
    #[arg(long, default_value = "auto")]
    pub method: String,
    /// Where the model runs: cpu; gpu (f32 iterations on the device, then an f64 finish on
    /// the CPU); auto (the GPU for ≥ 2^20 points when a hardware adapter exists).
    #[arg(long, default_value = "auto")]
    pub backend: String,
    /// σ are absolute: do not rescale the covariance by the reduced χ².
    #[arg(long)]
    pub absolute_sigma: bool,
    /// y are counts: maximize the Poisson likelihood (Gpufit's MLE) instead of least squares.
    #[arg(long)]
    pub poisson: bool,
    #[arg(long)]
    pub ftol: Option<f64>,
    #[arg(long)]
    pub xtol: Option<f64>,
    #[arg(long)]
    pub gtol: Option<f64>,
    /// The most residual evaluations (default 1000 per parameter).
    #[arg(long)]
    pub max_nfev: Option<usize>,
    /// Print the result as JSON (schema `jitfit.fit/1`, see docs/json.md).
    #[arg(long)]
    pub json: bool,
    /// Write x, y, fitted value and residual per point to this CSV file.
    #[arg(long)]
    pub output_residuals: Option<PathBuf>,
    /// Draw the data, the fitted curve and the residuals to this SVG file (`.svg` only).
    #[arg(long)]
    pub plot: Option<PathBuf>,
    /// Correlations at or above this magnitude are listed in the report.
    #[arg(long, default_value_t = 0.1)]
    pub min_correl: f64,
    /// Save the solver state to this file as the fit goes (JSON, written atomically).
    #[arg(long)]
    pub checkpoint: Option<PathBuf>,
    /// Save a checkpoint every N iterations.
    #[arg(long, default_value_t = 1)]
    pub checkpoint_every: usize,
    /// Continue an interrupted fit from its checkpoint (same model, data and options).
    #[arg(long)]
    pub resume: Option<PathBuf>,
    /// No progress line (it appears only on a terminal, for fits of a second or more).
    #[arg(long)]
    pub quiet: bool,
    /// Multi-start: fit from this many starting points spread over the bounds (or around
    /// the initial values), keep the best; the report lists the distinct minima.
    #[arg(long, default_value_t = 1)]
    pub starts: usize,
    /// How the starts are drawn: sobol, lhs, random.
    #[arg(long, default_value = "sobol")]
    pub sampler: String,
    /// Seed of the starts.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
}

impl FitArgs {
    /// The arguments a plain `jitfit fit MODEL DATA` gets (the REPL starts from these).
    pub fn new(model: String, data: PathBuf) -> Self {
        FitArgs {
            model,
            data: Some(data),
            y: None,
            sigma: None,
            x: None,
            vars: None,
            p0: Vec::new(),
            bounds: Vec::new(),
            fix: Vec::new(),
            loss: "linear".into(),
            f_scale: 1.0,
            method: "auto".into(),
            backend: "auto".into(),
            absolute_sigma: false,
            poisson: false,
            ftol: None,
            xtol: None,
            gtol: None,
            max_nfev: None,
            json: false,
            output_residuals: None,
            plot: None,
            min_correl: 0.1,
            checkpoint: None,
            checkpoint_every: 1,
            resume: None,
            quiet: true,
            starts: 1,
            sampler: "sobol".into(),
            seed: 0,
        }
    }
}

impl FitArgs {
    /// The data as named in reports: the file, or the `.npy` column files.
    pub fn data_name(&self) -> String {
        match &self.data {
            Some(p) => p.display().to_string(),
            None => [&self.x, &self.y, &self.sigma].iter().filter_map(|v| v.as_deref()).collect::<Vec<_>>().join(", "),
        }
    }

    /// Reads the data file and any `.npy` column files given with --x, --y, --sigma (which
    /// then name the column they added).
    pub fn load(&self) -> anyhow::Result<(Table, FitArgs)> {
        let mut args = self.clone();
        let mut table = match &self.data {
            Some(path) => {
                let table = read_table(path)?;
                let text = !path.extension().is_some_and(|e| e.eq_ignore_ascii_case("npy"));
                if text && table.n_rows() >= 1_000_000 {
                    eprintln!(
                        "note: parsing {} rows of text took a while; `jitfit convert {} DIR` writes .npy columns that map instantly",
                        table.n_rows(),
                        path.display()
                    );
                }
                table
            }
            None => Table { names: Vec::new(), columns: Vec::new() },
        };
        for (flag, slot) in [("x", &mut args.x), ("y", &mut args.y), ("sigma", &mut args.sigma)] {
            let Some(value) = slot.clone() else { continue };
            if !value.ends_with(".npy") {
                continue;
            }
            let (_, mut columns) = jitfit::data::npy::read_npy(std::path::Path::new(&value))?;
            if columns.len() != 1 {
                bail!("--{flag} {value}: a column file must hold a 1-D array, this one has {} columns", columns.len());
            }
            let name = format!("{flag} ({value})");
            table.names.push(name.clone());
            table.columns.push(columns.remove(0));
            *slot = Some(name);
        }
        if table.names.is_empty() {
            bail!("no data: give a data file, or .npy column files with --x and --y");
        }
        Ok((table, args))
    }
}

/// Parses `name=value` pairs.
pub fn parse_assignments(items: &[String], what: &str) -> anyhow::Result<Vec<(String, String)>> {
    items
        .iter()
        .filter(|s| !s.trim().is_empty())
        .map(|item| {
            let (name, value) = item.split_once('=').ok_or_else(|| anyhow!("--{what}: `{item}` is not NAME=VALUE"))?;
            Ok((name.trim().to_owned(), value.trim().to_owned()))
        })
        .collect()
}

pub fn parse_number(text: &str, context: &str) -> anyhow::Result<f64> {
    match text.trim() {
        "inf" | "+inf" | "Inf" => Ok(f64::INFINITY),
        "-inf" | "-Inf" => Ok(f64::NEG_INFINITY),
        t => t.parse::<f64>().map_err(|_| anyhow!("{context}: `{t}` is not a number")),
    }
}

/// What the columns of a table mean for a model.
pub struct Columns {
    /// (model variable, column name)
    pub vars: Vec<(String, String)>,
    pub y: String,
    pub sigma: Option<String>,
}

pub fn match_columns(args: &FitArgs, table: &Table) -> anyhow::Result<Columns> {
    let ast = jitfit::syntax::parse(&args.model)?;
    let names = ast.names();
    let has = |c: &str| table.column(c).is_some();
    let missing = |c: &str, what: &str| {
        anyhow!("{what} `{c}` is not a column of {} (columns: {})", args.data_name(), table.names.join(", "))
    };
    let y = match &args.y {
        Some(c) if has(c) => c.clone(),
        Some(c) => return Err(missing(c, "the response column")),
        None => match ast.response_name() {
            Some(r) if has(&r) => r,
            _ if has("y") => "y".to_owned(),
            _ => bail!("which column is the response? name it with --y (columns: {})", table.names.join(", ")),
        },
    };
    let sigma = match &args.sigma {
        Some(c) if has(c) => Some(c.clone()),
        Some(c) => return Err(missing(c, "the sigma column")),
        None => None,
    };
    let mut vars: Vec<(String, String)> = Vec::new();
    if let Some(list) = &args.vars {
        for item in list {
            let (var, column) = item.split_once('=').map_or((item.as_str(), item.as_str()), |(v, c)| (v, c));
            let (var, column) = (var.trim(), column.trim());
            if !has(column) {
                return Err(missing(column, "the variable column"));
            }
            vars.push((var.to_owned(), column.to_owned()));
        }
    } else {
        for name in &names {
            if has(name) && *name != y && Some(name) != sigma.as_ref() {
                vars.push((name.clone(), name.clone()));
            }
        }
    }
    if let Some(column) = &args.x {
        if !has(column) {
            return Err(missing(column, "the column for x"));
        }
        vars.retain(|(v, _)| v != "x");
        vars.insert(0, ("x".to_owned(), column.clone()));
    }
    if vars.is_empty() {
        bail!(
            "no column of {} is named like a variable of the model; say which with --x COLUMN or --vars NAME=COLUMN (columns: {})",
            args.data_name(),
            table.names.join(", ")
        );
    }
    Ok(Columns { vars, y, sigma })
}

/// Applies the fit options of the command line (initial values, bounds, fixed parameters,
/// loss, method, tolerances) to a fit.
pub fn configure<'d>(mut fit: jitfit::FitBuilder<'d>, args: &FitArgs) -> anyhow::Result<jitfit::FitBuilder<'d>> {
    for (name, value) in parse_assignments(&args.p0, "p0")? {
        fit = fit.initial(&name, parse_number(&value, &format!("--p0 {name}"))?);
    }
    for (name, range) in parse_assignments(&args.bounds, "bounds")? {
        let (lo, hi) = range.split_once(':').ok_or_else(|| anyhow!("--bounds {name}: `{range}` is not LOWER:UPPER"))?;
        fit = fit.bound(&name, parse_number(lo, "--bounds")?, parse_number(hi, "--bounds")?);
    }
    for (name, value) in parse_assignments(&args.fix, "fix")? {
        fit = fit.fix(&name, parse_number(&value, &format!("--fix {name}"))?);
    }
    let loss = Loss::from_name(&args.loss)
        .ok_or_else(|| anyhow!("--loss: `{}` is not one of linear, soft_l1, huber, cauchy, arctan", args.loss))?;
    let method = match args.method.as_str() {
        "auto" => Method::Auto,
        "trf" => Method::Trf,
        "lm" => Method::Lm,
        other => bail!("--method: `{other}` is not one of auto, trf, lm"),
    };
    let backend = match args.backend.as_str() {
        "auto" => Backend::Auto,
        "cpu" => Backend::Cpu,
        "gpu" => Backend::Gpu,
        other => bail!("--backend: `{other}` is not one of auto, cpu, gpu"),
    };
    fit = fit.backend(backend);
    let defaults = jitfit::solve::SolveOptions::default();
    fit = fit.loss(loss, args.f_scale).method(method).absolute_sigma(args.absolute_sigma).tolerances(
        args.ftol.unwrap_or(defaults.ftol),
        args.xtol.unwrap_or(defaults.xtol),
        args.gtol.unwrap_or(defaults.gtol),
    );
    if let Some(n) = args.max_nfev {
        fit = fit.max_nfev(n);
    }
    if args.poisson {
        fit = fit.poisson();
    }
    Ok(fit)
}

/// A finished fit with what produced it (the REPL keeps it for `report`, `plot`, `json`).
pub struct Outcome {
    pub fit: jitfit::Fit,
    /// With --starts: the distinct minima found, best first.
    pub minima: Vec<jitfit::Fit>,
    pub model: std::sync::Arc<jitfit::CompiledModel>,
    pub data: Data,
    pub columns: Columns,
    pub compile_time: std::time::Duration,
    pub compile_origin: jitfit::cache::Origin,
    pub total_time: std::time::Duration,
}

impl Outcome {
    pub fn context<'a>(&'a self, args: &'a FitArgs) -> report::Context<'a> {
        report::Context {
            model: &args.model,
            data_path: args.data.as_deref().and_then(|p| p.to_str()).unwrap_or("data"),
            columns: &self.columns,
            compile_time: self.compile_time,
            compile_origin: self.compile_origin,
            total_time: self.total_time,
            min_correl: args.min_correl,
        }
    }

    pub fn write_plot(&self, path: &std::path::Path) -> anyhow::Result<()> {
        crate::plot::write_plot(path, &self.model, &self.data, &self.fit, &self.columns)
            .with_context(|| format!("writing the plot to {}", path.display()))
    }
}

/// Matches columns, compiles the model (through the cache) and fits.
pub fn execute(args: &FitArgs, table: &Table) -> anyhow::Result<Outcome> {
    let started = Instant::now();
    let columns = match_columns(args, table)?;
    let var_names: Vec<String> = columns.vars.iter().map(|(v, _)| v.clone()).collect();
    let options = ModelOptions { names: Names { vars: var_names, params: None }, ..Default::default() };
    let compiled = jitfit::KernelCache::global().compile(&args.model, &options)?;
    for warning in &compiled.warnings {
        eprintln!("warning: {warning}");
    }
    let model = compiled.model.clone();

    // Columns are handed over as stored: memory-mapped ones are not copied.
    let column = |name: &str| table.column_data(name).cloned().unwrap_or_default();
    let mut data = Data::new().y(column(&columns.y));
    for (var, name) in &columns.vars {
        data = data.var(var, column(name));
    }
    if let Some(s) = &columns.sigma {
        data = data.sigma(column(s));
    }

    if args.starts > 1 {
        let sampler = jitfit::multistart::Sampler::from_name(&args.sampler)
            .ok_or_else(|| anyhow!("--sampler: `{}` is not one of sobol, lhs, random", args.sampler))?;
        configure(model.fit(&data), args)?; // validate the options once
        let options =
            jitfit::multistart::MultiStart { starts: args.starts, sampler, seed: args.seed, ..Default::default() };
        let found = model.multi_start(&data, |fit| configure(fit, args).expect("validated above"), &options)?;
        return Ok(Outcome {
            fit: found.best,
            minima: found.minima,
            model,
            data,
            columns,
            compile_time: compiled.elapsed,
            compile_origin: compiled.origin,
            total_time: started.elapsed(),
        });
    }
    let mut fit = configure(model.fit(&data), args)?;
    if let Some(path) = &args.checkpoint {
        fit = fit.checkpoint(path, args.checkpoint_every);
        // For tests of interrupted fits: die right after writing the checkpoint of iteration N.
        if let Some(n) = std::env::var("JITFIT_ABORT_AFTER_CHECKPOINT").ok().and_then(|v| v.parse::<usize>().ok()) {
            fit = fit.after_checkpoint(move |iteration| {
                if iteration == n {
                    std::process::abort();
                }
            });
        }
    }
    if let Some(path) = &args.resume {
        fit = fit.resume(path);
    }
    // Ctrl-C stops a (TRF) fit after its current iteration and saves a checkpoint if asked.
    if args.method != "lm" {
        fit = fit.cancel_flag(interrupt_flag());
    }
    // A progress line on stderr for fits that take a second or more, on a terminal only.
    let progress_bar = (!args.quiet && std::io::IsTerminal::is_terminal(&std::io::stderr())).then(|| {
        let bar = indicatif::ProgressBar::hidden();
        bar.set_style(indicatif::ProgressStyle::with_template("{spinner} {elapsed} {msg}").expect("a valid template"));
        bar
    });
    let fit_started = Instant::now();
    if let Some(bar) = &progress_bar {
        let bar = bar.clone();
        let points = data.len() as f64;
        fit = fit.progress(move |state| {
            if fit_started.elapsed().as_secs_f64() >= 1.0 {
                if bar.is_hidden() {
                    bar.set_draw_target(indicatif::ProgressDrawTarget::stderr());
                }
                let passes = (state.nfev + state.njev) as f64;
                let rate = passes * points / fit_started.elapsed().as_secs_f64();
                bar.set_message(format!(
                    "iteration {}, cost {:.6e}, {} evaluations, {:.3e} points/s",
                    state.iterations, state.cost, state.nfev, rate
                ));
                bar.tick();
            }
        });
    }
    let fit = fit.run();
    if let Some(bar) = &progress_bar {
        bar.finish_and_clear();
    }
    let fit = fit?;
    Ok(Outcome {
        fit,
        minima: Vec::new(),
        model,
        data,
        columns,
        compile_time: compiled.elapsed,
        compile_origin: compiled.origin,
        total_time: started.elapsed(),
    })
}

/// Set by Ctrl-C; the handler is installed once per process.
fn interrupt_flag() -> &'static std::sync::atomic::AtomicBool {
    static FLAG: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);
    static INSTALL: std::sync::Once = std::sync::Once::new();
    INSTALL.call_once(|| {
        // Without a handler (another one was installed), Ctrl-C ends the process as usual.
        let _ = ctrlc::set_handler(|| FLAG.store(true, std::sync::atomic::Ordering::Relaxed));
    });
    FLAG.store(false, std::sync::atomic::Ordering::Relaxed);
    &FLAG
}

pub fn run(args: &FitArgs) -> anyhow::Result<i32> {
    let started = Instant::now();
    if let Some(path) = &args.plot {
        crate::plot::check_extension(path)?;
    }
    let (table, args) = args.load()?;
    let args = &args;
    let mut outcome = execute(args, &table)?;
    outcome.total_time = started.elapsed();
    let data_name = args.data_name();
    let mut context = outcome.context(args);
    context.data_path = &data_name;
    if args.json {
        let mut value = report::json(&outcome.fit, &context);
        if !outcome.minima.is_empty() {
            value["minima"] = report::minima_json(&outcome.minima);
        }
        outln!("{}", serde_json::to_string_pretty(&value)?)?;
    } else {
        out!("{}", report::text(&outcome.fit, &context))?;
        if !outcome.minima.is_empty() {
            out!("{}", report::minima_text(&outcome.minima, args.starts))?;
        }
    }
    if let Some(path) = &args.output_residuals {
        write_residuals(path, &outcome.model, &outcome.data, &outcome.fit, &outcome.columns)
            .with_context(|| format!("writing residuals to {}", path.display()))?;
    }
    if let Some(path) = &args.plot {
        outcome.write_plot(path)?;
    }
    Ok(match outcome.fit.status {
        s if s.converged() => 0,
        jitfit::solve::Status::Interrupted => {
            if let Some(path) = &args.checkpoint {
                eprintln!("interrupted: continue with --resume {}", path.display());
            }
            130
        }
        _ => 2,
    })
}

fn write_residuals(
    path: &std::path::Path,
    model: &jitfit::CompiledModel,
    data: &Data,
    fit: &jitfit::Fit,
    columns: &Columns,
) -> anyhow::Result<()> {
    let vars: Vec<&[f64]> = model.vars().iter().map(|v| data.column(v).unwrap_or(&[])).collect();
    let fitted = jitfit::ir::Interpreter::new(model.kernel()).eval_batch(&vars, Some(data.response()), &fit.values);
    let mut out = String::new();
    let mut header: Vec<String> = columns.vars.iter().map(|(_, c)| c.clone()).collect();
    header.extend([columns.y.clone(), "fitted".into(), "residual".into()]);
    out += &header.join(",");
    out.push('\n');
    for i in 0..data.len() {
        let mut row: Vec<String> = vars.iter().map(|c| format!("{:?}", c[i])).collect();
        let target = fitted.response.as_ref().map_or(data.response()[i], |t| t[i]);
        row.push(format!("{:?}", data.response()[i]));
        row.push(format!("{:?}", fitted.value[i]));
        row.push(format!("{:?}", fitted.value[i] - target));
        out += &row.join(",");
        out.push('\n');
    }
    std::fs::write(path, out)?;
    Ok(())
}
