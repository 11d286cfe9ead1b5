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

/// Every node's value, in arena order (NaN inside the definitions of functions, whose bodies
/// are evaluated at each call).
fn eval_nodes(ast: &Ast, values: &HashMap<String, f64>) -> Option<Vec<f64>> {
    let mut functions: HashMap<&str, Definition> = HashMap::new();
    let mut inside: Vec<(usize, usize)> = Vec::new();
    for s in ast.helper_statements() {
        let Some(lhs) = s.lhs else { continue };
        let AstKind::Call { name, args, .. } = &ast.node(lhs).kind else { continue };
        let names = args
            .iter()
            .map(|a| match &ast.node(*a).kind {
                AstKind::Name(n) => Some(n.clone()),
                _ => None,
            })
            .collect::<Option<Vec<String>>>()?;
        let first = args.iter().map(|a| a.index()).min().unwrap_or(lhs.index());
        inside.push((first, s.rhs.index()));
        functions.insert(name.as_str(), Definition { first: lhs.index() + 1, body: s.rhs.index(), args: names });
    }
    let mut evaluator = Evaluator { ast, functions, memo: HashMap::new(), depth: 0 };
    let mut scope = values.clone();
    let mut computed: Vec<f64> = Vec::with_capacity(ast.nodes.len());
    for i in 0..ast.nodes.len() {
        if inside.iter().any(|(a, b)| (*a..=*b).contains(&i)) {
            computed.push(f64::NAN);
            continue;
        }
        let v = evaluator.node(i, &computed, 0, &scope, None)?;
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

/// A function the text defines: its body's nodes `first..=body` and its arguments.
struct Definition {
    first: usize,
    body: usize,
    args: Vec<String>,
}

/// Calls nested deeper than this are not evaluated (the resolver refuses them too).
const MAX_DEPTH: usize = 64;

/// Evaluates nodes of one text; calls of its functions (and the library's) are remembered by
/// their argument values, as the resolver shares identical calls, so a chain of calls costs
/// what its distinct calls do.
struct Evaluator<'a> {
    ast: &'a Ast,
    functions: HashMap<&'a str, Definition>,
    memo: HashMap<(String, Vec<u64>), f64>,
    depth: usize,
}

impl Evaluator<'_> {
    /// The value of node `i`: its operands in `computed` (indexed from `base`); names from
    /// `locals` (a function's arguments), then `globals` (the model's names and helpers).
    fn node(
        &mut self,
        i: usize,
        computed: &[f64],
        base: usize,
        globals: &HashMap<String, f64>,
        locals: Option<&HashMap<String, f64>>,
    ) -> Option<f64> {
        let at = |a: &super::ast::AstId| computed[a.index() - base];
        Some(match &self.ast.nodes[i].kind {
            AstKind::Number(v) => *v,
            AstKind::Name(name) => match locals.and_then(|l| l.get(name)).or_else(|| globals.get(name)) {
                Some(v) => *v,
                None => lookup_constant(name).unwrap_or(f64::NAN),
            },
            AstKind::Neg(a) => -at(a),
            AstKind::Binary(op, a, b) => op.eval(at(a), at(b)),
            AstKind::Call { name, args, .. } => {
                let values: Vec<f64> = args.iter().map(at).collect();
                // A function defined above this call (as the resolver registers them in order).
                if let Some(definition) = self.functions.get(name.as_str())
                    && definition.body < i
                {
                    if definition.args.len() != values.len() {
                        return None;
                    }
                    let (first, body) = (definition.first, definition.body);
                    let bound: HashMap<String, f64> =
                        definition.args.iter().cloned().zip(values.iter().copied()).collect();
                    return self.call(name, &values, |this| {
                        let mut inner = Vec::with_capacity(body + 1 - first);
                        for j in first..=body {
                            let v = this.node(j, &inner, first, globals, Some(&bound))?;
                            inner.push(v);
                        }
                        inner.last().copied()
                    });
                }
                if lookup_function(name).is_none()
                    && let Some(parsed) = super::library::lookup(name)
                {
                    // A library function: its own parsed body, with only its arguments bound.
                    if parsed.function.args.len() != values.len() {
                        return None;
                    }
                    let bound: HashMap<String, f64> =
                        parsed.function.args.iter().map(|a| a.to_string()).zip(values.iter().copied()).collect();
                    let key = format!("library {name}");
                    return self.call(&key, &values, |this| {
                        let mut library = Evaluator {
                            ast: &parsed.ast,
                            functions: HashMap::new(),
                            memo: HashMap::new(),
                            depth: this.depth,
                        };
                        let empty = HashMap::new();
                        let mut inner = Vec::with_capacity(parsed.ast.nodes.len());
                        for j in 0..=parsed.ast.model_statement().rhs.index() {
                            let v = library.node(j, &inner, 0, &empty, Some(&bound))?;
                            inner.push(v);
                        }
                        inner.last().copied()
                    });
                }
                match (lookup_function(name)?, values.as_slice()) {
                    (Function::Unary(op), [a]) => op.eval(*a),
                    (Function::Binary(op), [a, b]) => op.eval(*a, *b),
                    _ => return None,
                }
            }
        })
    }

    /// A call, remembered by its arguments' bits.
    fn call(&mut self, name: &str, values: &[f64], body: impl FnOnce(&mut Self) -> Option<f64>) -> Option<f64> {
        let key = (name.to_owned(), values.iter().map(|v| v.to_bits()).collect());
        if let Some(v) = self.memo.get(&key) {
            return Some(*v);
        }
        if self.depth >= MAX_DEPTH {
            return None;
        }
        self.depth += 1;
        let v = body(self);
        self.depth -= 1;
        let v = v?;
        self.memo.insert(key, v);
        Some(v)
    }
}
