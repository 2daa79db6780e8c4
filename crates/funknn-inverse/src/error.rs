//! The crate's error type: every failure on user input is one of these, never a panic.

use std::path::PathBuf;

/// What can go wrong in `funknn-inverse`.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A buffer or array whose length or shape does not match what the operation needs.
    #[error("{name}: expected shape {expected}, got {got:?}")]
    Shape {
        /// The argument or array.
        name: &'static str,
        /// The shape it must have, in words.
        expected: String,
        /// What it had.
        got: Vec<usize>,
    },
    /// A value that is out of range, empty, non-finite or otherwise unusable.
    #[error("{what}: {message}")]
    Invalid {
        /// The argument or array.
        what: &'static str,
        /// Why it cannot be used.
        message: String,
    },
    /// A file that cannot be read or written.
    #[error("{}: {error}", path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// The underlying error (in the message, not as a source, so it prints once).
        error: std::io::Error,
    },
    /// A file that exists but cannot be decoded.
    #[error("{}: {message}", path.display())]
    Format {
        /// The file.
        path: PathBuf,
        /// What is wrong with it.
        message: String,
    },
    /// An error from candle (the custom op's tensors).
    #[error(transparent)]
    Candle(#[from] candle_core::Error),
    /// An error from funknn-core (evaluating a continuous image).
    #[error(transparent)]
    Core(#[from] funknn_core::Error),
    /// An error from funknn-gen (the generative prior).
    #[error(transparent)]
    Gen(#[from] funknn_gen::Error),
}

/// The crate's result type.
pub type Result<T> = std::result::Result<T, Error>;

impl Error {
    pub(crate) fn invalid(what: &'static str, message: impl Into<String>) -> Self {
        Error::Invalid {
            what,
            message: message.into(),
        }
    }

    pub(crate) fn shape(name: &'static str, expected: impl Into<String>, got: &[usize]) -> Self {
        Error::Shape {
            name,
            expected: expected.into(),
            got: got.to_vec(),
        }
    }

    pub(crate) fn io(path: &std::path::Path, error: std::io::Error) -> Self {
        Error::Io {
            path: path.to_path_buf(),
            error,
        }
    }
}

/// Checks that `len` equals `expected`, naming the argument otherwise.
pub(crate) fn check_len(name: &'static str, len: usize, expected: usize) -> Result<()> {
    if len == expected {
        Ok(())
    } else {
        Err(Error::shape(name, format!("({expected})"), &[len]))
    }
}
