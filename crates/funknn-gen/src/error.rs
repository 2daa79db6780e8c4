//! Typed errors of funknn-gen. Nothing here panics on user input.

use std::path::PathBuf;

/// Errors returned by `funknn-gen`.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A tensor operation failed inside candle.
    #[error(transparent)]
    Candle(#[from] candle_core::Error),

    /// An error of the FunkNN part.
    #[error(transparent)]
    Core(#[from] funknn_core::Error),

    /// Reading or writing a file failed.
    #[error("{path}: {error}")]
    Io {
        path: PathBuf,
        error: std::io::Error,
    },

    /// `config.json` could not be parsed.
    #[error("{path}: invalid generator config: {error}")]
    Config {
        path: PathBuf,
        error: serde_json::Error,
    },

    /// A weights file lacks a tensor the architecture needs, or has one of the wrong shape.
    #[error("weights {path}: {message}")]
    Weights { path: PathBuf, message: String },

    /// A tensor given by the caller has the wrong shape.
    #[error("{name}: expected {expected}, got shape {got:?}")]
    Shape {
        name: &'static str,
        expected: String,
        got: Vec<usize>,
    },

    /// An option or parameter is outside what the models support.
    #[error("invalid {what}: {message}")]
    Invalid { what: &'static str, message: String },
}

/// Result alias of this crate.
pub type Result<T> = std::result::Result<T, Error>;

impl Error {
    pub(crate) fn invalid(what: &'static str, message: impl Into<String>) -> Self {
        Error::Invalid {
            what,
            message: message.into(),
        }
    }
}
