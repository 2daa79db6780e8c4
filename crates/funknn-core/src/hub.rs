//! Model folders from a local path or from the Hugging Face hub.
//!
//! A model is a folder (`config.json`, `model.safetensors`, `README.md`): exactly what a hub
//! repo holds. Anything that takes a model takes either a folder that exists, or a repo id
//! `owner/name[@revision]`, fetched through `hf-hub` into the hub's own cache (and read from
//! it alone when `HF_HUB_OFFLINE=1`).

use std::path::{Path, PathBuf};

use crate::{Error, Result};

/// Where a model comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ModelSource {
    /// A folder on disk.
    Folder(PathBuf),
    /// A hub model repo at a revision (a branch, tag or commit; `main` by default).
    Hub { repo: String, revision: String },
}

fn is_repo_part(s: &str) -> bool {
    !s.is_empty()
        && !s.starts_with(['.', '-'])
        && s.len() <= 96
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
}

impl ModelSource {
    /// A path that exists is a folder; otherwise `owner/name[@revision]` is a hub repo. Anything
    /// else is an error that says it looked for both.
    ///
    /// ```
    /// use funknn_core::hub::ModelSource;
    /// let hub = ModelSource::parse("funknn/funknn-mlp-photo@v1")?;
    /// assert_eq!(hub, ModelSource::Hub { repo: "funknn/funknn-mlp-photo".into(), revision: "v1".into() });
    /// assert!(ModelSource::parse("no/such/folder").is_err());
    /// # Ok::<(), funknn_core::Error>(())
    /// ```
    pub fn parse(spec: &str) -> Result<Self> {
        let path = Path::new(spec);
        if path.exists() {
            return Ok(ModelSource::Folder(path.to_path_buf()));
        }
        let (repo, revision) = match spec.split_once('@') {
            Some((repo, rev)) => (repo, rev),
            None => (spec, "main"),
        };
        let valid_revision = !revision.is_empty()
            && revision
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.' | '/'));
        match repo.split_once('/') {
            Some((owner, name)) if is_repo_part(owner) && is_repo_part(name) && valid_revision => {
                Ok(ModelSource::Hub {
                    repo: repo.to_string(),
                    revision: revision.to_string(),
                })
            }
            _ => Err(Error::invalid(
                "model",
                format!(
                    "{spec:?}: there is no such folder, and it is not a hub repo id \
                     (owner/name or owner/name@revision)"
                ),
            )),
        }
    }
}

/// How the hub is reached.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HubOptions {
    /// The hub cache (`models--owner--name/{refs,snapshots,blobs}`).
    pub cache_dir: PathBuf,
    /// Read the cache only, never the network.
    pub offline: bool,
}

impl HubOptions {
    /// The hub's own conventions: the cache is `$HF_HUB_CACHE`, else `$HF_HOME/hub`, else
    /// `~/.cache/huggingface/hub`; `HF_HUB_OFFLINE=1` (or `true`, `yes`, `on`) means offline.
    pub fn from_env() -> Self {
        Self::from_vars(|name| std::env::var_os(name))
    }

    /// [`Self::from_env`] with the variables read through `var`.
    ///
    /// ```
    /// use funknn_core::hub::HubOptions;
    /// let vars = |name: &str| match name {
    ///     "HF_HOME" => Some("/data/hf".into()),
    ///     "HF_HUB_OFFLINE" => Some("1".into()),
    ///     _ => None,
    /// };
    /// let options = HubOptions::from_vars(vars);
    /// assert_eq!(options.cache_dir, std::path::Path::new("/data/hf/hub"));
    /// assert!(options.offline);
    /// ```
    pub fn from_vars(var: impl Fn(&str) -> Option<std::ffi::OsString>) -> Self {
        let var = |name: &str| var(name).filter(|v| !v.is_empty());
        let cache_dir = if let Some(dir) = var("HF_HUB_CACHE") {
            PathBuf::from(dir)
        } else if let Some(home) = var("HF_HOME") {
            PathBuf::from(home).join("hub")
        } else {
            let home = var("HOME").map(PathBuf::from).unwrap_or_else(|| ".".into());
            home.join(".cache").join("huggingface").join("hub")
        };
        let offline = var("HF_HUB_OFFLINE").is_some_and(|v| {
            matches!(
                v.to_string_lossy().trim().to_ascii_lowercase().as_str(),
                "1" | "true" | "yes" | "on"
            )
        });
        HubOptions { cache_dir, offline }
    }
}

