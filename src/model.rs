//! The façade: `Model::parse(text)` runs the whole front of the pipeline — parse, resolve,
//! differentiate, simplify, lower — and keeps the kernel IR with what each stage cost.

use crate::ir::{self, VerifiedKernel, VerifyError};
use crate::symbolic::{self, Graph, Roots, SimplifyLimits, SimplifyReport};
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
