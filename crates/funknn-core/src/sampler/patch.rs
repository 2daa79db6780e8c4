//! The patch sampler: a differentiable spatial transformer with a learnable receptive field.
//!
//! For a query point `(x, y)` it samples a `w×w` patch at `x + ws1·δx_q`, `y + ws2·δy_p`,
//! with the official geometry (DESIGN.md §1): in pixel units of an n-pixel axis, sample k sits
//! at `x·n − ½ + ws · (2k+1−w)/w · (w−1)/(n−1) · n/2`.
//!
//! The kernel is separable and the samples of a patch lie on a grid, so all of a point's taps
//! fall into one small window of pixels (12×12 for 9×9 patches at ws = 1). The sampler
//! gathers that window once and contracts it with per-point row and column weight matrices:
//! `patch = Wy · window · Wxᵀ`. The spatial derivatives of the patch use the same window with
//! the weights built from k′ and k″, which makes the patch jet almost free.
//!
//! Positions and window indices are computed on the host from the detached points and
//! receptive field; the weights are candle expressions of `ws1`/`ws2`, so backprop reaches
//! the receptive field, and the gather reaches the image.

use candle_core::{DType, Device, Tensor};
use candle_nn::VarBuilder;

use crate::config::KernelKind;
use crate::jet::{Jet, JetOrder};
use crate::real::Real;
use crate::sampler::host::HostImages;
use crate::sampler::prefilter::bspline_coefficients;
use crate::sampler::reflect::reflect_index;
use crate::{Error, Result};

/// Checks points `(N, P, 2)` against `n_img` images and copies them to the host as
/// `(image index, x, y)`, point-major. A NaN or infinite coordinate is an error.
pub(crate) fn host_points(points: &Tensor, n_img: usize) -> Result<Vec<(usize, f64, f64)>> {
    let (n_pts_img, n_pts, two) = points.dims3()?;
    if two != 2 || n_pts_img != n_img {
        return Err(Error::Shape {
            name: "points",
            expected: format!("({n_img}, P, 2) to match {n_img} images"),
            got: points.dims().to_vec(),
        });
    }
    let flat: Vec<f64> = points.to_dtype(DType::F64)?.flatten_all()?.to_vec1()?;
    if let Some(i) = flat.iter().position(|v| !v.is_finite()) {
        let i = i / 2;
        return Err(Error::NonFinitePoint {
            index: i,
            x: flat[2 * i],
            y: flat[2 * i + 1],
        });
    }
    Ok(flat
        .chunks(2)
        .enumerate()
        .map(|(i, xy)| (i / n_pts, xy[0], xy[1]))
        .collect())
}

/// Samples `patch_size × patch_size` patches around query points.
#[derive(Debug, Clone)]
pub struct PatchSampler {
    kernel: KernelKind,
    patch_size: usize,
    /// Receptive-field scale along x (columns); the official `ws1`.
    ws1: Tensor,
    /// Receptive-field scale along y (rows); the official `ws2`.
    ws2: Tensor,
}

/// Geometry of one axis for one batch of points.
struct AxisPlan {
    /// Window start (pixel index before reflection) per point.
    start: Vec<i64>,
    /// Window length, the same for all points.
    len: usize,
    /// `t` without the receptive-field term: `x·n − ½ − start − c`, shape (P, 1, len).
    offset: Vec<f64>,
    /// 1 where column c of the window is one of sample k's taps, shape (P, w, len).
    mask: Vec<f64>,
}

impl PatchSampler {
    /// Loads `ws1` and `ws2` (shape `[1]`) from `vb`.
    pub fn new(kernel: KernelKind, patch_size: usize, vb: VarBuilder) -> Result<Self> {
        let ws1 = vb.get(1, "ws1")?;
        let ws2 = vb.get(1, "ws2")?;
        Ok(PatchSampler {
            kernel,
            patch_size,
            ws1,
            ws2,
        })
    }

    pub fn kernel(&self) -> KernelKind {
        self.kernel
    }

    pub fn patch_size(&self) -> usize {
        self.patch_size
    }

    /// The receptive-field scales `(ws1, ws2)`.
    pub fn receptive_field(&self) -> (&Tensor, &Tensor) {
        (&self.ws1, &self.ws2)
    }

    /// Per-sample offsets `δ_k` in pixels at unit receptive field, for an n-pixel axis.
    pub(crate) fn unit_offsets(&self, n: usize) -> Vec<f64> {
        let w = self.patch_size as f64;
        let scale = (w - 1.0) / (n as f64 - 1.0) * n as f64 / 2.0;
        (0..self.patch_size)
            .map(|k| ((2 * k + 1) as f64 / w - 1.0) * scale)
            .collect()
    }

