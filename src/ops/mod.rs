//! The arithmetic vocabulary shared by every stage: the operations a model can use, their
//! names, and their exact f64 meaning.
//!
//! The syntax layer resolves function names to these operations, the symbolic layer
//! differentiates them, the IR stores them and every backend implements them. `eval`
//! here is the one definition of what each operation computes; the reference interpreter,
//! the constant folder and the direct AST evaluator all call it, so they cannot disagree.

pub mod faddeeva;
pub mod gamma;
pub mod math;

use serde::{Deserialize, Serialize};

/// An operation with one operand.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum UnaryOp {
    Neg,
    Exp,
    Ln,
    Log10,
    Log2,
    Sqrt,
    Cbrt,
    Abs,
    Sin,
    Cos,
    Tan,
    Asin,
    Acos,
    Atan,
    Sinh,
    Cosh,
    Tanh,
    Asinh,
    Acosh,
    Atanh,
    Erf,
    Erfc,
    /// -1, 0 or 1 (0 for ±0), NaN for NaN.
    Sign,
    /// ln|Γ(a)| ([`gamma::lgamma`]).
    LGamma,
}

/// An operation with two operands.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum BinaryOp {
    Add,
    Sub,
    Mul,
    Div,
    Pow,
    Atan2,
    /// The smaller operand; NaN if either is NaN; `min(-0, +0) = -0`.
    Min,
    /// The larger operand; NaN if either is NaN; `max(-0, +0) = +0`.
    Max,
    /// 1 if `a < b`, else 0 (so 0 when either is NaN). Not callable from the model language:
    /// the derivatives of `min` and `max` use it.
    Less,
    /// `a·ln(b)`, but 0 when `a` is 0 (scipy's `xlogy`). The derivative of `u^v` with respect
    /// to the exponent is `xlogy(u^v, u)`, which is 0, not NaN, at `u = 0`.
    XLogY,
    /// Re w(a + ib), w the Faddeeva function ([`faddeeva`]): the Voigt profile's shape.
    FaddeevaRe,
    /// Im w(a + ib).
    FaddeevaIm,
    /// ψ⁽ᵃ⁾(b), the polygamma function of integer order a ≥ 0 ([`gamma::polygamma`]); the
    /// model language takes only a constant order.
    Polygamma,
}

impl UnaryOp {
    /// Every unary operation, in declaration order.
    pub const ALL: [UnaryOp; 24] = [
        UnaryOp::Neg,
        UnaryOp::Exp,
        UnaryOp::Ln,
        UnaryOp::Log10,
        UnaryOp::Log2,
        UnaryOp::Sqrt,
        UnaryOp::Cbrt,
        UnaryOp::Abs,
        UnaryOp::Sin,
        UnaryOp::Cos,
        UnaryOp::Tan,
        UnaryOp::Asin,
        UnaryOp::Acos,
        UnaryOp::Atan,
        UnaryOp::Sinh,
        UnaryOp::Cosh,
        UnaryOp::Tanh,
        UnaryOp::Asinh,
        UnaryOp::Acosh,
        UnaryOp::Atanh,
        UnaryOp::Erf,
        UnaryOp::Erfc,
        UnaryOp::Sign,
        UnaryOp::LGamma,
    ];

