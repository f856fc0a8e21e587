//! `NotificationSpec` and `PlanSpec`: where alerts go and which notifications each alarm state
//! uses, parsed once from their stored records for the notifier and the evaluator.

use std::fmt;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use meridian_alarm::Plan;
use meridian_raft::model::{ObjectKind, ObjectRecord};
use serde::Deserialize;
use serde_json::{Map, Value, json};
use url::Url;

use super::fields::{bad, typed, typed_body};
use crate::error::Error;

/// PagerDuty's Events API v2 endpoint, used when a notification names none.
pub const PAGERDUTY_ENDPOINT_DEFAULT: &str = "https://events.pagerduty.com/v2/enqueue";
/// The prefix of a Standard Webhooks secret whose rest is base64 key bytes.
pub const WHSEC_PREFIX: &str = "whsec_";

/// A webhook signing secret. Its `Debug` form never shows the secret.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    pub fn new(s: impl Into<String>) -> Secret {
        Secret(s.into())
    }

    /// The secret as the tenant wrote it.
    pub fn expose(&self) -> &str {
        &self.0
    }

    /// The HMAC key: `whsec_<base64>` is the decoded bytes, any other secret (including a
    /// `whsec_` one whose rest is not base64) its UTF-8 bytes.
    pub fn key(&self) -> Vec<u8> {
        self.0
            .strip_prefix(WHSEC_PREFIX)
            .and_then(|b64| STANDARD.decode(b64).ok())
            .unwrap_or_else(|| self.0.as_bytes().to_vec())
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(***)")
    }
}