/// The folder that holds `files` of the model `spec` (see [`ModelSource::parse`]): the folder
/// itself, or the hub snapshot they were fetched into. A missing repo, revision or file is an
/// error naming all three.
pub fn resolve(spec: &str, files: &[&str], options: &HubOptions) -> Result<PathBuf> {
    match ModelSource::parse(spec)? {
        ModelSource::Folder(dir) => {
            for file in files {
                if !dir.join(file).is_file() {
                    return Err(Error::io(
                        dir.join(file),
                        std::io::Error::new(std::io::ErrorKind::NotFound, "no such file"),
                    ));
                }
            }
            Ok(dir)
        }
        ModelSource::Hub { repo, revision } => {
            let mut folder = None;
            for file in files {
                let path = fetch(&repo, &revision, file, options).map_err(|e| match e {
                    // Say that the other reading was tried too: a mistyped folder looks
                    // like a repo id.
                    Error::Hub {
                        repo,
                        revision,
                        file,
                        message,
                    } => Error::Hub {
                        message: format!("{message}; and there is no folder {spec:?}"),
                        repo,
                        revision,
                        file,
                    },
                    e => e,
                })?;
                folder = path.parent().map(Path::to_path_buf);
            }
            folder.ok_or_else(|| Error::invalid("model", "no file asked for"))
        }
    }
}

fn hub_error(repo: &str, revision: &str, file: &str, message: impl Into<String>) -> Error {
    Error::Hub {
        repo: repo.to_string(),
        revision: revision.to_string(),
        file: file.to_string(),
        message: message.into(),
    }
}

#[cfg(feature = "hub")]
fn fetch(repo: &str, revision: &str, file: &str, options: &HubOptions) -> Result<PathBuf> {
    use hf_hub::{Cache, Repo, RepoType};
    let cache = Cache::new(options.cache_dir.clone());
    let hub_repo = Repo::with_revision(repo.to_string(), RepoType::Model, revision.to_string());
    if let Some(path) = cache.repo(hub_repo.clone()).get(file) {
        return Ok(path);
    }
    // A commit hash has a snapshot but no ref.
    let folder = format!("models--{}", repo.replace('/', "--"));
    let snapshot = options
        .cache_dir
        .join(&folder)
        .join("snapshots")
        .join(revision);
    if snapshot.join(file).is_file() {
        return Ok(snapshot.join(file));
    }
    if options.offline {
        let repo_dir = options.cache_dir.join(&folder);
        let message = if !repo_dir.is_dir() {
            format!(
                "not in the hub cache {} (HF_HUB_OFFLINE is set, so nothing is downloaded)",
                options.cache_dir.display()
            )
        } else if !repo_dir.join("refs").join(revision).is_file() && !snapshot.is_dir() {
            format!("the cache has no revision {revision:?} of it (HF_HUB_OFFLINE is set)")
        } else {
            "the cached snapshot has no such file (HF_HUB_OFFLINE is set)".to_string()
        };
        return Err(hub_error(repo, revision, file, message));
    }
    let api = hf_hub::api::sync::ApiBuilder::from_cache(cache)
        .with_progress(false)
        .build()
        .map_err(|e| hub_error(repo, revision, file, e.to_string()))?;
    api.repo(hub_repo)
        .get(file)
        .map_err(|e| hub_error(repo, revision, file, e.to_string()))
}

#[cfg(not(feature = "hub"))]
fn fetch(repo: &str, revision: &str, file: &str, _: &HubOptions) -> Result<PathBuf> {
    Err(hub_error(
        repo,
        revision,
        file,
        "this build has no hub support (feature \"hub\" of funknn-core)",
    ))
}
