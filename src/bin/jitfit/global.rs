//! `jitfit fit MODEL DATA --sets COLUMN --shared …` on the structured solver
//! ([`jitfit::CompiledModel::fit_global`]): the model compiled once, each set's rows its own
//! data, the report in the single fit's form (parameters named `A_1`, `A_2`, … per set).
//! `--global-solver dense` (or an option only a single fit has) takes the dense rewrite in
//! `fit.rs` instead.

use crate::args::FitArgs;
use crate::columns::{Columns, match_columns};
use crate::config::FitConfig;
use crate::format::num;
use crate::report::{self, Context};
use anyhow::{Context as _, bail};
use jitfit::data::Table;
use jitfit::report::{Start, finite_or_null};
use jitfit::syntax::GlobalModel;
use jitfit::{Data, GlobalFit};
use serde_json::{Value, json};
use std::fmt::Write;
use std::time::Instant;

/// The name of the column that says which file a row came from, for a global fit over files
/// (not a name a model or a file header can give: it has parentheses).
pub const FILE_COLUMN: &str = "(file)";

/// `jitfit fit MODEL d1.csv d2.csv …`: the files' rows stacked into one table, with a column
/// [`FILE_COLUMN`] naming each row's file, and `--sets` set to it. Every file must have the
/// first one's columns (in any order).
pub fn stack_files(mut table: Table, mut args: FitArgs) -> anyhow::Result<(Table, FitArgs)> {
    if args.more_data.is_empty() {
        return Ok((table, args));
    }
    let first = args.data.clone().unwrap_or_default();
    if let Some(by) = &args.sets {
        bail!("--sets {by} splits one file into data sets; with several files, each file is a data set");
    }
    if !args.npy_columns.is_empty() || jitfit::data::is_npy(&first) || first.as_os_str() == "-" {
        bail!("a global fit over several files reads each file's own columns: no `-`, .npy tables or column files");
    }
    let options = args.read_options(Vec::new())?;
    let mut columns: Vec<Vec<f64>> = table.columns.iter().map(|c| c.as_slice().to_vec()).collect();
    let mut file_of_row = vec![0.0; table.n_rows()];
    let mut labels = vec![first.display().to_string()];
    for (k, path) in args.more_data.iter().enumerate() {
        if jitfit::data::is_npy(path) || path.as_os_str() == "-" {
            bail!("{}: a global fit over several files reads text tables (no `-` or .npy)", path.display());
        }
        let more = jitfit::data::read_table_with(path, &options)?;
        let mut names = more.names.clone();
        names.sort();
        let mut expected = table.names.clone();
        expected.sort();
        if names != expected {
            bail!(
                "{}: columns {} differ from {}'s ({}); a global fit over files needs the same columns in each",
                path.display(),
                more.names.join(", "),
                first.display(),
                table.names.join(", ")
            );
        }
        for (name, column) in table.names.iter().zip(&mut columns) {
            column.extend_from_slice(more.column(name).expect("the same names"));
        }
        file_of_row.extend(std::iter::repeat_n((k + 1) as f64, more.n_rows()));
        labels.push(path.display().to_string());
        table.notes.extend(more.notes.iter().map(|n| format!("{}: {n}", path.display())));
    }
    table.columns = columns.into_iter().map(Into::into).collect();
    table.names.push(FILE_COLUMN.to_owned());
    table.columns.push(file_of_row.into());
    table.labels.push((FILE_COLUMN.to_owned(), labels));
    args.sets = Some(FILE_COLUMN.to_owned());
    Ok((table, args))
}

/// How a global fit is solved.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Solver {
    Structured,
    Dense,
}

/// The options a single fit has and the structured solver has not, when given.
pub fn dense_only(args: &FitArgs) -> Option<&'static str> {
    [
        ("--loss", args.loss != "linear"),
        ("--poisson", args.poisson),
        ("--method trf", args.method == "trf"),
        ("--backend gpu", args.backend == "gpu"),
        ("--starts", args.starts > 1),
        ("--ci", !args.ci.is_empty()),
        ("--derive", !args.derive.is_empty()),
        ("--band", args.band.is_some()),
        ("--contour", !args.contour.is_empty()),
        ("--bootstrap", args.bootstrap.is_some()),
        ("--output-residuals", args.output_residuals.is_some()),
        ("--sigma-x", args.sigma_x.iter().any(|s| s != "none")),
        ("--checkpoint", args.checkpoint.is_some()),
        ("--resume", args.resume.is_some()),
        ("--sigma with `fitted`", args.sigma.as_deref().is_some_and(|s| s.contains(jitfit::FITTED))),
    ]
    .into_iter()
    .find(|(_, given)| *given)
    .map(|(flag, _)| flag)
}

