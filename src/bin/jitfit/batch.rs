//! `jitfit batch MODEL DATA --by ID`: one model fitted to every group of rows of a long-format
//! table (all spots of a movie, all pixels, all channels), in parallel; a CSV or JSON row per
//! fit and a summary.

use crate::args::FitArgs;
use crate::columns::match_columns;
use crate::config::FitConfig;
use anyhow::{Context as _, bail};
use jitfit::{Data, ModelOptions, Names};
use std::collections::HashMap;
use std::fmt::Write;
use std::path::PathBuf;

#[derive(clap::Args)]
pub struct BatchArgs {
    #[command(flatten)]
    pub fit: FitArgs,
    /// The column whose values name the data sets: rows with equal values form one fit.
    /// Without it, `--y` must be a 2-D `.npy` array of fits × points (and each variable a
    /// 1-D `.npy` of the points, shared by all fits, or an array of the same shape).
    #[arg(long)]
    pub by: Option<String>,
    /// Write the results (one row per fit) to this CSV file instead of standard output.
    #[arg(long)]
    pub out: Option<PathBuf>,
    /// exact: each fit exactly as `jitfit fit` would do it alone (every option); compact:
    /// Gpufit's Levenberg–Marquardt for many small plain least-squares fits (several times
    /// faster; on the GPU with --backend gpu); auto: compact with --backend gpu, else exact.
    #[arg(long, default_value = "auto")]
    pub solver: String,
}

/// Whether the compact solver runs the batch.
fn compact_solver(args: &BatchArgs) -> anyhow::Result<bool> {
    match args.solver.as_str() {
        "exact" if args.fit.backend == "gpu" => bail!("--solver exact runs on the CPU; the GPU runs --solver compact"),
        "exact" => Ok(false),
        "compact" => Ok(true),
        "auto" => Ok(args.fit.backend == "gpu"),
        other => bail!("--solver: `{other}` is not one of auto, exact, compact"),
    }
}

pub fn run(args: &BatchArgs) -> anyhow::Result<i32> {
    crate::config::refuse_conflicts(&args.fit, crate::config::Command::Batch)?;
    if let Some(path) = &args.out {
        jitfit::fsutil::check_writable(path)
            .map_err(|e| anyhow::anyhow!("--out {}: cannot write there: {e}", path.display()))?;
    }
    if let Some(path) = &args.fit.plot {
        crate::plot::check_extension(path)?;
        jitfit::fsutil::check_writable(path)
            .map_err(|e| anyhow::anyhow!("--plot {}: cannot write there: {e}", path.display()))?;
    }
    let Some(by) = &args.by else {
        return run_matrix(args);
    };
    // The ids are read as written (sample names, well names, numbers): rows whose id field is
    // the same text form one fit.
    // Under mpirun every rank reads the data; if one cannot, all stop.
    let (table, fit_args) = crate::ranks::agree(
        args.fit.load_with(if args.fit.text_data() { vec![by.clone()] } else { Vec::new() }).map_err(|e| {
            match e.downcast_ref::<jitfit::data::DataError>() {
                Some(jitfit::data::DataError::NoSuchColumn { .. }) => e.context(format!("--by {by}")),
                _ => e,
            }
        }),
    )?;
    let Some(ids) = table.column(by) else {
        bail!("--by: `{by}` is not a column (columns: {})", table.names.join(", "));
    };
    let labels = table.labels(by);
    // Group rows by id, in order of first appearance: a group number per row (a hash lookup
    // only where the id differs from the row before), then the rows of each group gathered
    // together by a counting sort — one pass per column, no vector per group or per row.
    let (group_of, order) = group_ids(ids.iter().copied());
    let mut starts = vec![0usize; order.len() + 1];
    for g in &group_of {
        starts[*g as usize + 1] += 1;
    }
    for k in 0..order.len() {
        starts[k + 1] += starts[k];
    }
    let mut gathered = vec![0usize; ids.len()];
    let mut next = starts.clone();
    for (i, g) in group_of.iter().enumerate() {
        gathered[next[*g as usize]] = i;
        next[*g as usize] += 1;
    }
    // The id column has its role: never a variable, the response or σ.
    let columns = match_columns(&fit_args, &table, &[by.as_str()])?;
    for note in &columns.notes {
        eprintln!("note: {note}");
    }
    let var_names: Vec<String> = columns.vars.iter().map(|(v, _)| v.clone()).collect();
    let options = ModelOptions { names: Names { vars: var_names, params: None }, ..Default::default() };
    let model = jitfit::KernelCache::global().compile(&fit_args.model, &options)?.model;
    let gather = |name: &str| -> Vec<f64> {
        let c = table.column(name).unwrap_or_default();
        gathered.iter().map(|i| c[*i]).collect()
    };
    let groups = Groups {
        y: gather(&columns.y),
        vars: columns.vars.iter().map(|(var, name)| (var.clone(), gather(name))).collect(),
        sigma: match &columns.sigma {
            Some(sigma) => Some(sigma.values(&table, Some(&gathered))?.as_slice().to_vec()),
            None => None,
        },
        starts,
    };
    let ids: Vec<String> = order
        .iter()
        .map(|key| {
            let id = f64::from_bits(*key);
            match labels {
                Some(labels) => labels[id as usize].clone(),
                None => id.to_string(),
            }
        })
        .collect();
    if compact_solver(args)? {
        return run_compact(args, &fit_args, &model, &ids, &groups);
    }
    // Check the options once, on the first data set, so that a typo is one error, not N.
    let config = FitConfig::from_args(&fit_args)?;
    if groups.len() > 0 {
        config.apply(model.fit(&groups.data(0))).into_options()?;
    }
    run_exact(args, &model, &ids, &groups, &config)
}

