//! The patch sampler without a graph, in plain loops: what [`crate::FunkNN::evaluate`] uses.
//!
//! It computes exactly what [`crate::PatchSampler::sample_prepared`] computes (tests hold
//! them equal), but the candle-op version spends its time in tiny batched matmuls and
//! per-element tensor ops; here one pass per point does the same work from L1 cache.

use candle_core::Tensor;

use crate::config::KernelKind;
use crate::jet::JetOrder;
use crate::real::Real;
use crate::sampler::reflect::reflect_index;
use crate::{Error, Result};

/// Images `(N, C, H, W)` copied to the host as `(N, H, W, C)` in f32 or f64, ready for
/// sampling. f32 halves the footprint, which matters: random points read from all over the
/// image, and a 256² RGB image then fits in this CPU's L2 cache.
#[derive(Debug, Clone)]
pub struct HostImages<T> {
    data: Vec<T>,
    n: usize,
    c: usize,
    h: usize,
    w: usize,
}

impl<T: Real> HostImages<T> {
    /// Copies prepared images (see [`crate::PatchSampler::prepare`]) to the host.
    pub fn new(prepared: &Tensor) -> Result<Self> {
        let (n, c, h, w) = prepared.dims4()?;
        let data = prepared
            .permute((0, 2, 3, 1))?
            .to_dtype(T::DTYPE)?
            .flatten_all()?
            .to_vec1()?;
        Ok(HostImages { data, n, c, h, w })
    }

    /// From prepared images given as a flat `(N, C, H, W)` slice.
    pub(crate) fn from_nchw(
        data: &[T],
        (n, c, h, w): (usize, usize, usize, usize),
    ) -> Result<Self> {
        if data.len() != n * c * h * w {
            return Err(Error::invalid(
                "images",
                format!("{} values for ({n}, {c}, {h}, {w})", data.len()),
            ));
        }
        let mut out = vec![T::ZERO; data.len()];
        for img in 0..n {
            for ch in 0..c {
                for p in 0..h * w {
                    out[(img * h * w + p) * c + ch] = data[(img * c + ch) * h * w + p];
                }
            }
        }
        Ok(HostImages {
            data: out,
            n,
            c,
            h,
            w,
        })
    }

    pub fn dims(&self) -> (usize, usize, usize, usize) {
        (self.n, self.c, self.h, self.w)
    }
}

/// Which (row order, column order) weight products make each jet part.
fn part_terms(order: JetOrder) -> Vec<Vec<(usize, usize)>> {
    let v = vec![(0, 0)];
    let x = vec![(0, 1)];
    let y = vec![(1, 0)];
    match order {
        JetOrder::Value => vec![v],
        JetOrder::Gradient => vec![v, x, y],
        JetOrder::Laplacian => vec![v, x, y, vec![(0, 2), (2, 0)]],
        JetOrder::Hessian => vec![v, x, y, vec![(0, 2)], vec![(1, 1)], vec![(2, 0)]],
    }
}

/// The parts Sobolev training samples: the Laplacian jet `u, ∂x, ∂y, Δ` that the network
/// sees, then what the receptive field's gradient needs, how those parts change as a sample
/// moves along x or y: `∂xx, ∂xy, ∂yy, ∂x Δ, ∂y Δ`.
pub(crate) const SOBOLEV_PARTS: [&[(usize, usize)]; 9] = [
    &[(0, 0)],
    &[(0, 1)],
    &[(1, 0)],
    &[(0, 2), (2, 0)],
    &[(0, 2)],
    &[(1, 1)],
    &[(2, 0)],
    &[(0, 3), (2, 1)],
    &[(1, 2), (3, 0)],
];

/// Taps of one axis for one point: first pixel (before reflection) and weights
/// `[sample][order][tap]`, derivative orders scaled by n^order. One per axis and per call of
/// a sampler, whose other arguments are fixed, so `coord` (the bits of the coordinate they
/// were computed for) says when they can be reused: along a row of a grid, y repeats.
struct AxisTaps<T> {
    first: Vec<i64>,
    weights: Vec<T>,
    coord: Option<u64>,
}

impl<T> Default for AxisTaps<T> {
    fn default() -> Self {
        AxisTaps {
            first: Vec::new(),
            weights: Vec::new(),
            coord: None,
        }
    }
}

#[allow(clippy::too_many_arguments)]
fn axis_taps<T: Real>(
    kernel: KernelKind,
    coord: f64,
    n: usize,
    ws: f64,
    deltas: &[f64],
    degree: usize,
    out: &mut AxisTaps<T>,
) {
    if out.coord == Some(coord.to_bits()) {
        return;
    }
    out.coord = Some(coord.to_bits());
    let (first, ntaps) = kernel.taps();
    let d = degree + 1;
    out.first.clear();
    out.weights.clear();
    let centre = coord * n as f64 - 0.5;
    for &delta in deltas {
        let pos = centre + ws * delta;
        let f = pos.floor() as i64 + first;
        out.first.push(f);
        let base = out.weights.len();
        out.weights.resize(base + d * ntaps, T::ZERO);
        for j in 0..ntaps {
            let k = kernel.eval_scalar3(pos - (f + j as i64) as f64);
            let mut scale = 1.0;
            for (o, ko) in k.iter().take(d).enumerate() {
                out.weights[base + o * ntaps + j] = T::from_f64(ko * scale);
                scale *= n as f64;
            }
        }
    }
}

