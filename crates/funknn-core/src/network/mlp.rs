//! The official repository's patch MLP, and the MLP head of the CNN.

use candle_core::Tensor;
use candle_nn::VarBuilder;

use crate::config::Activation;
use crate::jet::Jet;
use crate::network::activation::activate_jet;
use crate::network::linear::Linear;
use crate::Result;

/// Hidden widths of the patch MLP (official `network='MLP'`).
pub const PATCH_MLP_HIDDEN: [usize; 9] = [512, 512, 256, 256, 128, 128, 64, 64, 64];
/// Hidden widths of the CNN's head.
pub const CNN_HEAD_HIDDEN: [usize; 3] = [64, 64, 64];

/// Layers `MLP.{i}` and, for the sine activation, frequencies `w.{i}`.
#[derive(Debug, Clone)]
pub struct Mlp {
    layers: Vec<Linear>,
    omegas: Vec<Tensor>,
    activation: Activation,
}

/// Shapes of an MLP's layers: `(in, out)` per layer.
pub fn layer_dims(input: usize, hidden: &[usize], output: usize) -> Vec<(usize, usize)> {
    let mut dims = Vec::with_capacity(hidden.len() + 1);
    let mut prev = input;
    for &h in hidden.iter().chain(std::iter::once(&output)) {
        dims.push((prev, h));
        prev = h;
    }
    dims
}

impl Mlp {
    /// `vb` is the model root: layers are read from `MLP.{i}` and frequencies from `w.{i}`.
    pub fn new(
        input: usize,
        hidden: &[usize],
        output: usize,
        activation: Activation,
        vb: VarBuilder,
    ) -> Result<Self> {
        let dims = layer_dims(input, hidden, output);
        let layers = dims
            .iter()
            .enumerate()
            .map(|(i, &(a, b))| Linear::new(a, b, vb.pp(format!("MLP.{i}"))))
            .collect::<Result<Vec<_>>>()?;
        let omegas = if activation == Activation::Sin {
            (0..dims.len())
                .map(|i| Ok(vb.get(1, &format!("w.{i}"))?))
                .collect::<Result<Vec<_>>>()?
        } else {
            Vec::new()
        };
        Ok(Mlp {
            layers,
            omegas,
            activation,
        })
    }

    pub fn layers(&self) -> &[Linear] {
        &self.layers
    }

    /// The learnable frequencies ω of the sine activation (empty for other activations).
    pub fn omegas(&self) -> &[Tensor] {
        &self.omegas
    }

    pub fn activation(&self) -> Activation {
        self.activation
    }

    /// Maps a jet `(K, B, input)` to `(K, B, output)`.
    pub fn forward_jet(&self, x: &Jet) -> Result<Jet> {
        let last = self.layers.len() - 1;
        let mut x = x.clone();
        for (i, layer) in self.layers.iter().enumerate() {
            let pre = layer.forward_parts(&x)?;
            x = if i == last {
                pre.add_to_value(layer.bias())?
            } else {
                activate_jet(
                    self.activation,
                    &pre,
                    Some(layer.bias()),
                    self.omegas.get(i),
                )?
            };
        }
        Ok(x)
    }
}