/// The fits this process runs: all of them, or under `mpirun` its rank's contiguous part.
fn my_part(n: usize) -> std::ops::Range<usize> {
    match crate::ranks::collective() {
        Some(ranks) => {
            let (r, size) = (ranks.rank(), ranks.size());
            r * n / size..(r + 1) * n / size
        }
        None => 0..n,
    }
}

/// The batch through the exact solver (`CompiledModel::fit_batch`): this process's part.
fn run_exact(
    args: &BatchArgs,
    model: &std::sync::Arc<jitfit::CompiledModel>,
    ids: &[String],
    groups: &Groups,
    config: &FitConfig,
) -> anyhow::Result<i32> {
    let part = my_part(groups.len());
    let datasets: Vec<Data> = part.clone().map(|k| groups.data(k)).collect();
    let started = std::time::Instant::now();
    // Each fit becomes its row as it finishes: the batch holds rows, not fits.
    let ids = &ids[part];
    let (rows, fits_elapsed) =
        model.fit_batch_map(&datasets, |_, fit| config.apply(fit), |k, fit| exact_row(model, &ids[k], fit));
    drop(datasets);
    let rows = gather_rows(rows)?;
    // Alone, the batch's own time (as before); shared, until every rank's rows are here.
    let elapsed = if crate::ranks::collective().is_some() { started.elapsed() } else { fits_elapsed };
    let summary = format!(
        "{} fits: {} converged, {} failed to start; median {} iterations; {:.0} fits/s",
        rows.len(),
        rows.iter().filter(|r| r.converged).count(),
        rows.iter().filter(|r| r.error.is_some()).count(),
        median_iterations(&rows).map_or("-".into(), |m| m.to_string()),
        rows.len() as f64 / elapsed.as_secs_f64().max(1e-12)
    );
    write_results(args, model.params(), &rows, "exact", summary)
}

/// The middle iteration count of the rows that count (the exact solver's fits that ran, the
/// compact solver's that ran) — the upper one of an even count, as the batches' own medians.
fn median_iterations(rows: &[Row]) -> Option<usize> {
    let mut iterations: Vec<usize> = rows.iter().filter(|r| r.in_median).map(|r| r.iterations).collect();
    iterations.sort_unstable();
    iterations.get(iterations.len() / 2).copied()
}

