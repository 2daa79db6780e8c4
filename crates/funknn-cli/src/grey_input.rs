//! The grey image a CT or derivative simulation starts from: a picture file, a
//! `.safetensors`, or `fashion-mnist:test:K` / `fashion-mnist:train:K`, the K-th image of
//! Debian's `dataset-fashion-mnist` padded to 32² (the data of the paper's experiments).

use std::path::Path;

use anyhow::{bail, Context, Result};
use funknn_gen::train::{ImageSet, Split, FASHION_MNIST_DIR};
use funknn_inverse::io::load_image;
use funknn_inverse::ImageGrid;

/// Reads `spec` (see the module docs) as a grey image.
pub fn load_grey(spec: &Path) -> Result<(ImageGrid, Vec<f32>)> {
    let text = spec.to_string_lossy();
    let Some(rest) = text.strip_prefix("fashion-mnist:") else {
        return Ok(load_image(spec)?);
    };
    let (split, index) = match rest.split_once(':') {
        Some(("test", k)) => (Split::Test, k),
        Some(("train", k)) => (Split::Train, k),
        _ => bail!("{text}: expected fashion-mnist:test:K or fashion-mnist:train:K"),
    };
    let k: usize = index
        .parse()
        .with_context(|| format!("{text}: {index:?} is not an image index"))?;
    let set =
        ImageSet::fashion_mnist(Path::new(FASHION_MNIST_DIR), split, k + 1).with_context(|| {
            format!("{text}: reading Fashion-MNIST (Debian's dataset-fashion-mnist)")
        })?;
    if k >= set.len() {
        bail!("{text}: the set has {} images", set.len());
    }
    let image = set.images().get(k)?; // (1, 32, 32)
    let (_, h, w) = image.dims3()?;
    Ok((ImageGrid::new(h, w)?, image.flatten_all()?.to_vec1()?))
}
