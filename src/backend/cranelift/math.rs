//! `exp` and `ln` emitted inline, for one point (`f64`) or two (`f64x2`): the operations of
//! `ops::math`, in its order, so the compiled value is the interpreter's bit for bit. Every
//! branch of the Rust code is a selection after the arithmetic here (per lane for vectors).

use crate::ops::math::consts::*;
use cranelift_codegen::ir::condcodes::FloatCC;
use cranelift_codegen::ir::{Endianness, InstBuilder, MemFlagsData, Type, Value, types};
use cranelift_frontend::FunctionBuilder;

/// One point per value (`F64`) or two (`F64X2`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) struct Lanes(pub Type);

impl Lanes {
    pub const SCALAR: Lanes = Lanes(types::F64);
    pub const PAIR: Lanes = Lanes(types::F64X2);

    fn vector(self) -> bool {
        self.0.is_vector()
    }

    fn int(self) -> Type {
        if self.vector() { types::I64X2 } else { types::I64 }
    }

    /// A float constant in every lane.
    pub fn f(self, b: &mut FunctionBuilder<'_>, c: f64) -> Value {
        let v = b.ins().f64const(c);
        if self.vector() { b.ins().splat(self.0, v) } else { v }
    }

    fn i(self, b: &mut FunctionBuilder<'_>, c: u64) -> Value {
        let v = b.ins().iconst(types::I64, c as i64);
        if self.vector() { b.ins().splat(self.int(), v) } else { v }
    }

    fn to_bits(self, b: &mut FunctionBuilder<'_>, v: Value) -> Value {
        b.ins().bitcast(self.int(), MemFlagsData::new().with_endianness(Endianness::Little), v)
    }

    fn from_bits(self, b: &mut FunctionBuilder<'_>, v: Value) -> Value {
        b.ins().bitcast(self.0, MemFlagsData::new().with_endianness(Endianness::Little), v)
    }

    /// `if x cc y { then } else { other }`, lane by lane.
    pub fn select(
        self,
        b: &mut FunctionBuilder<'_>,
        cc: FloatCC,
        x: Value,
        y: Value,
        then: Value,
        other: Value,
    ) -> Value {
        let condition = b.ins().fcmp(cc, x, y);
        if self.vector() {
            let mask = self.from_bits(b, condition);
            b.ins().bitselect(mask, then, other)
        } else {
            b.ins().select(condition, then, other)
        }
    }
}

/// (a + b·t), the step of Horner's rule as `ops::math` writes it: `a + t·(…)`.
fn horner(b: &mut FunctionBuilder<'_>, lanes: Lanes, t: Value, coefficients: &[f64]) -> Value {
    let (last, rest) = coefficients.split_last().expect("a polynomial");
    let mut acc = lanes.f(b, *last);
    for c in rest.iter().rev() {
        let product = b.ins().fmul(t, acc);
        let c = lanes.f(b, *c);
        acc = b.ins().fadd(c, product);
    }
    acc
}

/// `(v + MAGIC) − MAGIC`: v rounded to an integer, ties to even.
fn round(b: &mut FunctionBuilder<'_>, lanes: Lanes, v: Value) -> Value {
    let magic = lanes.f(b, MAGIC);
    let shifted = b.ins().fadd(v, magic);
    b.ins().fsub(shifted, magic)
}

/// 2^k for an integral float k, from the bits of `k + MAGIC` (`ops::math::pow2`).
fn pow2(b: &mut FunctionBuilder<'_>, lanes: Lanes, k: Value) -> Value {
    let magic = lanes.f(b, MAGIC);
    let shifted = b.ins().fadd(k, magic);
    let bits = lanes.to_bits(b, shifted);
    let bias = lanes.i(b, 1023);
    let biased = b.ins().iadd(bits, bias);
    let exponent = b.ins().ishl_imm_u(biased, 52);
    lanes.from_bits(b, exponent)
}

/// eˣ: `ops::math::exp`.
pub(super) fn exp(b: &mut FunctionBuilder<'_>, lanes: Lanes, x: Value) -> Value {
    let inv_ln2 = lanes.f(b, INV_LN2);
    let scaled = b.ins().fmul(x, inv_ln2);
    let kf = round(b, lanes, scaled);
    let ln2_hi = lanes.f(b, LN2_HI);
    let k_hi = b.ins().fmul(kf, ln2_hi);
    let hi = b.ins().fsub(x, k_hi);
    let ln2_lo = lanes.f(b, LN2_LO);
    let lo = b.ins().fmul(kf, ln2_lo);
    let r = b.ins().fsub(hi, lo);
    let t = b.ins().fmul(r, r);
    let poly = horner(b, lanes, t, &EXP_P);
    let t_poly = b.ins().fmul(t, poly);
    let c = b.ins().fsub(r, t_poly);
    // y = 1 − ((lo − (r·c)/(2 − c)) − hi)
    let rc = b.ins().fmul(r, c);
    let two = lanes.f(b, 2.0);
    let two_minus_c = b.ins().fsub(two, c);
    let quotient = b.ins().fdiv(rc, two_minus_c);
    let inner = b.ins().fsub(lo, quotient);
    let inner = b.ins().fsub(inner, hi);
    let one = lanes.f(b, 1.0);
    let y = b.ins().fsub(one, inner);
    let half = lanes.f(b, 0.5);
    let half_k = b.ins().fmul(kf, half);
    let k1 = round(b, lanes, half_k);
    let k2 = b.ins().fsub(kf, k1);
    let s1 = pow2(b, lanes, k1);
    let s2 = pow2(b, lanes, k2);
    let v = b.ins().fmul(y, s1);
    let v = b.ins().fmul(v, s2);
    let overflow = lanes.f(b, EXP_OVERFLOW);
    let infinity = lanes.f(b, f64::INFINITY);
    let v = lanes.select(b, FloatCC::GreaterThan, x, overflow, infinity, v);
    let underflow = lanes.f(b, EXP_UNDERFLOW);
    let zero = lanes.f(b, 0.0);
    let v = lanes.select(b, FloatCC::LessThan, x, underflow, zero, v);
    lanes.select(b, FloatCC::Unordered, x, x, x, v)
}

