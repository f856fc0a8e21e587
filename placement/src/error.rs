//! Errors of the placement crate: only configuration can be wrong; placing never fails.

use std::fmt;

use crate::config::{N_SHARDS_MAX, REPLICATION_FACTOR_MAX};

/// A `PlacementConfig` field out of range.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ConfigError {
    /// `n_shards` is 0 or above `N_SHARDS_MAX`.
    NShards { n_shards: u32 },
    /// `replication_factor` is 0 or above `REPLICATION_FACTOR_MAX`.
    ReplicationFactor { replication_factor: usize },
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ConfigError::NShards { n_shards } => {
                write!(
                    f,
                    "n_shards must be between 1 and {N_SHARDS_MAX}, got {n_shards}"
                )
            }
            ConfigError::ReplicationFactor { replication_factor } => write!(
                f,
                "replication_factor must be between 1 and {REPLICATION_FACTOR_MAX}, \
                 got {replication_factor}"
            ),
        }
    }
}

impl std::error::Error for ConfigError {}

/// Result alias of this crate.
pub type Result<T> = std::result::Result<T, ConfigError>;
