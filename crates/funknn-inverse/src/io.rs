//! Files: sinograms (`.safetensors` with `sinogram`, `angles`, `offsets`) and images (PNG, or
//! `.safetensors` with `image` (C, H, W)). Every write is atomic: a temporary file in the same
//! folder, then a rename, so a failure leaves no partial output.

use std::path::Path;

use safetensors::tensor::TensorView;
use safetensors::{Dtype, SafeTensors};

use crate::geometry::{ImageGrid, ParallelGeometry};
use crate::{Error, Result};

/// Writes `bytes` to `path` atomically (funknn-core's temporary file and rename).
pub(crate) fn write_atomic(path: &Path, bytes: &[u8]) -> Result<()> {
    funknn_core::write_atomic(path, |tmp| {
        std::fs::write(tmp, bytes).map_err(|e| funknn_core::Error::Invalid {
            what: "output",
            message: format!("{}: {e}", tmp.display()),
        })
    })?;
    Ok(())
}

pub(crate) fn is_safetensors(path: &Path) -> bool {
    path.extension()
        .is_some_and(|e| e.eq_ignore_ascii_case("safetensors"))
}

pub(crate) fn f32_bytes(v: &[f32]) -> Vec<u8> {
    v.iter().flat_map(|x| x.to_le_bytes()).collect()
}

pub(crate) fn format_error(path: &Path, message: impl Into<String>) -> Error {
    Error::Format {
        path: path.to_path_buf(),
        message: message.into(),
    }
}

pub(crate) fn read_f32(
    path: &Path,
    st: &SafeTensors,
    name: &str,
) -> Result<(Vec<usize>, Vec<f32>)> {
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
        // Pictures go through funknn-core's writer: PNG, TIFF, WebP or JPEG by extension,
        // atomically. NaN is written as 0, values are clipped to [0, 1].
        let depth = match depth {
            BitDepth::Eight => funknn_core::picture::BitDepth::Eight,
            BitDepth::Sixteen => funknn_core::picture::BitDepth::Sixteen,
        };
        let clipped: Vec<f32> = image
            .iter()
            .map(|&v| if v.is_nan() { 0.0 } else { v })
            .collect();
        let mut samples = funknn_core::picture::Samples::new(depth);
        samples.push_values(&clipped);
        let raster = funknn_core::picture::Raster::new(w, h, 1, samples)?;
        funknn_core::picture::write_picture(path, &raster, &Default::default())?;
        return Ok(());
    };
    write_atomic(path, &bytes)
}

/// Reads a grey image: a picture file (PNG, JPEG, WebP, TIFF, BMP; colour is converted to
/// luma; 16-bit files keep their precision), values in [0, 1]; or a `.safetensors` whose `image` is (H, W), (1, H, W) or
/// (1, 1, H, W).
pub fn load_image(path: &Path) -> Result<(ImageGrid, Vec<f32>)> {
    if is_safetensors(path) {
        let bytes = std::fs::read(path).map_err(|e| Error::io(path, e))?;
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
    // Every picture format funknn reads, upright, at its own bit depth; colour to luma.
    let picture = funknn_core::picture::Picture::read(path, &candle_core::Device::Cpu)?;
    let grey = funknn_core::picture::match_channels(&picture.colour.unsqueeze(0)?, 1)?;
    let (_, _, h, w) = grey.dims4()?;
    let grid = ImageGrid::new(h, w)?;
    let data: Vec<f32> = grey.flatten_all()?.to_vec1()?;
    Ok((grid, data))
}
