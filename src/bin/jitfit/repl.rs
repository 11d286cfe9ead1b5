//! `jitfit repl`: load data, define and redefine models, fit, inspect, plot. A bad line prints
//! an error (with a caret for model errors) and the session goes on; nothing loaded is lost.
//! Reads a script from standard input when it is not a terminal (`jitfit repl < script.jf`).

use crate::args::FitArgs;
use crate::config::{parse_assignments, parse_number};
use crate::fit::{Outcome, execute};
use crate::report;
use anyhow::{Context as _, anyhow, bail};
use jitfit::data::{Table, read_table};
use rustyline::completion::{Completer, Pair};
use rustyline::error::ReadlineError;
use rustyline::highlight::Highlighter;
use rustyline::hint::Hinter;
use rustyline::history::DefaultHistory;
use rustyline::validate::Validator;
use rustyline::{Context, Editor, Helper};
use std::cell::RefCell;
use std::collections::BTreeMap;
use std::io::{BufRead, IsTerminal};
use std::path::PathBuf;
use std::rc::Rc;

const COMMANDS: &[(&str, &str)] = &[
    ("load", "load FILE             read a CSV/TSV/text data file"),
    ("model", "model EXPR            set the model (y = ..., helpers allowed)"),
    ("vars", "vars x,t=time         the model's variables (NAME or NAME=COLUMN)"),
    ("y", "y COLUMN              the response column"),
    ("sigma", "sigma COLUMN|EXPR|none σ of y: a column, an expression of columns, none"),
    ("sigma-x", "sigma-x [V=]COL,…|none errors in x: σ of variables (effective variance)"),
    ("sets", "sets COLUMN|none      a global fit: the data sets by COLUMN"),
    ("shared", "shared tau,…|none     the parameters the sets share"),
    ("global-solver", "global-solver auto|structured|dense  how a global fit is solved"),
    ("tie", "tie w2 = w1|clear     tie a parameter to others (repeatable)"),
    ("p0", "p0 a=1,b=0.5          initial values (others start at 1)"),
    ("bounds", "bounds b=0:inf        bounds; `bounds clear` removes them"),
    ("fix", "fix c=0               hold parameters; `fix clear` frees them"),
    ("loss", "loss soft_l1 [F]      robust loss and its f_scale"),
    ("method", "method trf|lm|auto    the algorithm"),
    ("backend", "backend cpu|gpu|auto  where the model runs (gpu: f32 on the device, f64 finish)"),
    ("fit", "fit                   fit and print the report"),
    ("refit", "refit                 fit again from the last fit's values (not p0)"),
    ("report", "report                print the last report again"),
    ("json", "json                  the last fit as JSON"),
    ("plot", "plot FILE.svg|png     draw the last fit (with its ci, contour and band)"),
    ("ci", "ci 1,2,0.95           profile-likelihood intervals of the last fit"),
    ("derive", "derive t = log(2)/b   a derived quantity of the last fit, ± delta method"),
    ("band", "band 1                the last fit's confidence and prediction bands"),
    ("contour", "contour a,b [LEVEL]   the last fit's 2-parameter region of a and b (1σ)"),
    ("eval", "eval EXPR [at x=1,..] evaluate an expression (fitted values by default)"),
    ("explain", "explain               derivatives and kernel IR of the model"),
    ("show", "show                  the session: data, model, options"),
    ("cache", "cache stats           the compilation cache"),
    ("help", "help                  this list"),
    ("quit", "quit                  leave (also Ctrl-D)"),
];

#[derive(Default)]
struct Session {
    data_path: Option<PathBuf>,
    table: Option<Table>,
    model: Option<String>,
    vars: Option<Vec<String>>,
    y: Option<String>,
    sigma: Option<String>,
    sigma_x: Vec<String>,
    sets: Option<String>,
    shared: Vec<String>,
    ties: Vec<String>,
    p0: BTreeMap<String, String>,
    bounds: BTreeMap<String, String>,
    fix: BTreeMap<String, String>,
    loss: (String, f64),
    method: String,
    backend: String,
    /// `global-solver`: empty for auto.
    global_solver: String,
    last: Option<(FitArgs, Outcome)>,
    /// The last fit when it was a structured global fit (then `last` is None).
    last_global: Option<(FitArgs, crate::global::GlobalOutcome)>,
    /// What `ci`, `contour` and `band` computed for `last`, which `plot` draws with it.
    drawn: Drawn,
}

