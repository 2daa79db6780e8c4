//! Model folders (`config.json` + `model.safetensors`) and official checkpoint import.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use candle_core::{DType, Device, Tensor};

use crate::config::Config;
use crate::fs::write_atomic;
use crate::hub::HubOptions;
use crate::model::funknn::FunkNN;
use crate::{Error, Result};

/// File name of the weights inside a model folder.
pub const WEIGHTS_FILE: &str = "model.safetensors";
/// File name of the architecture inside a model folder.
pub const CONFIG_FILE: &str = "config.json";

/// Reads named tensors from a `.safetensors` file or a PyTorch pickle (`.pt`, `.pth`,
/// `.bin`). Pickles may hold the state dict itself or `{'model_state_dict': ...}` (the
/// official checkpoints). A common prefix such as `param.` is stripped when the plain names
/// are absent.
pub fn read_tensors(path: &Path) -> Result<HashMap<String, Tensor>> {
    if !path.is_file() {
        return Err(Error::io(
            path,
            std::io::Error::new(std::io::ErrorKind::NotFound, "no such file"),
        ));
    }
    let weights_err = |message: String| Error::Weights {
        path: path.to_owned(),
        message,
    };
    let ext = path
        .extension()
        .map(|e| e.to_string_lossy().to_ascii_lowercase())
        .unwrap_or_default();
    let tensors: HashMap<String, Tensor> = if ext == "safetensors" {
        candle_core::safetensors::load(path, &Device::Cpu)
            .map_err(|e| weights_err(format!("not a readable safetensors file: {e}")))?
    } else if matches!(ext.as_str(), "pt" | "pth" | "bin" | "ckpt") {
        let with_key = candle_core::pickle::read_all_with_key(path, Some("model_state_dict"));
        let list = match with_key {
            Ok(list) if !list.is_empty() => list,
            _ => candle_core::pickle::read_all(path)
                .map_err(|e| weights_err(format!("not a readable PyTorch checkpoint: {e}")))?,
        };
        list.into_iter().collect()
    } else {
        return Err(weights_err(format!(
            "unknown weights format {ext:?}: expected .safetensors or .pt"
        )));
    };
    Ok(strip_prefix(tensors))
}

/// If `ws1` is only present under a prefix (`param.ws1`, `module.ws1`), keeps the tensors
/// under that prefix with the prefix removed.
fn strip_prefix(tensors: HashMap<String, Tensor>) -> HashMap<String, Tensor> {
    if tensors.contains_key("ws1") {
        return tensors;
    }
    let Some(prefix) = tensors.keys().find_map(|k| {
        k.strip_suffix("ws1")
            .filter(|p| p.ends_with('.'))
            .map(str::to_owned)
    }) else {
        return tensors;
    };
    tensors
        .into_iter()
        .filter_map(|(k, v)| k.strip_prefix(&prefix).map(|s| (s.to_owned(), v)))
        .collect()
}

impl FunkNN {
    /// Loads a model from memory: the text of its `config.json` and the bytes of its
    /// `model.safetensors`, e.g. weights embedded in a binary with `include_bytes!`. `name`
    /// says where they come from in error messages.
    pub fn from_bytes(
        config_json: &str,
        safetensors: &[u8],
        dtype: DType,
        device: &Device,
        name: &str,
    ) -> Result<Self> {
        let origin = PathBuf::from(name);
        let config: Config = serde_json::from_str(config_json).map_err(|error| Error::Config {
            path: origin.join(CONFIG_FILE),
            error,
        })?;
        config.validate()?;
        let tensors =
            candle_core::safetensors::load_buffer(safetensors, &Device::Cpu).map_err(|e| {
                Error::Weights {
                    path: origin.join(WEIGHTS_FILE),
                    message: format!("not a readable safetensors buffer: {e}"),
                }
            })?;
        FunkNN::from_tensors(&config, tensors, dtype, device, &origin.join(WEIGHTS_FILE))
    }

    /// Loads a model folder: `config.json` and `model.safetensors`.
    pub fn load(dir: impl AsRef<Path>, dtype: DType, device: &Device) -> Result<Self> {
        Self::load_folder(dir.as_ref(), dtype, device)
    }

    /// Loads `spec`: a model folder, or a hub repo id `owner/name[@revision]` fetched into
    /// (or, offline, read from) the hub cache; see [`crate::hub`].
    pub fn load_from(spec: &str, hub: &HubOptions, dtype: DType, device: &Device) -> Result<Self> {
        let dir = crate::hub::resolve(spec, &[CONFIG_FILE, WEIGHTS_FILE], hub)?;
        Self::load_folder(&dir, dtype, device)
    }

    fn load_folder(dir: &Path, dtype: DType, device: &Device) -> Result<Self> {
        let config = Config::load(dir.join(CONFIG_FILE))?;
        let weights = dir.join(WEIGHTS_FILE);
        let tensors = read_tensors(&weights)?;
        FunkNN::from_tensors(&config, tensors, dtype, device, &weights)
    }

    /// Imports weights (official `.pt` checkpoint or `.safetensors`) for the architecture in
    /// `config`, checking every tensor's name and shape.
    pub fn import(
        path: impl AsRef<Path>,
        config: &Config,
        dtype: DType,
        device: &Device,
    ) -> Result<Self> {
        let path = path.as_ref();
        let tensors = read_tensors(path)?;
        FunkNN::from_tensors(config, tensors, dtype, device, path)
    }

    /// Writes the model folder `dir` (created if needed): `config.json` and
    /// `model.safetensors` with tensors stored as `storage` (F32, F16 or F64). Each file is
    /// written atomically.
    pub fn save(&self, dir: impl AsRef<Path>, storage: DType) -> Result<()> {
        let dir = dir.as_ref();
        std::fs::create_dir_all(dir).map_err(|e| Error::io(dir, e))?;
        let mut tensors = HashMap::new();
        for (name, t) in self.parameters() {
            tensors.insert(name.clone(), t.to_dtype(storage)?.to_device(&Device::Cpu)?);
        }
        write_atomic(&dir.join(WEIGHTS_FILE), |tmp| {
            candle_core::safetensors::save(&tensors, tmp).map_err(Error::from)
        })?;
        let json = self.config().to_json();
        write_atomic(&dir.join(CONFIG_FILE), |tmp| {
            std::fs::write(tmp, json.as_bytes()).map_err(|e| Error::io(tmp, e))
        })
    }
}
