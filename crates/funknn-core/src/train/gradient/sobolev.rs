//! The Sobolev terms of the loss on the graph-free path: L1 on `∇u` and `Δu` besides `u`,
//! backpropagated by hand through the MLP's Laplacian jets.
//!
//! Forward, every layer maps the four parts `(u, ∂x, ∂y, Δ)` stacked as rows of one GEMM
//! (the bias on the value rows only) and applies the jet rule `a = σ(z)`, `a_x = σ′ z_x`,
//! `a_Δ = σ″ (z_x² + z_y²) + σ′ z_Δ`. Backward, the rule's transpose needs σ‴:
//! `dz = g σ′ + (g_x z_x + g_y z_y) σ″ + g_Δ (σ‴ (z_x² + z_y²) + σ″ z_Δ)`,
//! `dz_x = g_x σ′ + 2 g_Δ σ″ z_x`, `dz_Δ = g_Δ σ′`; then one GEMM per layer over all parts
//! for the weight and one for the input gradient. The receptive field moves every patch
//! sample, so its gradient needs each part's derivative along x and y: the sampler gives
//! `∂xx, ∂xy, ∂yy` and the third derivatives of the Laplacian directly.

use crate::config::Activation;
use crate::engine::host_network::{rule, rule3, Dense};
use crate::engine::sgemm::{sgemm, MatRef};
use crate::real::Real;
use crate::Result;

use super::{affine_backward, finish_dz, Grads, Step, Work};

/// The derivative targets of one batch on the host, with their loss weights.
pub(super) struct HostSobolev {
    /// `(N·P, C, 2)`.
    pub gradient: Vec<f32>,
    /// `(N·P, C)`.
    pub laplacian: Vec<f32>,
    /// dL/d(∂u) for a unit error sign: λ₁ / (side · 2·N·P·C).
    pub gradient_scale: f32,
    /// dL/d(Δu) for a unit error sign: λ₂ / (side² · N·P·C).
    pub laplacian_scale: f32,
    /// 1 / side.
    pub inv_side: f32,
}

/// The layers on the Laplacian jets of `input` `(4·len, in)`: `buf[2l]` the parts of layer
/// l's output, `buf[2l+1]` those of its pre-activation (hidden layers).
fn jet_forward(
    layers: &[Dense<f32>],
    activation: Activation,
    input: &[f32],
    len: usize,
    buf: &mut Vec<Vec<f32>>,
) {
    let n_layers = layers.len();
    let rows = 4 * len;
    buf.resize_with(2 * n_layers, Vec::new);
    for (l, layer) in layers.iter().enumerate() {
        let (done, rest) = buf.split_at_mut(2 * l);
        let x: &[f32] = if l == 0 { input } else { &done[2 * l - 2] };
        let (out, rest) = rest.split_at_mut(1);
        let out = &mut out[0];
        let f = layer.outputs;
        out.resize(rows * f, 0.0);
        sgemm(
            rows,
            f,
            layer.inputs,
            MatRef::rows(x, layer.inputs),
            MatRef::transposed(&layer.weight, layer.inputs),
            out,
            f,
            false,
        );
        for row in out[..len * f].chunks_exact_mut(f) {
            row.iter_mut().zip(&layer.bias).for_each(|(v, &b)| *v += b);
        }
        if l + 1 == n_layers {
            continue;
        }
        let z = &mut rest[0];
        z.clear();
        z.extend_from_slice(out);
        let n = len * f;
        let omega = layer.omega.unwrap_or(1.0);
        let (a0, r) = out.split_at_mut(n);
        let (a1, r) = r.split_at_mut(n);
        let (a2, a3) = r.split_at_mut(n);
        for e in 0..n {
            let (zv, zx, zy, zl) = (z[e], z[n + e], z[2 * n + e], z[3 * n + e]);
            let (s, s1, s2) = rule(activation, zv, omega);
            a0[e] = s;
            a1[e] = s1 * zx;
            a2[e] = s1 * zy;
            a3[e] = s2 * (zx * zx + zy * zy) + s1 * zl;
        }
    }
}

