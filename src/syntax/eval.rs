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
    let functions: HashMap<&str, (usize, usize, Vec<String>)> = ast
        .helper_statements()
        .iter()
        .filter_map(|s| {
            let lhs = s.lhs?;
            let AstKind::Call { name, args, .. } = &ast.node(lhs).kind else { return None };
            let names = args
                .iter()
                .map(|a| match &ast.node(*a).kind {
                    AstKind::Name(n) => Some(n.clone()),
                    _ => None,
                })
                .collect::<Option<Vec<String>>>()?;
            Some((name.as_str(), (lhs.index() + 1, s.rhs.index(), names)))
        })
        .collect();
    let mut scope = values.clone();
    let mut computed: Vec<f64> = Vec::with_capacity(ast.nodes.len());
    for i in 0..ast.nodes.len() {
        let v = eval_node(ast, i, &computed, &scope, &functions, 0)?;
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

type Functions<'a> = HashMap<&'a str, (usize, usize, Vec<String>)>;

/// The value of node `i`, its operands in `computed` (indexed from `base`).
fn eval_node(
    ast: &Ast,
    i: usize,
    computed: &[f64],
    scope: &HashMap<String, f64>,
    functions: &Functions<'_>,
    base: usize,
) -> Option<f64> {
    let at = |a: &super::ast::AstId| computed[a.index() - base];
    Some(match &ast.nodes[i].kind {
        AstKind::Number(v) => *v,
        AstKind::Name(name) => match scope.get(name) {
            Some(v) => *v,
            None => lookup_constant(name).unwrap_or(f64::NAN),
        },
        AstKind::Neg(a) => -at(a),
        AstKind::Binary(op, a, b) => op.eval(at(a), at(b)),
        AstKind::Call { name, args, .. } => {
            if let Some((first, body, names)) = functions.get(name.as_str()) {
                // A defined function: its body with the arguments bound.
                if names.len() != args.len() || base > 0 && *first >= base {
                    return None;
                }
                let mut inner = scope.clone();
                for (n, a) in names.iter().zip(args) {
                    inner.insert(n.clone(), at(a));
                }
                let mut values = Vec::with_capacity(body + 1 - first);
                for j in *first..=*body {
                    let v = eval_node(ast, j, &values, &inner, functions, *first)?;
                    values.push(v);
                }
                return values.last().copied();
            }
            if lookup_function(name).is_none()
                && let Some(parsed) = super::library::lookup(name)
            {
                // A library function: its own parsed body, with only its arguments bound.
                if parsed.function.args.len() != args.len() {
                    return None;
                }
                let inner: HashMap<String, f64> =
                    parsed.function.args.iter().map(|a| a.to_string()).zip(args.iter().map(at)).collect();
                let body = &parsed.ast;
                let mut values = Vec::with_capacity(body.nodes.len());
                for j in 0..=body.model_statement().rhs.index() {
                    let v = eval_node(body, j, &values, &inner, &HashMap::new(), 0)?;
                    values.push(v);
                }
                return values.last().copied();
            }
            match (lookup_function(name)?, args.as_slice()) {
                (Function::Unary(op), [a]) => op.eval(at(a)),
                (Function::Binary(op), [a, b]) => op.eval(at(a), at(b)),
                _ => return None,
            }
        }
    })
}
