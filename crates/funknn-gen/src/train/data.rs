//! Training and test images for the generator: Fashion-MNIST from its IDX files (the Debian
//! package `dataset-fashion-mnist`), padded to 32×32, or any folder of pictures.

use std::io::Read;
use std::path::{Path, PathBuf};

use candle_core::{Device, Tensor};

use crate::{Error, Result};

/// Where Debian's `dataset-fashion-mnist` puts the files.
pub const FASHION_MNIST_DIR: &str = "/usr/share/datasets/fashion-mnist";

/// Which half of a data set.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Split {
    /// 60,000 images for Fashion-MNIST.
    Train,
    /// 10,000 images.
    Test,
}

/// Images `(N, C, R, R)` f32 in [0, 1], kept in memory.
#[derive(Debug, Clone)]
pub struct ImageSet {
    images: Tensor,
    /// What they were read from, for the run's record.
    pub source: String,
}

fn io(path: &Path) -> impl Fn(std::io::Error) -> Error + '_ {
    move |error| Error::Io {
        path: path.to_path_buf(),
        error,
    }
}

/// Reads an IDX file of unsigned bytes (gzipped or not): dimensions and data.
pub fn read_idx(path: &Path) -> Result<(Vec<usize>, Vec<u8>)> {
    let raw = std::fs::read(path).map_err(io(path))?;
    let bytes = if raw.starts_with(&[0x1f, 0x8b]) {
        let mut out = Vec::new();
        flate2::read::GzDecoder::new(&raw[..])
            .read_to_end(&mut out)
            .map_err(io(path))?;
        out
    } else {
        raw
    };
    let bad =
        |message: String| Error::invalid("IDX file", format!("{}: {message}", path.display()));
    if bytes.len() < 4 || bytes[0] != 0 || bytes[1] != 0 || bytes[2] != 0x08 {
        return Err(bad("not an IDX file of unsigned bytes".into()));
    }
    let rank = bytes[3] as usize;
    let header = 4 + 4 * rank;
    if rank == 0 || bytes.len() < header {
        return Err(bad("truncated header".into()));
    }
    let dims: Vec<usize> = (0..rank)
        .map(|i| {
            u32::from_be_bytes(bytes[4 + 4 * i..8 + 4 * i].try_into().expect("4 bytes")) as usize
        })
        .collect();
    let count: usize = dims.iter().product();
    if bytes.len() != header + count {
        return Err(bad(format!(
            "{} data bytes for dimensions {dims:?} ({count})",
            bytes.len() - header
        )));
    }
    Ok((dims, bytes[header..].to_vec()))
}

/// `dir/name.gz` or `dir/name`, or an error saying where to get them.
fn find_idx(dir: &Path, name: &str) -> Result<PathBuf> {
    [format!("{name}.gz"), name.to_string()]
        .iter()
        .map(|f| dir.join(f))
        .find(|p| p.is_file())
        .ok_or_else(|| Error::Io {
            path: dir.join(format!("{name}.gz")),
            error: std::io::Error::new(
                std::io::ErrorKind::NotFound,
                "no such file (install the Debian package dataset-fashion-mnist, or give its folder)",
            ),
        })
}

/// Fashion-MNIST's labels of `split` from `dir` (`train-labels-idx1-ubyte.gz`, ...), 0–9 in
/// the order of [`ImageSet::fashion_mnist`]'s images; `limit` as there.
pub fn fashion_mnist_labels(dir: &Path, split: Split, limit: usize) -> Result<Vec<u8>> {
    let name = match split {
        Split::Train => "train-labels-idx1-ubyte",
        Split::Test => "t10k-labels-idx1-ubyte",
    };
    let path = find_idx(dir, name)?;
    let (dims, mut labels) = read_idx(&path)?;
    if dims.len() != 1 || labels.iter().any(|&l| l > 9) {
        return Err(Error::invalid(
            "IDX file",
            format!("{}: not a vector of labels 0-9: {dims:?}", path.display()),
        ));
    }
    if limit > 0 {
        labels.truncate(limit);
    }
    Ok(labels)
}

