//! Raft for Meridian: openraft's type configuration, a durable write-ahead log store, the
//! sled-backed configuration state machine, and the gRPC transport between nodes.
//!
//! Architecture invariant: `model` is pure (no IO, no clock, no tokio): `apply` takes a state and a
//! command and returns the new state and a result. Everything that touches disk or network lives
//! in the other modules and only feeds `model`.
//!
//! Architecture invariant: nothing here knows HTTP or JSON APIs of the public interface; the node
//! crate maps `ApplyError` to HTTP.

pub mod error;
pub mod log_store;
pub mod model;
pub mod network;
pub mod server;
pub mod snapshot_file;
pub mod state_machine;
pub mod types;
pub mod wal;

pub use error::{Error, Result};
pub use log_store::LogStore;
pub use model::{ApplyError, Command, CommandResult, ConfigState, ObjectKind, ObjectRecord, Op};
pub use network::Network;
pub use state_machine::{StateMachine, StateView};
pub use types::{NodeAddr, Raft, TypeConfig};
