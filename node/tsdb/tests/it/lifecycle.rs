//! Seal, merge, rollups and retention over several days, checked against a naive model.

use crate::fixture::*;
use meridian_tsdb::{Bucket, DAY_MS, Resolution, Statistic, rollup::aggregate};

const HOUR: i64 = 3_600_000;

/// A decimal gauge with gaps and duplicates over days BASE_DAY..BASE_DAY+3.
fn gauge(day: i64, part: i64) -> Vec<(i64, f64)> {
    let t0 = day * DAY_MS;
    (0..2000)
        .map(|i| {
            let t = t0 + part * 7 * HOUR + i * 12_345 % (7 * HOUR);
            (t, ((i * 37 + part) % 1000) as f64 / 10.0)
        })
        .collect()
}

fn naive(model: &Model, from: i64, to: i64, period: i64) -> Vec<Bucket> {
    aggregate(&model.range(from, to), period)
}

fn assert_buckets_match(got: &[Bucket], want: &[Bucket]) {
    assert_eq!(got.len(), want.len());
    for (g, w) in got.iter().zip(want) {
        assert_eq!(
            (g.start_ms, g.count, g.min, g.max),
            (w.start_ms, w.count, w.min, w.max)
        );
        assert!(
            (g.sum - w.sum).abs() <= 1e-9 * w.sum.abs().max(1.0),
            "sum {} vs {}",
            g.sum,
            w.sum
        );
        assert!((g.sum_sq - w.sum_sq).abs() <= 1e-9 * w.sum_sq.abs().max(1.0));
        for p in [50.0, 90.0, 99.0] {
            let got = g.statistic(Statistic::Percentile(p)).unwrap();
            let exact = w.statistic(Statistic::Percentile(p)).unwrap();
            // Both come from sketches of the same points: equal, and within 1 % of the truth.
            assert_eq!(got, exact);
        }
    }
}

/// Three days of three sealed blocks each; every open day is compacted once.
fn ingest_three_days(t: &TestEngine, k: &meridian_tsdb::SeriesKey) -> Model {
    let mut model = Model::default();
    for day in BASE_DAY..BASE_DAY + 3 {
        t.set_now(day * DAY_MS + 30 * 60_000);
        for part in 0..3 {
            let pts = gauge(day, part);
            write(t.e(), k, &pts);
            model.add(&pts);
            t.e().flush().unwrap();
        }
        // An open day with `merge_fanin` blocks is compacted (no rollups yet).
        let r = t.e().maintain().unwrap();
        assert!(r.merged >= 1, "{r:?}");
    }
    model
}

#[test]
fn days_merge_roll_up_and_expire_keeping_exactly_what_they_should() {
    let mut t = TestEngine::with(|c| {
        c.merge_fanin = 3;
        c.retention.raw_ms = 3 * DAY_MS;
    });
    let k = key("gauge");
    let model = ingest_three_days(&t, &k);
    let (from, to) = (BASE_DAY * DAY_MS, (BASE_DAY + 3) * DAY_MS);
    assert_same(
        &t.e().raw(&k, from, to, 100_000).unwrap(),
        &model.range(from, to),
    );

    // Close every day: one raw block per day and rollups for each.
    t.set_now((BASE_DAY + 3) * DAY_MS + 2 * HOUR);
    while t.e().maintain().unwrap().merged > 0 {}
    let m = t.e().metrics();
    let raw_blocks: u64 = m.raw_levels.iter().map(|l| l.blocks).sum();
    assert_eq!(raw_blocks, 3);
    assert!(m.rollups.iter().all(|r| r.blocks == 3), "{:?}", m.rollups);
    assert_same(
        &t.e().raw(&k, from, to, 100_000).unwrap(),
        &model.range(from, to),
    );

    // Still within raw retention for the last day: buckets come from raw.
    let b = t
        .e()
        .buckets(&k, (BASE_DAY + 2) * DAY_MS, to, 60 * 60_000)
        .unwrap();
    assert_eq!(b.resolution, Resolution::Raw);
    assert_buckets_match(
        &b.buckets,
        &naive(&model, (BASE_DAY + 2) * DAY_MS, to, HOUR),
    );

    // Later: raw of the first days expired, buckets come from rollups and equal the naive ones.
    t.set_now((BASE_DAY + 6) * DAY_MS + 2 * HOUR);
    let r = t.e().maintain().unwrap();
    assert_eq!(r.dropped, 3, "three raw blocks past 3 days");
    assert!(t.e().raw(&k, from, to, 100_000).unwrap().is_empty());
    for period in [5 * 60_000, 20 * 60_000, HOUR, 4 * HOUR, DAY_MS, 2 * HOUR] {
        let b = t.e().buckets(&k, from, to, period).unwrap();
        assert_ne!(b.resolution, Resolution::Raw);
        assert_buckets_match(&b.buckets, &naive(&model, from, to, period));
    }

    // After 10 days the 5-minute rollups go; 20-minute ones answer instead.
    t.set_now((BASE_DAY + 13) * DAY_MS + 2 * HOUR);
    t.e().maintain().unwrap();
    let m = t.e().metrics();
    assert_eq!(m.rollups[0].blocks, 0);
    // Raw is long gone: the three days of 20-minute rollups were merged into one 4-day span.
    assert_eq!(m.rollups[1].blocks, 1);
    assert_eq!(m.rollups[2].blocks, 3);
    let b = t.e().buckets(&k, from, to, 20 * 60_000).unwrap();
    assert_eq!(b.resolution, Resolution::Min20);
    assert_buckets_match(&b.buckets, &naive(&model, from, to, 20 * 60_000));
    // Raw is gone for this range: a period that is no multiple of a rollup is refused.
    let err = t.e().buckets(&k, from, to, 90_000).unwrap_err().to_string();
    assert!(err.contains("invalid period"), "{err}");
    later_spans_answer_alike(&mut t, &k, &model);
}