impl ImageSet {
    /// Fashion-MNIST's images of `split` from `dir` (`train-images-idx3-ubyte.gz`,
    /// `t10k-images-idx3-ubyte.gz`), padded with 2 black pixels per side to 32×32, grey.
    /// `limit` keeps the first images only (0: all).
    pub fn fashion_mnist(dir: &Path, split: Split, limit: usize) -> Result<Self> {
        let name = match split {
            Split::Train => "train-images-idx3-ubyte",
            Split::Test => "t10k-images-idx3-ubyte",
        };
        let path = find_idx(dir, name)?;
        let (dims, data) = read_idx(&path)?;
        let (n, h, w) = match dims[..] {
            [n, h, w] => (n, h, w),
            _ => {
                return Err(Error::invalid(
                    "IDX file",
                    format!("{}: not a stack of images: {dims:?}", path.display()),
                ))
            }
        };
        let n = if limit > 0 { n.min(limit) } else { n };
        let images = Tensor::from_vec(data[..n * h * w].to_vec(), (n, 1, h, w), &Device::Cpu)?
            .to_dtype(candle_core::DType::F32)?
            .affine(1.0 / 255.0, 0.0)?
            .pad_with_zeros(2, 2, 2)?
            .pad_with_zeros(3, 2, 2)?;
        Ok(ImageSet {
            images,
            source: format!(
                "{} ({n} images, padded to {}×{})",
                path.display(),
                h + 4,
                w + 4
            ),
        })
    }

    /// Every picture file directly in `dir`, resized (antialiased bilinear) to
    /// `resolution`², with `channels` channels.
    pub fn folder(dir: &Path, resolution: usize, channels: usize, limit: usize) -> Result<Self> {
        let mut paths: Vec<PathBuf> = std::fs::read_dir(dir)
            .map_err(io(dir))?
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| funknn_core::picture::is_picture_file(p))
            .collect();
        paths.sort();
        if limit > 0 {
            paths.truncate(limit);
        }
        if paths.is_empty() {
            return Err(Error::invalid(
                "training data",
                format!("{}: no picture file", dir.display()),
            ));
        }
        let mut images = Vec::with_capacity(paths.len());
        for path in &paths {
            let p = funknn_core::picture::read_picture(path, &Device::Cpu)?.unsqueeze(0)?;
            let p = funknn_core::picture::match_channels(&p, channels)?;
            let (_, c, h, w) = p.dims4()?;
            let data: Vec<f32> = p.flatten_all()?.to_vec1()?;
            let resized =
                funknn_core::picture::resize_bilinear_aa(&data, c, h, w, resolution, resolution);
            images.push(Tensor::from_vec(
                resized,
                (1, c, resolution, resolution),
                &Device::Cpu,
            )?);
        }
        Ok(ImageSet {
            images: Tensor::cat(&images, 0)?,
            source: format!(
                "{} ({} pictures resized to {resolution}²)",
                dir.display(),
                paths.len()
            ),
        })
    }

    /// From images `(N, C, R, R)` already in memory.
    pub fn from_tensor(images: Tensor, source: impl Into<String>) -> Self {
        ImageSet {
            images,
            source: source.into(),
        }
    }

    pub fn len(&self) -> usize {
        self.images.dim(0).unwrap_or(0)
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// All images `(N, C, R, R)`.
    pub fn images(&self) -> &Tensor {
        &self.images
    }

    /// The images at `indices`.
    pub fn batch(&self, indices: &[usize]) -> Result<Tensor> {
        let idx: Vec<u32> = indices.iter().map(|&i| i as u32).collect();
        let idx = Tensor::from_vec(idx, indices.len(), &Device::Cpu)?;
        Ok(self.images.index_select(&idx, 0)?)
    }
}