    fn plan_axis(&self, coords: &[f64], n: usize, ws: f64) -> AxisPlan {
        let w = self.patch_size;
        let (first, ntaps) = self.kernel.taps();
        let offsets = self.unit_offsets(n);
        let p = coords.len();
        let mut floors = vec![0i64; p * w];
        let mut start = vec![0i64; p];
        let mut len = 0usize;
        for (i, &x) in coords.iter().enumerate() {
            let centre = x * n as f64 - 0.5;
            let (mut lo, mut hi) = (i64::MAX, i64::MIN);
            for k in 0..w {
                let f = (centre + ws * offsets[k]).floor() as i64;
                floors[i * w + k] = f;
                lo = lo.min(f);
                hi = hi.max(f);
            }
            start[i] = lo + first;
            len = len.max((hi - lo) as usize + ntaps);
        }
        let mut offset = vec![0f64; p * len];
        let mut mask = vec![0f64; p * w * len];
        for i in 0..p {
            let centre = coords[i] * n as f64 - 0.5;
            for c in 0..len {
                offset[i * len + c] = centre - (start[i] + c as i64) as f64;
            }
            for k in 0..w {
                let tap0 = floors[i * w + k] + first - start[i];
                for j in 0..ntaps {
                    mask[(i * w + k) * len + (tap0 as usize + j)] = 1.0;
                }
            }
        }
        AxisPlan {
            start,
            len,
            offset,
            mask,
        }
    }

    /// Weight matrices `(P, D·w, len)` for derivative orders 0..D along one axis: entry
    /// `[p, d·w + k, c]` is `n^d k^(d)(t)` for window pixel c and sample k.
    fn axis_weights(
        &self,
        plan: &AxisPlan,
        n: usize,
        ws: &Tensor,
        degree: usize,
        dtype: DType,
        device: &Device,
    ) -> Result<Tensor> {
        let w = self.patch_size;
        let p = plan.start.len();
        let offset =
            Tensor::from_vec(plan.offset.clone(), (p, 1, plan.len), device)?.to_dtype(dtype)?;
        let mask =
            Tensor::from_vec(plan.mask.clone(), (p, w, plan.len), device)?.to_dtype(dtype)?;
        let deltas = Tensor::from_vec(self.unit_offsets(n), (1, w, 1), device)?.to_dtype(dtype)?;
        let t = offset.broadcast_add(&deltas.broadcast_mul(&ws.reshape((1, 1, 1))?)?)?;
        let ks = self.kernel.eval(&t, degree)?;
        let parts = ks
            .iter()
            .enumerate()
            .map(|(d, k)| (k * &mask)?.affine((n as f64).powi(d as i32), 0.0))
            .collect::<candle_core::Result<Vec<_>>>()?;
        Ok(Tensor::cat(&parts, 1)?)
    }

    /// Prepares images for sampling: B-spline coefficients for the B-spline kernel, the
    /// images themselves otherwise. Do it once per image when sampling in chunks.
    pub fn prepare(&self, images: &Tensor) -> Result<Tensor> {
        if self.kernel.needs_prefilter() {
            bspline_coefficients(images)
        } else {
            Ok(images.clone())
        }
    }

    /// Patch jets of `prepared` images `(N, C, H, W)` (see [`Self::prepare`]) at `points`
    /// `(N, P, 2)` in unit coordinates. Returns parts of shape `(N·P, C, w, w)`, point-major.
    pub fn sample_prepared(
        &self,
        prepared: &Tensor,
        points: &Tensor,
        order: JetOrder,
    ) -> Result<Jet> {
        let (n_img, channels, height, width) = prepared.dims4()?;
        let pts = host_points(points, n_img)?;
        if height < 2 || width < 2 {
            return Err(Error::Shape {
                name: "image",
                expected: "at least 2×2 pixels".into(),
                got: prepared.dims().to_vec(),
            });
        }
        let device = prepared.device();
        let dtype = prepared.dtype();
        let w = self.patch_size;
        let p_total = pts.len();
        let xs: Vec<f64> = pts.iter().map(|p| p.1).collect();
        let ys: Vec<f64> = pts.iter().map(|p| p.2).collect();
        let (ws1, ws2) = self.receptive_field_values()?;
        let col = self.plan_axis(&xs, width, ws1);
        let row = self.plan_axis(&ys, height, ws2);

        // Window gather: index order (point, column, row) so that the gathered rows of C
        // channels reshape to (P, cols, rows·C) for the column contraction.
        let mut index = Vec::with_capacity(p_total * col.len * row.len);
        for (i, &(img, _, _)) in pts.iter().enumerate() {
            let base = img * height * width;
            for c in 0..col.len {
                let cx = reflect_index(col.start[i] + c as i64, width);
                for r in 0..row.len {
                    let ry = reflect_index(row.start[i] + r as i64, height);
                    index.push((base + ry * width + cx) as u32);
                }
            }
        }
        let index = Tensor::from_vec(index, p_total * col.len * row.len, device)?;
        let pixels = prepared
            .permute((0, 2, 3, 1))?
            .reshape((n_img * height * width, channels))?;
        let window =
            pixels
                .index_select(&index, 0)?
                .reshape((p_total, col.len, row.len * channels))?;

        let degree = order.degree();
        let d = degree + 1;
        let wx = self.axis_weights(&col, width, &self.ws1, degree, dtype, device)?;
        let wy = self.axis_weights(&row, height, &self.ws2, degree, dtype, device)?;
        // [p, (dx, q), (r, ch)]
        let cols = wx.matmul(&window)?;
        // [p, r, (dx, q, ch)]
        let cols = cols
            .reshape((p_total, d * w, row.len, channels))?
            .transpose(1, 2)?
            .contiguous()?
            .reshape((p_total, row.len, d * w * channels))?;
        // [p, (dy, i), (dx, q, ch)] -> [(dy, dx), p, ch, i, q]
        let all = wy
            .matmul(&cols)?
            .reshape((p_total, d, w, d, w, channels))?
            .permute((1, 3, 0, 5, 2, 4))?
            .reshape((d * d, p_total, channels, w, w))?;
        let pick = |dy: usize, dx: usize| all.get(dy * d + dx);
        let parts = match order {
            JetOrder::Value => all,
            JetOrder::Gradient => Tensor::stack(&[pick(0, 0)?, pick(0, 1)?, pick(1, 0)?], 0)?,
            JetOrder::Laplacian => Tensor::stack(
                &[
                    pick(0, 0)?,
                    pick(0, 1)?,
                    pick(1, 0)?,
                    (pick(0, 2)? + pick(2, 0)?)?,
                ],
                0,
            )?,
            JetOrder::Hessian => Tensor::stack(
                &[
                    pick(0, 0)?,
                    pick(0, 1)?,
                    pick(1, 0)?,
                    pick(0, 2)?,
                    pick(1, 1)?,
                    pick(2, 0)?,
                ],
                0,
            )?,
        };
        Jet::new(parts, order)
    }

