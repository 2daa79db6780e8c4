//! Files: sinograms (`.safetensors` with `sinogram`, `angles`, `offsets`) and images (PNG, or
//! `.safetensors` with `image` (C, H, W)). Every write is atomic: a temporary file in the same
//! folder, then a rename, so a failure leaves no partial output.

use std::path::Path;

use safetensors::tensor::TensorView;
use safetensors::{Dtype, SafeTensors};

use crate::geometry::{ImageGrid, ParallelGeometry};
use crate::{Error, Result};

/// Writes `bytes` to `path` through a temporary file in the same folder and a rename.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<()> {
    let name = path
        .file_name()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_else(|| "out".into());
    let tmp = path.with_file_name(format!(".{name}.tmp-{}", std::process::id()));
    let result = std::fs::write(&tmp, bytes)
        .and_then(|()| std::fs::rename(&tmp, path))
        .map_err(|e| Error::io(path, e));
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    result
}

fn is_safetensors(path: &Path) -> bool {
    path.extension()
        .is_some_and(|e| e.eq_ignore_ascii_case("safetensors"))
}

fn f32_bytes(v: &[f32]) -> Vec<u8> {
    v.iter().flat_map(|x| x.to_le_bytes()).collect()
}

fn format_error(path: &Path, message: impl Into<String>) -> Error {
    Error::Format {
        path: path.to_path_buf(),
        message: message.into(),
    }
}

fn read_f32(path: &Path, st: &SafeTensors, name: &str) -> Result<(Vec<usize>, Vec<f32>)> {
    let t = st
        .tensor(name)
        .map_err(|_| format_error(path, format!("no tensor named \"{name}\"")))?;
    let values: Vec<f32> = match t.dtype() {
        Dtype::F32 => t
            .data()
            .chunks_exact(4)
            .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
            .collect(),
        Dtype::F64 => t
            .data()
            .chunks_exact(8)
            .map(|b| f64::from_le_bytes(b.try_into().expect("8 bytes")) as f32)
            .collect(),
        other => {
            return Err(format_error(
                path,
                format!("\"{name}\" is {other:?}; f32 expected"),
            ))
        }
    };
    Ok((t.shape().to_vec(), values))
}

/// A sinogram with its rays: what `funknn ct simulate` writes and `reconstruct` reads.
#[derive(Debug, Clone, PartialEq)]
pub struct Sinogram {
    /// The rays.
    pub geometry: ParallelGeometry,
    /// `(A, D)`, row-major.
    pub data: Vec<f32>,
}

impl Sinogram {
    /// A sinogram; `data` must have `A·D` finite values.
    pub fn new(geometry: ParallelGeometry, data: Vec<f32>) -> Result<Self> {
        crate::error::check_len("sinogram", data.len(), geometry.len())?;
        crate::scalar::check_finite("sinogram", &data)?;
        Ok(Sinogram { geometry, data })
    }

    /// Reads and checks a sinogram file: `sinogram` (A, D), `angles` (A), `offsets` (D), all
    /// finite, A and D non-zero, offsets increasing.
    pub fn load(path: &Path) -> Result<Self> {
        let bytes = std::fs::read(path).map_err(|e| Error::io(path, e))?;
        let st = SafeTensors::deserialize(&bytes)
            .map_err(|e| format_error(path, format!("not a safetensors file: {e}")))?;
        let (shape, data) = read_f32(path, &st, "sinogram")?;
        let (ashape, angles) = read_f32(path, &st, "angles")?;
        let (oshape, offsets) = read_f32(path, &st, "offsets")?;
        if shape.len() != 2 {
            return Err(format_error(
                path,
                format!("\"sinogram\" must be (A, D), got shape {shape:?}"),
            ));
        }
        if ashape.len() != 1 || oshape.len() != 1 {
            return Err(format_error(
                path,
                format!("\"angles\" and \"offsets\" must be 1-D, got {ashape:?} and {oshape:?}"),
            ));
        }
        if angles.is_empty() {
            return Err(format_error(path, "the angle set is empty"));
        }
        if shape[0] != angles.len() || shape[1] != offsets.len() {
            return Err(format_error(
                path,
                format!(
                    "\"sinogram\" is {shape:?} but there are {} angles and {} offsets",
                    angles.len(),
                    offsets.len()
                ),
            ));
        }
        let geometry = ParallelGeometry::new(
            angles.iter().map(|&a| a as f64).collect(),
            offsets.iter().map(|&s| s as f64).collect(),
        )
        .map_err(|e| format_error(path, e.to_string()))?;
        Sinogram::new(geometry, data).map_err(|e| format_error(path, e.to_string()))
    }

