//! Name resolution: [`Ast`] → symbolic [`Graph`]. Decides what every name is (variable,
//! parameter, helper, response, constant or function), inlines helpers (as shared DAG nodes,
//! so nothing is copied) and functions the model defines (`G(x, A, m, w) = …`: the body is
//! resolved at each call with its arguments bound to the call's nodes — identical calls
//! give the same nodes), and reports every naming mistake with its span.

use super::ast::{Ast, AstId, AstKind, Span, Statement};
use super::error::{SyntaxError, SyntaxErrorKind as Kind};
use super::functions::{Function, lookup_constant, lookup_function, suggest_function};
use super::library::{self, Parsed};
use crate::ops::{BinaryOp, ParamId, UnaryOp, VarId};
use crate::symbolic::{Graph, Node, NodeId};
use std::collections::HashMap;

/// What the caller says about names.
#[derive(Clone, Debug)]
pub struct Names {
    /// The independent variables, in the order their data columns will come.
    pub vars: Vec<String>,
    /// The parameters in the caller's order; `None` takes every free name, in order of first
    /// appearance.
    pub params: Option<Vec<String>>,
}

impl Default for Names {
    fn default() -> Self {
        Names { vars: vec!["x".to_owned()], params: None }
    }
}

/// A model with every name resolved.
#[derive(Clone, Debug)]
pub struct Resolved {
    pub graph: Graph,
    /// The model value f.
    pub value: NodeId,
    /// The response's name when the model has a left side (`y = ...`, `log[y] = ...`).
    pub response_name: Option<String>,
    /// The transformed response t(y) when the left side is more than a name.
    pub response_transform: Option<NodeId>,
    pub vars: Vec<String>,
    pub params: Vec<String>,
    /// Helper names, in definition order.
    pub helpers: Vec<String>,
}

struct Helper {
    node: NodeId,
    name_span: Span,
    used: bool,
}

/// A function the model defines: `name(args) = body`.
struct UserFunction {
    args: Vec<String>,
    /// The body's nodes are `first..=body` in the arena.
    first: usize,
    body: AstId,
    name_span: Span,
    used: bool,
    /// Its place among the functions: a body may call only functions defined before it.
    order: usize,
}

/// While a function's body is resolved: its arguments' nodes, and the functions it may call.
struct Frame {
    bindings: HashMap<String, NodeId>,
    order: usize,
    /// A library function's body: only its arguments, constants and functions of the
    /// language or the library are visible.
    library: bool,
}

/// Calls to functions nested deeper than this are refused (each level is a Rust frame).
pub const MAX_CALL_DEPTH: usize = 64;
/// Nodes resolved across all function bodies, at most: calls of calls grow exponentially.
pub const MAX_INLINED_NODES: usize = 1 << 21;

struct Resolver<'a> {
    ast: &'a Ast,
    source: &'a str,
    names: &'a Names,
    graph: Graph,
    helpers: HashMap<String, Helper>,
    helper_order: Vec<String>,
    params: Vec<String>,
    param_ids: HashMap<String, ParamId>,
    var_used: Vec<bool>,
    response_name: Option<String>,
    functions: HashMap<String, UserFunction>,
    /// (function, argument nodes) → the call's node.
    calls: HashMap<(String, Vec<NodeId>), NodeId>,
    /// The bodies being resolved, innermost last.
    frames: Vec<Frame>,
    inlined: usize,
}

/// Resolves every name of `ast` (parsed from `source`).
pub fn resolve(ast: &Ast, source: &str, names: &Names) -> Result<Resolved, SyntaxError> {
    resolve_names(ast, source, names, true)
}

/// Resolves an expression of the variables `vars` alone, without parameters (a σ computed
/// from data columns): every name must be one of `vars` or a constant.
pub fn resolve_expression(ast: &Ast, source: &str, vars: &[String]) -> Result<Resolved, SyntaxError> {
    resolve_names(ast, source, &Names { vars: vars.to_vec(), params: Some(Vec::new()) }, false)
}

