//! Filtered back-projection: ramp-filter every projection (zero-padded FFT, with a window),
//! then back-project by linear interpolation at each pixel centre.

use std::any::Any;
use std::sync::Arc;

use rustfft::num_complex::Complex;
use rustfft::{Fft, FftPlanner};

use crate::error::check_len;
use crate::geometry::{ImageGrid, ParallelGeometry};
use crate::parallel::{for_chunks, resolve_threads};
use crate::{Error, Result, Scalar};

/// The window multiplying the ramp `|ν|` (`f` in cycles per detector bin, `|f| ≤ ½`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Filter {
    /// The bare ramp.
    #[default]
    RamLak,
    /// `sinc(f) = sin(πf)/(πf)`.
    SheppLogan,
    /// `cos(πf)`.
    Cosine,
    /// `cos²(πf)`.
    Hann,
}

impl std::str::FromStr for Filter {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        match s.to_ascii_lowercase().replace(['_', ' '], "-").as_str() {
            "ram-lak" | "ramlak" | "ramp" => Ok(Filter::RamLak),
            "shepp-logan" => Ok(Filter::SheppLogan),
            "cosine" => Ok(Filter::Cosine),
            "hann" | "hanning" => Ok(Filter::Hann),
            _ => Err(Error::invalid(
                "filter",
                format!("unknown filter {s:?}: use ram-lak, shepp-logan, cosine or hann"),
            )),
        }
    }
}

impl Filter {
    fn window(self, f: f64) -> f64 {
        use std::f64::consts::PI;
        match self {
            Filter::RamLak => 1.0,
            Filter::SheppLogan => {
                if f == 0.0 {
                    1.0
                } else {
                    (PI * f).sin() / (PI * f)
                }
            }
            Filter::Cosine => (PI * f).cos(),
            Filter::Hann => (PI * f).cos().powi(2),
        }
    }
}

/// FBP settings.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct FbpConfig {
    /// The window on the ramp.
    pub filter: Filter,
    /// Cut-off as a fraction of the detector's Nyquist frequency, in (0, 1]; the window is
    /// stretched to it (ODL's `frequency_scaling`).
    pub frequency_scaling: f64,
    /// Worker threads (0: one per core).
    pub threads: usize,
}

impl Default for FbpConfig {
    fn default() -> Self {
        FbpConfig {
            filter: Filter::RamLak,
            frequency_scaling: 1.0,
            threads: 0,
        }
    }
}

/// Filtered back-projection for one grid and geometry, with its filter and FFT plans made
/// once. The detector must be uniform; angles may be any set (each is weighted by its share of
/// the angular range), and a limited range gives the usual limited-view artefacts.
///
/// The filter is the band-limited ramp sampled in space (`¼` at 0, `−1/(πn)²` at odd `n`),
/// zero-padded to a power of two ≥ 2D, so there is no DC offset.
pub struct Fbp {
    grid: ImageGrid,
    n_det: usize,
    first_offset: f64,
    spacing: f64,
    cos_sin: Vec<(f64, f64)>,
    weights: Vec<f64>,
    spectrum: Vec<f64>,
    fft32: (Arc<dyn Fft<f32>>, Arc<dyn Fft<f32>>),
    fft64: (Arc<dyn Fft<f64>>, Arc<dyn Fft<f64>>),
    threads: usize,
}

