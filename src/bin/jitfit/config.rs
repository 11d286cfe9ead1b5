//! The fit options of the command line, resolved once (ripgrep's "high" arguments): the
//! strings of [`FitArgs`] (the "low" arguments, as clap parsed them) are checked and turned
//! into values here, so `fit`, `batch` and the REPL apply the same [`FitConfig`] to every fit
//! without parsing anything again.

use crate::args::FitArgs;
use anyhow::{anyhow, bail};
use jitfit::backend::Backend;
use jitfit::multistart::Sampler;
use jitfit::solve::{Loss, Method, SolveOptions};
use jitfit::{Estimator, FitBuilder};

/// The resolved fit options.
#[derive(Clone, Debug)]
pub struct FitConfig {
    pub p0: Vec<(String, f64)>,
    pub bounds: Vec<(String, f64, f64)>,
    pub fix: Vec<(String, f64)>,
    pub loss: Loss,
    pub f_scale: f64,
    pub method: Method,
    pub backend: Backend,
    pub absolute_sigma: bool,
    pub estimator: Estimator,
    /// ftol, xtol, gtol: the caller's, or the solver's defaults.
    pub tolerances: (f64, f64, f64),
    pub max_nfev: Option<usize>,
    pub sampler: Sampler,
}

/// Which command the options are for: some options apply to one fit only.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Command {
    Fit,
    Batch,
}

/// Options that cannot apply together, or to this command, are refused — never ignored.
pub fn refuse_conflicts(args: &FitArgs, command: Command) -> anyhow::Result<()> {
    if command == Command::Batch && !args.more_data.is_empty() {
        bail!("a batch reads one data file (its fits by --by COLUMN); several files are a global fit: jitfit fit");
    }
    if command == Command::Batch {
        let per_fit = [
            ("--log-x", args.log_x.is_some()),
            ("--log-y", args.log_y.is_some()),
            ("--output-residuals", args.output_residuals.is_some()),
            ("--checkpoint", args.checkpoint.is_some()),
            ("--resume", args.resume.is_some()),
            ("--starts", args.starts > 1),
            ("--min-correl", args.min_correl.is_some()),
            ("--ci", !args.ci.is_empty()),
            ("--derive", !args.derive.is_empty()),
            ("--band", args.band.is_some()),
            ("--band-grid", args.band_grid.is_some()),
            ("--bootstrap", args.bootstrap.is_some()),
            ("--sigma-x", args.sigma_x.iter().any(|s| s != "none")),
            ("--contour", !args.contour.is_empty()),
            ("--tie", !args.tie.is_empty()),
            ("--sets", args.sets.is_some()),
        ];
        if let Some((flag, _)) = per_fit.iter().find(|(_, given)| *given) {
            bail!("{flag} applies to `jitfit fit`, not to a batch (its results are rows: --out, --json)");
        }
    }
    // Options that only mean something beside another one.
    let needs = [
        ("--f-scale", args.f_scale.is_some(), "a robust --loss", args.loss != "linear"),
        ("--checkpoint-every", args.checkpoint_every.is_some(), "--checkpoint", args.checkpoint.is_some()),
        ("--sampler", args.sampler.is_some(), "--starts N (N > 1)", args.starts > 1),
        (
            "--seed",
            args.seed.is_some(),
            "--starts N (N > 1), --bootstrap N or --guess",
            args.starts > 1 || args.bootstrap.is_some() || args.guess,
        ),
        ("--resample", args.resample.is_some(), "--bootstrap N", args.bootstrap.is_some()),
        ("--band-grid", args.band_grid.is_some(), "--band LEVEL", args.band.is_some()),
        ("--log-x", args.log_x.is_some(), "--plot FILE", args.plot.is_some()),
        ("--log-y", args.log_y.is_some(), "--plot FILE", args.plot.is_some()),
        ("--contour-level", args.contour_level.is_some(), "--contour A,B", !args.contour.is_empty()),
        ("--shared", !args.shared.is_empty(), "--sets COLUMN", args.sets.is_some()),
        ("--global-solver", args.global_solver != "auto", "--sets COLUMN", args.sets.is_some()),
        ("--model-for", !args.model_for.is_empty(), "--sets COLUMN or several data files", args.sets.is_some()),
        ("--contour-points", args.contour_points.is_some(), "--contour A,B", !args.contour.is_empty()),
    ];
    if let Some((flag, _, needed, _)) = needs.iter().find(|(_, given, _, present)| *given && !*present) {
        bail!("{flag} applies only with {needed}");
    }
    // A tied parameter is not fitted: no start, bound, fixed value or sharing applies to it
    // (a tie of shared parameters is shared).
    for tie in &args.tie {
        let tied = jitfit::syntax::tie_target(tie).unwrap_or(tie.trim());
        let items = [("--p0", &args.p0), ("--bounds", &args.bounds), ("--fix", &args.fix), ("--shared", &args.shared)];
        for (flag, items) in items {
            if let Some(item) = items.iter().find(|item| item.split('=').next().is_some_and(|n| n.trim() == tied)) {
                bail!("{flag} {item}: `{tied}` is tied (--tie '{tie}'): it is computed, not fitted");
            }
        }
    }
    if args.guess {
        for (flag, given) in
            [("--no-guess", args.no_guess), ("--starts", args.starts > 1), ("--resume", args.resume.is_some())]
        {
            if given {
                bail!("--guess cannot be combined with {flag}");
            }
        }
    }
    if args.x.is_some() && args.vars.is_some() {
        bail!("--x and --vars both name variables: say x=COLUMN in --vars instead");
    }
    if args.starts > 1 && args.sigma.as_deref().is_some_and(|s| s.contains(jitfit::FITTED)) {
        bail!(
            "--starts cannot be combined with a σ that follows the fitted values: each start's cost would use its own σ"
        );
    }
    if args.starts > 1 {
        for (flag, given) in [("--checkpoint", args.checkpoint.is_some()), ("--resume", args.resume.is_some())] {
            if given {
                bail!("{flag} cannot be combined with --starts: a multi-start runs many fits, a checkpoint holds one");
            }
        }
    }
    Ok(())
}

