//! The metrics API (spec/metrics.md): `POST /v1/metrics` (JSON ingest), `POST /api/v1/write`
//! (Prometheus remote_write 1.0), `GET /v1/metrics` (series listing) and
//! `GET|POST /v1/metrics/query` (statistics per period). Every call routes through
//! `SeriesRoute`, so any node answers for any series.

use std::collections::BTreeMap;
use std::time::Instant;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Query, State};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use meridian_tsdb::{SeriesFilter, SeriesKey, SeriesPoints};
use serde::Deserialize;
use serde_json::{Value, json};

use super::{ApiResult, AppState, TenantAuth};
use crate::error::Error;
use crate::node::now_ms;
use crate::series::plan::{self, QUERY_SERIES_MAX, refuse_point};
use crate::series::{Partial, StatRows, remote_write};

/// Largest body of one ingest call (spec: 1 MiB; 413 beyond).
pub const INGEST_BYTES_MAX: usize = 1 << 20;
/// Most points in one ingest call (spec: 10,000; 400 beyond).
pub const INGEST_POINTS_MAX: usize = 10_000;
/// Largest remote_write body (compressed).
pub const REMOTE_WRITE_BYTES_MAX: usize = 8 << 20;
/// Listing page size: default and most.
pub const LIST_LIMIT_DEFAULT: usize = 100;
pub const LIST_LIMIT_MAX: usize = 1_000;

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/v1/metrics", post(ingest).get(list))
        .route("/v1/metrics/query", get(query_get).post(query_post))
        .route("/api/v1/write", post(prometheus_write))
}

fn bad(field: &str, why: impl std::fmt::Display) -> Error {
    Error::BadRequest(format!("{field}: {why}"))
}

