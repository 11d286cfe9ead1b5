//! `jitfit batch MODEL DATA --by ID`: one model fitted to every group of rows of a long-format
//! table (all spots of a movie, all pixels, all channels), in parallel; a CSV or JSON row per
//! fit and a summary.

use crate::args::FitArgs;
use crate::columns::match_columns;
use crate::config::FitConfig;
use anyhow::bail;
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
    let Some(by) = &args.by else {
        return run_matrix(args);
    };
    // The ids are read as written (sample names, well names, numbers): rows whose id field is
    // the same text form one fit.
    let (table, fit_args) = args
        .fit
        .load_with(if args.fit.text_data() { vec![by.clone()] } else { Vec::new() })
        .map_err(|e| match e.downcast_ref::<jitfit::data::DataError>() {
            Some(jitfit::data::DataError::NoSuchColumn { .. }) => e.context(format!("--by {by}")),
            _ => e,
        })?;
    let Some(ids) = table.column(by) else {
        bail!("--by: `{by}` is not a column (columns: {})", table.names.join(", "));
    };
    let labels = table.labels(by);
    // Group rows by id, in order of first appearance.
    let mut order: Vec<u64> = Vec::new();
    let mut rows: HashMap<u64, Vec<usize>> = HashMap::new();
    for (i, id) in ids.iter().enumerate() {
        let key = id.to_bits();
        rows.entry(key).or_insert_with(|| {
            order.push(key);
            Vec::new()
        });
        rows.get_mut(&key).expect("just inserted").push(i);
    }
    // The id column has its role: never a variable, the response or σ.
    let columns = match_columns(&fit_args, &table, &[by.as_str()])?;
    for note in &columns.notes {
        eprintln!("note: {note}");
    }
    let var_names: Vec<String> = columns.vars.iter().map(|(v, _)| v.clone()).collect();
    let options = ModelOptions { names: Names { vars: var_names, params: None }, ..Default::default() };
    let model = jitfit::KernelCache::global().compile(&fit_args.model, &options)?.model;
    let pick = |name: &str, idx: &[usize]| -> Vec<f64> {
        let c = table.column(name).unwrap_or_default();
        idx.iter().map(|i| c[*i]).collect()
    };
    let datasets: Vec<Data> = order
        .iter()
        .map(|key| {
            let idx = &rows[key];
            let mut data = Data::new().y(pick(&columns.y, idx));
            for (var, name) in &columns.vars {
                data = data.var(var, pick(name, idx));
            }
            if let Some(s) = &columns.sigma {
                data = data.sigma(pick(s, idx));
            }
            data
        })
        .collect();
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
        return run_compact(args, &fit_args, &model, &ids, &datasets);
    }
    // Check the options once, on the first data set, so that a typo is one error, not N.
    let config = FitConfig::from_args(&fit_args)?;
    if let Some(first) = datasets.first() {
        config.apply(model.fit(first)).into_options()?;
    }
    let batch = model.fit_batch(&datasets, |_, fit| config.apply(fit));
    report(args, &model, &ids, &batch)
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
    match &args.out {
        Some(path) => jitfit::fsutil::write_bytes_atomically(path, text.as_bytes())?,
        None => out!("{text}")?,
    }
    eprintln!("{summary}");
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