impl FitConfig {
    /// Checks every fit option of the arguments; the first bad one is the error.
    pub fn from_args(args: &FitArgs) -> anyhow::Result<FitConfig> {
        // `--p0 @fit.json` starts from a previous fit's values (its `--json` output); later
        // NAME=VALUE items override them.
        let mut p0: Vec<(String, f64)> = Vec::new();
        let (files, pairs): (Vec<String>, Vec<String>) = args.p0.iter().cloned().partition(|s| s.starts_with('@'));
        for file in files {
            p0.extend(previous_fit(&file[1..])?);
        }
        for (name, value) in parse_assignments(&pairs, "p0")? {
            let value = parse_number(&value, &format!("--p0 {name}"))?;
            p0.retain(|(n, _)| *n != name);
            p0.push((name, value));
        }
        let bounds = parse_assignments(&args.bounds, "bounds")?
            .into_iter()
            .map(|(name, range)| {
                let (lo, hi) =
                    range.split_once(':').ok_or_else(|| anyhow!("--bounds {name}: `{range}` is not LOWER:UPPER"))?;
                Ok((name, parse_number(lo, "--bounds")?, parse_number(hi, "--bounds")?))
            })
            .collect::<anyhow::Result<_>>()?;
        let fix = parse_assignments(&args.fix, "fix")?
            .into_iter()
            .map(|(name, value)| Ok((name.clone(), parse_number(&value, &format!("--fix {name}"))?)))
            .collect::<anyhow::Result<_>>()?;
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
        let sampler_name = args.sampler.as_deref().unwrap_or("sobol");
        let sampler = Sampler::from_name(sampler_name)
            .ok_or_else(|| anyhow!("--sampler: `{sampler_name}` is not one of sobol, lhs, random"))?;
        let defaults = SolveOptions::default();
        Ok(FitConfig {
            p0,
            bounds,
            fix,
            loss,
            f_scale: args.f_scale.unwrap_or(1.0),
            method,
            backend,
            absolute_sigma: args.absolute_sigma,
            estimator: if args.poisson { Estimator::Poisson } else { Estimator::LeastSquares },
            tolerances: (
                args.ftol.unwrap_or(defaults.ftol),
                args.xtol.unwrap_or(defaults.xtol),
                args.gtol.unwrap_or(defaults.gtol),
            ),
            max_nfev: args.max_nfev,
            sampler,
        })
    }

    /// Applies the options to a fit. Names the model does not have are the builder's errors
    /// (at `run` or `into_options`).
    pub fn apply<'d>(&self, mut fit: FitBuilder<'d>) -> FitBuilder<'d> {
        for (name, value) in &self.p0 {
            fit = fit.initial(name, *value);
        }
        for (name, lower, upper) in &self.bounds {
            fit = fit.bound(name, *lower, *upper);
        }
        for (name, value) in &self.fix {
            fit = fit.fix(name, *value);
        }
        let (ftol, xtol, gtol) = self.tolerances;
        fit = fit
            .backend(self.backend)
            .loss(self.loss, self.f_scale)
            .method(self.method)
            .absolute_sigma(self.absolute_sigma)
            .tolerances(ftol, xtol, gtol);
        if let Some(n) = self.max_nfev {
            fit = fit.max_nfev(n);
        }
        if self.estimator == Estimator::Poisson {
            fit = fit.poisson();
        }
        fit
    }
}

/// The parameter values of a fit's JSON report (`jitfit fit --json`, schema `jitfit.fit/1`).
fn previous_fit(path: &str) -> anyhow::Result<Vec<(String, f64)>> {
    let text = jitfit::fsutil::read_small(std::path::Path::new(path), 64 << 20)
        .map_err(|e| anyhow!("--p0 @{path}: cannot read it: {e}"))?;
    let json: serde_json::Value =
        serde_json::from_str(&text).map_err(|e| anyhow!("--p0 @{path}: not a jitfit JSON report: {e}"))?;
    if json["schema"] != "jitfit.fit/1" {
        bail!("--p0 @{path}: not a jitfit fit report (schema jitfit.fit/1)");
    }
    let parameters = json["parameters"].as_array().map(Vec::as_slice).unwrap_or_default();
    parameters
        .iter()
        .map(|p| match (p["name"].as_str(), p["value"].as_f64()) {
            (Some(name), Some(value)) => Ok((name.to_owned(), value)),
            _ => bail!("--p0 @{path}: a parameter without a name or a finite value"),
        })
        .collect()
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

/// A number, `inf` and `-inf` included.
pub fn parse_number(text: &str, context: &str) -> anyhow::Result<f64> {
    match text.trim() {
        "inf" | "+inf" | "Inf" => Ok(f64::INFINITY),
        "-inf" | "-Inf" => Ok(f64::NEG_INFINITY),
        t => t.parse::<f64>().map_err(|_| anyhow!("{context}: `{t}` is not a number")),
    }
}