/// Backpropagates `grad` (dL/d output parts, `(4·len, out)`) through [`jet_forward`],
/// adding weight, bias and ω gradients to `g`; leaves dL/d input parts in `grad`.
#[allow(clippy::too_many_arguments)]
fn jet_backward(
    layers: &[Dense<f32>],
    activation: Activation,
    input: &[f32],
    len: usize,
    buf: &[Vec<f32>],
    grad: &mut Vec<f32>,
    next: &mut Vec<f32>,
    g: &mut Grads,
    transposed: &mut Vec<f32>,
) {
    let n_layers = layers.len();
    let rows = 4 * len;
    for l in (0..n_layers).rev() {
        let layer = &layers[l];
        let f = layer.outputs;
        if l + 1 < n_layers {
            let z = &buf[2 * l + 1];
            let n = len * f;
            let omega = layer.omega.unwrap_or(1.0);
            let mut domega = 0f64;
            for e in 0..n {
                let (g0, gx, gy, gl) = (grad[e], grad[n + e], grad[2 * n + e], grad[3 * n + e]);
                let (zv, zx, zy, zl) = (z[e], z[n + e], z[2 * n + e], z[3 * n + e]);
                let square = zx * zx + zy * zy;
                let along = gx * zx + gy * zy;
                let (s1, s2, s3) = if activation == Activation::Sin {
                    // σ(z) = sin(ωz): σ′ = ω cos, σ″ = −ω² sin, σ‴ = −ω³ cos, and each
                    // part's derivative with respect to ω.
                    let (sn, cs) = Real::sin_cos(omega * zv);
                    let d1 = cs - omega * zv * sn;
                    let d2 = -2.0 * omega * sn - omega * omega * zv * cs;
                    domega += (g0 * zv * cs + along * d1 + gl * (d2 * square + d1 * zl)) as f64;
                    (omega * cs, -omega * omega * sn, -omega * omega * omega * cs)
                } else {
                    rule3(activation, zv)
                };
                grad[e] = g0 * s1 + along * s2 + gl * (s3 * square + s2 * zl);
                grad[n + e] = gx * s1 + 2.0 * gl * s2 * zx;
                grad[2 * n + e] = gy * s1 + 2.0 * gl * s2 * zy;
                grad[3 * n + e] = gl * s1;
            }
            g.omega[l] += domega;
        }
        // The bias takes part in the value rows only.
        for row in grad[..len * f].chunks_exact(f) {
            g.bias[l].iter_mut().zip(row).for_each(|(b, &v)| *b += v);
        }
        let mut unused = vec![0f32; f];
        finish_dz(grad, None, rows, f, &mut unused, transposed);
        let x: &[f32] = if l == 0 { input } else { &buf[2 * l - 2] };
        affine_backward(layer, rows, x, transposed, &mut g.weight[l], grad, next);
    }
}

/// `+scale`, `−scale` or 0 by the sign of `e`.
#[inline(always)]
fn signed(e: f32, scale: f32) -> f32 {
    if e > 0.0 {
        scale
    } else if e < 0.0 {
        -scale
    } else {
        0.0
    }
}

