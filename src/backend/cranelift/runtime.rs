//! The functions compiled kernels call: one `extern "C"` shim per transcendental operation,
//! each calling the very `ops` implementation the interpreter uses, so that compiled code and
//! the reference agree bit for bit.

use crate::ops::{BinaryOp, UnaryOp};

macro_rules! unary_shims {
    ($($op:ident => $name:ident),* $(,)?) => {
        $(extern "C" fn $name(x: f64) -> f64 { UnaryOp::$op.eval(x) })*
        /// The symbol name and address of the shim for a unary operation that has one.
        pub fn unary_symbol(op: UnaryOp) -> Option<(&'static str, *const u8)> {
            match op {
                $(UnaryOp::$op => Some((stringify!($name), $name as *const u8)),)*
                _ => None,
            }
        }
        /// Every unary shim.
        pub fn unary_symbols() -> Vec<(&'static str, *const u8)> {
            vec![$((stringify!($name), $name as *const u8)),*]
        }
    };
}

unary_shims! {
    Exp => jitfit_exp, Ln => jitfit_ln, Log10 => jitfit_log10, Log2 => jitfit_log2,
    Cbrt => jitfit_cbrt, Sin => jitfit_sin, Cos => jitfit_cos, Tan => jitfit_tan,
    Asin => jitfit_asin, Acos => jitfit_acos, Atan => jitfit_atan, Sinh => jitfit_sinh,
    Cosh => jitfit_cosh, Tanh => jitfit_tanh, Asinh => jitfit_asinh, Acosh => jitfit_acosh,
    Atanh => jitfit_atanh, Erf => jitfit_erf, Erfc => jitfit_erfc,
}

extern "C" fn jitfit_pow(a: f64, b: f64) -> f64 {
    BinaryOp::Pow.eval(a, b)
}

extern "C" fn jitfit_atan2(a: f64, b: f64) -> f64 {
    BinaryOp::Atan2.eval(a, b)
}

/// The symbol name and address of the shim for a binary operation that has one.
pub fn binary_symbol(op: BinaryOp) -> Option<(&'static str, *const u8)> {
    match op {
        BinaryOp::Pow => Some(("jitfit_pow", jitfit_pow as *const u8)),
        BinaryOp::Atan2 => Some(("jitfit_atan2", jitfit_atan2 as *const u8)),
        _ => None,
    }
}

/// Every shim, unary and binary.
pub fn all_symbols() -> Vec<(&'static str, *const u8)> {
    let mut all = unary_symbols();
    all.extend(BinaryOp::ALL.iter().filter_map(|op| binary_symbol(*op)));
    all
}