fn resolve_names(ast: &Ast, source: &str, names: &Names, need_params: bool) -> Result<Resolved, SyntaxError> {
    let whole = Span::new(0, source.len());
    let err = |kind: Kind| SyntaxError::new(kind, whole, source);
    // The caller's own names must be distinct.
    let mut seen = HashMap::new();
    for name in names.vars.iter().chain(names.params.iter().flatten()) {
        if seen.insert(name.as_str(), ()).is_some() {
            return Err(err(Kind::DuplicateName { name: name.clone() }));
        }
    }
    let mut resolver = Resolver {
        ast,
        source,
        names,
        graph: Graph::default(),
        helpers: HashMap::new(),
        helper_order: Vec::new(),
        params: Vec::new(),
        param_ids: HashMap::new(),
        var_used: vec![false; names.vars.len()],
        response_name: None,
        functions: HashMap::new(),
        calls: HashMap::new(),
        frames: Vec::new(),
        inlined: 0,
    };
    if let Some(list) = &names.params {
        for name in list {
            resolver.param_ids.insert(name.clone(), ParamId(resolver.params.len() as u32));
            resolver.params.push(name.clone());
        }
    }

    let mut next_node = 0usize;
    for statement in ast.helper_statements() {
        resolver.define_helper(statement, &mut next_node)?;
    }
    let model = ast.model_statement();
    let mut response_transform = None;
    if let Some(lhs) = model.lhs {
        response_transform = resolver.response(lhs, &mut next_node)?;
    }
    let value = resolver.expr(model.rhs, &mut next_node)?;
    let model_span = ast.node(model.rhs).span;

    for name in &resolver.helper_order {
        let (used, span) = match (resolver.helpers.get(name), resolver.functions.get(name)) {
            (Some(h), _) => (h.used, h.name_span),
            (None, Some(f)) => (f.used, f.name_span),
            (None, None) => continue,
        };
        if !used {
            return Err(SyntaxError::new(Kind::UnusedHelper { name: name.clone() }, span, source));
        }
    }
    for (i, used) in resolver.var_used.iter().enumerate() {
        if !used {
            let name = names.vars[i].clone();
            return Err(SyntaxError::new(Kind::UnusedVariable { name }, model_span, source));
        }
    }
    if need_params && resolver.params.is_empty() {
        return Err(SyntaxError::new(Kind::NoParameters, model_span, source));
    }
    if names.params.is_some() {
        let mut used = vec![false; resolver.params.len()];
        let live = resolver.graph.reachable([value]);
        for (i, node) in resolver.graph.nodes().iter().enumerate() {
            if let (true, Node::Param(p)) = (live[i], node) {
                used[p.index()] = true;
            }
        }
        if let Some(k) = used.iter().position(|u| !u) {
            let name = resolver.params[k].clone();
            return Err(SyntaxError::new(Kind::UnusedParameter { name }, model_span, source));
        }
    }
    Ok(Resolved {
        graph: resolver.graph,
        value,
        response_name: resolver.response_name,
        response_transform,
        vars: names.vars.clone(),
        params: resolver.params,
        helpers: resolver.helper_order,
    })
}

