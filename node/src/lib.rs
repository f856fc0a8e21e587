//! Meridian's node: configuration, the public HTTP API, node-to-node RPC, membership, liveness
//! and placement, on top of the raft crate.
//!
//! Architecture invariant: the only crate that knows HTTP and the public JSON shapes.

pub mod cli;
pub mod cli_client;
pub mod cli_http;
pub mod cli_tenant;
pub mod cluster;
pub mod config;
pub mod datadir;
pub mod error;
pub mod evaluator;
pub mod http;
pub mod listener;
pub mod liveness;
pub mod metrics;
pub mod node;
pub mod notifier;
pub mod peer_msgs;
pub mod peer_service;
pub mod placement_view;
pub mod poller;
pub mod proposer;
pub mod series;
pub mod server;
pub mod snapshots;
pub mod spec;

pub use config::Config;
pub use error::{Error, Result};
pub use server::run;
