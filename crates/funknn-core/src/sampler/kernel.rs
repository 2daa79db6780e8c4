//! Interpolation kernels k(t) with their first and second derivatives.
//!
//! Every kernel here is an even, piecewise cubic polynomial in `a = |t|` with pieces on
//! `[0, 1)` and `[1, 2)`, so one table of coefficients serves the scalar evaluation (tests,
//! prefilter design) and the tensor evaluation (the sampler, differentiable by candle).

use candle_core::{DType, Tensor};

use crate::config::KernelKind;
use crate::Result;

/// `c0 + c1 a + c2 a² + c3 a³` on `[0, 1)` and on `[1, 2)`.
#[derive(Debug, Clone, Copy)]
struct Pieces {
    inner: [f64; 4],
    outer: [f64; 4],
}

const KEYS_A: f64 = -0.5;
const TORCH_A: f64 = -0.75;

/// Keys' cubic convolution kernel for parameter `a` (Keys 1981).
const fn keys(a: f64) -> Pieces {
    Pieces {
        inner: [1.0, 0.0, -(a + 3.0), a + 2.0],
        outer: [-4.0 * a, 8.0 * a, -5.0 * a, a],
    }
}

impl KernelKind {
    fn pieces(&self) -> Pieces {
        match self {
            KernelKind::Bilinear => Pieces {
                inner: [1.0, -1.0, 0.0, 0.0],
                outer: [0.0; 4],
            },
            KernelKind::CubicConv => keys(KEYS_A),
            KernelKind::Bicubic => keys(TORCH_A),
            KernelKind::Bspline => Pieces {
                inner: [2.0 / 3.0, 0.0, -1.0, 0.5],
                outer: [8.0 / 6.0, -2.0, 1.0, -1.0 / 6.0],
            },
        }
    }

    /// Offset of the first tap from `floor(position)` and the number of taps per axis.
    pub fn taps(&self) -> (i64, usize) {
        match self {
            KernelKind::Bilinear => (0, 2),
            _ => (-1, 4),
        }
    }

    /// The official `cubic_conv` evaluates `k(t + 1e-6)`; we keep that for parity.
    pub fn shift(&self) -> f64 {
        match self {
            KernelKind::CubicConv => 1e-6,
            _ => 0.0,
        }
    }

    /// Whether the sampler must prefilter the image into spline coefficients first.
    pub fn needs_prefilter(&self) -> bool {
        matches!(self, KernelKind::Bspline)
    }

    /// `[k(t), k'(t), k''(t)]` in f64.
    ///
    /// Pieces are half-open, `[−2, −1)`, `[−1, 1)`, `[1, 2)`: at a knot the derivatives are
    /// the limits from the right, which makes every tap of `floor(position) + i` use one
    /// fixed piece, as in PyTorch's `grid_sample`. Only the value is continuous everywhere
    /// for every kernel; derivatives at knots are one-sided by convention.
    ///
    /// ```
    /// use funknn_core::KernelKind;
    /// let [k, _, _] = KernelKind::Bspline.eval_scalar(0.0);
    /// assert!((k - 2.0 / 3.0).abs() < 1e-15);
    /// ```
    pub fn eval_scalar(&self, t: f64) -> [f64; 3] {
        let [k, k1, k2, _] = self.eval_scalar3(t);
        [k, k1, k2]
    }

    /// `[k(t), k'(t), k''(t), k'''(t)]` in f64, pieces as in [`Self::eval_scalar`]. The
    /// third derivative is piecewise constant; Sobolev training needs it for the receptive
    /// field's gradient through a Laplacian (the Laplacian of a patch sample moves with it).
    pub(crate) fn eval_scalar3(&self, t: f64) -> [f64; 4] {
        let t = t + self.shift();
        let a = t.abs();
        let s = if t < 0.0 { -1.0 } else { 1.0 };
        let p = self.pieces();
        let c = if (-1.0..1.0).contains(&t) {
            p.inner
        } else if (-2.0..2.0).contains(&t) {
            p.outer
        } else {
            return [0.0; 4];
        };
        [
            c[0] + a * (c[1] + a * (c[2] + a * c[3])),
            s * (c[1] + a * (2.0 * c[2] + 3.0 * a * c[3])),
            2.0 * c[2] + 6.0 * a * c[3],
            s * 6.0 * c[3],
        ]
    }

