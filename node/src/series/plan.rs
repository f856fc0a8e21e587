//! Pure rules of the series store: which shard a series belongs to, which points a write
//! refuses, the default query period, the plot resolution for `points=N`, and list markers.
//! No clock, no IO: the caller passes `now_ms`.

use std::collections::BTreeMap;

use base64::Engine as _;
use meridian_placement::shard_of;
use meridian_tsdb::{Resolution, SeriesKey};

/// Oldest point a write accepts, relative to the node's clock (spec/metrics.md: 14 days).
pub const PAST_MS_MAX: i64 = 14 * 86_400_000;
/// Furthest-ahead point a write accepts (spec/metrics.md: 2 hours).
pub const FUTURE_MS_MAX: i64 = 2 * 3_600_000;
/// Most datapoints (buckets) one series of a query answer may have.
pub const DATAPOINTS_MAX: i64 = 1_440;
/// Most series one query may read.
pub const QUERY_SERIES_MAX: usize = 100;
/// Retention of raw points the default period assumes (the engine's default, 2 days).
pub const RAW_KEPT_MS: i64 = 2 * 86_400_000;
/// Ascending (resolution, retention ms) of the engine's defaults, rollups only.
const ROLLUP_KEPT_MS: [(Resolution, i64); 5] = [
    (Resolution::Min5, 10 * 86_400_000),
    (Resolution::Min20, 20 * 86_400_000),
    (Resolution::Min60, 155 * 86_400_000),
    (Resolution::Min240, 300 * 86_400_000),
    (Resolution::Min1440, 5 * 365 * 86_400_000),
];

/// The shard of a series: the placement crate's stable hash over tenant, namespace, name and the
/// sorted dimensions, each part length-prefixed so no two keys share bytes.
pub fn shard(key: &SeriesKey, n_shards: u32) -> u32 {
    let mut buf = Vec::with_capacity(64);
    let mut part = |s: &str| {
        buf.extend_from_slice(&(s.len() as u32).to_le_bytes());
        buf.extend_from_slice(s.as_bytes());
    };
    part(&key.tenant);
    part(&key.namespace);
    part(&key.name);
    for (k, v) in &key.dimensions {
        part(k);
        part(v);
    }
    shard_of(&buf, n_shards)
}

/// Why a point is refused, or `None` when it is kept.
pub fn refuse_point(ts_ms: i64, now_ms: i64) -> Option<&'static str> {
    if ts_ms < now_ms.saturating_sub(PAST_MS_MAX) {
        Some("timestamp more than 14 days old")
    } else if ts_ms > now_ms.saturating_add(FUTURE_MS_MAX) {
        Some("timestamp more than 2 hours ahead")
    } else {
        None
    }
}

/// The API's name of a resolution (Rackspace's plot names).
pub fn resolution_name(r: Resolution) -> &'static str {
    match r {
        Resolution::Raw => "FULL",
        Resolution::Min5 => "MIN5",
        Resolution::Min20 => "MIN20",
        Resolution::Min60 => "MIN60",
        Resolution::Min240 => "MIN240",
        Resolution::Min1440 => "MIN1440",
    }
}

/// Parses a resolution name; `None` when unknown.
pub fn parse_resolution(s: &str) -> Option<Resolution> {
    Resolution::ALL
        .into_iter()
        .find(|r| resolution_name(*r).eq_ignore_ascii_case(s))
}

/// The finest resolution still kept for data at `from_ms` (engine default retentions).
pub fn finest_kept(from_ms: i64, now_ms: i64) -> Resolution {
    let age = now_ms.saturating_sub(from_ms);
    if age <= RAW_KEPT_MS {
        return Resolution::Raw;
    }
    ROLLUP_KEPT_MS
        .iter()
        .find(|(_, kept)| age <= *kept)
        .map_or(Resolution::Min1440, |(r, _)| *r)
}

/// The default query period in ms: the finest resolution kept for `from` (1 s for raw),
/// widened to a multiple of it so `[from, to)` gives at most `DATAPOINTS_MAX` datapoints.
pub fn default_period_ms(from_ms: i64, to_ms: i64, now_ms: i64) -> i64 {
    let unit = finest_kept(from_ms, now_ms).period_ms().unwrap_or(1_000);
    let span = (to_ms - from_ms).max(1);
    let need = ceil_div(span, DATAPOINTS_MAX);
    ceil_div(need, unit).max(1) * unit
}

fn ceil_div(a: i64, b: i64) -> i64 {
    assert!(a > 0 && b > 0, "positive operands");
    (a - 1) / b + 1
}

/// Datapoints `[from, to)` gives at `period_ms` (epoch-aligned buckets touched).
pub fn datapoints(from_ms: i64, to_ms: i64, period_ms: i64) -> i64 {
    assert!(period_ms > 0, "period must be positive");
    let first = from_ms.div_euclid(period_ms);
    let last = (to_ms - 1).div_euclid(period_ms);
    last - first + 1
}

/// The plot resolution for `points=N`: the coarsest rollup that still gives at least `points`
/// buckets over `[from, to)`; raw (`FULL`) when none does.
pub fn plot_resolution(from_ms: i64, to_ms: i64, points: i64) -> Resolution {
    Resolution::ROLLUPS
        .into_iter()
        .rev()
        .find(|r| {
            let p = r.period_ms().expect("rollups have a period");
            (to_ms - from_ms) / p >= points
        })
        .unwrap_or(Resolution::Raw)
}

