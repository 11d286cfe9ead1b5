//! `jitfit fit MODEL DATA`: read a data file, match its columns to the model, fit, report.

use crate::args::FitArgs;
use crate::columns::{Columns, match_columns};
use crate::config::FitConfig;
use crate::report;
use anyhow::Context;
use jitfit::data::Table;
use jitfit::{Data, ModelOptions, Names};
use std::time::Instant;

/// A finished fit with what produced it (the REPL keeps it for `report`, `plot`, `json`).
pub struct Outcome {
    pub fit: jitfit::Fit,
    /// With --starts: what the search chose (sampler fallback, unbounded parameters' box).
    pub search_notes: Vec<String>,
    /// With --starts: the model evaluations of the whole search.
    pub search_evaluations: usize,
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
        report::Context::new(args, &self.columns, self.compile_time, self.compile_origin, self.total_time)
    }

    /// Writes the plot (with the profiles and contours in `uncertainty`) and prints its notes
    /// (a log axis it chose) to standard error.
    pub fn write_plot(
        &self,
        path: &std::path::Path,
        options: &crate::plot::PlotOptions,
        uncertainty: crate::plot::Uncertainty<'_>,
    ) -> anyhow::Result<()> {
        let notes =
            crate::plot::write_plot(path, &self.model, &self.data, &self.fit, &self.columns, options, uncertainty)
                .with_context(|| format!("writing the plot to {}", path.display()))?;
        for note in notes {
            eprintln!("note: {note}");
        }
        Ok(())
    }
}

/// The plot's options from the command line (`band`: the --band level, where it applies).
fn plot_options(args: &FitArgs, band: Option<jitfit::Level>) -> crate::plot::PlotOptions {
    crate::plot::PlotOptions { log_x: args.log_x, log_y: args.log_y, band }
}

