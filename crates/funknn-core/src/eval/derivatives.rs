//! How good a continuous image's derivatives are: gradient and Laplacian SNR against the
//! derivatives of the high-resolution image.
//!
//! Protocol (`funknn eval --derivatives`): the ground truth is the C² cubic B-spline
//! interpolant of the high-resolution (HR) crop of [`super::evaluate_folder`],
//! differentiated exactly (prefilter, then the spline's derivative taps, in f64) at the HR
//! pixel centres, in unit coordinates. The input is the HR crop downsampled by the factor
//! with antialiased bilinear, as for values. Every method's gradient and Laplacian of that
//! input are evaluated at the same HR pixel centres and scored by SNR: the gradient field
//! over both components and all channels, the Laplacian over all channels. Baselines are
//! the plain kernel interpolants of the same input: the B-spline, Keys (a = −0.5) and
//! PyTorch's bicubic (a = −0.75).

use std::path::{Path, PathBuf};

use candle_core::{DType, Device, Tensor};

use crate::config::KernelKind;
use crate::engine::evaluator::{ContinuousImage, Evaluator};
use crate::engine::interpolant::KernelInterpolant;
use crate::eval::{high_resolution_crop, picture_paths};
use crate::jet::{Jet, JetOrder};
use crate::model::funknn::{EvalOptions, FunkNN};
use crate::picture::render::render_tiles;
use crate::picture::resize::resize_bilinear_aa;
use crate::Result;

/// Points per evaluation tile.
const TILE_POINTS: usize = 32_768;

/// The baselines, by the name the table gives them.
pub const BASELINES: [(&str, KernelKind); 3] = [
    ("bspline", KernelKind::Bspline),
    ("keys", KernelKind::CubicConv),
    ("bicubic", KernelKind::Bicubic),
];

/// Exact derivatives of an image's cubic B-spline interpolant at its own pixel centres.
#[derive(Debug, Clone)]
pub struct DerivativeTruth {
    pub height: usize,
    pub width: usize,
    pub channels: usize,
    /// `(P, C, 2)` flat, pixel-major: `(∂x, ∂y)` per channel.
    pub gradient: Vec<f64>,
    /// `(P, C)` flat, pixel-major.
    pub laplacian: Vec<f64>,
}

/// Appends a tile's gradient `(P, C, 2)` and Laplacian `(P, C)` to `gradient` and
/// `laplacian`, in f64.
fn push_derivatives(jet: &Jet, gradient: &mut Vec<f64>, laplacian: &mut Vec<f64>) -> Result<()> {
    let as_f64 = |t: Option<Tensor>| -> Result<Vec<f64>> {
        let t = t.ok_or_else(|| crate::Error::invalid("jet", "a Laplacian jet is needed"))?;
        Ok(t.to_dtype(DType::F64)?.flatten_all()?.to_vec1()?)
    };
    gradient.extend(as_f64(jet.gradient()?)?);
    laplacian.extend(as_f64(jet.laplacian()?)?);
    Ok(())
}

/// The gradient and Laplacian of `u` at the pixel centres of a `height × width` grid.
fn derivatives_on_grid(
    u: &dyn ContinuousImage,
    height: usize,
    width: usize,
) -> Result<(Vec<f64>, Vec<f64>)> {
    let (mut gradient, mut laplacian) = (Vec::new(), Vec::new());
    render_tiles(u, height, width, TILE_POINTS, |_, _, jet| {
        push_derivatives(jet, &mut gradient, &mut laplacian)
    })?;
    Ok((gradient, laplacian))
}

impl DerivativeTruth {
    /// The truth for the HR image `hr` `(C, H, W)` (channel-first, flat).
    pub fn of_image(hr: &[f32], channels: usize, height: usize, width: usize) -> Result<Self> {
        let image = Tensor::from_vec(hr.to_vec(), (1, channels, height, width), &Device::Cpu)?
            .to_dtype(DType::F64)?;
        let spline = KernelInterpolant::new(KernelKind::Bspline, &image, JetOrder::Laplacian)?;
        let (gradient, laplacian) = derivatives_on_grid(&spline, height, width)?;
        Ok(DerivativeTruth {
            height,
            width,
            channels,
            gradient,
            laplacian,
        })
    }

