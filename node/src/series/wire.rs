//! Conversions between the series store's domain types and the peer protocol's messages.

use meridian_proto::{SeriesData, SeriesStats, StatRow};
use meridian_tsdb::{SeriesKey, SeriesPoints};
use tonic::Status;

use super::StatRows;
use super::plan::{parse_resolution, resolution_name};

pub fn key_to_wire(k: &SeriesKey) -> SeriesData {
    SeriesData {
        namespace: k.namespace.clone(),
        name: k.name.clone(),
        dimensions: k.dimensions.clone().into_iter().collect(),
        timestamps_ms: Vec::new(),
        values: Vec::new(),
    }
}

pub fn points_to_wire(s: &SeriesPoints) -> SeriesData {
    let mut d = key_to_wire(&s.key);
    d.timestamps_ms = s.points.iter().map(|p| p.0).collect();
    d.values = s.points.iter().map(|p| p.1).collect();
    d
}

pub fn key_from_wire(tenant: &str, d: &SeriesData) -> SeriesKey {
    SeriesKey {
        tenant: tenant.to_string(),
        namespace: d.namespace.clone(),
        name: d.name.clone(),
        dimensions: d.dimensions.clone().into_iter().collect(),
    }
}

pub fn points_from_wire(tenant: &str, d: SeriesData) -> Result<SeriesPoints, Status> {
    if d.timestamps_ms.len() != d.values.len() {
        return Err(Status::invalid_argument(
            "series: timestamps_ms and values differ in length",
        ));
    }
    let key = key_from_wire(tenant, &d);
    let points = d.timestamps_ms.into_iter().zip(d.values).collect();
    Ok(SeriesPoints { key, points })
}

pub fn stats_to_wire(s: &StatRows) -> SeriesStats {
    SeriesStats {
        resolution: resolution_name(s.resolution).to_string(),
        rows: s
            .rows
            .iter()
            .map(|(t, v)| StatRow {
                start_ms: *t,
                values: v.clone(),
            })
            .collect(),
    }
}

pub fn stats_from_wire(s: SeriesStats) -> Result<StatRows, String> {
    let resolution = parse_resolution(&s.resolution)
        .ok_or_else(|| format!("unknown resolution {:?}", s.resolution))?;
    Ok(StatRows {
        resolution,
        rows: s.rows.into_iter().map(|r| (r.start_ms, r.values)).collect(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use meridian_tsdb::Resolution;

    #[test]
    fn points_and_stats_round_trip() {
        let s = SeriesPoints {
            key: SeriesKey::new("t", "ns", "m").with("a", "b"),
            points: vec![(1, 1.5), (2, f64::NAN)],
        };
        let back = points_from_wire("t", points_to_wire(&s)).unwrap();
        assert_eq!(back.key, s.key);
        assert_eq!(back.points[0], (1, 1.5));
        assert!(back.points[1].1.is_nan());
        let rows = StatRows {
            resolution: Resolution::Min60,
            rows: vec![(3_600_000, vec![1.0, 2.0])],
        };
        assert_eq!(stats_from_wire(stats_to_wire(&rows)).unwrap(), rows);
        let mut bad = points_to_wire(&s);
        bad.values.pop();
        assert!(points_from_wire("t", bad).is_err());
    }
}
