//! The forward and adjoint kernels of Joseph's method on padded copies of the image, and of
//! the exact (Siddon) projector, which is the same loop with another weight.
//!
//! An angle stepping along columns reads the image as rows × columns; one stepping along
//! rows reads its transpose, so both walk memory contiguously with the same kernel. Each copy
//! has zero lines before and after, so the interpolation taps never need a bounds test: the
//! tables clip every ray to the steps whose position `u` lies in `[0, M + 2·TAPS/2 − 1)`,
//! where the first tap's line is `trunc(u)` and the last `trunc(u) + TAPS − 1`, a padded line.

use super::{AngleTable, Interpolation, Tables, SHARPENING};
use crate::geometry::ImageGrid;
use crate::parallel::for_chunks;
use crate::Scalar;

/// `(pad + M + pad) × major` zeros with the image (or its transpose) in the middle lines.
fn padded<T: Scalar>(x: &[T], grid: &ImageGrid, transpose: bool, pad: usize) -> Vec<T> {
    let (h, w) = (grid.height, grid.width);
    if !transpose {
        let mut p = vec![T::zero(); (h + 2 * pad) * w];
        p[pad * w..(h + pad) * w].copy_from_slice(x);
        p
    } else {
        let mut p = vec![T::zero(); (w + 2 * pad) * h];
        // Blocks of rows keep both the reads and the writes in cache.
        const B: usize = 32;
        for i0 in (0..h).step_by(B) {
            for j in 0..w {
                let line = &mut p[(j + pad) * h..(j + pad + 1) * h];
                for i in i0..(i0 + B).min(h) {
                    line[i] = x[i * w + j];
                }
            }
        }
        p
    }
}

/// The interpolation weights at fraction `t` of the taps at `k, k+1, …`; `edge` and
/// `inv_width` are the angle table's [`AngleTable::edge`] and [`AngleTable::inv_width`].
trait Kernel<T: Scalar> {
    const TAPS: usize;
    /// The exact projector's clamped weight (two taps), rather than Joseph's linear one.
    const EXACT: bool = false;
    fn weights(t: T, edge: T, inv_width: T) -> [T; 4];
}

struct Linear;
struct Cubic;
struct Exact;

impl<T: Scalar> Kernel<T> for Linear {
    const TAPS: usize = 2;
    #[inline(always)]
    fn weights(t: T, _: T, _: T) -> [T; 4] {
        [T::one() - t, t, T::zero(), T::zero()]
    }
}

impl<T: Scalar> Kernel<T> for Exact {
    const TAPS: usize = 2;
    const EXACT: bool = true;
    /// The ray's segment through this major line spans `[k + t, k + t + δ)` across (pixel
    /// edges at integers, 0 ≤ t < 1, δ ≤ 1): the fraction of it in pixel `k + 1` is
    /// `max(t − (1 − δ), 0)/δ` (below 1 as t < 1), the rest is in pixel `k`. Times the
    /// segment's length (applied per ray), these are the exact intersection lengths.
    #[inline(always)]
    fn weights(t: T, edge: T, inv_width: T) -> [T; 4] {
        let w1 = (t - edge).max(T::zero()) * inv_width;
        [T::one() - w1, w1, T::zero(), T::zero()]
    }
}

impl<T: Scalar> Kernel<T> for Cubic {
    const TAPS: usize = 4;
    /// Keys' cubic convolution, a = −½ (Catmull–Rom): it reproduces quadratics.
    #[inline(always)]
    fn weights(t: T, _: T, _: T) -> [T; 4] {
        let h = T::of(0.5);
        let (t2, t3) = (t * t, t * t * t);
        let w0 = h * (t2 + t2 - t3 - t);
        let w3 = h * (t3 - t2);
        let w1 = T::of(1.5) * t3 - T::of(2.5) * t2 + T::one();
        let w2 = T::one() - w0 - w1 - w3;
        [w0, w1, w2, w3]
    }
}

