//! jitfit's own `exp`, `ln`, `sin` and `cos`: range reduction and a polynomial, written with
//! `+ − × ÷`, comparisons and bit operations only — no table, no fused multiply-add, no branch
//! that the value takes. The reference interpreter calls these functions and the Cranelift
//! backend emits the same operations in the same order, inline and across SIMD lanes
//! (`backend::cranelift::math`), so that compiled code and the interpreter agree bit for bit
//! on every machine (the platform's libm differs between machines and cannot be vectorized).
//! The one branch: `sin` and `cos` hand |x| ≥ [`consts::TRIG_LIMIT`] (1.6e6), ±∞ and NaN to
//! the platform's functions (a reduction that exact needs Payne–Hanek's table), and compiled
//! code makes the same test and calls the same Rust function there.
//!
//! They follow fdlibm (`e_exp.c`, `e_log.c`, `e_rem_pio2.c`, `k_sin.c`, `k_cos.c`; Sun
//! Microsystems, 1993), with the branches turned into selections made after the arithmetic.
//! The error is < 1 ulp over the whole domain (`sin` and `cos`: below the limit), measured
//! against correctly rounded values (`tests/data/ulp/`, `tests/math.rs`).

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

    /// `sin` and `cos`: below this |x| the argument is reduced here, by Cody–Waite with π/2
    /// in three 33-bit parts (`n·part` is exact while |n| < 2²⁰, and 2²⁰·π/2 ≈ 1.647e6); from
    /// it on — and for ±∞ and NaN — the platform's `sin` and `cos` take over.
    pub const TRIG_LIMIT: f64 = 1.6e6;
    pub const INV_PIO2: f64 = std::f64::consts::FRAC_2_PI;
    pub const PIO2_1: f64 = 1.57079632673412561417e+00;
    pub const PIO2_2: f64 = 6.07710050630396597660e-11;
    pub const PIO2_2T: f64 = 2.02226624879595063154e-21;
    pub const PIO2_3: f64 = 2.02226624871116645580e-21;
    pub const PIO2_3T: f64 = 8.47842766036889956997e-32;
    /// The low 2 bits of `v + MAGIC`'s bits: the integer's residue mod 4.
    pub const LOW_TWO: u64 = 3;
    pub const TWO50: f64 = 1125899906842624.0;
    pub const SIN_S: [f64; 6] = [
        -1.66666666666666324348e-01,
        8.33333333332248946124e-03,
        -1.98412698298579493134e-04,
        2.75573137070700676789e-06,
        -2.50507602534068634195e-08,
        1.58969099521155010221e-10,
    ];
    pub const COS_C: [f64; 6] = [
        4.16666666666666019037e-02,
        -1.38888888888741095749e-03,
        2.48015872894767294178e-05,
        -2.75573143513906633035e-07,
        2.08757232129817482790e-09,
        -1.13596475577881948265e-11,
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

/// x = n·π/2 + (y0 + y1) for |x| < [`TRIG_LIMIT`], with n mod 4 as a float (fdlibm's
/// `__ieee754_rem_pio2`, medium range). Its second round (π/2 to 33 + 33 + 53 bits) is always
/// taken: the first's subtraction is exact, so the second only adds bits; the third (a further
/// 33 + 53) replaces it where x is so close to a multiple of π/2 that |y0| < 2⁻⁵⁰·|x| (fdlibm
/// tests the exponents for a loss of more than 49; this is that test or stricter).
#[inline(always)]
fn reduce(x: f64) -> (f64, f64, f64) {
    let shifted = x * INV_PIO2 + MAGIC;
    let n = shifted - MAGIC;
    let quadrant = f64::from_bits((shifted.to_bits() & LOW_TWO) | TWO52_BITS) - TWO52;
    let r1 = x - n * PIO2_1;
    let w = n * PIO2_2;
    let r2 = r1 - w;
    let w2 = n * PIO2_2T - ((r1 - r2) - w);
    let y2 = r2 - w2;
    let w = n * PIO2_3;
    let r3 = r2 - w;
    let w3 = n * PIO2_3T - ((r2 - r3) - w);
    let third = y2.abs() * TWO50 < x.abs();
    let r = if third { r3 } else { r2 };
    let w = if third { w3 } else { w2 };
    let y0 = r - w;
    (y0, (r - y0) - w, quadrant)
}

/// sin(x + y) for |x + y| ≤ π/4, y the tail of x (fdlibm's `__kernel_sin` with its tail).
#[inline(always)]
fn sin_kernel(x: f64, y: f64) -> f64 {
    let [s1, s2, s3, s4, s5, s6] = SIN_S;
    let z = x * x;
    let w = z * z;
    let r = s2 + z * (s3 + z * s4) + z * w * (s5 + z * s6);
    let v = z * x;
    x - ((z * (0.5 * y - v * r) - y) - v * s1)
}

/// cos(x + y) for |x + y| ≤ π/4 (fdlibm's `__kernel_cos`, in its compensated form).
#[inline(always)]
fn cos_kernel(x: f64, y: f64) -> f64 {
    let [c1, c2, c3, c4, c5, c6] = COS_C;
    let z = x * x;
    let w = z * z;
    let r = z * (c1 + z * (c2 + z * c3)) + w * w * (c4 + z * (c5 + z * c6));
    let hz = 0.5 * z;
    let w = 1.0 - hz;
    w + (((1.0 - w) - hz) + (z * r - x * y))
}

/// sin and cos of x's reduced argument, and x's quadrant (n mod 4).
#[inline(always)]
fn kernels(x: f64) -> (f64, f64, f64) {
    let (y0, y1, q) = reduce(x);
    (sin_kernel(y0, y1), cos_kernel(y0, y1), q)
}

/// sin x for |x| < [`TRIG_LIMIT`]: the kernel of the quadrant, signed.
#[inline(always)]
pub fn sin_reduced(x: f64) -> f64 {
    let (s, c, q) = kernels(x);
    let v = if q == 1.0 { c } else { s };
    let v = if q == 3.0 { c } else { v };
    let v = if q >= 2.0 { -v } else { v };
    // ±0 keeps its sign.
    if x == 0.0 { x } else { v }
}

/// cos x for |x| < [`TRIG_LIMIT`].
#[inline(always)]
pub fn cos_reduced(x: f64) -> f64 {
    let (s, c, q) = kernels(x);
    let v = if q == 1.0 { s } else { c };
    let v = if q == 3.0 { s } else { v };
    let minus = -v;
    let v2 = if q == 1.0 { minus } else { v };
    if q == 2.0 { minus } else { v2 }
}

/// sin x: jitfit's own below [`TRIG_LIMIT`] (within 1 ulp), the platform's beyond.
#[inline]
pub fn sin(x: f64) -> f64 {
    if x.abs() < TRIG_LIMIT { sin_reduced(x) } else { x.sin() }
}

/// cos x: jitfit's own below [`TRIG_LIMIT`] (within 1 ulp), the platform's beyond.
#[inline]
pub fn cos(x: f64) -> f64 {
    if x.abs() < TRIG_LIMIT { cos_reduced(x) } else { x.cos() }
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

    /// sin and cos keep ±0's sign (sin) and give 1 (cos) at zero, NaN at ±∞ and NaN, and are
    /// the platform's from the limit on; just below it, and at subnormals, they are ours.
    #[test]
    fn sin_and_cos_edges() {
        assert_eq!(sin(0.0).to_bits(), 0.0f64.to_bits());
        assert_eq!(sin(-0.0).to_bits(), (-0.0f64).to_bits());
        assert_eq!(cos(0.0), 1.0);
        assert_eq!(cos(-0.0), 1.0);
        assert_eq!(sin(5e-324), 5e-324);
        assert_eq!(sin(-1e-310), -1e-310);
        assert_eq!(cos(1e-310), 1.0);
        for x in [f64::INFINITY, f64::NEG_INFINITY, f64::NAN] {
            assert!(sin(x).is_nan() && cos(x).is_nan(), "{x}");
        }
        for x in [TRIG_LIMIT, -TRIG_LIMIT, 1e7, 1e22, f64::MAX] {
            assert_eq!(sin(x).to_bits(), x.sin().to_bits(), "{x}");
            assert_eq!(cos(x).to_bits(), x.cos().to_bits(), "{x}");
        }
        let below = f64::from_bits(TRIG_LIMIT.to_bits() - 1);
        assert_eq!(sin(below).to_bits(), sin_reduced(below).to_bits());
        assert!((sin(below) - below.sin()).abs() < 1e-15 && (cos(below) - below.cos()).abs() < 1e-15);
        // sin²x + cos²x = 1 over the quadrants, to rounding.
        for k in -40..40 {
            let x = k as f64 * 0.3 + 0.01;
            assert!((sin(x) * sin(x) + cos(x) * cos(x) - 1.0).abs() < 4e-16, "{x}");
        }
    }
}
