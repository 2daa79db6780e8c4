//! Geometric self-ensemble: the mean of the model over the 8 flips and transposes of its
//! input image, each member evaluated at the correspondingly moved points. The mean is
//! exactly equivariant to those symmetries, and it averages out part of the model's error
//! (the "+" of EDSR and RCAN in the super-resolution literature), at 8 times the cost.

use candle_core::{DType, Device, Tensor};

use crate::engine::evaluator::{ContinuousImage, Evaluator};
use crate::jet::{Jet, JetOrder};
use crate::model::funknn::{EvalOptions, FunkNN};
use crate::Result;

/// The 8 symmetries of the square, by number: bit 2 transposes first (x ↔ y), then bit 0
/// flips x (columns) and bit 1 flips y (rows).
pub const SYMMETRIES: usize = 8;

/// The image `J` with `J(g(p)) = I(p)` for symmetry `k` (see [`SYMMETRIES`]), for `images`
/// `(N, C, H, W)`; a transpose makes it `(N, C, W, H)`.
pub fn transform_images(images: &Tensor, k: usize) -> Result<Tensor> {
    let mut t = images.clone();
    if k & 4 != 0 {
        t = t.transpose(2, 3)?.contiguous()?;
    }
    if k & 1 != 0 {
        t = flip(&t, 3)?;
    }
    if k & 2 != 0 {
        t = flip(&t, 2)?;
    }
    Ok(t)
}

/// `g(p)` for symmetry `k`, for points `(N, P, 2)` as (x, y) in unit coordinates.
pub fn transform_points(points: &Tensor, k: usize) -> Result<Tensor> {
    let (mut x, mut y) = (points.narrow(2, 0, 1)?, points.narrow(2, 1, 1)?);
    if k & 4 != 0 {
        (x, y) = (y, x);
    }
    if k & 1 != 0 {
        x = x.affine(-1.0, 1.0)?;
    }
    if k & 2 != 0 {
        y = y.affine(-1.0, 1.0)?;
    }
    Ok(Tensor::cat(&[x, y], 2)?)
}

fn flip(t: &Tensor, dim: usize) -> Result<Tensor> {
    let n = t.dim(dim)?;
    let index = Tensor::from_vec((0..n as u32).rev().collect(), n, t.device())?;
    Ok(t.index_select(&index, dim)?)
}

/// The values of `model` on `images`: the model itself, or with `self_ensemble` its mean
/// over the 8 symmetries.
pub fn value_image<'a>(
    model: &'a FunkNN,
    images: &Tensor,
    self_ensemble: bool,
    options: EvalOptions,
) -> Result<Box<dyn ContinuousImage + 'a>> {
    Ok(if self_ensemble {
        Box::new(SelfEnsemble::new(model, images, options)?)
    } else {
        Box::new(Evaluator::new(model, images, JetOrder::Value, options)?)
    })
}

/// A model's self-ensemble on prepared images: values only (a derivative would need each
/// member's jet turned back by its symmetry).
///
/// ```
/// use candle_core::{DType, Device, Tensor};
/// use funknn_core::SelfEnsemble;
/// use funknn_core::ContinuousImage;
/// use funknn_core::{Config, EvalOptions, FunkNN};
///
/// let (model, _) = FunkNN::random(&Config::default(), 0, DType::F32, &Device::Cpu)?;
/// let image = Tensor::rand(0f32, 1., (1, 3, 24, 32), &Device::Cpu)?;
/// let ensemble = SelfEnsemble::new(&model, &image, EvalOptions::default())?;
/// let points = Tensor::new(&[[[0.3f32, 0.6], [0.9, 0.1]]], &Device::Cpu)?;
/// assert_eq!(ensemble.evaluate(&points)?.value()?.dims(), &[1, 2, 3]);
/// # Ok::<(), funknn_core::Error>(())
/// ```
pub struct SelfEnsemble<'a> {
    members: Vec<Evaluator<'a>>,
}

impl<'a> SelfEnsemble<'a> {
    /// Prepares the 8 transformed copies of `images` `(N, C, H, W)`.
    pub fn new(model: &'a FunkNN, images: &Tensor, options: EvalOptions) -> Result<Self> {
        let members = (0..SYMMETRIES)
            .map(|k| {
                let image = transform_images(images, k)?;
                Evaluator::new(model, &image, JetOrder::Value, options)
            })
            .collect::<Result<_>>()?;
        Ok(SelfEnsemble { members })
    }
}

