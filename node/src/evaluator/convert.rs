//! A poller's observation as the alarm crate reads it.

use meridian_alarm::{MetricValue as AlarmValue, Observation as AlarmObservation, ZoneObservation};

use crate::poller::{MetricValue, Observation};

/// The zone observation `meridian-alarm` evaluates: numbers stay numbers; bools become the
/// text `true`/`false`, as the criteria language compares them.
pub fn zone_observation(o: &Observation) -> ZoneObservation {
    let metrics = o
        .metrics
        .iter()
        .map(|(name, m)| {
            let v = match &m.value {
                MetricValue::Int(i) => AlarmValue::Number(*i as f64),
                MetricValue::Double(d) => AlarmValue::Number(*d),
                MetricValue::Bool(b) => AlarmValue::Text(b.to_string()),
                MetricValue::String(s) => AlarmValue::Text(s.clone()),
            };
            (name.clone(), v)
        })
        .collect();
    ZoneObservation {
        zone: o.monitoring_zone_id.clone(),
        node_id: o.node_id,
        observation: AlarmObservation {
            timestamp_ms: o.timestamp,
            available: o.available,
            status: o.status.clone(),
            metrics,
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::poller::Metric;

    #[test]
    fn metrics_keep_their_meaning() {
        let mut o = Observation {
            check_id: "ch".into(),
            entity_id: "en".into(),
            tenant_id: "t".into(),
            monitoring_zone_id: "r2".into(),
            node_id: 4,
            timestamp: 77,
            available: true,
            status: "code=200".into(),
            metrics: Default::default(),
        };
        o.metrics.insert("code".into(), Metric::string("200"));
        o.metrics.insert("bytes".into(), Metric::int(12));
        o.metrics.insert("duration".into(), Metric::ms(1.5));
        o.metrics.insert("truncated".into(), Metric::bool(false));
        let z = zone_observation(&o);
        assert_eq!((z.zone.as_str(), z.node_id), ("r2", 4));
        assert_eq!(z.observation.timestamp_ms, 77);
        let m = &z.observation.metrics;
        assert_eq!(m["code"], AlarmValue::Text("200".into()));
        assert_eq!(m["bytes"], AlarmValue::Number(12.0));
        assert_eq!(m["duration"], AlarmValue::Number(1.5));
        assert_eq!(m["truncated"], AlarmValue::Text("false".into()));
    }
}
