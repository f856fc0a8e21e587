//! `slack`: an incoming-webhook message, `{"text": ..., "blocks": [...]}` with the state, entity,
//! check, alarm, message and zones.

use serde_json::{Value, json};
use url::Url;

use super::{HttpPost, truncate};
use crate::notifier::delivery::Delivery;

/// Longest text of one block, in bytes (Slack refuses section text over 3000 characters).
pub const BLOCK_TEXT_MAX: usize = 2900;
/// Most zones listed in one message; the rest are counted.
pub const ZONES_LISTED_MAX: usize = 16;

/// The one-line summary: `[CRITICAL] web-1 / site down: status 503`.
pub fn text(d: &Delivery) -> String {
    let f = &d.facts;
    let line = format!(
        "[{}] {} / {}: {}",
        f.state, f.entity.label, f.alarm.label, f.message
    );
    truncate(&line, BLOCK_TEXT_MAX).to_string()
}

/// The message body.
pub fn body(d: &Delivery) -> Value {
    let f = &d.facts;
    let field = |name: &str, value: &str| json!({"type": "mrkdwn", "text": truncate(&format!("*{name}*\n{value}"), BLOCK_TEXT_MAX)});
    let mut zones: Vec<String> = f
        .observations
        .iter()
        .take(ZONES_LISTED_MAX)
        .map(|o| format!("{}: {} ({})", o.monitoring_zone_id, o.state, o.status))
        .collect();
    if f.observations.len() > ZONES_LISTED_MAX {
        zones.push(format!(
            "and {} more",
            f.observations.len() - ZONES_LISTED_MAX
        ));
    }
    let zones = if zones.is_empty() {
        "none".to_string()
    } else {
        zones.join("\n")
    };
    json!({
        "text": text(d),
        "blocks": [
            {"type": "section", "text": {"type": "mrkdwn", "text": text(d)}},
            {"type": "section", "fields": [
                field("State", &format!("{} (was {})", f.state, f.previous_state)),
                field("Entity", &format!("{} ({})", f.entity.label, f.entity.id)),
                field("Check", &format!("{} ({})", f.check.label, f.check.id)),
                field("Alarm", &format!("{} ({})", f.alarm.label, f.alarm.id)),
            ]},
            {"type": "section", "text": {"type": "mrkdwn",
                "text": truncate(&format!("*Message*\n{}", f.message), BLOCK_TEXT_MAX)}},
            {"type": "section", "text": {"type": "mrkdwn",
                "text": truncate(&format!("*Zones*\n{zones}"), BLOCK_TEXT_MAX)}},
            {"type": "context", "elements": [
                {"type": "mrkdwn", "text": format!("event {}", d.event_id)}
            ]},
        ],
    })
}

/// The request of `d` to the incoming-webhook `url`.
pub fn request(d: &Delivery, url: &Url) -> HttpPost {
    HttpPost {
        url: url.clone(),
        headers: vec![("content-type", "application/json".to_string())],
        body: body(d).to_string().into_bytes(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::notifier::channels::tests::delivery;
    use crate::notifier::delivery::ZoneFact;
    use crate::spec::NotificationSpec;

    fn slack() -> Delivery {
        delivery(NotificationSpec::Slack {
            url: Url::parse("https://hooks.slack.com/services/x").expect("url"),
        })
    }

    #[test]
    fn message_names_state_entity_check_alarm_message_and_zones() {
        let b = body(&slack());
        assert_eq!(b["text"], "[CRITICAL] web-1 / site down: status 503");
        let all = b["blocks"].to_string();
        for needle in [
            "CRITICAL (was OK)",
            "web-1",
            "homepage",
            "site down",
            "status 503",
        ] {
            assert!(all.contains(needle), "{needle} missing from {all}");
        }
        assert!(all.contains("mzdfw: CRITICAL (code=503)"), "{all}");
        assert_eq!(b["blocks"][1]["fields"].as_array().map(Vec::len), Some(4));
    }

    #[test]
    fn zones_past_the_limit_are_counted_and_long_text_is_cut() {
        let mut d = slack();
        let f = std::sync::Arc::make_mut(&mut d.facts);
        f.message = "x".repeat(10_000);
        f.observations = (0..ZONES_LISTED_MAX + 3)
            .map(|i| ZoneFact {
                monitoring_zone_id: format!("mz{i}"),
                state: meridian_alarm::State::Ok,
                status: "ok".into(),
                timestamp_ms: 0,
            })
            .collect();
        let b = body(&d);
        assert!(
            b["blocks"][3]["text"]["text"]
                .as_str()
                .is_some_and(|t| t.contains("and 3 more"))
        );
        for block in [
            &b["blocks"][0]["text"]["text"],
            &b["blocks"][2]["text"]["text"],
        ] {
            assert!(
                block.as_str().is_some_and(|t| t.len() <= BLOCK_TEXT_MAX),
                "{block}"
            );
        }
    }
}