/// The profiles (the last `ci`), contours (each pair's last `contour`) and band level (the
/// last `band`) of the last fit: `plot` draws them as `jitfit fit --ci … --contour …
/// --band … --plot` does.
#[derive(Default)]
struct Drawn {
    profile: Option<jitfit::Profile>,
    contours: Vec<jitfit::Contour>,
    band: Option<jitfit::Level>,
}

impl Session {
    /// A new last fit: what was computed for the one before is dropped.
    fn set_last(&mut self, args: FitArgs, outcome: Outcome) {
        self.last = Some((args, outcome));
        self.last_global = None;
        self.drawn = Drawn::default();
    }
}

/// Words offered by tab completion: commands, column names, parameter names.
struct ReplHelper {
    words: Rc<RefCell<Vec<String>>>,
}

impl Completer for ReplHelper {
    type Candidate = Pair;

    fn complete(&self, line: &str, pos: usize, _ctx: &Context<'_>) -> rustyline::Result<(usize, Vec<Pair>)> {
        let start = line[..pos].rfind(|c: char| c.is_whitespace() || ",=(*+-/^".contains(c)).map_or(0, |i| i + 1);
        let prefix = &line[start..pos];
        let first_word = !line[..start].contains(|c: char| !c.is_whitespace());
        let mut candidates: Vec<Pair> = Vec::new();
        if first_word {
            for (c, _) in COMMANDS {
                if c.starts_with(prefix) {
                    candidates.push(Pair { display: c.to_string(), replacement: format!("{c} ") });
                }
            }
        } else {
            for w in self.words.borrow().iter() {
                if w.starts_with(prefix) {
                    candidates.push(Pair { display: w.clone(), replacement: w.clone() });
                }
            }
        }
        Ok((start, candidates))
    }
}

impl Hinter for ReplHelper {
    type Hint = String;
}
impl Highlighter for ReplHelper {}
impl Validator for ReplHelper {}
impl Helper for ReplHelper {}

pub fn run() -> anyhow::Result<i32> {
    let mut session =
        Session { loss: ("linear".into(), 1.0), method: "auto".into(), backend: "auto".into(), ..Default::default() };
    let words = Rc::new(RefCell::new(COMMANDS.iter().map(|(c, _)| c.to_string()).collect::<Vec<_>>()));
    if !std::io::stdin().is_terminal() {
        // A script: errors name their line, the session goes on, and the exit status says
        // whether any command failed (1), so `jitfit repl < script` can be checked.
        let mut failed = 0;
        // Lines as bytes: invalid UTF-8 in one line is that line's error, not the session's end.
        for (number, line) in std::io::stdin().lock().split(b'\n').enumerate() {
            let line = String::from_utf8_lossy(&line?).into_owned();
            match handle(&mut session, &line, Some(number + 1)) {
                Reply::Quit => break,
                Reply::Failed => failed += 1,
                Reply::Done => {}
            }
        }
        if failed > 0 {
            eprintln!("{failed} command{} of the script failed", if failed == 1 { "" } else { "s" });
            return Ok(1);
        }
        return Ok(0);
    }
    let mut editor: Editor<ReplHelper, DefaultHistory> = Editor::new()?;
    editor.set_helper(Some(ReplHelper { words: words.clone() }));
    let history = directories::ProjectDirs::from("", "", "jitfit").map(|d| d.data_dir().join("history.txt"));
    if let Some(h) = &history {
        let _ = editor.load_history(h);
    }
    outln!("jitfit {} — `help` lists the commands, Tab completes, Ctrl-D leaves.", env!("CARGO_PKG_VERSION"))?;
    loop {
        match editor.readline("jitfit> ") {
            Ok(line) => {
                let _ = editor.add_history_entry(line.as_str());
                if handle(&mut session, &line, None) == Reply::Quit {
                    break;
                }
                *words.borrow_mut() = completion_words(&session);
            }
            Err(ReadlineError::Interrupted) => continue,
            Err(ReadlineError::Eof) => break,
            Err(e) => return Err(e.into()),
        }
    }
    if let Some(h) = &history {
        if let Some(dir) = h.parent() {
            let _ = std::fs::create_dir_all(dir);
        }
        let _ = editor.save_history(h);
    }
    Ok(0)
}

