//! Every documented bound, hit: what happens there.

use crate::fixture::*;
use meridian_tsdb::{
    BUCKETS_MAX, Config, DAY_MS, Engine, Error, MERGE_CONCURRENCY_MAX, RAW_POINTS_MAX,
    SERIES_LIST_MAX, SeriesFilter, SeriesPoints, WRITE_POINTS_MAX,
};
use std::time::{Duration, Instant};

#[test]
fn a_full_head_is_sealed_early_and_stays_bounded() {
    let t = TestEngine::with(|c| {
        c.head_bytes_max = 64 * 1024;
        c.background = true;
        c.maintenance_interval_ms = 3_600_000;
    });
    let k = key("busy");
    let t0 = BASE_DAY * DAY_MS;
    let mut peak = 0;
    for batch in 0..200i64 {
        let pts: Vec<(i64, f64)> = (0..500).map(|i| (t0 + batch * 500 + i, i as f64)).collect();
        write(t.e(), &k, &pts);
        peak = peak.max(t.e().metrics().head_bytes);
    }
    // Two heads at most (live + one being sealed), each at most the limit plus one batch.
    assert!(
        peak <= 2 * (64 * 1024 + 500 * 16 + 64),
        "peak head bytes {peak}"
    );
    let deadline = Instant::now() + Duration::from_secs(60);
    while t.e().metrics().seals < 10 {
        assert!(
            Instant::now() < deadline,
            "no early seals: {:?}",
            t.e().metrics()
        );
        std::thread::sleep(Duration::from_millis(10));
    }
    assert_eq!(
        t.e()
            .raw(&k, t0, t0 + 200 * 500, RAW_POINTS_MAX)
            .unwrap()
            .len(),
        100_000
    );
}

fn limit_name(e: Error) -> &'static str {
    match e {
        Error::LimitExceeded { limit_name, .. } => limit_name,
        other => panic!("expected a limit error, got {other}"),
    }
}

#[test]
fn query_bounds_answer_errors_naming_the_limit() {
    let t = TestEngine::new();
    let k = key("q");
    let t0 = BASE_DAY * DAY_MS;
    write(t.e(), &k, &[(t0, 1.0)]);
    let err = t.e().raw(&k, t0, t0 + 10, RAW_POINTS_MAX + 1).unwrap_err();
    assert!(err.to_string().contains("RAW_POINTS_MAX"));
    assert_eq!(limit_name(err), "RAW_POINTS_MAX");
    assert_eq!(t.e().raw(&k, t0, t0 + 10, RAW_POINTS_MAX).unwrap().len(), 1);
    let err = t
        .e()
        .buckets(&k, t0, t0 + (BUCKETS_MAX as i64 + 5) * 1000, 1000)
        .unwrap_err();
    assert_eq!(limit_name(err), "BUCKETS_MAX");
    assert!(
        t.e()
            .buckets(&k, t0, t0 + (BUCKETS_MAX as i64 - 1) * 1000, 1000)
            .is_ok()
    );
}

#[test]
fn write_and_listing_bounds_answer_errors_naming_the_limit() {
    let t = TestEngine::new();
    let k = key("q");
    let t0 = BASE_DAY * DAY_MS;
    write(t.e(), &k, &[(t0, 1.0)]);
    let too_many = vec![SeriesPoints {
        key: k.clone(),
        points: vec![(t0, 1.0); WRITE_POINTS_MAX + 1],
    }];
    assert_eq!(
        limit_name(t.e().write(&too_many).unwrap_err()),
        "WRITE_POINTS_MAX"
    );
    let err = t
        .e()
        .series("acme", &SeriesFilter::default(), SERIES_LIST_MAX + 1, None)
        .unwrap_err();
    assert_eq!(limit_name(err), "SERIES_LIST_MAX");
    let err = t.e().raw(&k, t0 + 10, t0, 10).unwrap_err().to_string();
    assert!(err.contains("invalid to"), "{err}");
    let err = t.e().write(&[SeriesPoints {
        key: k.clone(),
        points: vec![(i64::MAX, 1.0)],
    }]);
    assert!(err.unwrap_err().to_string().contains("invalid timestamp"));
    let err = t
        .e()
        .buckets(&k, i64::MIN, i64::MAX, 300_000)
        .unwrap_err()
        .to_string();
    assert!(err.contains("invalid from"), "{err}");
    let bad = meridian_tsdb::SeriesKey::new("acme", "check", "");
    let err = t
        .e()
        .write(&[SeriesPoints {
            key: bad,
            points: vec![(t0, 1.0)],
        }])
        .unwrap_err();
    assert!(err.to_string().contains("invalid name"), "{err}");
}

