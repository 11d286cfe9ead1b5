//! The arguments of `jitfit fit` as clap parses them (ripgrep's "low" arguments: strings,
//! checked only for their shape), and reading the data they name. `config` resolves the fit
//! options once; `columns` decides what each column is.

use anyhow::bail;
use jitfit::data::{Delimiter, ReadOptions, Table, read_table_with};
use std::path::PathBuf;

#[derive(clap::Args, Clone)]
pub struct FitArgs {
    /// The model, e.g. 'a*exp(-b*x) + c' or 'y = b1*(1-exp[-b2*x])' (may start with `-`).
    #[arg(allow_hyphen_values = true)]
    pub model: String,
    /// The data (`-` reads it from standard input): CSV/TSV with a header row,
    /// whitespace-separated columns (`#` comments;
    /// without a header, two columns are `x y` and three `x y sigma`), or a `.npy` array
    /// (memory-mapped). Omit it to give one `.npy` file per column: `--x x.npy --y y.npy`.
    pub data: Option<PathBuf>,
    /// More data files: a global fit, one data set per file (the --shared parameters common to
    /// all, the others fitted per file); every file must have the same columns.
    #[arg(value_name = "MORE_DATA")]
    pub more_data: Vec<PathBuf>,
    /// The column holding the response (default: the model's left side, or `y`), or a
    /// `.npy` file holding it.
    #[arg(long)]
    pub y: Option<String>,
    /// The column holding σ, the standard deviation of each y, or a `.npy` file, or an
    /// expression of columns (`sqrt(counts)`, `0.02*y`, a constant `0.1`).
    #[arg(long)]
    pub sigma: Option<String>,
    /// Errors in x: the column of σ of a variable, `VAR=COLUMN` (or `COLUMN` for a model of one
    /// variable); repeat for several. Fits the effective variance σ_y² + (∂f/∂x·σ_x)².
    #[arg(long = "sigma-x")]
    pub sigma_x: Vec<String>,
    /// The column holding weights w = 1/σ² instead (positive; curve_fit's `sigma` is their
    /// 1/√w).
    #[arg(long)]
    pub weights: Option<String>,
    /// The column holding the variable `x` (for models written in x, data with other names),
    /// or a `.npy` file.
    #[arg(long)]
    pub x: Option<String>,
    /// The model's variables, comma-separated, each a column of the same name or mapped with
    /// NAME=COLUMN (default: every column whose name appears in the model).
    #[arg(long, value_delimiter = ',')]
    pub vars: Option<Vec<String>>,
    /// Initial values, e.g. `a=1,b=0.5` (unset parameters start at 1), or `@fit.json` for a
    /// previous fit's values (its `--json` report; NAME=VALUE items after it override).
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
    /// Residual scale of a robust loss (default 1; refused with the linear loss, where it
    /// cannot apply).
    #[arg(long, allow_negative_numbers = true)]
    pub f_scale: Option<f64>,
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
    #[arg(long, allow_negative_numbers = true)]
    pub ftol: Option<f64>,
    #[arg(long, allow_negative_numbers = true)]
    pub xtol: Option<f64>,
    #[arg(long, allow_negative_numbers = true)]
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
    /// Draw the data, the fitted curve and the residuals to this file, `.svg` or `.png`: error
    /// bars from σ, the --band bands, residuals (fitted − y)/σ where σ is known.
    #[arg(long)]
    pub plot: Option<PathBuf>,
    /// The plot's x axis on a log scale (`--log-x=false`: linear). By default log when x is
    /// positive and spans three decades or more, with a note.
    #[arg(long, num_args = 0..=1, require_equals = true, default_missing_value = "true", value_name = "BOOL")]
    pub log_x: Option<bool>,
    /// The plot's y axis on a log scale (`--log-y=false`: linear); by default as for x.
    #[arg(long, num_args = 0..=1, require_equals = true, default_missing_value = "true", value_name = "BOOL")]
    pub log_y: Option<bool>,
    /// Correlations at or above this magnitude are listed in the report (default 0.1).
    #[arg(long, allow_negative_numbers = true)]
    pub min_correl: Option<f64>,
    /// Save the solver state to this file as the fit goes (JSON, written atomically).
    #[arg(long)]
    pub checkpoint: Option<PathBuf>,
    /// Save a checkpoint every N iterations (default 1; needs --checkpoint).
    #[arg(long)]
    pub checkpoint_every: Option<usize>,
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
    /// How the starts are drawn: sobol (default), lhs, random (needs --starts).
    #[arg(long)]
    pub sampler: Option<String>,
    /// Seed of the starts or of the bootstrap (default 0; needs --starts or --bootstrap).
    #[arg(long)]
    pub seed: Option<u64>,
    /// Rows with a missing or non-finite value in a column the fit uses: `raise` (an error
    /// naming the row) or `omit` (dropped, and the report says how many) — scipy's names.
    #[arg(long, default_value = "raise")]
    pub nan_policy: String,
    /// The field separator of a text file: `,` `;` `tab` `space` or another punctuation
    /// character such as `|` (default: detected — a `;` in the first line, else by extension
    /// and content — and said in the report).
    #[arg(long)]
    pub delimiter: Option<String>,
    /// Commas in numbers are decimal points (`1,5` is 1.5); a number with a `.` is then an
    /// error. Without it, decimal commas are read where commas do not separate fields, and said.
    #[arg(long)]
    pub decimal_comma: bool,
    /// Profile-likelihood confidence intervals of every free parameter at these levels: σ
    /// multiples (`1,2`) or probabilities (`0.95`), in the report and the JSON.
    #[arg(long, value_delimiter = ',')]
    pub ci: Vec<String>,
    /// A derived quantity `NAME = EXPRESSION` of the parameters (repeatable): its value and
    /// standard error by the delta method with the exact gradient.
    #[arg(long)]
    pub derive: Vec<String>,
    /// Tie a parameter to an expression of the others, `NAME = EXPRESSION` (lmfit's `expr`;
    /// repeatable): `--tie 'w2 = w1'`, `--tie 'm3 = m2 + 5'`. The model is rewritten (the tie
    /// becomes a helper) and the tied value is reported with its standard error.
    #[arg(long)]
    pub tie: Vec<String>,
    /// Do not guess starting values from the data for the library's lineshapes (by default,
    /// parameters of `gaussian`, `lorentzian`, `pseudo_voigt`, `exponential`, `linear` terms
    /// without a --p0 start from the data, and [[Data]] says so).
    #[arg(long)]
    pub no_guess: bool,
    /// Search starting values for the parameters that have none (no --p0, no library guess):
    /// Σr² at 256 Sobol' points over their bounds, or a box from the data, the best kept — no
    /// fit run; parameters the model is linear in are solved by least squares at each point
    /// instead of searched. With --sets each set is searched, a shared parameter starts at the
    /// sets' median and each set's own are searched again with it held. [[Data]] says the
    /// boxes, [[Variables]] marks the starts guessed.
    #[arg(long)]
    pub guess: bool,
    /// A global fit: the rows grouped by COLUMN (ids as written, in order of first
    /// appearance) are data sets fitted together, each with its own parameters except the
    /// --shared ones (named A_1, A_2, … per set in the report). A `.npy` file is a column of
    /// its own (with --x x.npy --y y.npy).
    #[arg(long, value_name = "COLUMN")]
    pub sets: Option<String>,
    /// The parameters shared by every data set of --sets (comma-separated).
    #[arg(long, value_delimiter = ',')]
    pub shared: Vec<String>,
    /// A data set with its own model (`--model-for det_b 'A*exp(-t/tau) + C*t'`, repeatable):
    /// the set by its id in the --sets column (or its file name); parameters shared by name.
    /// The structured solver only.
    #[arg(long, num_args = 2, value_names = ["SET", "MODEL"], allow_hyphen_values = true)]
    pub model_for: Vec<String>,
    /// How --sets is solved: structured (each set's own parameters eliminated in every step:
    /// time linear in the sets, any number of sets), dense (the sets written as one model:
    /// every option of a single fit, at most 200 sets), auto (structured unless an option only
    /// the dense fit has is given; [[Data]] says which and why).
    #[arg(long, default_value = "auto")]
    pub global_solver: String,
    /// Confidence and prediction bands of the curve at this level (a σ multiple or a
    /// probability): a summary in the report, columns in --output-residuals.
    #[arg(long)]
    pub band: Option<String>,
    /// The bands at N points spread evenly over the variable's range, in the JSON (a model of
    /// one variable; needs --band).
    #[arg(long)]
    pub band_grid: Option<usize>,
    /// The 2-parameter confidence region of A and B (`--contour a,b`; repeat for more pairs):
    /// its points in the JSON, their range in the report.
    #[arg(long)]
    pub contour: Vec<String>,
    /// The contours' level: a σ multiple or a probability (default 1).
    #[arg(long)]
    pub contour_level: Option<String>,
    /// Points per contour (default 36).
    #[arg(long)]
    pub contour_points: Option<usize>,
    /// Bootstrap intervals from N refits on resampled data (percentiles at the --ci levels, 1σ
    /// without them), in parallel, seeded by --seed.
    #[arg(long)]
    pub bootstrap: Option<usize>,
    /// What the bootstrap resamples: `residuals` (added to the fitted curve; the default) or
    /// `cases` (whole points).
    #[arg(long)]
    pub resample: Option<String>,
    /// The columns `load` added from `.npy` files given to --x, --y, --sigma (named
    /// `FLAG (FILE)`); not a command-line option.
    #[arg(skip)]
    pub npy_columns: Vec<String>,
}