/// The exact solver's results as rows.
fn report(
    args: &BatchArgs,
    model: &jitfit::CompiledModel,
    ids: &[String],
    batch: &jitfit::Batch,
) -> anyhow::Result<i32> {
    let n = model.params().len();
    let rows: Vec<Row> = ids
        .iter()
        .zip(&batch.fits)
        .map(|(id, fit)| match fit {
            Ok(fit) => Row {
                id: id.clone(),
                status: fit.status.code().to_string(),
                converged: fit.status.converged(),
                nfev: Some(fit.nfev),
                iterations: fit.iterations,
                chi2: fit.chi2,
                reduced_chi2: fit.reduced_chi2,
                values: fit.values.clone(),
                std_errors: fit.std_errors.clone(),
                error: None,
            },
            Err(e) => Row {
                id: id.clone(),
                status: String::new(),
                converged: false,
                nfev: None,
                iterations: 0,
                chi2: f64::NAN,
                reduced_chi2: f64::NAN,
                values: vec![f64::NAN; n],
                std_errors: vec![f64::NAN; n],
                error: Some(e.to_string()),
            },
        })
        .collect();
    let summary = format!(
        "{} fits: {} converged, {} failed to start; median {} iterations; {:.0} fits/s",
        batch.fits.len(),
        batch.converged(),
        batch.fits.iter().filter(|f| f.is_err()).count(),
        batch.median_iterations().map_or("-".into(), |m| m.to_string()),
        batch.fits_per_second()
    );
    write_results(args, model.params(), &rows, "exact", summary)
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
    let Some(y_columns) = matrix_file("y", &fit_args.y)? else {
        bail!("give --by ID with a data file, or --y FITS_BY_POINTS.npy");
    };
    let (points, fits) = (y_columns.len(), y_columns.first().map_or(0, |c| c.len()));
    if points < 2 || fits == 0 {
        bail!("--y: expected a 2-D array of fits × points, got {fits} × {points}");
    }
    let x_columns =
        matrix_file("x", &fit_args.x)?.ok_or_else(|| anyhow::anyhow!("give the variable with --x X.npy"))?;
    let shared_x = x_columns.len() == 1;
    if shared_x && x_columns[0].len() != points {
        bail!("--x: {} values for {points} points", x_columns[0].len());
    }
    if !shared_x && (x_columns.len() != points || x_columns[0].len() != fits) {
        bail!("--x: not {points} points, nor an array of the same shape as --y");
    }
    let model = jitfit::compile(&fit_args.model)?;
    let datasets: Vec<Data> = (0..fits)
        .map(|f| {
            let y: Vec<f64> = (0..points).map(|c| y_columns[c][f]).collect();
            let x: Vec<f64> =
                if shared_x { x_columns[0].to_vec() } else { (0..points).map(|c| x_columns[c][f]).collect() };
            Data::new().var("x", x).y(y)
        })
        .collect();
    let ids: Vec<String> = (0..fits).map(|f| f.to_string()).collect();
    if compact_solver(args)? {
        return run_compact(args, fit_args, &model, &ids, &datasets);
    }
    let config = FitConfig::from_args(fit_args)?;
    config.apply(model.fit(&datasets[0])).into_options()?;
    let batch = model.fit_batch(&datasets, |_, fit| config.apply(fit));
    report(args, &model, &ids, &batch)
}

/// The batch through the compact solver (`CompiledModel::fit_many`), on the CPU or the GPU.
fn run_compact(
    args: &BatchArgs,
    fit_args: &FitArgs,
    model: &std::sync::Arc<jitfit::CompiledModel>,
    ids: &[String],
    datasets: &[Data],
) -> anyhow::Result<i32> {
    let Some(first) = datasets.first() else { bail!("no data sets to fit") };
    let options = FitConfig::from_args(fit_args)?.apply(model.fit(first)).into_options()?;
    let mut batch_options = jitfit::BatchOptions::from_fit_options(&options).map_err(anyhow::Error::msg)?;
    if let Some(ftol) = fit_args.ftol {
        batch_options.tolerance = ftol;
    }
    if let Some(n) = fit_args.max_nfev {
        batch_options.max_iterations = n;
    }
    // The data sets back to back, variables per point.
    let mut offsets = vec![0];
    let (mut y, mut weights) = (Vec::new(), Vec::new());
    let mut vars: Vec<Vec<f64>> = vec![Vec::new(); model.vars().len()];
    let weighted = first.sigma_values().is_some();
    for data in datasets {
        y.extend_from_slice(data.response());
        for (column, name) in vars.iter_mut().zip(model.vars()) {
            column.extend_from_slice(data.column(name).unwrap_or_default());
        }
        if let Some(sigma) = data.sigma_values() {
            weights.extend(sigma.iter().map(|s| if *s > 0.0 { 1.0 / s } else { f64::NAN }));
        }
        offsets.push(y.len());
    }
    let mut data = jitfit::BatchData::with_offsets(&y, offsets);
    for (column, name) in vars.iter().zip(model.vars()) {
        data = data.var(name, column);
    }
    if weighted {
        data = data.weights(&weights);
    }
    let results = model.fit_many(&data, &batch_options)?;
    let n = model.params().len();
    let rows: Vec<Row> = ids
        .iter()
        .enumerate()
        .map(|(k, id)| {
            let status = results.status[k];
            let dof = datasets[k].len().saturating_sub(n);
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
            }
        })
        .collect();
    let ran_on = match &results.adapter {
        Some(adapter) => format!("GPU, {adapter}"),
        None => "CPU".to_owned(),
    };
    let summary = format!(
        "{} fits: {} converged; median {} iterations; {:.0} fits/s (compact LM on the {ran_on})",
        results.n_fits(),
        results.converged(),
        results.median_iterations().map_or("-".into(), |m| m.to_string()),
        results.fits_per_second()
    );
    write_results(args, model.params(), &rows, "compact", summary)
}
