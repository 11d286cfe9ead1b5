//! The syntax tree: what the user wrote, with byte spans, stored in one arena.
//!
//! Nodes are created children first, so the arena is in topological order: every pass
//! over a tree is a forward loop, never a recursion, whatever the nesting of the input.

use crate::ops::BinaryOp;

/// A byte range `start..end` in the model text.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
pub struct Span {
    pub start: usize,
    pub end: usize,
}

impl Span {
    pub fn new(start: usize, end: usize) -> Span {
        Span { start, end }
    }

    /// The smallest span covering both.
    pub fn to(self, other: Span) -> Span {
        Span::new(self.start.min(other.start), self.end.max(other.end))
    }
}

/// Index of a node in [`Ast::nodes`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct AstId(pub u32);

impl AstId {
    pub fn index(self) -> usize {
        self.0 as usize
    }
}

/// One node of the syntax tree.
#[derive(Clone, Debug, PartialEq)]
pub struct AstNode {
    pub kind: AstKind,
    pub span: Span,
}

/// What a node is. Operands are ids of earlier nodes.
#[derive(Clone, Debug, PartialEq)]
pub enum AstKind {
    /// A literal number.
    Number(f64),
    /// A name: a variable, parameter, helper, the response or `pi`.
    Name(String),
    /// Unary minus.
    Neg(AstId),
    /// `+ - * / ^` (and `**`, stored as `Pow`).
    Binary(BinaryOp, AstId, AstId),
    /// A call `f(a, b)` or `f[a]`.
    Call { name: String, name_span: Span, args: Vec<AstId> },
}

/// One statement: `rhs` alone, or `lhs = rhs`.
#[derive(Clone, Debug, PartialEq)]
pub struct Statement {
    pub lhs: Option<AstId>,
    pub rhs: AstId,
    /// The span of the `=`, when there is one.
    pub assign_span: Option<Span>,
    pub span: Span,
}

/// A parsed model: the node arena and the statements in source order. Every statement but
/// the last defines a helper; the last is the model.
#[derive(Clone, Debug, PartialEq)]
pub struct Ast {
    pub nodes: Vec<AstNode>,
    pub statements: Vec<Statement>,
}

impl Ast {
    /// The model's canonical text: each statement as a fully parenthesized tree, so that
    /// whitespace, comments and redundant brackets do not change it (the compiled model's
    /// identity is computed from it).
    pub fn canonical_text(&self) -> String {
        let mut text = String::new();
        for s in &self.statements {
            if let Some(lhs) = s.lhs {
                self.write_text(lhs, &mut text, &|_| None);
                text += " = ";
            }
            self.write_text(s.rhs, &mut text, &|_| None);
            text += ";\n";
        }
        text
    }

    pub fn node(&self, id: AstId) -> &AstNode {
        &self.nodes[id.index()]
    }

    /// The statement that is the model (the last one).
    pub fn model_statement(&self) -> &Statement {
        self.statements.last().expect("the grammar requires one statement")
    }

    /// The helper definitions (every statement but the last).
    pub fn helper_statements(&self) -> &[Statement] {
        &self.statements[..self.statements.len() - 1]
    }

    /// Every name the text uses as a value (not function names, not the arguments of the
    /// functions it defines), once each, in order of first appearance. Front ends use it to
    /// match data columns to variables.
    pub fn names(&self) -> Vec<String> {
        let locals = self.function_arguments();
        let mut names: Vec<String> = Vec::new();
        for (i, node) in self.nodes.iter().enumerate() {
            if let AstKind::Name(n) = &node.kind
                && !names.contains(n)
                && !is_local(&locals, i, n)
            {
                names.push(n.clone());
            }
        }
        names
    }

    /// The helpers the text defines (`g = …`), in order.
    pub fn helper_names(&self) -> Vec<String> {
        self.helper_statements()
            .iter()
            .filter_map(|s| match s.lhs.map(|l| &self.nodes[l.index()].kind) {
                Some(AstKind::Name(n)) => Some(n.clone()),
                _ => None,
            })
            .collect()
    }

    /// The functions the text defines (`G(x, a) = …`): the arena range of each definition
    /// (its left side and body) and its arguments' names.
    pub fn function_arguments(&self) -> Vec<(std::ops::RangeInclusive<usize>, Vec<String>)> {
        let mut functions = Vec::new();
        for statement in self.helper_statements() {
            let Some(lhs) = statement.lhs else { continue };
            let AstKind::Call { args, .. } = &self.nodes[lhs.index()].kind else { continue };
            let first = args.iter().map(|a| a.index()).min().unwrap_or(lhs.index());
            let names = args
                .iter()
                .filter_map(|a| match &self.nodes[a.index()].kind {
                    AstKind::Name(n) => Some(n.clone()),
                    _ => None,
                })
                .collect();
            functions.push((first..=statement.rhs.index(), names));
        }
        functions
    }

