//! The forward kernel of the 3×3 'same' convolution by Winograd's minimal filtering
//! F(2×2, 3×3) (Lavin & Gray 2016): each 2×2 block of outputs from a 4×4 block of inputs
//! with 16 products per channel pair instead of 36, as 16 matrix products over all blocks.
//!
//! The autoencoder's wide layers spend most of a training step in the convolution's
//! products; this does 2.25× fewer multiply-adds than im2col for the forward pass and for
//! the input gradient (the same op with the kernel turned). The transforms only add and
//! halve; the tests hold f32 to 1e-5 of the values' scale against im2col, and the official
//! decoders' golden outputs still match to 1e-5. Measured here (2 cores): decoding 64
//! latents at 64² 760 → 610 ms, an autoencoder training step at 64² 5–6 % faster (its
//! weight gradient stays im2col). The transforms, not the products, now cost the most of
//! what is left to gain.

use crate::matmul::{matmul, Float};

use super::im2col::{activate, Dims};
use super::threads::{self, inner_threads, threads};

/// Fewest input and output channels for the Winograd kernel (a guess, not tuned: the
/// transforms' cost per product grows as the channels shrink).
pub(crate) const MIN_CHANNELS: usize = 16;

/// Output blocks per matrix product: images are grouped until their blocks fill this many.
const BLOCKS: usize = 1024;

/// Elements between consecutive planes `ξ` of the transformed inputs and outputs beyond
/// their size, so that the transforms' 16 streams do not lie a power of two apart, on the
/// same cache sets (a precaution: no difference was measurable).
const PLANE_PAD: usize = 80;

/// Elements from one plane `ξ` of a `(16, rows, blocks)` array to the next.
fn plane(rows: usize, blocks: usize) -> usize {
    rows * blocks + PLANE_PAD
}

/// Whether the Winograd kernel takes a convolution of these sizes.
pub(crate) fn applies(d: &Dims) -> bool {
    d.cin >= MIN_CHANNELS && d.cout >= MIN_CHANNELS && d.h >= 2 && d.w >= 2
}

/// `U = G g Gᵀ` for every kernel, stored `(16, cout, cin)`: component `ξ = 4i + j` of the
/// transformed kernel of output channel `o` and input channel `c` at `[ξ][o][c]`.
fn transform_kernels<T: Float>(w: &[T], d: &Dims) -> Vec<T> {
    let half = T::from_f64(0.5);
    let mut u = vec![T::zero(); 16 * d.cout * d.cin];
    for o in 0..d.cout {
        for c in 0..d.cin {
            let g = &w[(o * d.cin + c) * 9..][..9];
            // G = [[1, 0, 0], [½, ½, ½], [½, −½, ½], [0, 0, 1]]; rows first (G g), then
            // columns ((G g) Gᵀ).
            let mut gg = [[T::zero(); 3]; 4];
            for col in 0..3 {
                let (a, b, c2) = (g[col], g[3 + col], g[6 + col]);
                gg[0][col] = a;
                gg[1][col] = (a + b + c2) * half;
                gg[2][col] = (a - b + c2) * half;
                gg[3][col] = c2;
            }
            for (i, row) in gg.iter().enumerate() {
                let (a, b, c2) = (row[0], row[1], row[2]);
                let t = [a, (a + b + c2) * half, (a - b + c2) * half, c2];
                for (j, &v) in t.iter().enumerate() {
                    u[((4 * i + j) * d.cout + o) * d.cin + c] = v;
                }
            }
        }
    }
    u
}

/// Scratch of the input transform: one zero-padded channel and its rows transformed.
struct InputScratch<T> {
    /// `(2·th + 2, 2·tw + 2)`: the channel with a zero border (and a zero row and column
    /// more where the side is odd).
    pad: Vec<T>,
    /// Even and odd columns of one padded row.
    even: Vec<T>,
    odd: Vec<T>,
    /// `d B` of every padded row: `(2·th + 2, 4, tw)`.
    rows: Vec<T>,
}

impl<T: Float> InputScratch<T> {
    fn new((th, tw): (usize, usize)) -> Self {
        InputScratch {
            pad: vec![T::zero(); (2 * th + 2) * (2 * tw + 2)],
            even: vec![T::zero(); tw + 1],
            odd: vec![T::zero(); tw + 1],
            rows: vec![T::zero(); (2 * th + 2) * 4 * tw],
        }
    }
}