fn completion_words(session: &Session) -> Vec<String> {
    let mut words: Vec<String> = COMMANDS.iter().map(|(c, _)| c.to_string()).collect();
    if let Some(t) = &session.table {
        words.extend(t.names.iter().cloned());
    }
    if let Some((_, outcome)) = &session.last {
        words.extend(outcome.fit.param_names.iter().cloned());
    }
    if let Some(m) = &session.model
        && let Ok(ast) = jitfit::syntax::parse(m)
    {
        words.extend(ast.names());
    }
    words.extend(jitfit::syntax::FUNCTIONS.iter().map(|(f, _)| f.to_string()));
    words.sort();
    words.dedup();
    words
}

#[derive(PartialEq)]
enum Reply {
    Quit,
    /// The command failed (its error is printed).
    Failed,
    Done,
}

/// Runs one line; errors are printed (with the script's line number, when there is one) and
/// the session goes on.
fn handle(session: &mut Session, line: &str, line_number: Option<usize>) -> Reply {
    let line = line.trim();
    if line.is_empty() || line.starts_with('#') {
        return Reply::Done;
    }
    let (command, rest) = line.split_once(char::is_whitespace).map_or((line, ""), |(c, r)| (c, r.trim()));
    if matches!(command, "quit" | "exit") {
        return Reply::Quit;
    }
    match command_line(session, command, rest) {
        Ok(()) => Reply::Done,
        // Nobody reads the output any more: the session ends.
        Err(e) if crate::is_broken_pipe(&e) => Reply::Quit,
        Err(e) => {
            // Keep the transcript in order when stdout and stderr go to the same place.
            let _ = std::io::Write::flush(&mut std::io::stdout());
            match line_number {
                Some(n) => eprintln!("line {n}: {}", crate::render_error(&e)),
                None => eprintln!("{}", crate::render_error(&e)),
            }
            Reply::Failed
        }
    }
}

fn set_pairs(map: &mut BTreeMap<String, String>, rest: &str, what: &str) -> anyhow::Result<()> {
    if rest == "clear" {
        map.clear();
        return Ok(());
    }
    let items: Vec<String> = rest.split(',').map(str::to_owned).collect();
    for (name, value) in parse_assignments(&items, what)? {
        map.insert(name, value);
    }
    Ok(())
}

/// The [[Tied]] section after a fit with `tie`s, as `jitfit fit --tie` prints it.
fn print_tied(args: &FitArgs, fit: &jitfit::Fit) -> anyhow::Result<()> {
    if args.tie.is_empty() {
        return Ok(());
    }
    let extras = crate::uncertainty::Extras { tied: crate::uncertainty::ties(args, fit)?, ..Default::default() };
    out!("{}", crate::uncertainty::text(fit, &extras))?;
    Ok(())
}

/// With `sets` and the structured solver: fits, prints the report, keeps it; false when the
/// fit is not one for the structured solver (no sets, or the dense rewrite chosen).
fn fit_global(session: &mut Session, args: FitArgs) -> anyhow::Result<bool> {
    if args.sets.is_none() {
        return Ok(false);
    }
    let (solver, why) = crate::global::solver(&args)?;
    if solver != crate::global::Solver::Structured {
        return Ok(false);
    }
    let table = session.table.as_ref().ok_or_else(|| anyhow!("no data yet: `load FILE`"))?;
    let outcome = crate::global::execute(&args, table, why)?;
    out!("{}", crate::global::text(&outcome, &args))?;
    session.last = None;
    session.last_global = Some((args, outcome));
    session.drawn = Drawn::default();
    Ok(true)
}

