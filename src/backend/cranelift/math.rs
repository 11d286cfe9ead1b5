//! `exp`, `ln`, `sin` and `cos` emitted inline, for one point (`f64`) or two (`f64x2`): the operations of
//! `ops::math`, in its order, so the compiled value is the interpreter's bit for bit. Every
//! branch of the Rust code is a selection after the arithmetic here (per lane for vectors).
//!
//! Each function takes several independent values (copies: the points of one loop step) and
//! emits every step for all of them before the next step, so that their dependency chains
//! interleave and the processor overlaps them; a one-element slice is a value shared by all
//! copies (a constant).

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

    pub(super) fn vector(self) -> bool {
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

    fn as_int(self, b: &mut FunctionBuilder<'_>, v: Value) -> Value {
        b.ins().bitcast(self.int(), MemFlagsData::new().with_endianness(Endianness::Little), v)
    }

    fn as_float(self, b: &mut FunctionBuilder<'_>, v: Value) -> Value {
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
            let mask = self.as_float(b, condition);
            b.ins().bitselect(mask, then, other)
        } else {
            b.ins().select(condition, then, other)
        }
    }
}

/// Values, one per copy (or one shared by all).
pub(super) type Values = Vec<Value>;

pub(super) fn each(
    b: &mut FunctionBuilder<'_>,
    x: &[Value],
    y: &[Value],
    op: impl Fn(&mut FunctionBuilder<'_>, Value, Value) -> Value,
) -> Values {
    let copies = x.len().max(y.len());
    (0..copies).map(|c| op(b, x[c.min(x.len() - 1)], y[c.min(y.len() - 1)])).collect()
}

fn add(b: &mut FunctionBuilder<'_>, x: &[Value], y: &[Value]) -> Values {
    each(b, x, y, |b, x, y| b.ins().fadd(x, y))
}

fn sub(b: &mut FunctionBuilder<'_>, x: &[Value], y: &[Value]) -> Values {
    each(b, x, y, |b, x, y| b.ins().fsub(x, y))
}

fn mul(b: &mut FunctionBuilder<'_>, x: &[Value], y: &[Value]) -> Values {
    each(b, x, y, |b, x, y| b.ins().fmul(x, y))
}

fn div(b: &mut FunctionBuilder<'_>, x: &[Value], y: &[Value]) -> Values {
    each(b, x, y, |b, x, y| b.ins().fdiv(x, y))
}

impl Lanes {
    /// A constant shared by every copy.
    fn c(self, b: &mut FunctionBuilder<'_>, c: f64) -> Values {
        vec![self.f(b, c)]
    }

    fn ci(self, b: &mut FunctionBuilder<'_>, c: u64) -> Values {
        vec![self.i(b, c)]
    }

    /// `select` for every copy.
    #[allow(clippy::too_many_arguments)]
    pub(super) fn choose(
        self,
        b: &mut FunctionBuilder<'_>,
        cc: FloatCC,
        x: &[Value],
        y: &[Value],
        then: &[Value],
        other: &[Value],
    ) -> Values {
        let copies = [x.len(), y.len(), then.len(), other.len()].into_iter().max().unwrap_or(1);
        let at = |v: &[Value], c: usize| v[c.min(v.len() - 1)];
        (0..copies).map(|c| self.select(b, cc, at(x, c), at(y, c), at(then, c), at(other, c))).collect()
    }
}

/// `a + t·(…)`, Horner's rule as `ops::math` writes it.
fn horner(b: &mut FunctionBuilder<'_>, lanes: Lanes, t: &[Value], coefficients: &[f64]) -> Values {
    let (last, rest) = coefficients.split_last().expect("a polynomial");
    let mut acc = lanes.c(b, *last);
    for c in rest.iter().rev() {
        let product = mul(b, t, &acc);
        let c = lanes.c(b, *c);
        acc = add(b, &c, &product);
    }
    acc
}

/// `(v + MAGIC) − MAGIC`: v rounded to an integer, ties to even.
fn round(b: &mut FunctionBuilder<'_>, lanes: Lanes, v: &[Value]) -> Values {
    let magic = lanes.c(b, MAGIC);
    let shifted = add(b, v, &magic);
    sub(b, &shifted, &magic)
}

/// 2^k for an integral float k, from the bits of `k + MAGIC` (`ops::math::pow2`).
fn pow2(b: &mut FunctionBuilder<'_>, lanes: Lanes, k: &[Value]) -> Values {
    let magic = lanes.c(b, MAGIC);
    let shifted = add(b, k, &magic);
    let bits: Values = shifted.iter().map(|v| lanes.as_int(b, *v)).collect();
    let bias = lanes.ci(b, 1023);
    let biased = each(b, &bits, &bias, |b, x, y| b.ins().iadd(x, y));
    biased
        .iter()
        .map(|v| {
            let exponent = b.ins().ishl_imm_u(*v, 52);
            lanes.as_float(b, exponent)
        })
        .collect()
}

/// eˣ: `ops::math::exp`.
pub(super) fn exp(b: &mut FunctionBuilder<'_>, lanes: Lanes, x: &[Value]) -> Values {
    let inv_ln2 = lanes.c(b, INV_LN2);
    let scaled = mul(b, x, &inv_ln2);
    let kf = round(b, lanes, &scaled);
    let ln2_hi = lanes.c(b, LN2_HI);
    let k_hi = mul(b, &kf, &ln2_hi);
    let hi = sub(b, x, &k_hi);
    let ln2_lo = lanes.c(b, LN2_LO);
    let lo = mul(b, &kf, &ln2_lo);
    let r = sub(b, &hi, &lo);
    let t = mul(b, &r, &r);
    let poly = horner(b, lanes, &t, &EXP_P);
    let t_poly = mul(b, &t, &poly);
    let c = sub(b, &r, &t_poly);
    // y = 1 − ((lo − (r·c)/(2 − c)) − hi)
    let rc = mul(b, &r, &c);
    let two = lanes.c(b, 2.0);
    let two_minus_c = sub(b, &two, &c);
    let quotient = div(b, &rc, &two_minus_c);
    let inner = sub(b, &lo, &quotient);
    let inner = sub(b, &inner, &hi);
    let one = lanes.c(b, 1.0);
    let y = sub(b, &one, &inner);
    let half = lanes.c(b, 0.5);
    let half_k = mul(b, &kf, &half);
    let k1 = round(b, lanes, &half_k);
    let k2 = sub(b, &kf, &k1);
    let s1 = pow2(b, lanes, &k1);
    let s2 = pow2(b, lanes, &k2);
    let v = mul(b, &y, &s1);
    let v = mul(b, &v, &s2);
    let overflow = lanes.c(b, EXP_OVERFLOW);
    let infinity = lanes.c(b, f64::INFINITY);
    let v = lanes.choose(b, FloatCC::GreaterThan, x, &overflow, &infinity, &v);
    let underflow = lanes.c(b, EXP_UNDERFLOW);
    let zero = lanes.c(b, 0.0);
    let v = lanes.choose(b, FloatCC::LessThan, x, &underflow, &zero, &v);
    lanes.choose(b, FloatCC::Unordered, x, x, x, &v)
}

/// ln x: `ops::math::ln`.
pub(super) fn ln(b: &mut FunctionBuilder<'_>, lanes: Lanes, x: &[Value]) -> Values {
    let smallest_normal = lanes.c(b, f64::MIN_POSITIVE);
    let two54 = lanes.c(b, TWO54);
    let x_scaled = mul(b, x, &two54);
    let xs = lanes.choose(b, FloatCC::LessThan, x, &smallest_normal, &x_scaled, x);
    let minus_54 = lanes.c(b, -54.0);
    let zero = lanes.c(b, 0.0);
    let k_adjust = lanes.choose(b, FloatCC::LessThan, x, &smallest_normal, &minus_54, &zero);
    let xs_bits: Values = xs.iter().map(|v| lanes.as_int(b, *v)).collect();
    let shift = lanes.ci(b, LN_SHIFT);
    let bits = each(b, &xs_bits, &shift, |b, x, y| b.ins().iadd(x, y));
    // k = (bits >> 52) − 1023 + adjustment, converted through the bits of 2⁵².
    let two52_bits = lanes.ci(b, TWO52_BITS);
    let k_float: Values = bits
        .iter()
        .map(|v| {
            let exponent = b.ins().ushr_imm_u(*v, 52);
            let k_bits = b.ins().bor(exponent, two52_bits[0]);
            lanes.as_float(b, k_bits)
        })
        .collect();
    let two52 = lanes.c(b, TWO52);
    let k = sub(b, &k_float, &two52);
    let bias = lanes.c(b, 1023.0);
    let k = sub(b, &k, &bias);
    let kf = add(b, &k, &k_adjust);
    let mantissa_mask = lanes.ci(b, LN_MANTISSA);
    let mantissa = each(b, &bits, &mantissa_mask, |b, x, y| b.ins().band(x, y));
    let rebias = lanes.ci(b, LN_REBIAS);
    let m_bits = each(b, &mantissa, &rebias, |b, x, y| b.ins().iadd(x, y));
    let m: Values = m_bits.iter().map(|v| lanes.as_float(b, *v)).collect();
    let one = lanes.c(b, 1.0);
    let f = sub(b, &m, &one);
    // hfsq = 0.5·f·f, s = f/(2 + f), z = s², w = z²
    let half = lanes.c(b, 0.5);
    let half_f = mul(b, &half, &f);
    let hfsq = mul(b, &half_f, &f);
    let two = lanes.c(b, 2.0);
    let two_plus_f = add(b, &two, &f);
    let s = div(b, &f, &two_plus_f);
    let z = mul(b, &s, &s);
    let w = mul(b, &z, &z);
    let [lg1, lg2, lg3, lg4, lg5, lg6, lg7] = LG;
    let p1 = horner(b, lanes, &w, &[lg2, lg4, lg6]);
    let t1 = mul(b, &w, &p1);
    let p2 = horner(b, lanes, &w, &[lg1, lg3, lg5, lg7]);
    let t2 = mul(b, &z, &p2);
    let r = add(b, &t2, &t1);
    // s·(hfsq + r) + k·ln2_lo − hfsq + f + k·ln2_hi, left to right.
    let hfsq_r = add(b, &hfsq, &r);
    let v = mul(b, &s, &hfsq_r);
    let ln2_lo = lanes.c(b, LN2_LO);
    let k_lo = mul(b, &kf, &ln2_lo);
    let v = add(b, &v, &k_lo);
    let v = sub(b, &v, &hfsq);
    let v = add(b, &v, &f);
    let ln2_hi = lanes.c(b, LN2_HI);
    let k_hi = mul(b, &kf, &ln2_hi);
    let v = add(b, &v, &k_hi);
    let infinity = lanes.c(b, f64::INFINITY);
    let v = lanes.choose(b, FloatCC::Equal, x, &infinity, x, &v);
    let minus_infinity = lanes.c(b, f64::NEG_INFINITY);
    let v = lanes.choose(b, FloatCC::Equal, x, &zero, &minus_infinity, &v);
    let nan = lanes.c(b, f64::NAN);
    let v = lanes.choose(b, FloatCC::LessThan, x, &zero, &nan, &v);
    lanes.choose(b, FloatCC::Unordered, x, x, x, &v)
}

/// Applies an integer operation to the bits of every copy and returns floats.
fn on_bits(
    b: &mut FunctionBuilder<'_>,
    lanes: Lanes,
    x: &[Value],
    op: impl Fn(&mut FunctionBuilder<'_>, Value) -> Value,
) -> Values {
    x.iter()
        .map(|v| {
            let bits = lanes.as_int(b, *v);
            let bits = op(b, bits);
            lanes.as_float(b, bits)
        })
        .collect()
}

/// x = n·π/2 + (y0 + y1) and n mod 4: `ops::math::reduce`.
fn reduce(b: &mut FunctionBuilder<'_>, lanes: Lanes, x: &[Value]) -> (Values, Values, Values) {
    let inv_pio2 = lanes.c(b, INV_PIO2);
    let scaled = mul(b, x, &inv_pio2);
    let magic = lanes.c(b, MAGIC);
    let shifted = add(b, &scaled, &magic);
    let n = sub(b, &shifted, &magic);
    let (low_two, two52_bits) = (lanes.i(b, LOW_TWO), lanes.i(b, TWO52_BITS));
    let q_bits = on_bits(b, lanes, &shifted, |b, bits| {
        let q = b.ins().band(bits, low_two);
        b.ins().bor(q, two52_bits)
    });
    let two52 = lanes.c(b, TWO52);
    let quadrant = sub(b, &q_bits, &two52);
    let part = lanes.c(b, PIO2_1);
    let n_part = mul(b, &n, &part);
    let r1 = sub(b, x, &n_part);
    // One round: r' = r − n·part, w' = n·tail − ((r − r') − n·part).
    let round = |b: &mut FunctionBuilder<'_>, r: &[Value], part: f64, tail: f64| {
        let part = lanes.c(b, part);
        let w = mul(b, &n, &part);
        let next = sub(b, r, &w);
        let tail = lanes.c(b, tail);
        let n_tail = mul(b, &n, &tail);
        let lost = sub(b, r, &next);
        let lost = sub(b, &lost, &w);
        let w_next = sub(b, &n_tail, &lost);
        (next, w_next)
    };
    let (r2, w2) = round(b, &r1, PIO2_2, PIO2_2T);
    let y2 = sub(b, &r2, &w2);
    let (r3, w3) = round(b, &r2, PIO2_3, PIO2_3T);
    let y2_abs: Values = y2.iter().map(|v| b.ins().fabs(*v)).collect();
    let two50 = lanes.c(b, TWO50);
    let scaled = mul(b, &y2_abs, &two50);
    let x_abs: Values = x.iter().map(|v| b.ins().fabs(*v)).collect();
    let r = lanes.choose(b, FloatCC::LessThan, &scaled, &x_abs, &r3, &r2);
    let w = lanes.choose(b, FloatCC::LessThan, &scaled, &x_abs, &w3, &w2);
    let y0 = sub(b, &r, &w);
    let lost = sub(b, &r, &y0);
    let y1 = sub(b, &lost, &w);
    (y0, y1, quadrant)
}

/// `ops::math::sin_kernel`.
fn sin_kernel(b: &mut FunctionBuilder<'_>, lanes: Lanes, x: &[Value], y: &[Value]) -> Values {
    let [s1, s2, s3, s4, s5, s6] = SIN_S;
    let z = mul(b, x, x);
    let w = mul(b, &z, &z);
    let inner = horner(b, lanes, &z, &[s3, s4]);
    let z_inner = mul(b, &z, &inner);
    let s2 = lanes.c(b, s2);
    let left = add(b, &s2, &z_inner);
    let zw = mul(b, &z, &w);
    let outer = horner(b, lanes, &z, &[s5, s6]);
    let right = mul(b, &zw, &outer);
    let r = add(b, &left, &right);
    let v = mul(b, &z, x);
    let half = lanes.c(b, 0.5);
    let half_y = mul(b, &half, y);
    let vr = mul(b, &v, &r);
    let inner = sub(b, &half_y, &vr);
    let t = mul(b, &z, &inner);
    let t = sub(b, &t, y);
    let s1 = lanes.c(b, s1);
    let vs1 = mul(b, &v, &s1);
    let t = sub(b, &t, &vs1);
    sub(b, x, &t)
}

/// `ops::math::cos_kernel`.
fn cos_kernel(b: &mut FunctionBuilder<'_>, lanes: Lanes, x: &[Value], y: &[Value]) -> Values {
    let [c1, c2, c3, c4, c5, c6] = COS_C;
    let z = mul(b, x, x);
    let w = mul(b, &z, &z);
    let inner = horner(b, lanes, &z, &[c1, c2, c3]);
    let left = mul(b, &z, &inner);
    let ww = mul(b, &w, &w);
    let outer = horner(b, lanes, &z, &[c4, c5, c6]);
    let right = mul(b, &ww, &outer);
    let r = add(b, &left, &right);
    let half = lanes.c(b, 0.5);
    let hz = mul(b, &half, &z);
    let one = lanes.c(b, 1.0);
    let w = sub(b, &one, &hz);
    let t = sub(b, &one, &w);
    let t = sub(b, &t, &hz);
    let zr = mul(b, &z, &r);
    let xy = mul(b, x, y);
    let u = sub(b, &zr, &xy);
    let t = add(b, &t, &u);
    add(b, &w, &t)
}

/// `ops::math::kernels`: (sin, cos) of the reduced argument and the quadrant.
fn kernels(b: &mut FunctionBuilder<'_>, lanes: Lanes, x: &[Value]) -> (Values, Values, Values) {
    let (y0, y1, q) = reduce(b, lanes, x);
    let s = sin_kernel(b, lanes, &y0, &y1);
    let c = cos_kernel(b, lanes, &y0, &y1);
    (s, c, q)
}

/// sin x for |x| < `TRIG_LIMIT`: `ops::math::sin_reduced`.
pub(super) fn sin_reduced(b: &mut FunctionBuilder<'_>, lanes: Lanes, x: &[Value]) -> Values {
    let (s, c, q) = kernels(b, lanes, x);
    let (one, two, three) = (lanes.c(b, 1.0), lanes.c(b, 2.0), lanes.c(b, 3.0));
    let v = lanes.choose(b, FloatCC::Equal, &q, &one, &c, &s);
    let v = lanes.choose(b, FloatCC::Equal, &q, &three, &c, &v);
    let minus: Values = v.iter().map(|v| b.ins().fneg(*v)).collect();
    let v = lanes.choose(b, FloatCC::GreaterThanOrEqual, &q, &two, &minus, &v);
    let zero = lanes.c(b, 0.0);
    lanes.choose(b, FloatCC::Equal, x, &zero, x, &v)
}

/// cos x for |x| < `TRIG_LIMIT`: `ops::math::cos_reduced`.
pub(super) fn cos_reduced(b: &mut FunctionBuilder<'_>, lanes: Lanes, x: &[Value]) -> Values {
    let (s, c, q) = kernels(b, lanes, x);
    let (one, two, three) = (lanes.c(b, 1.0), lanes.c(b, 2.0), lanes.c(b, 3.0));
    let v = lanes.choose(b, FloatCC::Equal, &q, &one, &s, &c);
    let v = lanes.choose(b, FloatCC::Equal, &q, &three, &s, &v);
    let minus: Values = v.iter().map(|v| b.ins().fneg(*v)).collect();
    let v2 = lanes.choose(b, FloatCC::Equal, &q, &one, &minus, &v);
    lanes.choose(b, FloatCC::Equal, &q, &two, &minus, &v2)
}
