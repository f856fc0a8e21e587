//! The series store in the node: the local engine at `<data-dir>/series`, placement of series
//! on nodes, the routed write, query and list paths, check metrics and the `/metrics` lines.
//!
//! Architecture invariant: only this module calls the engine (`meridian-tsdb`), and always from
//! `spawn_blocking`; the engine knows nothing of placement, gRPC or HTTP.
//! Architecture invariant: one copy of each series for now: the first series replica of its
//! shard (`plan::shard`) owns it, with every member taken as up (`owners`), and every node
//! routes writes and reads to that owner.
//! Architecture invariant: a write is answered only after the owner's engine made it durable.

pub mod checks;
mod local;
pub mod metrics;
pub mod owners;
pub mod plan;
pub mod remote;
pub mod remote_write;
pub mod route;
mod wire;

use std::path::Path;
use std::sync::{Arc, RwLock};

use meridian_tsdb::Engine;

pub use local::StatRows;
pub use metrics::SeriesMetrics;
pub use route::{Partial, SeriesRoute};

use crate::error::{Error, Result};

/// The local engine and the store's counters; shared by the HTTP handlers, the peer service
/// and the check-metrics writer.
pub struct Series {
    engine: RwLock<Option<Arc<Engine>>>,
    pub metrics: SeriesMetrics,
    /// Series owners by shard (liveness-blind, see `owners`).
    pub owners: owners::Owners,
}

/// An engine error as the node reports it: bad input names its field (400), a closed engine
/// is a retryable 503, the rest is internal.
pub fn engine_error(e: meridian_tsdb::Error) -> Error {
    match e {
        meridian_tsdb::Error::InvalidInput { field, reason } => {
            Error::BadRequest(format!("{field}: {reason}"))
        }
        meridian_tsdb::Error::LimitExceeded { .. } => Error::BadRequest(e.to_string()),
        meridian_tsdb::Error::Closed(_) => Error::Unavailable(format!("series store: {e}")),
        other => Error::Internal(format!("series store: {other}")),
    }
}

impl Series {
    /// Opens (or creates) the engine in `dir`, replaying its log. Blocks.
    pub fn open(dir: &Path) -> Result<Series> {
        let engine = Engine::open(meridian_tsdb::Config::new(dir)).map_err(engine_error)?;
        Ok(Series {
            engine: RwLock::new(Some(Arc::new(engine))),
            metrics: SeriesMetrics::default(),
            owners: owners::Owners::default(),
        })
    }

    fn engine(&self) -> Result<Arc<Engine>> {
        self.engine
            .read()
            .expect("series engine lock")
            .clone()
            .ok_or_else(|| Error::Unavailable("series store is closed".into()))
    }

    /// Runs `f` on the engine on a blocking thread.
    pub async fn blocking<T: Send + 'static>(
        &self,
        f: impl FnOnce(&Engine) -> meridian_tsdb::Result<T> + Send + 'static,
    ) -> Result<T> {
        let engine = self.engine()?;
        tokio::task::spawn_blocking(move || f(&engine))
            .await
            .map_err(|e| Error::Internal(format!("series task: {e}")))?
            .map_err(engine_error)
    }

    /// The engine's counters, `None` once closed.
    pub fn engine_metrics(&self) -> Option<meridian_tsdb::MetricsSnapshot> {
        self.engine().ok().map(|e| e.metrics())
    }

    /// Seals the head and stops the engine's threads. Calls still running keep their handle;
    /// if one does, the head is flushed instead and the threads stop when it drops.
    pub fn close(&self) -> Result<()> {
        let Some(engine) = self.engine.write().expect("series engine lock").take() else {
            return Ok(());
        };
        match Arc::try_unwrap(engine) {
            Ok(engine) => engine.close().map_err(engine_error),
            Err(shared) => shared.flush().map_err(engine_error),
        }
    }
}
