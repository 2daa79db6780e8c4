//! Training data for super-resolution: a folder of photographs, random crops, and
//! low/high-resolution pairs made by antialiased downsampling.

use std::path::{Path, PathBuf};

use candle_core::{Device, Tensor};
use serde::{Deserialize, Serialize};

use crate::config::KernelKind;
use crate::engine::evaluator::ContinuousImage;
use crate::engine::interpolant::KernelInterpolant;
use crate::engine::parallel::map_indexed;
use crate::jet::JetOrder;
use crate::picture::io::is_picture_file;
use crate::picture::resize::resize_bilinear_aa;
use crate::rng::Rng;
use crate::{Error, Result};

/// How the low (input) and high (target) sizes of a training pair are drawn from a crop of
/// side N (DESIGN.md §1).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum TrainMode {
    /// The official default: input n uniform in [N/8, N/2), target 2n. With a maximum
    /// factor F > 2 ([`BatchSpec::max_factor`]), each batch draws an integer factor f
    /// uniform in 2..=F, input n uniform in [N/(4f), N/f) and target f·n.
    Factor,
    /// Input n uniform in [N/8, N/2), target uniform in (n, N]: every scale up to N/n.
    Continuous,
    /// One scale: input N/4, target N/2.
    Single,
}

impl std::str::FromStr for TrainMode {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        match s.to_ascii_lowercase().as_str() {
            "factor" => Ok(TrainMode::Factor),
            "continuous" => Ok(TrainMode::Continuous),
            "single" => Ok(TrainMode::Single),
            _ => Err(Error::invalid(
                "training mode",
                format!("unknown {s:?}; expected factor, continuous or single"),
            )),
        }
    }
}

impl TrainMode {
    /// `(input side, target side)` for a crop of side `crop`; `max_factor` only matters in
    /// factor mode.
    pub fn sizes(&self, crop: usize, max_factor: usize, rng: &mut Rng) -> (usize, usize) {
        let lo = (crop / 8).max(2);
        let hi = (crop / 2).max(lo + 1);
        match self {
            TrainMode::Factor => {
                // Only a mixed-factor run draws the factor, so the official ×2 runs keep
                // their random stream.
                let f = match max_factor {
                    0..=2 => 2,
                    m => 2 + rng.below(m - 1),
                };
                let lo = (crop / (4 * f)).max(2);
                let hi = (crop / f).max(lo + 1);
                let n = lo + rng.below(hi - lo);
                (n, f * n)
            }
            TrainMode::Continuous => {
                let n = lo + rng.below(hi - lo);
                (n, n + 1 + rng.below(crop - n))
            }
            TrainMode::Single => ((crop / 4).max(2), (crop / 2).max(3)),
        }
    }
}

/// What the low-resolution input of a training pair is downsampled from.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Degradation {
    /// The crop, as the official code does: input and target are two downsamples of the
    /// same crop, so the input is sharper, relative to the target, than an image
    /// downsampled from it. The serde default, for configurations saved before the choice
    /// existed.
    #[default]
    Crop,
    /// The target: the input is exactly the target's antialiased downsample, the
    /// relation `funknn eval` (and most super-resolution benchmarks) test.
    Target,
}

impl std::str::FromStr for Degradation {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        match s.to_ascii_lowercase().as_str() {
            "crop" => Ok(Degradation::Crop),
            "target" => Ok(Degradation::Target),
            _ => Err(Error::invalid(
                "degradation",
                format!("unknown {s:?}; expected crop or target"),
            )),
        }
    }
}

/// The shape of one training batch and how its pairs are made.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BatchSpec {
    /// Images per batch.
    pub batch: usize,
    /// Side of the random crops.
    pub crop: usize,
    /// Target pixels per image.
    pub points: usize,
    pub mode: TrainMode,
    /// Largest integer scale of factor mode (2: the official ×2 only).
    pub max_factor: usize,
    pub degradation: Degradation,
    /// Apply one of the 8 flips and transposes of the square, at random, to each crop.
    pub augment: bool,
}

impl BatchSpec {
    /// The official factor-mode batch: `batch` crops of `crop`², `points` targets each.
    pub fn factor(batch: usize, crop: usize, points: usize) -> Self {
        BatchSpec {
            batch,
            crop,
            points,
            mode: TrainMode::Factor,
            max_factor: 2,
            degradation: Degradation::Crop,
            augment: false,
        }
    }
}