impl Fbp {
    /// Plans FBP onto `grid` for sinograms on `geometry`.
    pub fn new(grid: ImageGrid, geometry: &ParallelGeometry, config: FbpConfig) -> Result<Self> {
        let grid = ImageGrid::new(grid.height, grid.width)?;
        let spacing = geometry.uniform_spacing().ok_or_else(|| {
            Error::invalid(
                "detector",
                "FBP needs at least 2 uniformly spaced detector bins",
            )
        })?;
        let fs = config.frequency_scaling;
        if !(fs > 0.0 && fs <= 1.0) {
            return Err(Error::invalid(
                "frequency scaling",
                format!("{fs} is not in (0, 1]"),
            ));
        }
        let d = geometry.n_detectors();
        let len = (2 * d).next_power_of_two().max(64);
        // The spatial ramp kernel, circularly wrapped.
        let mut kernel = vec![Complex::new(0.0f64, 0.0); len];
        kernel[0].re = 0.25;
        for n in (1..len / 2).step_by(2) {
            let v = -1.0 / (std::f64::consts::PI * n as f64).powi(2);
            kernel[n].re = v;
            kernel[len - n].re = v;
        }
        FftPlanner::<f64>::new()
            .plan_fft_forward(len)
            .process(&mut kernel);
        // 1/spacing turns the kernel's 1/τ² and the sum's τ into the ramp's units; 1/len
        // normalises the inverse FFT.
        let spectrum = kernel
            .iter()
            .enumerate()
            .map(|(k, c)| {
                let f = k.min(len - k) as f64 / len as f64;
                let window = if f > 0.5 * fs {
                    0.0
                } else {
                    config.filter.window(f / fs)
                };
                c.re * window / (spacing * len as f64)
            })
            .collect();
        let mut weights = geometry.angle_weights();
        let total: f64 = weights.iter().sum();
        // Angles covering more than π see lines twice.
        if total > std::f64::consts::PI * 1.001 {
            let k = std::f64::consts::PI / total;
            weights.iter_mut().for_each(|w| *w *= k);
        }
        let mut p32 = FftPlanner::<f32>::new();
        let mut p64 = FftPlanner::<f64>::new();
        Ok(Fbp {
            grid,
            n_det: d,
            first_offset: geometry.offsets()[0],
            spacing,
            cos_sin: geometry
                .angles()
                .iter()
                .map(|a| (a.cos(), a.sin()))
                .collect(),
            weights,
            spectrum,
            fft32: (p32.plan_fft_forward(len), p32.plan_fft_inverse(len)),
            fft64: (p64.plan_fft_forward(len), p64.plan_fft_inverse(len)),
            threads: config.threads,
        })
    }

    /// The output grid.
    pub fn grid(&self) -> &ImageGrid {
        &self.grid
    }

    fn plans<T: Scalar>(&self) -> &(Arc<dyn Fft<T>>, Arc<dyn Fft<T>>) {
        let a: &dyn Any = &self.fft32;
        let b: &dyn Any = &self.fft64;
        a.downcast_ref()
            .or_else(|| b.downcast_ref())
            .expect("Scalar is sealed to f32 and f64")
    }

    /// Filters every projection of `sinogram` `(A, D)`: the result is `(A, D + 3)`, each row
    /// with one zero before and two after (the back-projector's padding).
    pub fn filter<T: Scalar>(&self, sinogram: &[T]) -> Result<Vec<T>> {
        let (a, d) = (self.cos_sin.len(), self.n_det);
        check_len("sinogram", sinogram.len(), a * d)?;
        crate::scalar::check_finite("sinogram", sinogram)?;
        let (fwd, inv) = self.plans::<T>();
        let len = self.spectrum.len();
        let spectrum: Vec<T> = self.spectrum.iter().map(|&v| T::of(v)).collect();
        let mut out = vec![T::zero(); a * (d + 3)];
        let threads = resolve_threads(self.threads);
        // Two rows per complex FFT: the filter is real and even, so the real and imaginary
        // parts stay apart.
        for_chunks(&mut out, 2 * (d + 3), threads, |first_pair, chunk| {
            let mut buf = vec![Complex::new(T::zero(), T::zero()); len];
            let mut scratch = vec![
                Complex::new(T::zero(), T::zero());
                fwd.get_inplace_scratch_len()
                    .max(inv.get_inplace_scratch_len())
            ];
            for (k, rows) in chunk.chunks_mut(2 * (d + 3)).enumerate() {
                let r0 = 2 * (first_pair + k);
                let two = rows.len() == 2 * (d + 3);
                buf.iter_mut()
                    .for_each(|c| *c = Complex::new(T::zero(), T::zero()));
                for s in 0..d {
                    buf[s].re = sinogram[r0 * d + s];
                    if two {
                        buf[s].im = sinogram[(r0 + 1) * d + s];
                    }
                }
                fwd.process_with_scratch(&mut buf, &mut scratch);
                buf.iter_mut()
                    .zip(&spectrum)
                    .for_each(|(c, &h)| *c = *c * h);
                inv.process_with_scratch(&mut buf, &mut scratch);
                for s in 0..d {
                    rows[1 + s] = buf[s].re;
                    if two {
                        rows[d + 3 + 1 + s] = buf[s].im;
                    }
                }
            }
        });
        Ok(out)
    }