    /// The operation's canonical name (as written in the IR text form and in egg patterns).
    pub fn name(self) -> &'static str {
        match self {
            UnaryOp::Neg => "neg",
            UnaryOp::Exp => "exp",
            UnaryOp::Ln => "ln",
            UnaryOp::Log10 => "log10",
            UnaryOp::Log2 => "log2",
            UnaryOp::Sqrt => "sqrt",
            UnaryOp::Cbrt => "cbrt",
            UnaryOp::Abs => "abs",
            UnaryOp::Sin => "sin",
            UnaryOp::Cos => "cos",
            UnaryOp::Tan => "tan",
            UnaryOp::Asin => "asin",
            UnaryOp::Acos => "acos",
            UnaryOp::Atan => "atan",
            UnaryOp::Sinh => "sinh",
            UnaryOp::Cosh => "cosh",
            UnaryOp::Tanh => "tanh",
            UnaryOp::Asinh => "asinh",
            UnaryOp::Acosh => "acosh",
            UnaryOp::Atanh => "atanh",
            UnaryOp::Erf => "erf",
            UnaryOp::Erfc => "erfc",
            UnaryOp::Sign => "sign",
            UnaryOp::LGamma => "lgamma",
        }
    }

    /// The operation's value at `a`.
    #[inline]
    pub fn eval(self, a: f64) -> f64 {
        match self {
            UnaryOp::Neg => -a,
            // jitfit's own, emitted inline by the code generator (see `math`).
            UnaryOp::Exp => math::exp(a),
            UnaryOp::Ln => math::ln(a),
            UnaryOp::Log10 => a.log10(),
            UnaryOp::Log2 => a.log2(),
            UnaryOp::Sqrt => a.sqrt(),
            UnaryOp::Cbrt => a.cbrt(),
            UnaryOp::Abs => a.abs(),
            UnaryOp::Sin => math::sin(a),
            UnaryOp::Cos => math::cos(a),
            UnaryOp::Tan => a.tan(),
            UnaryOp::Asin => a.asin(),
            UnaryOp::Acos => a.acos(),
            UnaryOp::Atan => a.atan(),
            UnaryOp::Sinh => a.sinh(),
            UnaryOp::Cosh => a.cosh(),
            UnaryOp::Tanh => a.tanh(),
            UnaryOp::Asinh => a.asinh(),
            UnaryOp::Acosh => a.acosh(),
            // std's atanh, 0.5·ln_1p(2x/(1−x)), loses ~150 ulp near −1 (measured against the
            // symmetric atanh(−x) = −atanh(x)); libm's (fdlibm) is symmetric.
            UnaryOp::Atanh => libm::atanh(a),
            UnaryOp::Erf => libm::erf(a),
            UnaryOp::Erfc => libm::erfc(a),
            UnaryOp::Sign => sign(a),
            UnaryOp::LGamma => gamma::lgamma(a),
        }
    }

    /// A rough cost of one evaluation, in units of an addition. Used by extraction.
    pub fn cost(self) -> usize {
        match self {
            UnaryOp::Neg | UnaryOp::Abs | UnaryOp::Sign => 1,
            UnaryOp::Sqrt => 8,
            _ => 40,
        }
    }
}

impl BinaryOp {
    /// Every binary operation, in declaration order.
    pub const ALL: [BinaryOp; 13] = [
        BinaryOp::Add,
        BinaryOp::Sub,
        BinaryOp::Mul,
        BinaryOp::Div,
        BinaryOp::Pow,
        BinaryOp::Atan2,
        BinaryOp::Min,
        BinaryOp::Max,
        BinaryOp::Less,
        BinaryOp::XLogY,
        BinaryOp::FaddeevaRe,
        BinaryOp::FaddeevaIm,
        BinaryOp::Polygamma,
    ];