/// Every rank's rows, in rank order (the fits' input order); this process's alone.
fn gather_rows(rows: Vec<Row>) -> anyhow::Result<Vec<Row>> {
    let Some(ranks) = crate::ranks::collective() else { return Ok(rows) };
    let mut bytes = Vec::new();
    for row in &rows {
        row.encode(&mut bytes);
    }
    let mut all = Vec::new();
    for (rank, part) in ranks.all_gather_bytes(&bytes).map_err(anyhow::Error::msg)?.iter().enumerate() {
        let mut rest = part.as_slice();
        while !rest.is_empty() {
            all.push(Row::decode(&mut rest).ok_or_else(|| anyhow::anyhow!("rank {rank}'s results are garbled"))?);
        }
    }
    Ok(all)
}

/// One fit's line of the results, whichever solver ran it.
struct Row {
    id: String,
    status: String,
    converged: bool,
    nfev: Option<usize>,
    iterations: usize,
    chi2: f64,
    reduced_chi2: f64,
    values: Vec<f64>,
    std_errors: Vec<f64>,
    error: Option<String>,
    /// Counted in the summary's median of iterations (the fit ran).
    in_median: bool,
}

impl Row {
    /// The row as bytes, for the ranks' exchange: every number's bits, every text's bytes.
    fn encode(&self, out: &mut Vec<u8>) {
        let text = |out: &mut Vec<u8>, t: &str| {
            out.extend((t.len() as u64).to_le_bytes());
            out.extend(t.as_bytes());
        };
        let numbers = |out: &mut Vec<u8>, v: &[f64]| {
            out.extend((v.len() as u64).to_le_bytes());
            v.iter().for_each(|x| out.extend(x.to_bits().to_le_bytes()));
        };
        text(out, &self.id);
        text(out, &self.status);
        out.push(self.converged as u8 | (self.in_median as u8) << 1 | (self.error.is_some() as u8) << 2);
        out.extend(self.nfev.map_or(u64::MAX, |n| n as u64).to_le_bytes());
        out.extend((self.iterations as u64).to_le_bytes());
        numbers(out, &[self.chi2, self.reduced_chi2]);
        numbers(out, &self.values);
        numbers(out, &self.std_errors);
        text(out, self.error.as_deref().unwrap_or(""));
    }

    /// A row back from [`Row::encode`]'s bytes (advancing `bytes`); `None` if they end early.
    fn decode(bytes: &mut &[u8]) -> Option<Row> {
        fn take<'a>(bytes: &mut &'a [u8], n: usize) -> Option<&'a [u8]> {
            let (head, tail) = bytes.split_at_checked(n)?;
            *bytes = tail;
            Some(head)
        }
        fn word(bytes: &mut &[u8]) -> Option<u64> {
            Some(u64::from_le_bytes(take(bytes, 8)?.try_into().ok()?))
        }
        fn text(bytes: &mut &[u8]) -> Option<String> {
            let n = usize::try_from(word(bytes)?).ok()?;
            String::from_utf8(take(bytes, n)?.to_vec()).ok()
        }
        fn numbers(bytes: &mut &[u8]) -> Option<Vec<f64>> {
            let n = usize::try_from(word(bytes)?).ok()?;
            (0..n).map(|_| word(bytes).map(f64::from_bits)).collect()
        }
        let id = text(bytes)?;
        let status = text(bytes)?;
        let flags = take(bytes, 1)?[0];
        let nfev = word(bytes)?;
        let iterations = word(bytes)? as usize;
        let chi = numbers(bytes)?;
        let values = numbers(bytes)?;
        let std_errors = numbers(bytes)?;
        let error = text(bytes)?;
        Some(Row {
            id,
            status,
            converged: flags & 1 != 0,
            in_median: flags & 2 != 0,
            nfev: (nfev != u64::MAX).then_some(nfev as usize),
            iterations,
            chi2: *chi.first()?,
            reduced_chi2: *chi.get(1)?,
            values,
            std_errors,
            error: (flags & 4 != 0).then_some(error),
        })
    }
}