impl Resolver<'_> {
    fn error(&self, kind: Kind, span: Span) -> SyntaxError {
        SyntaxError::new(kind, span, self.source)
    }

    fn define_helper(&mut self, statement: &Statement, next_node: &mut usize) -> Result<(), SyntaxError> {
        let Some(lhs) = statement.lhs else {
            return Err(self.error(Kind::ExtraModel, statement.span));
        };
        let lhs_node = self.ast.node(lhs);
        if let AstKind::Call { name, name_span, args } = &lhs_node.kind {
            return self.define_function(statement, name, *name_span, args, next_node);
        }
        let AstKind::Name(name) = &lhs_node.kind else {
            return Err(self.error(Kind::BadDefinition, lhs_node.span));
        };
        let name_span = lhs_node.span;
        self.check_definable(name, name_span)?;
        if self.helpers.contains_key(name) || self.functions.contains_key(name) {
            return Err(self.error(Kind::HelperRedefined { name: name.clone() }, name_span));
        }
        if self.param_ids.contains_key(name) {
            return Err(self.error(Kind::HelperAndParameter { name: name.clone() }, name_span));
        }
        *next_node = lhs.index() + 1;
        let node = self.expr(statement.rhs, next_node)?;
        self.helpers.insert(name.clone(), Helper { node, name_span, used: false });
        self.helper_order.push(name.clone());
        Ok(())
    }

    /// `name(a, b, …) = body`: recorded; the body is resolved at each call.
    fn define_function(
        &mut self,
        statement: &Statement,
        name: &str,
        name_span: Span,
        args: &[AstId],
        next_node: &mut usize,
    ) -> Result<(), SyntaxError> {
        self.check_definable(name, name_span)?;
        if self.helpers.contains_key(name) || self.functions.contains_key(name) {
            return Err(self.error(Kind::HelperRedefined { name: name.to_owned() }, name_span));
        }
        let mut names: Vec<String> = Vec::with_capacity(args.len());
        for arg in args {
            let node = self.ast.node(*arg);
            let AstKind::Name(arg_name) = &node.kind else {
                return Err(self.error(Kind::BadArgument { function: name.to_owned() }, node.span));
            };
            if names.contains(arg_name) {
                return Err(self.error(Kind::DuplicateArgument { name: arg_name.clone() }, node.span));
            }
            if lookup_function(arg_name).is_some() || self.functions.contains_key(arg_name) {
                let reason = "it is a function".to_owned();
                return Err(self.error(Kind::ReservedName { name: arg_name.clone(), reason }, node.span));
            }
            names.push(arg_name.clone());
        }
        let lhs = statement.lhs.expect("a definition has a left side");
        let order = self.functions.len();
        let function =
            UserFunction { args: names, first: lhs.index() + 1, body: statement.rhs, name_span, used: false, order };
        self.functions.insert(name.to_owned(), function);
        self.helper_order.push(name.to_owned());
        *next_node = statement.rhs.index() + 1;
        Ok(())
    }

    /// A call of a function the model defined: its body with the arguments bound.
    fn call_user(&mut self, name: &str, name_span: Span, args: &[NodeId]) -> Result<NodeId, SyntaxError> {
        let function = &self.functions[name];
        if let Some(frame) = self.frames.last()
            && function.order >= frame.order
        {
            return Err(self.error(Kind::CallsLater { name: name.to_owned() }, name_span));
        }
        if args.len() != function.args.len() {
            let kind = Kind::WrongArity {
                name: name.to_owned(),
                expected: function.args.len(),
                found: args.len(),
                arguments: Some(function.args.join(", ")),
            };
            return Err(self.error(kind, name_span));
        }
        let key = (name.to_owned(), args.to_vec());
        if let Some(node) = self.calls.get(&key) {
            return Ok(*node);
        }
        if self.frames.len() >= MAX_CALL_DEPTH {
            return Err(self.error(Kind::CallsTooDeep { limit: MAX_CALL_DEPTH }, name_span));
        }
        let (first, body, order) = (function.first, function.body, function.order);
        self.inlined += body.index() + 1 - first;
        if self.inlined > MAX_INLINED_NODES {
            return Err(self.error(Kind::CallsTooLarge { limit: MAX_INLINED_NODES }, name_span));
        }
        let bindings = function.args.iter().cloned().zip(args.iter().copied()).collect();
        self.functions.get_mut(name).expect("looked up above").used = true;
        self.frames.push(Frame { bindings, order, library: false });
        let mut next = first;
        let node = self.expr(body, &mut next);
        self.frames.pop();
        let node = node?;
        self.calls.insert(key, node);
        Ok(node)
    }

    /// A call of a library function (`gaussian(x, A, c, s)`): its body, parsed on its own,
    /// with the arguments bound.
    fn call_library(
        &mut self,
        parsed: &'static Parsed,
        name_span: Span,
        args: &[NodeId],
    ) -> Result<NodeId, SyntaxError> {
        let function = parsed.function;
        if args.len() != function.args.len() {
            let kind = Kind::WrongArity {
                name: function.name.to_owned(),
                expected: function.args.len(),
                found: args.len(),
                arguments: Some(function.args.join(", ")),
            };
            return Err(self.error(kind, name_span));
        }
        let key = (format!("library {}", function.name), args.to_vec());
        if let Some(node) = self.calls.get(&key) {
            return Ok(*node);
        }
        if self.frames.len() >= MAX_CALL_DEPTH {
            return Err(self.error(Kind::CallsTooDeep { limit: MAX_CALL_DEPTH }, name_span));
        }
        self.inlined += parsed.ast.nodes.len();
        if self.inlined > MAX_INLINED_NODES {
            return Err(self.error(Kind::CallsTooLarge { limit: MAX_INLINED_NODES }, name_span));
        }
        let bindings = function.args.iter().map(|a| a.to_string()).zip(args.iter().copied()).collect();
        let saved = (self.ast, self.source);
        (self.ast, self.source) = (&parsed.ast, function.body);
        self.frames.push(Frame { bindings, order: 0, library: true });
        let mut next = 0;
        let node = self.expr(parsed.ast.model_statement().rhs, &mut next);
        self.frames.pop();
        (self.ast, self.source) = saved;
        let node = node?;
        self.calls.insert(key, node);
        Ok(node)
    }

    /// A helper or the response may not take the name of a function or a variable. A helper
    /// may shadow a constant: NIST's Roszman1 defines `pi = 3.14159...` itself.
    fn check_definable(&self, name: &str, span: Span) -> Result<(), SyntaxError> {
        let reason = if lookup_function(name).is_some() {
            "it is a function"
        } else if self.names.vars.iter().any(|v| v == name) {
            "it is a variable"
        } else {
            return Ok(());
        };
        Err(self.error(Kind::ReservedName { name: name.to_owned(), reason: reason.to_owned() }, span))
    }

    /// Resolves the model's left side. Returns the transform t(y), or `None` for a bare name.
    fn response(&mut self, lhs: AstId, next_node: &mut usize) -> Result<Option<NodeId>, SyntaxError> {
        let bad = |this: &Self, reason: &str, span: Span| {
            Err(this.error(Kind::BadResponse { reason: reason.to_owned() }, span))
        };
        let mut built: HashMap<usize, NodeId> = HashMap::new();
        for i in *next_node..=lhs.index() {
            let node = &self.ast.nodes[i];
            let get = |id: &AstId| built[&id.index()];
            let id = match &node.kind {
                AstKind::Number(v) => self.graph.constant(*v),
                AstKind::Name(name) => {
                    if let Some(c) = lookup_constant(name) {
                        self.graph.constant(c)
                    } else {
                        self.check_definable(name, node.span)?;
                        if self.helpers.contains_key(name) || self.param_ids.contains_key(name) {
                            return bad(self, &format!("`{name}` is already a helper or a parameter"), node.span);
                        }
                        match &self.response_name {
                            Some(r) if r != name => {
                                return bad(self, "the left side may name only one response", node.span);
                            }
                            _ => self.response_name = Some(name.clone()),
                        }
                        self.graph.add(Node::Response)
                    }
                }
                AstKind::Neg(a) => self.graph.unary(UnaryOp::Neg, get(a)),
                AstKind::Binary(op, a, b) => self.graph.binary(*op, get(a), get(b)),
                AstKind::Call { name, name_span, args } => {
                    let args: Vec<NodeId> = args.iter().map(get).collect();
                    self.call(name, *name_span, &args)?
                }
            };
            built.insert(i, id);
        }
        *next_node = lhs.index() + 1;
        if self.response_name.is_none() {
            return bad(self, "it must name the response, as in `y = ...` or `log(y) = ...`", self.ast.node(lhs).span);
        }
        Ok(match self.ast.node(lhs).kind {
            AstKind::Name(_) => None,
            _ => Some(built[&lhs.index()]),
        })
    }

    /// Resolves the expression whose nodes run from `*next_node` to `root` (a statement's
    /// nodes are contiguous in the arena, children first).
    fn expr(&mut self, root: AstId, next_node: &mut usize) -> Result<NodeId, SyntaxError> {
        let first = *next_node;
        let mut built: Vec<NodeId> = Vec::with_capacity(root.index() + 1 - first);
        for i in first..=root.index() {
            let node = &self.ast.nodes[i];
            let get = |id: &AstId| built[id.index() - first];
            let id = match &node.kind {
                AstKind::Number(v) => self.graph.constant(*v),
                AstKind::Name(name) => self.name(name, node.span)?,
                AstKind::Neg(a) => self.graph.unary(UnaryOp::Neg, get(a)),
                AstKind::Binary(op, a, b) => self.graph.binary(*op, get(a), get(b)),
                AstKind::Call { name, name_span, args } => {
                    let args: Vec<NodeId> = args.iter().map(get).collect();
                    self.call(name, *name_span, &args)?
                }
            };
            built.push(id);
        }
        *next_node = root.index() + 1;
        Ok(*built.last().expect("an expression has a node"))
    }

    fn name(&mut self, name: &str, span: Span) -> Result<NodeId, SyntaxError> {
        if let Some(frame) = self.frames.last() {
            if let Some(node) = frame.bindings.get(name) {
                return Ok(*node);
            }
            if frame.library {
                // Library bodies are closed (a test checks): only constants are left.
                let c = lookup_constant(name).unwrap_or(f64::NAN);
                return Ok(self.graph.constant(c));
            }
        }
        if self.functions.contains_key(name) {
            return Err(self.error(Kind::FunctionAsValue { name: name.to_owned() }, span));
        }
        if let Some(k) = self.names.vars.iter().position(|v| v == name) {
            self.var_used[k] = true;
            return Ok(self.graph.add(Node::Var(VarId(k as u32))));
        }
        if let Some(helper) = self.helpers.get_mut(name) {
            helper.used = true;
            return Ok(helper.node);
        }
        if let Some(c) = lookup_constant(name) {
            return Ok(self.graph.constant(c));
        }
        if lookup_function(name).is_some() {
            return Err(self.error(Kind::FunctionAsValue { name: name.to_owned() }, span));
        }
        if self.response_name.as_deref() == Some(name) {
            let reason = format!("the response `{name}` cannot appear on the right side");
            return Err(self.error(Kind::BadResponse { reason }, span));
        }
        if let Some(p) = self.param_ids.get(name) {
            return Ok(self.graph.add(Node::Param(*p)));
        }
        if self.names.params.is_some() {
            let known = self.params.clone();
            return Err(self.error(Kind::UnknownParameter { name: name.to_owned(), known }, span));
        }
        let p = ParamId(self.params.len() as u32);
        self.params.push(name.to_owned());
        self.param_ids.insert(name.to_owned(), p);
        Ok(self.graph.add(Node::Param(p)))
    }

    fn call(&mut self, name: &str, name_span: Span, args: &[NodeId]) -> Result<NodeId, SyntaxError> {
        let in_library = self.frames.last().is_some_and(|f| f.library);
        if !in_library && self.functions.contains_key(name) {
            return self.call_user(name, name_span, args);
        }
        if lookup_function(name).is_none()
            && let Some(parsed) = library::lookup(name)
        {
            return self.call_library(parsed, name_span, args);
        }
        let Some(function) = lookup_function(name) else {
            let suggestion = suggest_function(name).map(str::to_owned);
            return Err(self.error(Kind::UnknownFunction { name: name.to_owned(), suggestion }, name_span));
        };
        if args.len() != function.arity() {
            let kind = Kind::WrongArity {
                name: name.to_owned(),
                expected: function.arity(),
                found: args.len(),
                arguments: None,
            };
            return Err(self.error(kind, name_span));
        }
        if function == Function::Binary(BinaryOp::Polygamma) {
            let order = self.graph.node(args[0]).as_const();
            let max = crate::ops::gamma::MAX_MODEL_ORDER;
            if !order.is_some_and(|n| (0.0..=max).contains(&n) && n.fract() == 0.0) {
                return Err(self.error(Kind::BadOrder { max: max as u32 }, name_span));
            }
        }
        Ok(match function {
            Function::Unary(op) => self.graph.unary(op, args[0]),
            Function::Binary(op) => self.graph.binary(op, args[0], args[1]),
        })
    }
}
