//! A check's metrics from the series store: `GET .../checks/{ch}/metrics` (metric names per
//! zone) and `GET .../checks/{ch}/metrics/{name}/plot` (Rackspace's plot: one value per bucket
//! of a resolution, picked directly or by `points=N`).

use std::collections::{BTreeMap, BTreeSet};
use std::time::Instant;

use axum::Router;
use axum::extract::{Path, Query, State};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use meridian_raft::model::ObjectKind;
use meridian_tsdb::{Resolution, SERIES_LIST_MAX, SeriesFilter, SeriesKey};
use serde_json::json;

use super::metrics_api::{datapoints_json, with_partial};
use super::{ApiResult, AppState, TenantAuth};
use crate::error::Error;
use crate::node::now_ms;
use crate::series::checks::NAMESPACE;
use crate::series::plan;
use crate::spec::CheckSpec;

/// Most values one plot answers (spec: 1,440).
pub const PLOT_VALUES_MAX: i64 = 1_440;

pub fn routes() -> Router<AppState> {
    Router::new()
        .route(
            "/v1/entities/{entity_id}/checks/{check_id}/metrics",
            get(names),
        )
        .route(
            "/v1/entities/{entity_id}/checks/{check_id}/metrics/{name}/plot",
            get(plot),
        )
}

fn bad(field: &str, why: impl std::fmt::Display) -> Error {
    Error::BadRequest(format!("{field}: {why}"))
}

/// The tenant's check under the entity, or 404 (another tenant's check included).
fn check_spec(node: &AppState, tenant: &str, entity: &str, check: &str) -> ApiResult<CheckSpec> {
    let rec = node
        .state
        .read(|s| s.object(tenant, ObjectKind::Check, check).cloned())
        .filter(|c| c.parent.as_deref() == Some(entity))
        .ok_or_else(|| Error::NotFound(format!("check {check} does not exist")))?;
    Ok(CheckSpec::from_record(&rec)?)
}

async fn names(
    State(node): State<AppState>,
    TenantAuth(tenant): TenantAuth,
    Path((entity, check)): Path<(String, String)>,
) -> ApiResult<Response> {
    let spec = check_spec(&node, &tenant, &entity, &check)?;
    let filter = SeriesFilter {
        namespace: Some(NAMESPACE.into()),
        name: None,
        dimensions: [("entity", &entity), ("check", &check)]
            .into_iter()
            .map(|(k, v)| (k.to_string(), v.clone()))
            .collect(),
        active_since_ms: Some(now_ms() - plan::PAST_MS_MAX),
    };
    let (keys, partial) = node
        .series_route()
        .list(&tenant, &filter, SERIES_LIST_MAX, None)
        .await?;
    let mut per_zone: BTreeMap<String, BTreeSet<String>> = spec
        .zones
        .iter()
        .map(|z| (z.clone(), BTreeSet::new()))
        .collect();
    for k in keys {
        if let Some(z) = k.dimensions.get("zone") {
            per_zone.entry(z.clone()).or_default().insert(k.name);
        }
    }
    let values: Vec<_> = per_zone
        .into_iter()
        .map(|(z, names)| json!({"monitoring_zone_id": z, "metrics": names}))
        .collect();
    Ok(axum::Json(with_partial(json!({"values": values}), &partial)).into_response())
}

/// What a plot asks for, checked.
#[derive(Debug, PartialEq)]
struct PlotAsk {
    from: i64,
    to: i64,
    resolution: Resolution,
    select: Vec<String>,
    zone: Option<String>,
}

fn parse_plot(p: &BTreeMap<String, String>, now: i64) -> Result<PlotAsk, Error> {
    for k in p.keys() {
        if !["from", "to", "points", "resolution", "select", "zone"].contains(&k.as_str()) {
            return Err(bad(k, "unknown parameter"));
        }
    }
    let int = |f: &str| {
        p.get(f)
            .map(|v| v.parse::<i64>().map_err(|_| bad(f, "not an integer")))
            .transpose()
    };
    let to = int("to")?.unwrap_or(now);
    let from = int("from")?.unwrap_or(to - 86_400_000);
    if from >= to {
        return Err(bad("to", "must be after from"));
    }
    let resolution = match (int("points")?, p.get("resolution")) {
        (Some(_), Some(_)) => return Err(bad("points", "give points or resolution, not both")),
        (None, None) => return Err(bad("points", "give points or resolution")),
        (Some(n), None) if !(1..=PLOT_VALUES_MAX).contains(&n) => {
            return Err(bad("points", format!("must be 1..={PLOT_VALUES_MAX}")));
        }
        (Some(n), None) => plan::plot_resolution(from, to, n),
        (None, Some(r)) => plan::parse_resolution(r).ok_or_else(|| {
            bad(
                "resolution",
                "one of FULL, MIN5, MIN20, MIN60, MIN240, MIN1440",
            )
        })?,
    };
    if let Some(period) = resolution.period_ms() {
        let n = plan::datapoints(from, to, period);
        if n > PLOT_VALUES_MAX {
            let why = format!("gives {n} values; at most {PLOT_VALUES_MAX}");
            return Err(bad("resolution", why));
        }
    }
    let select: Vec<String> = match p.get("select") {
        Some(s) => s.split(',').map(|x| x.trim().to_string()).collect(),
        None => vec!["average".into()],
    };
    crate::series::route::parse_statistics(&select).map_err(|e| bad("select", e))?;
    Ok(PlotAsk {
        from,
        to,
        resolution,
        select,
        zone: p.get("zone").cloned(),
    })
}

