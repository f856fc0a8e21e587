//! `email`: a plain-text message through the operator's SMTP relay (`--smtp-url`,
//! `--smtp-from`), with STARTTLS whenever the relay offers it and every send under a timeout.

use std::fmt::Write as _;
use std::time::Duration;

use lettre::message::Mailbox;
use lettre::message::header::ContentType;
use lettre::transport::smtp::authentication::Credentials;
use lettre::transport::smtp::client::{Tls, TlsParameters};
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};
use url::Url;

use super::{Mail, rfc3339, truncate};
use crate::notifier::delivery::Delivery;
use crate::notifier::error::SendError;

/// Longest subject, in bytes.
pub const SUBJECT_MAX: usize = 250;
/// Port of `smtp://` when the URL names none.
pub const SMTP_PORT_DEFAULT: u16 = 25;
/// Port of `smtps://` (TLS from the first byte) when the URL names none.
pub const SMTPS_PORT_DEFAULT: u16 = 465;

/// `[CRITICAL] web-1 / site down`.
pub fn subject(d: &Delivery) -> String {
    let f = &d.facts;
    let s = format!("[{}] {} / {}", f.state, f.entity.label, f.alarm.label);
    truncate(&s, SUBJECT_MAX).to_string()
}

/// The plain-text body: the same facts as the webhook.
pub fn text(d: &Delivery) -> String {
    let f = &d.facts;
    let mut b = String::new();
    let _ = writeln!(b, "State: {} (was {})", f.state, f.previous_state);
    let _ = writeln!(b, "Entity: {} ({})", f.entity.label, f.entity.id);
    let _ = writeln!(b, "Check: {} ({})", f.check.label, f.check.id);
    let _ = writeln!(b, "Alarm: {} ({})", f.alarm.label, f.alarm.id);
    let _ = writeln!(b, "Time: {}", rfc3339(f.timestamp_ms));
    let _ = writeln!(b, "Message: {}", f.message);
    if d.after_suppression {
        let _ = writeln!(b, "Sent after a suppression ended.");
    }
    if !f.metrics.is_empty() {
        let _ = writeln!(b, "\nMetrics:");
        for (name, m) in &f.metrics {
            let data = m.get("data").unwrap_or(m);
            let _ = writeln!(b, "  {name}: {data}");
        }
    }
    if !f.observations.is_empty() {
        let _ = writeln!(b, "\nZones:");
        for o in &f.observations {
            let at = rfc3339(o.timestamp_ms);
            let _ = writeln!(
                b,
                "  {}: {} ({}) at {at}",
                o.monitoring_zone_id, o.state, o.status
            );
        }
    }
    let _ = writeln!(b, "\nTenant: {}\nEvent: {}", f.tenant, d.event_id);
    b
}

/// The e-mail `d` sends to `address`.
pub fn mail(d: &Delivery, address: &str) -> Mail {
    Mail {
        to: address.to_string(),
        subject: subject(d),
        body: text(d),
    }
}

/// The operator's relay: where and as whom e-mail is sent.
#[derive(Clone)]
pub struct SmtpRelay {
    transport: AsyncSmtpTransport<Tokio1Executor>,
    from: Mailbox,
    timeout: Duration,
}

impl SmtpRelay {
    /// A relay at `url` (`smtp://[user:pass@]host[:port]`, STARTTLS when offered, or
    /// `smtps://...`, TLS from the start) sending as `from`, each send within `timeout`.
    /// Errors name the setting.
    pub fn new(url: &str, from: &str, timeout: Duration) -> Result<SmtpRelay, String> {
        let u = Url::parse(url).map_err(|e| format!("smtp-url: {url:?} is not a URL ({e})"))?;
        let host = u
            .host_str()
            .filter(|h| !h.is_empty())
            .ok_or_else(|| format!("smtp-url: {url:?} has no host"))?
            .trim_start_matches('[')
            .trim_end_matches(']')
            .to_string();
        let params =
            || TlsParameters::new(host.clone()).map_err(|e| format!("smtp-url: tls setup: {e}"));
        let (tls, port) = match u.scheme() {
            "smtp" => (Tls::Opportunistic(params()?), SMTP_PORT_DEFAULT),
            "smtps" => (Tls::Wrapper(params()?), SMTPS_PORT_DEFAULT),
            other => return Err(format!("smtp-url: scheme {other:?} is not smtp or smtps")),
        };
        let from: Mailbox = from
            .parse()
            .map_err(|e| format!("smtp-from: {from:?} is not an e-mail address ({e})"))?;
        let mut b = AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(host)
            .port(u.port().unwrap_or(port))
            .tls(tls)
            .timeout(Some(timeout));
        if !u.username().is_empty() {
            let pass = u.password().unwrap_or_default();
            b = b.credentials(Credentials::new(u.username().to_string(), pass.to_string()));
        }
        Ok(SmtpRelay {
            transport: b.build(),
            from,
            timeout,
        })
    }

    /// Sends `m`; a 5xx answer (or a bad address) is permanent, anything else may be retried.
    pub async fn send(&self, m: &Mail) -> Result<(), SendError> {
        let to: Mailbox =
            m.to.parse()
                .map_err(|e| SendError::Permanent(format!("address {:?}: {e}", m.to)))?;
        let message = Message::builder()
            .from(self.from.clone())
            .to(to)
            .subject(m.subject.clone())
            .header(ContentType::TEXT_PLAIN)
            .body(m.body.clone())
            .map_err(|e| SendError::Permanent(format!("message: {e}")))?;
        let sent = tokio::time::timeout(self.timeout, self.transport.send(message)).await;
        match sent {
            Err(_) => Err(SendError::Transient {
                error: format!("smtp: no answer within {} ms", self.timeout.as_millis()),
                retry_after: None,
            }),
            Ok(Ok(_)) => Ok(()),
            Ok(Err(e)) if e.is_permanent() => Err(SendError::Permanent(format!("smtp: {e}"))),
            Ok(Err(e)) => Err(SendError::Transient {
                error: format!("smtp: {e}"),
                retry_after: None,
            }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::notifier::channels::tests::delivery;
    use crate::spec::NotificationSpec;

    #[test]
    fn subject_and_body_carry_the_facts() {
        let d = delivery(NotificationSpec::Email {
            address: "ops@example.com".into(),
        });
        let m = mail(&d, "ops@example.com");
        assert_eq!(m.subject, "[CRITICAL] web-1 / site down");
        for needle in [
            "State: CRITICAL (was OK)",
            "Entity: web-1 (enA)",
            "Check: homepage (chC)",
            "Alarm: site down (alB)",
            "Message: status 503",
            "code: \"503\"",
            "mzlon: OK (code=200)",
            "Event: t1:enA:alB:chC:7:CRITICAL",
        ] {
            assert!(m.body.contains(needle), "{needle} missing from {}", m.body);
        }
    }

    #[test]
    fn relay_settings_are_checked_naming_the_setting() {
        let t = Duration::from_secs(5);
        assert!(SmtpRelay::new("smtp://127.0.0.1:2525", "meridian@example.com", t).is_ok());
        assert!(SmtpRelay::new("smtps://mail.example.com", "m@example.com", t).is_ok());
        let cases = [
            ("http://x.io", "m@example.com", "smtp-url"),
            ("smtp://", "m@example.com", "smtp-url"),
            ("nope", "m@example.com", "smtp-url"),
            ("smtp://x.io", "not an address", "smtp-from"),
        ];
        for (url, from, field) in cases {
            let e = SmtpRelay::new(url, from, t).err().expect(field);
            assert!(e.starts_with(field), "{url} {from}: {e}");
        }
    }
}
