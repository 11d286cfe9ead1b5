//! The functions and constants a model can name, and "did you mean" suggestions.

use crate::ops::{BinaryOp, UnaryOp};

/// What a function name means.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Function {
    Unary(UnaryOp),
    Binary(BinaryOp),
}

impl Function {
    pub fn arity(self) -> usize {
        match self {
            Function::Unary(_) => 1,
            Function::Binary(_) => 2,
        }
    }
}

/// Every callable name. `log` is the natural logarithm, as in numpy and scipy.
pub const FUNCTIONS: &[(&str, Function)] = &[
    ("exp", Function::Unary(UnaryOp::Exp)),
    ("log", Function::Unary(UnaryOp::Ln)),
    ("ln", Function::Unary(UnaryOp::Ln)),
    ("log10", Function::Unary(UnaryOp::Log10)),
    ("log2", Function::Unary(UnaryOp::Log2)),
    ("sqrt", Function::Unary(UnaryOp::Sqrt)),
    ("cbrt", Function::Unary(UnaryOp::Cbrt)),
    ("abs", Function::Unary(UnaryOp::Abs)),
    ("sin", Function::Unary(UnaryOp::Sin)),
    ("cos", Function::Unary(UnaryOp::Cos)),
    ("tan", Function::Unary(UnaryOp::Tan)),
    ("asin", Function::Unary(UnaryOp::Asin)),
    ("arcsin", Function::Unary(UnaryOp::Asin)),
    ("acos", Function::Unary(UnaryOp::Acos)),
    ("arccos", Function::Unary(UnaryOp::Acos)),
    ("atan", Function::Unary(UnaryOp::Atan)),
    ("arctan", Function::Unary(UnaryOp::Atan)),
    ("sinh", Function::Unary(UnaryOp::Sinh)),
    ("cosh", Function::Unary(UnaryOp::Cosh)),
    ("tanh", Function::Unary(UnaryOp::Tanh)),
    ("asinh", Function::Unary(UnaryOp::Asinh)),
    ("arcsinh", Function::Unary(UnaryOp::Asinh)),
    ("acosh", Function::Unary(UnaryOp::Acosh)),
    ("arccosh", Function::Unary(UnaryOp::Acosh)),
    ("atanh", Function::Unary(UnaryOp::Atanh)),
    ("arctanh", Function::Unary(UnaryOp::Atanh)),
    ("erf", Function::Unary(UnaryOp::Erf)),
    ("erfc", Function::Unary(UnaryOp::Erfc)),
    ("sign", Function::Unary(UnaryOp::Sign)),
    ("lgamma", Function::Unary(UnaryOp::LGamma)),
    ("gammaln", Function::Unary(UnaryOp::LGamma)),
    ("atan2", Function::Binary(BinaryOp::Atan2)),
    ("arctan2", Function::Binary(BinaryOp::Atan2)),
    ("pow", Function::Binary(BinaryOp::Pow)),
    ("min", Function::Binary(BinaryOp::Min)),
    ("max", Function::Binary(BinaryOp::Max)),
    ("xlogy", Function::Binary(BinaryOp::XLogY)),
    ("faddeeva_re", Function::Binary(BinaryOp::FaddeevaRe)),
    ("faddeeva_im", Function::Binary(BinaryOp::FaddeevaIm)),
    ("polygamma", Function::Binary(BinaryOp::Polygamma)),
];

/// Named constants.
/// Names with a fixed value: `pi` and Euler's number `e` (not free parameters; a helper or a
/// listed variable may still shadow them, as NIST's Roszman1 defines `pi` itself).
pub const CONSTANTS: &[(&str, f64)] = &[("pi", std::f64::consts::PI), ("e", std::f64::consts::E)];

/// The version of the model language's meaning, part of every compiled model's identity:
/// bumped when the same text comes to mean something else (2: `e` became Euler's number; 3:
/// functions the model defines, and the library's, which were unknown names before; 4:
/// `lgamma`, `gammaln` and `polygamma` became functions — a parameter of that name before).
pub const LANGUAGE_VERSION: u32 = 4;

pub fn lookup_function(name: &str) -> Option<Function> {
    FUNCTIONS.iter().find(|(n, _)| *n == name).map(|(_, f)| *f)
}

pub fn lookup_constant(name: &str) -> Option<f64> {
    CONSTANTS.iter().find(|(n, _)| *n == name).map(|(_, v)| *v)
}

/// The known function closest to `name` (edit distance 1 for short names, 2 for names of five
/// letters or more), or one that matches ignoring case.
pub fn suggest_function(name: &str) -> Option<&'static str> {
    let lower = name.to_ascii_lowercase();
    // The language's functions, then the model library's.
    let known = FUNCTIONS.iter().map(|(n, _)| *n).chain(super::library::LIBRARY.iter().map(|f| f.name));
    if let Some(n) = known.clone().find(|n| *n == lower) {
        return Some(n);
    }
    known
        .map(|n| (edit_distance(&lower, n), n))
        .filter(|(d, n)| *d <= if name.len().min(n.len()) <= 4 { 1 } else { 2 })
        .min_by_key(|(d, _)| *d)
        .map(|(_, n)| n)
}

/// Levenshtein distance over chars.
fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut cur = vec![i + 1; b.len() + 1];
        for (j, cb) in b.iter().enumerate() {
            let sub = prev[j] + usize::from(ca != *cb);
            cur[j + 1] = sub.min(prev[j + 1] + 1).min(cur[j] + 1);
        }
        prev = cur;
    }
    prev[b.len()]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn suggestions() {
        assert_eq!(suggest_function("exq"), Some("exp"));
        assert_eq!(suggest_function("sinn"), Some("sin"));
        assert_eq!(suggest_function("EXP"), Some("exp"));
        assert_eq!(suggest_function("gamma"), Some("lgamma"));
        assert_eq!(suggest_function("q"), None);
        assert_eq!(suggest_function("foo"), None);
        assert_eq!(suggest_function("arctn"), Some("arctan"));
        assert_eq!(suggest_function("gausian"), Some("gaussian"));
        assert_eq!(suggest_function("Lorentzian"), Some("lorentzian"));
    }
}
