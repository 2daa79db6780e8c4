//! Models by hub repo id, from a cache laid out as the Hugging Face hub lays it out
//! (`models--owner--name/refs/<revision>`, `snapshots/<commit>/<file>`), offline: no test
//! touches the network.

mod common;
use common::scratch;

use std::path::{Path, PathBuf};

use candle_core::{DType, Device};
use funknn_core::hub::{resolve, HubOptions, ModelSource};
use funknn_core::{Config, FunkNN, CONFIG_FILE, WEIGHTS_FILE};

const COMMIT: &str = "0123456789abcdef0123456789abcdef01234567";

/// A hub cache holding `owner/tiny` at `main` and tag `v1` (the same commit), with a model
/// saved by funknn; returns the cache and the model.
fn cache_with_model(root: &Path) -> (PathBuf, FunkNN) {
    let cache = root.join("hub");
    let repo = cache.join("models--owner--tiny");
    let snapshot = repo.join("snapshots").join(COMMIT);
    let config = Config {
        channels: 1,
        ..Config::default()
    };
    let (model, _) = FunkNN::random(&config, 3, DType::F32, &Device::Cpu).unwrap();
    model.save(&snapshot, DType::F32).unwrap();
    std::fs::create_dir_all(repo.join("refs")).unwrap();
    std::fs::write(repo.join("refs").join("main"), COMMIT).unwrap();
    std::fs::write(repo.join("refs").join("v1"), COMMIT).unwrap();
    (cache, model)
}

fn offline(cache: &Path) -> HubOptions {
    HubOptions {
        cache_dir: cache.to_path_buf(),
        offline: true,
    }
}

#[test]
fn a_repo_id_loads_from_the_cache_offline() {
    let dir = scratch("load");
    let (cache, saved) = cache_with_model(&dir.0);
    for spec in [
        "owner/tiny",
        "owner/tiny@main",
        "owner/tiny@v1",
        &format!("owner/tiny@{COMMIT}"),
    ] {
        let model = FunkNN::load_from(spec, &offline(&cache), DType::F32, &Device::Cpu).unwrap();
        assert_eq!(model.config(), saved.config(), "{spec}");
        for ((name, a), (_, b)) in model.parameters().iter().zip(saved.parameters()) {
            let diff: f32 = (a - b)
                .unwrap()
                .abs()
                .unwrap()
                .max_all()
                .unwrap()
                .to_scalar()
                .unwrap();
            assert_eq!(diff, 0.0, "{spec}: {name}");
        }
    }
    // A folder that exists is a folder, even if it looks like a repo id.
    let folder = cache
        .join("models--owner--tiny")
        .join("snapshots")
        .join(COMMIT);
    assert_eq!(
        ModelSource::parse(folder.to_str().unwrap()).unwrap(),
        ModelSource::Folder(folder.clone())
    );
    let found = resolve(folder.to_str().unwrap(), &[CONFIG_FILE], &offline(&cache)).unwrap();
    assert_eq!(found, folder);
}

fn error(spec: &str, files: &[&str], cache: &Path) -> String {
    resolve(spec, files, &offline(cache))
        .unwrap_err()
        .to_string()
}

#[test]
fn missing_repos_revisions_and_files_are_errors_naming_them() {
    let dir = scratch("errors");
    let (cache, _) = cache_with_model(&dir.0);
    let err = error("owner/absent", &[CONFIG_FILE], &cache);
    assert!(
        err.contains("owner/absent") && err.contains("config.json"),
        "{err}"
    );
    assert!(
        err.contains("HF_HUB_OFFLINE") && err.contains("not in the hub cache"),
        "{err}"
    );
    let err = error("owner/tiny@v9", &[CONFIG_FILE], &cache);
    assert!(err.contains("v9") && err.contains("no revision"), "{err}");
    let err = error("owner/tiny", &[WEIGHTS_FILE, "README.md"], &cache);
    assert!(
        err.contains("README.md") && err.contains("owner/tiny"),
        "{err}"
    );
    assert!(err.contains("revision main"), "{err}");
    // Neither a folder nor a repo id: the error says it looked for both.
    let err = error("not/a/repo", &[CONFIG_FILE], &cache);
    assert!(
        err.contains("no such folder") && err.contains("hub repo id"),
        "{err}"
    );
    // A folder without the model's files.
    let empty = dir.0.join("empty");
    std::fs::create_dir_all(&empty).unwrap();
    let err = error(empty.to_str().unwrap(), &[CONFIG_FILE], &cache);
    assert!(err.contains("config.json"), "{err}");
}

#[test]
fn the_hub_environment_is_honoured() {
    let from = |vars: &[(&str, &str)]| {
        let vars: Vec<(String, String)> = vars
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        HubOptions::from_vars(move |name| {
            vars.iter().find(|(k, _)| k == name).map(|(_, v)| v.into())
        })
    };
    let both = from(&[("HF_HUB_CACHE", "/c"), ("HF_HOME", "/h"), ("HOME", "/u")]);
    assert_eq!(both.cache_dir, Path::new("/c"));
    assert_eq!(from(&[("HF_HOME", "/h")]).cache_dir, Path::new("/h/hub"));
    let default = from(&[("HOME", "/u")]);
    assert_eq!(default.cache_dir, Path::new("/u/.cache/huggingface/hub"));
    assert!(!default.offline);
    for on in ["1", "true", "YES", "on"] {
        assert!(from(&[("HF_HUB_OFFLINE", on)]).offline, "{on}");
    }
    for off in ["0", "false", ""] {
        assert!(!from(&[("HF_HUB_OFFLINE", off)]).offline, "{off:?}");
    }
}