/// The column contraction of one image row for a kernel of `N` taps: for each patch
/// column q, derivative order o and channel, Σ_j weight·pixel, summed from 0 in tap order
/// (the bits of a plain loop). A fixed `N` unrolls the taps and loads each pixel once for
/// all orders, so that the sums of different orders and channels overlap instead of
/// waiting on one another.
#[inline(always)]
fn contract_columns<T: Real, const N: usize>(
    row: &[T],
    col_index: &[usize],
    weights: &[T],
    (rows, r, c, ps, d): (usize, usize, usize, usize, usize),
    cols: &mut [T],
) {
    for q in 0..ps {
        let taps: &[usize; N] = col_index[q * N..][..N].try_into().expect("N taps");
        for ch in 0..c {
            let v: [T; N] = std::array::from_fn(|j| row[taps[j] + ch]);
            for o in 0..d {
                let wts: &[T; N] = weights[(q * d + o) * N..][..N]
                    .try_into()
                    .expect("N weights");
                let mut acc = T::ZERO;
                for j in 0..N {
                    acc += wts[j] * v[j];
                }
                cols[((o * rows + r) * c + ch) * ps + q] = acc;
            }
        }
    }
}

/// Patch jets `(K, P, C, w, w)` at `points` given as `(image index, x, y)`, flat, written
/// to `out` (resized; a caller that samples often keeps one buffer instead of fresh zeroed
/// pages each time).
#[allow(clippy::too_many_arguments)]
pub(crate) fn sample_host<T: Real>(
    kernel: KernelKind,
    patch_size: usize,
    deltas_x: &[f64],
    deltas_y: &[f64],
    images: &HostImages<T>,
    points: &[(usize, f64, f64)],
    ws: (f64, f64),
    order: JetOrder,
    out: &mut Vec<T>,
) -> Result<()> {
    let terms = part_terms(order);
    let terms: Vec<&[(usize, usize)]> = terms.iter().map(|t| &t[..]).collect();
    let geometry = (kernel, patch_size, (deltas_x, deltas_y));
    sample_host_parts(geometry, images, points, ws, &terms, order.degree(), out)
}

/// Patches whose part k is the sum of `∂y^dy ∂x^dx` over `(dy, dx)` in `terms[k]`,
/// derivatives up to `degree` (at most 3) per axis: [`sample_host`] for any set of parts.
pub(crate) fn sample_host_parts<T: Real>(
    (kernel, patch_size, (deltas_x, deltas_y)): (KernelKind, usize, (&[f64], &[f64])),
    images: &HostImages<T>,
    points: &[(usize, f64, f64)],
    ws: (f64, f64),
    terms: &[&[(usize, usize)]],
    degree: usize,
    out: &mut Vec<T>,
) -> Result<()> {
    let (_, c, h, w) = images.dims();
    let ps = patch_size;
    let (_, ntaps) = kernel.taps();
    let d = degree + 1;
    let k_parts = terms.len();
    let p = points.len();
    out.clear();
    out.resize(k_parts * p * c * ps * ps, T::ZERO);
    let (mut tx, mut ty) = (AxisTaps::<T>::default(), AxisTaps::<T>::default());
    // cols[(dx, r, ch, q)]: the column contraction of each window row, q innermost so that
    // the row contraction below runs along contiguous rows of the patch.
    let mut cols: Vec<T> = Vec::new();
    let mut col_index: Vec<usize> = Vec::new();
    for (pi, &(img, x, y)) in points.iter().enumerate() {
        if img >= images.n {
            return Err(Error::invalid(
                "points",
                format!("image index {img} out of range"),
            ));
        }
        axis_taps(kernel, x, w, ws.0, deltas_x, degree, &mut tx);
        axis_taps(kernel, y, h, ws.1, deltas_y, degree, &mut ty);
        let r_lo = *ty.first.iter().min().unwrap_or(&0);
        let r_hi = *ty.first.iter().max().unwrap_or(&0) + ntaps as i64;
        let rows = (r_hi - r_lo) as usize;
        col_index.clear();
        for q in 0..ps {
            for j in 0..ntaps {
                col_index.push(reflect_index(tx.first[q] + j as i64, w) * c);
            }
        }
        // Every entry is written below.
        cols.resize(d * rows * c * ps, T::ZERO);
        let img_base = img * h * w * c;
        for r in 0..rows {
            let row = &images.data[img_base + reflect_index(r_lo + r as i64, h) * w * c..][..w * c];
            let geometry = (rows, r, c, ps, d);
            match ntaps {
                4 => contract_columns::<T, 4>(row, &col_index, &tx.weights, geometry, &mut cols),
                2 => contract_columns::<T, 2>(row, &col_index, &tx.weights, geometry, &mut cols),
                _ => unreachable!("every kernel has 2 or 4 taps (KernelKind::taps)"),
            }
        }
        for (k, part_terms) in terms.iter().enumerate() {
            let out_point = &mut out[(k * p + pi) * c * ps * ps..][..c * ps * ps];
            for &(dy, dx) in part_terms.iter() {
                for i in 0..ps {
                    let wts = &ty.weights[(i * d + dy) * ntaps..][..ntaps];
                    let r0 = (ty.first[i] - r_lo) as usize;
                    for ch in 0..c {
                        let dst = &mut out_point[(ch * ps + i) * ps..][..ps];
                        for (j, &wt) in wts.iter().enumerate() {
                            let src = &cols[((dx * rows + r0 + j) * c + ch) * ps..][..ps];
                            for (o, &v) in dst.iter_mut().zip(src) {
                                *o += wt * v;
                            }
                        }
                    }
                }
            }
        }
    }
    Ok(())
}