#[test]
fn merges_per_round_are_bounded_and_the_rest_is_backlog() {
    let t = TestEngine::with(|c| c.merge_concurrency = 2);
    let k = key("m");
    for day in BASE_DAY - 6..BASE_DAY - 1 {
        write(t.e(), &k, &[(day * DAY_MS, 1.0)]);
        t.e().flush().unwrap();
    }
    t.set_now((BASE_DAY - 1) * DAY_MS + 2 * 3_600_000);
    let r = t.e().maintain().unwrap();
    assert_eq!((r.merged, r.backlog), (2, 3));
    assert_eq!(t.e().metrics().merge_backlog, 3);
    // Later rounds finish the days (and merge their rollups into spans), two jobs at most.
    for _ in 0..10 {
        let r = t.e().maintain().unwrap();
        assert!(r.merged <= 2, "{r:?}");
        if r.merged == 0 {
            break;
        }
    }
    assert_eq!(t.e().metrics().merge_backlog, 0);
}

#[test]
fn config_bounds_are_checked_naming_the_field() {
    let dir = tempfile::tempdir().unwrap();
    let mut c = Config::new(dir.path());
    c.merge_concurrency = MERGE_CONCURRENCY_MAX + 1;
    let err = Engine::open(c).err().unwrap().to_string();
    assert!(err.contains("merge_concurrency"), "{err}");
    let mut c = Config::new(dir.path());
    c.head_bytes_max = meridian_tsdb::HEAD_BYTES_MAX_LIMIT + 1;
    assert!(
        Engine::open(c)
            .err()
            .unwrap()
            .to_string()
            .contains("head_bytes_max")
    );
}

#[test]
fn a_write_past_the_log_record_bound_is_refused_before_any_series_is_created() {
    let t = TestEngine::new();
    let t0 = BASE_DAY * DAY_MS;
    write(t.e(), &key("q"), &[(t0, 1.0)]);
    // A batch whose log record would pass WAL_RECORD_BYTES_MAX (5000 keys of ~15 KiB).
    let mut wide = meridian_tsdb::SeriesKey::new("acme", "check", "wide");
    for d in 0..30 {
        wide.dimensions
            .insert(format!("{d:0>255}"), "v".repeat(255));
    }
    let huge: Vec<SeriesPoints> = (0..5000)
        .map(|i| {
            let mut k = wide.clone();
            k.name = format!("wide{i}");
            SeriesPoints {
                key: k,
                points: vec![(t0, 1.0)],
            }
        })
        .collect();
    assert_eq!(
        limit_name(t.e().write(&huge).unwrap_err()),
        "WAL_RECORD_BYTES_MAX"
    );
    let too_wide = SeriesPoints {
        key: wide.with("zz", "1"),
        points: vec![(t0, 1.0)],
    };
    let err = t.e().write(&[too_wide]).unwrap_err().to_string();
    assert!(err.contains("invalid dimensions"), "{err}");
    assert!(
        t.e()
            .series("acme", &SeriesFilter::default(), 100, None)
            .unwrap()
            .len()
            == 1
    );
}

#[test]
fn a_query_reading_too_many_raw_points_is_refused() {
    let t = TestEngine::with(|c| c.scan_points_max = 1000);
    let k = key("scan");
    let t0 = BASE_DAY * DAY_MS;
    let pts: Vec<(i64, f64)> = (0..1001).map(|i| (t0 + i, 1.0)).collect();
    write(t.e(), &k, &pts[..1000]);
    assert_eq!(
        t.e().buckets(&k, t0, t0 + 2000, 60_000).unwrap().buckets[0].count,
        1000
    );
    write(t.e(), &k, &pts[1000..]);
    assert_eq!(
        limit_name(t.e().buckets(&k, t0, t0 + 2000, 60_000).unwrap_err()),
        "scan_points_max"
    );
    assert_eq!(
        limit_name(t.e().raw(&k, t0, t0 + 2000, 10).unwrap_err()),
        "scan_points_max"
    );
    t.e().flush().unwrap();
    assert_eq!(
        limit_name(t.e().raw(&k, t0, t0 + 2000, 10).unwrap_err()),
        "scan_points_max"
    );
    assert_eq!(t.e().raw(&k, t0, t0 + 500, 1000).unwrap().len(), 500);
}