    /// The SNR of `u`'s derivatives at the HR pixel centres.
    pub fn score(&self, u: &dyn ContinuousImage) -> Result<DerivativeScores> {
        let (gradient, laplacian) = derivatives_on_grid(u, self.height, self.width)?;
        Ok(DerivativeScores {
            gradient_snr: snr(&gradient, &self.gradient),
            laplacian_snr: snr(&laplacian, &self.laplacian),
        })
    }
}

/// `10 log10(‖reference‖² / ‖estimate − reference‖²)`, unclamped.
pub fn snr(estimate: &[f64], reference: &[f64]) -> f64 {
    let (mut signal, mut noise) = (0f64, 0f64);
    for (e, r) in estimate.iter().zip(reference) {
        signal += r * r;
        noise += (e - r) * (e - r);
    }
    10.0 * (signal / noise).log10()
}

/// Gradient and Laplacian SNR (dB) of one method on one image.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct DerivativeScores {
    pub gradient_snr: f64,
    pub laplacian_snr: f64,
}

/// Every method's scores on the HR image `hr` `(C, H, W)` downsampled by `factor`: FunkNN
/// first, then [`BASELINES`] in order.
pub fn score_image(
    model: &FunkNN,
    hr: &[f32],
    channels: usize,
    height: usize,
    width: usize,
    factor: f64,
) -> Result<Vec<DerivativeScores>> {
    let truth = DerivativeTruth::of_image(hr, channels, height, width)?;
    score_against(model, &truth, hr, factor)
}

/// [`score_image`] against the truth of `hr`, computed once for all factors.
fn score_against(
    model: &FunkNN,
    truth: &DerivativeTruth,
    hr: &[f32],
    factor: f64,
) -> Result<Vec<DerivativeScores>> {
    let (channels, height, width) = (truth.channels, truth.height, truth.width);
    let lr_side = |n: usize| ((n as f64 / factor).round() as usize).max(2);
    let (lh, lw) = (lr_side(height), lr_side(width));
    let lr = resize_bilinear_aa(hr, channels, height, width, lh, lw);
    let lr = Tensor::from_vec(lr, (1, channels, lh, lw), &Device::Cpu)?;
    let ours = Evaluator::new(model, &lr, JetOrder::Laplacian, EvalOptions::default())?;
    let mut scores = vec![truth.score(&ours)?];
    for (_, kernel) in BASELINES {
        let baseline = KernelInterpolant::new(kernel, &lr, JetOrder::Laplacian)?;
        scores.push(truth.score(&baseline)?);
    }
    Ok(scores)
}

/// Mean gradient and Laplacian SNR (dB) of each method at each scale.
#[derive(Debug, Clone)]
pub struct DerivativeTable {
    /// `funknn` then the baselines.
    pub methods: Vec<String>,
    /// `(scale label, per method)`.
    pub rows: Vec<(String, Vec<DerivativeScores>)>,
    pub images: Vec<PathBuf>,
}

impl DerivativeTable {
    /// A Markdown table, one row per scale, and FunkNN's gains over the B-spline.
    pub fn to_markdown(&self) -> String {
        let mut s = String::from("| scale |");
        for m in &self.methods {
            s += &format!(" {m} ∇ SNR | {m} Δ SNR |");
        }
        s += "\n|---|";
        s += &"---:|".repeat(2 * self.methods.len());
        s += "\n";
        for (label, scores) in &self.rows {
            s += &format!("| {label} |");
            for v in scores {
                s += &format!(" {:.2} | {:.2} |", v.gradient_snr, v.laplacian_snr);
            }
            s += "\n";
        }
        let gains: Vec<String> = self
            .gains("bspline")
            .iter()
            .map(|(label, g, l)| format!("{label} ∇ {g:+.2} dB, Δ {l:+.2} dB"))
            .collect();
        if !gains.is_empty() {
            s += &format!(
                "\nFunkNN's SNR gain over the B-spline: {}.\n",
                gains.join("; ")
            );
        }
        s
    }

