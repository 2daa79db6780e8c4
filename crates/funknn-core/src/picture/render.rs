//! Rendering a continuous image on a pixel grid of any size, tile by tile, so that memory
//! stays bounded whatever the output size.

use crate::coords::pixel_centres_rows;
use crate::engine::evaluator::ContinuousImage;
use crate::jet::Jet;
use crate::{Error, Result};

/// Largest output side accepted.
pub const MAX_SIDE: usize = 65_536;
/// Largest output pixel count accepted (a 32,768² image).
pub const MAX_PIXELS: usize = 1 << 30;

/// The requested output size of an `in_height × in_width` image: `scale` times the input
/// (rounded, non-integer scales allowed), or `size` as `(width, height)`. Exactly one must be
/// given; sizes beyond [`MAX_SIDE`] or [`MAX_PIXELS`] are refused.
///
/// ```
/// use funknn_core::picture::output_size;
/// assert_eq!(output_size(100, 60, Some(2.5), None).unwrap(), (250, 150));
/// assert!(output_size(100, 60, Some(0.0), None).is_err());
/// assert!(output_size(512, 512, Some(1e6), None).is_err());
/// ```
pub fn output_size(
    in_height: usize,
    in_width: usize,
    scale: Option<f64>,
    size: Option<(usize, usize)>,
) -> Result<(usize, usize)> {
    let (height, width) = match (scale, size) {
        (Some(s), None) => {
            if !s.is_finite() || s <= 0.0 {
                return Err(Error::invalid(
                    "scale",
                    format!("{s} is not a positive finite number"),
                ));
            }
            let side = |n: usize| (n as f64 * s).round().max(1.0);
            let (h, w) = (side(in_height), side(in_width));
            if h > MAX_SIDE as f64 || w > MAX_SIDE as f64 {
                return Err(Error::invalid(
                    "scale",
                    format!("×{s} makes a {w}×{h} image; the largest side allowed is {MAX_SIDE}"),
                ));
            }
            (h as usize, w as usize)
        }
        (None, Some((w, h))) => (h, w),
        _ => {
            return Err(Error::invalid(
                "output size",
                "give either a scale or a size, not both",
            ))
        }
    };
    if height == 0 || width == 0 || height > MAX_SIDE || width > MAX_SIDE {
        return Err(Error::invalid(
            "output size",
            format!("{width}×{height}: each side must be in 1..={MAX_SIDE}"),
        ));
    }
    if height * width > MAX_PIXELS {
        return Err(Error::invalid(
            "output size",
            format!("{width}×{height} has more than {MAX_PIXELS} pixels"),
        ));
    }
    Ok((height, width))
}

/// Evaluates the continuous image `evaluator` (an [`Evaluator`](crate::Evaluator) or a
/// [`SelfEnsemble`](crate::SelfEnsemble)) at the pixel centres of a `height × width`
/// grid, `tile_points` points (whole rows) at a time, and hands each tile to `on_tile` with
/// its first row, its row count and its jet (parts `(1, rows·width, C)`).
pub fn render_tiles(
    evaluator: &dyn ContinuousImage,
    height: usize,
    width: usize,
    tile_points: usize,
    mut on_tile: impl FnMut(usize, usize, &Jet) -> Result<()>,
) -> Result<()> {
    let rows_per_tile = (tile_points / width.max(1)).max(1);
    let mut row = 0;
    while row < height {
        let rows = rows_per_tile.min(height - row);
        let points = pixel_centres_rows(height, width, row..row + rows, evaluator.device())?
            .to_dtype(evaluator.dtype())?
            .unsqueeze(0)?;
        let jet = evaluator.evaluate(&points)?;
        on_tile(row, rows, &jet)?;
        row += rows;
    }
    Ok(())
}

/// The value part of a tile `(1, P, C)` as 8-bit samples (clamped to [0, 1], rounded),
/// pixel-major with channels interleaved, as PNG wants them.
pub fn value_to_u8(jet: &Jet) -> Result<Vec<u8>> {
    let v: Vec<f32> = jet
        .value()?
        .to_dtype(candle_core::DType::F32)?
        .flatten_all()?
        .to_vec1()?;
    Ok(v.iter()
        .map(|&x| (x.clamp(0.0, 1.0) * 255.0).round() as u8)
        .collect())
}

/// The gradient magnitude and the Laplacian of the channel mean `ū = Σc u_c / C`, per point
/// of a gradient-and-Laplacian tile: what `funknn derivatives` draws.
pub fn mean_gradient_and_laplacian(jet: &Jet) -> Result<(Vec<f32>, Vec<f32>)> {
    let f32s = |t: candle_core::Tensor| -> Result<Vec<f32>> {
        Ok(t.to_dtype(candle_core::DType::F32)?
            .mean(candle_core::D::Minus1)?
            .flatten_all()?
            .to_vec1()?)
    };
    let dx = f32s(jet.part(1)?)?;
    let dy = f32s(jet.part(2)?)?;
    let lap = match jet.laplacian()? {
        Some(l) => f32s(l)?,
        None => {
            return Err(Error::invalid(
                "jet",
                "a Laplacian or Hessian jet is needed",
            ))
        }
    };
    let magnitude = dx.iter().zip(&dy).map(|(a, b)| a.hypot(*b)).collect();
    Ok((magnitude, lap))
}