/// Writes the rows (CSV, or JSON with --json; to --out or standard output) and the summary
/// line; returns the exit code (0 when every fit converged, else 2).
fn write_results(
    args: &BatchArgs,
    params: &[String],
    rows: &[Row],
    solver: &str,
    summary: String,
) -> anyhow::Result<i32> {
    let number = |v: f64| if v.is_finite() { serde_json::json!(v) } else { serde_json::Value::Null };
    let text = if args.fit.json {
        let fits: Vec<serde_json::Value> = rows
            .iter()
            .map(|r| {
                let parameters: serde_json::Map<String, serde_json::Value> = params
                    .iter()
                    .enumerate()
                    .map(|(k, p)| {
                        (
                            p.clone(),
                            serde_json::json!({"value": number(r.values[k]), "stderr": number(r.std_errors[k])}),
                        )
                    })
                    .collect();
                serde_json::json!({
                    "id": r.id,
                    "status": r.status,
                    "converged": r.converged,
                    "nfev": r.nfev,
                    "iterations": r.iterations,
                    "chi_square": number(r.chi2),
                    "reduced_chi_square": number(r.reduced_chi2),
                    "parameters": parameters,
                    "error": r.error,
                })
            })
            .collect();
        let converged = rows.iter().filter(|r| r.converged).count();
        let doc = serde_json::json!({
            "schema": "jitfit.batch/1",
            "model": args.fit.model,
            "solver": solver,
            "summary": {"fits": rows.len(), "converged": converged, "text": summary},
            "fits": fits,
        });
        serde_json::to_string_pretty(&doc)? + "\n"
    } else {
        let mut csv = String::from("id,status,converged,nfev,iterations,chi2,reduced_chi2");
        for p in params {
            let _ = write!(csv, ",{p},{p}_stderr");
        }
        csv += ",error\n";
        for r in rows {
            let nfev = r.nfev.map_or(String::new(), |n| n.to_string());
            let _ = write!(
                csv,
                "{},{},{},{nfev},{},{:?},{:?}",
                csv_field(&r.id),
                r.status,
                r.converged,
                r.iterations,
                r.chi2,
                r.reduced_chi2
            );
            for k in 0..params.len() {
                let _ = write!(csv, ",{:?},{:?}", r.values[k], r.std_errors[k]);
            }
            let error = r.error.as_deref().map_or(String::new(), |e| format!("\"{}\"", e.replace('"', "'")));
            let _ = writeln!(csv, ",{error}");
        }
        csv
    };
    // Under mpirun every rank has every row; rank 0 writes them.
    if crate::ranks::rank() != 0 {
        return Ok(if rows.iter().all(|r| r.converged) { 0 } else { 2 });
    }
    match &args.out {
        Some(path) => jitfit::fsutil::write_bytes_atomically(path, text.as_bytes())?,
        None => out!("{text}")?,
    }
    eprintln!("{summary}");
    if let Some(path) = &args.fit.plot {
        // Histograms of each parameter and of χ²/dof over the converged fits.
        let converged: Vec<&Row> = rows.iter().filter(|r| r.converged).collect();
        let mut names = params.to_vec();
        names.push("χ²/dof".to_owned());
        let columns: Vec<Vec<f64>> = (0..=params.len())
            .map(|k| converged.iter().map(|r| if k < params.len() { r.values[k] } else { r.reduced_chi2 }).collect())
            .collect();
        crate::plot::write_histograms(path, &args.fit.model, &names, &columns, rows.len(), converged.len())
            .with_context(|| format!("writing the plot to {}", path.display()))?;
    }
    Ok(if rows.iter().all(|r| r.converged) { 0 } else { 2 })
}

/// A CSV field as written: quoted when it holds a comma, a quote or a line break (a text id).
fn csv_field(text: &str) -> std::borrow::Cow<'_, str> {
    if text.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", text.replace('"', "\"\"")).into()
    } else {
        text.into()
    }
}

/// An exact fit's result as its row.
fn exact_row(model: &jitfit::CompiledModel, id: &str, fit: Result<jitfit::Fit, jitfit::FitError>) -> Row {
    let n = model.params().len();
    match fit {
        Ok(fit) => Row {
            id: id.to_owned(),
            status: fit.status.code().to_string(),
            converged: fit.status.converged(),
            nfev: Some(fit.nfev),
            iterations: fit.iterations,
            chi2: fit.chi2,
            reduced_chi2: fit.reduced_chi2,
            values: fit.values,
            std_errors: fit.std_errors,
            error: None,
            in_median: true,
        },
        Err(e) => Row {
            id: id.to_owned(),
            status: String::new(),
            converged: false,
            nfev: None,
            iterations: 0,
            chi2: f64::NAN,
            reduced_chi2: f64::NAN,
            values: vec![f64::NAN; n],
            std_errors: vec![f64::NAN; n],
            error: Some(e.to_string()),
            in_median: false,
        },
    }
}