/// Photographs decoded into memory as RGB or grey `(C, H, W)` f32 in [0, 1].
pub struct ImageFolder {
    images: Vec<(usize, usize, Vec<f32>)>,
    channels: usize,
    paths: Vec<PathBuf>,
}

impl ImageFolder {
    /// Reads every picture file ([`is_picture_file`]) directly in `dir` (sorted by name, so runs are reproducible),
    /// converted to `channels` (1 or 3). With `max_side > 0`, an image whose longer side
    /// exceeds it is downscaled (antialiased bilinear) to that longer side. Images then
    /// smaller than `min_side` are skipped with a warning; a folder with none left, or an
    /// undecodable file, is an error.
    pub fn open(dir: &Path, channels: usize, min_side: usize, max_side: usize) -> Result<Self> {
        let entries = std::fs::read_dir(dir).map_err(|e| Error::io(dir, e))?;
        let mut paths: Vec<PathBuf> = entries
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| is_picture_file(p))
            .collect();
        paths.sort();
        let mut images = Vec::new();
        let mut kept = Vec::new();
        for path in paths {
            let picture = crate::picture::io::read_picture(&path, &Device::Cpu)?.unsqueeze(0)?;
            let picture = crate::picture::io::match_channels(&picture, channels)?.squeeze(0)?;
            let (_, mut h, mut w) = picture.dims3()?;
            let mut data = picture.flatten_all()?.to_vec1::<f32>()?;
            if max_side > 0 && h.max(w) > max_side {
                let scale = max_side as f64 / h.max(w) as f64;
                let (h2, w2) = (
                    ((h as f64 * scale).round() as usize).max(1),
                    ((w as f64 * scale).round() as usize).max(1),
                );
                data = resize_bilinear_aa(&data, channels, h, w, h2, w2);
                (h, w) = (h2, w2);
            }
            if h.min(w) < min_side {
                tracing::warn!(
                    "{}: {w}×{h} is smaller than the {min_side}-pixel crop; skipped",
                    path.display()
                );
                continue;
            }
            images.push((h, w, data));
            kept.push(path);
        }
        if images.is_empty() {
            return Err(Error::invalid(
                "training data",
                format!(
                    "{}: no PNG or JPEG (or WebP, TIFF, BMP) image of at least {min_side}×{min_side} pixels",
                    dir.display()
                ),
            ));
        }
        Ok(ImageFolder {
            images,
            channels,
            paths: kept,
        })
    }

    /// Images already in memory, `(N, C, H, W)` in [0, 1] (e.g. a data set read from its own
    /// format); `name` stands for their paths in reports.
    pub fn from_images(images: &Tensor, name: &str) -> Result<Self> {
        let (n, channels, h, w) = images.dims4().map_err(|_| Error::Shape {
            name: "training images",
            expected: "(N, C, H, W)".into(),
            got: images.dims().to_vec(),
        })?;
        if n == 0 {
            return Err(Error::invalid("training data", format!("{name}: no image")));
        }
        let images = (0..n)
            .map(|i| {
                Ok((
                    h,
                    w,
                    images
                        .get(i)?
                        .flatten_all()?
                        .to_dtype(candle_core::DType::F32)?
                        .to_vec1::<f32>()?,
                ))
            })
            .collect::<Result<Vec<_>>>()?;
        let paths = (0..n)
            .map(|i| PathBuf::from(format!("{name}#{i}")))
            .collect();
        Ok(ImageFolder {
            images,
            channels,
            paths,
        })
    }

    pub fn len(&self) -> usize {
        self.images.len()
    }

    pub fn is_empty(&self) -> bool {
        self.images.is_empty()
    }

    pub fn paths(&self) -> &[PathBuf] {
        &self.paths
    }

    /// The `crop × crop` window at (`top`, `left`) of image `index`, `(C, crop, crop)`.
    fn window(&self, index: usize, top: usize, left: usize, crop: usize) -> Vec<f32> {
        let (h, w, data) = &self.images[index];
        let mut out = Vec::with_capacity(self.channels * crop * crop);
        for c in 0..self.channels {
            for y in 0..crop {
                let row = (c * h + top + y) * w + left;
                out.extend_from_slice(&data[row..row + crop]);
            }
        }
        out
    }

    /// One batch: low-resolution inputs `(B, C, n, n)`, `points` random target pixel centres
    /// per image `(B, P, 2)` and their target values `(B, P, C)`.
    pub fn sample(&self, spec: &BatchSpec, rng: &mut Rng) -> Result<(Tensor, Tensor, Tensor)> {
        let batch = self.sample_batch(spec, rng, false)?;
        Ok((batch.images, batch.points, batch.targets))
    }

    /// [`Self::sample`], and with `derivatives` the target's exact derivatives at the same
    /// pixels (those of its cubic B-spline interpolant, in unit coordinates), for Sobolev
    /// training. The random draws are the same either way.
    pub fn sample_batch(
        &self,
        spec: &BatchSpec,
        rng: &mut Rng,
        derivatives: bool,
    ) -> Result<Batch> {
        let BatchSpec {
            batch,
            crop,
            points,
            ..
        } = *spec;
        let c = self.channels;
        let (n, m) = spec.mode.sizes(crop, spec.max_factor, rng);
        // Every random draw first, in a fixed order, so that the batch does not depend on
        // how the resizing below is shared between threads.
        let draws: Vec<CropDraw> = (0..batch)
            .map(|_| {
                let index = rng.below(self.images.len());
                let (h, w, _) = &self.images[index];
                let (top, left) = (rng.below(h - crop + 1), rng.below(w - crop + 1));
                let symmetry = if spec.augment { rng.below(8) } else { 0 };
                let pixels = (0..points).map(|_| (rng.below(m), rng.below(m))).collect();
                CropDraw {
                    index,
                    top,
                    left,
                    symmetry,
                    pixels,
                }
            })
            .collect();
        let threads = std::thread::available_parallelism().map_or(1, |t| t.get());
        let pairs = map_indexed(
            batch,
            threads,
            || (),
            |_, b| {
                let d = &draws[b];
                let mut window = self.window(d.index, d.top, d.left, crop);
                if d.symmetry != 0 {
                    window = dihedral(&window, c, crop, d.symmetry);
                }
                let high = resize_bilinear_aa(&window, c, crop, crop, m, m);
                let input = match spec.degradation {
                    Degradation::Crop => resize_bilinear_aa(&window, c, crop, crop, n, n),
                    Degradation::Target => resize_bilinear_aa(&high, c, m, m, n, n),
                };
                let mut targets = Vec::with_capacity(points * c);
                for &(i, j) in &d.pixels {
                    targets.extend((0..c).map(|ch| high[(ch * m + i) * m + j]));
                }
                let exact = match derivatives {
                    true => Some(pixel_derivatives(high, c, m, &d.pixels)?),
                    false => None,
                };
                Ok((input, targets, exact))
            },
        )?;
        let mut inputs = Vec::with_capacity(batch * c * n * n);
        let mut targets = Vec::with_capacity(batch * points * c);
        let (mut gradient, mut laplacian) = (Vec::new(), Vec::new());
        for (input, t, exact) in pairs {
            inputs.extend(input);
            targets.extend(t);
            if let Some((g, l)) = exact {
                gradient.extend(g);
                laplacian.extend(l);
            }
        }
        let coords: Vec<f32> = draws
            .iter()
            .flat_map(|d| &d.pixels)
            .flat_map(|&(i, j)| [(j as f32 + 0.5) / m as f32, (i as f32 + 0.5) / m as f32])
            .collect();
        let derivatives = match derivatives {
            true => Some(TargetDerivatives {
                gradient: Tensor::from_vec(gradient, (batch, points, c, 2), &Device::Cpu)?,
                laplacian: Tensor::from_vec(laplacian, (batch, points, c), &Device::Cpu)?,
                side: m,
            }),
            false => None,
        };
        Ok(Batch {
            images: Tensor::from_vec(inputs, (batch, c, n, n), &Device::Cpu)?,
            points: Tensor::from_vec(coords, (batch, points, 2), &Device::Cpu)?,
            targets: Tensor::from_vec(targets, (batch, points, c), &Device::Cpu)?,
            derivatives,
        })
    }
}

