//! Direct evaluation of the syntax tree, by name, at one point.
//!
//! This is the meaning of the text as written, independent of name resolution, the symbolic
//! layer, egg and the IR. Tests compare every later stage against it.

use super::ast::{Ast, AstKind};
use super::functions::{Function, lookup_constant, lookup_function};
use std::collections::HashMap;

/// Evaluates the model's right side with `values` giving each variable, parameter and the
/// response by name. Returns `None` if a name has no value or a call is malformed (a model
/// that resolves never does that).
pub fn eval_ast(ast: &Ast, values: &HashMap<String, f64>) -> Option<f64> {
    Some(eval_nodes(ast, values)?[ast.model_statement().rhs.index()])
}

/// The transformed response t(y) of a left side like `log[y]` (with the response's value in
/// `values` by name); `None` when the left side is absent or a bare name (t(y) = y).
pub fn eval_response_transform(ast: &Ast, values: &HashMap<String, f64>) -> Option<f64> {
    let lhs = ast.model_statement().lhs?;
    if matches!(ast.node(lhs).kind, AstKind::Name(_)) {
        return None;
    }
    Some(eval_nodes(ast, values)?[lhs.index()])
}

/// Every node's value, in arena order.
fn eval_nodes(ast: &Ast, values: &HashMap<String, f64>) -> Option<Vec<f64>> {
    let mut scope = values.clone();
    let mut computed: Vec<f64> = Vec::with_capacity(ast.nodes.len());
    for (i, node) in ast.nodes.iter().enumerate() {
        let v = match &node.kind {
            AstKind::Number(v) => *v,
            AstKind::Name(name) => match scope.get(name) {
                Some(v) => *v,
                None => lookup_constant(name).unwrap_or(f64::NAN),
            },
            AstKind::Neg(a) => -computed[a.index()],
            AstKind::Binary(op, a, b) => op.eval(computed[a.index()], computed[b.index()]),
            AstKind::Call { name, args, .. } => match (lookup_function(name)?, args.as_slice()) {
                (Function::Unary(op), [a]) => op.eval(computed[a.index()]),
                (Function::Binary(op), [a, b]) => op.eval(computed[a.index()], computed[b.index()]),
                _ => return None,
            },
        };
        computed.push(v);
        // A helper's value is known once its right side is done.
        for statement in ast.helper_statements() {
            if statement.rhs.index() == i
                && let Some(AstKind::Name(name)) = statement.lhs.map(|l| &ast.node(l).kind)
            {
                scope.insert(name.clone(), v);
            }
        }
    }
    Some(computed)
}
