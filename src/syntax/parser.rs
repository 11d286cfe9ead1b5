//! Model text → [`Ast`]: a guard against runaway nesting, the pest grammar
//! (`grammar/model.pest`) and a Pratt parser that owns operator precedence.
//!
//! Precedence, lowest first: `+ -` (left), `* /` (left), unary `- +`, `^ **` (right). So
//! `-x^2` is `-(x^2)`, `2^-1` is `2^(-1)` and `a^b^c` is `a^(b^c)`.

use super::ast::{Ast, AstId, AstKind, AstNode, Span, Statement};
use super::error::{SyntaxError, SyntaxErrorKind};
use crate::ops::BinaryOp;
use pest::Parser as _;
use pest::iterators::{Pair, Pairs};
use pest::pratt_parser::{Assoc, Op, PrattParser};
use std::cell::RefCell;
use std::sync::LazyLock;

/// The longest model text accepted, in bytes.
pub const MAX_SOURCE_BYTES: usize = 256 * 1024;
/// The deepest nesting accepted: brackets, plus chains of `^` and of unary signs.
pub const MAX_NESTING: usize = 100;

#[derive(pest_derive::Parser)]
#[grammar = "../grammar/model.pest"]
struct ModelGrammar;

static PRATT: LazyLock<PrattParser<Rule>> = LazyLock::new(|| {
    PrattParser::new()
        .op(Op::infix(Rule::add, Assoc::Left) | Op::infix(Rule::sub, Assoc::Left))
        .op(Op::infix(Rule::mul, Assoc::Left) | Op::infix(Rule::div, Assoc::Left))
        .op(Op::prefix(Rule::neg) | Op::prefix(Rule::pos))
        .op(Op::infix(Rule::pow, Assoc::Right))
});

/// Parses model text into a syntax tree. Names are not resolved here.
pub fn parse(source: &str) -> Result<Ast, SyntaxError> {
    if source.len() > MAX_SOURCE_BYTES {
        return Err(SyntaxError::new(
            SyntaxErrorKind::TooLong { len: source.len(), limit: MAX_SOURCE_BYTES },
            Span::new(MAX_SOURCE_BYTES, source.len()),
            source,
        ));
    }
    check_nesting(source)?;
    let pairs = ModelGrammar::parse(Rule::model, source).map_err(|e| convert_pest_error(e, source))?;
    let builder = Builder { source, nodes: RefCell::new(Vec::new()) };
    let mut statements = Vec::new();
    let model = pairs.into_iter().next().expect("the model rule matched");
    for pair in model.into_inner() {
        if pair.as_rule() == Rule::statement {
            statements.push(builder.statement(pair)?);
        }
    }
    let nodes = builder.nodes.into_inner();
    for pair in statements.windows(2) {
        // From the last token of one statement to the first of the next (pest's statement
        // spans may include trailing whitespace).
        let end = nodes[pair[0].rhs.index()].span.end;
        let between = &source[end..pair[1].span.start];
        if !between.contains(';') && !between.contains('\n') {
            let start = pair[1].span.start;
            return Err(SyntaxError::new(
                SyntaxErrorKind::MissingOperator { found: describe_at(source, start) },
                token_span(source, start),
                source,
            ));
        }
    }
    Ok(Ast { nodes, statements })
}

struct Builder<'s> {
    source: &'s str,
    nodes: RefCell<Vec<AstNode>>,
}

type Built = Result<AstId, SyntaxError>;