impl ImageFolder {
    /// `count` random `crop × crop` windows at full resolution `(count, C, crop, crop)`,
    /// flipped and transposed at random with `augment`: the inputs of the scale-consistency
    /// term ([`crate::train::ScaleConsistency`]).
    pub fn sample_crops(
        &self,
        count: usize,
        crop: usize,
        augment: bool,
        rng: &mut Rng,
    ) -> Result<Tensor> {
        let c = self.channels;
        let mut out = Vec::with_capacity(count * c * crop * crop);
        for _ in 0..count {
            let index = rng.below(self.images.len());
            let (h, w, _) = &self.images[index];
            let (top, left) = (rng.below(h - crop + 1), rng.below(w - crop + 1));
            let symmetry = if augment { rng.below(8) } else { 0 };
            let mut window = self.window(index, top, left, crop);
            if symmetry != 0 {
                window = dihedral(&window, c, crop, symmetry);
            }
            out.extend(window);
        }
        Ok(Tensor::from_vec(out, (count, c, crop, crop), &Device::Cpu)?)
    }
}

/// One training batch.
#[derive(Debug, Clone)]
pub struct Batch {
    /// Low-resolution inputs `(N, C, n, n)`.
    pub images: Tensor,
    /// Target pixel centres `(N, P, 2)`.
    pub points: Tensor,
    /// Target values there `(N, P, C)`.
    pub targets: Tensor,
    pub derivatives: Option<TargetDerivatives>,
}