/// Compiles `$any` again for AVX2 as `$avx2`, and `$name` picks it where the CPU has it:
/// the transforms are short loops of additions along rows, 8 lanes wide with AVX2 against
/// SSE2's 4. The same additions either way, so the same bits.
macro_rules! dispatch_avx2 {
    ($name:ident, $avx2:ident, $any:ident, ($($arg:ident: $ty:ty),*)) => {
        #[allow(clippy::too_many_arguments)]
        fn $name<T: Float>($($arg: $ty),*) {
            #[cfg(target_arch = "x86_64")]
            if std::arch::is_x86_feature_detected!("avx2") {
                // SAFETY: the CPU has AVX2.
                return unsafe { $avx2($($arg),*) };
            }
            $any($($arg),*)
        }

        #[cfg(target_arch = "x86_64")]
        #[target_feature(enable = "avx2")]
        #[allow(clippy::too_many_arguments)]
        unsafe fn $avx2<T: Float>($($arg: $ty),*) {
            $any($($arg),*)
        }
    };
}

dispatch_avx2!(
    transform_inputs,
    transform_inputs_avx2,
    transform_inputs_any,
    (
        x: &[T],
        g: usize,
        d: &Dims,
        tiles: (usize, usize),
        s: &mut InputScratch<T>,
        v: &mut [T]
    )
);

dispatch_avx2!(
    transform_outputs,
    transform_outputs_avx2,
    transform_outputs_any,
    (
        m: &[T],
        g: usize,
        d: &Dims,
        tiles: (usize, usize),
        bias: &[T],
        relu: bool,
        rows: &mut [T],
        y: &mut [T]
    )
);

/// `V = Bᵀ d B` of every 4×4 input block of images `x` (`g` images), stored
/// `(16, cin, blocks)` (planes [`plane`] apart), block `b·th·tw + ty·tw + tx` reading rows
/// `2ty − 1 ..= 2ty + 2` and columns `2tx − 1 ..= 2tx + 2` (zero outside the image). Both
/// halves of the transform run along whole rows, so that every loop is contiguous and
/// vectorises.
#[inline(always)]
fn transform_inputs_any<T: Float>(
    x: &[T],
    g: usize,
    d: &Dims,
    (th, tw): (usize, usize),
    s: &mut InputScratch<T>,
    v: &mut [T],
) {
    let (h, w, hw) = (d.h, d.w, d.pixels());
    let (ph, pw) = (2 * th + 2, 2 * tw + 2);
    let blocks = g * th * tw;
    let vp = plane(d.cin, blocks);
    s.pad.fill(T::zero());
    for b in 0..g {
        for c in 0..d.cin {
            let src = &x[(b * d.cin + c) * hw..][..hw];
            // Only the interior is written: the border stays zero for every channel.
            for y in 0..h {
                s.pad[(y + 1) * pw + 1..][..w].copy_from_slice(&src[y * w..][..w]);
            }
            // d B along each row, Bᵀ = [[1, 0, −1, 0], [0, 1, 1, 0], [0, −1, 1, 0],
            // [0, 1, 0, −1]]: block tx reads columns 2tx .. 2tx + 3 of the padded row.
            for r in 0..ph {
                let row = &s.pad[r * pw..][..pw];
                for ((e, o), px) in s.even.iter_mut().zip(&mut s.odd).zip(row.chunks_exact(2)) {
                    *e = px[0];
                    *o = px[1];
                }
                let out = &mut s.rows[r * 4 * tw..][..4 * tw];
                let (o0, rest) = out.split_at_mut(tw);
                let (o1, rest) = rest.split_at_mut(tw);
                let (o2, o3) = rest.split_at_mut(tw);
                let (e0, e1) = (&s.even[..tw], &s.even[1..]);
                let (d0, d1) = (&s.odd[..tw], &s.odd[1..]);
                for t in 0..tw {
                    o0[t] = e0[t] - e1[t];
                    o1[t] = d0[t] + e1[t];
                    o2[t] = e1[t] - d0[t];
                    o3[t] = d0[t] - d1[t];
                }
            }
            // Bᵀ (d B) down each column of blocks.
            for ty in 0..th {
                let first = (b * th + ty) * tw;
                for j in 0..4 {
                    let row = |r: usize| &s.rows[((2 * ty + r) * 4 + j) * tw..][..tw];
                    let (r0, r1, r2, r3) = (row(0), row(1), row(2), row(3));
                    let at = |i: usize| (4 * i + j) * vp + c * blocks + first;
                    for ((o, &a), &b) in v[at(0)..][..tw].iter_mut().zip(r0).zip(r2) {
                        *o = a - b;
                    }
                    for ((o, &a), &b) in v[at(1)..][..tw].iter_mut().zip(r1).zip(r2) {
                        *o = a + b;
                    }
                    for ((o, &a), &b) in v[at(2)..][..tw].iter_mut().zip(r2).zip(r1) {
                        *o = a - b;
                    }
                    for ((o, &a), &b) in v[at(3)..][..tw].iter_mut().zip(r1).zip(r3) {
                        *o = a - b;
                    }
                }
            }
        }
    }
}