impl ContinuousImage for SelfEnsemble<'_> {
    /// The mean value of the 8 members at `points` `(N, P, 2)`: parts `(N, P, C)`.
    fn evaluate(&self, points: &Tensor) -> Result<Jet> {
        let member_value = |k: usize| -> Result<Tensor> {
            let jet = self.members[k].evaluate(&transform_points(points, k)?)?;
            jet.value()
        };
        let mut sum = member_value(0)?;
        for k in 1..SYMMETRIES {
            sum = (sum + member_value(k)?)?;
        }
        let mean = sum.affine(1.0 / SYMMETRIES as f64, 0.0)?;
        Jet::new(mean.unsqueeze(0)?, JetOrder::Value)
    }

    fn dtype(&self) -> DType {
        self.members[0].dtype()
    }

    fn device(&self) -> &Device {
        self.members[0].device()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Config;

    /// The ensemble is exactly equivariant: on a flipped or transposed image, at the moved
    /// points, it gives the same values; a single model is not.
    #[test]
    fn self_ensemble_is_equivariant() {
        let dev = &Device::Cpu;
        let (model, _) = FunkNN::random(&Config::default(), 7, DType::F64, dev).unwrap();
        let image = Tensor::rand(0f64, 1., (1, 3, 12, 17), dev).unwrap();
        let points = Tensor::rand(0f64, 1., (1, 40, 2), dev).unwrap();
        let values = |image: &Tensor, points: &Tensor, ensemble: bool| -> Vec<f64> {
            let jet = if ensemble {
                let e = SelfEnsemble::new(&model, image, EvalOptions::default()).unwrap();
                e.evaluate(points).unwrap()
            } else {
                let e = Evaluator::new(&model, image, JetOrder::Value, EvalOptions::default());
                e.unwrap().evaluate(points).unwrap()
            };
            jet.value()
                .unwrap()
                .flatten_all()
                .unwrap()
                .to_vec1()
                .unwrap()
        };
        let gap = |a: &[f64], b: &[f64]| {
            a.iter()
                .zip(b)
                .map(|(a, b)| (a - b).abs())
                .fold(0.0, f64::max)
        };
        let reference = values(&image, &points, true);
        let single = values(&image, &points, false);
        for k in 1..SYMMETRIES {
            let (image_k, points_k) = (
                transform_images(&image, k).unwrap(),
                transform_points(&points, k).unwrap(),
            );
            let moved = values(&image_k, &points_k, true);
            assert!(gap(&reference, &moved) < 1e-12, "symmetry {k}");
            let moved_single = values(&image_k, &points_k, false);
            assert!(gap(&single, &moved_single) > 1e-6, "symmetry {k}");
        }
    }

    /// Each transformed image holds, at the moved pixel centre, the original pixel.
    #[test]
    fn transformed_images_hold_the_pixel_at_the_moved_point() {
        let (h, w) = (3usize, 5usize);
        let data: Vec<f32> = (0..2 * h * w).map(|v| v as f32).collect();
        let image = Tensor::from_vec(data.clone(), (1, 2, h, w), &Device::Cpu).unwrap();
        for k in 0..SYMMETRIES {
            let t = transform_images(&image, k).unwrap();
            let (_, _, th, tw) = t.dims4().unwrap();
            assert_eq!((th, tw), if k & 4 != 0 { (w, h) } else { (h, w) });
            let t = t.flatten_all().unwrap().to_vec1::<f32>().unwrap();
            for i in 0..h {
                for j in 0..w {
                    let p = [(j as f32 + 0.5) / w as f32, (i as f32 + 0.5) / h as f32];
                    let p = Tensor::new(&[[p]], &Device::Cpu).unwrap();
                    let q = transform_points(&p, k).unwrap();
                    let q = q.flatten_all().unwrap().to_vec1::<f32>().unwrap();
                    let (tj, ti) = ((q[0] * tw as f32) as usize, (q[1] * th as f32) as usize);
                    for c in 0..2 {
                        assert_eq!(
                            t[(c * th + ti) * tw + tj],
                            data[(c * h + i) * w + j],
                            "symmetry {k}, pixel ({i}, {j}), channel {c}"
                        );
                    }
                }
            }
        }
    }
}
