//! The two floating-point types the operators run in.

/// `f32` or `f64`: the element type of images and sinograms.
///
/// Sealed: the ray transform keeps precomputed tables for exactly these two types.
pub trait Scalar:
    rustfft::FftNum
    + Copy
    + Send
    + Sync
    + PartialOrd
    + std::fmt::Debug
    + std::ops::AddAssign
    + std::ops::SubAssign
    + std::ops::MulAssign
    + std::ops::Neg<Output = Self>
    + std::iter::Sum
    + sealed::Sealed
    + 'static
{
    /// Converts from f64 (rounding for f32).
    fn of(v: f64) -> Self;
    /// Converts to f64 (exactly).
    fn to_f64(self) -> f64;
    /// The square root.
    fn sqrt(self) -> Self;
    /// The larger of the two.
    fn max(self, other: Self) -> Self;
    /// Whether the value is finite.
    fn is_finite(self) -> bool;
    /// The candle dtype.
    const DTYPE: candle_core::DType;
}

mod sealed {
    /// Seals [`super::Scalar`] and carries the crate's unchecked helpers, which users cannot
    /// call (they cannot name this trait).
    pub trait Sealed: Copy {
        /// `floor(self)` as an index: one truncating conversion, without the saturation
        /// checks of `as`.
        ///
        /// # Safety
        /// `self` must be finite and in `[0, 2³¹)`.
        unsafe fn trunc_index(self) -> usize;
        /// An index as a value (exact below 2²⁴ for f32).
        fn from_index(k: usize) -> Self;
    }
    macro_rules! sealed {
        ($t:ty) => {
            impl Sealed for $t {
                #[inline(always)]
                unsafe fn trunc_index(self) -> usize {
                    debug_assert!((0.0..2147483648.0).contains(&self));
                    // SAFETY: the caller's contract.
                    unsafe { self.to_int_unchecked::<i32>() as usize }
                }
                #[inline(always)]
                fn from_index(k: usize) -> Self {
                    k as $t
                }
            }
        };
    }
    sealed!(f32);
    sealed!(f64);
}

macro_rules! impl_scalar {
    ($t:ty, $d:expr) => {
        impl Scalar for $t {
            #[inline(always)]
            fn of(v: f64) -> Self {
                v as $t
            }
            #[inline(always)]
            fn to_f64(self) -> f64 {
                self as f64
            }
            #[inline(always)]
            fn sqrt(self) -> Self {
                <$t>::sqrt(self)
            }
            #[inline(always)]
            fn max(self, other: Self) -> Self {
                <$t>::max(self, other)
            }
            #[inline(always)]
            fn is_finite(self) -> bool {
                <$t>::is_finite(self)
            }
            const DTYPE: candle_core::DType = $d;
        }
    };
}
impl_scalar!(f32, candle_core::DType::F32);
impl_scalar!(f64, candle_core::DType::F64);

/// `⟨a, b⟩` accumulated in f64.
pub fn dot<T: Scalar>(a: &[T], b: &[T]) -> f64 {
    a.iter().zip(b).map(|(x, y)| x.to_f64() * y.to_f64()).sum()
}

/// `‖a‖₂` accumulated in f64.
pub fn norm<T: Scalar>(a: &[T]) -> f64 {
    dot(a, a).sqrt()
}

/// Returns an error naming `what` if any value is NaN or infinite.
pub fn check_finite<T: Scalar>(what: &'static str, values: &[T]) -> crate::Result<()> {
    match values.iter().position(|v| !v.is_finite()) {
        None => Ok(()),
        Some(i) => Err(crate::Error::invalid(
            what,
            format!("value {i} is not finite ({:?})", values[i]),
        )),
    }
}