/// The solver of `--sets`, and why (for [[Data]]).
pub fn solver(args: &FitArgs) -> anyhow::Result<(Solver, String)> {
    let dense = dense_only(args);
    if !args.model_for.is_empty() {
        if args.global_solver == "dense" {
            bail!("--model-for needs the structured solver: the dense global fit writes one model for every set");
        }
        if let Some(flag) = dense {
            bail!("{flag} needs the dense global fit, which has one model for every set: it cannot take --model-for");
        }
    }
    match (args.global_solver.as_str(), dense) {
        ("structured", Some(flag)) => bail!(
            "{flag} is not available with --global-solver structured: use --global-solver dense (at most {} sets)",
            crate::fit::MAX_SETS
        ),
        ("structured", None) => Ok((Solver::Structured, "solver: structured (--global-solver structured)".into())),
        ("dense", _) => {
            Ok((Solver::Dense, "solver: dense, the sets written as one model (--global-solver dense)".into()))
        }
        ("auto", Some(flag)) => Ok((
            Solver::Dense,
            format!("solver: dense, the sets written as one model (for {flag}; at most {} sets)", crate::fit::MAX_SETS),
        )),
        ("auto", None) => Ok((
            Solver::Structured,
            "solver: structured, each set's own parameters eliminated in every step (--global-solver dense: the \
             sets as one model)"
                .into(),
        )),
        (other, _) => bail!("--global-solver: `{other}` is not one of auto, structured, dense"),
    }
}

/// A finished structured global fit and what the report says beside it.
pub struct GlobalOutcome {
    pub fit: GlobalFit,
    /// Per set and parameter: where its start came from.
    pub start: Vec<Vec<Start>>,
    /// Each set's id as written in the --sets column.
    pub labels: Vec<String>,
    pub columns: Columns,
    pub compile_time: std::time::Duration,
    pub compile_origin: jitfit::cache::Origin,
    pub total_time: std::time::Duration,
    /// Each set's rows, and its model (for the plot).
    pub data: Vec<Data>,
    pub models: Vec<std::sync::Arc<jitfit::CompiledModel>>,
    /// The `--tie`d parameters' values and errors (see `uncertainty::global_ties`).
    pub tied: Vec<jitfit::Derived>,
}

impl GlobalOutcome {
    /// Writes the plot of every set (`--plot`, the REPL's `plot`) and prints its notes.
    pub fn write_plot(&self, path: &std::path::Path, options: &crate::plot::PlotOptions) -> anyhow::Result<()> {
        let fit = &self.fit;
        let sets: Vec<crate::plot::SetPlot<'_>> = (0..fit.sets.len())
            .map(|k| crate::plot::SetPlot {
                model: &self.models[k],
                data: &self.data[k],
                values: &fit.sets[k].values,
                label: format!(
                    "{}: {} · χ² {}",
                    k + 1,
                    // A file by its name.
                    std::path::Path::new(&self.labels[k])
                        .file_name()
                        .map_or(self.labels[k].clone(), |n| n.to_string_lossy().into_owned()),
                    crate::plot::three_digits(fit.sets[k].chi2)
                ),
            })
            .collect();
        let shared: Vec<String> = self
            .parameters()
            .iter()
            .filter(|(_, k, j)| fit.sets[*k].shared[*j])
            .map(|(name, k, j)| {
                format!(
                    "{name} = {}",
                    crate::plot::value_with_error(fit.sets[*k].values[*j], fit.sets[*k].std_errors[*j])
                )
            })
            .collect();
        let shared = if shared.is_empty() {
            "no shared parameters".to_owned()
        } else {
            format!("shared: {}", shared.join(" · "))
        };
        let title = format!("{}   ({} data sets)", self.models[0].source().trim().replace('\n', " "), fit.sets.len());
        let notes = crate::plot::write_sets_plot(path, &sets, &title, &shared, &self.columns, options)
            .with_context(|| format!("writing the plot to {}", path.display()))?;
        for note in notes {
            eprintln!("note: {note}");
        }
        Ok(())
    }

    pub fn context<'a>(&'a self, args: &'a FitArgs) -> Context<'a> {
        Context::new(args, &self.columns, self.compile_time, self.compile_origin, self.total_time)
    }

    /// The report's parameter order: the shared ones, then each set's own (`A_1, B_1, A_2, …`),
    /// each as (name in the report, set, index in the model).
    pub fn parameters(&self) -> Vec<(String, usize, usize)> {
        let fit = &self.fit;
        // A shared parameter from the first set whose model has it.
        let shared = fit.shared_names.iter().filter_map(|name| {
            fit.sets.iter().enumerate().find_map(|(k, set)| set.index(name).map(|j| (name.clone(), k, j)))
        });
        let own = fit.sets.iter().enumerate().flat_map(|(k, set)| {
            (0..set.param_names.len())
                .filter(|j| !set.shared[*j])
                .map(move |j| (GlobalModel::name_in_set(&set.param_names[j], k + 1), k, j))
        });
        shared.chain(own).collect()
    }