impl Builder<'_> {
    fn push(&self, kind: AstKind, span: Span) -> AstId {
        let mut nodes = self.nodes.borrow_mut();
        nodes.push(AstNode { kind, span });
        AstId((nodes.len() - 1) as u32)
    }

    fn span_of(&self, id: AstId) -> Span {
        self.nodes.borrow()[id.index()].span
    }

    fn statement(&self, pair: Pair<'_, Rule>) -> Result<Statement, SyntaxError> {
        let span = to_span(&pair);
        let mut inner = pair.into_inner();
        let first = self.expr(inner.next().expect("statement has an expression").into_inner())?;
        match inner.next() {
            Some(assign) => {
                let assign_span = to_span(&assign);
                let rhs = self.expr(inner.next().expect("`=` is followed by an expression").into_inner())?;
                Ok(Statement { lhs: Some(first), rhs, assign_span: Some(assign_span), span })
            }
            None => Ok(Statement { lhs: None, rhs: first, assign_span: None, span }),
        }
    }

    fn expr(&self, pairs: Pairs<'_, Rule>) -> Built {
        PRATT
            .map_primary(|p| self.primary(p))
            .map_prefix(|op, rhs| {
                let rhs = rhs?;
                let span = to_span(&op).to(self.span_of(rhs));
                Ok(match op.as_rule() {
                    Rule::neg => self.push(AstKind::Neg(rhs), span),
                    _ => {
                        // Unary plus is the identity: keep the operand, widen its span.
                        self.nodes.borrow_mut()[rhs.index()].span = span;
                        rhs
                    }
                })
            })
            .map_infix(|lhs, op, rhs| {
                let (lhs, rhs) = (lhs?, rhs?);
                let op = match op.as_rule() {
                    Rule::add => BinaryOp::Add,
                    Rule::sub => BinaryOp::Sub,
                    Rule::mul => BinaryOp::Mul,
                    Rule::div => BinaryOp::Div,
                    _ => BinaryOp::Pow,
                };
                let span = self.span_of(lhs).to(self.span_of(rhs));
                Ok(self.push(AstKind::Binary(op, lhs, rhs), span))
            })
            .parse(pairs)
    }

    fn primary(&self, pair: Pair<'_, Rule>) -> Built {
        let span = to_span(&pair);
        match pair.as_rule() {
            Rule::number => {
                let text = pair.as_str();
                match text.parse::<f64>() {
                    Ok(v) if v.is_finite() => Ok(self.push(AstKind::Number(v), span)),
                    _ => Err(SyntaxError::new(SyntaxErrorKind::BadNumber { text: text.to_owned() }, span, self.source)),
                }
            }
            Rule::ident => Ok(self.push(AstKind::Name(pair.as_str().to_owned()), span)),
            Rule::paren_group | Rule::bracket_group => {
                let inner = pair.into_inner().next().expect("a group holds an expression");
                let id = self.expr(inner.into_inner())?;
                // The group's span includes its brackets, so errors point at all of it.
                self.nodes.borrow_mut()[id.index()].span = span;
                Ok(id)
            }
            Rule::call => {
                let mut inner = pair.into_inner();
                let name = inner.next().expect("a call starts with a name");
                let name_span = to_span(&name);
                let mut args = Vec::new();
                for arg in inner.next().expect("a call has arguments").into_inner() {
                    args.push(self.expr(arg.into_inner())?);
                }
                Ok(self.push(AstKind::Call { name: name.as_str().to_owned(), name_span, args }, span))
            }
            rule => unreachable!("the grammar has no other primary: {rule:?}"),
        }
    }
}

fn to_span(pair: &Pair<'_, Rule>) -> Span {
    let s = pair.as_span();
    Span::new(s.start(), s.end())
}

/// Rejects input whose nesting would make the recursive-descent parser recurse too deep.
///
/// It lexes just enough to count, at each point, the open brackets plus the chains of `^`
/// and unary signs inside each of them: the depth of the parser's recursion.
fn check_nesting(source: &str) -> Result<(), SyntaxError> {
    let bytes = source.as_bytes();
    let mut saved: Vec<(usize, usize)> = Vec::new(); // (depth, level base) at each open bracket
    let (mut depth, mut base) = (0usize, 0usize);
    let mut after_operand = false;
    let mut i = 0;
    while i < bytes.len() {
        let c = bytes[i];
        let start = i;
        i += 1;
        match c {
            b'#' => {
                while i < bytes.len() && bytes[i] != b'\n' {
                    i += 1;
                }
                continue;
            }
            b' ' | b'\t' | b'\r' | b'\n' => continue,
            b'(' | b'[' => {
                saved.push((depth, base));
                depth += 1;
                base = depth;
                after_operand = false;
            }
            b')' | b']' => {
                (depth, base) = saved.pop().unwrap_or((0, 0));
                after_operand = true;
            }
            b'^' => {
                depth += 1;
                after_operand = false;
            }
            b'*' if bytes.get(i) == Some(&b'*') => {
                i += 1;
                depth += 1;
                after_operand = false;
            }
            b'+' | b'-' if !after_operand => depth += 1,
            b'+' | b'-' | b'*' | b'/' | b',' | b';' | b'=' => {
                depth = base;
                after_operand = false;
            }
            c if c.is_ascii_alphanumeric() || c == b'_' || c == b'.' => {
                // A name or a number, exponent included (`1e-3` is one token).
                while i < bytes.len() && (bytes[i].is_ascii_alphanumeric() || bytes[i] == b'_' || bytes[i] == b'.') {
                    let exponent_sign = matches!(bytes[i], b'e' | b'E')
                        && c.is_ascii_digit()
                        && matches!(bytes.get(i + 1), Some(b'+' | b'-'));
                    i += if exponent_sign { 2 } else { 1 };
                }
                after_operand = true;
            }
            _ => after_operand = false,
        }
        if depth > MAX_NESTING {
            return Err(SyntaxError::new(SyntaxErrorKind::TooDeep { limit: MAX_NESTING }, Span::new(start, i), source));
        }
    }
    Ok(())
}