/// A structured global fit's values as `--p0` starts (the shared ones by name, the others per
/// set, `A_2=…`), except fixed and non-finite ones.
fn global_starts(session: &Session, last: &crate::global::GlobalOutcome) -> Vec<String> {
    let fixed: Vec<&str> = session.fix.keys().map(String::as_str).collect();
    last.parameters()
        .iter()
        .filter(|(_, k, j)| {
            !fixed.contains(&last.fit.sets[*k].param_names[*j].as_str()) && last.fit.sets[*k].values[*j].is_finite()
        })
        .map(|(name, k, j)| format!("{name}={:?}", last.fit.sets[*k].values[*j]))
        .collect()
}

fn fit_args(session: &Session) -> anyhow::Result<FitArgs> {
    let model = session.model.clone().ok_or_else(|| anyhow!("no model yet: `model a*exp(-b*x) + c`"))?;
    let data = session.data_path.clone().ok_or_else(|| anyhow!("no data yet: `load FILE`"))?;
    let mut args = FitArgs::new(model, data)?;
    args.vars = session.vars.clone();
    args.y = session.y.clone();
    args.sigma = session.sigma.clone();
    args.sigma_x = session.sigma_x.clone();
    args.sets = session.sets.clone();
    args.shared = session.shared.clone();
    args.tie = session.ties.clone();
    args.apply_ties()?;
    let pairs = |m: &BTreeMap<String, String>| m.iter().map(|(k, v)| format!("{k}={v}")).collect::<Vec<_>>();
    args.p0 = pairs(&session.p0);
    args.bounds = pairs(&session.bounds);
    args.fix = pairs(&session.fix);
    let (loss, f_scale) = session.loss.clone();
    args.f_scale = (loss != "linear").then_some(f_scale);
    args.loss = loss;
    args.method = session.method.clone();
    args.backend = session.backend.clone();
    if !session.global_solver.is_empty() {
        args.global_solver = session.global_solver.clone();
    }
    Ok(args)
}