    /// The joint covariance and correlation of [`GlobalOutcome::parameters`], n × n, up to
    /// [`JOINT_MAX`] parameters (and where the covariance was estimated).
    pub fn joint(&self) -> Option<(Vec<f64>, Vec<f64>)> {
        let parameters = self.parameters();
        let n = parameters.len();
        if n > JOINT_MAX {
            return None;
        }
        let at: Vec<(usize, usize)> = parameters.iter().map(|(_, k, j)| (*k, *j)).collect();
        let covariance = jitfit::solve::Covariance { matrix: self.fit.joint_covariance(&at)?, n, warning: None };
        let correlation = covariance.correlation();
        Some((covariance.matrix, correlation))
    }
}

/// Up to this many parameters a global fit's report has the joint covariance (the JSON's
/// `covariance` and `correlation`, n × n) and the correlations between sets; past it (n² grows
/// with the square of the sets) each set's block only.
pub const JOINT_MAX: usize = 500;

/// Matches columns, splits the rows into sets, compiles the models (through the cache) and
/// fits.
pub fn execute(args: &FitArgs, table: &Table, why: String) -> anyhow::Result<GlobalOutcome> {
    let started = Instant::now();
    crate::config::refuse_conflicts(args, crate::config::Command::Fit)?;
    let by = args.sets.as_deref().unwrap_or_default();
    let config = FitConfig::from_args(args)?;
    let mut columns = match_columns(args, table, &[by])?;
    let keep = crate::fit::rows_to_keep(args, table, &mut columns)?;
    let (set_of_row, labels) = crate::fit::set_rows(by, table, keep.as_deref())?;
    let sets = labels.len();
    if sets == 0 {
        bail!("--sets {by}: no rows to fit");
    }
    // The model of each set: --model-for SET MODEL, else the model.
    let mut texts: Vec<String> = vec![args.model.clone()];
    let mut model_of_set = vec![0usize; sets];
    for pair in args.model_for.chunks(2) {
        let [set, text] = pair else { bail!("--model-for takes a set and a model") };
        let Some(k) = labels.iter().position(|l| l == set) else {
            bail!("--model-for {set}: no data set is named so (sets: {})", set_list(&labels));
        };
        if model_of_set[k] != 0 {
            bail!("--model-for {set}: given twice");
        }
        model_of_set[k] = texts.iter().position(|t| t == text).unwrap_or_else(|| {
            texts.push(text.clone());
            texts.len() - 1
        });
    }
    let vars: Vec<String> = columns.vars.iter().map(|(v, _)| v.clone()).collect();
    let options =
        jitfit::ModelOptions { names: jitfit::Names { vars: vars.clone(), params: None }, ..Default::default() };
    let (mut compile_time, mut compile_origin) = (std::time::Duration::ZERO, jitfit::cache::Origin::MemoryHit);
    let mut models = Vec::with_capacity(texts.len());
    for (m, text) in texts.iter().enumerate() {
        let compiled = jitfit::KernelCache::global().compile(text, &options)?;
        for warning in &compiled.warnings {
            eprintln!("warning: {warning}");
        }
        // A name the other models read as a column must not be a parameter here.
        if m > 0
            && let Some(name) = compiled.model.params().iter().find(|p| table.column(p).is_some())
        {
            bail!(
                "--model-for `{text}`: `{name}` is a column of the data, but not a variable of the model: name the variables with --vars"
            );
        }
        compile_time += compiled.elapsed;
        if m == 0 {
            compile_origin = compiled.origin;
        }
        models.push(compiled.model.clone());
    }
    let params_of = |k: usize| models[model_of_set[k]].params();
    let mut all: Vec<String> = Vec::new();
    for model in &models {
        for p in model.params() {
            if !all.contains(p) {
                all.push(p.clone());
            }
        }
    }
    if let Some(name) = args.shared.iter().find(|s| !all.contains(s)) {
        bail!("--shared {name}: not a parameter of the model (parameters: {})", all.join(", "));
    }
    let local: Vec<String> = all.iter().filter(|p| !args.shared.contains(p)).cloned().collect();
    // The report names set k's own `A` `A_k`: no parameter of a model may have such a name.
    for name in &all {
        if let Some((base, k)) = name.rsplit_once('_')
            && local.iter().any(|p| p == base)
            && k.parse::<usize>().is_ok_and(|k| (1..=sets).contains(&k))
        {
            bail!("the global fit names `{base}` of set {k} `{name}`, which the model uses already: rename it");
        }
    }

    // Each set's rows, as their own data: positions among the rows kept (σ is computed over
    // those) and the rows of the table.
    let kept: Vec<usize> = keep.clone().unwrap_or_else(|| (0..table.n_rows()).collect());
    let positions_of_set: Vec<Vec<usize>> = {
        let mut positions = vec![Vec::new(); sets];
        for (position, set) in set_of_row.iter().enumerate() {
            positions[*set].push(position);
        }
        positions
    };
    let sigma = match &columns.sigma {
        Some(sigma) => Some(sigma.values(table, keep.as_deref())?),
        None => None,
    };
    let column = |name: &str| table.column(name).unwrap_or_default();
    let data: Vec<Data> = positions_of_set
        .iter()
        .map(|positions| {
            let rows = |values: &[f64]| -> Vec<f64> { positions.iter().map(|p| values[kept[*p]]).collect() };
            let mut data = Data::new().y(rows(column(&columns.y)));
            for (var, name) in &columns.vars {
                data = data.var(var, rows(column(name)));
            }
            if let Some(sigma) = &sigma {
                data = data.sigma(positions.iter().map(|p| sigma[*p]).collect::<Vec<f64>>());
            }
            data
        })
        .collect();

    // Starts: `--p0 NAME=V` for every set whose model has NAME, `--p0 NAME_k=V` for set k's
    // own NAME; bounds and fixed values for every set whose model has the parameter.
    let per_set = |name: &str| -> Option<(String, usize)> {
        let (base, k) = name.rsplit_once('_')?;
        let k: usize = k.parse().ok()?;
        ((1..=sets).contains(&k) && local.iter().any(|p| p == base) && !all.iter().any(|p| p == name))
            .then(|| (base.to_owned(), k - 1))
    };
    for (flag, names) in [
        ("--bounds", config.bounds.iter().map(|b| b.0.clone()).collect::<Vec<_>>()),
        ("--fix", config.fix.iter().map(|f| f.0.clone()).collect()),
    ] {
        if let Some(name) = names.iter().find(|n| per_set(n).is_some()) {
            bail!("{flag} {name}: bounds and fixed values of one set need --global-solver dense");
        }
    }
    type Starts = Vec<(String, f64)>;
    let (set_p0, p0): (Starts, Starts) = config.p0.iter().cloned().partition(|(name, _)| per_set(name).is_some());
    for (name, _) in &set_p0 {
        let (base, k) = per_set(name).expect("partitioned on it");
        if !params_of(k).contains(&base) {
            bail!("--p0 {name}: set {}'s model has no parameter `{base}`", k + 1);
        }
    }
    for name in p0.iter().map(|p| &p.0).chain(config.bounds.iter().map(|b| &b.0)).chain(config.fix.iter().map(|f| &f.0))
    {
        if !all.contains(name) {
            bail!("unknown parameter `{name}` (parameters: {})", all.join(", "));
        }
    }
    // Each model's options: the named items its parameters have.
    let checked: Vec<jitfit::FitOptions> = models
        .iter()
        .enumerate()
        .map(|(m, model)| {
            let has = |name: &String| model.params().contains(name);
            let mut own = config.clone();
            own.p0 = p0.iter().filter(|p| has(&p.0)).cloned().collect();
            own.bounds = config.bounds.iter().filter(|b| has(&b.0)).cloned().collect();
            own.fix = config.fix.iter().filter(|f| has(&f.0)).cloned().collect();
            let k = model_of_set.iter().position(|s| *s == m).unwrap_or(0);
            own.apply(model.fit(&data[k])).into_options()
        })
        .collect::<Result<_, _>>()?;
    // None: the default start (1, or inside the bounds).
    let mut starts: Vec<Vec<Option<f64>>> = (0..sets).map(|k| checked[model_of_set[k]].p0.clone()).collect();
    for (name, value) in &set_p0 {
        let (base, k) = per_set(name).expect("partitioned on it");
        let j = params_of(k).iter().position(|p| *p == base).expect("checked above");
        starts[k][j] = Some(*value);
    }
    let given: Vec<Vec<bool>> = starts.iter().map(|s| s.iter().map(Option::is_some).collect()).collect();
    if let [(var, _)] = columns.vars.clone().as_slice()
        && !args.no_guess
    {
        let texts_of_set: Vec<&str> = (0..sets).map(|k| texts[model_of_set[k]].as_str()).collect();
        let fixed: Vec<&[Option<f64>]> = (0..sets).map(|k| checked[model_of_set[k]].fixed.as_slice()).collect();
        let params: Vec<&[String]> = (0..sets).map(params_of).collect();
        guess(args, var, &data, &texts_of_set, &params, &fixed, &mut starts, &mut columns);
    }
    if args.guess {
        let models_of_set: Vec<&std::sync::Arc<jitfit::CompiledModel>> =
            (0..sets).map(|k| &models[model_of_set[k]]).collect();
        let options: Vec<&jitfit::FitOptions> = (0..sets).map(|k| &checked[model_of_set[k]]).collect();
        pre_search(args, &models_of_set, &data, &options, &mut starts, &mut columns)?;
    }
    let start: Vec<Vec<Start>> = starts
        .iter()
        .enumerate()
        .map(|(k, s)| {
            let fixed = &checked[model_of_set[k]].fixed;
            (0..s.len())
                .map(|j| {
                    if fixed[j].is_some() || given[k][j] {
                        Start::Given
                    } else if s[j].is_some() {
                        Start::Guessed
                    } else {
                        Start::Default
                    }
                })
                .collect()
        })
        .collect();
    columns.notes.push(format!(
        "global fit: {sets} data sets {} ({}); shared: {}; per set: {} (named NAME_1, NAME_2, …)",
        sets_by(by),
        set_list(&labels),
        if args.shared.is_empty() { "none".to_owned() } else { args.shared.join(", ") },
        local.join(", ")
    ));
    for (m, text) in texts.iter().enumerate().skip(1) {
        let named: Vec<String> =
            (0..sets).filter(|k| model_of_set[*k] == m).map(|k| format!("{} = {}", k + 1, labels[k])).collect();
        // (On one line: a tie's rewrite puts its helper on a line of its own.)
        let text = text.lines().map(str::trim).filter(|l| !l.is_empty()).collect::<Vec<_>>().join(" ");
        columns.notes.push(format!("model of set {}: {text} (--model-for)", named.join(", ")));
    }
    columns.notes.push(why);
    let shared: Vec<&str> = args.shared.iter().map(String::as_str).collect();
    let global_sets: Vec<jitfit::GlobalSet<'_>> = (0..sets)
        .map(|k| jitfit::GlobalSet {
            model: models[model_of_set[k]].clone(),
            data: &data[k],
            options: checked[model_of_set[k]].clone(),
            start: Some(starts[k].clone()),
        })
        .collect();
    let fit =
        jitfit::fit_global_sets(&global_sets, &shared).map_err(|e| anyhow::anyhow!("{e}")).context("the global fit")?;
    let points: Vec<usize> = fit.sets.iter().map(|s| s.points).collect();
    let chi2: Vec<f64> = fit.sets.iter().map(|s| s.chi2).collect();
    columns.notes.extend(set_notes(&points, &chi2));
    let models = (0..sets).map(|k| models[model_of_set[k]].clone()).collect();
    // A tie applies to the sets whose model it rewrote: the tied name is a helper there.
    let helpers: Vec<Vec<String>> =
        texts.iter().map(|t| jitfit::syntax::parse(t).map(|ast| ast.helper_names()).unwrap_or_default()).collect();
    let applies = |t: usize, k: usize| {
        jitfit::syntax::tie_target(&args.tie[t]).is_some_and(|name| helpers[model_of_set[k]].iter().any(|h| h == name))
    };
    let tied = crate::uncertainty::global_ties(&fit, &args.tie, &applies)?;
    Ok(GlobalOutcome {
        fit,
        start,
        labels,
        columns,
        compile_time,
        compile_origin,
        total_time: started.elapsed(),
        data,
        models,
        tied,
    })
}

