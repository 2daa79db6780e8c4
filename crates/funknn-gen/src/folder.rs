//! Model folders (`config.json` + `model.safetensors`, the layout of a hub repo): reading
//! and writing them, for the generator and the feature classifier alike.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use candle_core::{Device, Tensor};
use serde::de::DeserializeOwned;
use serde::Serialize;

use crate::{Error, Result};

/// File name of the architecture inside a model folder.
pub const CONFIG_FILE: &str = "config.json";

/// File name of the weights inside a model folder.
pub const WEIGHTS_FILE: &str = "model.safetensors";

/// A folder's config and tensors, and where the tensors came from (for error messages).
pub(crate) struct FolderContents<C> {
    pub config: C,
    pub tensors: HashMap<String, Tensor>,
    pub weights: PathBuf,
}

/// Reads `dir/config.json` and `dir/model.safetensors`.
pub(crate) fn read_folder<C: DeserializeOwned>(dir: &Path) -> Result<FolderContents<C>> {
    let path = dir.join(CONFIG_FILE);
    let text = std::fs::read_to_string(&path).map_err(|error| Error::Io {
        path: path.clone(),
        error,
    })?;
    let config = serde_json::from_str(&text).map_err(|error| Error::Config { path, error })?;
    let weights = dir.join(WEIGHTS_FILE);
    let tensors = funknn_core::read_tensors(&weights)?;
    Ok(FolderContents {
        config,
        tensors,
        weights,
    })
}

/// The same from the two files' bytes (an embedded model); `name` stands for the folder.
pub(crate) fn parse_folder<C: DeserializeOwned>(
    config_json: &str,
    weights: &[u8],
    name: &str,
) -> Result<FolderContents<C>> {
    let origin = PathBuf::from(name);
    let config = serde_json::from_str(config_json).map_err(|error| Error::Config {
        path: origin.join(CONFIG_FILE),
        error,
    })?;
    let tensors = candle_core::safetensors::load_buffer(weights, &Device::Cpu).map_err(|e| {
        Error::Weights {
            path: origin.join(WEIGHTS_FILE),
            message: format!("not a readable safetensors buffer: {e}"),
        }
    })?;
    Ok(FolderContents {
        config,
        tensors,
        weights: origin.join(WEIGHTS_FILE),
    })
}

/// Writes `dir/model.safetensors` then `dir/config.json`, each atomically.
pub(crate) fn write_folder<C: Serialize>(
    dir: &Path,
    config: &C,
    tensors: &HashMap<String, Tensor>,
) -> Result<()> {
    std::fs::create_dir_all(dir).map_err(|error| Error::Io {
        path: dir.to_path_buf(),
        error,
    })?;
    funknn_core::write_atomic(&dir.join(WEIGHTS_FILE), |tmp| {
        Ok(candle_core::safetensors::save(tensors, tmp)?)
    })?;
    let json = serde_json::to_string_pretty(config).map_err(|error| Error::Config {
        path: dir.join(CONFIG_FILE),
        error,
    })?;
    funknn_core::write_atomic(&dir.join(CONFIG_FILE), |tmp| {
        std::fs::write(tmp, json.as_bytes()).map_err(|e| funknn_core::Error::Invalid {
            what: "config.json",
            message: format!("{}: {e}", tmp.display()),
        })
    })?;
    Ok(())
}
