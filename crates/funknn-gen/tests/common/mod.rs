//! Helpers shared by the integration tests.

use candle_core::{DType, Tensor};

/// `max |a − b|` over all entries, computed in f64; the shapes must agree.
pub fn max_abs_diff(a: &Tensor, b: &Tensor) -> f64 {
    assert_eq!(a.dims(), b.dims(), "shapes differ");
    let f64s = |t: &Tensor| -> Tensor { t.to_dtype(DType::F64).unwrap() };
    (f64s(a) - f64s(b))
        .unwrap()
        .abs()
        .unwrap()
        .max_all()
        .unwrap()
        .to_scalar()
        .unwrap()
}
