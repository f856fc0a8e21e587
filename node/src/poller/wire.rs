//! Conversions between observations and their protobuf form on the peer connection.

use meridian_proto::peer::metric::Value as PValue;

use super::observation::{Metric, MetricValue, Observation};

impl From<&Observation> for meridian_proto::Observation {
    fn from(o: &Observation) -> Self {
        let metrics = o
            .metrics
            .iter()
            .map(|(name, m)| meridian_proto::Metric {
                name: name.clone(),
                value: Some(match &m.value {
                    MetricValue::Int(i) => PValue::IntValue(*i),
                    MetricValue::Double(d) => PValue::DoubleValue(*d),
                    MetricValue::String(s) => PValue::StringValue(s.clone()),
                    MetricValue::Bool(b) => PValue::BoolValue(*b),
                }),
                unit: m.unit.clone().unwrap_or_default(),
            })
            .collect();
        meridian_proto::Observation {
            check_id: o.check_id.clone(),
            entity_id: o.entity_id.clone(),
            tenant_id: o.tenant_id.clone(),
            monitoring_zone_id: o.monitoring_zone_id.clone(),
            node_id: o.node_id,
            timestamp: o.timestamp,
            available: o.available,
            status: o.status.clone(),
            metrics,
        }
    }
}

impl From<meridian_proto::Observation> for Observation {
    fn from(o: meridian_proto::Observation) -> Self {
        let metrics = o
            .metrics
            .into_iter()
            .filter_map(|m| {
                let value = match m.value? {
                    PValue::IntValue(i) => MetricValue::Int(i),
                    PValue::DoubleValue(d) => MetricValue::Double(d),
                    PValue::StringValue(s) => MetricValue::String(s),
                    PValue::BoolValue(b) => MetricValue::Bool(b),
                };
                let unit = (!m.unit.is_empty()).then_some(m.unit);
                Some((m.name, Metric { value, unit }))
            })
            .collect();
        Observation {
            check_id: o.check_id,
            entity_id: o.entity_id,
            tenant_id: o.tenant_id,
            monitoring_zone_id: o.monitoring_zone_id,
            node_id: o.node_id,
            timestamp: o.timestamp,
            available: o.available,
            status: o.status,
            metrics,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_observation_survives_the_wire() {
        let mut o = Observation {
            check_id: "ch1".into(),
            entity_id: "en1".into(),
            tenant_id: "t1".into(),
            monitoring_zone_id: "r1".into(),
            node_id: 3,
            timestamp: 1_700_000_000_123,
            available: true,
            status: "code=200,rt=0.010s,bytes=5".into(),
            metrics: Default::default(),
        };
        o.metrics.insert("code".into(), Metric::string("200"));
        o.metrics.insert("duration".into(), Metric::ms(10.5));
        o.metrics
            .insert("bytes".into(), Metric::int(5).with_unit("bytes"));
        o.metrics.insert("body_match".into(), Metric::bool(false));
        let back = Observation::from(meridian_proto::Observation::from(&o));
        assert_eq!(back, o);
    }
}
