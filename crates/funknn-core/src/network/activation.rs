//! Activations applied to jets: `v′ = σ′(z) z′`, `v″ = σ″(z) z′⊗z′ + σ′(z) z″`.

use candle_core::Tensor;

use crate::config::Activation;
use crate::jet::{Jet, JetOrder};
use crate::Result;

const FRAC_1_SQRT_2PI: f64 = 0.398_942_280_401_432_7;

/// `[σ(z), σ′(z), σ″(z)]` up to `degree`, for an activation with frequency `omega` (used by
/// `Sin` only: `σ(z) = sin(ω z)`; `None` means ω = 1).
fn derivatives(
    activation: Activation,
    z: &Tensor,
    omega: Option<&Tensor>,
    degree: usize,
) -> Result<Vec<Tensor>> {
    let mut out = Vec::with_capacity(degree + 1);
    match activation {
        Activation::Relu => {
            out.push(z.relu()?);
            if degree >= 1 {
                out.push(z.detach().gt(0.0)?.to_dtype(z.dtype())?);
            }
            if degree >= 2 {
                out.push(z.zeros_like()?);
            }
        }
        Activation::Sin => {
            let wz = match omega {
                Some(w) => z.broadcast_mul(w)?,
                None => z.clone(),
            };
            let s = wz.sin()?;
            out.push(s.clone());
            if degree >= 1 {
                let c = wz.cos()?;
                out.push(match omega {
                    Some(w) => c.broadcast_mul(w)?,
                    None => c,
                });
            }
            if degree >= 2 {
                out.push(match omega {
                    Some(w) => s.broadcast_mul(&w.sqr()?)?.neg()?,
                    None => s.neg()?,
                });
            }
        }
        Activation::Tanh => {
            let t = z.tanh()?;
            out.push(t.clone());
            if degree >= 1 {
                // 1 − tanh²
                let d1 = t.sqr()?.affine(-1.0, 1.0)?;
                if degree >= 2 {
                    let d2 = (t * &d1)?.affine(-2.0, 0.0)?;
                    out.push(d1);
                    out.push(d2);
                } else {
                    out.push(d1);
                }
            }
        }
        Activation::Silu => {
            // σ = z s, s = sigmoid(z); σ′ = s (1 + z (1 − s)); σ″ = s (1 − s) (2 + z (1 − 2s)).
            let s = candle_nn::ops::sigmoid(z)?;
            out.push((z * &s)?);
            if degree >= 1 {
                let one_minus = s.affine(-1.0, 1.0)?;
                out.push((&s * (z * &one_minus)?.affine(1.0, 1.0)?)?);
                if degree >= 2 {
                    let inner = (z * s.affine(-2.0, 1.0)?)?.affine(1.0, 2.0)?;
                    out.push(((&s * &one_minus)? * inner)?);
                }
            }
        }
        Activation::Gelu => {
            // σ = z Φ(z); σ′ = Φ(z) + z φ(z); σ″ = φ(z) (2 − z²).
            let cdf = (z * std::f64::consts::FRAC_1_SQRT_2)?
                .erf()?
                .affine(0.5, 0.5)?;
            out.push((z * &cdf)?);
            if degree >= 1 {
                let pdf = (z.sqr()? * -0.5)?.exp()?.affine(FRAC_1_SQRT_2PI, 0.0)?;
                out.push((&cdf + (z * &pdf)?)?);
                if degree >= 2 {
                    out.push((pdf * z.sqr()?.affine(-1.0, 2.0)?)?);
                }
            }
        }
    }
    Ok(out)
}

/// Applies `activation` to a pre-activation jet whose value part lacks `bias`; the bias
/// is added to the value here so that the layer's output needs one pass less.
pub fn activate_jet(
    activation: Activation,
    pre: &Jet,
    bias: Option<&Tensor>,
    omega: Option<&Tensor>,
) -> Result<Jet> {
    let order = pre.order();
    let mut z = pre.part(0)?;
    if let Some(b) = bias {
        z = z.broadcast_add(b)?;
    }
    let sig = derivatives(activation, &z, omega, order.degree())?;
    if order == JetOrder::Value {
        return Jet::new(sig[0].unsqueeze(0)?, order);
    }
    let k = order.parts();
    let firsts = pre.parts().narrow(0, 1, 2)?;
    // ReLU: σ′ is a 0/1 mask and σ″ = 0, so every derivative part is just masked.
    if activation == Activation::Relu {
        let rest = pre
            .parts()
            .narrow(0, 1, k - 1)?
            .broadcast_mul(&sig[1].unsqueeze(0)?)?;
        return Jet::new(Tensor::cat(&[sig[0].unsqueeze(0)?, rest], 0)?, order);
    }
    let d1 = sig[1].unsqueeze(0)?;
    let grad = firsts.broadcast_mul(&d1)?;
    let mut parts = vec![sig[0].unsqueeze(0)?, grad];
    if order.degree() >= 2 {
        let zx = pre.part(1)?;
        let zy = pre.part(2)?;
        let seconds = pre.parts().narrow(0, 3, k - 3)?.broadcast_mul(&d1)?;
        let d2 = &sig[2];
        let curvature = match order {
            JetOrder::Laplacian => (zx.sqr()? + zy.sqr()?)?.mul(d2)?.unsqueeze(0)?,
            _ => Tensor::stack(
                &[
                    zx.sqr()?.mul(d2)?,
                    (&zx * &zy)?.mul(d2)?,
                    zy.sqr()?.mul(d2)?,
                ],
                0,
            )?,
        };
        parts.push((seconds + curvature)?);
    }
    Jet::new(Tensor::cat(&parts, 0)?, order)
}

#[cfg(test)]
mod tests {
    use super::*;
    use candle_core::Device;

    #[test]
    fn derivatives_match_finite_differences() {
        let zs: Vec<f64> = (-20..20).map(|i| i as f64 * 0.173 + 0.01).collect();
        let h = 1e-5;
        let dev = Device::Cpu;
        let omega = Tensor::new(&[1.7f64], &dev).unwrap();
        for act in Activation::ALL {
            let eval = |shift: f64| {
                let z = Tensor::new(zs.as_slice(), &dev)
                    .unwrap()
                    .affine(1.0, shift)
                    .unwrap();
                derivatives(*act, &z, Some(&omega), 2)
                    .unwrap()
                    .iter()
                    .map(|t| t.to_vec1::<f64>().unwrap())
                    .collect::<Vec<_>>()
            };
            let (c, p, m) = (eval(0.0), eval(h), eval(-h));
            for i in 0..zs.len() {
                for order in 1..=2 {
                    let fd = (p[order - 1][i] - m[order - 1][i]) / (2.0 * h);
                    let got = c[order][i];
                    assert!(
                        (fd - got).abs() < 1e-5 * (1.0 + got.abs()),
                        "{act} order {order} at {}: {got} vs {fd}",
                        zs[i]
                    );
                }
            }
        }
    }
}