/// "by `COLUMN`", or "one per file".
pub fn sets_by(by: &str) -> String {
    if by == FILE_COLUMN { "one per file".to_owned() } else { format!("by `{by}`") }
}

/// More sets than this are summarized in [[Data]] (every one is in the JSON).
const LISTED_SETS: usize = 20;

/// `1 = det_a, 2 = det_b, …`: every set up to [`LISTED_SETS`], else the first ten and the last.
pub fn set_list(labels: &[String]) -> String {
    let item = |k: usize| format!("{} = {}", k + 1, labels[k]);
    if labels.len() <= LISTED_SETS {
        (0..labels.len()).map(item).collect::<Vec<_>>().join(", ")
    } else {
        let first: Vec<String> = (0..10).map(item).collect();
        format!("{}, …, {}", first.join(", "), item(labels.len() - 1))
    }
}

/// Each set's points and χ² (`set 1: 25 points, chi-square 0.014`), or their range beyond
/// [`LISTED_SETS`] sets.
pub fn set_notes(points: &[usize], chi2: &[f64]) -> Vec<String> {
    if points.len() <= LISTED_SETS {
        return (0..points.len())
            .map(|k| format!("set {}: {} points, chi-square {}", k + 1, points[k], num(chi2[k])))
            .collect();
    }
    let (fewest, most) = (points.iter().min().copied().unwrap_or(0), points.iter().max().copied().unwrap_or(0));
    let mut order: Vec<usize> = (0..chi2.len()).collect();
    order.sort_by(|a, b| chi2[*a].total_cmp(&chi2[*b]));
    let (low, high) = (order[0], order[order.len() - 1]);
    vec![format!(
        "sets: {fewest} to {most} points each; chi-square per set from {} (set {}) to {} (set {}), median {} (each set's: --json)",
        num(chi2[low]),
        low + 1,
        num(chi2[high]),
        high + 1,
        num(chi2[order[order.len() / 2]])
    )]
}