    /// FunkNN's gradient and Laplacian SNR minus `method`'s, per scale (empty if `method`
    /// is not in the table).
    pub fn gains(&self, method: &str) -> Vec<(String, f64, f64)> {
        let Some(theirs) = self.methods.iter().position(|m| m == method) else {
            return Vec::new();
        };
        self.rows
            .iter()
            .map(|(label, v)| {
                (
                    label.clone(),
                    v[0].gradient_snr - v[theirs].gradient_snr,
                    v[0].laplacian_snr - v[theirs].laplacian_snr,
                )
            })
            .collect()
    }
}

/// Runs the protocol on every picture in `dir` at each of `factors`; `progress` is told
/// each finished image.
pub fn evaluate_derivatives_folder(
    model: &FunkNN,
    dir: &Path,
    max_side: usize,
    factors: &[f64],
    mut progress: impl FnMut(&Path),
) -> Result<DerivativeTable> {
    let c = model.config().channels;
    let paths = picture_paths(dir)?;
    let mut methods = vec!["funknn".to_string()];
    methods.extend(BASELINES.iter().map(|(name, _)| name.to_string()));
    let zero = DerivativeScores {
        gradient_snr: 0.0,
        laplacian_snr: 0.0,
    };
    let mut sums = vec![vec![zero; methods.len()]; factors.len()];
    for path in &paths {
        let (hr, hh, hw) = high_resolution_crop(path, c, max_side)?;
        let truth = DerivativeTruth::of_image(&hr, c, hh, hw)?;
        for (fi, &factor) in factors.iter().enumerate() {
            for (acc, s) in sums[fi]
                .iter_mut()
                .zip(score_against(model, &truth, &hr, factor)?)
            {
                acc.gradient_snr += s.gradient_snr;
                acc.laplacian_snr += s.laplacian_snr;
            }
        }
        progress(path);
    }
    let n = paths.len() as f64;
    let rows = factors
        .iter()
        .zip(sums)
        .map(|(&f, v)| {
            let label = super::Scale {
                factor: f,
                recursive: false,
            }
            .label();
            let mean = v
                .into_iter()
                .map(|s| DerivativeScores {
                    gradient_snr: s.gradient_snr / n,
                    laplacian_snr: s.laplacian_snr / n,
                })
                .collect();
            (label, mean)
        })
        .collect();
    Ok(DerivativeTable {
        methods,
        rows,
        images: paths,
    })
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;
    use std::f64::consts::PI;

    use super::*;
    use crate::config::{Activation, Config};

    /// A band-limited image that the half-sample mirror extension leaves smooth: a sum of
    /// cos(πkx)·cos(πly) terms, with its exact gradient and Laplacian.
    struct Cosines {
        terms: Vec<(f64, f64, f64, f64)>, // (amplitude, k, l, phase-free offset per channel)
    }

    impl Cosines {
        fn new() -> Self {
            Cosines {
                terms: vec![
                    (0.30, 1.0, 2.0, 0.0),
                    (0.15, 3.0, 1.0, 0.1),
                    (0.10, 5.0, 4.0, -0.2),
                    (0.05, 2.0, 5.0, 0.3),
                ],
            }
        }

        /// `(u, ∂x u, ∂y u, Δu)` of channel `ch` at `(x, y)`.
        fn eval(&self, ch: usize, x: f64, y: f64) -> [f64; 4] {
            let mut out = [0.5, 0.0, 0.0, 0.0];
            for &(a, k, l, tilt) in &self.terms {
                let a = a * (1.0 + tilt * ch as f64);
                let (kx, ly) = (PI * k * x, PI * l * y);
                out[0] += a * kx.cos() * ly.cos();
                out[1] -= a * PI * k * kx.sin() * ly.cos();
                out[2] -= a * PI * l * kx.cos() * ly.sin();
                out[3] -= a * PI * PI * (k * k + l * l) * kx.cos() * ly.cos();
            }
            out
        }

        fn image(&self, c: usize, h: usize, w: usize) -> Vec<f32> {
            let mut v = Vec::with_capacity(c * h * w);
            for ch in 0..c {
                for i in 0..h {
                    for j in 0..w {
                        let (x, y) = ((j as f64 + 0.5) / w as f64, (i as f64 + 0.5) / h as f64);
                        v.push(self.eval(ch, x, y)[0] as f32);
                    }
                }
            }
            v
        }
    }

    fn relative(estimate: &[f64], reference: &[f64]) -> f64 {
        let num: f64 = estimate
            .iter()
            .zip(reference)
            .map(|(e, r)| (e - r) * (e - r))
            .sum();
        let den: f64 = reference.iter().map(|r| r * r).sum();
        (num / den).sqrt()
    }

    /// The ground-truth pipeline (prefilter and spline derivative taps) recovers a
    /// band-limited image's exact derivatives to 1e-3.
    #[test]
    fn truth_matches_closed_form_derivatives() {
        let (c, h, w) = (2, 160, 128);
        let f = Cosines::new();
        let truth = DerivativeTruth::of_image(&f.image(c, h, w), c, h, w).unwrap();
        let (mut gradient, mut laplacian) = (Vec::new(), Vec::new());
        for i in 0..h {
            for j in 0..w {
                for ch in 0..c {
                    let (x, y) = ((j as f64 + 0.5) / w as f64, (i as f64 + 0.5) / h as f64);
                    let e = f.eval(ch, x, y);
                    gradient.extend([e[1], e[2]]);
                    laplacian.push(e[3]);
                }
            }
        }
        let (eg, el) = (
            relative(&truth.gradient, &gradient),
            relative(&truth.laplacian, &laplacian),
        );
        assert!(eg < 1e-3 && el < 1e-3, "gradient {eg:e}, Laplacian {el:e}");
        // The image is stored in f32: the error is interpolation, not rounding, and it
        // shrinks as the grid refines (fourth order).
        assert!(eg > 1e-7, "{eg:e}");
    }

    /// A B-spline FunkNN whose network outputs zero is its skip, the B-spline interpolant:
    /// it scores exactly the B-spline baseline.
    #[test]
    fn zero_network_scores_the_bspline_baseline() {
        let config = Config {
            activation: Activation::Gelu,
            kernel: KernelKind::Bspline,
            channels: 2,
            ..Config::default()
        };
        let (model, _) = FunkNN::random(&config, 3, DType::F32, &Device::Cpu).unwrap();
        let last = model
            .parameters()
            .iter()
            .filter(|(n, _)| n.starts_with("MLP."))
            .map(|(n, _)| n.split('.').nth(1).unwrap().parse::<usize>().unwrap())
            .max()
            .unwrap();
        let tensors: HashMap<String, Tensor> = model
            .parameters()
            .iter()
            .map(|(n, t)| {
                let zeroed = n.starts_with(&format!("MLP.{last}."));
                let t = if zeroed {
                    t.zeros_like().unwrap()
                } else {
                    t.clone()
                };
                (n.clone(), t)
            })
            .collect();
        let zero = FunkNN::from_tensors(&config, tensors, DType::F32, &Device::Cpu, Path::new("t"))
            .unwrap();
        let (h, w) = (48, 40);
        let image = Cosines::new().image(2, h, w);
        for factor in [2.0, 3.0] {
            let scores = score_image(&zero, &image, 2, h, w, factor).unwrap();
            assert_eq!(scores[0], scores[1], "×{factor}: {scores:?}");
            assert!(scores[1].gradient_snr.is_finite() && scores[1].gradient_snr > 5.0);
            // The other kernels are other functions.
            assert_ne!(scores[1], scores[2]);
        }
    }
}
