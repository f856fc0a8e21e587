//! `pagerduty`: an Events API v2 event. WARNING and CRITICAL trigger, OK resolves, and the
//! `dedup_key` is `tenant:alarm`, so one incident follows one alarm through its transitions.

use meridian_alarm::State;
use serde_json::{Value, json};
use url::Url;

use super::{HttpPost, rfc3339, truncate};
use crate::notifier::delivery::Delivery;

/// Longest `payload.summary` PagerDuty accepts, in bytes.
pub const SUMMARY_MAX: usize = 1024;

/// `trigger` or `resolve`, and the PagerDuty severity, for `state`. UNKNOWN (which a plan cannot
/// name, but a test send may carry) triggers as `error`.
pub fn action(state: State) -> (&'static str, &'static str) {
    match state {
        State::Critical => ("trigger", "critical"),
        State::Warning => ("trigger", "warning"),
        State::Unknown => ("trigger", "error"),
        State::Ok => ("resolve", "info"),
    }
}

/// The event body of `d` for `routing_key`.
pub fn body(d: &Delivery, routing_key: &str) -> Value {
    let f = &d.facts;
    let (event_action, severity) = action(f.state);
    let summary = format!(
        "[{}] {} / {}: {}",
        f.state, f.entity.label, f.alarm.label, f.message
    );
    let observations: Vec<Value> = f
        .observations
        .iter()
        .map(|o| {
            json!({"monitoring_zone_id": o.monitoring_zone_id, "state": o.state,
            "status": o.status})
        })
        .collect();
    json!({
        "routing_key": routing_key,
        "event_action": event_action,
        "dedup_key": format!("{}:{}", f.tenant, f.alarm.id),
        "payload": {
            "summary": truncate(&summary, SUMMARY_MAX),
            "source": f.entity.label,
            "severity": severity,
            "timestamp": rfc3339(f.timestamp_ms),
            "custom_details": {
                "event_id": d.event_id,
                "state": f.state,
                "previous_state": f.previous_state,
                "entity_id": f.entity.id,
                "check_id": f.check.id,
                "check": f.check.label,
                "alarm_id": f.alarm.id,
                "alarm": f.alarm.label,
                "message": f.message,
                "observations": observations,
            },
        },
    })
}

/// The request of `d` to `endpoint`.
pub fn request(d: &Delivery, routing_key: &str, endpoint: &Url) -> HttpPost {
    HttpPost {
        url: endpoint.clone(),
        headers: vec![("content-type", "application/json".to_string())],
        body: body(d, routing_key).to_string().into_bytes(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::notifier::channels::tests::delivery;
    use crate::spec::NotificationSpec;

    fn pd() -> Delivery {
        delivery(NotificationSpec::PagerDuty {
            routing_key: "k".repeat(32),
            endpoint: Url::parse("https://events.pagerduty.com/v2/enqueue").expect("url"),
        })
    }

    #[test]
    fn critical_triggers_with_the_alarm_as_dedup_key() {
        let b = body(&pd(), "rk");
        assert_eq!(b["routing_key"], "rk");
        assert_eq!(b["event_action"], "trigger");
        assert_eq!(b["dedup_key"], "t1:alB");
        let p = &b["payload"];
        assert_eq!(p["summary"], "[CRITICAL] web-1 / site down: status 503");
        assert_eq!(p["source"], "web-1");
        assert_eq!(p["severity"], "critical");
        assert_eq!(p["timestamp"], "2023-11-14T22:13:20.123Z");
        assert_eq!(p["custom_details"]["event_id"], "t1:enA:alB:chC:7:CRITICAL");
        assert_eq!(
            p["custom_details"]["observations"][0]["monitoring_zone_id"],
            "mzdfw"
        );
    }

    #[test]
    fn ok_resolves_the_same_incident_and_warning_triggers() {
        let mut d = pd();
        std::sync::Arc::make_mut(&mut d.facts).state = State::Ok;
        let b = body(&d, "rk");
        assert_eq!(b["event_action"], "resolve");
        assert_eq!(b["dedup_key"], "t1:alB");
        assert_eq!(action(State::Warning), ("trigger", "warning"));
        std::sync::Arc::make_mut(&mut d.facts).message = "é".repeat(SUMMARY_MAX);
        let s = body(&d, "rk")["payload"]["summary"].as_str().map(str::len);
        assert!(s.is_some_and(|n| n <= SUMMARY_MAX), "{s:?}");
    }
}
