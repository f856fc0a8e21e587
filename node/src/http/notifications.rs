//! `/v1/notifications` and `/v1/notification_plans` (tenant token): where alerts go, and which
//! notifications each alarm state uses. A plan refers to its notifications through the model's
//! references, so a notification in use cannot be deleted (409 naming the plans).

use axum::Router;
use meridian_raft::model::ObjectKind;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};

use super::AppState;
use super::resource::{self, Ctx, Prepared, RResult, Resource};
use crate::error::Error;
use crate::spec::fields::{bad, http_url, id_list, label, typed, typed_body};

/// Notification types.
pub const NOTIFICATION_TYPES: [&str; 4] = ["webhook", "email", "pagerduty", "slack"];
/// Shortest and longest webhook signing secret, in bytes.
pub const SECRET_MIN: usize = 16;
pub const SECRET_MAX: usize = 256;
/// Longest e-mail address, in bytes (RFC 5321).
pub const EMAIL_MAX: usize = 254;
/// Length of a PagerDuty Events v2 routing key.
pub const ROUTING_KEY_LEN: usize = 32;
/// Most notifications per state of one plan.
pub const PLAN_NOTIFICATIONS_MAX: usize = 20;
/// The plan fields listing notifications, one per alarm state.
pub const PLAN_STATES: [&str; 3] = ["critical_state", "warning_state", "ok_state"];

pub fn routes() -> Router<AppState> {
    resource::routes::<Notifications>().merge(resource::routes::<Plans>())
}

pub struct Notifications;
pub struct Plans;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct NotificationBody {
    label: Option<String>,
    #[serde(rename = "type")]
    kind: Option<String>,
    details: Option<Value>,
}

#[derive(Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
struct Webhook {
    url: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    secret: Option<String>,
}

#[derive(Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
struct Email {
    address: Option<String>,
}

#[derive(Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
struct PagerDuty {
    routing_key: Option<String>,
}

#[derive(Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
struct Slack {
    url: Option<String>,
}

impl Resource for Notifications {
    const KIND: ObjectKind = ObjectKind::Notification;
    const COLLECTION: &'static str = "/v1/notifications";

    fn prepare(_ctx: &Ctx<'_>, body: Map<String, Value>) -> RResult<Prepared> {
        let n: NotificationBody = typed_body(body)?;
        let label = label(n.label.as_deref())?;
        let Some(kind) = n.kind else {
            return Err(bad("type: is required".into()).into());
        };
        let details = details(&kind, n.details.unwrap_or_else(|| json!({})))?;
        Ok(Prepared {
            body: json!({"label": label, "type": kind, "details": details}),
            refs: Vec::new(),
        })
    }
}

fn required<'a>(field: &str, v: &'a Option<String>) -> Result<&'a str, Error> {
    v.as_deref()
        .ok_or_else(|| bad(format!("{field}: is required")))
}

/// Validates the details of a notification type.
fn details(kind: &str, d: Value) -> Result<Value, Error> {
    let out = match kind {
        "webhook" => {
            let w: Webhook = typed("details", d)?;
            http_url("details.url", required("details.url", &w.url)?, false)?;
            if w.secret
                .as_ref()
                .is_some_and(|s| !(SECRET_MIN..=SECRET_MAX).contains(&s.len()))
            {
                return Err(bad(format!(
                    "details.secret: must be {SECRET_MIN} to {SECRET_MAX} bytes"
                )));
            }
            serde_json::to_value(w)
        }
        "email" => {
            let e: Email = typed("details", d)?;
            email(required("details.address", &e.address)?)?;
            serde_json::to_value(e)
        }
        "pagerduty" => {
            let p: PagerDuty = typed("details", d)?;
            let key = required("details.routing_key", &p.routing_key)?;
            if key.len() != ROUTING_KEY_LEN || !key.bytes().all(|b| b.is_ascii_alphanumeric()) {
                return Err(bad(format!(
                    "details.routing_key: must be {ROUTING_KEY_LEN} letters or digits"
                )));
            }
            serde_json::to_value(p)
        }
        "slack" => {
            let s: Slack = typed("details", d)?;
            http_url("details.url", required("details.url", &s.url)?, true)?;
            serde_json::to_value(s)
        }
        other => {
            return Err(bad(format!(
                "type: {other:?} is not one of {}",
                NOTIFICATION_TYPES.join(", ")
            )));
        }
    };
    out.map_err(|e| Error::Internal(e.to_string()))
}

/// `local@domain.tld`, no spaces, at most `EMAIL_MAX` bytes.
fn email(a: &str) -> Result<(), Error> {
    let ok = a.len() <= EMAIL_MAX
        && !a.contains(char::is_whitespace)
        && a.split_once('@').is_some_and(|(local, domain)| {
            !local.is_empty()
                && domain.contains('.')
                && !domain.starts_with('.')
                && !domain.ends_with('.')
                && !domain.contains('@')
        });
    if ok {
        Ok(())
    } else {
        Err(bad(format!(
            "details.address: {a:?} is not an e-mail address"
        )))
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct PlanBody {
    label: Option<String>,
    #[serde(default)]
    critical_state: Vec<String>,
    #[serde(default)]
    warning_state: Vec<String>,
    #[serde(default)]
    ok_state: Vec<String>,
}

impl Resource for Plans {
    const KIND: ObjectKind = ObjectKind::Plan;
    const COLLECTION: &'static str = "/v1/notification_plans";

    fn prepare(ctx: &Ctx<'_>, body: Map<String, Value>) -> RResult<Prepared> {
        let p: PlanBody = typed_body(body)?;
        let label = label(p.label.as_deref())?;
        let mut refs: Vec<(ObjectKind, String)> = Vec::new();
        for (field, ids) in
            PLAN_STATES
                .iter()
                .zip([&p.critical_state, &p.warning_state, &p.ok_state])
        {
            id_list(field, ids, PLAN_NOTIFICATIONS_MAX)?;
            for id in ids {
                if ctx
                    .state
                    .object(ctx.tenant, ObjectKind::Notification, id)
                    .is_none()
                {
                    return Err(bad(format!("{field}: notification {id} does not exist")).into());
                }
                let r = (ObjectKind::Notification, id.clone());
                if !refs.contains(&r) {
                    refs.push(r);
                }
            }
        }
        let body = json!({
            "label": label, "critical_state": p.critical_state,
            "warning_state": p.warning_state, "ok_state": p.ok_state,
        });
        Ok(Prepared { body, refs })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn notification_details_per_type() {
        assert!(details("webhook", json!({"url": "http://hooks.example.com/x"})).is_ok());
        assert!(details("email", json!({"address": "ops@example.com"})).is_ok());
        assert!(
            details(
                "slack",
                json!({"url": "https://hooks.slack.com/services/x"})
            )
            .is_ok()
        );
        assert!(details("pagerduty", json!({"routing_key": "a".repeat(32)})).is_ok());
        let cases = [
            ("webhook", json!({}), "details.url"),
            (
                "webhook",
                json!({"url": "http://x.io", "secret": "short"}),
                "details.secret",
            ),
            ("email", json!({"address": "nobody"}), "details.address"),
            ("email", json!({"address": "a b@x.io"}), "details.address"),
            (
                "pagerduty",
                json!({"routing_key": "abc"}),
                "details.routing_key",
            ),
            (
                "slack",
                json!({"url": "http://hooks.slack.com/x"}),
                "details.url",
            ),
            ("sms", json!({}), "type"),
        ];
        for (kind, d, field) in cases {
            let e = details(kind, d).expect_err(field);
            assert!(e.to_string().starts_with(field), "{kind}: {e}");
        }
    }
}
