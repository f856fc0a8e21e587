//! What a node answers for the series it owns: statistics per bucket (or raw points) from its
//! engine. Blocking; called from `spawn_blocking`.

use meridian_tsdb::{Bucket, Engine, Resolution, SeriesKey, Statistic};

/// Most raw points one series of a query may return.
pub const RAW_LIMIT_MAX: usize = 1_441;

/// Rows of one series: each bucket's start and one value per asked statistic (NaN: none).
#[derive(Debug, Clone, PartialEq)]
pub struct StatRows {
    pub resolution: Resolution,
    pub rows: Vec<(i64, Vec<f64>)>,
}

fn row(b: &Bucket, stats: &[Statistic]) -> (i64, Vec<f64>) {
    let values = stats
        .iter()
        .map(|s| b.statistic(*s).unwrap_or(f64::NAN))
        .collect();
    (b.start_ms, values)
}

/// Statistics of `key` over `[from, to)` in buckets of `period_ms`; `period_ms == 0` asks for
/// raw points (at most `raw_limit`, each a bucket of one point).
pub fn stats(
    engine: &Engine,
    key: &SeriesKey,
    from_ms: i64,
    to_ms: i64,
    period_ms: i64,
    stats: &[Statistic],
    raw_limit: usize,
) -> meridian_tsdb::Result<StatRows> {
    if period_ms == 0 {
        let points = engine.raw(key, from_ms, to_ms, raw_limit.clamp(1, RAW_LIMIT_MAX))?;
        let rows = points
            .iter()
            .map(|(t, v)| {
                let mut b = Bucket::empty(*t);
                b.add(*v);
                row(&b, stats)
            })
            .collect();
        return Ok(StatRows {
            resolution: Resolution::Raw,
            rows,
        });
    }
    let got = engine.buckets(key, from_ms, to_ms, period_ms)?;
    Ok(StatRows {
        resolution: got.resolution,
        rows: got.buckets.iter().map(|b| row(b, stats)).collect(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use meridian_tsdb::SeriesPoints;

    #[test]
    fn buckets_and_raw_points_give_the_asked_statistics_in_order() {
        let dir = tempfile::tempdir().unwrap();
        let engine = Engine::open(meridian_tsdb::Config::new(dir.path())).unwrap();
        let key = SeriesKey::new("t", "ns", "m").with("host", "a");
        let now = crate::node::now_ms() / 60_000 * 60_000;
        let points: Vec<(i64, f64)> = (0..6).map(|i| (now + i * 10_000, i as f64)).collect();
        engine
            .write(&[SeriesPoints {
                key: key.clone(),
                points,
            }])
            .unwrap();
        let want = [Statistic::Count, Statistic::Max, Statistic::Average];
        let got = stats(&engine, &key, now, now + 60_000, 60_000, &want, 0).unwrap();
        assert_eq!(got.resolution, Resolution::Raw);
        assert_eq!(got.rows, vec![(now, vec![6.0, 5.0, 2.5])]);
        let raw = stats(&engine, &key, now, now + 60_000, 0, &want, 3).unwrap();
        assert_eq!(raw.rows.len(), 3);
        assert_eq!(raw.rows[2], (now + 20_000, vec![1.0, 2.0, 2.0]));
        engine.close().unwrap();
    }
}