impl FitArgs {
    /// Rewrites the model with the `--tie`s (each a helper before it); the ties are kept for
    /// the report. With `--model-for`, each model takes the ties of the names it has (a tie
    /// that names none of the models' is the main model's error).
    pub fn apply_ties(&mut self) -> anyhow::Result<()> {
        if self.tie.is_empty() {
            return Ok(());
        }
        let tie = |text: &str, ties: &[String]| jitfit::syntax::tie(text, ties).map_err(|e| anyhow::anyhow!(e));
        if self.model_for.is_empty() {
            self.model = tie(&self.model, &self.tie)?;
            return Ok(());
        }
        let ties = self.tie.clone();
        let mut used = vec![false; ties.len()];
        let mut rewrite = |text: &str| -> anyhow::Result<String> {
            let names = jitfit::syntax::parse(text).map(|ast| ast.rhs_names()).unwrap_or_default();
            let own: Vec<String> = ties
                .iter()
                .enumerate()
                .filter(|(_, t)| jitfit::syntax::tie_target(t).is_some_and(|name| names.iter().any(|n| n == name)))
                .map(|(k, t)| {
                    used[k] = true;
                    t.clone()
                })
                .collect();
            if own.is_empty() { Ok(text.to_owned()) } else { tie(text, &own) }
        };
        let main = rewrite(&self.model)?;
        let mut others = Vec::new();
        for pair in self.model_for.chunks(2) {
            others.push(match pair {
                [_, text] => Some(rewrite(text)?),
                _ => None,
            });
        }
        if let Some(k) = used.iter().position(|u| !u) {
            // A name no model has; a tie without `NAME =` gets the parser's message.
            match jitfit::syntax::tie_target(&ties[k]) {
                Some(name) => anyhow::bail!(
                    "--tie `{}`: `{name}` is a name of none of the models (the main one and --model-for's)",
                    ties[k]
                ),
                None => tie(&self.model, &ties[k..=k])?,
            };
        }
        self.model = main;
        for (pair, text) in self.model_for.chunks_mut(2).zip(others) {
            if let ([_, old], Some(text)) = (pair, text) {
                *old = text;
            }
        }
        Ok(())
    }
}