/// `--guess`: each set's pre-search (`CompiledModel::pre_search`, as a single fit's) over its
/// parameters that nothing gave a start, from the starts known so far. A shared parameter
/// starts at the median of the sets' best points (a median, so that a set whose data say
/// little does not decide it); then, with it there, each set's own parameters are searched
/// again, so that they fit the shared start rather than the set's own best guess of it.
/// [[Data]] says each set's search (up to [`LISTED_SETS`] sets, else the first and a count).
fn pre_search(
    args: &FitArgs,
    models: &[&std::sync::Arc<jitfit::CompiledModel>],
    data: &[Data],
    options: &[&jitfit::FitOptions],
    starts: &mut [Vec<Option<f64>>],
    columns: &mut Columns,
) -> anyhow::Result<()> {
    let sets = data.len();
    // Set k's search over the parameters `wanted` picks among those without a start: the
    // values found, by parameter index, and what was done, in words (None: nothing searched).
    let search = |k: usize, starts: &[Option<f64>], wanted: &dyn Fn(&str) -> bool| {
        let params = models[k].params();
        let names: Vec<String> = (0..params.len())
            .filter(|j| starts[*j].is_none() && options[k].fixed[*j].is_none() && wanted(&params[*j]))
            .map(|j| params[j].clone())
            .collect();
        if names.is_empty() {
            return Ok((vec![None; params.len()], None));
        }
        let mut own = options[k].clone();
        for (p0, start) in own.p0.iter_mut().zip(starts) {
            *p0 = start.or(*p0);
        }
        let result = models[k]
            .pre_search(&data[k], |fit| fit.options(own.clone()), &names, 256, args.seed.unwrap_or(0))
            .with_context(|| format!("the pre-search of set {}", k + 1))?;
        let found = (0..params.len()).map(|j| names.contains(&params[j]).then(|| result.values[j])).collect();
        let said = format!(
            "set {}: {}; Σr² {} there, {} at the start before it",
            k + 1,
            result.notes.iter().map(|n| n.strip_prefix("pre-search: ").unwrap_or(n)).collect::<Vec<_>>().join("; "),
            num(result.cost),
            num(result.start_cost)
        );
        anyhow::Ok((found, Some(said)))
    };
    let shared = |name: &str| args.shared.iter().any(|s| s == name);
    // Each set's search; then, where shared parameters were searched, each set's own again.
    let mut said = Vec::new();
    let mut found = Vec::with_capacity(sets);
    for (k, start) in starts.iter().enumerate() {
        let (values, words) = search(k, start, &|_| true)?;
        said.extend(words);
        found.push(values);
    }
    let mut medians = Vec::new();
    for name in &args.shared {
        let mut values: Vec<f64> = (0..sets)
            .filter_map(|k| models[k].params().iter().position(|p| p == name).and_then(|j| found[k][j]))
            .collect();
        if values.is_empty() {
            continue;
        }
        let median = median(&mut values);
        for k in 0..sets {
            if let Some(j) = models[k].params().iter().position(|p| p == name)
                && found[k][j].is_some()
            {
                starts[k][j] = Some(median);
            }
        }
        medians.push(format!("{name} = {}", num(median)));
    }
    let mut again = Vec::new();
    let mut own: Vec<String> = Vec::new();
    for k in 0..sets {
        let values = if medians.is_empty() {
            found[k].clone()
        } else {
            let (values, words) = search(k, &starts[k], &|p| !shared(p))?;
            again.extend(words);
            values
        };
        for (j, value) in values.into_iter().enumerate() {
            let name = &models[k].params()[j];
            if let Some(value) = value
                && !shared(name)
            {
                starts[k][j] = Some(value);
                if !own.contains(name) {
                    own.push(name.clone());
                }
            }
        }
    }
    if own.is_empty() && medians.is_empty() {
        columns.notes.push("--guess: every parameter has a start already; nothing searched".into());
        return Ok(());
    }
    let listed = |lines: Vec<String>| -> Vec<String> {
        if lines.len() <= LISTED_SETS {
            return lines;
        }
        let more = lines.len() - 1;
        let mut lines = lines;
        lines.truncate(1);
        lines.push(format!("… and {more} more sets, each searched likewise over its own box from its data"));
        lines
    };
    columns.notes.extend(listed(said).into_iter().map(|l| format!("pre-search of {l}")));
    if !medians.is_empty() {
        columns.notes.push(format!(
            "shared starts at the median of the sets' (--guess): {}; each set's own parameters searched again with them held:",
            medians.join(", ")
        ));
        columns.notes.extend(listed(again).into_iter().map(|l| format!("pre-search of {l}")));
    }
    if !own.is_empty() {
        columns.notes.push(format!("starts of each set's own {} from its pre-search (--guess)", own.join(", ")));
    }
    Ok(())
}