/// `Y = Aᵀ M A` of every block of `m` (`(16, cout, blocks)`, planes [`plane`] apart), with
/// the bias and the activation, into `y` (`g` images, `(cout, h, w)` each). `rows` is
/// scratch of `8·tw`.
#[allow(clippy::too_many_arguments)]
#[inline(always)]
fn transform_outputs_any<T: Float>(
    m: &[T],
    g: usize,
    d: &Dims,
    (th, tw): (usize, usize),
    bias: &[T],
    relu: bool,
    rows: &mut [T],
    y: &mut [T],
) {
    let (h, w, hw) = (d.h, d.w, d.pixels());
    let blocks = g * th * tw;
    let stride = plane(d.cout, blocks);
    for b in 0..g {
        for o in 0..d.cout {
            let out = &mut y[(b * d.cout + o) * hw..][..hw];
            for ty in 0..th {
                let first = o * blocks + (b * th + ty) * tw;
                // Aᵀ = [[1, 1, 1, 0], [0, 1, −1, −1]] down the columns: rows 0 and 1 of
                // Aᵀ M for each column j of the blocks, `rows[(2j + i)·tw ..]`.
                for j in 0..4 {
                    let e = |i: usize| &m[(4 * i + j) * stride + first..][..tw];
                    let (e0, e1, e2, e3) = (e(0), e(1), e(2), e(3));
                    let (top, bottom) = rows[2 * j * tw..][..2 * tw].split_at_mut(tw);
                    for t in 0..tw {
                        top[t] = e0[t] + e1[t] + e2[t];
                        bottom[t] = e1[t] - e2[t] - e3[t];
                    }
                }
                // Then along the rows: output columns 2tx and 2tx + 1.
                for i in 0..2 {
                    let yy = 2 * ty + i;
                    if yy >= h {
                        break;
                    }
                    let r = |j: usize| &rows[(2 * j + i) * tw..][..tw];
                    let (r0, r1, r2, r3) = (r(0), r(1), r(2), r(3));
                    let line = &mut out[yy * w..][..w];
                    for (t, px) in line.chunks_mut(2).enumerate() {
                        px[0] = r0[t] + r1[t] + r2[t];
                        if let Some(second) = px.get_mut(1) {
                            *second = r1[t] - r2[t] - r3[t];
                        }
                    }
                }
            }
            activate(out, bias[o], relu);
        }
    }
}

/// `y = conv(x, w) + b`, then `max(y, 0)` if `relu`, as [`super::im2col`]'s forward
/// kernel computes it: `x` `(N, cin, h, w)`, `w` `(cout, cin, 3, 3)`, `b` `(cout)`.
pub(crate) fn forward<T: Float>(x: &[T], w: &[T], bias: &[T], relu: bool, d: &Dims) -> Vec<T> {
    let hw = d.pixels();
    if d.n * d.cout * hw == 0 {
        return Vec::new();
    }
    let (th, tw) = (d.h.div_ceil(2), d.w.div_ceil(2));
    let group = threads::group(BLOCKS, th * tw, d.n);
    let t = threads(d.n.div_ceil(group));
    let inner = inner_threads(t);
    let u = transform_kernels(w, d);
    let per_image = d.cout * hw;
    // Scratch per thread: the padded channel, the rows, and both transformed arrays.
    let init = || {
        let blocks = group * th * tw;
        (
            InputScratch::new((th, tw)),
            vec![T::zero(); 8 * tw],
            vec![T::zero(); 16 * plane(d.cin, blocks)],
            vec![T::zero(); 16 * plane(d.cout, blocks)],
        )
    };
    let run = |(scratch, rows, v, m): &mut (InputScratch<T>, Vec<T>, Vec<T>, Vec<T>),
               first: usize,
               y: &mut [T]| {
        let images = y.len() / per_image;
        let mut b = 0;
        while b < images {
            let g = group.min(images - b);
            let nb = g * th * tw;
            let xs = &x[(first + b) * d.cin * hw..][..g * d.cin * hw];
            transform_inputs(xs, g, d, (th, tw), scratch, v);
            let (vp, mp) = (plane(d.cin, nb), plane(d.cout, nb));
            for k in 0..16 {
                matmul(
                    d.cout,
                    nb,
                    d.cin,
                    (&u[k * d.cout * d.cin..], d.cin, 1),
                    (&v[k * vp..], nb, 1),
                    &mut m[k * mp..][..d.cout * nb],
                    nb,
                    false,
                    inner,
                );
            }
            let ys = &mut y[b * per_image..][..g * per_image];
            transform_outputs(m, g, d, (th, tw), bias, relu, rows, ys);
            b += g;
        }
    };
    // One group of images a task.
    threads::build_with(d.n, per_image, group, t, init, run)
}
