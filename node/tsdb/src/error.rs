//! The engine's error type and `Result` alias.

use std::path::PathBuf;

/// Everything that can go wrong in the engine. Bugs are asserts, not variants.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// An argument was refused; `field` names what was wrong.
    #[error("invalid {field}: {reason}")]
    InvalidInput { field: &'static str, reason: String },
    /// A query or write went past one of the engine's documented bounds.
    #[error("{what} exceeds {limit_name} ({limit})")]
    LimitExceeded {
        what: String,
        limit_name: &'static str,
        limit: u64,
    },
    /// The data directory (or one of its files) was written by an unknown format version.
    #[error(
        "unsupported format version {found} in {path} (this build supports version {supported})"
    )]
    UnsupportedFormat {
        path: PathBuf,
        found: u32,
        supported: u32,
    },
    /// Stored bytes that fail their checksum or cannot be decoded.
    #[error("corrupt data in {context}: {reason}")]
    Corrupt { context: String, reason: String },
    /// A filesystem operation failed.
    #[error("io error {op} {path}: {source}")]
    Io {
        op: &'static str,
        path: PathBuf,
        source: std::io::Error,
    },
    /// The series index (sled) failed.
    #[error("series index: {0}")]
    Index(#[from] sled::Error),
    /// The engine was closed or its writer thread stopped after an earlier failure.
    #[error("engine is closed: {0}")]
    Closed(String),
}

/// Result with the engine's [`Error`].
pub type Result<T> = std::result::Result<T, Error>;

impl Error {
    pub(crate) fn io(op: &'static str, path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        Error::Io {
            op,
            path: path.into(),
            source,
        }
    }

    pub(crate) fn corrupt(context: impl Into<String>, reason: impl Into<String>) -> Self {
        Error::Corrupt {
            context: context.into(),
            reason: reason.into(),
        }
    }

    pub(crate) fn invalid(field: &'static str, reason: impl Into<String>) -> Self {
        Error::InvalidInput {
            field,
            reason: reason.into(),
        }
    }
}