/// Describes the token at byte `at` for an error message: "`x`" or "end of input".
fn describe_at(source: &str, at: usize) -> String {
    let span = token_span(source, at);
    if span.start >= source.len() { "end of input".to_owned() } else { format!("`{}`", &source[span.start..span.end]) }
}

/// The span of the token starting at `at`: a name or number, or one character.
fn token_span(source: &str, at: usize) -> Span {
    let rest = &source[at.min(source.len())..];
    let Some(first) = rest.chars().next() else {
        return Span::new(source.len(), source.len());
    };
    let len = if first.is_ascii_alphanumeric() || first == '_' || first == '.' {
        rest.find(|c: char| !(c.is_ascii_alphanumeric() || c == '_' || c == '.')).unwrap_or(rest.len())
    } else if rest.starts_with("**") {
        2
    } else {
        first.len_utf8()
    };
    Span::new(at, at + len)
}

fn convert_pest_error(error: pest::error::Error<Rule>, source: &str) -> SyntaxError {
    use pest::error::{ErrorVariant, InputLocation};
    let at = match error.location {
        InputLocation::Pos(p) => p,
        InputLocation::Span((s, _)) => s,
    };
    let mut expected: Vec<String> = Vec::new();
    if let ErrorVariant::ParsingError { positives, .. } = &error.variant {
        let mut push = |s: &str| {
            if !expected.iter().any(|e| e == s) {
                expected.push(s.to_owned());
            }
        };
        for rule in positives {
            match rule {
                Rule::number
                | Rule::ident
                | Rule::call
                | Rule::paren_group
                | Rule::bracket_group
                | Rule::expr
                | Rule::neg
                | Rule::pos
                | Rule::statement => push("an expression"),
                Rule::add | Rule::sub | Rule::mul | Rule::div | Rule::pow => push("an operator"),
                Rule::assign => push("`=`"),
                Rule::separator => push("`;`"),
                Rule::arguments => push("an argument"),
                Rule::EOI => push("end of input"),
                _ => {}
            }
        }
    }
    // pest reports only rules, not literal tokens: say which closing bracket is missing.
    let open = unclosed_bracket(&source[..at.min(source.len())]);
    if let Some(close) = open {
        expected.push(format!("`{close}`"));
        expected.retain(|e| e != "end of input");
    }
    let found = describe_at(source, at);
    if open.is_none() && (found == "`)`" || found == "`]`") {
        return SyntaxError::new(SyntaxErrorKind::UnmatchedClose { found }, token_span(source, at), source);
    }
    if source.trim().is_empty() || source.lines().all(|l| l.trim().is_empty() || l.trim_start().starts_with('#')) {
        expected = vec!["a model, such as `a*exp(-b*x) + c`".to_owned()];
    }
    let span = token_span(source, at);
    let span = if span.start == span.end { Span::new(span.start, span.start) } else { span };
    SyntaxError::new(SyntaxErrorKind::UnexpectedToken { found, expected }, span, source)
}

/// The closing bracket that the innermost still-open bracket of `prefix` needs, if any.
fn unclosed_bracket(prefix: &str) -> Option<char> {
    let mut stack = Vec::new();
    let mut in_comment = false;
    for c in prefix.chars() {
        match c {
            '\n' => in_comment = false,
            _ if in_comment => {}
            '#' => in_comment = true,
            '(' => stack.push(')'),
            '[' => stack.push(']'),
            ')' | ']' => {
                stack.pop();
            }
            _ => {}
        }
    }
    stack.pop()
}
