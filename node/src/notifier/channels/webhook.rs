//! `webhook`: the JSON event `POST`ed with Standard Webhooks headers (`webhook-id`,
//! `webhook-timestamp`, and `webhook-signature` when the notification has a secret) and
//! `X-Meridian-Event-Id`.

use serde_json::{Value, json};
use url::Url;

use super::HttpPost;
use crate::notifier::delivery::{Delivery, Facts};
use crate::notifier::signing;
use crate::spec::Secret;

/// The webhook body of `d`: the event, its objects, and the deciding observations.
pub fn body(d: &Delivery) -> Value {
    let f: &Facts = &d.facts;
    let observations: Vec<Value> = f
        .observations
        .iter()
        .map(|o| {
            json!({"monitoring_zone_id": o.monitoring_zone_id, "state": o.state,
                "status": o.status, "timestamp": o.timestamp_ms})
        })
        .collect();
    let mut body = json!({
        "event_id": d.event_id,
        "tenant_id": f.tenant,
        "entity": f.entity.to_json(),
        "check": f.check.to_json(),
        "alarm": f.alarm.to_json(),
        "state": f.state,
        "previous_state": f.previous_state,
        "timestamp": f.timestamp_ms,
        "details": {"message": f.message, "metrics": f.metrics, "observations": observations},
    });
    if d.after_suppression {
        body["after_suppression"] = Value::Bool(true);
    }
    body
}

/// The signed request of `d` to `url`, sent at `now_s`.
pub fn request(d: &Delivery, url: &Url, secret: Option<&Secret>, now_s: i64) -> HttpPost {
    let body = body(d).to_string().into_bytes();
    let mut headers = vec![
        ("content-type", "application/json".to_string()),
        ("webhook-id", d.event_id.clone()),
        ("webhook-timestamp", now_s.to_string()),
    ];
    if let Some(secret) = secret {
        let sig = signing::signature(secret, &d.event_id, now_s, &body);
        headers.push(("webhook-signature", sig));
    }
    headers.push(("x-meridian-event-id", d.event_id.clone()));
    HttpPost {
        url: url.clone(),
        headers,
        body,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::notifier::channels::tests::delivery;
    use crate::spec::NotificationSpec;

    fn spec(secret: Option<&str>) -> NotificationSpec {
        NotificationSpec::Webhook {
            url: Url::parse("https://hooks.example.com/in").expect("url"),
            secret: secret.map(Secret::new),
        }
    }

    #[test]
    fn body_has_every_field_of_the_contract() {
        let d = delivery(spec(None));
        let b = body(&d);
        assert_eq!(b["event_id"], "t1:enA:alB:chC:7:CRITICAL");
        assert_eq!(b["tenant_id"], "t1");
        assert_eq!(b["entity"], json!({"id": "enA", "label": "web-1"}));
        assert_eq!(b["check"]["id"], "chC");
        assert_eq!(b["alarm"]["label"], "site down");
        assert_eq!(b["state"], "CRITICAL");
        assert_eq!(b["previous_state"], "OK");
        assert_eq!(b["timestamp"], 1_700_000_000_123_i64);
        assert_eq!(b["details"]["message"], "status 503");
        assert_eq!(b["details"]["metrics"]["code"]["data"], "503");
        assert_eq!(
            b["details"]["observations"][1],
            json!({"monitoring_zone_id": "mzlon", "state": "OK", "status": "code=200",
                "timestamp": 1_699_999_999_000_i64})
        );
        assert!(b.get("after_suppression").is_none());
        let mut after = delivery(spec(None));
        after.after_suppression = true;
        assert_eq!(body(&after)["after_suppression"], true);
    }

    #[test]
    fn headers_follow_standard_webhooks() {
        let d = delivery(spec(Some("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw")));
        let NotificationSpec::Webhook { url, secret } = &d.notification else {
            unreachable!("built as a webhook");
        };
        let r = request(&d, url, secret.as_ref(), 1_700_000_001);
        let header = |n: &str| {
            r.headers
                .iter()
                .find(|(k, _)| *k == n)
                .map(|(_, v)| v.clone())
        };
        assert_eq!(header("webhook-id").as_deref(), Some(d.event_id.as_str()));
        assert_eq!(
            header("x-meridian-event-id").as_deref(),
            Some(d.event_id.as_str())
        );
        assert_eq!(header("webhook-timestamp").as_deref(), Some("1700000001"));
        let expected = signing::signature(
            secret.as_ref().expect("secret"),
            &d.event_id,
            1_700_000_001,
            &r.body,
        );
        assert_eq!(header("webhook-signature"), Some(expected));
        let unsigned = request(&d, url, None, 1_700_000_001);
        assert!(
            !unsigned
                .headers
                .iter()
                .any(|(k, _)| *k == "webhook-signature")
        );
    }
}