/// An opaque listing marker for the key a page ended at.
pub fn encode_marker(key: &SeriesKey) -> String {
    let v = serde_json::json!([key.namespace, key.name, key.dimensions]);
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(v.to_string())
}

/// The key a marker stands for, of `tenant`; `None` when the marker is not one of ours.
pub fn decode_marker(tenant: &str, marker: &str) -> Option<SeriesKey> {
    let raw = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(marker)
        .ok()?;
    let (namespace, name, dimensions): (String, String, BTreeMap<String, String>) =
        serde_json::from_slice(&raw).ok()?;
    Some(SeriesKey {
        tenant: tenant.to_string(),
        namespace,
        name,
        dimensions,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const NOW: i64 = 1_800_000_000_000;

    #[test]
    fn the_window_refuses_old_and_far_future_points_only() {
        assert_eq!(refuse_point(NOW - PAST_MS_MAX, NOW), None);
        assert!(refuse_point(NOW - PAST_MS_MAX - 1, NOW).is_some());
        assert_eq!(refuse_point(NOW + FUTURE_MS_MAX, NOW), None);
        assert!(refuse_point(NOW + FUTURE_MS_MAX + 1, NOW).is_some());
        assert!(refuse_point(i64::MIN, NOW).is_some());
        assert!(refuse_point(i64::MAX, NOW).is_some());
    }

    #[test]
    fn the_default_period_keeps_datapoints_within_the_bound() {
        // A day back: raw is kept, 1,440 minutes -> 60 s.
        assert_eq!(default_period_ms(NOW - 86_400_000, NOW, NOW), 60_000);
        // An hour back: 2.5 s rounds up to whole seconds.
        assert_eq!(default_period_ms(NOW - 3_600_000, NOW, NOW), 3_000);
        // Five days back: 5-minute rollups.
        assert_eq!(finest_kept(NOW - 5 * 86_400_000, NOW), Resolution::Min5);
        let p = default_period_ms(NOW - 5 * 86_400_000, NOW, NOW);
        assert_eq!(p % 300_000, 0);
        // A decade back: daily rollups, whatever the span.
        assert_eq!(
            finest_kept(NOW - 3650 * 86_400_000, NOW),
            Resolution::Min1440
        );
    }

    #[test]
    fn points_picks_the_coarsest_resolution_that_still_gives_enough() {
        let day = 86_400_000;
        assert_eq!(plot_resolution(0, day, 1), Resolution::Min1440);
        assert_eq!(plot_resolution(0, day, 6), Resolution::Min240);
        assert_eq!(plot_resolution(0, day, 24), Resolution::Min60);
        assert_eq!(plot_resolution(0, day, 72), Resolution::Min20);
        assert_eq!(plot_resolution(0, day, 288), Resolution::Min5);
        assert_eq!(plot_resolution(0, day, 289), Resolution::Raw);
    }

    #[test]
    fn resolution_names_round_trip() {
        for r in Resolution::ALL {
            assert_eq!(parse_resolution(resolution_name(r)), Some(r));
        }
        assert_eq!(parse_resolution("min5"), Some(Resolution::Min5));
        assert_eq!(parse_resolution("MIN7"), None);
    }

    proptest! {
        #[test]
        fn default_period_never_exceeds_the_datapoint_bound(
            back in 1i64..(3 * 365 * 86_400_000), span in 1i64..(400 * 86_400_000)
        ) {
            let from = NOW - back;
            let to = from + span;
            let p = default_period_ms(from, to, NOW);
            prop_assert!(p > 0);
            // Epoch alignment may add one bucket at each end.
            prop_assert!(datapoints(from, to, p) <= DATAPOINTS_MAX + 1);
            let unit = finest_kept(from, NOW).period_ms().unwrap_or(1_000);
            prop_assert_eq!(p % unit, 0);
        }

        #[test]
        fn shard_is_stable_and_in_range(
            ns in "[a-z]{1,8}", name in "[a-z.]{1,12}", dims in proptest::collection::btree_map("[a-z]{1,4}", "[a-z0-9]{1,6}", 0..5),
            n in 1u32..2048
        ) {
            let mut key = SeriesKey::new("t1", &ns, &name);
            key.dimensions = dims.clone();
            let s = shard(&key, n);
            prop_assert!(s < n);
            let mut again = SeriesKey::new("t1", &ns, &name);
            for (k, v) in dims.iter().rev() {
                again = again.with(k, v);
            }
            prop_assert_eq!(shard(&again, n), s);
        }

        #[test]
        fn markers_round_trip(
            ns in "\\PC{1,8}", name in "\\PC{1,12}", dims in proptest::collection::btree_map("\\PC{1,4}", "\\PC{1,6}", 0..5)
        ) {
            let mut key = SeriesKey::new("t1", &ns, &name);
            key.dimensions = dims;
            prop_assert_eq!(decode_marker("t1", &encode_marker(&key)), Some(key));
        }
    }

    #[test]
    fn a_foreign_marker_is_refused() {
        assert_eq!(decode_marker("t1", "not*base64"), None);
        assert_eq!(decode_marker("t1", "e30"), None);
    }
}
