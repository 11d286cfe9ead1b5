//! Rendered error messages, exact strings, caret included.
//! Regenerate with `UPDATE_EXPECT=1 cargo test` and review the diff.

use expect_test::{Expect, expect};
use jitfit::{Model, ModelOptions, Names};

fn check_with(names: Names, source: &str, expect: Expect) {
    let options = ModelOptions { names, ..Default::default() };
    match Model::parse_with(source, &options) {
        Ok(m) => panic!("`{source}` parsed, with params {:?}", m.params()),
        Err(e) => expect.assert_eq(&e.to_string()),
    }
}

fn check(source: &str, expect: Expect) {
    check_with(Names::default(), source, expect)
}

#[test]
fn unknown_function_with_suggestion() {
    check(
        "a*exq(-b*x) + c",
        expect![[r#"
        error: unknown function `exq` (did you mean `exp`?)
          |
        1 | a*exq(-b*x) + c
          |   ^^^"#]],
    );
    check(
        "a * sine(b * x)",
        expect![[r#"
            error: `sine` takes 4 arguments (sine(x, amplitude, frequency, shift)), found 1
              |
            1 | a * sine(b * x)
              |     ^^^^"#]],
    );
    check(
        "a*gamma(x)",
        expect![[r#"
            error: unknown function `gamma` (did you mean `lgamma`?)
              |
            1 | a*gamma(x)
              |   ^^^^^"#]],
    );
}

/// The order of `polygamma` is a whole number written as a number: a parameter there would
/// have no derivative, a fraction no meaning.
#[test]
fn polygamma_takes_a_whole_number_order() {
    check(
        "a*polygamma(b, x)",
        expect![[r#"
            error: the order n of `polygamma(n, x)` must be a whole number from 0 to 20, written as a number
              |
            1 | a*polygamma(b, x)
              |   ^^^^^^^^^"#]],
    );
    check(
        "a*polygamma(1.5, x)",
        expect![[r#"
            error: the order n of `polygamma(n, x)` must be a whole number from 0 to 20, written as a number
              |
            1 | a*polygamma(1.5, x)
              |   ^^^^^^^^^"#]],
    );
    check(
        "a*polygamma(21, x)",
        expect![[r#"
            error: the order n of `polygamma(n, x)` must be a whole number from 0 to 20, written as a number
              |
            1 | a*polygamma(21, x)
              |   ^^^^^^^^^"#]],
    );
}

#[test]
fn wrong_arity() {
    check(
        "atan2(a*x)",
        expect![[r#"
        error: `atan2` takes 2 arguments, found 1
          |
        1 | atan2(a*x)
          | ^^^^^"#]],
    );
    check(
        "exp(a, x)",
        expect![[r#"
        error: `exp` takes 1 argument, found 2
          |
        1 | exp(a, x)
          | ^^^"#]],
    );
}

#[test]
fn unexpected_tokens() {
    check(
        "a*",
        expect![[r#"
        error: unexpected end of input, expected an expression
          |
        1 | a*
          |   ^"#]],
    );
    check(
        "a*(x + b",
        expect![[r#"
        error: unexpected end of input, expected an operator or `)`
          |
        1 | a*(x + b
          |         ^"#]],
    );
    check(
        "a*exp[x)",
        expect![[r#"
        error: unexpected `)`, expected an operator or `]`
          |
        1 | a*exp[x)
          |        ^"#]],
    );
    check(
        "a*x)",
        expect![[r#"
        error: unmatched `)`: no bracket is open here
          |
        1 | a*x)
          |    ^"#]],
    );
    check(
        "a*$x",
        expect![[r#"
        error: unexpected `$`, expected an expression
          |
        1 | a*$x
          |   ^"#]],
    );
    check(
        "",
        expect![[r#"
        error: unexpected end of input, expected a model, such as `a*exp(-b*x) + c`
          |
        1 | 
          | ^"#]],
    );
}

#[test]
fn missing_operator() {
    check(
        "2x*a",
        expect![[r#"
        error: unexpected `x`, expected an operator, `;` or a line break before it
          |
        1 | 2x*a
          |  ^"#]],
    );
    check(
        "a*x b",
        expect![[r#"
        error: unexpected `b`, expected an operator, `;` or a line break before it
          |
        1 | a*x b
          |     ^"#]],
    );
}

#[test]
fn multi_line_errors_point_at_the_right_line() {
    check(
        "g = exp(-x)\nA*g + B*foo(x)",
        expect![[r#"
        error: unknown function `foo`
          |
        2 | A*g + B*foo(x)
          |         ^^^"#]],
    );
}

#[test]
fn naming_mistakes() {
    check(
        "a*x + g; g = a",
        expect![[r#"
        error: only the last statement is the model; the ones before it must define helpers, as in `g = exp(-x)`
          |
        1 | a*x + g; g = a
          | ^^^^^^^"#]],
    );
    check(
        "g = a; g = b; g*x",
        expect![[r#"
            error: `g` is defined twice
              |
            1 | g = a; g = b; g*x
              |        ^"#]],
    );
    check(
        "g = a*x; b*x",
        expect![[r#"
            error: `g` is defined but never used
              |
            1 | g = a*x; b*x
              | ^"#]],
    );
    check(
        "exp = a; exp*x",
        expect![[r#"
        error: `exp` cannot be defined: it is a function
          |
        1 | exp = a; exp*x
          | ^^^"#]],
    );
    check(
        "x = a; x",
        expect![[r#"
        error: `x` cannot be defined: it is a variable
          |
        1 | x = a; x
          | ^"#]],
    );
    check(
        "a*exp*x",
        expect![[r#"
        error: `exp` is a function; call it with an argument, as in `exp(x)`
          |
        1 | a*exp*x
          |   ^^^"#]],
    );
    check(
        "a*x; b*x",
        expect![[r#"
        error: only the last statement is the model; the ones before it must define helpers, as in `g = exp(-x)`
          |
        1 | a*x; b*x
          | ^^^"#]],
    );
    check(
        "a*x = b*x",
        expect![[r#"
        error: `x` cannot be defined: it is a variable
          |
        1 | a*x = b*x
          |   ^"#]],
    );
    check(
        "y = a*x + y",
        expect![[r#"
        error: invalid left side: the response `y` cannot appear on the right side
          |
        1 | y = a*x + y
          |           ^"#]],
    );
    check(
        "log(y*z) = a*x",
        expect![[r#"
        error: invalid left side: the left side may name only one response
          |
        1 | log(y*z) = a*x
          |       ^"#]],
    );
}

#[test]
fn parameters_and_variables() {
    check(
        "2*x",
        expect![[r#"
        error: the model has no parameters to fit
          |
        1 | 2*x
          | ^^^"#]],
    );
    check(
        "a*b",
        expect![[r#"
        error: the variable `x` does not appear in the model
          |
        1 | a*b
          | ^^^"#]],
    );
    check_with(
        Names { vars: vec!["x".into()], params: Some(vec!["a".into()]) },
        "a*x + b",
        expect![[r#"
        error: `b` is neither a variable nor a listed parameter (parameters: a)
          |
        1 | a*x + b
          |       ^"#]],
    );
    check_with(
        Names { vars: vec!["x".into()], params: Some(vec!["a".into(), "b".into()]) },
        "a*x",
        expect![[r#"
        error: the parameter `b` does not appear in the model
          |
        1 | a*x
          | ^^^"#]],
    );
    check_with(
        Names { vars: vec!["x".into(), "x".into()], params: None },
        "a*x",
        expect![[r#"
        error: `x` is named twice among variables and parameters
          |
        1 | a*x
          | ^^^"#]],
    );
}

#[test]
fn numbers_out_of_range() {
    check(
        "a*x + 1e999",
        expect![[r#"
        error: the number `1e999` is not a finite 64-bit float
          |
        1 | a*x + 1e999
          |       ^^^^^"#]],
    );
}

#[test]
fn limits() {
    let deep = format!("{}a*x{}", "(".repeat(200), ")".repeat(200));
    let err = Model::parse(&deep).unwrap_err().to_string();
    assert!(err.starts_with("error: the model nests deeper than 100 levels"), "{err}");
    let long = format!("a*x{}", " + a".repeat(100_000));
    let err = Model::parse(&long).unwrap_err().to_string();
    assert!(err.starts_with("error: the model is 400003 bytes long; the limit is 262144"), "{err}");
    let chain = format!("x^{}a", "a^".repeat(150));
    assert!(Model::parse(&chain).unwrap_err().to_string().contains("nests deeper"));
    let signs = format!("a*{}x", "-".repeat(150));
    assert!(Model::parse(&signs).unwrap_err().to_string().contains("nests deeper"));
}

/// Nesting right at the limit parses on an ordinary 2 MiB test thread.
#[test]
fn nesting_at_the_limit_parses() {
    let n = jitfit::syntax::MAX_NESTING - 1;
    let deep = format!("{}a*x{}", "(".repeat(n), ")".repeat(n));
    Model::parse(&deep).unwrap();
    let calls = format!("{}a*x{}", "exp(".repeat(n), ")".repeat(n));
    Model::parse(&calls).unwrap();
    let powers = format!("a*x{}", "^a".repeat(n - 1));
    Model::parse(&powers).unwrap();
}

/// A long flat model is fine: only nesting is limited.
#[test]
fn long_flat_sums_parse() {
    let terms: Vec<String> = (0..2000).map(|k| format!("a{k}*x^{k}")).collect();
    let m = Model::parse(&terms.join(" + ")).unwrap();
    assert_eq!(m.n_params(), 2000);
}

#[test]
fn function_definition_mistakes() {
    check(
        "G(x, A) = A*x; G(x, a, b) + c",
        expect![[r#"
            error: `G` takes 2 arguments (G(x, A)), found 3
              |
            1 | G(x, A) = A*x; G(x, a, b) + c
              |                ^"#]],
    );
    check(
        "G(x, 2) = x; G(x, a)",
        expect![[r#"
        error: the arguments in the definition of `G` must be names, as in `G(x, a, b) = …`
          |
        1 | G(x, 2) = x; G(x, a)
          |      ^"#]],
    );
    check(
        "G(x, A, A) = A*x; G(x, a, b)",
        expect![[r#"
        error: the argument `A` is named twice
          |
        1 | G(x, A, A) = A*x; G(x, a, b)
          |         ^"#]],
    );
    check(
        "G(x, A) = A*G(x, A); G(x, a)",
        expect![[r#"
        error: `G` is called from a function defined before it (or from itself): a function may call only the functions defined above it
          |
        1 | G(x, A) = A*G(x, A); G(x, a)
          |             ^"#]],
    );
    check(
        "F(x) = H(x); H(x) = x^2; a*F(x)",
        expect![[r#"
        error: `H` is called from a function defined before it (or from itself): a function may call only the functions defined above it
          |
        1 | F(x) = H(x); H(x) = x^2; a*F(x)
          |        ^"#]],
    );
    check(
        "G(x, A) = A*x; a*x",
        expect![[r#"
        error: `G` is defined but never used
          |
        1 | G(x, A) = A*x; a*x
          | ^"#]],
    );
    check(
        "G(x, A) = A*x; a*G",
        expect![[r#"
        error: `G` is a function; call it with an argument, as in `G(x)`
          |
        1 | G(x, A) = A*x; a*G
          |                  ^"#]],
    );
    check(
        "exp(x, A) = A*x; exp(x, a)",
        expect![[r#"
        error: `exp` cannot be defined: it is a function
          |
        1 | exp(x, A) = A*x; exp(x, a)
          | ^^^"#]],
    );
    check(
        "g = a; g(x) = x; g(x)",
        expect![[r#"
        error: `g` is defined twice
          |
        1 | g = a; g(x) = x; g(x)
          |        ^"#]],
    );
    check(
        "G(x, A) = A*x + q(x); G(x, a)",
        expect![[r#"
        error: unknown function `q`
          |
        1 | G(x, A) = A*x + q(x); G(x, a)
          |                 ^"#]],
    );
}

#[test]
fn functions_that_grow_without_bound_are_refused() {
    // Each function calls the one before twice: 2^40 nodes if expanded naively.
    let mut text = String::from("F0(x) = x*x + 1\n");
    for k in 1..=40 {
        text += &format!("F{k}(x) = F{}(F{}(x) + 1)\n", k - 1, k - 1);
    }
    text += "a*F40(x)";
    // Refused while resolving (a naive expansion would never end: the test would hang).
    let error = Model::parse(&text).unwrap_err().to_string();
    assert_eq!(error.lines().next(), Some("error: the defined functions expand to more than 2097152 nodes"));
    // Nesting deeper than the limit.
    let mut text = String::from("F0(x) = x\n");
    for k in 1..=70 {
        text += &format!("F{k}(x) = F{}(x)\n", k - 1);
    }
    text += "a*F70(x)";
    let error = Model::parse(&text).unwrap_err().to_string();
    assert_eq!(error.lines().next(), Some("error: calls of defined functions nest deeper than 64 levels"));
}