/// The median of `values` (the mean of the two middle ones for an even count); reorders them.
fn median(values: &mut [f64]) -> f64 {
    values.sort_by(f64::total_cmp);
    let half = values.len() / 2;
    if values.len() % 2 == 1 { values[half] } else { 0.5 * (values[half - 1] + values[half]) }
}

/// Starting values from each set's own data for the parameters of the library's terms that
/// have none: each set's own parameters from its data, a shared one the median of the sets'.
#[allow(clippy::too_many_arguments)]
fn guess(
    args: &FitArgs,
    var: &str,
    data: &[Data],
    texts: &[&str],
    params: &[&[String]],
    fixed: &[&[Option<f64>]],
    starts: &mut [Vec<Option<f64>>],
    columns: &mut Columns,
) {
    let guesses: Vec<jitfit::guess::Guess> = data
        .iter()
        .zip(texts)
        .map(|(d, text)| jitfit::guess::guess(text, var, d.column(var).unwrap_or_default(), d.response()))
        .collect();
    let guessed_value = |k: usize, name: &str| guesses[k].values.iter().find(|(n, _)| n == name).map(|(_, v)| *v);
    let mut names: Vec<&String> = Vec::new();
    for p in params.iter().flat_map(|p| p.iter()) {
        if !names.contains(&p) {
            names.push(p);
        }
    }
    let mut guessed = Vec::new();
    for name in names {
        let shared = args.shared.contains(name);
        let mut found: Vec<f64> = (0..data.len()).filter_map(|k| guessed_value(k, name)).collect();
        if found.is_empty() {
            continue;
        }
        let median = median(&mut found);
        let mut any = false;
        for k in 0..data.len() {
            let Some(j) = params[k].iter().position(|p| p == name) else { continue };
            // A start given (for every set, or this one) or a fixed value stands.
            if fixed[k][j].is_some() || starts[k][j].is_some() {
                continue;
            }
            starts[k][j] = Some(if shared { median } else { guessed_value(k, name).unwrap_or(median) });
            any = true;
        }
        if any {
            guessed.push(if shared { format!("{name} = {} (median of the sets')", num(median)) } else { name.clone() });
        }
    }
    if !guessed.is_empty() {
        columns.notes.push(format!("starts guessed from each set's data (--no-guess: 1): {}", guessed.join(", ")));
        if let Some(g) = guesses.first() {
            columns.notes.extend(g.notes.iter().cloned());
        }
    }
}

