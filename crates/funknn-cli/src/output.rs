//! Writing pictures by the output's extension.

use std::path::Path;

use anyhow::{Context, Result};
use funknn_core::write_atomic;

/// Encodes an 8-bit image by the output's extension, atomically.
pub fn save_picture(
    path: &Path,
    data: &[u8],
    width: usize,
    height: usize,
    channels: usize,
) -> Result<()> {
    let format = image::ImageFormat::from_path(path)
        .ok()
        .filter(|f| matches!(f, image::ImageFormat::Png | image::ImageFormat::Jpeg))
        .with_context(|| {
            format!(
                "{}: the output must end in .png, .jpg or .jpeg",
                path.display()
            )
        })?;
    let color = if channels == 1 {
        image::ExtendedColorType::L8
    } else {
        image::ExtendedColorType::Rgb8
    };
    write_atomic(path, |tmp| {
        image::save_buffer_with_format(tmp, data, width as u32, height as u32, color, format)
            .map_err(|e| funknn_core::Error::Invalid {
                what: "output image",
                message: e.to_string(),
            })
    })
    .with_context(|| format!("writing {}", path.display()))
}
