//! Model text → syntax tree → resolved symbolic graph.
//!
//! [`parse`] turns text into an [`Ast`] that keeps byte spans; [`resolve`] decides what each
//! name is and builds the symbolic [`Graph`](crate::symbolic::Graph). Every error is a
//! [`SyntaxError`] that renders the model with a caret under the fault. This layer knows
//! nothing of egg, the IR or any backend.

mod ast;
mod error;
mod eval;
mod functions;
mod global;
pub mod library;
mod parser;
mod resolve;

pub use ast::{Ast, AstId, AstKind, AstNode, Span, Statement};
pub use error::{SyntaxError, SyntaxErrorKind, render};
pub use eval::{eval_ast, eval_response_transform};
pub use functions::{
    CONSTANTS, FUNCTIONS, Function, LANGUAGE_VERSION, lookup_constant, lookup_function, suggest_function,
};
pub use global::{GlobalModel, global_model};
pub use parser::{MAX_NESTING, MAX_SOURCE_BYTES, parse};
pub use resolve::{Names, Resolved, resolve, resolve_expression};

/// The model with parameters tied (lmfit's `expr`): each tie `NAME = EXPRESSION` (e.g.
/// `w2 = w1`, `m3 = m2 + 5`) becomes a helper before the model, so `NAME` is no longer a
/// parameter but that expression of the others. `NAME` must be a name of the model; a tie is
/// given once, to the fitted parameters (not to a constant — that is a fixed value — nor to
/// another tie or a helper).
pub fn tie(source: &str, ties: &[String]) -> Result<String, String> {
    let ast = parse(source).map_err(|e| format!("{e}"))?;
    let names = ast.rhs_names();
    let mut tied: Vec<String> = Vec::new();
    let mut text = String::new();
    for tie in ties {
        let form = || format!("--tie `{tie}`: write NAME = EXPRESSION of the parameters, e.g. `w2 = w1`");
        let parsed = parse(tie).map_err(|e| format!("{e}\n{}", form()))?;
        let [statement] = parsed.statements.as_slice() else { return Err(form()) };
        let Some(AstKind::Name(name)) = statement.lhs.map(|l| &parsed.node(l).kind) else { return Err(form()) };
        if !names.contains(name) {
            return Err(format!("--tie `{tie}`: `{name}` is not a name of the model (names: {})", names.join(", ")));
        }
        if tied.contains(name) {
            return Err(format!("--tie: `{name}` is tied twice"));
        }
        let lhs = statement.lhs.expect("matched above").index();
        let uses_itself = parsed.nodes[lhs + 1..=statement.rhs.index()]
            .iter()
            .any(|n| matches!(&n.kind, AstKind::Name(other) if other == name));
        if uses_itself {
            return Err(format!("--tie `{tie}`: `{name}` cannot be tied to itself"));
        }
        tied.push(name.clone());
        let uses: Vec<String> = parsed.nodes[lhs + 1..=statement.rhs.index()]
            .iter()
            .filter_map(|n| match &n.kind {
                AstKind::Name(other) if lookup_constant(other).is_none() => Some(other.clone()),
                _ => None,
            })
            .collect();
        if uses.is_empty() {
            return Err(format!("--tie `{tie}`: a tie to a constant holds `{name}` fixed: say --fix {name}=VALUE"));
        }
        let defined = ast.helper_names();
        if let Some(other) = uses.iter().find(|u| ties_name(ties, u) || defined.contains(u)) {
            return Err(format!(
                "--tie `{tie}`: `{other}` is tied or a helper: tie to the fitted parameters themselves"
            ));
        }
        let span = parsed.node(statement.rhs).span;
        text += &format!("{name} = {};\n", &tie[span.start..span.end]);
    }
    Ok(text + source)
}

/// The name a `--tie 'NAME = EXPRESSION'` ties (unchecked: [`tie`] checks the form).
pub fn tie_target(tie: &str) -> Option<&str> {
    tie.split_once('=').map(|(name, _)| name.trim())
}

/// True when `name` is tied by one of `ties`.
fn ties_name(ties: &[String], name: &str) -> bool {
    ties.iter().any(|t| tie_target(t) == Some(name))
}