/// Matches columns, compiles the model (through the cache) and fits.
pub fn execute(args: &FitArgs, table: &Table) -> anyhow::Result<Outcome> {
    let started = Instant::now();
    crate::config::refuse_conflicts(args, crate::config::Command::Fit)?;
    let mut config = FitConfig::from_args(args)?;
    let exclude: Vec<&str> = args.sets.as_deref().into_iter().collect();
    let mut columns = match_columns(args, table, &exclude)?;
    let keep = rows_to_keep(args, table, &mut columns)?;
    let mut var_names: Vec<String> = columns.vars.iter().map(|(v, _)| v.clone()).collect();
    // A global fit: the model over the stacked sets, with an indicator variable per set.
    let global = match &args.sets {
        Some(by) => Some(global_sets(args, by, table, keep.as_deref(), &var_names, &mut config, &mut columns)?),
        None => None,
    };
    let model_text = match &global {
        Some((model, _)) => {
            var_names.extend((1..=model.sets).map(jitfit::syntax::GlobalModel::indicator));
            model.text.clone()
        }
        None => args.model.clone(),
    };
    let options = ModelOptions { names: Names { vars: var_names, params: None }, ..Default::default() };
    let compiled = jitfit::KernelCache::global().compile(&model_text, &options)?;
    for warning in &compiled.warnings {
        eprintln!("warning: {warning}");
    }
    let model = compiled.model.clone();

    // Columns are handed over as stored: memory-mapped ones are not copied (unless rows are
    // dropped by --nan-policy omit).
    let column = |name: &str| -> jitfit::data::Column {
        let stored = table.column_data(name).cloned().unwrap_or_default();
        match &keep {
            None => stored,
            Some(rows) => rows.iter().map(|i| stored[*i]).collect::<Vec<f64>>().into(),
        }
    };
    let mut data = Data::new().y(column(&columns.y));
    for (var, name) in &columns.vars {
        data = data.var(var, column(name));
    }
    // What the plot cannot honour is known before the fit.
    if args.plot.is_some() {
        let vars: Vec<&[f64]> = model.vars().iter().map(|v| data.column(v).unwrap_or(&[])).collect();
        let response = (!model.transforms_response()).then(|| data.response());
        crate::plot::check_options(&plot_options(args, None), &columns, &vars, response)?;
    }
    if let Some((_, set_of_row)) = &global {
        let sets = set_of_row.iter().copied().max().map_or(0, |s| s + 1);
        for k in 0..sets {
            let indicator: Vec<f64> = set_of_row.iter().map(|s| if *s == k { 1.0 } else { 0.0 }).collect();
            data = data.var(&jitfit::syntax::GlobalModel::indicator(k + 1), indicator);
        }
    }
    match &columns.sigma {
        Some(crate::columns::Sigma::Expression { text, columns: used, fitted: true }) => {
            // σ follows the curve: the columns it names go to the fit by their own names.
            for name in used {
                if let Some((var, mapped)) = columns.vars.iter().find(|(v, _)| v == name)
                    && mapped != name
                {
                    anyhow::bail!(
                        "--sigma `{text}`: `{name}` is the model's variable {var} (column {mapped}) and also a column: rename one"
                    );
                }
                data = data.var(name, column(name));
            }
            data = data.sigma_of_fit(text);
        }
        Some(sigma) => data = data.sigma(sigma.values(table, keep.as_deref())?),
        None => {}
    }
    for (var, name) in &columns.sigma_x {
        data = data.sigma_x(var, column(name));
    }

    // Starts from the data: the lineshapes' guesses (unless --no-guess), then with --guess a
    // pre-search over the parameters still without one.
    let given: Vec<&str> = config.p0.iter().chain(&config.fix).map(|(n, _)| n.as_str()).collect();
    let shapes = !args.no_guess && global.is_none();
    let seed = args.seed.unwrap_or(0);
    let guessed =
        model.guess_starts(&data, |fit| config.apply(fit), &given, shapes, args.guess, seed).map_err(nan_hint)?;
    let listed = |values: &[(String, f64)]| {
        let list: Vec<String> = values.iter().map(|(n, v)| format!("{n} = {}", crate::format::num(*v))).collect();
        list.join(", ")
    };
    if !guessed.shaped.is_empty() {
        columns.notes.push(format!("starts guessed from the data (--no-guess: 1): {}", listed(&guessed.shaped)));
        columns.guessed.extend(guessed.shaped.iter().map(|(name, _)| name.clone()));
        columns.notes.extend(guessed.shape_notes);
        config.p0.extend(guessed.shaped);
    }
    if args.guess {
        match &guessed.search {
            None => columns.notes.push("--guess: every parameter has a start already; nothing searched".into()),
            Some(found) => {
                columns.notes.extend(found.notes.iter().cloned());
                columns.notes.push(format!(
                    "starts from the pre-search (--guess): {} (Σr² {} there, {} at the default start)",
                    listed(&guessed.searched),
                    crate::format::num(found.cost),
                    crate::format::num(found.start_cost)
                ));
                columns.guessed.extend(guessed.searched.iter().map(|(name, _)| name.clone()));
                config.p0.extend(guessed.searched);
            }
        }
    }
    if args.starts > 1 {
        // The options are checked against the model once, not once per start.
        config.apply(model.fit(&data)).into_options()?;
        let options = jitfit::multistart::MultiStart {
            starts: args.starts,
            sampler: config.sampler,
            seed: args.seed.unwrap_or(0),
            ..Default::default()
        };
        let found = model.multi_start(&data, |fit| config.apply(fit), &options).map_err(nan_hint)?;
        return Ok(Outcome {
            fit: found.best,
            minima: found.minima,
            search_notes: found.notes,
            search_evaluations: found.evaluations,
            model,
            data,
            columns,
            compile_time: compiled.elapsed,
            compile_origin: compiled.origin,
            total_time: started.elapsed(),
        });
    }
    let mut fit = config.apply(model.fit(&data));
    if let Some(ranks) = crate::ranks::collective() {
        fit = fit.collective(ranks);
    }
    if let Some(path) = &args.checkpoint {
        fit = fit.checkpoint(path, args.checkpoint_every.unwrap_or(1));
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
    // Ctrl-C (or SIGTERM, SIGHUP) stops a fit after its current iteration, with a report, and
    // saves a checkpoint if asked (TRF).
    fit = fit.cancel_flag(interrupt_flag());
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
    let fit = fit.map_err(nan_hint)?;
    if let Some((model, set_of_row)) = &global
        && fit.residuals.len() == set_of_row.len()
    {
        // Each set's share of the fit.
        let (mut points, mut chi2) = (vec![0usize; model.sets], vec![0.0; model.sets]);
        for (r, s) in fit.residuals.iter().zip(set_of_row) {
            points[*s] += 1;
            chi2[*s] += r * r;
        }
        columns.notes.extend(crate::global::set_notes(&points, &chi2));
    }
    Ok(Outcome {
        fit,
        minima: Vec::new(),
        search_notes: Vec::new(),
        search_evaluations: 0,
        model,
        data,
        columns,
        compile_time: compiled.elapsed,
        compile_origin: compiled.origin,
        total_time: started.elapsed(),
    })
}

/// σ = 1/√w of --weights; a weight that is not positive and finite is an error naming its row.
pub fn sigma_of_weights(weights: &[f64]) -> anyhow::Result<jitfit::data::Column> {
    if let Some(row) = weights.iter().position(|w| !(w.is_finite() && *w > 0.0)) {
        anyhow::bail!(
            "--weights: data row {} has w = {}: weights must be positive and finite (w = 1/σ²; drop the row to \
             leave the point out)",
            row + 1,
            weights[row]
        );
    }
    Ok(weights.iter().map(|w| 1.0 / w.sqrt()).collect::<Vec<f64>>().into())
}

/// `--nan-policy`: with `omit`, the rows to keep (`None`: all), with a note in the [[Data]]
/// section when some are dropped. With `raise` nothing is scanned here: the fit itself refuses
/// a non-finite value, and [`nan_hint`] adds the flag to its message.
pub(crate) fn rows_to_keep(args: &FitArgs, table: &Table, columns: &mut Columns) -> anyhow::Result<Option<Vec<usize>>> {
    match args.nan_policy.as_str() {
        "raise" => return Ok(None),
        "omit" => {}
        other => anyhow::bail!("--nan-policy: `{other}` is not one of raise, omit"),
    }
    let used: Vec<&[f64]> = columns
        .vars
        .iter()
        .map(|(_, c)| c.as_str())
        .chain(std::iter::once(columns.y.as_str()))
        .chain(columns.sigma.iter().flat_map(|s| s.columns()))
        .chain(columns.sigma_x.iter().map(|(_, c)| c.as_str()))
        .map(|c| table.column(c).unwrap_or_default())
        .collect();
    let rows = used.first().map_or(0, |c| c.len());
    let keep: Vec<usize> =
        (0..rows).filter(|i| used.iter().all(|c| c.get(*i).is_some_and(|v| v.is_finite()))).collect();
    if keep.len() == rows {
        return Ok(None);
    }
    columns.notes.push(format!(
        "rows: {} of {rows} dropped for a missing or non-finite value (--nan-policy omit)",
        rows - keep.len()
    ));
    Ok(Some(keep))
}

/// A fit's refusal of a non-finite value, with the flag that drops such rows.
fn nan_hint(e: jitfit::FitError) -> anyhow::Error {
    match e {
        // (Not for t(y) of a left side like log[y]: omit drops non-finite data, not y ≤ 0.)
        jitfit::FitError::NonFinite { ref what, .. } if !what.starts_with("the transformed response") => {
            anyhow::anyhow!("{e}: fix the data, or drop such rows with --nan-policy omit")
        }
        other => other.into(),
    }
}

/// Set by Ctrl-C, SIGTERM or SIGHUP: the fit stops after its iteration and reports. An
/// iteration can be long (a model of many parameters), so the third signal ends the process
/// at once (status 130). The handler is installed once per process.
fn interrupt_flag() -> &'static std::sync::atomic::AtomicBool {
    use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
    static FLAG: AtomicBool = AtomicBool::new(false);
    static SIGNALS: AtomicUsize = AtomicUsize::new(0);
    static INSTALL: std::sync::Once = std::sync::Once::new();
    INSTALL.call_once(|| {
        // Without a handler (another one was installed), Ctrl-C ends the process as usual.
        // ctrlc runs this on its own thread, not in the signal handler: printing is safe.
        let _ = ctrlc::set_handler(|| {
            FLAG.store(true, Ordering::Relaxed);
            match SIGNALS.fetch_add(1, Ordering::Relaxed) + 1 {
                1 => eprintln!("\nstopping after this iteration (interrupt twice more to quit at once)"),
                2 => {}
                _ => {
                    eprintln!("\nquit: the fit was not finished");
                    std::process::exit(130);
                }
            }
        });
    });
    FLAG.store(false, Ordering::Relaxed);
    SIGNALS.store(0, Ordering::Relaxed);
    &FLAG
}