/// The target's exact derivatives at a batch's points.
#[derive(Debug, Clone)]
pub struct TargetDerivatives {
    /// `(∂x, ∂y)` in unit coordinates `(N, P, C, 2)`.
    pub gradient: Tensor,
    /// `(N, P, C)`.
    pub laplacian: Tensor,
    /// The target's side in pixels: the derivative losses divide by it (the gradient) and
    /// by its square (the Laplacian) to be in intensity units.
    pub side: usize,
}

/// The gradient `(P, C, 2)` and Laplacian `(P, C)` of the cubic B-spline interpolant of
/// `image` `(C, m, m)` at the centres of `pixels` (row, column).
fn pixel_derivatives(
    image: Vec<f32>,
    c: usize,
    m: usize,
    pixels: &[(usize, usize)],
) -> Result<(Vec<f32>, Vec<f32>)> {
    let image = Tensor::from_vec(image, (1, c, m, m), &Device::Cpu)?;
    let spline = KernelInterpolant::new(KernelKind::Bspline, &image, JetOrder::Laplacian)?;
    let centre = |k: usize| (k as f32 + 0.5) / m as f32;
    let coords: Vec<f32> = pixels
        .iter()
        .flat_map(|&(i, j)| [centre(j), centre(i)])
        .collect();
    let points = Tensor::from_vec(coords, (1, pixels.len(), 2), &Device::Cpu)?;
    let jet = spline.evaluate(&points)?;
    let flat = |t: Option<Tensor>| -> Result<Vec<f32>> {
        let t = t.ok_or_else(|| Error::invalid("jet", "a Laplacian jet is needed"))?;
        Ok(t.flatten_all()?.to_vec1()?)
    };
    Ok((flat(jet.gradient()?)?, flat(jet.laplacian()?)?))
}

/// The random choices behind one crop of a batch.
struct CropDraw {
    index: usize,
    top: usize,
    left: usize,
    /// Element of the square's symmetry group (0: none), see [`dihedral`].
    symmetry: usize,
    /// Target pixels `(row, column)` on the `m × m` target.
    pixels: Vec<(usize, usize)>,
}

/// Element `k` (0..8) of the symmetry group of the square applied to each `side`² channel of
/// `(C, side, side)` data: bit 0 flips columns, bit 1 flips rows, bit 2 transposes first.
fn dihedral(data: &[f32], channels: usize, side: usize, k: usize) -> Vec<f32> {
    let mut out = Vec::with_capacity(data.len());
    for ch in 0..channels {
        let plane = &data[ch * side * side..(ch + 1) * side * side];
        for i in 0..side {
            for j in 0..side {
                let (mut y, mut x) = (i, j);
                if k & 1 != 0 {
                    x = side - 1 - x;
                }
                if k & 2 != 0 {
                    y = side - 1 - y;
                }
                if k & 4 != 0 {
                    (y, x) = (x, y);
                }
                out.push(plane[y * side + x]);
            }
        }
    }
    out
}
