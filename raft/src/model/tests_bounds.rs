//! The bounds of the alarm-side records: delivery records (count and age) and the changelog
//! (age), all decided on proposer time inside `apply`.

use super::apply;
use super::records::DeliveryFacts;
use super::tests::{cmd, put, with_tenant};
use super::{DELIVERIES_MAX, DELIVERY_TTL_MS};
use crate::model::{Command, CommandResult, ConfigState, ObjectKind, Op, PutMode};

fn delivery(event: &str, notification: &str, at_ms: i64) -> Command {
    Command {
        request_id: None,
        fingerprint: None,
        at_ms,
        op: Op::RecordDelivery {
            tenant: "t1".into(),
            event_id: event.into(),
            notification_id: notification.into(),
            status: "sent".into(),
            facts: DeliveryFacts {
                attempts: 2,
                ..Default::default()
            },
        },
    }
}

#[test]
fn one_record_per_transition_and_notification() {
    let mut s = with_tenant();
    apply(&mut s, 2, &delivery("t1:en:al:ch:1:CRITICAL", "nt1", 10));
    apply(&mut s, 3, &delivery("t1:en:al:ch:1:CRITICAL", "nt2", 11));
    let d1 = s.delivery("t1:en:al:ch:1:CRITICAL", "nt1").expect("nt1");
    assert_eq!(d1.facts.attempts, 2);
    assert!(s.delivery("t1:en:al:ch:1:CRITICAL", "nt2").is_some());
    assert!(s.delivery("t1:en:al:ch:1:CRITICAL", "nt3").is_none());
}

#[test]
fn delivery_records_are_bounded_in_count_and_age() {
    let mut s = with_tenant();
    for i in 0..DELIVERIES_MAX + 10 {
        apply(
            &mut s,
            2 + i as u64,
            &delivery(&format!("e{i}"), "nt", i as i64),
        );
    }
    assert!(s.delivery("e9", "nt").is_none(), "oldest dropped first");
    assert!(s.delivery("e10", "nt").is_some());
    assert_eq!(s.to_image().deliveries.len(), DELIVERIES_MAX);
    // A record past the age bound goes when the next one is recorded.
    let late = DELIVERY_TTL_MS + 20;
    apply(&mut s, 1 << 40, &delivery("new", "nt", late));
    assert!(s.delivery("e10", "nt").is_none());
    assert!(s.delivery("e20", "nt").is_some());
    // The derived age index survives a reload from the image.
    let mut back = ConfigState::from_image(s.to_image());
    apply(&mut back, 1 << 41, &delivery("newer", "nt", late + 5));
    assert!(back.delivery("e24", "nt").is_none());
    assert!(back.delivery("e25", "nt").is_some());
}

#[test]
fn the_changelog_forgets_transitions_older_than_its_age_bound() {
    let mut s = with_tenant();
    let entity = put("en1", None, ObjectKind::Entity, PutMode::Create);
    assert!(matches!(
        apply(&mut s, 2, &cmd(entity)),
        CommandResult::Object(_)
    ));
    let alarm = put("al1", Some("en1"), ObjectKind::Alarm, PutMode::Create);
    assert!(matches!(
        apply(&mut s, 2, &cmd(alarm)),
        CommandResult::Object(_)
    ));
    let tr = |seq: u64, at_ms: i64| Command {
        request_id: None,
        fingerprint: None,
        at_ms,
        op: Op::AlarmTransition {
            tenant: "t1".into(),
            alarm_id: "al1".into(),
            expected_seq: seq,
            state: if seq.is_multiple_of(2) {
                "CRITICAL"
            } else {
                "OK"
            }
            .into(),
            evaluator: 1,
            reason: String::new(),
            facts: Default::default(),
        },
    };
    assert!(matches!(
        apply(&mut s, 3, &tr(0, 1_000)),
        CommandResult::Alarm(_)
    ));
    assert!(matches!(
        apply(&mut s, 4, &tr(1, 2_000)),
        CommandResult::Alarm(_)
    ));
    let later = 2_000 + super::CHANGELOG_TTL_MS + 1;
    assert!(matches!(
        apply(&mut s, 5, &tr(2, later)),
        CommandResult::Alarm(_)
    ));
    let seqs: Vec<u64> = s.alarm_changes().map(|c| c.seq).collect();
    assert_eq!(seqs, [3], "both older transitions expired");
    assert_eq!(s.alarm_state("t1", "al1").map(|a| a.seq), Some(3));
}
