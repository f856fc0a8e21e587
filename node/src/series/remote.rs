//! The series calls a node answers for its peers: store points it owns (answered once
//! durable), statistics of series it owns, and the series it stores matching a filter.

use std::sync::Arc;

use meridian_proto::{
    SeriesAck, SeriesBatch, SeriesList, SeriesListQuery, SeriesQuery, SeriesQueryReply,
};
use meridian_tsdb::{SERIES_LIST_MAX, SeriesFilter, WRITE_POINTS_MAX};
use tonic::Status;

use super::plan::QUERY_SERIES_MAX;
use super::route::parse_statistics;
use super::{Series, local, wire};
use crate::error::Error;

/// Most statistics one query may ask for.
pub const STATISTICS_MAX: usize = 32;

/// This node, as its peers' series calls see it.
pub struct Local {
    pub node_id: u64,
    pub series: Arc<Series>,
}

fn status(e: Error) -> Status {
    match e {
        Error::BadRequest(m) => Status::invalid_argument(m),
        Error::Unavailable(m) => Status::unavailable(m),
        other => Status::internal(other.to_string()),
    }
}

impl Local {
    /// Stores a batch of series this node owns; answers once durable.
    pub async fn write(&self, b: SeriesBatch) -> Result<SeriesAck, Status> {
        let points: usize = b.series.iter().map(|s| s.values.len()).sum();
        if points > WRITE_POINTS_MAX {
            return Err(Status::invalid_argument(format!(
                "series: at most {WRITE_POINTS_MAX} points per call"
            )));
        }
        let tenant = b.tenant_id;
        let batch = b
            .series
            .into_iter()
            .map(|d| wire::points_from_wire(&tenant, d))
            .collect::<Result<Vec<_>, _>>()?;
        let out = self
            .series
            .blocking(move |e| e.write(&batch))
            .await
            .map_err(status)?;
        self.series.metrics.points_received.add(out.points as u64);
        Ok(SeriesAck {
            node_id: self.node_id,
            points: out.points as u64,
        })
    }

    /// Statistics (or raw points) of the asked series, in order.
    pub async fn query(&self, q: SeriesQuery) -> Result<SeriesQueryReply, Status> {
        if q.series.len() > QUERY_SERIES_MAX {
            return Err(Status::invalid_argument(format!(
                "series: at most {QUERY_SERIES_MAX}"
            )));
        }
        if q.statistics.len() > STATISTICS_MAX {
            return Err(Status::invalid_argument(format!(
                "statistics: at most {STATISTICS_MAX}"
            )));
        }
        let stats = parse_statistics(&q.statistics).map_err(status)?;
        let keys: Vec<_> = q
            .series
            .iter()
            .map(|d| wire::key_from_wire(&q.tenant_id, d))
            .collect();
        let (from, to, period, limit) = (q.from_ms, q.to_ms, q.period_ms, q.raw_limit as usize);
        let rows = self
            .series
            .blocking(move |e| {
                keys.iter()
                    .map(|k| local::stats(e, k, from, to, period, &stats, limit))
                    .collect::<meridian_tsdb::Result<Vec<_>>>()
            })
            .await
            .map_err(status)?;
        Ok(SeriesQueryReply {
            node_id: self.node_id,
            series: rows.iter().map(wire::stats_to_wire).collect(),
        })
    }

    /// The series of a tenant this node stores that match the filter.
    pub async fn list(&self, q: SeriesListQuery) -> Result<SeriesList, Status> {
        let limit = q.limit as usize;
        if limit == 0 || limit > SERIES_LIST_MAX {
            return Err(Status::invalid_argument(format!(
                "limit: 1..={SERIES_LIST_MAX}"
            )));
        }
        let filter = SeriesFilter {
            namespace: (!q.namespace.is_empty()).then_some(q.namespace),
            name: (!q.name.is_empty()).then_some(q.name),
            dimensions: q.dimensions.into_iter().collect(),
            active_since_ms: (q.active_since_ms != i64::MIN).then_some(q.active_since_ms),
        };
        let tenant = q.tenant_id;
        let after = q.after.map(|d| wire::key_from_wire(&tenant, &d));
        let keys = self
            .series
            .blocking(move |e| e.series(&tenant, &filter, limit, after.as_ref()))
            .await
            .map_err(status)?;
        Ok(SeriesList {
            node_id: self.node_id,
            series: keys.iter().map(wire::key_to_wire).collect(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use meridian_proto::SeriesData;
    use tonic::Code;

    fn data(points: &[(i64, f64)]) -> SeriesData {
        SeriesData {
            namespace: "app".into(),
            name: "latency".into(),
            dimensions: [("host".to_string(), "a".to_string())].into(),
            timestamps_ms: points.iter().map(|p| p.0).collect(),
            values: points.iter().map(|p| p.1).collect(),
        }
    }

    #[tokio::test]
    async fn the_owner_side_stores_lists_answers_and_refuses_past_its_bounds() {
        let dir = tempfile::tempdir().unwrap();
        let series = Arc::new(Series::open(dir.path()).unwrap());
        let t0 = crate::node::now_ms() / 60_000 * 60_000 - 120_000;
        let local = Local {
            node_id: 7,
            series: series.clone(),
        };
        let batch = SeriesBatch {
            target_node_id: 7,
            tenant_id: "t".into(),
            series: vec![data(&[(t0, 1.0), (t0 + 10_000, 3.0)])],
        };
        let ack = local.write(batch).await.unwrap();
        assert_eq!((ack.node_id, ack.points), (7, 2));
        let q = |n_series: usize, n_stats: usize| SeriesQuery {
            target_node_id: 7,
            tenant_id: "t".into(),
            series: vec![data(&[]); n_series],
            from_ms: t0,
            to_ms: t0 + 60_000,
            period_ms: 60_000,
            statistics: vec!["average".into(); n_stats],
            raw_limit: 0,
        };
        let got = local
            .query(q(QUERY_SERIES_MAX, STATISTICS_MAX))
            .await
            .unwrap();
        assert_eq!(got.series.len(), QUERY_SERIES_MAX);
        assert_eq!(got.series[0].rows[0].values[0], 2.0);
        let e = local.query(q(QUERY_SERIES_MAX + 1, 1)).await.unwrap_err();
        assert_eq!(e.code(), Code::InvalidArgument);
        let e = local.query(q(1, STATISTICS_MAX + 1)).await.unwrap_err();
        assert_eq!(e.code(), Code::InvalidArgument);
        let list = |limit| SeriesListQuery {
            target_node_id: 7,
            tenant_id: "t".into(),
            namespace: "app".into(),
            name: String::new(),
            dimensions: Default::default(),
            active_since_ms: i64::MIN,
            limit,
            after: None,
        };
        let got = local.list(list(SERIES_LIST_MAX as u32)).await.unwrap();
        assert_eq!(got.series.len(), 1);
        let e = local
            .list(list(SERIES_LIST_MAX as u32 + 1))
            .await
            .unwrap_err();
        assert_eq!(e.code(), Code::InvalidArgument);
        let mut bad = data(&[(t0, 1.0)]);
        bad.values.clear();
        let e = local
            .write(SeriesBatch {
                target_node_id: 7,
                tenant_id: "t".into(),
                series: vec![bad],
            })
            .await
            .unwrap_err();
        assert_eq!(e.code(), Code::InvalidArgument);
        series.close().unwrap();
        let e = local.write(SeriesBatch::default()).await.unwrap_err();
        assert_eq!(e.code(), Code::Unavailable);
    }
}
