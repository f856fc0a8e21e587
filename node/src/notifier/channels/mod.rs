//! The notification types: each renders a delivery into the exact request it makes (pure, so the
//! payloads are tested without a network), and the sender carries the request out.

pub mod email;
pub mod pagerduty;
pub mod slack;
pub mod webhook;

use url::Url;

use super::delivery::Delivery;
use crate::spec::NotificationSpec;

/// `User-Agent` of every notification request.
pub const USER_AGENT: &str = concat!("Meridian-Notifier/", env!("CARGO_PKG_VERSION"));

/// A request a notification makes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outgoing {
    /// An HTTP `POST` of a JSON body.
    Post(HttpPost),
    /// An e-mail through the operator's SMTP relay.
    Mail(Mail),
}

/// An HTTP `POST` with its headers (Host, Content-Length and User-Agent are added when sent).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HttpPost {
    pub url: Url,
    pub headers: Vec<(&'static str, String)>,
    pub body: Vec<u8>,
}

/// A plain-text e-mail.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mail {
    pub to: String,
    pub subject: String,
    pub body: String,
}

/// The request `d` makes when sent at `now_s` (unix seconds; the webhook signs it).
pub fn render(d: &Delivery, now_s: i64) -> Outgoing {
    match &d.notification {
        NotificationSpec::Webhook { url, secret } => {
            Outgoing::Post(webhook::request(d, url, secret.as_ref(), now_s))
        }
        NotificationSpec::Slack { url } => Outgoing::Post(slack::request(d, url)),
        NotificationSpec::PagerDuty {
            routing_key,
            endpoint,
        } => Outgoing::Post(pagerduty::request(d, routing_key, endpoint)),
        NotificationSpec::Email { address } => Outgoing::Mail(email::mail(d, address)),
    }
}

/// `ms` since the epoch as RFC 3339 UTC with milliseconds, e.g. `2023-11-14T22:13:20.000Z`.
pub fn rfc3339(ms: i64) -> String {
    let secs = ms.div_euclid(1000);
    let millis = ms.rem_euclid(1000);
    let days = secs.div_euclid(86_400);
    let sod = secs.rem_euclid(86_400);
    let (y, m, d) = civil_from_days(days);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}.{millis:03}Z",
        sod / 3600,
        sod % 3600 / 60,
        sod % 60
    )
}

/// The proleptic Gregorian date of day `z` since 1970-01-01 (H. Hinnant's `civil_from_days`).
fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let y = yoe + era * 400 + i64::from(m <= 2);
    (y, m, d)
}

/// `s` cut to at most `max` bytes at a character boundary.
pub fn truncate(s: &str, max: usize) -> &str {
    if s.len() <= max {
        return s;
    }
    let mut end = max;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    &s[..end]
}

#[cfg(test)]
pub(crate) mod tests {
    use std::sync::Arc;

    use meridian_alarm::State;
    use serde_json::json;

    use super::*;
    use crate::notifier::delivery::{Facts, Subject, ZoneFact};

    /// A CRITICAL transition of alarm `alB` with two zones, for payload tests.
    pub(crate) fn facts() -> Facts {
        let mut metrics = serde_json::Map::new();
        metrics.insert("code".into(), json!({"type": "s", "data": "503"}));
        Facts {
            tenant: "t1".into(),
            entity: Subject::new("enA", "web-1"),
            check: Subject::new("chC", "homepage"),
            alarm: Subject::new("alB", "site down"),
            state: State::Critical,
            previous_state: State::Ok,
            timestamp_ms: 1_700_000_000_123,
            message: "status 503".into(),
            metrics,
            observations: vec![
                ZoneFact {
                    monitoring_zone_id: "mzdfw".into(),
                    state: State::Critical,
                    status: "code=503".into(),
                    timestamp_ms: 1_700_000_000_000,
                },
                ZoneFact {
                    monitoring_zone_id: "mzlon".into(),
                    state: State::Ok,
                    status: "code=200".into(),
                    timestamp_ms: 1_699_999_999_000,
                },
            ],
        }
    }

    pub(crate) fn delivery(notification: NotificationSpec) -> Delivery {
        Delivery {
            event_id: "t1:enA:alB:chC:7:CRITICAL".into(),
            notification_id: "nt1".into(),
            notification,
            facts: Arc::new(facts()),
            after_suppression: false,
        }
    }

    // Expected values from python3: datetime.fromtimestamp(ms / 1000, timezone.utc).
    #[test]
    fn rfc3339_matches_known_dates() {
        assert_eq!(rfc3339(0), "1970-01-01T00:00:00.000Z");
        assert_eq!(rfc3339(1_700_000_000_123), "2023-11-14T22:13:20.123Z");
        assert_eq!(rfc3339(951_782_400_000), "2000-02-29T00:00:00.000Z");
        assert_eq!(rfc3339(4_102_444_799_999), "2099-12-31T23:59:59.999Z");
        assert_eq!(rfc3339(-1), "1969-12-31T23:59:59.999Z");
    }

    #[test]
    fn truncate_keeps_whole_characters() {
        assert_eq!(truncate("héllo", 2), "h");
        assert_eq!(truncate("héllo", 3), "hé");
        assert_eq!(truncate("abc", 10), "abc");
    }
}
