//! Super-resolution quality on a folder of images: FunkNN against classical interpolators.
//!
//! Protocol: the high-resolution (HR) image is a centre crop whose sides are multiples of 4
//! (at most `max_side`); the low-resolution input is its antialiased bilinear downsample by
//! the scale (rounded to whole pixels, so ×3 is a non-integer scale in general); every method
//! enlarges it back to the HR size, and SNR and PSNR compare with the HR image.

use std::path::{Path, PathBuf};

use candle_core::{Device, Tensor};

use crate::engine::ensemble::value_image;
use crate::model::funknn::{EvalOptions, FunkNN};
use crate::picture::io::is_picture_file;
use crate::picture::render::render_tiles;
use crate::picture::resize::{resize_bilinear_aa, Interpolator};
use crate::{Error, Result};

pub mod derivatives;

/// One scale of the protocol.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Scale {
    pub factor: f64,
    /// Reach the factor by repeated ×2 FunkNN steps (the factor must be a power of 2).
    pub recursive: bool,
}

impl Scale {
    pub fn label(&self) -> String {
        let f = if self.factor.fract() == 0.0 {
            format!("×{}", self.factor as u64)
        } else {
            format!("×{}", self.factor)
        };
        if self.recursive {
            format!("{f} (×2 recursive)")
        } else {
            f
        }
    }
}

/// Mean SNR and PSNR (dB) of each method at each scale.
#[derive(Debug, Clone)]
pub struct EvalTable {
    pub methods: Vec<String>,
    /// `(scale label, per method (SNR, PSNR))`.
    pub rows: Vec<(String, Vec<(f64, f64)>)>,
    pub images: Vec<PathBuf>,
}

impl EvalTable {
    /// A Markdown table: one row per scale, SNR / PSNR per method.
    pub fn to_markdown(&self) -> String {
        let mut s = String::from("| scale |");
        for m in &self.methods {
            s += &format!(" {m} SNR | {m} PSNR |");
        }
        s += "\n|---|";
        s += &"---:|".repeat(2 * self.methods.len());
        s += "\n";
        for (label, values) in &self.rows {
            s += &format!("| {label} |");
            for (snr, psnr) in values {
                s += &format!(" {snr:.2} | {psnr:.2} |");
            }
            s += "\n";
        }
        if let Some(gains) = self.snr_gains("bicubic") {
            let gains: Vec<String> = gains
                .iter()
                .map(|(label, g)| format!("{label} {g:+.3} dB"))
                .collect();
            s += &format!("\nFunkNN's SNR gain over bicubic: {}.\n", gains.join(", "));
        }
        s
    }

    /// FunkNN's SNR minus `method`'s, per scale; `None` if either is missing.
    pub fn snr_gains(&self, method: &str) -> Option<Vec<(String, f64)>> {
        let ours = self.methods.iter().position(|m| m == "funknn")?;
        let theirs = self.methods.iter().position(|m| m == method)?;
        Some(
            self.rows
                .iter()
                .map(|(label, v)| (label.clone(), v[ours].0 - v[theirs].0))
                .collect(),
        )
    }
}

/// `(SNR, PSNR)` in dB of `estimate` against `reference`, both clamped to [0, 1].
pub fn snr_psnr(estimate: &[f32], reference: &[f32]) -> (f64, f64) {
    let (mut signal, mut noise) = (0f64, 0f64);
    for (e, r) in estimate.iter().zip(reference) {
        let (e, r) = (e.clamp(0.0, 1.0) as f64, r.clamp(0.0, 1.0) as f64);
        signal += r * r;
        noise += (e - r) * (e - r);
    }
    let mse = noise / reference.len().max(1) as f64;
    (10.0 * (signal / noise).log10(), 10.0 * (1.0 / mse).log10())
}

/// FunkNN's rendering of `image` `(C, h, w)` at `out_h × out_w`, channel-first; with
/// `self_ensemble`, the mean over the 8 flips and transposes
/// ([`SelfEnsemble`](crate::engine::ensemble::SelfEnsemble)).
#[allow(clippy::too_many_arguments)]
fn funknn_upsample(
    model: &FunkNN,
    image: &[f32],
    c: usize,
    h: usize,
    w: usize,
    out_h: usize,
    out_w: usize,
    self_ensemble: bool,
) -> Result<Vec<f32>> {
    let t = Tensor::from_vec(image.to_vec(), (1, c, h, w), &Device::Cpu)?;
    let mut out = vec![0f32; c * out_h * out_w];
    let continuous = value_image(model, &t, self_ensemble, EvalOptions::default())?;
    render_tiles(
        continuous.as_ref(),
        out_h,
        out_w,
        65_536,
        |row, rows, jet| {
            let v: Vec<f32> = jet.value()?.flatten_all()?.to_vec1()?;
            for (p, px) in v.chunks(c).enumerate() {
                let (y, x) = (row + p / out_w, p % out_w);
                for ch in 0..c {
                    out[(ch * out_h + y) * out_w + x] = px[ch];
                }
            }
            debug_assert_eq!(v.len(), rows * out_w * c);
            Ok(())
        },
    )?;
    Ok(out)
}