impl Step<'_> {
    /// Adds the gradient of one chunk of points under the loss with derivative terms to
    /// `g` (an MLP network).
    pub(super) fn sobolev_chunk(
        &self,
        layers: &[Dense<f32>],
        sob: &HostSobolev,
        start: usize,
        len: usize,
        g: &mut Grads,
        work: &mut Work,
    ) -> Result<()> {
        let sampler = self.model.sampler();
        let c = self.model.config().channels;
        let w = sampler.patch_size();
        let cww = c * w * w;
        let pts = &self.points[start..start + len];
        let mut patch = std::mem::take(&mut work.patch);
        sampler.sample_host_sobolev_into(self.images, pts, &mut patch)?;
        let centre = (w / 2) * w + w / 2;
        let jet_len = 4 * len * cww;
        // The skip of every part: its patch centre, `(4, len, C)`.
        let skip: Vec<f32> = patch[..jet_len]
            .chunks_exact(w * w)
            .map(|s| s[centre])
            .collect();
        let mut input = std::mem::take(&mut work.input);
        input.clear();
        input.extend_from_slice(&patch[..jet_len]);
        if self.centred {
            for sample in input.chunks_exact_mut(w * w) {
                let v = sample[centre];
                sample.iter_mut().for_each(|s| *s -= v);
                sample[centre] = v;
            }
        }
        jet_forward(layers, self.activation, &input, len, &mut work.dense);
        let out = &work.dense[2 * layers.len() - 2];
        let mut grad = std::mem::take(&mut work.grad);
        grad.clear();
        grad.resize(4 * len * c, 0.0);
        let part = len * c;
        let lap_norm = sob.inv_side * sob.inv_side;
        for i in 0..part {
            let at = start * c + i;
            let u = |k: usize| out[k * part + i] + skip[k * part + i];
            let e = u(0) - self.targets[at];
            g.abs_error += e.abs() as f64;
            g.abs_interpolation_error += (skip[i] - self.targets[at]).abs() as f64;
            grad[i] = signed(e, self.scale);
            for axis in 0..2 {
                let target = sob.gradient[2 * at + axis];
                let e = (u(1 + axis) - target) * sob.inv_side;
                g.abs_gradient_error += e.abs() as f64;
                let interpolation = (skip[(1 + axis) * part + i] - target) * sob.inv_side;
                g.abs_interpolation_gradient_error += interpolation.abs() as f64;
                grad[(1 + axis) * part + i] = signed(e, sob.gradient_scale);
            }
            let e = (u(3) - sob.laplacian[at]) * lap_norm;
            g.abs_laplacian_error += e.abs() as f64;
            let interpolation = (skip[3 * part + i] - sob.laplacian[at]) * lap_norm;
            g.abs_interpolation_laplacian_error += interpolation.abs() as f64;
            grad[3 * part + i] = signed(e, sob.laplacian_scale);
        }
        jet_backward(
            layers,
            self.activation,
            &input,
            len,
            &work.dense,
            &mut grad,
            &mut work.next,
            g,
            &mut work.transposed,
        );
        // The receptive field: part k of sample (i, q) sits at x + ws1·δx_q, y + ws2·δy_i,
        // so its ws1-derivative is its own x-derivative times δx_q (and the centre sample,
        // at δ = 0, does not move: centring changes nothing here).
        let n = len * cww;
        let p = |k: usize| &patch[k * n..(k + 1) * n];
        let gp = |k: usize| &grad[k * n..(k + 1) * n];
        let (g0, g1, g2, g3) = (gp(0), gp(1), gp(2), gp(3));
        let (px, py, pxx, pxy, pyy, plx, ply) = (p(1), p(2), p(4), p(5), p(6), p(7), p(8));
        let (mut d1, mut d2) = (0f64, 0f64);
        for e in 0..n {
            let (q, i) = (e % w, (e / w) % w);
            let along_x = g0[e] * px[e] + g1[e] * pxx[e] + g2[e] * pxy[e] + g3[e] * plx[e];
            let along_y = g0[e] * py[e] + g1[e] * pxy[e] + g2[e] * pyy[e] + g3[e] * ply[e];
            d1 += along_x as f64 * self.dx[q];
            d2 += along_y as f64 * self.dy[i];
        }
        g.ws[0] += d1;
        g.ws[1] += d2;
        work.grad = grad;
        work.patch = patch;
        work.input = input;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// σ‴ (and σ″) of every activation against central differences of the jet rule's σ″.
    #[test]
    fn third_derivatives_match_finite_differences() {
        for activation in [
            Activation::Tanh,
            Activation::Silu,
            Activation::Gelu,
            Activation::Sin,
        ] {
            for z in [-2.3f64, -0.7, 0.1, 0.9, 1.8] {
                let h = 1e-4;
                let d2 = |z: f64| rule(activation, z, 1.0).2;
                let fd3 = (d2(z + h) - d2(z - h)) / (2.0 * h);
                let (s1, s2, s3) = rule3(activation, z as f32);
                let (_, e1, e2) = rule(activation, z, 1.0);
                assert!((s1 as f64 - e1).abs() < 1e-5, "{activation} σ′ at {z}");
                assert!((s2 as f64 - e2).abs() < 1e-5, "{activation} σ″ at {z}");
                assert!(
                    (s3 as f64 - fd3).abs() < 1e-4,
                    "{activation} σ‴ at {z}: {s3} vs {fd3}"
                );
            }
        }
    }
}
