//! Reading images into tensors: PNG/JPEG through `image`, or `.safetensors` arrays.

use std::path::Path;

use candle_core::{DType, Device, Tensor};

use crate::{Error, Result};

fn is_safetensors(path: &Path) -> bool {
    path.extension()
        .is_some_and(|e| e.eq_ignore_ascii_case("safetensors"))
}

/// Decodes a PNG or JPEG into `(C, H, W)` f32 in [0, 1]: C = 1 for grey images, 3 otherwise
/// (alpha is dropped). A missing, truncated or undecodable file is an error naming it.
pub fn read_picture(path: &Path, device: &Device) -> Result<Tensor> {
    let bytes = std::fs::read(path).map_err(|e| Error::io(path, e))?;
    let img = image::load_from_memory(&bytes).map_err(|e| Error::Invalid {
        what: "image",
        message: format!("{}: cannot decode: {e}", path.display()),
    })?;
    let (w, h) = (img.width() as usize, img.height() as usize);
    let grey = !img.color().has_color();
    let (channels, data): (usize, Vec<u8>) = if grey {
        (1, img.to_luma8().into_raw())
    } else {
        (3, img.to_rgb8().into_raw())
    };
    let t = Tensor::from_vec(data, (h, w, channels), &Device::Cpu)?
        .permute((2, 0, 1))?
        .to_dtype(DType::F32)?
        .affine(1.0 / 255.0, 0.0)?;
    Ok(t.to_device(device)?)
}

/// Reads images as `(N, C, H, W)` f32: a PNG/JPEG (N = 1), or a `.safetensors` file whose
/// tensor `image` is `(C, H, W)` or `(N, C, H, W)`.
pub fn read_images(path: &Path, device: &Device) -> Result<Tensor> {
    if !is_safetensors(path) {
        return Ok(read_picture(path, device)?.unsqueeze(0)?);
    }
    if !path.is_file() {
        return Err(Error::io(
            path,
            std::io::Error::new(std::io::ErrorKind::NotFound, "no such file"),
        ));
    }
    let mut tensors = candle_core::safetensors::load(path, device).map_err(|e| Error::Invalid {
        what: "image",
        message: format!("{}: not a readable safetensors file: {e}", path.display()),
    })?;
    let image = tensors.remove("image").ok_or_else(|| Error::Invalid {
        what: "image",
        message: format!("{}: no tensor named \"image\"", path.display()),
    })?;
    let image = match image.rank() {
        3 => image.unsqueeze(0)?,
        4 => image,
        _ => {
            return Err(Error::Shape {
                name: "image",
                expected: "(C, H, W) or (N, C, H, W)".into(),
                got: image.dims().to_vec(),
            })
        }
    };
    Ok(image.to_dtype(DType::F32)?)
}

/// Converts `(N, C, H, W)` images between grey and RGB to have `channels` channels
/// (luma with Rec. 601 weights, or grey replicated). Other mismatches are errors.
pub fn match_channels(images: &Tensor, channels: usize) -> Result<Tensor> {
    let c = images.dim(1)?;
    match (c, channels) {
        (a, b) if a == b => Ok(images.clone()),
        (1, 3) => Ok(images.repeat((1, 3, 1, 1))?),
        (3, 1) => {
            let w = Tensor::new(&[0.299f32, 0.587, 0.114], images.device())?
                .to_dtype(images.dtype())?
                .reshape((1, 3, 1, 1))?;
            Ok(images.broadcast_mul(&w)?.sum_keepdim(1)?)
        }
        _ => Err(Error::Shape {
            name: "image",
            expected: format!("{channels} channels for this model"),
            got: images.dims().to_vec(),
        }),
    }
}
