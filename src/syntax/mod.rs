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
pub mod library;
mod parser;
mod resolve;

pub use ast::{Ast, AstId, AstKind, AstNode, Span, Statement};
pub use error::{SyntaxError, SyntaxErrorKind, render};
pub use eval::{eval_ast, eval_response_transform};
pub use functions::{CONSTANTS, FUNCTIONS, Function, LANGUAGE_VERSION, lookup_function, suggest_function};
pub use parser::{MAX_NESTING, MAX_SOURCE_BYTES, parse};
pub use resolve::{Names, Resolved, resolve, resolve_expression};
