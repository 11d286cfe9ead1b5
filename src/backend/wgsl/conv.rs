//! The one table of how each IR operation is written in WGSL, for both precisions: operators
//! inline, every function by a `jf_` name that each precision's prelude defines. Only the
//! constants differ by precision (`f32(…)` or `…lf`).

use super::Precision;
use crate::ops::{BinaryOp, UnaryOp};

/// A constant in the shader's precision. WGSL has no NaN or infinity literals: 0/0 and ±1/0 at
/// run time give them (and an f64 constant beyond f32's range is ±∞ in an f32 shader, as it
/// would be on the device).
pub(super) fn literal(v: f64, precision: Precision) -> String {
    let (v, text) = match precision {
        Precision::F32 => (f64::from(v as f32), format!("{:?}", v as f32)),
        Precision::F64 => (v, format!("{v:?}")),
    };
    if v.is_nan() {
        return "(zero / zero)".to_owned();
    }
    if v.is_infinite() {
        return if v > 0.0 { "(one / zero)".to_owned() } else { "(-one / zero)".to_owned() };
    }
    let text = if text.contains('.') || text.contains('e') { text } else { text + ".0" };
    match precision {
        Precision::F32 => format!("f32({text})"),
        Precision::F64 => format!("{text}lf"),
    }
}

/// A unary operation applied to `a`.
pub(super) fn unary(op: UnaryOp, a: &str) -> String {
    let call = |f: &str| format!("{f}({a})");
    match op {
        UnaryOp::Neg => format!("-({a})"),
        UnaryOp::Abs => call("abs"),
        UnaryOp::Sqrt => call("sqrt"),
        UnaryOp::Exp => call("jf_exp"),
        UnaryOp::Ln => call("jf_log"),
        UnaryOp::Log10 => call("jf_log10"),
        UnaryOp::Log2 => call("jf_log2"),
        UnaryOp::Cbrt => call("jf_cbrt"),
        UnaryOp::Sign => call("jf_sign"),
        UnaryOp::Sin => call("jf_sin"),
        UnaryOp::Cos => call("jf_cos"),
        UnaryOp::Tan => call("jf_tan"),
        UnaryOp::Asin => call("jf_asin"),
        UnaryOp::Acos => call("jf_acos"),
        UnaryOp::Atan => call("jf_atan"),
        UnaryOp::Sinh => call("jf_sinh"),
        UnaryOp::Cosh => call("jf_cosh"),
        UnaryOp::Tanh => call("jf_tanh"),
        UnaryOp::Asinh => call("jf_asinh"),
        UnaryOp::Acosh => call("jf_acosh"),
        UnaryOp::Atanh => call("jf_atanh"),
        UnaryOp::Erf => call("jf_erf"),
        UnaryOp::Erfc => call("jf_erfc"),
        UnaryOp::LGamma => call("jf_lgamma"),
    }
}

/// A binary operation applied to `a` and `b`.
pub(super) fn binary(op: BinaryOp, a: &str, b: &str) -> String {
    let call = |f: &str| format!("{f}({a}, {b})");
    match op {
        BinaryOp::Add => format!("({a} + {b})"),
        BinaryOp::Sub => format!("({a} - {b})"),
        BinaryOp::Mul => format!("({a} * {b})"),
        BinaryOp::Div => format!("({a} / {b})"),
        BinaryOp::Pow => call("jf_pow"),
        BinaryOp::Atan2 => call("jf_atan2"),
        BinaryOp::Min => call("jf_min"),
        BinaryOp::Max => call("jf_max"),
        BinaryOp::Less => call("jf_less"),
        BinaryOp::XLogY => call("jf_xlogy"),
        BinaryOp::FaddeevaRe => call("jf_faddeeva_re"),
        BinaryOp::FaddeevaIm => call("jf_faddeeva_im"),
        BinaryOp::Polygamma => call("jf_polygamma"),
    }
}