pub fn text(o: &GlobalOutcome, args: &FitArgs) -> String {
    let ctx = o.context(args);
    let fit = &o.fit;
    let mut out = String::new();
    let w = &mut out;
    let vars: Vec<String> =
        ctx.columns.vars.iter().map(|(v, c)| if v == c { v.clone() } else { format!("{v} ← {c}") }).collect();
    let _ = writeln!(w, "[[Model]]");
    let _ = writeln!(w, "    {}", ctx.model.trim().replace('\n', "\n    "));
    let _ = writeln!(w, "[[Data]]");
    let _ = writeln!(
        w,
        "    {}: {} points; variables {}; response {}{}",
        args.data_name(),
        fit.n_points,
        vars.join(", "),
        ctx.columns.y,
        match &ctx.columns.sigma {
            Some(sigma) => format!("; {}", sigma.describe()),
            None => String::new(),
        }
    );
    for note in &ctx.columns.notes {
        let _ = writeln!(w, "    {note}");
    }
    let _ = writeln!(w, "[[Fit Statistics]]");
    let parameters = o.parameters();
    let stats: [(&str, String); 11] = [
        ("fitting method", "lm, structured over the sets (loss linear)".to_owned()),
        ("backend", "cpu".to_owned()),
        ("function evals", format!("{} (Jacobian evals {})", fit.nfev, fit.njev)),
        ("data points", fit.n_points.to_string()),
        ("variables", format!("{} free of {}", fit.n_free, parameters.len())),
        ("chi-square", num(fit.chi2)),
        ("reduced chi-square", num(fit.reduced_chi2)),
        ("Akaike info crit", num(fit.aic)),
        ("Bayesian info crit", num(fit.bic)),
        ("R-squared", num(fit.r_squared)),
        ("optimality", num(fit.optimality)),
    ];
    for (name, value) in stats {
        let _ = writeln!(w, "    {name:<20} = {value}");
    }
    let _ = writeln!(w, "[[Variables]]");
    let width = parameters.iter().map(|(n, _, _)| n.len()).max().unwrap_or(1).min(40);
    for (name, k, j) in &parameters {
        let set = &fit.sets[*k];
        let detail = jitfit::report::variable_detail(
            set.values[*j],
            set.std_errors[*j],
            set.fixed[*j],
            set.initial[*j],
            o.start[*k][*j],
            set.active_mask[*j],
        );
        let _ = writeln!(w, "    {name:<width$} = {:>12} {detail}", num(set.values[*j]));
    }
    let mut pairs: Vec<(f64, String)> = Vec::new();
    let joint = o.joint();
    if let Some((_, correlation)) = &joint {
        // Every pair, between sets too.
        let n = parameters.len();
        for a in 0..n {
            for b in a + 1..n {
                let c = correlation[a * n + b];
                if c.is_finite() && c.abs() >= ctx.min_correl {
                    pairs.push((c, format!("C({}, {})", parameters[a].0, parameters[b].0)));
                }
            }
        }
    }
    // Past JOINT_MAX parameters, the correlations within each set's block (its own parameters
    // and the shared ones).
    let mut seen_shared: Vec<String> = Vec::new();
    for (k, set) in fit.sets.iter().enumerate().filter(|_| joint.is_none()) {
        let q = set.param_names.len();
        let label = |j: usize| {
            if set.shared[j] {
                set.param_names[j].clone()
            } else {
                GlobalModel::name_in_set(&set.param_names[j], k + 1)
            }
        };
        for a in 0..q {
            for b in a + 1..q {
                if set.fixed[a] || set.fixed[b] {
                    continue;
                }
                let name = format!("C({}, {})", label(a), label(b));
                // Shared–shared pairs once (they are the same in every set).
                if set.shared[a] && set.shared[b] {
                    if seen_shared.contains(&name) {
                        continue;
                    }
                    seen_shared.push(name.clone());
                }
                let c = set.covariance[a * q + b] / (set.std_errors[a] * set.std_errors[b]);
                if c.is_finite() && c.abs() >= ctx.min_correl {
                    pairs.push((c, name));
                }
            }
        }
    }
    pairs.sort_by(|a, b| b.0.abs().total_cmp(&a.0.abs()));
    match joint {
        Some(_) => {
            let _ = writeln!(w, "[[Correlations]] (unreported correlations are < {})", ctx.min_correl);
        }
        None => {
            let why = if parameters.len() > JOINT_MAX {
                format!("over {JOINT_MAX} parameters")
            } else {
                "the covariance was not estimated".to_owned()
            };
            let _ = writeln!(
                w,
                "[[Correlations]] (unreported correlations are < {}; none between two sets' own parameters: {why})",
                ctx.min_correl
            );
        }
    }
    if pairs.is_empty() {
        let _ = writeln!(w, "    none");
    }
    for (c, label) in pairs {
        let _ = writeln!(w, "    {label:<width$} = {c:+.4}", width = 2 * width + 6);
    }
    let _ = writeln!(w, "[[Status]]");
    let verdict = if fit.status.converged() { "converged" } else { "did NOT converge" };
    let _ = writeln!(w, "    {verdict}: {} (status {})", fit.message, fit.status.code());
    if let Some(warning) = &fit.covariance_warning {
        let _ = writeln!(w, "    warning: {warning}");
    }
    let _ = writeln!(w, "[[Timing]]");
    let _ = writeln!(w, "    {}", report::timing(&ctx, fit.solve_time));
    crate::uncertainty::tied_text(w, &o.tied);
    out
}

