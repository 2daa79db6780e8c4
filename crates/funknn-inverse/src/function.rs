//! "A function of (x, y) points": what the mesh-free transform integrates. Analytic images,
//! phantoms and FunkNN continuous images (through an adapter) all implement it.

use candle_core::{DType, Tensor};
use funknn_core::ContinuousImage;

use crate::{Error, Result};

/// A real function on the unit square, evaluated at many points at once.
pub trait PlaneFunction {
    /// Writes `f(x, y)` for every point `[x, y]` (unit coordinates) into `values`.
    fn evaluate(&self, points: &[[f64; 2]], values: &mut [f64]) -> Result<()>;
}

/// An analytic function `f(x, y)` as a [`PlaneFunction`].
///
/// ```
/// use funknn_inverse::{FnImage, PlaneFunction};
/// let f = FnImage(|x: f64, y: f64| x + 2.0 * y);
/// let mut v = [0.0; 1];
/// f.evaluate(&[[0.5, 0.25]], &mut v)?;
/// assert_eq!(v[0], 1.0);
/// # Ok::<(), funknn_inverse::Error>(())
/// ```
pub struct FnImage<F>(pub F);

impl<F: Fn(f64, f64) -> f64> PlaneFunction for FnImage<F> {
    fn evaluate(&self, points: &[[f64; 2]], values: &mut [f64]) -> Result<()> {
        crate::error::check_len("values", values.len(), points.len())?;
        for (v, p) in values.iter_mut().zip(points) {
            *v = (self.0)(p[0], p[1]);
        }
        Ok(())
    }
}

/// One channel of the first image of a funknn-core [`ContinuousImage`] (e.g. an
/// `Evaluator`: a FunkNN bound to its input) as a [`PlaneFunction`].
pub struct CoreImage<'a, I: ContinuousImage + ?Sized> {
    image: &'a I,
    channel: usize,
}

impl<'a, I: ContinuousImage + ?Sized> CoreImage<'a, I> {
    /// Channel `channel` of `image`.
    pub fn new(image: &'a I, channel: usize) -> Self {
        CoreImage { image, channel }
    }
}

impl<I: ContinuousImage + ?Sized> PlaneFunction for CoreImage<'_, I> {
    fn evaluate(&self, points: &[[f64; 2]], values: &mut [f64]) -> Result<()> {
        crate::error::check_len("values", values.len(), points.len())?;
        let flat: Vec<f64> = points.iter().flat_map(|p| [p[0], p[1]]).collect();
        let t = Tensor::from_vec(flat, (1, points.len(), 2), self.image.device())?
            .to_dtype(self.image.dtype())?;
        let value = self.image.evaluate(&t)?.value()?; // (1, P, C)
        let c = value.dim(2)?;
        if self.channel >= c {
            return Err(Error::invalid(
                "channel",
                format!("channel {} of a {c}-channel image", self.channel),
            ));
        }
        let v: Vec<f64> = value
            .narrow(2, self.channel, 1)?
            .flatten_all()?
            .to_dtype(DType::F64)?
            .to_vec1()?;
        values.copy_from_slice(&v);
        Ok(())
    }
}
