//! Row-major matrix products on host slices through `gemm`: the CPU kernels of the
//! autoencoder's convolutions and of the prior's training gradient.

use candle_core::WithDType;

/// The element types the kernel runs on (`gemm` dispatches on them).
pub(crate) trait Float: WithDType + Copy + Default + Send + Sync + 'static {}
impl Float for f32 {}
impl Float for f64 {}

/// Multiply-adds from which a product is worth splitting over threads.
pub(crate) const SPLIT_MACS: usize = 1 << 23;

/// `c = a · b` (or `c += a · b`), row-major operands given by their strides.
#[allow(clippy::too_many_arguments)]
pub(crate) fn matmul<T: Float>(
    m: usize,
    n: usize,
    k: usize,
    a: (&[T], usize, usize),
    b: (&[T], usize, usize),
    c: &mut [T],
    c_rs: usize,
    accumulate: bool,
    threads: usize,
) {
    assert!(m > 0 && n > 0 && k > 0);
    // Below ~16 MFLOP (well under a millisecond) spawning threads costs more than it saves.
    if threads > 1 && m > 1 && m * n * k >= SPLIT_MACS {
        // Rows of `c` (and of `a`) in blocks, one per scoped thread (rayon's workers, which
        // spin after a job, would compete with the next op's threads).
        let rows = m.div_ceil(threads);
        std::thread::scope(|s| {
            for (i, block) in c.chunks_mut(rows * c_rs).enumerate() {
                let r0 = i * rows;
                if r0 >= m {
                    break;
                }
                let mi = rows.min(m - r0);
                let ai = (&a.0[r0 * a.1..], a.1, a.2);
                s.spawn(move || matmul(mi, n, k, ai, b, block, c_rs, accumulate, 1));
            }
        });
        return;
    }
    assert!((m - 1) * a.1 + (k - 1) * a.2 < a.0.len());
    assert!((k - 1) * b.1 + (n - 1) * b.2 < b.0.len());
    assert!((m - 1) * c_rs + n <= c.len());
    // SAFETY: the assertions keep every strided access inside the three slices.
    unsafe {
        gemm::gemm(
            m,
            n,
            k,
            c.as_mut_ptr(),
            1,
            c_rs as isize,
            accumulate,
            a.0.as_ptr(),
            a.2 as isize,
            a.1 as isize,
            b.0.as_ptr(),
            b.2 as isize,
            b.1 as isize,
            T::one(),
            T::one(),
            false,
            false,
            false,
            gemm::Parallelism::None,
        )
    }
}
