//! The façade: `Model::parse(text)` runs the whole front of the pipeline — parse, resolve,
//! differentiate, simplify, lower — and keeps the kernel IR with what each stage cost.

use crate::ir::{self, VerifiedKernel, VerifyError};
use crate::ops::{BinaryOp, UnaryOp, VarId};
use crate::symbolic::{self, Graph, Node, Roots, SimplifyLimits, SimplifyReport};
use crate::syntax::{self, Names, SyntaxError};
use std::time::{Duration, Instant};

/// Why a model could not be built: its text, its kernel's verification, or code generation.
/// Each variant displays exactly its stage's error and has no `source()` of its own, so an
/// error-chain printer (anyhow's `{:#}`) shows it once; syntax errors render their caret.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ModelError {
    /// The model text is malformed or names things wrongly; renders with a caret.
    #[error(transparent)]
    Syntax(#[from] SyntaxError),
    /// A backend refused a call or failed to generate code.
    #[error(transparent)]
    Backend(#[from] crate::backend::BackendError),
    /// The lowered kernel failed verification: a bug in jitfit, or a model larger than
    /// [`ir::MAX_INSTRUCTIONS`].
    #[error("the model's kernel IR is invalid: {0}")]
    Verify(VerifyError),
    /// The model's derivatives would be larger than any kernel can be.
    #[error(transparent)]
    TooLarge(#[from] symbolic::TooLarge),
}

impl From<VerifyError> for ModelError {
    fn from(e: VerifyError) -> Self {
        ModelError::Verify(e)
    }
}

/// Time spent in each stage of building a model's kernel.
#[derive(Clone, Debug, Default)]
pub struct StageTimes {
    pub parse: Duration,
    pub resolve: Duration,
    pub differentiate: Duration,
    pub simplify: Duration,
    pub lower: Duration,
}

impl StageTimes {
    pub fn total(&self) -> Duration {
        self.parse + self.resolve + self.differentiate + self.simplify + self.lower
    }
}

/// A parsed, differentiated, simplified model, ready for a backend.
#[derive(Clone, Debug)]
pub struct Model {
    source: String,
    /// The text the model's identity is computed from ([`syntax::Ast::canonical_text`]).
    canonical: String,
    options: ModelOptions,
    vars: Vec<String>,
    params: Vec<String>,
    helpers: Vec<String>,
    response_name: Option<String>,
    graph: Graph,
    roots: Roots,
    kernel: VerifiedKernel,
    times: StageTimes,
    simplify_report: SimplifyReport,
}

/// How to build a model.
#[derive(Clone, Debug, Default)]
pub struct ModelOptions {
    pub names: Names,
    pub simplify: SimplifyLimits,
}

impl Model {
    /// Parses a model with one variable, `x`, and every other free name a parameter.
    pub fn parse(source: &str) -> Result<Model, ModelError> {
        Model::parse_with(source, &ModelOptions::default())
    }

    /// Parses a model with the given variables (in data-column order).
    pub fn parse_with_vars<S: AsRef<str>>(source: &str, vars: &[S]) -> Result<Model, ModelError> {
        let names = Names { vars: vars.iter().map(|v| v.as_ref().to_owned()).collect(), params: None };
        Model::parse_with(source, &ModelOptions { names, ..Default::default() })
    }

    /// Parses a model with explicit options.
    pub fn parse_with(source: &str, options: &ModelOptions) -> Result<Model, ModelError> {
        let t = Instant::now();
        let ast = syntax::parse(source)?;
        let parse_time = t.elapsed();
        let mut model = Model::from_ast(source, &ast, options)?;
        model.times.parse = parse_time;
        Ok(model)
    }

    /// Builds a model from text already parsed (`ast` must be `syntax::parse(source)`): the
    /// cache parses once to compute the key, then builds from the same tree on a miss.
    pub fn from_ast(source: &str, ast: &syntax::Ast, options: &ModelOptions) -> Result<Model, ModelError> {
        let mut times = StageTimes::default();
        let t = Instant::now();
        let resolved = syntax::resolve(ast, source, &options.names)?;
        times.resolve = t.elapsed();

        let t = Instant::now();
        let mut graph = resolved.graph;
        let derivatives = symbolic::differentiate(&mut graph, resolved.value, resolved.params.len())?;
        let roots = Roots { value: resolved.value, derivatives, response: resolved.response_transform };
        times.differentiate = t.elapsed();

        let t = Instant::now();
        let (graph, roots, simplify_report) = symbolic::simplify(&graph, &roots, &options.simplify);
        times.simplify = t.elapsed();

        let t = Instant::now();
        let kernel = ir::lower(&graph, &roots, &resolved.vars, &resolved.params)?;
        times.lower = t.elapsed();

        Ok(Model {
            source: source.to_owned(),
            canonical: ast.canonical_text(),
            options: options.clone(),
            vars: resolved.vars,
            params: resolved.params,
            helpers: resolved.helpers,
            response_name: resolved.response_name,
            graph,
            roots,
            kernel,
            times,
            simplify_report,
        })
    }

    /// The effective-variance residual of this model when its variables `x_vars` carry
    /// uncertainties σ_k as well as y (errors in x):
    ///
    /// g = (f − y) / √(σ_y² + Σ_k (∂f/∂x_k · σ_k)²),
    ///
    /// a model of this model's variables followed by `extra` — the names of the columns of y,
    /// σ_y and each σ_k, in that order — and of the same parameters, to be fitted to a response
    /// of zeros. ∂f/∂x_k is exact (the symbolic engine differentiates by x_k as by a
    /// parameter) and so is g's Jacobian, the dependence of the denominator on the parameters
    /// included: least squares on g minimizes the effective-variance χ² itself, as ROOT's fit of
    /// a `TGraphErrors` does, not a fixed point of reweighted fits.
    pub fn effective_variance(&self, x_vars: &[String], extra: &[String]) -> Result<Model, ModelError> {
        let (n, m) = (self.params.len(), x_vars.len());
        assert_eq!(extra.len(), 2 + m, "extra names: y, σ_y and one σ per variable with errors");
        let mut times = StageTimes::default();
        let t = Instant::now();
        let ast = syntax::parse(&self.source)?;
        let others: Vec<String> = self.vars.iter().filter(|v| !x_vars.contains(v)).cloned().collect();
        let params: Vec<String> = self.params.iter().chain(x_vars).cloned().collect();
        let names = Names { vars: others.clone(), params: Some(params) };
        let resolved = syntax::resolve(&ast, &self.source, &names)?;
        times.resolve = t.elapsed();

        let t = Instant::now();
        // f and ∂f/∂(p, x_k), with the x_k as parameters n, n+1, …
        let mut by_x = resolved.graph;
        let derivatives = symbolic::differentiate(&mut by_x, resolved.value, n + m)?;
        let last = derivatives.iter().copied().chain([resolved.value]).max().unwrap_or(resolved.value);
        // The same nodes with the x_k variables again, in this model's variable order.
        let var_index = |name: &str| self.vars.iter().position(|v| v == name).unwrap_or(usize::MAX) as u32;
        let mut graph = Graph::default();
        let map = graph.import(&by_x, last, |node| match node {
            Node::Var(v) => Node::Var(VarId(var_index(&others[v.index()]))),
            Node::Param(p) if p.index() >= n => Node::Var(VarId(var_index(&x_vars[p.index() - n]))),
            other => other,
        });
        let nv = self.vars.len() as u32;
        let y = graph.add(Node::Var(VarId(nv)));
        let sigma_y = graph.add(Node::Var(VarId(nv + 1)));
        let mut variance = graph.binary(BinaryOp::Mul, sigma_y, sigma_y);
        for k in 0..m {
            let sigma_x = graph.add(Node::Var(VarId(nv + 2 + k as u32)));
            let spread = graph.binary(BinaryOp::Mul, map[derivatives[n + k].index()], sigma_x);
            let square = graph.binary(BinaryOp::Mul, spread, spread);
            variance = graph.binary(BinaryOp::Add, variance, square);
        }
        let difference = graph.binary(BinaryOp::Sub, map[resolved.value.index()], y);
        let scale = graph.unary(UnaryOp::Sqrt, variance);
        let value = graph.binary(BinaryOp::Div, difference, scale);
        let derivatives = symbolic::differentiate(&mut graph, value, n)?;
        let roots = Roots { value, derivatives, response: None };
        times.differentiate = t.elapsed();

        let t = Instant::now();
        let (graph, roots, simplify_report) = symbolic::simplify(&graph, &roots, &self.options.simplify);
        times.simplify = t.elapsed();

        let t = Instant::now();
        let vars: Vec<String> = self.vars.iter().chain(extra).cloned().collect();
        let kernel = ir::lower(&graph, &roots, &vars, &self.params)?;
        times.lower = t.elapsed();
        let described = format!("effective variance of ({}) with errors in {}", self.source, x_vars.join(", "));
        let canonical = format!("effective-variance[{}]({})", x_vars.join(","), self.canonical);
        let options = ModelOptions {
            names: Names { vars: vars.clone(), params: Some(self.params.clone()) },
            simplify: self.options.simplify.clone(),
        };
        Ok(Model {
            source: described,
            canonical,
            options,
            vars,
            params: self.params.clone(),
            helpers: self.helpers.clone(),
            response_name: None,
            graph,
            roots,
            kernel,
            times,
            simplify_report,
        })
    }

    /// The model text as given.
    pub fn source(&self) -> &str {
        &self.source
    }

    /// The canonical text: fully parenthesized, without comments or spacing.
    pub fn canonical_text(&self) -> &str {
        &self.canonical
    }

    /// The options the model was built with.
    pub fn options(&self) -> &ModelOptions {
        &self.options
    }

    /// The independent variables, in data-column order.
    pub fn vars(&self) -> &[String] {
        &self.vars
    }

    /// The parameters, in order.
    pub fn params(&self) -> &[String] {
        &self.params
    }

    pub fn n_params(&self) -> usize {
        self.params.len()
    }

    /// The helper names the model defined.
    pub fn helpers(&self) -> &[String] {
        &self.helpers
    }

    /// The response's name, when the model has a left side.
    pub fn response_name(&self) -> Option<&str> {
        self.response_name.as_deref()
    }

    /// True when the left side transforms the response (`log[y] = ...`).
    pub fn transforms_response(&self) -> bool {
        self.roots.response.is_some()
    }

    /// The verified kernel IR.
    pub fn kernel(&self) -> &VerifiedKernel {
        &self.kernel
    }

    /// Time spent in each stage.
    pub fn times(&self) -> &StageTimes {
        &self.times
    }

    /// What egg did.
    pub fn simplify_report(&self) -> &SimplifyReport {
        &self.simplify_report
    }

    /// The simplified model value as text.
    pub fn value_text(&self) -> String {
        self.graph.to_text(self.roots.value, &self.vars, &self.params, "y")
    }

    /// The simplified ∂f/∂p_k as text, one per parameter.
    pub fn derivative_texts(&self) -> Vec<String> {
        // Each text walks the graph: many parameters over a large graph are seconds of work
        // for text nobody reads (1000 parameters over 500 000 nodes: 5 s).
        let n = self.roots.derivatives.len();
        if n.saturating_mul(self.graph.len()) > 20_000_000 {
            return vec![format!("(not shown: {n} derivatives over a graph of {} nodes)", self.graph.len()); n];
        }
        self.roots.derivatives.iter().map(|d| self.graph.to_text(*d, &self.vars, &self.params, "y")).collect()
    }

    /// The transformed response t(y) as text, if any.
    pub fn response_text(&self) -> Option<String> {
        let name = self.response_name.as_deref().unwrap_or("y");
        self.roots.response.map(|r| self.graph.to_text(r, &self.vars, &self.params, name))
    }
}

/// Evaluates the right side of an expression of named data columns, without parameters —
/// a σ computed from the data (`sqrt(counts)`, `0.02*y`, `0.1`) — row by row with the
/// reference interpreter. Every name it uses must be one of `columns` (or a constant such as
/// `pi`); the columns must be `rows` long.
pub fn evaluate_columns(source: &str, columns: &[(&str, &[f64])], rows: usize) -> Result<Vec<f64>, ModelError> {
    let ast = syntax::parse(source)?;
    let used: Vec<String> = ast.rhs_names();
    let vars: Vec<String> = used.iter().filter(|n| columns.iter().any(|(c, _)| c == *n)).cloned().collect();
    let resolved = syntax::resolve_expression(&ast, source, &vars)?;
    let roots = Roots { value: resolved.value, derivatives: Vec::new(), response: None };
    let kernel = ir::lower(&resolved.graph, &roots, &vars, &[])?;
    let data: Vec<&[f64]> =
        vars.iter().map(|v| columns.iter().find(|(c, _)| c == v).map_or(&[][..], |(_, values)| *values)).collect();
    if vars.is_empty() {
        // A constant: the interpreter needs a column to count the rows by.
        let value = crate::ir::Interpreter::new(&kernel).eval_point(&[], f64::NAN, &[])[kernel.outputs.value.index()];
        return Ok(vec![value; rows]);
    }
    Ok(crate::ir::Interpreter::new(&kernel).eval_batch(&data, None, &[]).value)
}