    /// The names the right sides use as values that data could supply: every name of
    /// [`Ast::names`] but the left sides (the response, the helpers) and the constants — the
    /// variables and parameters. Front ends match data columns against these.
    pub fn rhs_names(&self) -> Vec<String> {
        let mut names = self.free_names();
        names.retain(|n| super::functions::lookup_constant(n).is_none());
        names
    }

    /// Whether a right side uses the constant `name` (`e`, `pi`) as a value that no helper or
    /// function argument defines.
    pub fn uses_constant(&self, name: &str) -> bool {
        super::functions::lookup_constant(name).is_some() && self.free_names().iter().any(|n| n == name)
    }

    /// The names the right sides use as values, but the left sides and function arguments.
    fn free_names(&self) -> Vec<String> {
        let locals = self.function_arguments();
        let mut defined: Vec<String> = Vec::new();
        let mut names: Vec<String> = Vec::new();
        let mut start = 0;
        for statement in &self.statements {
            let first = match statement.lhs {
                Some(lhs) => {
                    if let AstKind::Name(n) = &self.nodes[lhs.index()].kind {
                        defined.push(n.clone());
                    }
                    lhs.index() + 1
                }
                None => start,
            };
            for (i, node) in self.nodes.iter().enumerate().take(statement.rhs.index() + 1).skip(first) {
                if let AstKind::Name(n) = &node.kind
                    && !names.contains(n)
                    && !is_local(&locals, i, n)
                {
                    names.push(n.clone());
                }
            }
            start = statement.rhs.index() + 1;
        }
        names.retain(|n| !defined.contains(n));
        names
    }

    /// The name on the model's left side, when it is a plain name (`y = ...`) or the only
    /// name in a transform (`log[y] = ...`).
    pub fn response_name(&self) -> Option<String> {
        let lhs = self.model_statement().lhs?;
        let start = self.helper_statements().last().map_or(0, |s| s.rhs.index() + 1);
        self.nodes[start..=lhs.index()].iter().find_map(|n| match &n.kind {
            AstKind::Name(name) if name != "pi" => Some(name.clone()),
            _ => None,
        })
    }

    /// Writes the subtree rooted at `id` back as text, fully parenthesized. Used by tests and
    /// by `jitfit explain`; iterative, so safe on any depth the parser accepts.
    pub fn to_text(&self, id: AstId) -> String {
        let mut text = String::new();
        self.write_text(id, &mut text, &|_| None);
        text
    }

    /// [`Ast::to_text`] with names replaced: `rename(name)` gives the new name, or `None` to
    /// keep it (function names are kept).
    pub fn to_text_renamed(&self, id: AstId, rename: &dyn Fn(&str) -> Option<String>) -> String {
        let mut text = String::new();
        self.write_text(id, &mut text, rename);
        text
    }

    /// Appends the fully parenthesized text of a subtree: one pass with an explicit stack, so
    /// time and memory are linear in the text (a string per subtree was quadratic: a 32 KiB
    /// chain `a*a*…*a` took over a GB) and no depth can overflow the call stack.
    fn write_text(&self, id: AstId, text: &mut String, rename: &dyn Fn(&str) -> Option<String>) {
        enum Work<'a> {
            Node(AstId),
            Text(&'a str),
        }
        let mut stack = vec![Work::Node(id)];
        while let Some(work) = stack.pop() {
            let id = match work {
                Work::Text(t) => {
                    text.push_str(t);
                    continue;
                }
                Work::Node(id) => id,
            };
            match &self.nodes[id.index()].kind {
                AstKind::Number(v) => {
                    use std::fmt::Write;
                    let _ = write!(text, "{v:?}");
                }
                AstKind::Name(n) => match rename(n) {
                    Some(renamed) => text.push_str(&renamed),
                    None => text.push_str(n),
                },
                AstKind::Neg(a) => {
                    text.push_str("(-");
                    stack.extend([Work::Text(")"), Work::Node(*a)]);
                }
                AstKind::Binary(op, a, b) => {
                    let sym = match op {
                        BinaryOp::Add => " + ",
                        BinaryOp::Sub => " - ",
                        BinaryOp::Mul => " * ",
                        BinaryOp::Div => " / ",
                        _ => " ^ ",
                    };
                    text.push('(');
                    stack.extend([Work::Text(")"), Work::Node(*b), Work::Text(sym), Work::Node(*a)]);
                }
                AstKind::Call { name, args, .. } => {
                    text.push_str(name);
                    text.push('(');
                    stack.push(Work::Text(")"));
                    for (k, arg) in args.iter().enumerate().rev() {
                        stack.push(Work::Node(*arg));
                        if k > 0 {
                            stack.push(Work::Text(", "));
                        }
                    }
                }
            }
        }
    }
}

/// True when node `i`, the name `name`, is an argument of the function whose definition holds it.
fn is_local(locals: &[(std::ops::RangeInclusive<usize>, Vec<String>)], i: usize, name: &str) -> bool {
    locals.iter().any(|(range, args)| range.contains(&i) && args.iter().any(|a| a == name))
}
