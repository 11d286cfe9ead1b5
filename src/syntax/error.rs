//! Errors in model text: every one carries the span it is about and renders the model with a
//! caret under the fault.

use super::ast::Span;
use std::fmt;

/// What is wrong with a model's text.
#[derive(Clone, Debug, PartialEq)]
#[non_exhaustive]
pub enum SyntaxErrorKind {
    /// The parser met a token it cannot use here.
    UnexpectedToken { found: String, expected: Vec<String> },
    /// A closing bracket with no opening one.
    UnmatchedClose { found: String },
    /// Two expressions follow each other with no operator, `;` or line break between them.
    MissingOperator { found: String },
    /// Brackets, powers or signs nest deeper than the limit.
    TooDeep { limit: usize },
    /// The model text is longer than the limit (bytes).
    TooLong { len: usize, limit: usize },
    /// A number literal that is not a finite f64 (`1e999`).
    BadNumber { text: String },
    /// A call to a function the language does not have.
    UnknownFunction { name: String, suggestion: Option<String> },
    /// A call with the wrong number of arguments.
    /// `arguments`: the names of a defined or library function's arguments.
    WrongArity { name: String, expected: usize, found: usize, arguments: Option<String> },
    /// A function name used as a value (`exp * x`).
    FunctionAsValue { name: String },
    /// `polygamma(n, x)` with an order n that is not a whole number from 0 to the maximum.
    BadOrder { max: u32 },
    /// The left side of a helper definition is not a plain name.
    BadDefinition,
    /// An argument in a function's definition that is not a plain name.
    BadArgument { function: String },
    /// An argument named twice in a function's definition.
    DuplicateArgument { name: String },
    /// A function's body calls itself or a function defined after it.
    CallsLater { name: String },
    /// Calls of defined functions nested deeper than the limit.
    CallsTooDeep { limit: usize },
    /// Defined functions that expand to more nodes than the limit.
    CallsTooLarge { limit: usize },
    /// A statement before the last that defines nothing (only the last one is the model).
    ExtraModel,
    /// A helper, or the response, is named like a function, `pi` or a variable.
    ReservedName { name: String, reason: String },
    /// A helper defined twice.
    HelperRedefined { name: String },
    /// A name used as a parameter before it was defined as a helper.
    HelperAndParameter { name: String },
    /// A helper that the model never uses.
    UnusedHelper { name: String },
    /// The left side of the model names something other than one response.
    BadResponse { reason: String },
    /// The model has no parameter to fit.
    NoParameters,
    /// A variable the caller named does not appear in the model.
    UnusedVariable { name: String },
    /// A free name that is not in the caller's explicit parameter list.
    UnknownParameter { name: String, known: Vec<String> },
    /// A name in the caller's explicit parameter list that the model does not use.
    UnusedParameter { name: String },
    /// A name listed twice, or both as variable and parameter, by the caller.
    DuplicateName { name: String },
}

/// An error in a model's text, with the text itself so that it can render the caret.
#[derive(Clone, Debug, PartialEq)]
pub struct SyntaxError {
    pub kind: SyntaxErrorKind,
    pub span: Span,
    source: String,
}

impl SyntaxError {
    pub fn new(kind: SyntaxErrorKind, span: Span, source: &str) -> SyntaxError {
        SyntaxError { kind, span, source: source.to_owned() }
    }