/// Reads a body of at most `max` bytes (413 beyond).
async fn read_body(req: axum::extract::Request, max: usize) -> ApiResult<Bytes> {
    axum::body::to_bytes(req.into_body(), max)
        .await
        .map_err(|_| Error::PayloadTooLarge(format!("body: larger than {max} bytes")).into())
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct IngestBody {
    metrics: Vec<IngestMetric>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct IngestMetric {
    namespace: String,
    name: String,
    #[serde(default)]
    dimensions: BTreeMap<String, String>,
    #[serde(default)]
    #[allow(dead_code)]
    unit: Option<String>,
    points: Vec<(i64, f64)>,
}

fn parse_json<T: serde::de::DeserializeOwned>(bytes: &[u8]) -> Result<T, Error> {
    let de = &mut serde_json::Deserializer::from_slice(bytes);
    serde_path_to_error::deserialize(de).map_err(|e| {
        let path = e.path().to_string();
        let field = if path == "." { "body".into() } else { path };
        bad(&field, e.into_inner())
    })
}

/// Splits an ingest body into the points to store and the refused ones.
fn prepare(
    tenant: &str,
    body: IngestBody,
    now: i64,
) -> Result<(Vec<SeriesPoints>, Vec<Value>), Error> {
    let total: usize = body.metrics.iter().map(|m| m.points.len()).sum();
    if total > INGEST_POINTS_MAX {
        return Err(bad(
            "metrics",
            format!("{total} points; at most {INGEST_POINTS_MAX} per call"),
        ));
    }
    let mut keep = Vec::with_capacity(body.metrics.len());
    let mut rejected = Vec::new();
    for (i, m) in body.metrics.into_iter().enumerate() {
        let key = SeriesKey {
            tenant: tenant.to_string(),
            namespace: m.namespace,
            name: m.name,
            dimensions: m.dimensions,
        };
        key.validate().map_err(|e| match e {
            meridian_tsdb::Error::InvalidInput { field, reason } => {
                bad(&format!("metrics[{i}].{field}"), reason)
            }
            other => bad(&format!("metrics[{i}]"), other),
        })?;
        let mut points = Vec::with_capacity(m.points.len());
        for (ts, v) in m.points {
            match refuse_point(ts, now) {
                Some(reason) => {
                    rejected.push(json!({"index": i, "point": [ts, v], "reason": reason}))
                }
                None => points.push((ts, v)),
            }
        }
        keep.push(SeriesPoints { key, points });
    }
    Ok((keep, rejected))
}

async fn ingest(
    State(node): State<AppState>,
    TenantAuth(tenant): TenantAuth,
    req: axum::extract::Request,
) -> ApiResult<Response> {
    let bytes = read_body(req, INGEST_BYTES_MAX).await?;
    let body: IngestBody = parse_json(&bytes)?;
    let (keep, rejected) = prepare(&tenant, body, now_ms())?;
    node.series
        .metrics
        .points_rejected
        .add(rejected.len() as u64);
    let accepted = node.series_route().write(&tenant, keep).await?;
    Ok(axum::Json(json!({"accepted": accepted, "rejected": rejected})).into_response())
}

async fn prometheus_write(
    State(node): State<AppState>,
    TenantAuth(tenant): TenantAuth,
    req: axum::extract::Request,
) -> ApiResult<Response> {
    let bytes = read_body(req, REMOTE_WRITE_BYTES_MAX).await?;
    let series =
        remote_write::decode(&tenant, &bytes).map_err(|e| Error::BadRequest(e.to_string()))?;
    let now = now_ms();
    let mut keep = Vec::with_capacity(series.len());
    let mut refused = 0u64;
    for (i, mut s) in series.into_iter().enumerate() {
        s.key
            .validate()
            .map_err(|e| bad(&format!("timeseries[{i}]"), e))?;
        let before = s.points.len();
        s.points.retain(|p| refuse_point(p.0, now).is_none());
        refused += (before - s.points.len()) as u64;
        keep.push(s);
    }
    // Samples out of the window are dropped, not refused: a 400 would make Prometheus drop the
    // whole batch, and a retry would not help them.
    node.series.metrics.points_rejected.add(refused);
    node.series_route().write(&tenant, keep).await?;
    Ok(axum::http::StatusCode::NO_CONTENT.into_response())
}

/// `namespace`, `name` and `dimension.<k>` of a query string, plus the remaining parameters.
fn split_params(
    params: Vec<(String, String)>,
    known: &[&str],
) -> Result<(SeriesFilter, BTreeMap<String, String>), Error> {
    let mut filter = SeriesFilter::default();
    let mut rest = BTreeMap::new();
    for (k, v) in params {
        if let Some(dim) = k.strip_prefix("dimension.") {
            filter.dimensions.insert(dim.to_string(), v);
        } else if k == "namespace" {
            filter.namespace = Some(v);
        } else if k == "name" {
            filter.name = Some(v);
        } else if known.contains(&k.as_str()) {
            rest.insert(k, v);
        } else {
            return Err(bad(&k, "unknown parameter"));
        }
    }
    Ok((filter, rest))
}

fn int_param(rest: &BTreeMap<String, String>, field: &str) -> Result<Option<i64>, Error> {
    rest.get(field)
        .map(|v| v.parse::<i64>().map_err(|_| bad(field, "not an integer")))
        .transpose()
}

fn key_json(k: &SeriesKey) -> Value {
    json!({"namespace": k.namespace, "name": k.name, "dimensions": k.dimensions})
}

/// Adds `partial` (and the shards that did not answer) to an answer.
pub fn with_partial(mut v: Value, p: &Partial) -> Value {
    v["partial"] = json!(!p.shards.is_empty());
    if !p.shards.is_empty() {
        v["unreachable_shards"] = json!(p.shards);
    }
    v
}

async fn list(
    State(node): State<AppState>,
    TenantAuth(tenant): TenantAuth,
    Query(params): Query<Vec<(String, String)>>,
) -> ApiResult<Response> {
    let (mut filter, rest) = split_params(params, &["limit", "marker"])?;
    let limit = int_param(&rest, "limit")?.unwrap_or(LIST_LIMIT_DEFAULT as i64);
    if !(1..=LIST_LIMIT_MAX as i64).contains(&limit) {
        return Err(bad("limit", format!("must be 1..={LIST_LIMIT_MAX}")).into());
    }
    let limit = limit as usize;
    let marker = rest.get("marker");
    let after = match marker {
        Some(m) => Some(
            plan::decode_marker(&tenant, m).ok_or_else(|| bad("marker", "not a listing marker"))?,
        ),
        None => None,
    };
    filter.active_since_ms = Some(now_ms() - plan::PAST_MS_MAX);
    let (mut keys, partial) = node
        .series_route()
        .list(&tenant, &filter, limit + 1, after.as_ref())
        .await?;
    let next = (keys.len() > limit).then(|| {
        keys.truncate(limit);
        plan::encode_marker(keys.last().expect("a full page"))
    });
    let body = json!({
        "values": keys.iter().map(key_json).collect::<Vec<_>>(),
        "metadata": {"count": keys.len(), "limit": limit, "marker": marker, "next_marker": next},
    });
    Ok(axum::Json(with_partial(body, &partial)).into_response())
}

/// A metrics query, from the query string or a JSON body.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct QueryBody {
    namespace: String,
    name: String,
    #[serde(default)]
    dimensions: BTreeMap<String, String>,
    from: Option<i64>,
    to: Option<i64>,
    /// Seconds.
    period: Option<i64>,
    #[serde(default)]
    statistics: Vec<String>,
}

async fn query_get(
    State(node): State<AppState>,
    TenantAuth(tenant): TenantAuth,
    Query(params): Query<Vec<(String, String)>>,
) -> ApiResult<Response> {
    let known = ["from", "to", "period", "statistics"];
    let (filter, rest) = split_params(params, &known)?;
    let q = QueryBody {
        namespace: filter
            .namespace
            .ok_or_else(|| bad("namespace", "required"))?,
        name: filter.name.ok_or_else(|| bad("name", "required"))?,
        dimensions: filter.dimensions,
        from: int_param(&rest, "from")?,
        to: int_param(&rest, "to")?,
        period: int_param(&rest, "period")?,
        statistics: rest
            .get("statistics")
            .map(|s| s.split(',').map(|x| x.trim().to_string()).collect())
            .unwrap_or_default(),
    };
    run_query(&node, &tenant, q).await
}

async fn query_post(
    State(node): State<AppState>,
    TenantAuth(tenant): TenantAuth,
    req: axum::extract::Request,
) -> ApiResult<Response> {
    let bytes = read_body(req, INGEST_BYTES_MAX).await?;
    let q: QueryBody = parse_json(&bytes)?;
    run_query(&node, &tenant, q).await
}

/// Checked time range and period of a query: `(from, to, period_ms)`.
fn query_range(q: &QueryBody, now: i64) -> Result<(i64, i64, i64), Error> {
    let to = q.to.unwrap_or(now);
    let from = q.from.unwrap_or(to - 3_600_000);
    if from >= to {
        return Err(bad("to", "must be after from"));
    }
    let period_ms = match q.period {
        None => plan::default_period_ms(from, to, now),
        Some(p) if !(1..=86_400 * 366).contains(&p) => {
            return Err(bad("period", "must be 1..=31622400 seconds"));
        }
        Some(p) => p * 1000,
    };
    let n = plan::datapoints(from, to, period_ms);
    if n > plan::DATAPOINTS_MAX {
        return Err(bad(
            "period",
            format!("gives {n} datapoints; at most {}", plan::DATAPOINTS_MAX),
        ));
    }
    Ok((from, to, period_ms))
}

async fn run_query(node: &AppState, tenant: &str, mut q: QueryBody) -> ApiResult<Response> {
    let started = Instant::now();
    if q.statistics.is_empty() {
        q.statistics.push("average".into());
    }
    crate::series::route::parse_statistics(&q.statistics)?;
    let (from, to, period_ms) = query_range(&q, now_ms())?;
    let filter = SeriesFilter {
        namespace: Some(q.namespace.clone()),
        name: Some(q.name.clone()),
        dimensions: q.dimensions.clone(),
        active_since_ms: None,
    };
    let route = node.series_route();
    let (keys, mut partial) = route
        .list(tenant, &filter, QUERY_SERIES_MAX + 1, None)
        .await?;
    if keys.len() > QUERY_SERIES_MAX {
        let why = format!("match more than {QUERY_SERIES_MAX} series; narrow them");
        return Err(bad("dimensions", why).into());
    }
    let (rows, p2) = route
        .query(&keys, (from, to), period_ms, &q.statistics, 0)
        .await?;
    partial.shards.extend(p2.shards);
    let values: Vec<Value> = keys
        .iter()
        .zip(&rows)
        .filter_map(|(k, r)| r.as_ref().map(|r| series_json(k, r, &q.statistics)))
        .collect();
    node.series.metrics.query_latency.observe(started.elapsed());
    let body = json!({"values": values, "period": period_ms / 1000});
    Ok(axum::Json(with_partial(body, &partial)).into_response())
}

/// One datapoint per row: `{timestamp, <statistic>: value|null, ...}`.
pub fn datapoints_json(r: &StatRows, stats: &[String]) -> Vec<Value> {
    r.rows
        .iter()
        .map(|(t, vals)| {
            let mut m = serde_json::Map::new();
            m.insert("timestamp".into(), json!(t));
            for (s, v) in stats.iter().zip(vals) {
                let v = if v.is_finite() { json!(v) } else { Value::Null };
                m.insert(s.clone(), v);
            }
            Value::Object(m)
        })
        .collect()
}

fn series_json(k: &SeriesKey, r: &StatRows, stats: &[String]) -> Value {
    json!({
        "series": key_json(k),
        "resolution": plan::resolution_name(r.resolution),
        "datapoints": datapoints_json(r, stats),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: i64 = 1_800_000_000_000;

    fn body(points: usize) -> IngestBody {
        IngestBody {
            metrics: vec![IngestMetric {
                namespace: "app".into(),
                name: "latency".into(),
                dimensions: BTreeMap::new(),
                unit: None,
                points: (0..points as i64).map(|i| (NOW - i, 1.0)).collect(),
            }],
        }
    }

    #[test]
    fn ingest_takes_exactly_the_point_bound_and_refuses_one_more() {
        assert!(prepare("t", body(INGEST_POINTS_MAX), NOW).is_ok());
        let e = prepare("t", body(INGEST_POINTS_MAX + 1), NOW)
            .err()
            .unwrap();
        assert!(e.to_string().starts_with("metrics:"), "{e}");
    }

    #[test]
    fn out_of_window_points_are_listed_and_the_rest_kept() {
        let mut b = body(2);
        b.metrics[0].points.push((NOW - plan::PAST_MS_MAX - 1, 7.0));
        let (keep, rejected) = prepare("t", b, NOW).unwrap();
        assert_eq!(keep[0].points.len(), 2);
        assert_eq!(rejected.len(), 1);
        assert_eq!(rejected[0]["index"], 0);
        assert_eq!(rejected[0]["point"][1], 7.0);
    }

    #[test]
    fn a_bad_name_is_refused_naming_the_field() {
        let mut b = body(1);
        b.metrics[0].name = "x".repeat(256);
        let e = prepare("t", b, NOW).err().unwrap();
        assert!(e.to_string().starts_with("metrics[0].name:"), "{e}");
    }

    #[test]
    fn a_period_that_gives_too_many_datapoints_is_refused() {
        let q = |period| QueryBody {
            namespace: "a".into(),
            name: "b".into(),
            dimensions: BTreeMap::new(),
            from: Some(NOW - 86_400_000),
            to: Some(NOW),
            period,
            statistics: vec![],
        };
        assert!(query_range(&q(Some(60)), NOW).is_ok());
        let e = query_range(&q(Some(59)), NOW).err().unwrap();
        assert!(e.to_string().starts_with("period:"), "{e}");
        let (_, _, p) = query_range(&q(None), NOW).unwrap();
        assert_eq!(p, 60_000);
    }
}
