//! Errors of the raft crate.

/// Operating errors of storage and transport. Bugs are asserts, never values of this type.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("io error: {0}")]
    Io(#[from] std::io::Error),
    #[error("storage error: {0}")]
    Sled(#[from] sled::Error),
    #[error("corrupt data: {0}")]
    Corrupt(String),
    #[error("codec error: {0}")]
    Codec(#[from] serde_json::Error),
    #[error("persisting the state machine: {0}")]
    Persist(String),
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

impl From<Error> for std::io::Error {
    fn from(e: Error) -> Self {
        match e {
            Error::Io(e) => e,
            other => std::io::Error::other(other.to_string()),
        }
    }
}