    /// The FBP image `[H, W]` of `sinogram` `(A, D)`, row-major.
    ///
    /// ```
    /// use funknn_inverse::{Fbp, FbpConfig, ImageGrid, ParallelGeometry, Phantom, Rendering};
    /// let geometry = ParallelGeometry::full_view(90, 48)?;
    /// let sinogram: Vec<f64> = Phantom::shepp_logan().sinogram(&geometry);
    /// let fbp = Fbp::new(ImageGrid::square(48)?, &geometry, FbpConfig::default())?;
    /// let image = fbp.reconstruct(&sinogram)?;
    /// assert_eq!(image.len(), 48 * 48);
    /// # Ok::<(), funknn_inverse::Error>(())
    /// ```
    pub fn reconstruct<T: Scalar>(&self, sinogram: &[T]) -> Result<Vec<T>> {
        let q = self.filter(sinogram)?;
        Ok(self.back_project(&q))
    }

    /// Pixel-driven back-projection of filtered, padded projections `(A, D + 3)`.
    fn back_project<T: Scalar>(&self, q: &[T]) -> Vec<T> {
        let (h, w) = (self.grid.height, self.grid.width);
        let d = self.n_det;
        let mut image = vec![T::zero(); h * w];
        let threads = resolve_threads(self.threads);
        let inv = 1.0 / self.spacing;
        // Rows in blocks that stay in L1 while every angle passes over them.
        const BLOCK: usize = 8;
        for_chunks(&mut image, w, threads, |first_row, rows| {
            for (b, block) in rows.chunks_mut(BLOCK * w).enumerate() {
                let i0 = first_row + b * BLOCK;
                for (a, &(cos, sin)) in self.cos_sin.iter().enumerate() {
                    let qa = &q[a * (d + 3)..(a + 1) * (d + 3)];
                    let wa = T::of(self.weights[a]);
                    // Bin coordinate (plus one for the padding) of pixel (i, j):
                    // ((x_j − ½) cos θ + (y_i − ½) sin θ − s₀)/Δs + 1.
                    let step = T::of(cos * inv / w as f64);
                    for (r, row) in block.chunks_mut(w).enumerate() {
                        let y = (i0 + r) as f64 + 0.5;
                        let base = ((0.5 / w as f64 - 0.5) * cos + (y / h as f64 - 0.5) * sin
                            - self.first_offset)
                            * inv
                            + 1.0;
                        back_project_row(row, qa, T::of(base), step, wa);
                    }
                }
            }
        });
        image
    }
}

/// Adds `weight · q(u_j)` to each pixel of a row, `u_j = base + j·step` in padded bins,
/// linearly interpolated; compiled for AVX2 where the CPU has it.
fn back_project_row<T: Scalar>(row: &mut [T], q: &[T], base: T, step: T, weight: T) {
    #[cfg(target_arch = "x86_64")]
    if std::arch::is_x86_feature_detected!("avx2") {
        // SAFETY: the CPU has AVX2.
        return unsafe { back_project_row_avx2(row, q, base, step, weight) };
    }
    back_project_row_any(row, q, base, step, weight)
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
unsafe fn back_project_row_avx2<T: Scalar>(row: &mut [T], q: &[T], base: T, step: T, weight: T) {
    back_project_row_any(row, q, base, step, weight)
}

#[inline(always)]
fn back_project_row_any<T: Scalar>(row: &mut [T], q: &[T], base: T, step: T, weight: T) {
    // Positions outside the detector clamp onto the zero padding at either end (q has one
    // zero before the D bins and two after), so there is no branch and they add exactly 0.
    let last = T::from_index(q.len() - 2);
    let mut jf = T::zero();
    for out in row.iter_mut() {
        let u = base + jf * step;
        jf += T::one();
        let u = if u > T::zero() { u } else { T::zero() };
        let u = if u < last { u } else { last };
        // SAFETY: 0 ≤ u ≤ D + 1 just above, and u is finite (finite geometry).
        let k = unsafe { u.trunc_index() };
        let t = u - T::from_index(k);
        debug_assert!(k + 1 < q.len());
        // SAFETY: k ≤ D + 1, so k + 1 ≤ D + 2 < q.len() = D + 3.
        let (q0, q1) = unsafe { (*q.get_unchecked(k), *q.get_unchecked(k + 1)) };
        *out += weight * (q0 + t * (q1 - q0));
    }
}
