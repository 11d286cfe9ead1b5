//! jitfit's own `exp` and `ln`: range reduction and a polynomial, written with `+ − × ÷`,
//! comparisons and bit operations only — no table, no fused multiply-add, no branch that the
//! value takes. The reference interpreter calls these functions and the Cranelift backend
//! emits the same operations in the same order, inline and across SIMD lanes
//! (`backend::cranelift::math`), so that compiled code and the interpreter agree bit for bit
//! on every machine (the platform's libm differs between machines and cannot be vectorized).
//!
//! Both follow fdlibm (`e_exp.c`, `e_log.c`, Sun Microsystems, 1993), with the branches turned
//! into selections made after the arithmetic. The error is < 1 ulp over the whole domain,
//! measured against correctly rounded values (`tests/data/ulp/`, `tests/math.rs`).

/// The constants, shared by the Rust functions and the code generator; written as fdlibm
/// writes them (its digits round to the same doubles).
#[allow(clippy::excessive_precision)]
pub mod consts {
    /// 1.5·2⁵²: `(v + MAGIC) − MAGIC` rounds `v` (|v| < 2⁵¹) to an integer, ties to even, and
    /// the bits of `v + MAGIC` hold that integer in their low bits.
    pub const MAGIC: f64 = 6755399441055744.0;
    pub const MAGIC_BITS: u64 = 0x4338_0000_0000_0000;

    pub const EXP_OVERFLOW: f64 = 7.09782712893383973096e+02;
    pub const EXP_UNDERFLOW: f64 = -7.45133219101941108420e+02;
    pub const INV_LN2: f64 = std::f64::consts::LOG2_E;
    /// ln 2 in two parts: the high part has 21 trailing zero bits, so `k·LN2_HI` is exact.
    pub const LN2_HI: f64 = 6.93147180369123816490e-01;
    pub const LN2_LO: f64 = 1.90821492927058770002e-10;
    pub const EXP_P: [f64; 5] = [
        1.66666666666666019037e-01,
        -2.77777777770155933842e-03,
        6.61375632143793436117e-05,
        -1.65339022054652515390e-06,
        4.13813679705723846039e-08,
    ];

    /// 2⁵⁴, the scaling of subnormal arguments of `ln`.
    pub const TWO54: f64 = 1.80143985094819840000e+16;
    /// Added to the bits of x so that the exponent field rounds m into [√2/2, √2).
    pub const LN_SHIFT: u64 = (0x3ff0_0000 - 0x3fe6_a09e) << 32;
    pub const LN_MANTISSA: u64 = 0x000f_ffff_ffff_ffff;
    pub const LN_REBIAS: u64 = 0x3fe6_a09e << 32;
    /// The bits of 2⁵²: OR-ing a small integer into them and subtracting 2⁵² converts it.
    pub const TWO52_BITS: u64 = 0x4330_0000_0000_0000;
    pub const TWO52: f64 = 4503599627370496.0;
    pub const LG: [f64; 7] = [
        6.666666666666735130e-01,
        3.999999999940941908e-01,
        2.857142874366239149e-01,
        2.222219843214978396e-01,
        1.818357216161805012e-01,
        1.531383769920937332e-01,
        1.479819860511658591e-01,
    ];
}

use consts::*;

/// 2^k for an integral `kf` with −1022 ≤ k ≤ 1023, from the bits of `kf + MAGIC`.
#[inline(always)]
fn pow2(kf: f64) -> f64 {
    f64::from_bits((kf + MAGIC).to_bits().wrapping_add(1023) << 52)
}

/// eˣ.
#[inline]
pub fn exp(x: f64) -> f64 {
    let [p1, p2, p3, p4, p5] = EXP_P;
    // x = k·ln2 + r, |r| ≤ ln2/2.
    let kf = (x * INV_LN2 + MAGIC) - MAGIC;
    let hi = x - kf * LN2_HI;
    let lo = kf * LN2_LO;
    let r = hi - lo;
    // e^r by fdlibm's rational form.
    let t = r * r;
    let c = r - t * (p1 + t * (p2 + t * (p3 + t * (p4 + t * p5))));
    let y = 1.0 - ((lo - (r * c) / (2.0 - c)) - hi);
    // y·2^k as y·2^k1·2^k2 (each factor normal; a subnormal result is rounded once).
    let k1 = (kf * 0.5 + MAGIC) - MAGIC;
    let k2 = kf - k1;
    let v = (y * pow2(k1)) * pow2(k2);
    let v = if x > EXP_OVERFLOW { f64::INFINITY } else { v };
    let v = if x < EXP_UNDERFLOW { 0.0 } else { v };
    if x.is_nan() { x } else { v }
}

/// The natural logarithm: NaN below 0, −∞ at ±0.
#[inline]
pub fn ln(x: f64) -> f64 {
    let [lg1, lg2, lg3, lg4, lg5, lg6, lg7] = LG;
    // Subnormal x: scaled into the normal range first.
    let tiny = x < f64::MIN_POSITIVE;
    let xs = if tiny { x * TWO54 } else { x };
    let k_adjust = if tiny { -54.0 } else { 0.0 };
    // x = 2^k·m with m in [√2/2, √2).
    let bits = xs.to_bits().wrapping_add(LN_SHIFT);
    let kf = (f64::from_bits((bits >> 52) | TWO52_BITS) - TWO52) - 1023.0 + k_adjust;
    let m = f64::from_bits((bits & LN_MANTISSA).wrapping_add(LN_REBIAS));
    let f = m - 1.0;
    let hfsq = 0.5 * f * f;
    let s = f / (2.0 + f);
    let z = s * s;
    let w = z * z;
    let t1 = w * (lg2 + w * (lg4 + w * lg6));
    let t2 = z * (lg1 + w * (lg3 + w * (lg5 + w * lg7)));
    let r = t2 + t1;
    let v = s * (hfsq + r) + kf * LN2_LO - hfsq + f + kf * LN2_HI;
    let v = if x == f64::INFINITY { x } else { v };
    let v = if x == 0.0 { f64::NEG_INFINITY } else { v };
    let v = if x < 0.0 { f64::NAN } else { v };
    if x.is_nan() { x } else { v }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn special_values() {
        assert_eq!(exp(0.0), 1.0);
        assert_eq!(exp(-0.0), 1.0);
        assert_eq!(exp(f64::INFINITY), f64::INFINITY);
        assert_eq!(exp(f64::NEG_INFINITY), 0.0);
        assert_eq!(exp(710.0), f64::INFINITY);
        assert_eq!(exp(-746.0), 0.0);
        assert!(exp(f64::NAN).is_nan());
        assert_eq!(exp(-745.0), 5e-324);
        assert_eq!(exp(709.78), 1.7928227943945155e308);
        assert_eq!(ln(1.0).to_bits(), 0.0f64.to_bits());
        assert_eq!(ln(0.0), f64::NEG_INFINITY);
        assert_eq!(ln(-0.0), f64::NEG_INFINITY);
        assert!(ln(-1.0).is_nan());
        assert!(ln(f64::NEG_INFINITY).is_nan());
        assert_eq!(ln(f64::INFINITY), f64::INFINITY);
        assert!(ln(f64::NAN).is_nan());
        assert_eq!(ln(5e-324), -744.4400719213812);
        assert_eq!(ln(f64::MAX), 709.782712893384);
        assert_eq!(ln(std::f64::consts::E), 1.0);
    }
}
