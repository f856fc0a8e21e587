//! `meridian-tsdb`: Meridian's embedded series engine.
//!
//! Writes go to a write-ahead log that group-commits with one fdatasync per batch of writers
//! (a write returns only once durable), then to an in-memory head per series. Heads are sealed
//! into immutable blocks per UTC day, sorted by (series, time) and compressed (see `codec`);
//! blocks of a day are merged in the background, and a closed day is rolled up to 5, 20, 60,
//! 240 and 1440 minutes (count, sum, sum of squares, min, max, DDSketch). Retention drops whole
//! blocks per resolution. A sled index maps (tenant, namespace, name, dimensions) to series ids.
//!
//! Architecture invariant: no network, no tokio, no HTTP or public JSON, no Raft, no placement.
//! The node calls the blocking [`Engine`] API from `spawn_blocking`.
//! Architecture invariant: `codec`, `sketch`, `rollup`, `plan` and `head::settle` are pure
//! (no IO, no clock); the clock reaches the engine only through [`Config::clock`].
//! Architecture invariant: acknowledged means durable: `Engine::write` returns only after the
//! fdatasync covering its WAL record, and a WAL segment is deleted only after the manifest
//! naming the blocks that hold its data is durable.

mod block;
mod bytes;
pub mod codec;
mod committer;
mod config;
mod engine;
mod error;
mod fsutil;
mod head;
mod index;
mod key;
mod maintenance;
mod manifest;
mod merge;
mod metrics;
mod plan;
mod query;
pub mod rollup;
mod seal;
mod shared;
pub mod sketch;
mod store;
mod wal;

pub use block::BLOCK_CHUNKS_MAX;
pub use committer::{GROUP_BYTES_MAX, GROUP_RECORDS_MAX, QUEUE_MAX};
pub use config::{
    Clock, Config, HEAD_BYTES_MAX_LIMIT, MERGE_CONCURRENCY_MAX, MERGE_INPUTS_MAX, Retention,
    system_clock,
};
pub use engine::{Engine, SERIES_LIST_MAX, WRITE_POINTS_MAX, WriteOutcome};
pub use error::{Error, Result};
pub use fsutil::FORMAT_VERSION;
pub use head::{DAY_MS, settle};
pub use index::TENANT_SERIES_MAX;
pub use key::{
    DIMENSIONS_MAX, NAME_BYTES_MAX, SeriesFilter, SeriesKey, SeriesPoints, TIMESTAMP_ABS_MAX,
};
pub use maintenance::{FLUSH_TRIES_MAX, MaintenanceReport};
pub use metrics::{LevelStats, MetricsSnapshot, WAL_BATCH_BOUNDS};
pub use query::{BUCKETS_MAX, Buckets, RAW_POINTS_MAX, SCAN_POINTS_MAX};
pub use rollup::{Bucket, Resolution, Statistic};
pub use sketch::DdSketch;
pub use wal::WAL_RECORD_BYTES_MAX;