    /// The one-line message, without the rendered source.
    pub fn message(&self) -> String {
        use SyntaxErrorKind::*;
        match &self.kind {
            UnexpectedToken { found, expected } => {
                if expected.is_empty() {
                    format!("unexpected {found}")
                } else {
                    format!("unexpected {found}, expected {}", join_or(expected))
                }
            }
            UnmatchedClose { found } => format!("unmatched {found}: no bracket is open here"),
            MissingOperator { found } => {
                format!("unexpected {found}, expected an operator, `;` or a line break before it")
            }
            TooDeep { limit } => format!("the model nests deeper than {limit} levels"),
            TooLong { len, limit } => format!("the model is {len} bytes long; the limit is {limit}"),
            BadNumber { text } => format!("the number `{text}` is not a finite 64-bit float"),
            UnknownFunction { name, suggestion: Some(s) } => {
                format!("unknown function `{name}` (did you mean `{s}`?)")
            }
            UnknownFunction { name, suggestion: None } => format!("unknown function `{name}`"),
            WrongArity { name, expected, found, arguments } => {
                let plural = if *expected == 1 { "" } else { "s" };
                match arguments {
                    Some(list) => format!("`{name}` takes {expected} argument{plural} ({name}({list})), found {found}"),
                    None => format!("`{name}` takes {expected} argument{plural}, found {found}"),
                }
            }
            FunctionAsValue { name } => {
                format!("`{name}` is a function; call it with an argument, as in `{name}(x)`")
            }
            BadOrder { max } => {
                format!("the order n of `polygamma(n, x)` must be a whole number from 0 to {max}, written as a number")
            }
            BadDefinition => {
                "the left side of a definition must be a name (`g = …`) or a function of names (`G(x, a) = …`)".into()
            }
            BadArgument { function } => {
                format!(
                    "the arguments in the definition of `{function}` must be names, as in `{function}(x, a, b) = …`"
                )
            }
            DuplicateArgument { name } => format!("the argument `{name}` is named twice"),
            CallsLater { name } => format!(
                "`{name}` is called from a function defined before it (or from itself): a function may call only the functions defined above it"
            ),
            CallsTooDeep { limit } => format!("calls of defined functions nest deeper than {limit} levels"),
            CallsTooLarge { limit } => format!("the defined functions expand to more than {limit} nodes"),
            ExtraModel => {
                "only the last statement is the model; the ones before it must define helpers, as in `g = exp(-x)`"
                    .into()
            }
            ReservedName { name, reason } => format!("`{name}` cannot be defined: {reason}"),
            HelperRedefined { name } => format!("`{name}` is defined twice"),
            HelperAndParameter { name } => format!(
                "`{name}` is used as a parameter before this definition makes it a helper; define helpers before using them"
            ),
            UnusedHelper { name } => format!("`{name}` is defined but never used"),
            BadResponse { reason } => format!("invalid left side: {reason}"),
            NoParameters => "the model has no parameters to fit".into(),
            UnusedVariable { name } => format!("the variable `{name}` does not appear in the model"),
            UnknownParameter { name, known } => {
                format!("`{name}` is neither a variable nor a listed parameter (parameters: {})", known.join(", "))
            }
            UnusedParameter { name } => format!("the parameter `{name}` does not appear in the model"),
            DuplicateName { name } => format!("`{name}` is named twice among variables and parameters"),
        }
    }

    /// The model text this error is about.
    pub fn source_text(&self) -> &str {
        &self.source
    }
}

impl fmt::Display for SyntaxError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&render("error", &self.message(), &self.source, self.span))
    }
}

impl std::error::Error for SyntaxError {}

/// Renders `message` with the line of `source` that holds `span` and carets under the span:
///
/// ```text
/// error: unknown function `exq` (did you mean `exp`?)
///   |
/// 1 | a*exq(-b*x) + c
///   |   ^^^
/// ```
pub fn render(level: &str, message: &str, source: &str, span: Span) -> String {
    let start = floor_char_boundary(source, span.start.min(source.len()));
    let end = floor_char_boundary(source, span.end.clamp(start, source.len()));
    let line_start = source[..start].rfind('\n').map_or(0, |i| i + 1);
    let line_end = source[start..].find('\n').map_or(source.len(), |i| start + i);
    let line_no = source[..start].matches('\n').count() + 1;
    let line = source[line_start..line_end].trim_end_matches('\r');
    let shown: String = line.chars().map(|c| if c == '\t' { ' ' } else { c }).collect();
    let pad = source[line_start..start].chars().count();
    let width = source[start..end.min(line_end).max(start)].chars().count().max(1);
    let gutter = line_no.to_string();
    let blank = " ".repeat(gutter.len());
    format!("{level}: {message}\n{blank} |\n{gutter} | {shown}\n{blank} | {}{}", " ".repeat(pad), "^".repeat(width))
}

fn floor_char_boundary(s: &str, mut i: usize) -> usize {
    while i > 0 && !s.is_char_boundary(i) {
        i -= 1;
    }
    i
}

fn join_or(items: &[String]) -> String {
    match items {
        [] => String::new(),
        [one] => one.clone(),
        [init @ .., last] => format!("{} or {last}", init.join(", ")),
    }
}
