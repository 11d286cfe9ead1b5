//! Accepted syntax: each case shows the fully parenthesized tree and the resolved names.
//! Regenerate the expectations with `UPDATE_EXPECT=1 cargo test` and review the diff.

use expect_test::{Expect, expect};
use jitfit::syntax::{Names, parse, resolve};

fn check_vars(vars: &[&str], source: &str, expect: Expect) {
    let names = Names { vars: vars.iter().map(|v| v.to_string()).collect(), params: None };
    let actual = match parse(source).and_then(|ast| resolve(&ast, source, &names).map(|r| (ast, r))) {
        Ok((ast, resolved)) => {
            let mut out = String::new();
            for s in ast.helper_statements() {
                out += &format!("{} := {}\n", ast.to_text(s.lhs.unwrap()), ast.to_text(s.rhs));
            }
            let m = ast.model_statement();
            if let Some(lhs) = m.lhs {
                out += &format!("response {} ", ast.to_text(lhs));
            }
            out += &format!("f = {}\nparams: {}", ast.to_text(m.rhs), resolved.params.join(", "));
            out
        }
        Err(e) => e.to_string(),
    };
    expect.assert_eq(&actual);
}

fn check(source: &str, expect: Expect) {
    check_vars(&["x"], source, expect)
}

#[test]
fn numbers() {
    check(
        "a*2 + b*2.5 + c*.5 + d*1e-3 + g*2.5E+04 + f*2. + x",
        expect![[r#"
            f = (((((((a * 2.0) + (b * 2.5)) + (c * 0.5)) + (d * 0.001)) + (g * 25000.0)) + (f * 2.0)) + x)
            params: a, b, c, d, g, f"#]],
    );
}

#[test]
fn precedence_and_associativity() {
    check(
        "-x^2*a",
        expect![[r#"
        f = ((-(x ^ 2.0)) * a)
        params: a"#]],
    );
    check(
        "a^b^x",
        expect![[r#"
        f = (a ^ (b ^ x))
        params: a, b"#]],
    );
    check(
        "a**b**x",
        expect![[r#"
        f = (a ^ (b ^ x))
        params: a, b"#]],
    );
    check(
        "2^-1*a*x",
        expect![[r#"
        f = (((2.0 ^ (-1.0)) * a) * x)
        params: a"#]],
    );
    check(
        "a - b - x",
        expect![[r#"
        f = ((a - b) - x)
        params: a, b"#]],
    );
    check(
        "a / b / x",
        expect![[r#"
        f = ((a / b) / x)
        params: a, b"#]],
    );
    check(
        "a*-x",
        expect![[r#"
        f = (a * (-x))
        params: a"#]],
    );
    check(
        "+a - -x",
        expect![[r#"
        f = (a - (-x))
        params: a"#]],
    );
    check(
        "a + b*x^2",
        expect![[r#"
        f = (a + (b * (x ^ 2.0)))
        params: a, b"#]],
    );
}

#[test]
fn brackets_and_calls() {
    check(
        "a*exp[-b*x]",
        expect![[r#"
        f = (a * exp(((-b) * x)))
        params: a, b"#]],
    );
    check(
        "[a + b]*(x)",
        expect![[r#"
        f = ((a + b) * x)
        params: a, b"#]],
    );
    check(
        "atan2(a, x) + pow(x, b) + min(a, x) + max(b, x)",
        expect![[r#"
        f = (((atan2(a, x) + pow(x, b)) + min(a, x)) + max(b, x))
        params: a, b"#]],
    );
    check(
        "arctan(a/x) + sign(x)*b",
        expect![[r#"
        f = (arctan((a / x)) + (sign(x) * b))
        params: a, b"#]],
    );
    check(
        "2*pi*x/a",
        expect![[r#"
        f = (((2.0 * pi) * x) / a)
        params: a"#]],
    );
}

#[test]
fn every_function_parses() {
    for (name, f) in jitfit::syntax::FUNCTIONS {
        let args = match (name, f.arity()) {
            (_, 1) => "a*x".to_owned(),
            // The order of polygamma is a number (tests/errors.rs: anything else is refused).
            (&"polygamma", _) => "2, a*x".to_owned(),
            _ => "a, x".to_owned(),
        };
        let source = format!("{name}({args})");
        let names = Names::default();
        let ast = parse(&source).unwrap();
        resolve(&ast, &source, &names).unwrap_or_else(|e| panic!("{e}"));
    }
}

#[test]
fn left_sides_and_helpers() {
    check(
        "y = a*x + b",
        expect![[r#"
        response y f = ((a * x) + b)
        params: a, b"#]],
    );
    check(
        "log[y] = a*x",
        expect![[r#"
        response log(y) f = (a * x)
        params: a"#]],
    );
    check(
        "g = exp(-(x-mu)^2/(2*s^2)); A*g + B",
        expect![[r#"
        g := exp(((-((x - mu) ^ 2.0)) / (2.0 * (s ^ 2.0))))
        f = ((A * g) + B)
        params: mu, s, A, B"#]],
    );
    check(
        "g = exp(-x/t)\nh = g*g\n\nA*g + B*h",
        expect![[r#"
        g := exp(((-x) / t))
        h := (g * g)
        f = ((A * g) + (B * h))
        params: t, A, B"#]],
    );
    check(
        "  a*x   # a comment\n",
        expect![[r#"
        f = (a * x)
        params: a"#]],
    );
}

#[test]
fn line_breaks_continue_an_expression() {
    check(
        "y = a*exp(-b*x)\n    + c*exp(-d*x)",
        expect![[r#"
        response y f = ((a * exp(((-b) * x))) + (c * exp(((-d) * x))))
        params: a, b, c, d"#]],
    );
}

#[test]
fn several_variables_and_first_appearance_order() {
    check_vars(
        &["x1", "x2"],
        "log[y] = b1 - b2*x1 * exp[-b3*x2]",
        expect![[r#"
        response log(y) f = (b1 - ((b2 * x1) * exp(((-b3) * x2))))
        params: b1, b2, b3"#]],
    );
    check_vars(
        &["x", "y"],
        "A*exp(-((x-x0)^2 + (y-y0)^2)/(2*s^2)) + B",
        expect![[r#"
        f = ((A * exp(((-(((x - x0) ^ 2.0) + ((y - y0) ^ 2.0))) / (2.0 * (s ^ 2.0))))) + B)
        params: A, x0, y0, s, B"#]],
    );
}

/// `e` is Euler's number, like `pi` (it was a free parameter: `A*e^(-t/tau)` fitted a
/// degenerate pair); a helper may still define its own `e`.
#[test]
fn e_is_eulers_number() {
    let model = jitfit::Model::parse_with_vars("A*e^(-t/tau)", &["t"]).unwrap();
    assert_eq!(model.params(), ["A", "tau"]);
    let mut interp = jitfit::ir::Interpreter::new(model.kernel());
    assert_eq!(interp.value(&[-2.0], &[1.0, 2.0]), std::f64::consts::E);
    let shadowed = jitfit::Model::parse("e = 2; a*e^x").unwrap();
    assert_eq!(shadowed.params(), ["a"]);
    assert_eq!(jitfit::ir::Interpreter::new(shadowed.kernel()).value(&[3.0], &[1.0]), 8.0);
}
