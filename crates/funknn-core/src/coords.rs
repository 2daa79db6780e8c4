//! Coordinate conventions (DESIGN.md §2).

use candle_core::{Device, Tensor};

use crate::Result;

/// Pixel centres of an `height × width` rendering, row-major, as `(height·width, 2)` points
/// `(x, y)` in the unit square.
///
/// ```
/// use candle_core::Device;
/// let p = funknn_core::coords::pixel_centres(2, 4, &Device::Cpu).unwrap();
/// let v: Vec<Vec<f32>> = p.to_vec2().unwrap();
/// assert_eq!(v[1], vec![0.375, 0.25]);
/// ```
pub fn pixel_centres(height: usize, width: usize, device: &Device) -> Result<Tensor> {
    pixel_centres_rows(height, width, 0..height, device)
}

/// The pixel centres of rows `rows` of an `height × width` rendering: `(rows·width, 2)`.
pub fn pixel_centres_rows(
    height: usize,
    width: usize,
    rows: std::ops::Range<usize>,
    device: &Device,
) -> Result<Tensor> {
    let n = rows.len() * width;
    let mut data = Vec::with_capacity(n * 2);
    for i in rows {
        for j in 0..width {
            data.push(((j as f64 + 0.5) / width as f64) as f32);
            data.push(((i as f64 + 0.5) / height as f64) as f32);
        }
    }
    Ok(Tensor::from_vec(data, (n, 2), device)?)
}

/// Converts the official `(row, col)` coordinates in [−½, ½) to ours: `x = col + ½`,
/// `y = row + ½`. Works on any tensor whose last dimension is 2.
pub fn from_official(row_col: &Tensor) -> Result<Tensor> {
    let last = row_col.rank() - 1;
    let row = row_col.narrow(last, 0, 1)?;
    let col = row_col.narrow(last, 1, 1)?;
    Ok(Tensor::cat(&[col, row], last)?.affine(1.0, 0.5)?)
}

/// Converts derivatives with respect to our `(x, y)` to the official `(row, col)` order.
/// Derivatives need no rescaling: both conventions measure the image side as 1.
pub fn swap_xy(t: &Tensor) -> Result<Tensor> {
    let last = t.rank() - 1;
    Ok(Tensor::cat(
        &[t.narrow(last, 1, 1)?, t.narrow(last, 0, 1)?],
        last,
    )?)
}
