//! The f32 matrix product of the CPU paths (inference and the training gradient), one core
//! per call: on x86-64 with AVX2 and FMA, a 6×16 register-tile kernel with BLIS-style
//! packing; elsewhere the `gemm` crate. Our operands are small (≤ 512 on a side, one
//! chunk of points), where the packed kernel keeps both FMA units busier than `gemm`
//! does (`docs/performance.md`).

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
    #[cfg(target_arch = "x86_64")]
    if std::is_x86_feature_detected!("avx2") && std::is_x86_feature_detected!("fma") {
        // SAFETY: the CPU has AVX2 and FMA, and the assertions above keep every access
        // of the kernel inside the three slices.
        unsafe { avx2::sgemm(m, n, k, a, b, c, c_rs, accumulate) };
        return;
    }
    // SAFETY: as above, the assertions bound every strided access.
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

#[cfg(target_arch = "x86_64")]
mod avx2 {
    use std::arch::x86_64::*;

    use super::MatRef;

    /// Register tile: 6 rows × 16 columns = 12 accumulators of 8 lanes.
    const MR: usize = 6;
    const NR: usize = 16;
    /// Depth of a packed block: an A panel (6 × 256) and a B panel (256 × 16) stay in L1.
    const KC: usize = 256;
    /// Rows of A packed at once (in L2).
    const MC: usize = 96;
    /// Columns of B packed at once.
    const NC: usize = 1024;

    /// # Safety
    /// AVX2 and FMA are available, and the operands fit their shapes (checked by the caller).
    #[target_feature(enable = "avx2,fma")]
    #[allow(clippy::too_many_arguments)]
    pub(super) unsafe fn sgemm(
        m: usize,
        n: usize,
        k: usize,
        a: MatRef,
        b: MatRef,
        c: &mut [f32],
        c_rs: usize,
        accumulate: bool,
    ) {
        let mut a_pack = vec![0f32; MC.min(m.div_ceil(MR) * MR) * KC.min(k)];
        let mut b_pack = vec![0f32; NC.min(n.div_ceil(NR) * NR) * KC.min(k)];
        for jc in (0..n).step_by(NC) {
            let nc = NC.min(n - jc);
            for pc in (0..k).step_by(KC) {
                let kc = KC.min(k - pc);
                pack_b(b, pc, kc, jc, nc, &mut b_pack);
                let overwrite = pc == 0 && !accumulate;
                for ic in (0..m).step_by(MC) {
                    let mc = MC.min(m - ic);
                    pack_a(a, ic, mc, pc, kc, &mut a_pack);
                    for jr in (0..nc).step_by(NR) {
                        let nr = NR.min(nc - jr);
                        let b_panel = b_pack.as_ptr().add(jr * kc);
                        for ir in (0..mc).step_by(MR) {
                            let mr = MR.min(mc - ir);
                            let a_panel = a_pack.as_ptr().add(ir * kc);
                            let tile = c.as_mut_ptr().add((ic + ir) * c_rs + jc + jr);
                            kernel(kc, a_panel, b_panel, tile, c_rs, mr, nr, overwrite);
                        }
                    }
                }
            }
        }
    }

    /// Packs rows `i0..i0+mc`, depth `p0..p0+kc` of `a` into panels of MR rows, each
    /// stored depth-major (MR values per depth step), zero-padded to MR rows.
    #[target_feature(enable = "avx2,fma")]
    unsafe fn pack_a(a: MatRef, i0: usize, mc: usize, p0: usize, kc: usize, out: &mut [f32]) {
        for ir in (0..mc).step_by(MR) {
            let mr = MR.min(mc - ir);
            let panel = &mut out[ir * kc..(ir + MR) * kc];
            if mr < MR {
                panel.fill(0.0);
            }
            let base = a.data.as_ptr().add((i0 + ir) * a.rs + p0 * a.cs);
            if a.cs == 1 && mr == MR {
                // Rows are contiguous: 8 depth steps of the 6 rows at a time, transposed
                // in registers.
                let rows: [*const f32; MR] = std::array::from_fn(|i| base.add(i * a.rs));
                let dst = panel.as_mut_ptr();
                let mut p = 0;
                while p + 8 <= kc {
                    let mut block = [[0f32; 8]; MR];
                    for (i, r) in block.iter_mut().enumerate() {
                        _mm256_storeu_ps(r.as_mut_ptr(), _mm256_loadu_ps(rows[i].add(p)));
                    }
                    for q in 0..8 {
                        for (i, r) in block.iter().enumerate() {
                            *dst.add((p + q) * MR + i) = r[q];
                        }
                    }
                    p += 8;
                }
                for p in p..kc {
                    for (i, row) in rows.iter().enumerate() {
                        *dst.add(p * MR + i) = *row.add(p);
                    }
                }
            } else if a.cs == 1 {
                for i in 0..mr {
                    let row = base.add(i * a.rs);
                    for p in 0..kc {
                        *panel.get_unchecked_mut(p * MR + i) = *row.add(p);
                    }
                }
            } else {
                for p in 0..kc {
                    let col = base.add(p * a.cs);
                    for i in 0..mr {
                        *panel.get_unchecked_mut(p * MR + i) = *col.add(i * a.rs);
                    }
                }
            }
        }
    }