    /// `k^(m)(t)` for m = 0..=`max_order` on a tensor of offsets `t` (the shift is added
    /// here). The piece boundaries come from the detached `t`, so candle's backprop sees
    /// the polynomial of each piece: derivatives with respect to anything `t` depends on.
    pub fn eval(&self, t: &Tensor, max_order: usize) -> Result<Vec<Tensor>> {
        let dtype = t.dtype();
        let t = if self.shift() != 0.0 {
            t.affine(1.0, self.shift())?
        } else {
            t.clone()
        };
        let a = t.abs()?;
        let t_const = t.detach();
        let within = |lo: f64, hi: f64| -> Result<Tensor> {
            Ok((t_const.ge(lo)?.to_dtype(dtype)? * t_const.lt(hi)?.to_dtype(dtype)?)?)
        };
        let inner = within(-1.0, 1.0)?;
        let outer = (within(-2.0, 2.0)? - &inner)?;
        let p = self.pieces();
        let horner = |c: [f64; 4]| -> Result<Tensor> {
            Ok(a.affine(c[3], c[2])?
                .mul(&a)?
                .affine(1.0, c[1])?
                .mul(&a)?
                .affine(1.0, c[0])?)
        };
        let d1 = |c: [f64; 4]| -> Result<Tensor> {
            Ok(a.affine(3.0 * c[3], 2.0 * c[2])?
                .mul(&a)?
                .affine(1.0, c[1])?)
        };
        let d2 = |c: [f64; 4]| -> Result<Tensor> { Ok(a.affine(6.0 * c[3], 2.0 * c[2])?) };
        let combine = |f: &dyn Fn([f64; 4]) -> Result<Tensor>| -> Result<Tensor> {
            let mut v = f(p.inner)?.mul(&inner)?;
            if p.outer.iter().any(|&c| c != 0.0) {
                v = (v + f(p.outer)?.mul(&outer)?)?;
            }
            Ok(v)
        };
        let mut out = vec![combine(&horner)?];
        if max_order >= 1 {
            let sign = t.detach().ge(0.0)?.to_dtype(dtype)?.affine(2.0, -1.0)?;
            out.push(combine(&d1)?.mul(&sign)?);
        }
        if max_order >= 2 {
            out.push(combine(&d2)?);
        }
        debug_assert!(out
            .iter()
            .all(|x| x.dtype() == dtype || dtype == DType::F16));
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use candle_core::Device;

    const KINDS: [KernelKind; 4] = [
        KernelKind::Bilinear,
        KernelKind::CubicConv,
        KernelKind::Bicubic,
        KernelKind::Bspline,
    ];

    #[test]
    fn partition_of_unity_and_interpolation() {
        for kind in KINDS {
            let (first, n) = kind.taps();
            for &f in &[0.0, 0.1, 0.37, 0.5, 0.9, 0.999] {
                let sum: f64 = (0..n)
                    .map(|i| kind.eval_scalar(f - (first + i as i64) as f64)[0])
                    .sum();
                assert!((sum - 1.0).abs() < 1e-5, "{kind} frac {f}: sum {sum}");
            }
        }
        // Interpolating kernels are 1 at 0 and 0 at the other integers.
        for kind in [KernelKind::Bilinear, KernelKind::Bicubic] {
            assert_eq!(kind.eval_scalar(0.0)[0], 1.0);
            assert_eq!(kind.eval_scalar(1.0)[0], 0.0);
        }
    }

    #[test]
    fn derivatives_match_finite_differences() {
        let h = 1e-6;
        for kind in KINDS {
            for &t in &[-1.7, -1.2, -0.6, -0.2, 0.3, 0.8, 1.4, 1.9] {
                let [_, d1, d2] = kind.eval_scalar(t);
                let fd1 = (kind.eval_scalar(t + h)[0] - kind.eval_scalar(t - h)[0]) / (2.0 * h);
                let fd2 = (kind.eval_scalar(t + h)[1] - kind.eval_scalar(t - h)[1]) / (2.0 * h);
                assert!((d1 - fd1).abs() < 1e-6, "{kind} k' at {t}: {d1} vs {fd1}");
                assert!((d2 - fd2).abs() < 1e-6, "{kind} k'' at {t}: {d2} vs {fd2}");
            }
        }
    }

    #[test]
    fn bspline_is_c2_and_keys_is_not() {
        // Second derivative left and right of the knot at 1.
        let jump = |k: KernelKind| {
            let knot = 1.0 - k.shift();
            (k.eval_scalar(knot - 1e-9)[2] - k.eval_scalar(knot + 1e-9)[2]).abs()
        };
        assert!(jump(KernelKind::Bspline) < 1e-6);
        assert!(jump(KernelKind::CubicConv) > 0.5);
    }

    #[test]
    fn tensor_matches_scalar() {
        let ts: Vec<f64> = (-25..25).map(|i| i as f64 * 0.0913).collect();
        let t = Tensor::new(ts.as_slice(), &Device::Cpu).unwrap();
        for kind in KINDS {
            let parts = kind.eval(&t, 2).unwrap();
            for (order, part) in parts.iter().enumerate() {
                let got = part.to_vec1::<f64>().unwrap();
                for (i, &x) in ts.iter().enumerate() {
                    let want = kind.eval_scalar(x)[order];
                    assert!((got[i] - want).abs() < 1e-12, "{kind} order {order} t {x}");
                }
            }
        }
    }
}
