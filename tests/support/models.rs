//! A proptest generator of random model text over `x` and parameters a, b, c: every
//! function and operator of the language, helpers included.

use proptest::prelude::*;

pub const PARAMS: [&str; 3] = ["a", "b", "c"];

/// Random model text over `x` and parameters a, b, c.
pub fn expr() -> impl Strategy<Value = String> {
    let leaf = prop_oneof![
        Just("x".to_owned()),
        Just("a".to_owned()),
        Just("b".to_owned()),
        Just("c".to_owned()),
        prop::sample::select(vec!["0.5", "1", "2", "3", "1.5e-1", "pi"]).prop_map(str::to_owned),
    ];
    leaf.prop_recursive(5, 40, 2, |inner| {
        let unary = prop::sample::select(vec![
            "exp", "log", "log10", "log2", "sqrt", "cbrt", "abs", "sin", "cos", "tan", "asin", "acos", "atan", "sinh",
            "cosh", "tanh", "asinh", "acosh", "atanh", "erf", "erfc", "sign",
        ]);
        let binary_fn = prop::sample::select(vec!["atan2", "pow", "min", "max", "xlogy"]);
        let op = prop::sample::select(vec!["+", "-", "*", "/", "^"]);
        prop_oneof![
            (unary, inner.clone()).prop_map(|(f, a)| format!("{f}({a})")),
            (binary_fn, inner.clone(), inner.clone()).prop_map(|(f, a, b)| format!("{f}({a}, {b})")),
            (inner.clone(), op, inner.clone()).prop_map(|(a, o, b)| format!("({a}) {o} ({b})")),
            inner.prop_map(|a| format!("-({a})")),
        ]
    })
}

/// A random expression, or one that defines a helper first (inlined symbolically).
pub fn body() -> impl Strategy<Value = String> {
    prop_oneof![
        3 => expr(),
        1 => (expr(), expr()).prop_map(|(a, b)| format!("h = {a}; ({b}) * h")),
    ]
}

/// Every model gets all three parameters and `x`, so that it always resolves.
pub fn model_text(body: &str) -> String {
    match body.split_once("; ") {
        Some((helper, rest)) => format!("{helper}; a*({rest}) + b*c*x"),
        None => format!("a*({body}) + b*c*x"),
    }
}
