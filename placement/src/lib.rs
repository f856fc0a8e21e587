//! Placement: which node holds which shard role.
//!
//! Given the committed member list (id, region, up/down, weight), the number of shards and the
//! replication factor, `assign` computes an `Assignment`: for every shard, the poller owner in
//! each region, the series replicas (region-diverse), and one alarm evaluator chosen across all
//! regions. Every node computes it from the same committed state and gets the same answer, so
//! placement needs no coordination of its own. See `README.md` beside this crate for the
//! algorithm (weighted rendezvous hashing with bounded loads) and the properties the tests check.
//!
//! Architecture invariant: this crate knows nothing of tokio, IO or time. It is data in, data
//! out: no async, no sockets, no files, no clock, no randomness, no platform-dependent math.
//!
//! Architecture invariant: placement is a pure function of (members as a set, config). The
//! `epoch` is carried along for the caller and never influences who owns what.

mod assign;
mod assignment;
mod capacity;
mod choose;
mod config;
mod error;
mod hash;
mod member;
mod role;
mod score;
mod solver;

#[cfg(test)]
mod model;

pub use assign::assign;
pub use assignment::{Assignment, RoleCounts};
pub use capacity::LOAD_FACTOR;
pub use config::{
    N_SHARDS_DEFAULT, N_SHARDS_MAX, PlacementConfig, REPLICATION_FACTOR_DEFAULT,
    REPLICATION_FACTOR_MAX,
};
pub use error::{ConfigError, Result};
pub use hash::{shard_of, stable_hash};
pub use member::{DEFAULT_WEIGHT, Member};