/// The line integral of ray `d` of angle table `t` through padded lines `p`.
///
/// Eight partial sums break the dependency chain; the indexing is unchecked because the
/// tables guarantee, for every step `j` in the ray's range, `j < stride` and that the last
/// tap's line `trunc(shift[j] + slope[d]) + TAPS − 1` is a padded line.
#[inline(always)]
fn ray_forward<T: Scalar, K: Kernel<T>>(t: &AngleTable<T>, d: usize, p: &[T], stride: usize) -> T {
    let (lo, hi) = (t.ranges[d].0 as usize, t.ranges[d].1 as usize);
    let b = t.slope[d];
    let shift = &t.shift[lo..hi];
    debug_assert!(hi <= stride);
    let tap = |j: usize, a: T| -> T {
        let u = a + b;
        // SAFETY: the tables keep u in [0, top) with top ≤ M + 3 (finite geometry).
        let k = unsafe { u.trunc_index() };
        let w = K::weights(u - T::from_index(k), t.edge, t.inv_width);
        let i0 = k * stride + lo + j;
        debug_assert!(i0 + (K::TAPS - 1) * stride < p.len());
        let mut v = T::zero();
        for (m, &wm) in w.iter().enumerate().take(K::TAPS) {
            // SAFETY: see above.
            v += wm * unsafe { *p.get_unchecked(i0 + m * stride) };
        }
        v
    };
    let mut acc = [T::zero(); 8];
    let mut chunks = shift.chunks_exact(8);
    let mut j = 0;
    for c in &mut chunks {
        for l in 0..8 {
            acc[l] += tap(j + l, c[l]);
        }
        j += 8;
    }
    let mut tail = T::zero();
    for (l, &a) in chunks.remainder().iter().enumerate() {
        tail += tap(j + l, a);
    }
    let total = ((acc[0] + acc[1]) + (acc[2] + acc[3])) + ((acc[4] + acc[5]) + (acc[6] + acc[7]));
    (total + tail) * t.length
}

/// Adds `value` times ray `d`'s weights into padded lines `q`: the transpose of
/// [`ray_forward`], with the same weights and invariants.
#[inline(always)]
fn ray_adjoint<T: Scalar, K: Kernel<T>>(
    t: &AngleTable<T>,
    d: usize,
    value: T,
    q: &mut [T],
    stride: usize,
) {
    let (lo, hi) = (t.ranges[d].0 as usize, t.ranges[d].1 as usize);
    let b = t.slope[d];
    let v = value * t.length;
    debug_assert!(hi <= stride);
    for (j, &a) in t.shift[lo..hi].iter().enumerate() {
        let u = a + b;
        // SAFETY: the tables keep u in [0, top) with top ≤ M + 3 (finite geometry).
        let k = unsafe { u.trunc_index() };
        let w = K::weights(u - T::from_index(k), t.edge, t.inv_width);
        let i0 = k * stride + lo + j;
        debug_assert!(i0 + (K::TAPS - 1) * stride < q.len());
        for (m, &wm) in w.iter().enumerate().take(K::TAPS) {
            // SAFETY: as in `ray_forward`.
            unsafe { *q.get_unchecked_mut(i0 + m * stride) += wm * v };
        }
    }
}

#[inline(always)]
fn angle_forward_any<T: Scalar, K: Kernel<T>>(
    t: &AngleTable<T>,
    p: &[T],
    stride: usize,
    row: &mut [T],
) {
    for (d, out) in row.iter_mut().enumerate() {
        *out = ray_forward::<T, K>(t, d, p, stride);
    }
}