    /// Packs depth `p0..p0+kc`, columns `j0..j0+nc` of `b` into panels of NR columns, each
    /// stored depth-major (NR values per depth step), zero-padded to NR columns.
    #[target_feature(enable = "avx2,fma")]
    unsafe fn pack_b(b: MatRef, p0: usize, kc: usize, j0: usize, nc: usize, out: &mut [f32]) {
        for jr in (0..nc).step_by(NR) {
            let nr = NR.min(nc - jr);
            let panel = &mut out[jr * kc..(jr + NR) * kc];
            if nr < NR {
                panel.fill(0.0);
            }
            let base = b.data.as_ptr().add(p0 * b.rs + (j0 + jr) * b.cs);
            if b.rs == 1 {
                // Columns are contiguous (a transposed row-major weight): stream each.
                for j in 0..nr {
                    let col = base.add(j * b.cs);
                    for p in 0..kc {
                        *panel.get_unchecked_mut(p * NR + j) = *col.add(p);
                    }
                }
            } else if b.cs == 1 && nr == NR {
                // Rows are contiguous: two 8-lane copies per depth step (a `copy` call
                // per 64 bytes costs more than the copy).
                for p in 0..kc {
                    let row = base.add(p * b.rs);
                    let dst = panel.as_mut_ptr().add(p * NR);
                    _mm256_storeu_ps(dst, _mm256_loadu_ps(row));
                    _mm256_storeu_ps(dst.add(8), _mm256_loadu_ps(row.add(8)));
                }
            } else {
                for p in 0..kc {
                    for j in 0..nr {
                        *panel.get_unchecked_mut(p * NR + j) = *base.add(p * b.rs + j * b.cs);
                    }
                }
            }
        }
    }

    /// One MR×NR tile of C from packed panels; only its first `mr` rows and `nr` columns
    /// are written.
    #[target_feature(enable = "avx2,fma")]
    #[allow(clippy::too_many_arguments)]
    unsafe fn kernel(
        kc: usize,
        a: *const f32,
        b: *const f32,
        c: *mut f32,
        c_rs: usize,
        mr: usize,
        nr: usize,
        overwrite: bool,
    ) {
        let mut acc = [[_mm256_setzero_ps(); 2]; MR];
        for p in 0..kc {
            let b0 = _mm256_loadu_ps(b.add(p * NR));
            let b1 = _mm256_loadu_ps(b.add(p * NR + 8));
            for (i, row) in acc.iter_mut().enumerate() {
                let ai = _mm256_broadcast_ss(&*a.add(p * MR + i));
                row[0] = _mm256_fmadd_ps(ai, b0, row[0]);
                row[1] = _mm256_fmadd_ps(ai, b1, row[1]);
            }
        }
        if mr == MR && nr == NR {
            for (i, row) in acc.iter().enumerate() {
                let dst = c.add(i * c_rs);
                for (h, &v) in row.iter().enumerate() {
                    let d = dst.add(8 * h);
                    let v = if overwrite {
                        v
                    } else {
                        _mm256_add_ps(_mm256_loadu_ps(d), v)
                    };
                    _mm256_storeu_ps(d, v);
                }
            }
        } else {
            let mut tile = [0f32; MR * NR];
            for (i, row) in acc.iter().enumerate() {
                _mm256_storeu_ps(tile.as_mut_ptr().add(i * NR), row[0]);
                _mm256_storeu_ps(tile.as_mut_ptr().add(i * NR + 8), row[1]);
            }
            for i in 0..mr {
                for j in 0..nr {
                    let d = c.add(i * c_rs + j);
                    *d = if overwrite {
                        tile[i * NR + j]
                    } else {
                        *d + tile[i * NR + j]
                    };
                }
            }
        }
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

    /// Every shape class (edges of the tile, of the depth block and of the column block)
    /// and every operand layout, against an f64 triple loop.
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