/// The adjoint of [`sample_host`] with respect to the images: adds to `grad` (`(N, H, W, C)`
/// flat, the layout of [`HostImages`]) what patch-jet gradients `patch_grad`
/// `(K, P, C, w, w)` at `points` contribute to each pixel. Exactly the transpose of the
/// sampler (a test holds ⟨S x, y⟩ = ⟨x, Sᵀ y⟩).
#[allow(clippy::too_many_arguments)]
pub(crate) fn sample_host_adjoint<T: Real>(
    kernel: KernelKind,
    patch_size: usize,
    (deltas_x, deltas_y): (&[f64], &[f64]),
    (n, c, h, w): (usize, usize, usize, usize),
    points: &[(usize, f64, f64)],
    ws: (f64, f64),
    order: JetOrder,
    patch_grad: &[T],
    grad: &mut [T],
) -> Result<()> {
    let terms = part_terms(order);
    let degree = order.degree();
    let ps = patch_size;
    let (_, ntaps) = kernel.taps();
    let d = degree + 1;
    let p = points.len();
    if patch_grad.len() != terms.len() * p * c * ps * ps || grad.len() != n * h * w * c {
        return Err(Error::invalid(
            "sampler adjoint",
            "buffer sizes do not match the points and images",
        ));
    }
    let (mut tx, mut ty) = (AxisTaps::<T>::default(), AxisTaps::<T>::default());
    // cols[(dx, r, ch, q)]: the adjoint of the row contraction, then scattered along rows.
    let mut cols: Vec<T> = Vec::new();
    let mut col_index: Vec<usize> = Vec::new();
    for (pi, &(img, x, y)) in points.iter().enumerate() {
        if img >= n {
            return Err(Error::invalid(
                "points",
                format!("image index {img} out of range"),
            ));
        }
        axis_taps(kernel, x, w, ws.0, deltas_x, degree, &mut tx);
        axis_taps(kernel, y, h, ws.1, deltas_y, degree, &mut ty);
        let r_lo = *ty.first.iter().min().unwrap_or(&0);
        let r_hi = *ty.first.iter().max().unwrap_or(&0) + ntaps as i64;
        let rows = (r_hi - r_lo) as usize;
        cols.clear();
        cols.resize(d * rows * c * ps, T::ZERO);
        for (k, part_terms) in terms.iter().enumerate() {
            let g_point = &patch_grad[(k * p + pi) * c * ps * ps..][..c * ps * ps];
            for &(dy, dx) in part_terms.iter() {
                for i in 0..ps {
                    let wts = &ty.weights[(i * d + dy) * ntaps..][..ntaps];
                    let r0 = (ty.first[i] - r_lo) as usize;
                    for ch in 0..c {
                        let src = &g_point[(ch * ps + i) * ps..][..ps];
                        for (j, &wt) in wts.iter().enumerate() {
                            let dst = &mut cols[((dx * rows + r0 + j) * c + ch) * ps..][..ps];
                            for (o, &v) in dst.iter_mut().zip(src) {
                                *o += wt * v;
                            }
                        }
                    }
                }
            }
        }
        col_index.clear();
        for q in 0..ps {
            for tap in 0..ntaps {
                col_index.push(reflect_index(tx.first[q] + tap as i64, w) * c);
            }
        }
        let img_base = img * h * w * c;
        for r in 0..rows {
            let row_base = img_base + reflect_index(r_lo + r as i64, h) * w * c;
            for q in 0..ps {
                for tap in 0..ntaps {
                    let col = row_base + col_index[q * ntaps + tap];
                    for ch in 0..c {
                        let mut acc = T::ZERO;
                        for o in 0..d {
                            acc += tx.weights[(q * d + o) * ntaps + tap]
                                * cols[((o * rows + r) * c + ch) * ps + q];
                        }
                        grad[col + ch] += acc;
                    }
                }
            }
        }
    }
    Ok(())
}
