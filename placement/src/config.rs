//! Placement settings, fixed at bootstrap and identical on every node.

use serde::{Deserialize, Serialize};

use crate::error::{ConfigError, Result};

/// Default number of shards.
pub const N_SHARDS_DEFAULT: u32 = 1024;
/// Largest accepted `n_shards`: bounds the assignment's size (a few MB at 1,000 nodes).
pub const N_SHARDS_MAX: u32 = 1 << 16;
/// With no explicit replication factor, series get `min(REPLICATION_FACTOR_DEFAULT, regions)`.
pub const REPLICATION_FACTOR_DEFAULT: usize = 3;
/// Largest accepted explicit replication factor.
pub const REPLICATION_FACTOR_MAX: usize = 7;

/// Inputs of placement other than the member list.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, rename_all = "kebab-case")]
pub struct PlacementConfig {
    /// Number of shards (count). Default 1024; 1 to `N_SHARDS_MAX`. Fixed at bootstrap: changing
    /// it moves almost every key.
    pub n_shards: u32,
    /// Series replicas per shard (count). Default `None`: `min(3, number of regions)`, counting
    /// the regions of all members, up or down, so a region going dark does not lower it.
    pub replication_factor: Option<usize>,
}

impl Default for PlacementConfig {
    fn default() -> PlacementConfig {
        PlacementConfig {
            n_shards: N_SHARDS_DEFAULT,
            replication_factor: None,
        }
    }
}

impl PlacementConfig {
    /// Checks the ranges above. `assign` does not call it: it never fails, and treats
    /// out-of-range values literally (0 shards gives an empty assignment).
    pub fn validate(&self) -> Result<()> {
        if self.n_shards == 0 || self.n_shards > N_SHARDS_MAX {
            return Err(ConfigError::NShards {
                n_shards: self.n_shards,
            });
        }
        match self.replication_factor {
            Some(rf) if rf == 0 || rf > REPLICATION_FACTOR_MAX => {
                Err(ConfigError::ReplicationFactor {
                    replication_factor: rf,
                })
            }
            _ => Ok(()),
        }
    }

    /// The replication factor in effect for members spread over `n_regions` regions.
    pub fn effective_replication_factor(&self, n_regions: usize) -> usize {
        self.replication_factor
            .unwrap_or(REPLICATION_FACTOR_DEFAULT.min(n_regions))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn validate_names_the_bad_field() {
        assert_eq!(PlacementConfig::default().validate(), Ok(()));
        let zero = PlacementConfig {
            n_shards: 0,
            ..PlacementConfig::default()
        };
        let err = zero
            .validate()
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        assert!(
            err.starts_with("n_shards must be between 1 and 65536"),
            "{err}"
        );
        let rf = PlacementConfig {
            replication_factor: Some(8),
            ..PlacementConfig::default()
        };
        assert_eq!(
            rf.validate(),
            Err(ConfigError::ReplicationFactor {
                replication_factor: 8
            })
        );
    }

    #[test]
    fn default_replication_factor_follows_regions() {
        let cfg = PlacementConfig::default();
        assert_eq!(cfg.effective_replication_factor(1), 1);
        assert_eq!(cfg.effective_replication_factor(2), 2);
        assert_eq!(cfg.effective_replication_factor(5), 3);
        let fixed = PlacementConfig {
            replication_factor: Some(2),
            ..cfg
        };
        assert_eq!(fixed.effective_replication_factor(5), 2);
    }

    #[test]
    fn config_reads_kebab_case_with_defaults() {
        let cfg: PlacementConfig =
            serde::Deserialize::deserialize(serde::de::value::MapDeserializer::<
                _,
                serde::de::value::Error,
            >::new([("n-shards", 64u32)].into_iter()))
            .unwrap_or_default();
        assert_eq!(
            cfg,
            PlacementConfig {
                n_shards: 64,
                replication_factor: None
            }
        );
    }
}