impl FitArgs {
    /// The arguments a plain `jitfit fit MODEL DATA` gets (the REPL starts from these), with
    /// clap's own defaults.
    pub fn new(model: String, data: PathBuf) -> anyhow::Result<Self> {
        #[derive(clap::Parser)]
        struct Plain {
            #[command(flatten)]
            args: FitArgs,
        }
        let argv = [std::ffi::OsString::from("fit"), model.into(), data.into_os_string()];
        let mut args = <Plain as clap::Parser>::try_parse_from(argv)?.args;
        args.quiet = true;
        Ok(args)
    }
}

impl FitArgs {
    /// The data as named in reports: the file, or the `.npy` column files.
    pub fn data_name(&self) -> String {
        if !self.more_data.is_empty() {
            let files: Vec<String> = self.data.iter().chain(&self.more_data).map(|p| p.display().to_string()).collect();
            return files.join(", ");
        }
        match &self.data {
            Some(p) if p.as_os_str() == "-" => "standard input".to_owned(),
            Some(p) => p.display().to_string(),
            // (Without a data file, --sets can only be a `.npy` column file.)
            None => [&self.x, &self.y, &self.sigma, &self.sets]
                .iter()
                .filter_map(|v| v.as_deref())
                .collect::<Vec<_>>()
                .join(", "),
        }
    }

