//! The functions compiled kernels call: one `extern "C"` shim per transcendental operation,
//! each calling the very `ops` implementation the interpreter uses, so that compiled code and
//! the reference agree bit for bit. (`exp` and `ln` have none: they are emitted inline.)

use crate::loss::Loss;
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
    Log10 => jitfit_log10, Log2 => jitfit_log2,
    Cbrt => jitfit_cbrt, Sin => jitfit_sin, Cos => jitfit_cos, Tan => jitfit_tan,
    Asin => jitfit_asin, Acos => jitfit_acos, Atan => jitfit_atan, Sinh => jitfit_sinh,
    Cosh => jitfit_cosh, Tanh => jitfit_tanh, Asinh => jitfit_asinh, Acosh => jitfit_acosh,
    Atanh => jitfit_atanh, Erf => jitfit_erf, Erfc => jitfit_erfc, LGamma => jitfit_lgamma,
}

extern "C" fn jitfit_pow(a: f64, b: f64) -> f64 {
    BinaryOp::Pow.eval(a, b)
}

extern "C" fn jitfit_atan2(a: f64, b: f64) -> f64 {
    BinaryOp::Atan2.eval(a, b)
}

extern "C" fn jitfit_faddeeva_re(a: f64, b: f64) -> f64 {
    BinaryOp::FaddeevaRe.eval(a, b)
}

extern "C" fn jitfit_faddeeva_im(a: f64, b: f64) -> f64 {
    BinaryOp::FaddeevaIm.eval(a, b)
}

extern "C" fn jitfit_polygamma(a: f64, b: f64) -> f64 {
    BinaryOp::Polygamma.eval(a, b)
}

/// The symbol name and address of the shim for a binary operation that has one.
pub fn binary_symbol(op: BinaryOp) -> Option<(&'static str, *const u8)> {
    match op {
        BinaryOp::Pow => Some(("jitfit_pow", jitfit_pow as *const u8)),
        BinaryOp::Atan2 => Some(("jitfit_atan2", jitfit_atan2 as *const u8)),
        BinaryOp::FaddeevaRe => Some(("jitfit_faddeeva_re", jitfit_faddeeva_re as *const u8)),
        BinaryOp::FaddeevaIm => Some(("jitfit_faddeeva_im", jitfit_faddeeva_im as *const u8)),
        BinaryOp::Polygamma => Some(("jitfit_polygamma", jitfit_polygamma as *const u8)),
        _ => None,
    }
}

extern "C" fn jitfit_loss_cost(code: f64, c2: f64, r: f64) -> f64 {
    Loss::from_code(code).point(r, c2).0
}

extern "C" fn jitfit_loss_residual(code: f64, c2: f64, r: f64) -> f64 {
    Loss::from_code(code).point(r, c2).1
}

extern "C" fn jitfit_loss_row_scale(code: f64, c2: f64, r: f64) -> f64 {
    Loss::from_code(code).point(r, c2).2
}

/// The robust-loss shims `(code, f_scale², r) -> f64`: cost term, scaled residual, row scale.
pub const LOSS_SYMBOLS: [&str; 3] = ["jitfit_loss_cost", "jitfit_loss_residual", "jitfit_loss_row_scale"];

/// Every shim, unary and binary, and the loss shims.
pub fn all_symbols() -> Vec<(&'static str, *const u8)> {
    let mut all = unary_symbols();
    all.extend(BinaryOp::ALL.iter().filter_map(|op| binary_symbol(*op)));
    all.push((LOSS_SYMBOLS[0], jitfit_loss_cost as *const u8));
    all.push((LOSS_SYMBOLS[1], jitfit_loss_residual as *const u8));
    all.push((LOSS_SYMBOLS[2], jitfit_loss_row_scale as *const u8));
    all
}
