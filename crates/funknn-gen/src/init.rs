//! Reproducible initialisation of a fresh model's variables.

use std::collections::HashMap;

use candle_core::{Device, Tensor, Var};
use candle_nn::VarMap;

use crate::Result;

/// Sets every variable of `varmap` as PyTorch initialises linear and convolution layers
/// (uniform, bound `1/√fan_in` of the layer's weight), in name order from `seed`, or to zero
/// where `zero(name)`. Returns the variables by name.
pub(crate) fn init_uniform(
    varmap: &VarMap,
    seed: u64,
    device: &Device,
    zero: impl Fn(&str) -> bool,
) -> Result<HashMap<String, Var>> {
    let mut rng = funknn_core::Rng::new(seed);
    let vars = varmap
        .data()
        .lock()
        .expect("the var map is not shared yet")
        .clone();
    let mut names: Vec<&String> = vars.keys().collect();
    names.sort();
    let fan_in = |name: &str| -> usize {
        let weight = name
            .rsplit_once('.')
            .map_or(name.to_string(), |(p, _)| format!("{p}.weight"));
        vars.get(&weight).map_or(1, |w| {
            w.as_tensor().elem_count() / w.as_tensor().dim(0).unwrap_or(1).max(1)
        })
    };
    for name in names {
        let var = &vars[name];
        let n = var.as_tensor().elem_count();
        let values: Vec<f64> = if zero(name) {
            vec![0.0; n]
        } else {
            let bound = 1.0 / (fan_in(name) as f64).sqrt();
            (0..n).map(|_| rng.uniform_in(-bound, bound)).collect()
        };
        let t = Tensor::from_vec(values, var.as_tensor().shape(), device)?
            .to_dtype(var.as_tensor().dtype())?;
        var.set(&t)?;
    }
    Ok(vars)
}