    /// The file's bytes.
    pub fn to_bytes(&self) -> Result<Vec<u8>> {
        let g = &self.geometry;
        let angles: Vec<f32> = g.angles().iter().map(|&a| a as f32).collect();
        let offsets: Vec<f32> = g.offsets().iter().map(|&s| s as f32).collect();
        let (sb, ab, ob) = (
            f32_bytes(&self.data),
            f32_bytes(&angles),
            f32_bytes(&offsets),
        );
        fn view(shape: Vec<usize>, b: &[u8]) -> Result<TensorView<'_>> {
            TensorView::new(Dtype::F32, shape, b)
                .map_err(|e| Error::invalid("sinogram", e.to_string()))
        }
        let tensors = vec![
            ("angles", view(vec![g.n_angles()], &ab)?),
            ("offsets", view(vec![g.n_detectors()], &ob)?),
            ("sinogram", view(vec![g.n_angles(), g.n_detectors()], &sb)?),
        ];
        safetensors::serialize(tensors, None).map_err(|e| Error::invalid("sinogram", e.to_string()))
    }

    /// Writes the file atomically.
    pub fn save(&self, path: &Path) -> Result<()> {
        write_atomic(path, &self.to_bytes()?)
    }
}

/// PNG sample depth.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum BitDepth {
    /// 0–255.
    #[default]
    Eight,
    /// 0–65535.
    Sixteen,
}

/// Writes a grey image: a PNG maps [0, 1] to the full sample range, clipped; a
/// `.safetensors` holds the values unclipped as `image` (1, H, W) f32. Atomic.
pub fn save_image(path: &Path, image: &[f32], grid: &ImageGrid, depth: BitDepth) -> Result<()> {
    crate::error::check_len("image", image.len(), grid.len())?;
    let (h, w) = (grid.height, grid.width);
    let bytes = if is_safetensors(path) {
        let b = f32_bytes(image);
        let view = TensorView::new(Dtype::F32, vec![1, h, w], &b)
            .map_err(|e| Error::invalid("image", e.to_string()))?;
        safetensors::serialize(vec![("image", view)], None)
            .map_err(|e| Error::invalid("image", e.to_string()))?
    } else {
        let mut out = std::io::Cursor::new(Vec::new());
        let clip = |v: f32| if v.is_nan() { 0.0 } else { v.clamp(0.0, 1.0) };
        let result = match depth {
            BitDepth::Eight => {
                let px: Vec<u8> = image
                    .iter()
                    .map(|&v| (clip(v) * 255.0).round() as u8)
                    .collect();
                image::GrayImage::from_raw(w as u32, h as u32, px)
                    .expect("length checked")
                    .write_to(&mut out, image::ImageFormat::Png)
            }
            BitDepth::Sixteen => {
                let px: Vec<u16> = image
                    .iter()
                    .map(|&v| (clip(v) * 65535.0).round() as u16)
                    .collect();
                image::ImageBuffer::<image::Luma<u16>, _>::from_raw(w as u32, h as u32, px)
                    .expect("length checked")
                    .write_to(&mut out, image::ImageFormat::Png)
            }
        };
        result.map_err(|e| format_error(path, format!("cannot encode: {e}")))?;
        out.into_inner()
    };
    write_atomic(path, &bytes)
}

/// Reads a grey image: a PNG/JPEG (colour is converted to luma; 16-bit PNGs keep their
/// precision), values in [0, 1]; or a `.safetensors` whose `image` is (H, W), (1, H, W) or
/// (1, 1, H, W).
pub fn load_image(path: &Path) -> Result<(ImageGrid, Vec<f32>)> {
    let bytes = std::fs::read(path).map_err(|e| Error::io(path, e))?;
    if is_safetensors(path) {
        let st = SafeTensors::deserialize(&bytes)
            .map_err(|e| format_error(path, format!("not a safetensors file: {e}")))?;
        let (shape, data) = read_f32(path, &st, "image")?;
        let hw = match shape[..] {
            [h, w] | [1, h, w] | [1, 1, h, w] => (h, w),
            _ => {
                return Err(format_error(
                    path,
                    format!("\"image\" must be one grey (C=1) image (1, H, W), got {shape:?}"),
                ))
            }
        };
        let grid = ImageGrid::new(hw.0, hw.1).map_err(|e| format_error(path, e.to_string()))?;
        crate::scalar::check_finite("image", &data)?;
        return Ok((grid, data));
    }
    let img = image::load_from_memory(&bytes)
        .map_err(|e| format_error(path, format!("cannot decode: {e}")))?;
    let grid = ImageGrid::new(img.height() as usize, img.width() as usize)?;
    let data = img
        .to_luma16()
        .into_raw()
        .into_iter()
        .map(|v| v as f32 / 65535.0)
        .collect();
    Ok((grid, data))
}