/// ln x: `ops::math::ln`.
pub(super) fn ln(b: &mut FunctionBuilder<'_>, lanes: Lanes, x: Value) -> Value {
    let smallest_normal = lanes.f(b, f64::MIN_POSITIVE);
    let two54 = lanes.f(b, TWO54);
    let x_scaled = b.ins().fmul(x, two54);
    let xs = lanes.select(b, FloatCC::LessThan, x, smallest_normal, x_scaled, x);
    let minus_54 = lanes.f(b, -54.0);
    let zero = lanes.f(b, 0.0);
    let k_adjust = lanes.select(b, FloatCC::LessThan, x, smallest_normal, minus_54, zero);
    let xs_bits = lanes.to_bits(b, xs);
    let shift = lanes.i(b, LN_SHIFT);
    let bits = b.ins().iadd(xs_bits, shift);
    // k = (bits >> 52) − 1023 + adjustment, converted through the bits of 2⁵².
    let exponent = b.ins().ushr_imm_u(bits, 52);
    let two52_bits = lanes.i(b, TWO52_BITS);
    let k_bits = b.ins().bor(exponent, two52_bits);
    let k_float = lanes.from_bits(b, k_bits);
    let two52 = lanes.f(b, TWO52);
    let k = b.ins().fsub(k_float, two52);
    let bias = lanes.f(b, 1023.0);
    let k = b.ins().fsub(k, bias);
    let kf = b.ins().fadd(k, k_adjust);
    let mantissa_mask = lanes.i(b, LN_MANTISSA);
    let mantissa = b.ins().band(bits, mantissa_mask);
    let rebias = lanes.i(b, LN_REBIAS);
    let m_bits = b.ins().iadd(mantissa, rebias);
    let m = lanes.from_bits(b, m_bits);
    let one = lanes.f(b, 1.0);
    let f = b.ins().fsub(m, one);
    // hfsq = 0.5·f·f, s = f/(2 + f), z = s², w = z²
    let half = lanes.f(b, 0.5);
    let half_f = b.ins().fmul(half, f);
    let hfsq = b.ins().fmul(half_f, f);
    let two = lanes.f(b, 2.0);
    let two_plus_f = b.ins().fadd(two, f);
    let s = b.ins().fdiv(f, two_plus_f);
    let z = b.ins().fmul(s, s);
    let w = b.ins().fmul(z, z);
    let [lg1, lg2, lg3, lg4, lg5, lg6, lg7] = LG;
    let p1 = horner(b, lanes, w, &[lg2, lg4, lg6]);
    let t1 = b.ins().fmul(w, p1);
    let p2 = horner(b, lanes, w, &[lg1, lg3, lg5, lg7]);
    let t2 = b.ins().fmul(z, p2);
    let r = b.ins().fadd(t2, t1);
    // s·(hfsq + r) + k·ln2_lo − hfsq + f + k·ln2_hi, left to right.
    let hfsq_r = b.ins().fadd(hfsq, r);
    let v = b.ins().fmul(s, hfsq_r);
    let ln2_lo = lanes.f(b, LN2_LO);
    let k_lo = b.ins().fmul(kf, ln2_lo);
    let v = b.ins().fadd(v, k_lo);
    let v = b.ins().fsub(v, hfsq);
    let v = b.ins().fadd(v, f);
    let ln2_hi = lanes.f(b, LN2_HI);
    let k_hi = b.ins().fmul(kf, ln2_hi);
    let v = b.ins().fadd(v, k_hi);
    let infinity = lanes.f(b, f64::INFINITY);
    let v = lanes.select(b, FloatCC::Equal, x, infinity, x, v);
    let minus_infinity = lanes.f(b, f64::NEG_INFINITY);
    let v = lanes.select(b, FloatCC::Equal, x, zero, minus_infinity, v);
    let nan = lanes.f(b, f64::NAN);
    let v = lanes.select(b, FloatCC::LessThan, x, zero, nan, v);
    lanes.select(b, FloatCC::Unordered, x, x, x, v)
}