    /// The operation's canonical name (as written in the IR text form and in egg patterns).
    pub fn name(self) -> &'static str {
        match self {
            BinaryOp::Add => "add",
            BinaryOp::Sub => "sub",
            BinaryOp::Mul => "mul",
            BinaryOp::Div => "div",
            BinaryOp::Pow => "pow",
            BinaryOp::Atan2 => "atan2",
            BinaryOp::Min => "min",
            BinaryOp::Max => "max",
            BinaryOp::Less => "less",
            BinaryOp::XLogY => "xlogy",
            BinaryOp::FaddeevaRe => "faddeeva_re",
            BinaryOp::FaddeevaIm => "faddeeva_im",
            BinaryOp::Polygamma => "polygamma",
        }
    }

    /// The operation's value at `(a, b)`.
    #[inline]
    pub fn eval(self, a: f64, b: f64) -> f64 {
        match self {
            BinaryOp::Add => a + b,
            BinaryOp::Sub => a - b,
            BinaryOp::Mul => a * b,
            BinaryOp::Div => a / b,
            BinaryOp::Pow => a.powf(b),
            BinaryOp::Atan2 => a.atan2(b),
            BinaryOp::Min => min(a, b),
            BinaryOp::Max => max(a, b),
            BinaryOp::Less => {
                if a < b {
                    1.0
                } else {
                    0.0
                }
            }
            BinaryOp::XLogY => xlogy(a, b),
            BinaryOp::FaddeevaRe => faddeeva::faddeeva(a, b).0,
            BinaryOp::FaddeevaIm => faddeeva::faddeeva(a, b).1,
            BinaryOp::Polygamma => gamma::polygamma(a, b),
        }
    }

    /// A rough cost of one evaluation, in units of an addition. Used by extraction.
    pub fn cost(self) -> usize {
        match self {
            BinaryOp::Add | BinaryOp::Sub | BinaryOp::Min | BinaryOp::Max | BinaryOp::Less => 1,
            BinaryOp::Mul => 2,
            BinaryOp::Div => 8,
            BinaryOp::Pow | BinaryOp::Atan2 => 60,
            BinaryOp::XLogY => 41,
            BinaryOp::FaddeevaRe | BinaryOp::FaddeevaIm | BinaryOp::Polygamma => 200,
        }
    }
}

/// `sign(x)`: -1, 0 or 1; ±0 for ±0; NaN for NaN.
pub fn sign(a: f64) -> f64 {
    if a > 0.0 {
        1.0
    } else if a < 0.0 {
        -1.0
    } else {
        a // ±0 or NaN
    }
}

/// `a·ln(b)`, 0 when `a == 0` (whatever `b`, NaN included), as scipy's `xlogy`.
pub fn xlogy(a: f64, b: f64) -> f64 {
    if a == 0.0 { 0.0 } else { a * math::ln(b) }
}

/// IEEE 754-2019 `minimum`: NaN if either operand is NaN, and -0 below +0.
pub fn min(a: f64, b: f64) -> f64 {
    if a.is_nan() || b.is_nan() {
        f64::NAN
    } else if a < b || (a == b && a.is_sign_negative()) {
        a
    } else {
        b
    }
}

/// IEEE 754-2019 `maximum`: NaN if either operand is NaN, and +0 above -0.
pub fn max(a: f64, b: f64) -> f64 {
    if a.is_nan() || b.is_nan() {
        f64::NAN
    } else if a > b || (a == b && a.is_sign_positive()) {
        a
    } else {
        b
    }
}

macro_rules! typed_id {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
        #[serde(transparent)]
        pub struct $name(pub u32);

        impl $name {
            /// The id as an index.
            #[inline]
            pub fn index(self) -> usize {
                self.0 as usize
            }
        }
    };
}

typed_id!(
    /// An independent variable (a data column such as `x`), numbered in the caller's order.
    VarId
);
typed_id!(
    /// A parameter to fit, numbered in order of first appearance (or the caller's order).
    ParamId
);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn min_max_follow_ieee_2019() {
        assert!(min(f64::NAN, 1.0).is_nan());
        assert!(max(1.0, f64::NAN).is_nan());
        assert!(min(0.0, -0.0).is_sign_negative());
        assert!(max(-0.0, 0.0).is_sign_positive());
        assert_eq!(min(2.0, 3.0), 2.0);
        assert_eq!(max(2.0, 3.0), 3.0);
    }

    #[test]
    fn sign_of_zero_is_zero() {
        assert_eq!(sign(0.0), 0.0);
        assert_eq!(sign(-3.0), -1.0);
        assert!(sign(f64::NAN).is_nan());
    }

    #[test]
    fn names_are_unique() {
        let mut names: Vec<&str> = UnaryOp::ALL.iter().map(|op| op.name()).collect();
        names.extend(BinaryOp::ALL.iter().map(|op| op.name()));
        let n = names.len();
        names.sort();
        names.dedup();
        assert_eq!(names.len(), n);
    }
}