fn later_spans_answer_alike(t: &mut TestEngine, k: &meridian_tsdb::SeriesKey, model: &Model) {
    let (from, to) = (BASE_DAY * DAY_MS, (BASE_DAY + 3) * DAY_MS);
    // Later still, hourly rollups merge into a 16-day span and answer alike.
    t.set_now((BASE_DAY + 20) * DAY_MS + 2 * HOUR);
    t.e().maintain().unwrap();
    let m = t.e().metrics();
    assert_eq!((m.rollups[1].blocks, m.rollups[2].blocks), (1, 1));
    let b = t.e().buckets(k, from, to, HOUR).unwrap();
    assert_eq!(b.resolution, Resolution::Min60);
    assert_buckets_match(&b.buckets, &naive(model, from, to, HOUR));
    t.reopen_keeping_clock();
    let b = t.e().buckets(k, from, to, 2 * HOUR).unwrap();
    assert_buckets_match(&b.buckets, &naive(model, from, to, 2 * HOUR));
}

#[test]
fn a_bucket_partly_in_the_head_answers_like_the_naive_model() {
    let t = TestEngine::new();
    let k = key("partial");
    let mut model = Model::default();
    let t0 = BASE_DAY * DAY_MS;
    t.set_now(t0 + 3 * HOUR);
    let first: Vec<(i64, f64)> = (0..90).map(|i| (t0 + i * 60_000, i as f64)).collect();
    write(t.e(), &k, &first);
    model.add(&first);
    t.e().flush().unwrap();
    let second: Vec<(i64, f64)> = (90..150)
        .map(|i| (t0 + i * 60_000, (i * i) as f64))
        .collect();
    write(t.e(), &k, &second);
    model.add(&second);
    for period in [60_000, 20 * 60_000, HOUR] {
        let b = t.e().buckets(&k, t0, t0 + 3 * HOUR, period).unwrap();
        assert_buckets_match(&b.buckets, &naive(&model, t0, t0 + 3 * HOUR, period));
    }
    // Late points for a closed, rolled-up day also show up (head on top of rollups).
    t.set_now(t0 + DAY_MS + 2 * HOUR);
    t.e().flush().unwrap();
    t.e().maintain().unwrap();
    t.set_now(t0 + 3 * DAY_MS + 2 * HOUR);
    t.e().maintain().unwrap();
    let late = [(t0 + 10 * 60_000 + 1, 1000.0)];
    write(t.e(), &k, &late);
    model.add(&late);
    let b = t.e().buckets(&k, t0, t0 + 3 * HOUR, HOUR).unwrap();
    assert_eq!(b.resolution, Resolution::Min5);
    assert_buckets_match(&b.buckets, &naive(&model, t0, t0 + 3 * HOUR, HOUR));
    // And once sealed and folded into the rollups.
    t.e().flush().unwrap();
    t.e().maintain().unwrap();
    let b = t.e().buckets(&k, t0, t0 + 3 * HOUR, HOUR).unwrap();
    assert_buckets_match(&b.buckets, &naive(&model, t0, t0 + 3 * HOUR, HOUR));
}
