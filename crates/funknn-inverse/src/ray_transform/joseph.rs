//! The forward and adjoint kernels of Joseph's method on padded copies of the image.
//!
//! An angle stepping along columns reads the image as rows × columns; one stepping along
//! rows reads its transpose, so both walk memory contiguously with the same kernel. Each copy
//! has one zero line before and one after, so the two interpolation taps never need a bounds
//! test (the tables clip every ray to the steps whose position lies in `[0, M+1)`).

use super::{AngleTable, Tables};
use crate::geometry::ImageGrid;
use crate::parallel::for_chunks;
use crate::Scalar;

/// `(M + 2) × major` zeros with the image (or its transpose) in lines `1..=M`.
fn padded<T: Scalar>(x: &[T], grid: &ImageGrid, transpose: bool) -> Vec<T> {
    let (h, w) = (grid.height, grid.width);
    if !transpose {
        let mut p = vec![T::zero(); (h + 2) * w];
        p[w..(h + 1) * w].copy_from_slice(x);
        p
    } else {
        let mut p = vec![T::zero(); (w + 2) * h];
        // Blocks of rows keep both the reads and the writes in cache.
        const B: usize = 32;
        for i0 in (0..h).step_by(B) {
            for j in 0..w {
                let line = &mut p[(j + 1) * h..(j + 2) * h];
                for i in i0..(i0 + B).min(h) {
                    line[i] = x[i * w + j];
                }
            }
        }
        p
    }
}

#[inline(always)]
fn ray_forward<T: Scalar>(t: &AngleTable<T>, d: usize, p: &[T], stride: usize) -> T {
    let (lo, hi) = t.ranges[d];
    let b = t.slope[d];
    let mut acc = T::zero();
    for j in lo as usize..hi as usize {
        let u = t.shift[j] + b;
        let k = u.trunc_index();
        let w = u - T::of(k as f64);
        let p0 = p[k * stride + j];
        let p1 = p[(k + 1) * stride + j];
        acc += p0 + w * (p1 - p0);
    }
    acc * t.length
}

#[inline(always)]
fn ray_adjoint<T: Scalar>(t: &AngleTable<T>, d: usize, value: T, q: &mut [T], stride: usize) {
    let (lo, hi) = t.ranges[d];
    let b = t.slope[d];
    let v = value * t.length;
    for j in lo as usize..hi as usize {
        let u = t.shift[j] + b;
        let k = u.trunc_index();
        let w = u - T::of(k as f64);
        let wv = w * v;
        q[k * stride + j] += v - wv;
        q[(k + 1) * stride + j] += wv;
    }
}

pub(super) fn forward<T: Scalar>(
    tables: &Tables<T>,
    grid: &ImageGrid,
    x: &[T],
    y: &mut [T],
    threads: usize,
) {
    let any_x = tables.angles.iter().any(|t| t.x_major);
    let any_y = tables.angles.iter().any(|t| !t.x_major);
    let px = if any_x { padded(x, grid, false) } else { Vec::new() };
    let py = if any_y { padded(x, grid, true) } else { Vec::new() };
    let d_len = y.len() / tables.angles.len();
    for_chunks(y, d_len, threads, |first, chunk| {
        for (k, row) in chunk.chunks_mut(d_len).enumerate() {
            let t = &tables.angles[first + k];
            let (p, stride) = if t.x_major {
                (&px, grid.width)
            } else {
                (&py, grid.height)
            };
            for (d, out) in row.iter_mut().enumerate() {
                *out = ray_forward(t, d, p, stride);
            }
        }
    });
}

pub(super) fn adjoint<T: Scalar>(
    tables: &Tables<T>,
    grid: &ImageGrid,
    y: &[T],
    x: &mut [T],
    threads: usize,
) {
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
                (&mut qx, w, (h + 2) * w)
            } else {
                (&mut qy, h, (w + 2) * h)
            };
            if q.is_empty() {
                *q = vec![T::zero(); len];
            }
            for d in 0..d_len {
                ray_adjoint(t, d, y[a * d_len + d], q, stride);
            }
        }
        (qx, qy)
    };
    let parts: Vec<(Vec<T>, Vec<T>)> = if threads == 1 {
        vec![work(0)]
    } else {
        std::thread::scope(|scope| {
            let work = &work;
            let handles: Vec<_> = (1..threads)
                .map(|t| scope.spawn(move || work(t * per)))
                .collect();
            let mut parts = vec![work(0)];
            parts.extend(handles.into_iter().map(|h| h.join().expect("adjoint worker")));
            parts
        })
    };
    x.fill(T::zero());
    for (qx, qy) in &parts {
        if !qx.is_empty() {
            x.iter_mut()
                .zip(&qx[w..(h + 1) * w])
                .for_each(|(a, &b)| *a += b);
        }
        if !qy.is_empty() {
            for j in 0..w {
                let line = &qy[(j + 1) * h..(j + 2) * h];
                for i in 0..h {
                    x[i * w + j] += line[i];
                }
            }
        }
    }
}
