//! Which GEMM the affine layers use.
//!
//! candle's CPU matmul splits each product across all cores. When
//! [`crate::FunkNN::evaluate`] already runs one chunk of points per core, that second level
//! of threading makes the workers contend: measured here, two workers reach 42k px/s with
//! candle's threaded matmul and 47k with a single-threaded one. So the workers use
//! [`Gemm::SingleThread`], a graph-free custom op calling `gemm` without parallelism.

use candle_core::{CpuStorage, CustomOp2, DType, Layout, Shape, Tensor};

use crate::Result;

/// The GEMM used by affine layers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Gemm {
    /// candle's matmul: threaded, differentiable.
    #[default]
    Candle,
    /// Single-threaded `gemm` on the CPU, no graph: for callers that parallelise themselves.
    SingleThread,
}

/// `a · bᵀ` for `a` `(M, K)` and `b` `(N, K)`.
pub fn matmul_t(a: &Tensor, b: &Tensor, gemm: Gemm) -> Result<Tensor> {
    let fast = gemm == Gemm::SingleThread
        && a.device().is_cpu()
        && a.dtype() == b.dtype()
        && matches!(a.dtype(), DType::F32 | DType::F64)
        && a.rank() == 2
        && b.rank() == 2;
    if fast {
        Ok(a.apply_op2_no_bwd(b, &MatmulT)?)
    } else {
        Ok(a.matmul(&b.t()?)?)
    }
}

struct MatmulT;

impl MatmulT {
    fn run<T: 'static + Copy + num_zero::Zero>(
        a: &[T],
        la: &Layout,
        b: &[T],
        lb: &Layout,
    ) -> candle_core::Result<(Vec<T>, Shape)> {
        let (m, k) = la.shape().dims2()?;
        let (n, k2) = lb.shape().dims2()?;
        if k != k2 {
            candle_core::bail!("matmul_t: inner dimensions {k} and {k2} differ");
        }
        let (sa, sb) = (la.stride(), lb.stride());
        let a = &a[la.start_offset()..];
        let b = &b[lb.start_offset()..];
        let mut dst = vec![T::zero(); m * n];
        // SAFETY: the strides and sizes describe the given slices (candle layouts), and
        // `dst` is a fresh contiguous m×n buffer.
        unsafe {
            gemm::gemm(
                m,
                n,
                k,
                dst.as_mut_ptr(),
                1,
                n as isize,
                false,
                a.as_ptr(),
                sa[1] as isize,
                sa[0] as isize,
                // bᵀ[k, n] = b[n, k]: columns step along b's rows.
                b.as_ptr(),
                sb[0] as isize,
                sb[1] as isize,
                T::zero(),
                T::one(),
                false,
                false,
                false,
                gemm::Parallelism::None,
            );
        }
        Ok((dst, Shape::from((m, n))))
    }
}

/// The zero and one that `gemm` needs, for f32 and f64.
mod num_zero {
    pub trait Zero {
        fn zero() -> Self;
        fn one() -> Self;
    }
    impl Zero for f32 {
        fn zero() -> Self {
            0.0
        }
        fn one() -> Self {
            1.0
        }
    }
    impl Zero for f64 {
        fn zero() -> Self {
            0.0
        }
        fn one() -> Self {
            1.0
        }
    }
}

impl CustomOp2 for MatmulT {
    fn name(&self) -> &'static str {
        "funknn-matmul-t"
    }

    fn cpu_fwd(
        &self,
        s1: &CpuStorage,
        l1: &Layout,
        s2: &CpuStorage,
        l2: &Layout,
    ) -> candle_core::Result<(CpuStorage, Shape)> {
        match (s1, s2) {
            (CpuStorage::F32(a), CpuStorage::F32(b)) => {
                let (d, s) = Self::run(a, l1, b, l2)?;
                Ok((CpuStorage::F32(d), s))
            }
            (CpuStorage::F64(a), CpuStorage::F64(b)) => {
                let (d, s) = Self::run(a, l1, b, l2)?;
                Ok((CpuStorage::F64(d), s))
            }
            _ => candle_core::bail!("funknn-matmul-t: f32 or f64 operands of one dtype expected"),
        }
    }
}
