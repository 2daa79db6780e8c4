//! Typed errors of the library. Nothing here panics on user input.

use std::path::PathBuf;

/// Errors returned by `funknn-core`.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A tensor operation failed inside candle.
    #[error(transparent)]
    Candle(#[from] candle_core::Error),

    // The underlying errors are part of the message, not `source()`, so that reports that
    // print the chain (anyhow's `{:#}`) do not say them twice.
    /// Reading or writing a file failed.
    #[error("{path}: {error}")]
    Io {
        path: PathBuf,
        error: std::io::Error,
    },

    /// `config.json` could not be parsed or written.
    #[error("{path}: invalid model config: {error}")]
    Config {
        path: PathBuf,
        error: serde_json::Error,
    },

    /// An image file cannot be decoded, or cannot be written in the format asked for.
    #[error("{path}: {message}")]
    Picture { path: PathBuf, message: String },

    /// A model could not be had from the Hugging Face hub (or its cache).
    #[error("hub repo {repo} (revision {revision}), file {file}: {message}")]
    Hub {
        repo: String,
        revision: String,
        file: String,
        message: String,
    },

    /// A weights file lacks a tensor the architecture needs, or has one of the wrong shape.
    #[error("weights {path}: {message}")]
    Weights { path: PathBuf, message: String },

    /// A tensor given by the caller has the wrong rank, size or dtype.
    #[error("{name}: expected {expected}, got shape {got:?}")]
    Shape {
        name: &'static str,
        expected: String,
        got: Vec<usize>,
    },

    /// A coordinate is NaN or infinite.
    #[error("point {index} is not finite: ({x}, {y})")]
    NonFinitePoint { index: usize, x: f64, y: f64 },

    /// An option or parameter is outside what the model supports.
    #[error("invalid {what}: {message}")]
    Invalid { what: &'static str, message: String },
}

/// Result alias of this crate.
pub type Result<T> = std::result::Result<T, Error>;

impl Error {
    pub(crate) fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        Error::Io {
            path: path.into(),
            error: source,
        }
    }

    pub(crate) fn picture(path: impl Into<PathBuf>, message: impl Into<String>) -> Self {
        Error::Picture {
            path: path.into(),
            message: message.into(),
        }
    }

    pub(crate) fn invalid(what: &'static str, message: impl Into<String>) -> Self {
        Error::Invalid {
            what,
            message: message.into(),
        }
    }
}