/// Runs the protocol on every picture file in `dir` ([`is_picture_file`]), FunkNN as it is or, with `self_ensemble`,
/// as the mean over the 8 flips and transposes. `progress` is told each finished image.
pub fn evaluate_folder(
    model: &FunkNN,
    dir: &Path,
    max_side: usize,
    scales: &[Scale],
    self_ensemble: bool,
    mut progress: impl FnMut(&Path),
) -> Result<EvalTable> {
    let c = model.config().channels;
    let paths = picture_paths(dir)?;
    let mut methods = vec!["funknn".to_string()];
    methods.extend(Interpolator::ALL.iter().map(|i| i.name().to_string()));
    let mut sums = vec![vec![(0f64, 0f64); methods.len()]; scales.len()];
    for path in &paths {
        let (hr, hh, hw) = high_resolution_crop(path, c, max_side)?;
        for (si, scale) in scales.iter().enumerate() {
            let lr_side = |n: usize| ((n as f64 / scale.factor).round() as usize).max(2);
            let (lh, lw) = (lr_side(hh), lr_side(hw));
            let lr = resize_bilinear_aa(&hr, c, hh, hw, lh, lw);
            let ours = if scale.recursive {
                let (mut img, mut ih, mut iw) = (lr.clone(), lh, lw);
                let mut f = 1.0;
                while f * 2.0 < scale.factor - 1e-9 {
                    img = funknn_upsample(model, &img, c, ih, iw, 2 * ih, 2 * iw, self_ensemble)?;
                    ih *= 2;
                    iw *= 2;
                    f *= 2.0;
                }
                funknn_upsample(model, &img, c, ih, iw, hh, hw, self_ensemble)?
            } else {
                funknn_upsample(model, &lr, c, lh, lw, hh, hw, self_ensemble)?
            };
            let mut results = vec![snr_psnr(&ours, &hr)];
            for interp in Interpolator::ALL {
                results.push(snr_psnr(&interp.upsample(&lr, c, lh, lw, hh, hw), &hr));
            }
            for (acc, r) in sums[si].iter_mut().zip(results) {
                acc.0 += r.0;
                acc.1 += r.1;
            }
        }
        progress(path);
    }
    let n = paths.len() as f64;
    let rows = scales
        .iter()
        .zip(sums)
        .map(|(s, v)| {
            (
                s.label(),
                v.into_iter().map(|(a, b)| (a / n, b / n)).collect(),
            )
        })
        .collect();
    Ok(EvalTable {
        methods,
        rows,
        images: paths,
    })
}

/// The picture files of `dir` ([`is_picture_file`]), sorted; an error if there is none.
pub(crate) fn picture_paths(dir: &Path) -> Result<Vec<PathBuf>> {
    let mut paths: Vec<PathBuf> = std::fs::read_dir(dir)
        .map_err(|e| Error::io(dir, e))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| is_picture_file(p))
        .collect();
    paths.sort();
    if paths.is_empty() {
        return Err(Error::invalid(
            "evaluation data",
            format!(
                "{}: no PNG or JPEG (or WebP, TIFF, BMP) image",
                dir.display()
            ),
        ));
    }
    Ok(paths)
}

/// The protocol's high-resolution image: the centre crop of the picture at `path` with
/// sides that are multiples of 4 and at most `max_side`, in `c` channels, channel-first.
pub(crate) fn high_resolution_crop(
    path: &Path,
    c: usize,
    max_side: usize,
) -> Result<(Vec<f32>, usize, usize)> {
    let picture = crate::picture::io::read_picture(path, &Device::Cpu)?.unsqueeze(0)?;
    let picture = crate::picture::io::match_channels(&picture, c)?.squeeze(0)?;
    let (_, h, w) = picture.dims3()?;
    let side = |n: usize| (n.min(max_side) / 4) * 4;
    let (hh, hw) = (side(h), side(w));
    if hh < 16 || hw < 16 {
        return Err(Error::invalid(
            "evaluation data",
            format!("{}: {w}×{h} is too small", path.display()),
        ));
    }
    let hr: Vec<f32> = picture
        .narrow(1, (h - hh) / 2, hh)?
        .narrow(2, (w - hw) / 2, hw)?
        .flatten_all()?
        .to_vec1()?;
    Ok((hr, hh, hw))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn snr_of_known_errors() {
        let r = vec![0.5f32; 100];
        let e: Vec<f32> = r.iter().map(|v| v + 0.05).collect();
        let (snr, psnr) = snr_psnr(&e, &r);
        assert!((snr - 20.0).abs() < 1e-4, "{snr}");
        assert!((psnr - 26.0206).abs() < 1e-3, "{psnr}");
    }
}