    /// The `.npy` column files `--vars x=x.npy,…` names (before `load_with` renames them).
    pub fn npy_files_of_vars(&self) -> impl Iterator<Item = &str> {
        self.vars
            .iter()
            .flatten()
            .filter_map(|item| item.split_once('=').map(|(_, file)| file.trim()).filter(|f| f.ends_with(".npy")))
    }

    /// True when the data is a text table (a file or standard input), not `.npy` columns.
    pub fn text_data(&self) -> bool {
        self.data.as_deref().is_some_and(|p| !jitfit::data::is_npy(p))
    }

    /// How the text table is to be read: --delimiter, --decimal-comma, and the columns of
    /// labels the caller wants (a batch's ids).
    pub fn read_options(&self, text_columns: Vec<String>) -> anyhow::Result<ReadOptions> {
        let delimiter = match self.delimiter.as_deref() {
            None => None,
            Some(name) => Some(Delimiter::from_name(name).ok_or_else(|| {
                anyhow::anyhow!("--delimiter: `{name}` is not `,` `;` tab space or one punctuation character (not `\"` `#` `.` `-` `+`)")
            })?),
        };
        if !self.text_data() && (delimiter.is_some() || self.decimal_comma) {
            bail!("--delimiter and --decimal-comma are for a text data file; .npy files hold binary numbers");
        }
        Ok(ReadOptions { delimiter, decimal_comma: self.decimal_comma, text_columns })
    }

    /// Reads the data file and any `.npy` column files given with --x, --y, --sigma, --sets (which
    /// then name the column they added), reading the columns named in `text_columns` as labels.
    pub fn load_with(&self, text_columns: Vec<String>) -> anyhow::Result<(Table, FitArgs)> {
        let mut args = self.clone();
        let options = self.read_options(text_columns)?;
        let mut table = match &self.data {
            // `-`: the table from standard input (text formats only), streamed.
            Some(path) if path.as_os_str() == "-" => {
                jitfit::data::read_text(std::io::stdin().lock(), std::path::Path::new("standard input"), &options)?
            }
            Some(path) => {
                let table = read_table_with(path, &options)?;
                let text = !jitfit::data::is_npy(path);
                if text && table.n_rows() >= 1_000_000 {
                    eprintln!(
                        "note: parsing {} rows of text took a while; `jitfit convert {} DIR` writes .npy columns that map instantly",
                        table.n_rows(),
                        path.display()
                    );
                }
                table
            }
            None => Table::default(),
        };
        // A `.npy` file given for a column: one more column, named `FLAG (FILE)`.
        let mut add_npy = |flag: &str, value: &str, table: &mut Table| -> anyhow::Result<String> {
            let (_, mut columns) = jitfit::data::npy::read_npy(std::path::Path::new(value))?;
            if columns.len() != 1 {
                bail!("--{flag} {value}: a column file must hold a 1-D array, this one has {} columns", columns.len());
            }
            // Every column of one fit has one value per row: a shorter file would otherwise
            // leave rows out unsaid (a --sets column is no model variable, so nothing else checks it).
            if !table.names.is_empty() && columns[0].len() != table.n_rows() {
                bail!(
                    "--{flag} {value}: {} values, but the data have {} rows (each column file needs one value per row)",
                    columns[0].len(),
                    table.n_rows()
                );
            }
            let name = format!("{flag} ({value})");
            table.names.push(name.clone());
            table.columns.push(columns.remove(0));
            args.npy_columns.push(name.clone());
            Ok(name)
        };
        let mut vars = self.vars.clone();
        // `--vars x=x.npy,y=y.npy`: a model of several variables from column files.
        for item in vars.iter_mut().flatten() {
            if let Some((var, file)) = item.split_once('=')
                && file.trim().ends_with(".npy")
            {
                let name = add_npy(var.trim(), file.trim(), &mut table)?;
                *item = format!("{}={name}", var.trim());
            }
        }
        let mut slots =
            [("x", self.x.clone()), ("y", self.y.clone()), ("sigma", self.sigma.clone()), ("sets", self.sets.clone())];
        for (flag, slot) in &mut slots {
            if let Some(value) = slot.clone()
                && value.ends_with(".npy")
            {
                *slot = Some(add_npy(flag, &value, &mut table)?);
            }
        }
        let [(_, x), (_, y), (_, sigma), (_, sets)] = slots;
        (args.x, args.y, args.sigma, args.sets, args.vars) = (x, y, sigma, sets, vars);
        if table.names.is_empty() {
            bail!("no data: give a data file, or .npy column files with --x and --y");
        }
        Ok((table, args))
    }
}
