//! Writing 8-bit pictures (colour maps, loss curves) by the output's extension.

use std::path::Path;

use anyhow::{Context, Result};
use funknn_core::picture::{write_picture, Raster, Samples, WriteOptions};

/// Encodes 8-bit samples (1 to 4 channels, pixel-major) by `path`'s extension, atomically.
pub fn save_picture(
    path: &Path,
    data: &[u8],
    width: usize,
    height: usize,
    channels: usize,
) -> Result<()> {
    let raster = Raster::new(width, height, channels, Samples::U8(data.to_vec()))?;
    write_picture(path, &raster, &WriteOptions::default())
        .with_context(|| format!("writing {}", path.display()))
}