#[inline(always)]
fn angle_adjoint_any<T: Scalar, K: Kernel<T>>(
    t: &AngleTable<T>,
    y: &[T],
    q: &mut [T],
    stride: usize,
) {
    for (d, &v) in y.iter().enumerate() {
        ray_adjoint::<T, K>(t, d, v, q, stride);
    }
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
unsafe fn angle_forward_avx2<T: Scalar, K: Kernel<T>>(
    t: &AngleTable<T>,
    p: &[T],
    stride: usize,
    row: &mut [T],
) {
    angle_forward_any::<T, K>(t, p, stride, row)
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
unsafe fn angle_adjoint_avx2<T: Scalar, K: Kernel<T>>(
    t: &AngleTable<T>,
    y: &[T],
    q: &mut [T],
    stride: usize,
) {
    angle_adjoint_any::<T, K>(t, y, q, stride)
}

/// Joseph's forward of one angle in f32 with explicit AVX2 gathers, eight steps at a time,
/// or with `EXACT` the exact projector's (the clamped weight of [`Exact`]).
/// The positions and weights are computed exactly as in [`ray_forward`] (the same sum, the
/// same truncation, the same rounding of the weight), so the matrix is the same; only the
/// order of the additions differs.
///
/// # Safety
/// The CPU must have AVX2 and FMA, and the table invariants of [`ray_forward`] must hold
/// (they do for tables built by `Tables::build`), with `p.len() < 2³¹` (grids are at most
/// 2¹⁵ per side, so padded buffers hold under 2³¹ values).
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
unsafe fn angle_forward_linear_f32_avx2<const EXACT: bool>(
    t: &AngleTable<f32>,
    p: &[f32],
    stride: usize,
    row: &mut [f32],
) {
    use std::arch::x86_64::*;
    let sv = _mm256_set1_epi32(stride as i32);
    let lanes = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
    let (edge, inv) = (_mm256_set1_ps(t.edge), _mm256_set1_ps(t.inv_width));
    for (d, out) in row.iter_mut().enumerate() {
        let (lo, hi) = (t.ranges[d].0 as usize, t.ranges[d].1 as usize);
        let b = t.slope[d];
        let bv = _mm256_set1_ps(b);
        let mut acc = _mm256_setzero_ps();
        let mut j = lo;
        while j + 8 <= hi {
            // SAFETY: j + 8 ≤ hi ≤ shift.len(); gathered indices are in p by the invariants.
            let a = _mm256_loadu_ps(t.shift.as_ptr().add(j));
            let u = _mm256_add_ps(a, bv);
            let k = _mm256_cvttps_epi32(u);
            let mut w = _mm256_sub_ps(u, _mm256_cvtepi32_ps(k));
            if EXACT {
                // max(w − (1 − δ), 0)/δ, rounded as `Exact::weights` rounds it.
                let e = _mm256_max_ps(_mm256_sub_ps(w, edge), _mm256_setzero_ps());
                w = _mm256_mul_ps(e, inv);
            }
            let cols = _mm256_add_epi32(_mm256_set1_epi32(j as i32), lanes);
            let i0 = _mm256_add_epi32(_mm256_mullo_epi32(k, sv), cols);
            let p0 = _mm256_i32gather_ps::<4>(p.as_ptr(), i0);
            let p1 = _mm256_i32gather_ps::<4>(p.as_ptr(), _mm256_add_epi32(i0, sv));
            acc = _mm256_add_ps(acc, _mm256_fmadd_ps(w, _mm256_sub_ps(p1, p0), p0));
            j += 8;
        }
        let mut lanes_out = [0f32; 8];
        _mm256_storeu_ps(lanes_out.as_mut_ptr(), acc);
        let mut total = ((lanes_out[0] + lanes_out[1]) + (lanes_out[2] + lanes_out[3]))
            + ((lanes_out[4] + lanes_out[5]) + (lanes_out[6] + lanes_out[7]));
        while j < hi {
            let u = t.shift[j] + b;
            let k = u.to_int_unchecked::<i32>() as usize;
            let w = if EXACT {
                <Exact as Kernel<f32>>::weights(u - k as f32, t.edge, t.inv_width)[1]
            } else {
                u - k as f32
            };
            let i0 = k * stride + j;
            let (p0, p1) = (*p.get_unchecked(i0), *p.get_unchecked(i0 + stride));
            total += p0 + w * (p1 - p0);
            j += 1;
        }
        *out = total * t.length;
    }
}

/// Keys' weights for eight fractions at once, with the very operations (and order) of
/// `Cubic::weights`, so that they round identically.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
unsafe fn cubic_weights_avx2(t: std::arch::x86_64::__m256) -> [std::arch::x86_64::__m256; 4] {
    use std::arch::x86_64::*;
    let h = _mm256_set1_ps(0.5);
    let one = _mm256_set1_ps(1.0);
    let t2 = _mm256_mul_ps(t, t);
    let t3 = _mm256_mul_ps(t2, t);
    let w0 = _mm256_mul_ps(
        h,
        _mm256_sub_ps(_mm256_sub_ps(_mm256_add_ps(t2, t2), t3), t),
    );
    let w3 = _mm256_mul_ps(h, _mm256_sub_ps(t3, t2));
    let w1 = _mm256_add_ps(
        _mm256_sub_ps(
            _mm256_mul_ps(_mm256_set1_ps(1.5), t3),
            _mm256_mul_ps(_mm256_set1_ps(2.5), t2),
        ),
        one,
    );
    let w2 = _mm256_sub_ps(_mm256_sub_ps(_mm256_sub_ps(one, w0), w1), w3);
    [w0, w1, w2, w3]
}

/// The Keys-cubic forward of one angle in f32 with AVX2 gathers (as
/// [`angle_forward_linear_f32_avx2`], four taps).
///
/// # Safety
/// As [`angle_forward_linear_f32_avx2`].
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
unsafe fn angle_forward_cubic_f32_avx2(
    t: &AngleTable<f32>,
    p: &[f32],
    stride: usize,
    row: &mut [f32],
) {
    use std::arch::x86_64::*;
    let sv = _mm256_set1_epi32(stride as i32);
    let lanes = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
    for (d, out) in row.iter_mut().enumerate() {
        let (lo, hi) = (t.ranges[d].0 as usize, t.ranges[d].1 as usize);
        let b = t.slope[d];
        let bv = _mm256_set1_ps(b);
        let mut acc = _mm256_setzero_ps();
        let mut j = lo;
        while j + 8 <= hi {
            let a = _mm256_loadu_ps(t.shift.as_ptr().add(j));
            let u = _mm256_add_ps(a, bv);
            let k = _mm256_cvttps_epi32(u);
            let w = cubic_weights_avx2(_mm256_sub_ps(u, _mm256_cvtepi32_ps(k)));
            let cols = _mm256_add_epi32(_mm256_set1_epi32(j as i32), lanes);
            let mut i = _mm256_add_epi32(_mm256_mullo_epi32(k, sv), cols);
            for wm in w {
                let pm = _mm256_i32gather_ps::<4>(p.as_ptr(), i);
                acc = _mm256_fmadd_ps(wm, pm, acc);
                i = _mm256_add_epi32(i, sv);
            }
            j += 8;
        }
        let mut l8 = [0f32; 8];
        _mm256_storeu_ps(l8.as_mut_ptr(), acc);
        let mut total = ((l8[0] + l8[1]) + (l8[2] + l8[3])) + ((l8[4] + l8[5]) + (l8[6] + l8[7]));
        while j < hi {
            let u = t.shift[j] + b;
            let k = u.to_int_unchecked::<i32>() as usize;
            let w = <Cubic as Kernel<f32>>::weights(u - k as f32, 0.0, 0.0);
            let i0 = k * stride + j;
            for (m, &wm) in w.iter().enumerate() {
                total += wm * *p.get_unchecked(i0 + m * stride);
            }
            j += 1;
        }
        *out = total * t.length;
    }
}

/// The Keys-cubic adjoint of one angle in f32: weights and indices in AVX2 registers, then
/// the scattered adds (as [`angle_adjoint_linear_f32_avx2`], four taps).
///
/// # Safety
/// As [`angle_forward_linear_f32_avx2`], for `q`.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
unsafe fn angle_adjoint_cubic_f32_avx2(
    t: &AngleTable<f32>,
    y: &[f32],
    q: &mut [f32],
    stride: usize,
) {
    use std::arch::x86_64::*;
    let sv = _mm256_set1_epi32(stride as i32);
    let lanes = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
    let mut idx = [0i32; 8];
    let mut wv = [[0f32; 8]; 4];
    for (d, &value) in y.iter().enumerate() {
        let (lo, hi) = (t.ranges[d].0 as usize, t.ranges[d].1 as usize);
        let b = t.slope[d];
        let v = value * t.length;
        let bv = _mm256_set1_ps(b);
        let vv = _mm256_set1_ps(v);
        let mut j = lo;
        while j + 8 <= hi {
            let a = _mm256_loadu_ps(t.shift.as_ptr().add(j));
            let u = _mm256_add_ps(a, bv);
            let k = _mm256_cvttps_epi32(u);
            let w = cubic_weights_avx2(_mm256_sub_ps(u, _mm256_cvtepi32_ps(k)));
            let cols = _mm256_add_epi32(_mm256_set1_epi32(j as i32), lanes);
            let i0 = _mm256_add_epi32(_mm256_mullo_epi32(k, sv), cols);
            _mm256_storeu_si256(idx.as_mut_ptr() as *mut __m256i, i0);
            for m in 0..4 {
                _mm256_storeu_ps(wv[m].as_mut_ptr(), _mm256_mul_ps(w[m], vv));
            }
            for l in 0..8 {
                let i = idx[l] as usize;
                for (m, wm) in wv.iter().enumerate() {
                    *q.get_unchecked_mut(i + m * stride) += wm[l];
                }
            }
            j += 8;
        }
        while j < hi {
            let u = t.shift[j] + b;
            let k = u.to_int_unchecked::<i32>() as usize;
            let w = <Cubic as Kernel<f32>>::weights(u - k as f32, 0.0, 0.0);
            let i0 = k * stride + j;
            for (m, &wm) in w.iter().enumerate() {
                *q.get_unchecked_mut(i0 + m * stride) += wm * v;
            }
            j += 1;
        }
    }
}

/// All rays of one angle, compiled for AVX2 where the CPU has it.
fn angle_forward<T: Scalar, K: Kernel<T>>(
    t: &AngleTable<T>,
    p: &[T],
    stride: usize,
    row: &mut [T],
) {
    #[cfg(target_arch = "x86_64")]
    if std::arch::is_x86_feature_detected!("avx2") {
        if std::any::TypeId::of::<T>() == std::any::TypeId::of::<f32>()
            && std::arch::is_x86_feature_detected!("fma")
        {
            // SAFETY: T is f32 (checked), so these are the same types; the CPU has AVX2 and
            // FMA; the tables were built by `Tables::build`.
            unsafe {
                let t32 = &*(t as *const AngleTable<T> as *const AngleTable<f32>);
                let p32 = std::slice::from_raw_parts(p.as_ptr() as *const f32, p.len());
                let r32 = std::slice::from_raw_parts_mut(row.as_mut_ptr() as *mut f32, row.len());
                return if K::EXACT {
                    angle_forward_linear_f32_avx2::<true>(t32, p32, stride, r32)
                } else if K::TAPS == 2 {
                    angle_forward_linear_f32_avx2::<false>(t32, p32, stride, r32)
                } else {
                    angle_forward_cubic_f32_avx2(t32, p32, stride, r32)
                };
            }
        }
        // SAFETY: the CPU has AVX2.
        return unsafe { angle_forward_avx2::<T, K>(t, p, stride, row) };
    }
    angle_forward_any::<T, K>(t, p, stride, row)
}

/// Joseph's adjoint of one angle in f32 (or with `EXACT` the exact projector's): positions,
/// weights and indices eight steps at a time in AVX2 registers (computed exactly as in
/// [`ray_adjoint`]), then the scattered adds.
///
/// # Safety
/// As [`angle_forward_linear_f32_avx2`], for `q`.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
unsafe fn angle_adjoint_linear_f32_avx2<const EXACT: bool>(
    t: &AngleTable<f32>,
    y: &[f32],
    q: &mut [f32],
    stride: usize,
) {
    use std::arch::x86_64::*;
    let sv = _mm256_set1_epi32(stride as i32);
    let lanes = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
    let (edge, inv) = (_mm256_set1_ps(t.edge), _mm256_set1_ps(t.inv_width));
    let mut idx = [0i32; 8];
    let mut wv = [0f32; 8];
    for (d, &value) in y.iter().enumerate() {
        let (lo, hi) = (t.ranges[d].0 as usize, t.ranges[d].1 as usize);
        let b = t.slope[d];
        let v = value * t.length;
        let bv = _mm256_set1_ps(b);
        let vv = _mm256_set1_ps(v);
        let mut j = lo;
        while j + 8 <= hi {
            let a = _mm256_loadu_ps(t.shift.as_ptr().add(j));
            let u = _mm256_add_ps(a, bv);
            let k = _mm256_cvttps_epi32(u);
            let mut w = _mm256_sub_ps(u, _mm256_cvtepi32_ps(k));
            if EXACT {
                let e = _mm256_max_ps(_mm256_sub_ps(w, edge), _mm256_setzero_ps());
                w = _mm256_mul_ps(e, inv);
            }
            let cols = _mm256_add_epi32(_mm256_set1_epi32(j as i32), lanes);
            let i0 = _mm256_add_epi32(_mm256_mullo_epi32(k, sv), cols);
            _mm256_storeu_si256(idx.as_mut_ptr() as *mut __m256i, i0);
            _mm256_storeu_ps(wv.as_mut_ptr(), _mm256_mul_ps(w, vv));
            for l in 0..8 {
                let i = idx[l] as usize;
                *q.get_unchecked_mut(i) += v - wv[l];
                *q.get_unchecked_mut(i + stride) += wv[l];
            }
            j += 8;
        }
        while j < hi {
            let u = t.shift[j] + b;
            let k = u.to_int_unchecked::<i32>() as usize;
            let w = if EXACT {
                <Exact as Kernel<f32>>::weights(u - k as f32, t.edge, t.inv_width)[1]
            } else {
                u - k as f32
            };
            let wv = w * v;
            let i0 = k * stride + j;
            *q.get_unchecked_mut(i0) += v - wv;
            *q.get_unchecked_mut(i0 + stride) += wv;
            j += 1;
        }
    }
}

fn angle_adjoint<T: Scalar, K: Kernel<T>>(t: &AngleTable<T>, y: &[T], q: &mut [T], stride: usize) {
    #[cfg(target_arch = "x86_64")]
    if std::arch::is_x86_feature_detected!("avx2") {
        if std::any::TypeId::of::<T>() == std::any::TypeId::of::<f32>()
            && std::arch::is_x86_feature_detected!("fma")
        {
            // SAFETY: as in `angle_forward`.
            unsafe {
                let t32 = &*(t as *const AngleTable<T> as *const AngleTable<f32>);
                let y32 = std::slice::from_raw_parts(y.as_ptr() as *const f32, y.len());
                let q32 = std::slice::from_raw_parts_mut(q.as_mut_ptr() as *mut f32, q.len());
                return if K::EXACT {
                    angle_adjoint_linear_f32_avx2::<true>(t32, y32, q32, stride)
                } else if K::TAPS == 2 {
                    angle_adjoint_linear_f32_avx2::<false>(t32, y32, q32, stride)
                } else {
                    angle_adjoint_cubic_f32_avx2(t32, y32, q32, stride)
                };
            }
        }
        // SAFETY: the CPU has AVX2.
        return unsafe { angle_adjoint_avx2::<T, K>(t, y, q, stride) };
    }
    angle_adjoint_any::<T, K>(t, y, q, stride)
}

/// The zero lines before (and after) the image for `interpolation`.
pub(super) fn pad(interpolation: Interpolation) -> usize {
    match interpolation {
        Interpolation::Linear | Interpolation::Exact | Interpolation::Sharpened => 1,
        Interpolation::Cubic => 3,
    }
}

/// Filters the image lines `pad..lines − pad` of padded lines `p` (of length `stride`) by
/// [`Interpolation::Sharpened`]'s `[−a, 1 + 2a, −a]`, in place; the padding lines are left
/// as they are. At the first and last image lines the missing neighbour is the line itself
/// (a mirrored edge), so the filter is a symmetric matrix whose columns sum to one: the same
/// call applies its transpose in the adjoint.
fn sharpen_lines<T: Scalar>(p: &mut [T], stride: usize, pad: usize) {
    let a = T::of(SHARPENING);
    let c = T::one() + a + a;
    let (first, last) = (pad, p.len() / stride - pad);
    if first >= last {
        return;
    }
    // The unfiltered previous and current lines.
    let mut prev = p[first * stride..(first + 1) * stride].to_vec();
    let mut cur = vec![T::zero(); stride];
    for l in first..last {
        cur.copy_from_slice(&p[l * stride..(l + 1) * stride]);
        let (head, tail) = p.split_at_mut((l + 1) * stride);
        let after = if l + 1 < last {
            &tail[..stride]
        } else {
            &cur[..]
        };
        let out = &mut head[l * stride..];
        for (((o, &x), &b), &f) in out.iter_mut().zip(&cur).zip(&prev).zip(after) {
            *o = c * x - a * (b + f);
        }
        std::mem::swap(&mut prev, &mut cur);
    }
}

pub(super) fn forward<T: Scalar>(
    tables: &Tables<T>,
    grid: &ImageGrid,
    x: &[T],
    y: &mut [T],
    threads: usize,
) {
    match tables.interpolation {
        Interpolation::Linear | Interpolation::Sharpened => {
            forward_k::<T, Linear>(tables, grid, x, y, threads)
        }
        Interpolation::Cubic => forward_k::<T, Cubic>(tables, grid, x, y, threads),
        Interpolation::Exact => forward_k::<T, Exact>(tables, grid, x, y, threads),
    }
}

pub(super) fn adjoint<T: Scalar>(
    tables: &Tables<T>,
    grid: &ImageGrid,
    y: &[T],
    x: &mut [T],
    threads: usize,
) {
    match tables.interpolation {
        Interpolation::Linear | Interpolation::Sharpened => {
            adjoint_k::<T, Linear>(tables, grid, y, x, threads)
        }
        Interpolation::Cubic => adjoint_k::<T, Cubic>(tables, grid, y, x, threads),
        Interpolation::Exact => adjoint_k::<T, Exact>(tables, grid, y, x, threads),
    }
}

fn forward_k<T: Scalar, K: Kernel<T>>(
    tables: &Tables<T>,
    grid: &ImageGrid,
    x: &[T],
    y: &mut [T],
    threads: usize,
) {
    let pad = pad(tables.interpolation);
    let any_x = tables.angles.iter().any(|t| t.x_major);
    let any_y = tables.angles.iter().any(|t| !t.x_major);
    let sharpen = tables.interpolation == Interpolation::Sharpened;
    let lines = |transpose: bool, stride: usize| {
        let mut p = padded(x, grid, transpose, pad);
        if sharpen {
            sharpen_lines(&mut p, stride, pad);
        }
        p
    };
    let px = if any_x {
        lines(false, grid.width)
    } else {
        Vec::new()
    };
    let py = if any_y {
        lines(true, grid.height)
    } else {
        Vec::new()
    };
    let d_len = y.len() / tables.angles.len();
    for_chunks(y, d_len, threads, |first, chunk| {
        for (k, row) in chunk.chunks_mut(d_len).enumerate() {
            let t = &tables.angles[first + k];
            let (p, stride) = if t.x_major {
                (&px, grid.width)
            } else {
                (&py, grid.height)
            };
            angle_forward::<T, K>(t, p, stride, row);
        }
    });
}

fn adjoint_k<T: Scalar, K: Kernel<T>>(
    tables: &Tables<T>,
    grid: &ImageGrid,
    y: &[T],
    x: &mut [T],
    threads: usize,
) {
    let pad = pad(tables.interpolation);
    let (h, w) = (grid.height, grid.width);
    let n_angles = tables.angles.len();
    let d_len = y.len() / n_angles;
    let threads = threads.clamp(1, n_angles);
    let per = n_angles.div_ceil(threads);
    // Each thread accumulates its angles into private padded buffers; they are summed below.
    let work = |first: usize| {
        let mut qx = Vec::new();
        let mut qy = Vec::new();
        for a in first..(first + per).min(n_angles) {
            let t = &tables.angles[a];
            let (q, stride, len) = if t.x_major {
                (&mut qx, w, (h + 2 * pad) * w)
            } else {
                (&mut qy, h, (w + 2 * pad) * h)
            };
            if q.is_empty() {
                *q = vec![T::zero(); len];
            }
            angle_adjoint::<T, K>(t, &y[a * d_len..(a + 1) * d_len], q, stride);
        }
        (qx, qy)
    };
    let mut parts: Vec<(Vec<T>, Vec<T>)> = if threads == 1 {
        vec![work(0)]
    } else {
        std::thread::scope(|scope| {
            let work = &work;
            let handles: Vec<_> = (1..threads)
                .map(|t| scope.spawn(move || work(t * per)))
                .collect();
            let mut parts = vec![work(0)];
            parts.extend(
                handles
                    .into_iter()
                    .map(|h| h.join().expect("adjoint worker")),
            );
            parts
        })
    };
    if tables.interpolation == Interpolation::Sharpened {
        // The filter is symmetric: its transpose is itself, after the back-projection.
        for (qx, qy) in &mut parts {
            if !qx.is_empty() {
                sharpen_lines(qx, w, pad);
            }
            if !qy.is_empty() {
                sharpen_lines(qy, h, pad);
            }
        }
    }
    x.fill(T::zero());
    for (qx, qy) in &parts {
        if !qx.is_empty() {
            x.iter_mut()
                .zip(&qx[pad * w..(h + pad) * w])
                .for_each(|(a, &b)| *a += b);
        }
        if !qy.is_empty() {
            for j in 0..w {
                let line = &qy[(j + pad) * h..(j + pad + 1) * h];
                for i in 0..h {
                    x[i * w + j] += line[i];
                }
            }
        }
    }
}
