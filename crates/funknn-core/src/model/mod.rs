//! The FunkNN model (patch sampler, patch network, skip to the patch centre) and its model
//! folders: `config.json` + `model.safetensors`, and official checkpoint import.

pub(crate) mod funknn;
pub(crate) mod weights;

pub use funknn::{EvalOptions, FunkNN, PatchNetwork};
pub use weights::{read_tensors, CONFIG_FILE, WEIGHTS_FILE};
