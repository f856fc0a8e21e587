//! The series store's lines on `/metrics`: ingest, the engine's WAL, head, blocks by level,
//! merge backlog and conflicts, routing, check metrics and query latency.

use crate::metrics::{Counter, Histogram, metric, sample};

use super::Series;

/// Counters of the node's series layer (the engine keeps its own).
#[derive(Debug, Default)]
pub struct SeriesMetrics {
    /// Points this node took through the API or check metrics and stored itself.
    pub points_local: Counter,
    /// Points this node took and sent to their owner.
    pub points_forwarded: Counter,
    /// Points other nodes sent here as the owner.
    pub points_received: Counter,
    /// Points refused per point (out of the time window).
    pub points_rejected: Counter,
    /// Check metric points written.
    pub check_points: Counter,
    /// Check metric batches that could not be written after every try.
    pub check_batches_lost: Counter,
    /// Metric queries answered (`/v1/metrics/query` and plots).
    pub query_latency: Histogram,
}

const WAL_BATCH_LABELS: [&str; 6] = ["1", "4", "16", "64", "256", "+Inf"];

impl Series {
    /// Appends the store's metrics in Prometheus text format.
    pub fn render_metrics(&self, out: &mut String) {
        let m = &self.metrics;
        let counters = [
            (
                "meridian_series_points_local_total",
                "Points taken and stored on this node.",
                m.points_local.get(),
            ),
            (
                "meridian_series_points_forwarded_total",
                "Points taken and sent to their owner.",
                m.points_forwarded.get(),
            ),
            (
                "meridian_series_points_received_total",
                "Points stored here for other nodes.",
                m.points_received.get(),
            ),
            (
                "meridian_series_points_rejected_total",
                "Points refused (time window).",
                m.points_rejected.get(),
            ),
            (
                "meridian_series_check_points_total",
                "Check metric points written.",
                m.check_points.get(),
            ),
            (
                "meridian_series_check_batches_lost_total",
                "Check metric batches lost after every try.",
                m.check_batches_lost.get(),
            ),
        ];
        for (name, help, v) in counters {
            metric(out, name, "counter", help, v);
        }
        m.query_latency.render(
            out,
            "meridian_series_query_seconds",
            "Metric query latency.",
        );
        if let Some(e) = self.engine_metrics() {
            render_engine(out, &e);
        }
    }
}

fn render_engine(out: &mut String, e: &meridian_tsdb::MetricsSnapshot) {
    let scalars = [
        (
            "meridian_series_ingested_points_total",
            "counter",
            "Points made durable by the engine.",
            e.points_ingested,
        ),
        (
            "meridian_series_writes_total",
            "counter",
            "Engine writes acknowledged.",
            e.writes,
        ),
        (
            "meridian_series_wal_fsyncs_total",
            "counter",
            "fdatasync calls of the series WAL.",
            e.wal_fsyncs,
        ),
        (
            "meridian_series_wal_bytes_total",
            "counter",
            "Bytes appended to the series WAL.",
            e.wal_bytes,
        ),
        (
            "meridian_series_head_series",
            "gauge",
            "Series in the head.",
            e.head_series,
        ),
        (
            "meridian_series_head_points",
            "gauge",
            "Points in the head.",
            e.head_points,
        ),
        (
            "meridian_series_head_bytes",
            "gauge",
            "Bytes of the head.",
            e.head_bytes,
        ),
        (
            "meridian_series_seals_total",
            "counter",
            "Heads sealed into blocks.",
            e.seals,
        ),
        (
            "meridian_series_merges_total",
            "counter",
            "Block merges done.",
            e.merges,
        ),
        (
            "meridian_series_merge_backlog",
            "gauge",
            "Merge jobs waiting.",
            e.merge_backlog,
        ),
        (
            "meridian_series_conflicts_total",
            "counter",
            "Differing values for one (series, timestamp) settled.",
            e.conflicts,
        ),
        (
            "meridian_series_blocks_dropped_total",
            "counter",
            "Blocks removed by retention.",
            e.blocks_dropped,
        ),
    ];
    for (name, kind, help, v) in scalars {
        metric(out, name, kind, help, v);
    }
    let name = "meridian_series_wal_batch_records";
    out.push_str(&format!(
        "# HELP {name} Group commits by records per fdatasync (not cumulative).\n# TYPE {name} gauge\n"
    ));
    for (le, n) in WAL_BATCH_LABELS.iter().zip(e.wal_batch_sizes) {
        sample(out, name, &format!("le=\"{le}\""), n);
    }
    out.push_str("# HELP meridian_series_blocks Blocks by resolution and level.\n# TYPE meridian_series_blocks gauge\n");
    out.push_str("# HELP meridian_series_block_bytes Block bytes by resolution and level.\n# TYPE meridian_series_block_bytes gauge\n");
    let raw = e
        .raw_levels
        .iter()
        .enumerate()
        .map(|(l, s)| (format!("resolution=\"FULL\",level=\"{l}\""), s));
    let names = ["MIN5", "MIN20", "MIN60", "MIN240", "MIN1440"];
    let rollups = e
        .rollups
        .iter()
        .zip(names)
        .map(|(s, n)| (format!("resolution=\"{n}\",level=\"0\""), s));
    for (labels, s) in raw.chain(rollups) {
        sample(out, "meridian_series_blocks", &labels, s.blocks);
        sample(out, "meridian_series_block_bytes", &labels, s.bytes);
    }
}