/// `--y Y.npy` holding fits × points: one fit per row, variables from 1-D `.npy` files of the
/// points (shared) or arrays of the same shape.
fn run_matrix(args: &BatchArgs) -> anyhow::Result<i32> {
    let fit_args = &args.fit;
    let matrix_file = |flag: &str, value: &Option<String>| -> anyhow::Result<Option<Vec<jitfit::data::Column>>> {
        match value {
            Some(v) if v.ends_with(".npy") => Ok(Some(jitfit::data::npy::read_npy(std::path::Path::new(v))?.1)),
            Some(v) => bail!("--{flag} {v}: without --by, give .npy files"),
            None => Ok(None),
        }
    };
    // Under mpirun every rank reads the arrays; if one cannot, all stop.
    let (y_columns, x_columns) =
        crate::ranks::agree(matrix_file("y", &fit_args.y).and_then(|y| Ok((y, matrix_file("x", &fit_args.x)?))))?;
    let Some(y_columns) = y_columns else {
        bail!("give --by ID with a data file, or --y FITS_BY_POINTS.npy");
    };
    let (points, fits) = (y_columns.len(), y_columns.first().map_or(0, |c| c.len()));
    if points < 2 || fits == 0 {
        bail!("--y: expected a 2-D array of fits × points, got {fits} × {points}");
    }
    let x_columns = x_columns.ok_or_else(|| anyhow::anyhow!("give the variable with --x X.npy"))?;
    let shared_x = x_columns.len() == 1;
    if shared_x && x_columns[0].len() != points {
        bail!("--x: {} values for {points} points", x_columns[0].len());
    }
    if !shared_x && (x_columns.len() != points || x_columns[0].len() != fits) {
        bail!("--x: not {points} points, nor an array of the same shape as --y");
    }
    let model = jitfit::compile(&fit_args.model)?;
    // Fit after fit, back to back.
    let y: Vec<f64> = (0..fits).flat_map(|f| y_columns.iter().map(move |c| c[f])).collect();
    let x: Vec<f64> = if shared_x {
        (0..fits).flat_map(|_| x_columns[0].iter().copied()).collect()
    } else {
        (0..fits).flat_map(|f| x_columns.iter().map(move |c| c[f])).collect()
    };
    let groups =
        Groups { starts: (0..=fits).map(|f| f * points).collect(), y, vars: vec![("x".into(), x)], sigma: None };
    let ids: Vec<String> = (0..fits).map(|f| f.to_string()).collect();
    if compact_solver(args)? {
        return run_compact(args, fit_args, &model, &ids, &groups);
    }
    let config = FitConfig::from_args(fit_args)?;
    config.apply(model.fit(&groups.data(0))).into_options()?;
    run_exact(args, &model, &ids, &groups, &config)
}

/// The rows of a table grouped by an id column, in order of first appearance, each column
/// gathered group after group.
struct Groups {
    /// Group k is rows `starts[k]..starts[k + 1]` of the gathered columns.
    starts: Vec<usize>,
    y: Vec<f64>,
    /// (the model's variable, its gathered column).
    vars: Vec<(String, Vec<f64>)>,
    sigma: Option<Vec<f64>>,
}

impl Groups {
    fn len(&self) -> usize {
        self.starts.len() - 1
    }

    fn rows(&self, k: usize) -> std::ops::Range<usize> {
        self.starts[k]..self.starts[k + 1]
    }

    /// Group k as one fit's data.
    fn data(&self, k: usize) -> Data {
        let rows = self.rows(k);
        let mut data = Data::new().y(self.y[rows.clone()].to_vec());
        for (var, column) in &self.vars {
            data = data.var(var, column[rows.clone()].to_vec());
        }
        if let Some(sigma) = &self.sigma {
            data = data.sigma(sigma[rows].to_vec());
        }
        data
    }
}