/// What `jitfit fit` under `mpirun` cannot share: each of these needs every residual in one
/// process (or is a fit of another kind).
fn refuse_for_ranks(args: &FitArgs) -> anyhow::Result<()> {
    let refused = [
        ("--plot", args.plot.is_some()),
        ("--output-residuals", args.output_residuals.is_some()),
        ("--sets", args.sets.is_some()),
        ("--starts", args.starts > 1),
        ("--sigma-x", !args.sigma_x.is_empty()),
        ("--poisson", args.poisson),
        ("--ci", !args.ci.is_empty()),
        ("--band", args.band.is_some()),
        ("--contour", !args.contour.is_empty()),
        ("--bootstrap", args.bootstrap.is_some()),
    ];
    if !args.more_data.is_empty() {
        anyhow::bail!(
            "several data files are not available when the fit is shared by MPI ranks: give one file, or .npy columns"
        );
    }
    if let Some((flag, _)) = refused.iter().find(|(_, given)| *given) {
        anyhow::bail!(
            "{flag} is not available when the fit is shared by MPI ranks: run it in one process (without mpirun)"
        );
    }
    Ok(())
}

pub fn run(args: &FitArgs) -> anyhow::Result<i32> {
    let started = Instant::now();
    if crate::ranks::collective().is_some() {
        refuse_for_ranks(args)?;
    }
    if let Some(path) = &args.plot {
        crate::plot::check_extension(path)?;
    }
    // Where results go is checked before the fit, so a long fit is not thrown away at the end,
    // and an output never overwrites an input.
    let inputs: Vec<std::path::PathBuf> = [args.data.as_deref().map(std::path::Path::to_path_buf)]
        .into_iter()
        .flatten()
        .chain(args.more_data.iter().cloned())
        .chain([&args.x, &args.y, &args.sigma, &args.sets].into_iter().flatten().map(std::path::PathBuf::from))
        .chain(args.npy_files_of_vars().map(std::path::PathBuf::from))
        .filter_map(|p| std::fs::canonicalize(p).ok())
        .collect();
    for (flag, path) in
        [("--plot", &args.plot), ("--output-residuals", &args.output_residuals), ("--checkpoint", &args.checkpoint)]
    {
        if let Some(path) = path
            && std::fs::canonicalize(path).is_ok_and(|p| inputs.contains(&p))
        {
            anyhow::bail!("{flag} {}: that is an input of this fit; write the output elsewhere", path.display());
        }
    }
    for (flag, path) in [("--plot", &args.plot), ("--output-residuals", &args.output_residuals)] {
        if let Some(path) = path {
            jitfit::fsutil::check_writable(path)
                .with_context(|| format!("{flag} {}: cannot write there", path.display()))?;
        }
    }
    let requests = crate::uncertainty::Requests::from_args(args)?;
    // Every rank reads the data; if one cannot, all stop.
    let (table, args) = crate::ranks::agree(args.load_with(
        // `--sets` names a label column of the text table, unless it is a `.npy` column file.
        args.sets.iter().filter(|s| args.text_data() && !s.ends_with(".npy")).cloned().collect(),
    ))?;
    let (table, args) = crate::global::stack_files(table, args)?;
    let args = &args;
    if args.sets.is_some() {
        let (solver, why) = crate::global::solver(args)?;
        if solver != crate::global::Solver::Structured && args.guess {
            anyhow::bail!(
                "--guess with --sets searches each set on the structured solver: not with the dense rewrite ({why})"
            );
        }
        if solver != crate::global::Solver::Structured && args.plot.is_some() {
            anyhow::bail!(
                "--plot with --sets draws each set from the structured solver's fit: not with the dense rewrite ({why})"
            );
        }
        if solver == crate::global::Solver::Structured {
            let mut outcome = crate::global::execute(args, &table, why)?;
            outcome.total_time = started.elapsed();
            if args.json {
                outln!("{}", serde_json::to_string_pretty(&crate::global::json(&outcome, args))?)?;
            } else {
                out!("{}", crate::global::text(&outcome, args))?;
            }
            if let Some(path) = &args.plot {
                let options = plot_options(args, None);
                outcome.write_plot(path, &options)?;
            }
            return Ok(if outcome.fit.status.converged() { 0 } else { 2 });
        }
    }
    let mut outcome = execute(args, &table)?;
    // A failure here does not throw the fit away: it is reported, then the error.
    let (extras, extras_error) =
        match crate::uncertainty::compute(args, &requests, &outcome.model, &outcome.data, &outcome.fit) {
            Ok(extras) => (extras, None),
            Err(e) => (Default::default(), Some(e)),
        };
    outcome.total_time = started.elapsed();
    let data_name = args.data_name();
    let mut context = outcome.context(args);
    context.data_path = &data_name;
    if args.json {
        let mut value = report::json(&outcome.fit, &context);
        if !outcome.minima.is_empty() {
            value["minima"] = report::minima_json(&outcome.minima);
            value["search_notes"] = serde_json::json!(outcome.search_notes);
            value["search_evaluations"] = serde_json::json!(outcome.search_evaluations);
        }
        crate::uncertainty::add_json(&mut value, &extras);
        outln!("{}", serde_json::to_string_pretty(&value)?)?;
    } else {
        out!("{}", report::text(&outcome.fit, &context))?;
        out!("{}", crate::uncertainty::text(&outcome.fit, &extras))?;
        if !outcome.minima.is_empty() {
            out!("{}", report::minima_text(&outcome.minima, args.starts, &outcome.search_notes))?;
        }
    }
    if let Some(path) = &args.output_residuals {
        write_residuals(path, &outcome.model, &outcome.data, &outcome.fit, &outcome.columns, extras.bands.as_ref())
            .with_context(|| format!("writing residuals to {}", path.display()))?;
    }
    if let Some(path) = &args.plot {
        let options = plot_options(args, requests.band);
        let uncertainty = crate::plot::Uncertainty { profile: extras.profile.as_ref(), contours: &extras.contours };
        outcome.write_plot(path, &options, uncertainty)?;
    }
    if let Some(e) = extras_error {
        return Err(e);
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
    bands: Option<&jitfit::Bands>,
) -> anyhow::Result<()> {
    let vars: Vec<&[f64]> = model.vars().iter().map(|v| data.column(v).unwrap_or(&[])).collect();
    let (fitted, target) = crate::plot::fitted_and_observed(model, &vars, data, fit)?;
    let mut header: Vec<String> = columns.vars.iter().map(|(_, c)| c.clone()).collect();
    header.extend([columns.y.clone(), "fitted".into(), "residual".into()]);
    // With --band: the half-widths of the confidence and (where known) prediction bands.
    if let Some(b) = bands {
        header.push("confidence".into());
        if b.prediction.is_some() {
            header.push("prediction".into());
        }
    }
    // Streamed into the temp file (10^7 rows were built as one string first).
    jitfit::fsutil::write_atomically(path, |out| {
        use std::io::Write as _;
        let mut out = std::io::BufWriter::with_capacity(1 << 16, out);
        writeln!(out, "{}", header.join(","))?;
        for i in 0..data.len() {
            for c in &vars {
                write!(out, "{:?},", c[i])?;
            }
            write!(out, "{:?},{:?},{:?}", data.response()[i], fitted[i], fitted[i] - target[i])?;
            if let Some(b) = bands {
                write!(out, ",{:?}", b.confidence[i])?;
                if let Some(p) = &b.prediction {
                    write!(out, ",{:?}", p[i])?;
                }
            }
            writeln!(out)?;
        }
        out.flush()
    })?;
    Ok(())
}

/// The most data sets a global fit takes (the dense rewriting, not a block solver).
pub(crate) const MAX_SETS: usize = 200;

/// The set of each row (kept by --nan-policy; ids in order of first appearance) and each
/// set's id as written in the column.
pub(crate) fn set_rows(by: &str, table: &Table, keep: Option<&[usize]>) -> anyhow::Result<(Vec<usize>, Vec<String>)> {
    let Some(ids) = table.column(by) else {
        anyhow::bail!("--sets: `{by}` is not a column (columns: {})", table.names.join(", "));
    };
    let rows: Vec<usize> = match keep {
        Some(rows) => rows.to_vec(),
        None => (0..ids.len()).collect(),
    };
    // A row without an id belongs to no set: an error, not a set of its own.
    if let Some(row) = rows.iter().find(|i| !ids[**i].is_finite()) {
        anyhow::bail!("--sets {by}: data row {} has no id ({}); drop it or give it one", row + 1, ids[*row]);
    }
    let (groups, order) = crate::batch::group_ids(rows.iter().map(|i| ids[*i]));
    let labels = table.labels(by);
    let label = |key: &u64| -> String {
        let id = f64::from_bits(*key);
        match labels {
            Some(labels) => labels.get(id as usize).cloned().unwrap_or_else(|| id.to_string()),
            None => id.to_string(),
        }
    };
    Ok((groups.into_iter().map(|g| g as usize).collect(), order.iter().map(label).collect()))
}

/// `--sets COLUMN`: the rows' sets (ids in order of first appearance, over the rows kept), the
/// model rewritten over them, and the starts, bounds and fixed values of a per-set parameter
/// given to every set. Says what it did in [[Data]].
fn global_sets(
    args: &FitArgs,
    by: &str,
    table: &Table,
    keep: Option<&[usize]>,
    vars: &[String],
    config: &mut FitConfig,
    columns: &mut Columns,
) -> anyhow::Result<(jitfit::syntax::GlobalModel, Vec<usize>)> {
    let (set_of_row, labels) = set_rows(by, table, keep)?;
    if labels.len() > MAX_SETS {
        anyhow::bail!(
            "--sets {by}: {} data sets; the dense global fit takes at most {MAX_SETS} (its Jacobian is dense over \
             every set's parameters: 200 sets of 25 points and 6 parameters take 10 s, and the cost grows with the \
             cube); the structured solver takes any number: leave out {}",
            labels.len(),
            crate::global::dense_only(args).unwrap_or("--global-solver dense")
        );
    }
    let model =
        jitfit::syntax::global_model(&args.model, vars, labels.len(), &args.shared).map_err(|e| anyhow::anyhow!(e))?;
    // A per-set parameter's start, bounds or fixed value applies to it in every set.
    let expand = |name: &str| -> Vec<String> {
        if model.local.iter().any(|p| p == name) {
            (1..=labels.len()).map(|k| jitfit::syntax::GlobalModel::name_in_set(name, k)).collect()
        } else {
            vec![name.to_owned()]
        }
    };
    config.p0 = config.p0.iter().flat_map(|(n, v)| expand(n).into_iter().map(move |m| (m, *v))).collect();
    config.fix = config.fix.iter().flat_map(|(n, v)| expand(n).into_iter().map(move |m| (m, *v))).collect();
    config.bounds =
        config.bounds.iter().flat_map(|(n, lo, hi)| expand(n).into_iter().map(move |m| (m, *lo, *hi))).collect();
    let sets = crate::global::set_list(&labels);
    columns.notes.push(format!(
        "global fit: {} data sets {} ({}); shared: {}; per set: {} (named NAME_1, NAME_2, …)",
        labels.len(),
        crate::global::sets_by(by),
        sets,
        if model.shared.is_empty() { "none".to_owned() } else { model.shared.join(", ") },
        model.local.join(", ")
    ));
    columns.notes.push(crate::global::solver(args)?.1);
    Ok((model, set_of_row))
}