/// One notification: its type and where it sends.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NotificationSpec {
    /// `POST` of the JSON event, signed with Standard Webhooks headers when a secret is set.
    Webhook { url: Url, secret: Option<Secret> },
    /// `POST` of a Slack message (`text` and `blocks`) to an incoming-webhook URL.
    Slack { url: Url },
    /// PagerDuty Events API v2.
    PagerDuty { routing_key: String, endpoint: Url },
    /// An e-mail through the operator's SMTP relay.
    Email { address: String },
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct StoredNotification {
    #[serde(default)]
    #[allow(dead_code)]
    label: Option<String>,
    #[serde(rename = "type")]
    kind: String,
    #[serde(default)]
    details: Map<String, Value>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct WebhookDetails {
    url: String,
    #[serde(default)]
    secret: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct SlackDetails {
    url: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct PagerDutyDetails {
    routing_key: String,
    #[serde(default)]
    endpoint: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct EmailDetails {
    address: String,
}

fn parse_url(field: &str, s: &str) -> Result<Url, Error> {
    let url = Url::parse(s).map_err(|e| bad(format!("{field}: {s:?} is not a URL ({e})")))?;
    if !matches!(url.scheme(), "http" | "https") || url.host_str().is_none_or(str::is_empty) {
        return Err(bad(format!(
            "{field}: {s:?} is not an http(s) URL with a host"
        )));
    }
    Ok(url)
}

impl NotificationSpec {
    /// Reads a stored notification. Stored bodies were validated when written, so only their
    /// shape is checked here; errors name the field.
    pub fn from_record(record: &ObjectRecord) -> Result<NotificationSpec, Error> {
        debug_assert_eq!(record.kind, ObjectKind::Notification);
        let Value::Object(body) = record.body.clone() else {
            return Err(bad("body: a stored notification is not an object".into()));
        };
        let n: StoredNotification = typed_body(body)?;
        NotificationSpec::from_details(&n.kind, Value::Object(n.details))
    }

    /// Builds the spec of type `kind` from its `details` object.
    pub fn from_details(kind: &str, details: Value) -> Result<NotificationSpec, Error> {
        let spec = match kind {
            "webhook" => {
                let d: WebhookDetails = typed("details", details)?;
                NotificationSpec::Webhook {
                    url: parse_url("details.url", &d.url)?,
                    secret: d.secret.map(Secret),
                }
            }
            "slack" => {
                let d: SlackDetails = typed("details", details)?;
                NotificationSpec::Slack {
                    url: parse_url("details.url", &d.url)?,
                }
            }
            "pagerduty" => {
                let d: PagerDutyDetails = typed("details", details)?;
                let endpoint = d.endpoint.as_deref().unwrap_or(PAGERDUTY_ENDPOINT_DEFAULT);
                NotificationSpec::PagerDuty {
                    routing_key: d.routing_key,
                    endpoint: parse_url("details.endpoint", endpoint)?,
                }
            }
            "email" => {
                let d: EmailDetails = typed("details", details)?;
                if !d.address.contains('@') {
                    return Err(bad(format!("details.address: {:?} has no @", d.address)));
                }
                NotificationSpec::Email { address: d.address }
            }
            other => return Err(bad(format!("type: {other:?} is not a notification type"))),
        };
        Ok(spec)
    }

    /// The API's name of the type: `webhook`, `slack`, `pagerduty` or `email`.
    pub fn kind(&self) -> &'static str {
        match self {
            NotificationSpec::Webhook { .. } => "webhook",
            NotificationSpec::Slack { .. } => "slack",
            NotificationSpec::PagerDuty { .. } => "pagerduty",
            NotificationSpec::Email { .. } => "email",
        }
    }

    /// The stored `details` object (the PagerDuty endpoint only when not the default).
    pub fn details_json(&self) -> Value {
        match self {
            NotificationSpec::Webhook { url, secret } => match secret {
                Some(s) => json!({"url": url.as_str(), "secret": s.expose()}),
                None => json!({"url": url.as_str()}),
            },
            NotificationSpec::Slack { url } => json!({"url": url.as_str()}),
            NotificationSpec::PagerDuty {
                routing_key,
                endpoint,
            } => {
                if endpoint.as_str() == PAGERDUTY_ENDPOINT_DEFAULT {
                    json!({"routing_key": routing_key})
                } else {
                    json!({"routing_key": routing_key, "endpoint": endpoint.as_str()})
                }
            }
            NotificationSpec::Email { address } => json!({"address": address}),
        }
    }
}

/// A notification plan: the notification ids for each state an alarm can be notified of.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct PlanSpec {
    pub label: String,
    pub critical_state: Vec<String>,
    pub warning_state: Vec<String>,
    pub ok_state: Vec<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct StoredPlan {
    #[serde(default)]
    label: String,
    #[serde(default)]
    critical_state: Vec<String>,
    #[serde(default)]
    warning_state: Vec<String>,
    #[serde(default)]
    ok_state: Vec<String>,
}

impl PlanSpec {
    /// Reads a stored plan; errors name the field.
    pub fn from_record(record: &ObjectRecord) -> Result<PlanSpec, Error> {
        debug_assert_eq!(record.kind, ObjectKind::Plan);
        let Value::Object(body) = record.body.clone() else {
            return Err(bad("body: a stored plan is not an object".into()));
        };
        let p: StoredPlan = typed_body(body)?;
        Ok(PlanSpec {
            label: p.label,
            critical_state: p.critical_state,
            warning_state: p.warning_state,
            ok_state: p.ok_state,
        })
    }

    /// The plan as the alarm decisions use it (`meridian_alarm::deliveries`).
    pub fn to_plan(&self) -> Plan {
        Plan {
            critical_state: self.critical_state.clone(),
            warning_state: self.warning_state.clone(),
            ok_state: self.ok_state.clone(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(kind: ObjectKind, body: Value) -> ObjectRecord {
        ObjectRecord {
            kind,
            tenant: "t1".into(),
            id: "nt1".into(),
            parent: None,
            body,
            refs: Vec::new(),
            created_at_ms: 0,
            updated_at_ms: 0,
            version: 1,
        }
    }

    fn notification(kind: &str, details: Value) -> Result<NotificationSpec, Error> {
        let body = json!({"label": "l", "type": kind, "details": details});
        NotificationSpec::from_record(&record(ObjectKind::Notification, body))
    }

    #[test]
    fn every_type_reads_from_its_stored_shape_and_writes_it_back() {
        let cases = [
            (
                "webhook",
                json!({"url": "https://h.example.com/x", "secret": "0123456789abcdef"}),
            ),
            ("webhook", json!({"url": "http://h.example.com/x"})),
            (
                "slack",
                json!({"url": "https://hooks.slack.com/services/x"}),
            ),
            ("pagerduty", json!({"routing_key": "a".repeat(32)})),
            (
                "pagerduty",
                json!({"routing_key": "b".repeat(32), "endpoint": "https://pd.example.com/e"}),
            ),
            ("email", json!({"address": "ops@example.com"})),
        ];
        for (kind, details) in cases {
            let spec = notification(kind, details.clone()).expect(kind);
            assert_eq!(spec.kind(), kind);
            assert_eq!(spec.details_json(), details, "{kind}");
        }
        let pd = notification("pagerduty", json!({"routing_key": "k"})).expect("pd");
        let NotificationSpec::PagerDuty { endpoint, .. } = pd else {
            panic!("not pagerduty: {pd:?}");
        };
        assert_eq!(endpoint.as_str(), PAGERDUTY_ENDPOINT_DEFAULT);
    }

    #[test]
    fn a_bad_stored_notification_names_the_field() {
        let cases = [
            ("webhook", json!({}), "details"),
            ("webhook", json!({"url": "ftp://x.io/"}), "details.url"),
            ("slack", json!({"url": "not a url"}), "details.url"),
            (
                "pagerduty",
                json!({"routing_key": "k", "endpoint": "x"}),
                "details.endpoint",
            ),
            ("email", json!({"address": "nobody"}), "details.address"),
            ("email", json!({"address": "a@b.io", "cc": "x"}), "details"),
            ("sms", json!({}), "type"),
        ];
        for (kind, details, field) in cases {
            let e = notification(kind, details).expect_err(field);
            assert!(e.to_string().starts_with(field), "{kind}: {e}");
        }
        let not_object = record(ObjectKind::Notification, json!([1]));
        let e = NotificationSpec::from_record(&not_object).expect_err("array");
        assert!(e.to_string().starts_with("body"), "{e}");
    }

    #[test]
    fn whsec_secrets_are_base64_keys_and_others_their_bytes() {
        let s = Secret::new("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw");
        assert_eq!(
            s.key(),
            STANDARD
                .decode("MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw")
                .expect("b64")
        );
        assert_eq!(
            Secret::new("plain-secret-16b!").key(),
            b"plain-secret-16b!".to_vec()
        );
        assert_eq!(
            Secret::new("whsec_%%%not-b64").key(),
            b"whsec_%%%not-b64".to_vec()
        );
        assert_eq!(format!("{s:?}"), "Secret(***)");
    }

    #[test]
    fn plans_read_their_three_lists() {
        let body = json!({"label": "p", "critical_state": ["a", "b"], "ok_state": ["c"],
            "warning_state": []});
        let p = PlanSpec::from_record(&record(ObjectKind::Plan, body)).expect("plan");
        assert_eq!(p.critical_state, ["a", "b"]);
        assert_eq!(p.to_plan().ok_state, ["c"]);
        assert!(p.warning_state.is_empty());
        let e = PlanSpec::from_record(&record(ObjectKind::Plan, json!({"critical_state": 3})))
            .expect_err("not a list");
        assert!(e.to_string().starts_with("critical_state"), "{e}");
    }
}
