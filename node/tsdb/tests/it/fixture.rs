//! Shared test fixtures: an engine on a temp dir with a hand-driven clock, and a naive model.

use meridian_tsdb::{Config, DAY_MS, Engine, SeriesKey, SeriesPoints};
use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};

/// A day far from the epoch so negative maths would show.
pub const BASE_DAY: i64 = 20_000;

pub struct TestEngine {
    pub dir: tempfile::TempDir,
    pub clock: Arc<AtomicI64>,
    pub engine: Option<Engine>,
}

pub fn config(dir: &std::path::Path, clock: &Arc<AtomicI64>) -> Config {
    let mut c = Config::new(dir);
    let clk = Arc::clone(clock);
    c.clock = Arc::new(move || clk.load(Ordering::SeqCst));
    c.background = false;
    c
}

impl TestEngine {
    pub fn new() -> Self {
        Self::with(|_| {})
    }

    pub fn with(adjust: impl Fn(&mut Config)) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let clock = Arc::new(AtomicI64::new(BASE_DAY * DAY_MS + 12 * 3_600_000));
        let mut c = config(dir.path(), &clock);
        adjust(&mut c);
        let engine = Some(Engine::open(c).unwrap());
        TestEngine { dir, clock, engine }
    }

    /// Clean reopen with the same settings as [`TestEngine::with`] left them by default.
    pub fn reopen_keeping_clock(&mut self) {
        self.reopen(true, |c| c.retention.raw_ms = 3 * DAY_MS);
    }

    pub fn e(&self) -> &Engine {
        self.engine.as_ref().unwrap()
    }

    pub fn set_now(&self, ms: i64) {
        self.clock.store(ms, Ordering::SeqCst);
    }

    /// Closes cleanly (or just drops, to simulate losing the process) and reopens.
    pub fn reopen(&mut self, clean: bool, adjust: impl Fn(&mut Config)) {
        match self.engine.take() {
            Some(e) if clean => e.close().unwrap(),
            other => drop(other),
        }
        let mut c = config(self.dir.path(), &self.clock);
        adjust(&mut c);
        self.engine = Some(Engine::open(c).unwrap());
    }
}

pub fn key(name: &str) -> SeriesKey {
    SeriesKey::new("acme", "check", name)
        .with("zone", "eu")
        .with("entity", "en1")
}

pub fn write(e: &Engine, k: &SeriesKey, points: &[(i64, f64)]) {
    e.write(&[SeriesPoints {
        key: k.clone(),
        points: points.to_vec(),
    }])
    .unwrap();
}

/// The naive model: a map per series, conflicts settled by `f64::total_cmp`.
#[derive(Default)]
pub struct Model(pub BTreeMap<i64, f64>);

impl Model {
    pub fn add(&mut self, pts: &[(i64, f64)]) {
        for &(t, v) in pts {
            let e = self.0.entry(t).or_insert(v);
            if v.total_cmp(e).is_gt() {
                *e = v;
            }
        }
    }

    pub fn range(&self, from: i64, to: i64) -> Vec<(i64, f64)> {
        self.0.range(from..to).map(|(t, v)| (*t, *v)).collect()
    }
}

pub fn assert_same(got: &[(i64, f64)], want: &[(i64, f64)]) {
    assert_eq!(got.len(), want.len(), "point count");
    for (g, w) in got.iter().zip(want) {
        assert_eq!(g.0, w.0);
        assert_eq!(g.1.to_bits(), w.1.to_bits(), "value at {}", g.0);
    }
}