    /// Like [`Self::sample_prepared`], without a graph, from images copied to the host once
    /// with [`HostImages::new`]: several times faster on the CPU.
    pub fn sample_host<T: Real>(
        &self,
        images: &HostImages<T>,
        points: &Tensor,
        order: JetOrder,
    ) -> Result<Jet> {
        let n_img = images.dims().0;
        let pts = host_points(points, n_img)?;
        let raw = self.sample_host_raw(images, &pts, order)?;
        let (c, w) = (images.dims().1, self.patch_size);
        let parts = Tensor::from_vec(raw, (order.parts(), pts.len(), c, w, w), points.device())?
            .to_dtype(points.dtype())?;
        Jet::new(parts, order)
    }

    /// The host sampler on flat `(image index, x, y)` points (already checked finite):
    /// parts `(K, P, C, w, w)` in a plain buffer.
    pub(crate) fn sample_host_raw<T: Real>(
        &self,
        images: &HostImages<T>,
        points: &[(usize, f64, f64)],
        order: JetOrder,
    ) -> Result<Vec<T>> {
        let mut out = Vec::new();
        self.sample_host_into(images, points, order, &mut out)?;
        Ok(out)
    }

    /// [`Self::sample_host_raw`] into `out`, reusing its allocation.
    pub(crate) fn sample_host_into<T: Real>(
        &self,
        images: &HostImages<T>,
        points: &[(usize, f64, f64)],
        order: JetOrder,
        out: &mut Vec<T>,
    ) -> Result<()> {
        let (_, _, height, width) = images.dims();
        let (ws1, ws2) = self.receptive_field_values()?;
        crate::sampler::host::sample_host(
            self.kernel,
            self.patch_size,
            &self.unit_offsets(width),
            &self.unit_offsets(height),
            images,
            points,
            (ws1, ws2),
            order,
            out,
        )
    }

    /// The patches of [`SOBOLEV_PARTS`](crate::sampler::host::SOBOLEV_PARTS) at `points`,
    /// `(9, P, C, w, w)` flat, into `out`.
    pub(crate) fn sample_host_sobolev_into<T: Real>(
        &self,
        images: &HostImages<T>,
        points: &[(usize, f64, f64)],
        out: &mut Vec<T>,
    ) -> Result<()> {
        let (_, _, height, width) = images.dims();
        let (dx, dy) = (self.unit_offsets(width), self.unit_offsets(height));
        crate::sampler::host::sample_host_parts(
            (self.kernel, self.patch_size, (&dx, &dy)),
            images,
            points,
            self.receptive_field_values()?,
            &crate::sampler::host::SOBOLEV_PARTS,
            3,
            out,
        )
    }

    pub(crate) fn receptive_field_values(&self) -> Result<(f64, f64)> {
        let ws1 = self.ws1.to_dtype(DType::F64)?.to_vec1::<f64>()?[0];
        let ws2 = self.ws2.to_dtype(DType::F64)?.to_vec1::<f64>()?[0];
        if !ws1.is_finite() || !ws2.is_finite() || ws1.abs() > 1e3 || ws2.abs() > 1e3 {
            return Err(Error::invalid(
                "receptive field",
                format!("ws1 = {ws1}, ws2 = {ws2} must be finite and below 1000"),
            ));
        }
        Ok((ws1, ws2))
    }

    /// [`Self::prepare`] then [`Self::sample_prepared`].
    pub fn sample(&self, images: &Tensor, points: &Tensor, order: JetOrder) -> Result<Jet> {
        self.sample_prepared(&self.prepare(images)?, points, order)
    }
}