fn command_line(session: &mut Session, command: &str, rest: &str) -> anyhow::Result<()> {
    match command {
        "help" => {
            for (_, text) in COMMANDS {
                outln!("  {text}")?;
            }
        }
        "load" => {
            if rest.is_empty() {
                bail!("load needs a file name");
            }
            let path = PathBuf::from(rest);
            let table = read_table(&path)?;
            outln!("{}: {} rows, columns {}", path.display(), table.n_rows(), table.names.join(", "))?;
            session.table = Some(table);
            session.data_path = Some(path);
        }
        "model" => {
            // Check it now so that a mistake is reported with its caret at once. Variables are
            // not known until the fit (they come from the data), so resolve with none.
            let ast = jitfit::syntax::parse(rest)?;
            let no_vars = jitfit::Names { vars: Vec::new(), params: None };
            if let Err(e) = jitfit::syntax::resolve(&ast, rest, &no_vars)
                && !matches!(e.kind, jitfit::syntax::SyntaxErrorKind::NoParameters)
            {
                return Err(e.into());
            }
            let names = ast.names();
            session.model = Some(rest.to_owned());
            outln!("model set; names: {}", names.join(", "))?;
        }
        "vars" => session.vars = Some(rest.split(',').map(|s| s.trim().to_owned()).collect()),
        "y" => session.y = Some(rest.to_owned()),
        "sigma" => session.sigma = Some(rest.to_owned()),
        "sigma-x" => session.sigma_x = rest.split(',').map(|s| s.trim().to_owned()).collect(),
        "sets" => session.sets = (rest != "none").then(|| rest.to_owned()),
        "global-solver" => {
            if !matches!(rest, "auto" | "structured" | "dense") {
                bail!("global-solver: `{rest}` is not one of auto, structured, dense");
            }
            session.global_solver = rest.to_owned();
        }
        "shared" => {
            session.shared =
                if rest == "none" { Vec::new() } else { rest.split(',').map(|s| s.trim().to_owned()).collect() }
        }
        "tie" => {
            if rest == "clear" {
                session.ties.clear();
            } else {
                session.ties.push(rest.to_owned());
            }
        }
        "p0" => set_pairs(&mut session.p0, rest, "p0")?,
        "bounds" => set_pairs(&mut session.bounds, rest, "bounds")?,
        "fix" => set_pairs(&mut session.fix, rest, "fix")?,
        "loss" => {
            let mut it = rest.split_whitespace();
            let name = it.next().unwrap_or("linear").to_owned();
            jitfit::solve::Loss::from_name(&name).ok_or_else(|| anyhow!("unknown loss `{name}`"))?;
            let f_scale = it.next().map(|v| parse_number(v, "f_scale")).transpose()?;
            if name == "linear" && f_scale.is_some() {
                bail!("loss linear takes no f_scale (it applies to a robust loss only)");
            }
            session.loss = (name, f_scale.unwrap_or(1.0));
        }
        "method" => {
            if !matches!(rest, "auto" | "trf" | "lm") {
                bail!("method: `{rest}` is not one of auto, trf, lm");
            }
            session.method = rest.to_owned();
        }
        "backend" => {
            if !matches!(rest, "auto" | "cpu" | "gpu") {
                bail!("backend: `{rest}` is not one of auto, cpu, gpu");
            }
            session.backend = rest.to_owned();
        }
        "fit" => {
            let args = fit_args(session)?;
            if fit_global(session, args.clone())? {
                return Ok(());
            }
            let table = session.table.as_ref().ok_or_else(|| anyhow!("no data yet: `load FILE`"))?;
            let outcome = execute(&args, table)?;
            out!("{}", report::text(&outcome.fit, &outcome.context(&args)))?;
            print_tied(&args, &outcome.fit)?;
            session.set_last(args, outcome);
        }
        "refit" => {
            // The last solution is the start for every parameter it has that is still free;
            // p0 (or 1) for the others — said, so the start is never a guess.
            if let Some((_, last)) = &session.last_global {
                // The last values as starts: the shared ones by name, the others per set (A_2=…).
                let mut args = fit_args(session)?;
                let from_last = global_starts(session, last);
                outln!("starting from the last fit: {}", from_last.join(", "))?;
                args.p0.extend(from_last);
                if !fit_global(session, args)? {
                    bail!("refit: the last fit was a structured global fit, and this one is not: `fit`");
                }
                return Ok(());
            }
            let (_, last) = session.last.as_ref().ok_or_else(|| anyhow!("nothing fitted yet: `fit`"))?;
            let mut args = fit_args(session)?;
            let fixed: Vec<&str> = session.fix.keys().map(String::as_str).collect();
            let from_last: Vec<String> = last
                .fit
                .param_names
                .iter()
                .zip(&last.fit.values)
                .filter(|(name, value)| !fixed.contains(&name.as_str()) && value.is_finite())
                .map(|(name, value)| format!("{name}={value:?}"))
                .collect();
            let table = session.table.as_ref().ok_or_else(|| anyhow!("no data yet: `load FILE`"))?;
            // Names the model no longer has are dropped (a refit after `model` changed it).
            let model_names = jitfit::syntax::parse(&args.model)?.rhs_names();
            let from_last: Vec<String> = from_last
                .into_iter()
                .filter(|p| model_names.iter().any(|n| Some(n.as_str()) == p.split('=').next()))
                .collect();
            let names: Vec<&str> = from_last.iter().filter_map(|p| p.split('=').next()).collect();
            let kept: Vec<String> =
                args.p0.iter().filter(|p| !names.contains(&p.split('=').next().unwrap_or(""))).cloned().collect();
            outln!("starting from the last fit: {}", from_last.join(", "))?;
            args.p0 = kept.into_iter().chain(from_last).collect();
            let outcome = execute(&args, table)?;
            out!("{}", report::text(&outcome.fit, &outcome.context(&args)))?;
            print_tied(&args, &outcome.fit)?;
            session.set_last(args, outcome);
        }
        "report" | "json" if session.last_global.is_some() => {
            let (args, outcome) = session.last_global.as_ref().expect("checked");
            match command {
                "report" => out!("{}", crate::global::text(outcome, args))?,
                _ => outln!("{}", serde_json::to_string_pretty(&crate::global::json(outcome, args))?)?,
            }
        }
        "plot" if session.last_global.is_some() => {
            let (_, outcome) = session.last_global.as_ref().expect("checked");
            if rest.is_empty() {
                bail!("plot needs a file name, e.g. `plot fit.svg`");
            }
            outcome.write_plot(std::path::Path::new(rest), &crate::plot::PlotOptions::default())?;
            outln!("wrote {rest}")?;
        }
        "ci" | "derive" | "band" | "contour" if session.last_global.is_some() => {
            // These work on one model: the sets written as one (the dense rewrite, as `jitfit
            // fit --sets … --ci` takes), fitted again from the structured fit's values — said,
            // with both χ² — and then as after any fit (`report` shows the dense one from now).
            let (global_args, last) = session.last_global.as_ref().expect("checked");
            let mut args = global_args.clone();
            args.global_solver = "dense".into();
            crate::global::solver(&args).with_context(|| format!("{command} after a structured global fit"))?;
            args.p0.extend(global_starts(session, last));
            let structured_chi2 = last.fit.chi2;
            let table = session.table.as_ref().ok_or_else(|| anyhow!("no data yet: `load FILE`"))?;
            let outcome = execute(&args, table)?;
            outln!(
                "{command}: on the sets written as one model (the dense rewrite), fitted again from the structured fit's values: chi-square {} (structured {}){}",
                crate::format::num(outcome.fit.chi2),
                crate::format::num(structured_chi2),
                if outcome.fit.status.converged() { String::new() } else { format!("; {}", outcome.fit.message) }
            )?;
            session.set_last(args, outcome);
            return command_line(session, command, rest);
        }
        "report" | "json" | "plot" => {
            let (args, outcome) = session.last.as_ref().ok_or_else(|| anyhow!("nothing fitted yet: `fit`"))?;
            match command {
                "report" => out!("{}", report::text(&outcome.fit, &outcome.context(args)))?,
                "json" => {
                    outln!("{}", serde_json::to_string_pretty(&report::json(&outcome.fit, &outcome.context(args)))?)?
                }
                _ => {
                    if rest.is_empty() {
                        bail!("plot needs a file name, e.g. `plot fit.svg`");
                    }
                    let drawn = &session.drawn;
                    let uncertainty =
                        crate::plot::Uncertainty { profile: drawn.profile.as_ref(), contours: &drawn.contours };
                    let options = crate::plot::PlotOptions { band: drawn.band, ..Default::default() };
                    outcome.write_plot(std::path::Path::new(rest), &options, uncertainty)?;
                    outln!("wrote {rest}")?;
                }
            }
        }
        "ci" | "derive" | "band" | "contour" => {
            let (args, outcome) = session.last.as_ref().ok_or_else(|| anyhow!("nothing fitted yet: `fit`"))?;
            let fit = &outcome.fit;
            let mut extras = crate::uncertainty::Extras::default();
            let level = |text: &str| jitfit::Level::parse(text).map_err(|e| anyhow!("{command}: {e}"));
            match command {
                "ci" => {
                    crate::uncertainty::likelihood_loss(&args.loss, "ci: profile intervals")?;
                    let levels = rest.split(',').map(level).collect::<anyhow::Result<Vec<_>>>()?;
                    extras.profile = Some(fit.profile(&levels)?);
                }
                "derive" => extras.derived.push(fit.derive_definition(rest)?),
                "contour" => {
                    // `a,b`, `a, b`, then the level if any.
                    let Some((a, rest)) = rest.split_once(',') else {
                        bail!("contour: name two parameters, e.g. `contour a,b` (and a level: `contour a,b 2`)");
                    };
                    let (b, at) = rest.trim().split_once(char::is_whitespace).unwrap_or((rest.trim(), ""));
                    crate::uncertainty::likelihood_loss(&args.loss, "contour: confidence regions")?;
                    let at = level(if at.trim().is_empty() { "1" } else { at.trim() })?;
                    extras.contours.push(fit.contour(a.trim(), b, at, crate::uncertainty::CONTOUR_POINTS)?);
                }
                _ => {
                    let at = level(if rest.is_empty() { "1" } else { rest })?;
                    extras.bands = Some(fit.bands(&outcome.data, at)?);
                    session.drawn.band = Some(at);
                }
            }
            out!("{}", crate::uncertainty::text(fit, &extras))?;
            // Kept for `plot`: the last profile, each pair's last contour (a,b or b,a).
            if let Some(profile) = extras.profile {
                session.drawn.profile = Some(profile);
            }
            for contour in extras.contours {
                let pair = |c: &jitfit::Contour| {
                    let mut names = [c.x.clone(), c.y.clone()];
                    names.sort();
                    names
                };
                session.drawn.contours.retain(|c| pair(c) != pair(&contour));
                session.drawn.contours.push(contour);
            }
        }
        "eval" => {
            let (expr, at) = rest.split_once(" at ").map_or((rest, ""), |(e, a)| (e, a));
            let ast = jitfit::syntax::parse(expr)?;
            let mut values = std::collections::HashMap::new();
            if let Some((_, outcome)) = &session.last {
                for (name, value) in outcome.fit.param_names.iter().zip(&outcome.fit.values) {
                    values.insert(name.clone(), *value);
                }
            }
            let items: Vec<String> = at.split(',').map(str::to_owned).collect();
            for (name, value) in parse_assignments(&items, "eval")? {
                values.insert(name.clone(), parse_number(&value, &format!("eval {name}"))?);
            }
            let missing: Vec<String> =
                ast.names().into_iter().filter(|n| !values.contains_key(n) && n != "pi").collect();
            if !missing.is_empty() {
                bail!("no value for {}: give one with `at {}=...`", missing.join(", "), missing[0]);
            }
            let value = jitfit::syntax::eval_ast(&ast, &values).ok_or_else(|| anyhow!("cannot evaluate `{expr}`"))?;
            outln!("{value}")?;
        }
        "explain" => {
            let model = session.model.clone().ok_or_else(|| anyhow!("no model yet"))?;
            let vars = match (&session.vars, &session.table) {
                (Some(v), _) => v.iter().map(|s| s.split('=').next().unwrap_or(s).to_owned()).collect(),
                (None, Some(t)) => {
                    let ast = jitfit::syntax::parse(&model)?;
                    ast.names()
                        .into_iter()
                        .filter(|n| t.column(n).is_some() && Some(n) != session.y.as_ref() && n != "y")
                        .collect()
                }
                _ => vec!["x".to_owned()],
            };
            crate::explain::run(&crate::explain::ExplainArgs::new(model, vars))?;
        }
        "show" => {
            outln!("data    {}", session.data_path.as_ref().map_or("none".into(), |p| p.display().to_string()))?;
            outln!("model   {}", session.model.as_deref().unwrap_or("none"))?;
            let pairs =
                |m: &BTreeMap<String, String>| m.iter().map(|(k, v)| format!("{k}={v}")).collect::<Vec<_>>().join(", ");
            outln!("p0      {}", pairs(&session.p0))?;
            outln!("bounds  {}", pairs(&session.bounds))?;
            outln!("fix     {}", pairs(&session.fix))?;
            outln!(
                "loss    {} (f_scale {}), method {}, backend {}",
                session.loss.0,
                session.loss.1,
                session.method,
                session.backend
            )?;
        }
        "cache" => crate::cache::run(&crate::cache::CacheCommand::Stats)?,
        other => {
            // The first two characters (not bytes: `€x` must not split a character).
            let start: String = other.chars().take(2).collect();
            let close = COMMANDS.iter().map(|(c, _)| *c).find(|c| c.starts_with(&start));
            match close {
                Some(c) => bail!("unknown command `{other}` (did you mean `{c}`? `help` lists them)"),
                None => bail!("unknown command `{other}` (`help` lists them)"),
            }
        }
    }
    Ok(())
}
