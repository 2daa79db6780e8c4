//! The float types of the graph-free CPU paths (f32 and f64), and a fast f32 sine.

use std::ops::{Add, AddAssign, Div, Mul, Neg, Sub};

use candle_core::Tensor;

use crate::Result;

/// The float types of the graph-free CPU paths: f32 and f64.
pub trait Real:
    Copy
    + Send
    + Sync
    + 'static
    + PartialOrd
    + Add<Output = Self>
    + Sub<Output = Self>
    + Mul<Output = Self>
    + Div<Output = Self>
    + Neg<Output = Self>
    + AddAssign
    + candle_core::WithDType
{
    const ZERO: Self;
    const ONE: Self;
    fn sin_cos(self) -> (Self, Self);
    fn tanh(self) -> Self;
    fn exp(self) -> Self;
    fn erf(self) -> Self;
}

impl Real for f64 {
    const ZERO: Self = 0.0;
    const ONE: Self = 1.0;
    fn sin_cos(self) -> (Self, Self) {
        f64::sin_cos(self)
    }
    fn tanh(self) -> Self {
        f64::tanh(self)
    }
    fn exp(self) -> Self {
        f64::exp(self)
    }
    fn erf(self) -> Self {
        candle_core::cpu::erf::erf_f64(self)
    }
}

impl Real for f32 {
    const ZERO: Self = 0.0;
    const ONE: Self = 1.0;
    fn sin_cos(self) -> (Self, Self) {
        sin_cos_f32(self)
    }
    fn tanh(self) -> Self {
        f32::tanh(self)
    }
    fn exp(self) -> Self {
        f32::exp(self)
    }
    fn erf(self) -> Self {
        candle_core::cpu::erf::erf_f32(self)
    }
}

/// sin and cos in f32 (Cephes' `sinf`/`cosf`: reduction by π/2 in three parts, then
/// minimax polynomials): within 2e−6 of the exact values for |x| < 3,460 (tested), several
/// times faster than libm and vectorisable, which matters: a sine MLP evaluates ~2,000 of
/// them per point and jet. Accuracy degrades slowly beyond that range (f32 reduction).
#[inline]
pub fn sin_cos_f32(x: f32) -> (f32, f32) {
    const FRAC_2_PI: f32 = std::f32::consts::FRAC_2_PI;
    // Round to nearest by adding and removing 1.5·2²³ (exact for |x·2/π| < 2²²): `round`
    // is a library call on baseline x86-64 and would stop vectorisation.
    const MAGIC: f32 = 12_582_912.0;
    let j = (x * FRAC_2_PI + MAGIC) - MAGIC;
    let y = ((x - j * 1.570_312_5) - j * 4.837_513e-4) - j * 7.549_79e-8;
    let z = y * y;
    let s = ((-1.951_529_6e-4 * z + 8.332_161e-3) * z - 1.666_665_5e-1) * z * y + y;
    let c = ((2.443_315_7e-5 * z - 1.388_731_6e-3) * z + 4.166_664_6e-2) * z * z - 0.5 * z + 1.0;
    // Quadrant fix-up written as selects, so that loops over it vectorise.
    let q = j as i32;
    let (a, b) = if q & 1 == 0 { (s, c) } else { (c, s) };
    let sin = if q & 2 == 0 { a } else { -a };
    let cos = if (q + 1) & 2 == 0 { b } else { -b };
    (sin, cos)
}

pub(crate) fn to_vec<T: Real>(t: &Tensor) -> Result<Vec<T>> {
    Ok(t.to_dtype(T::DTYPE)?.flatten_all()?.to_vec1::<T>()?)
}