/// The report as JSON, schema `jitfit.fit/1`: the single fit's fields (`covariance` and
/// `correlation` the joint ones up to [`JOINT_MAX`] parameters, else null: see
/// `global.sets[k].covariance`) and a `global` object.
pub fn json(o: &GlobalOutcome, args: &FitArgs) -> Value {
    let ctx = o.context(args);
    let fit = &o.fit;
    let joint = o.joint();
    let n = o.parameters().len();
    let matrix = |m: &[f64]| jitfit::report::matrix_json(m, n);
    let parameters: Vec<Value> = o
        .parameters()
        .iter()
        .map(|(name, k, j)| {
            let set = &fit.sets[*k];
            json!({
                "name": name,
                "value": finite_or_null(set.values[*j]),
                "stderr": finite_or_null(set.std_errors[*j]),
                "initial": set.initial[*j],
                "initial_given": o.start[*k][*j] != Start::Default,
                "initial_guessed": o.start[*k][*j] == Start::Guessed,
                "fixed": set.fixed[*j],
                "lower": finite_or_null(set.lower[*j]),
                "upper": finite_or_null(set.upper[*j]),
                "at_bound": match set.active_mask[*j] { -1 => "lower", 1 => "upper", _ => "none" },
            })
        })
        .collect();
    let sets: Vec<Value> = fit
        .sets
        .iter()
        .zip(&o.labels)
        .map(|(set, label)| {
            let q = set.param_names.len();
            json!({
                "label": label,
                "parameters": set.param_names,
                "points": set.points,
                "chi_square": finite_or_null(set.chi2),
                "covariance": (0..q).map(|a| (0..q).map(|b| finite_or_null(set.covariance[a * q + b])).collect::<Vec<_>>()).collect::<Vec<_>>(),
            })
        })
        .collect();
    let mut value = json!({
        "schema": "jitfit.fit/1",
        "model": ctx.model,
        "data": report::data_json(&ctx, &args.data_name(), fit.n_points, Value::Null),
        "method": "lm",
        "estimator": jitfit::Estimator::LeastSquares,
        "loss": "linear",
        "backend": { "used": "cpu", "adapter": Value::Null, "gpu_iterations": 0, "gpu_nfev": 0, "gpu_seconds": 0.0, "f64_on_gpu": false, "note": Value::Null },
        "absolute_sigma": fit.absolute_sigma,
        "status": { "code": fit.status.code(), "converged": fit.status.converged(), "message": fit.message },
        "statistics": jitfit::report::Statistics::from(fit).json(),
        "parameters": parameters,
        "covariance": joint.as_ref().map_or(Value::Null, |(c, _)| matrix(c)),
        "correlation": joint.as_ref().map_or(Value::Null, |(_, c)| matrix(c)),
        "warnings": fit.covariance_warning.iter().collect::<Vec<_>>(),
        "global": {
            "solver": "structured",
            "by": args.sets,
            "shared": args.shared,
            "sets": sets,
        },
        "timing": report::timing_json(&ctx, fit.solve_time),
    });
    if !o.tied.is_empty() {
        value["tied"] = crate::uncertainty::derived_json(&o.tied);
    }
    value
}