async fn plot(
    State(node): State<AppState>,
    TenantAuth(tenant): TenantAuth,
    Path((entity, check, name)): Path<(String, String, String)>,
    Query(p): Query<BTreeMap<String, String>>,
) -> ApiResult<Response> {
    let started = Instant::now();
    let spec = check_spec(&node, &tenant, &entity, &check)?;
    let ask = parse_plot(&p, now_ms())?;
    // Without `zone`, the check's first zone: a plot is one series.
    let zone = match &ask.zone {
        Some(z) if !spec.zones.contains(z) => {
            return Err(bad("zone", format!("check {check} is not polled from {z}")).into());
        }
        Some(z) => z.clone(),
        None => spec.zones.first().cloned().unwrap_or_default(),
    };
    let key = SeriesKey::new(&tenant, NAMESPACE, &name)
        .with("entity", &entity)
        .with("check", &check)
        .with("zone", &zone);
    let period = ask.resolution.period_ms().unwrap_or(0);
    let raw_limit = (PLOT_VALUES_MAX + 1) as usize;
    let (rows, partial) = node
        .series_route()
        .query(
            std::slice::from_ref(&key),
            (ask.from, ask.to),
            period,
            &ask.select,
            raw_limit,
        )
        .await?;
    let values = match rows.into_iter().next().flatten() {
        Some(r) if r.rows.len() as i64 > PLOT_VALUES_MAX => {
            let why = format!("FULL gives more than {PLOT_VALUES_MAX} values; use points");
            return Err(bad("resolution", why).into());
        }
        Some(r) => datapoints_json(&r, &ask.select),
        None => Vec::new(),
    };
    node.series.metrics.query_latency.observe(started.elapsed());
    let body = json!({
        "values": values,
        "metadata": {
            "resolution": plan::resolution_name(ask.resolution),
            "monitoring_zone_id": zone,
        },
    });
    Ok(axum::Json(with_partial(body, &partial)).into_response())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn params(kv: &[(&str, &str)]) -> BTreeMap<String, String> {
        kv.iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn points_and_resolution_pick_the_plot_resolution() {
        let now = 1_800_000_000_000;
        let day = params(&[("from", "1799913600000"), ("to", "1800000000000")]);
        let mut p = day.clone();
        p.insert("points".into(), "24".into());
        assert_eq!(parse_plot(&p, now).unwrap().resolution, Resolution::Min60);
        let mut p = day.clone();
        p.insert("resolution".into(), "min5".into());
        assert_eq!(parse_plot(&p, now).unwrap().resolution, Resolution::Min5);
        let e = parse_plot(&day, now).unwrap_err();
        assert!(e.to_string().starts_with("points:"), "{e}");
        let mut p = day.clone();
        p.insert("points".into(), "1441".into());
        assert!(
            parse_plot(&p, now)
                .unwrap_err()
                .to_string()
                .starts_with("points:")
        );
        let mut p = day.clone();
        p.insert("resolution".into(), "MIN7".into());
        assert!(
            parse_plot(&p, now)
                .unwrap_err()
                .to_string()
                .starts_with("resolution:")
        );
        let mut p = day;
        p.insert("points".into(), "10".into());
        p.insert("select".into(), "average,p101".into());
        assert!(
            parse_plot(&p, now)
                .unwrap_err()
                .to_string()
                .starts_with("select:")
        );
    }

    #[test]
    fn a_rollup_over_too_long_a_range_is_refused() {
        let now = 1_800_000_000_000;
        let p = params(&[
            ("from", "1700000000000"),
            ("to", "1800000000000"),
            ("resolution", "MIN5"),
        ]);
        let e = parse_plot(&p, now).unwrap_err();
        assert!(e.to_string().starts_with("resolution:"), "{e}");
    }
}