/// The batch through the compact solver (`CompiledModel::fit_many`), on the CPU or the GPU.
fn run_compact(
    args: &BatchArgs,
    fit_args: &FitArgs,
    model: &std::sync::Arc<jitfit::CompiledModel>,
    ids: &[String],
    groups: &Groups,
) -> anyhow::Result<i32> {
    if groups.len() == 0 {
        bail!("no data sets to fit");
    }
    let first = groups.data(0);
    let options = FitConfig::from_args(fit_args)?.apply(model.fit(&first)).into_options()?;
    let mut batch_options = jitfit::BatchOptions::from_fit_options(&options).map_err(anyhow::Error::msg)?;
    if let Some(ftol) = fit_args.ftol {
        batch_options.tolerance = ftol;
    }
    if let Some(n) = fit_args.max_nfev {
        batch_options.max_iterations = n;
    }
    // The data sets are back to back already: this process's part is one run of rows.
    let part = my_part(groups.len());
    let rows = groups.starts[part.start]..groups.starts[part.end];
    let offsets: Vec<usize> = groups.starts[part.start..=part.end].iter().map(|s| s - rows.start).collect();
    let mut data = jitfit::BatchData::with_offsets(&groups.y[rows.clone()], offsets);
    for (var, column) in &groups.vars {
        data = data.var(var, &column[rows.clone()]);
    }
    let weights: Option<Vec<f64>> = groups
        .sigma
        .as_ref()
        .map(|s| s[rows.clone()].iter().map(|s| if *s > 0.0 { 1.0 / s } else { f64::NAN }).collect());
    if let Some(weights) = &weights {
        data = data.weights(weights);
    }
    let started = std::time::Instant::now();
    let results = model.fit_many(&data, &batch_options)?;
    let n = model.params().len();
    let rows: Vec<Row> = ids[part.clone()]
        .iter()
        .enumerate()
        .map(|(k, id)| {
            let status = results.status[k];
            let dof = groups.rows(part.start + k).len().saturating_sub(n);
            let error = match status {
                jitfit::BatchStatus::NotFinite => Some("NaN or infinity in the data or the model at the start"),
                jitfit::BatchStatus::TooFewPoints => Some("fewer data points than parameters"),
                jitfit::BatchStatus::Singular => Some("JᵀJ is singular at the solution: no standard errors"),
                _ => None,
            };
            Row {
                id: id.clone(),
                status: status.name().to_owned(),
                converged: status.converged(),
                nfev: None,
                iterations: results.iterations[k] as usize,
                chi2: results.chi2[k],
                reduced_chi2: results.chi2[k] / dof as f64,
                values: results.values[k * n..(k + 1) * n].to_vec(),
                std_errors: results.std_errors[k * n..(k + 1) * n].to_vec(),
                error: error.map(str::to_owned),
                in_median: status.ran(),
            }
        })
        .collect();
    let rows = gather_rows(rows)?;
    let elapsed = if crate::ranks::collective().is_some() { started.elapsed() } else { results.elapsed };
    let ran_on = match &results.adapter {
        Some(adapter) => format!("GPU, {adapter}"),
        None => "CPU".to_owned(),
    };
    let summary = format!(
        "{} fits: {} converged; median {} iterations; {:.0} fits/s (compact LM on the {ran_on})",
        rows.len(),
        rows.iter().filter(|r| r.converged).count(),
        median_iterations(&rows).map_or("-".into(), |m| m.to_string()),
        rows.len() as f64 / elapsed.as_secs_f64().max(1e-12)
    );
    write_results(args, model.params(), &rows, "compact", summary)
}

/// Groups ids (as their bits: ids as written) in order of first appearance: the group of each
/// id, and each group's id — a hash lookup only where the id differs from the one before.
pub fn group_ids(ids: impl Iterator<Item = f64>) -> (Vec<u32>, Vec<u64>) {
    let mut group_of: Vec<u32> = Vec::with_capacity(ids.size_hint().0);
    let mut order: Vec<u64> = Vec::new();
    let mut index: HashMap<u64, u32> = HashMap::new();
    let mut last: Option<(u64, u32)> = None;
    for id in ids {
        let key = id.to_bits();
        let group = match last {
            Some((k, g)) if k == key => g,
            _ => *index.entry(key).or_insert_with(|| {
                order.push(key);
                (order.len() - 1) as u32
            }),
        };
        last = Some((key, group));
        group_of.push(group);
    }
    (group_of, order)
}
