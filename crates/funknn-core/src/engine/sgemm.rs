//! The f32 matrix product of the CPU training gradient (`train_host.rs`), one core per
//! call, on strided operands: a checked wrapper of the `gemm` crate. (A hand-written
//! AVX2/FMA 6×16 kernel with BLIS-style packing measured the same here, 65–86 GFLOP/s per
//! core against a 91 GFLOP/s FMA peak, so `gemm` stays; `docs/performance.md`.)

/// A strided f32 matrix: element (i, j) at `data[i * rs + j * cs]`.
#[derive(Clone, Copy)]
pub(crate) struct MatRef<'a> {
    pub data: &'a [f32],
    pub rs: usize,
    pub cs: usize,
}

impl<'a> MatRef<'a> {
    /// A row-major `rows × cols` matrix.
    pub fn rows(data: &'a [f32], cols: usize) -> Self {
        MatRef {
            data,
            rs: cols,
            cs: 1,
        }
    }

    /// The transpose of a row-major matrix with `cols` columns.
    pub fn transposed(data: &'a [f32], cols: usize) -> Self {
        MatRef {
            data,
            rs: 1,
            cs: cols,
        }
    }

    /// Whether an `rows × cols` matrix fits in `data`.
    fn fits(&self, rows: usize, cols: usize) -> bool {
        rows == 0 || cols == 0 || (rows - 1) * self.rs + (cols - 1) * self.cs < self.data.len()
    }
}

/// `c (+)= a · b` for `a` m×k and `b` k×n; `c` is row-major with row stride `c_rs`.
/// `accumulate`: add to `c` instead of overwriting it.
///
/// Panics if an operand is too short for its shape and strides (an internal invariant).
#[allow(clippy::too_many_arguments)]
pub(crate) fn sgemm(
    m: usize,
    n: usize,
    k: usize,
    a: MatRef,
    b: MatRef,
    c: &mut [f32],
    c_rs: usize,
    accumulate: bool,
) {
    assert!(a.fits(m, k) && b.fits(k, n));
    assert!(m == 0 || n == 0 || (m - 1) * c_rs + n <= c.len());
    if m == 0 || n == 0 {
        return;
    }
    if k == 0 {
        if !accumulate {
            for i in 0..m {
                c[i * c_rs..i * c_rs + n].fill(0.0);
            }
        }
        return;
    }
    // SAFETY: the assertions above keep every strided access inside the three slices.
    unsafe {
        gemm::gemm(
            m,
            n,
            k,
            c.as_mut_ptr(),
            1,
            c_rs as isize,
            accumulate,
            a.data.as_ptr(),
            a.cs as isize,
            a.rs as isize,
            b.data.as_ptr(),
            b.cs as isize,
            b.rs as isize,
            1.0,
            1.0,
            false,
            false,
            false,
            gemm::Parallelism::None,
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn values(len: usize, seed: usize) -> Vec<f32> {
        (0..len)
            .map(|i| (((i * 7919 + seed * 104_729) % 2003) as f32 / 2003.0) - 0.5)
            .collect()
    }

    /// Odd, tiny, deep and wide shapes and every operand layout, overwriting and
    /// accumulating, against an f64 triple loop.
    #[test]
    fn matches_a_plain_product() {
        let shapes = [
            (1, 1, 1),
            (6, 16, 8),
            (7, 17, 3),
            (13, 3, 300),
            (97, 40, 257),
            (512, 64, 128),
            (5, 1030, 20),
        ];
        for &(m, n, k) in &shapes {
            for (ta, tb, accumulate) in [
                (false, false, false),
                (true, false, true),
                (false, true, false),
                (true, true, true),
            ] {
                let (av, bv) = (values(m * k, 1), values(k * n, 2));
                let a = if ta {
                    MatRef::transposed(&av, m)
                } else {
                    MatRef::rows(&av, k)
                };
                let b = if tb {
                    MatRef::transposed(&bv, k)
                } else {
                    MatRef::rows(&bv, n)
                };
                // C has a wider row stride than n, to check that the gap stays untouched.
                let c_rs = n + 3;
                let start = values(m * c_rs, 3);
                let mut c = start.clone();
                sgemm(m, n, k, a, b, &mut c, c_rs, accumulate);
                for i in 0..m {
                    for j in 0..c_rs {
                        let got = c[i * c_rs + j];
                        if j >= n {
                            assert_eq!(got, start[i * c_rs + j]);
                            continue;
                        }
                        let mut want: f64 = (0..k)
                            .map(|p| {
                                a.data[i * a.rs + p * a.cs] as f64
                                    * b.data[p * b.rs + j * b.cs] as f64
                            })
                            .sum();
                        if accumulate {
                            want += start[i * c_rs + j] as f64;
                        }
                        let tol = 1e-6 * (k as f64).sqrt() + 1e-6;
                        assert!(
                            (got as f64 - want).abs() < tol,
                            "{m}×{n}×{k} ta={ta} tb={tb}: ({i}, {j}) {got} vs {want}"
                        );
                    }
                }
            }
        }
    }
}
