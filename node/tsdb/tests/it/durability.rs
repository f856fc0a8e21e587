//! WAL replay, torn tails, format versions and the duplicate/conflict rule through the engine.

use crate::fixture::*;
use meridian_tsdb::{Config, DAY_MS, Engine};
use std::io::Write;

#[test]
fn unsealed_writes_survive_a_lost_process_via_wal_replay() {
    let mut t = TestEngine::new();
    let k = key("latency");
    let t0 = BASE_DAY * DAY_MS;
    let pts: Vec<(i64, f64)> = (0..100)
        .map(|i| (t0 + i * 10_000, i as f64 * 0.1))
        .collect();
    write(t.e(), &k, &pts);
    t.reopen(false, |_| {});
    assert_same(&t.e().raw(&k, t0, t0 + DAY_MS, 1000).unwrap(), &pts);
    let wal_files = |t: &TestEngine| std::fs::read_dir(t.dir.path().join("wal")).unwrap().count();
    assert!(
        wal_files(&t) >= 2,
        "the replayed segment stays until its data is in a block"
    );
    t.e().flush().unwrap();
    assert_eq!(wal_files(&t), 1, "only the segment after the seal is left");
    t.reopen(false, |_| {});
    assert_same(&t.e().raw(&k, t0, t0 + DAY_MS, 1000).unwrap(), &pts);
    let m = t.e().metrics();
    assert_eq!(m.head_points, 0);
    assert_eq!(m.raw_levels[0].blocks, 1);
}

#[test]
fn torn_wal_tail_is_cut_and_acknowledged_points_stay() {
    let mut t = TestEngine::new();
    let k = key("rtt");
    let t0 = BASE_DAY * DAY_MS;
    write(t.e(), &k, &[(t0, 1.0), (t0 + 1, 2.0)]);
    drop(t.engine.take());
    let wal = t.dir.path().join("wal");
    let mut segs: Vec<_> = std::fs::read_dir(&wal)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    segs.sort();
    let last = segs
        .iter()
        .rev()
        .find(|p| std::fs::metadata(p).unwrap().len() > 12)
        .unwrap();
    let mut f = std::fs::OpenOptions::new().append(true).open(last).unwrap();
    f.write_all(&[200, 0, 0, 0, 1, 2, 3, 4, 5]).unwrap();
    drop(f);
    t.reopen(false, |_| {});
    assert_same(
        &t.e().raw(&k, t0, t0 + 10, 10).unwrap(),
        &[(t0, 1.0), (t0 + 1, 2.0)],
    );
    write(t.e(), &k, &[(t0 + 2, 3.0)]);
    t.reopen(false, |_| {});
    assert_eq!(t.e().raw(&k, t0, t0 + 10, 10).unwrap().len(), 3);
}

#[test]
fn files_the_manifest_does_not_name_are_removed_on_open() {
    let mut t = TestEngine::new();
    let k = key("kept");
    let t0 = BASE_DAY * DAY_MS;
    write(t.e(), &k, &[(t0, 1.0)]);
    t.e().flush().unwrap();
    let blocks = t.dir.path().join("blocks");
    // What a crash between writing a block and committing the manifest leaves behind.
    std::fs::write(blocks.join("00000000deadbeef.blk"), b"half a merge").unwrap();
    std::fs::write(blocks.join("00000000deadbeef.blk.tmp"), b"torn").unwrap();
    t.reopen(false, |_| {});
    let names: Vec<String> = std::fs::read_dir(&blocks)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(names.len(), 1, "{names:?}");
    assert_eq!(t.e().raw(&k, t0, t0 + 1, 1).unwrap(), vec![(t0, 1.0)]);
}

#[test]
fn an_old_head_is_sealed_by_time() {
    let t = TestEngine::with(|c| c.seal_interval_ms = 60_000);
    let k = key("slow");
    let now = BASE_DAY * DAY_MS;
    t.set_now(now);
    write(t.e(), &k, &[(now, 1.0)]);
    assert!(!t.e().maintain().unwrap().sealed);
    t.set_now(now + 60_000);
    assert!(t.e().maintain().unwrap().sealed);
    assert_eq!(t.e().metrics().head_points, 0);
    assert_eq!(t.e().raw(&k, now, now + 1, 1).unwrap(), vec![(now, 1.0)]);
}

#[test]
fn engine_is_send_and_sync() {
    fn check<T: Send + Sync>() {}
    check::<Engine>();
}

#[test]
fn unknown_format_version_is_refused_naming_both_versions() {
    let dir = tempfile::tempdir().unwrap();
    Engine::open(Config::new(dir.path()))
        .unwrap()
        .close()
        .unwrap();
    std::fs::write(dir.path().join("FORMAT"), "meridian-tsdb format 7\n").unwrap();
    let err = Engine::open(Config::new(dir.path()))
        .err()
        .unwrap()
        .to_string();
    assert!(
        err.contains("version 7") && err.contains("supports version 1"),
        "{err}"
    );
}

#[test]
fn duplicates_are_no_ops_and_conflicts_converge_whatever_the_order() {
    let k = key("conflict");
    let t0 = BASE_DAY * DAY_MS;
    let a = [
        (t0, 1.0),
        (t0 + 1, -0.0),
        (t0 + 2, f64::from_bits(0x7ff0_0000_0000_0002)),
    ];
    let b = [(t0, 2.0), (t0 + 1, 0.0), (t0 + 2, 5.0)];
    let mut results = Vec::new();
    for order in [[&a, &b], [&b, &a]] {
        let t = TestEngine::new();
        write(t.e(), &k, order[0]);
        t.e().flush().unwrap();
        write(t.e(), &k, order[0]);
        write(t.e(), &k, order[1]);
        t.e().flush().unwrap();
        let before = t.e().raw(&k, t0, t0 + 10, 10).unwrap();
        t.set_now((BASE_DAY + 1) * DAY_MS + 2 * 3_600_000);
        t.e().maintain().unwrap();
        let after = t.e().raw(&k, t0, t0 + 10, 10).unwrap();
        assert_same(&before, &after);
        // Counted each time a seal or merge settles differing values: at least once each.
        assert!(t.e().metrics().conflicts >= 3);
        results.push(after);
    }
    assert_same(&results[0], &results[1]);
    assert_eq!(results[0][0].1, 2.0);
    assert_eq!(results[0][1].1.to_bits(), 0.0f64.to_bits());
    assert!(
        results[0][2].1.is_nan(),
        "a NaN orders above every number in total_cmp"
    );
}
