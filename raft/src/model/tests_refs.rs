//! Tests of references between objects and of the per-tenant limits, decided inside `apply`.

use super::apply;
use super::tests::{cmd, with_tenant};
use super::{ApplyErrorKind, objects_per_tenant_max};
use crate::model::{CommandResult, ConfigState, ObjectKind, Op, PutMode};
use serde_json::json;

fn put(kind: ObjectKind, id: &str, parent: Option<&str>, refs: &[(ObjectKind, &str)]) -> Op {
    Op::PutObject {
        tenant: "t1".into(),
        kind,
        id: id.into(),
        parent: parent.map(str::to_string),
        body: json!({"label": id}),
        mode: PutMode::Create,
        refs: refs.iter().map(|(k, i)| (*k, i.to_string())).collect(),
    }
}

fn delete(kind: ObjectKind, id: &str) -> Op {
    Op::DeleteObject {
        tenant: "t1".into(),
        kind,
        id: id.into(),
        if_match: None,
    }
}

fn refusal(r: &CommandResult) -> Option<(ApplyErrorKind, String)> {
    match r {
        CommandResult::Refused(e) => Some((e.kind, e.message.clone())),
        _ => None,
    }
}

/// A tenant with entity en1, check ch1, notification nt1, plan np1 -> nt1, alarm al1 -> ch1, np1.
fn wired() -> ConfigState {
    let mut s = with_tenant();
    let ops = [
        put(ObjectKind::Entity, "en1", None, &[]),
        put(ObjectKind::Check, "ch1", Some("en1"), &[]),
        put(ObjectKind::Notification, "nt1", None, &[]),
        put(
            ObjectKind::Plan,
            "np1",
            None,
            &[(ObjectKind::Notification, "nt1")],
        ),
        put(
            ObjectKind::Alarm,
            "al1",
            Some("en1"),
            &[(ObjectKind::Check, "ch1"), (ObjectKind::Plan, "np1")],
        ),
    ];
    for (i, op) in ops.into_iter().enumerate() {
        let r = apply(&mut s, 2 + i as u64, &cmd(op));
        assert!(matches!(r, CommandResult::Object(_)), "{r:?}");
    }
    s
}

#[test]
fn a_put_naming_a_missing_object_is_refused() {
    let mut s = wired();
    let op = put(
        ObjectKind::Alarm,
        "al2",
        Some("en1"),
        &[(ObjectKind::Plan, "np9")],
    );
    let (kind, msg) = refusal(&apply(&mut s, 10, &cmd(op))).expect("refused");
    assert_eq!(kind, ApplyErrorKind::Invalid);
    assert!(msg.contains("plan np9"), "{msg}");
    assert!(s.object("t1", ObjectKind::Alarm, "al2").is_none());
}

#[test]
fn deleting_a_referenced_object_is_refused_naming_the_referrers() {
    let mut s = wired();
    let (kind, msg) = refusal(&apply(
        &mut s,
        10,
        &cmd(delete(ObjectKind::Notification, "nt1")),
    ))
    .expect("refused");
    assert_eq!(kind, ApplyErrorKind::Conflict);
    assert!(msg.contains("plan np1"), "{msg}");
    let (_, msg) =
        refusal(&apply(&mut s, 11, &cmd(delete(ObjectKind::Plan, "np1")))).expect("refused");
    assert!(msg.contains("alarm al1"), "{msg}");
    let (_, msg) =
        refusal(&apply(&mut s, 12, &cmd(delete(ObjectKind::Check, "ch1")))).expect("refused");
    assert!(msg.contains("alarm al1"), "{msg}");
    // Once the alarm is gone, the plan and then the notification may go.
    assert!(matches!(
        apply(&mut s, 13, &cmd(delete(ObjectKind::Alarm, "al1"))),
        CommandResult::Deleted(_)
    ));
    assert!(matches!(
        apply(&mut s, 14, &cmd(delete(ObjectKind::Plan, "np1"))),
        CommandResult::Deleted(_)
    ));
    assert!(matches!(
        apply(&mut s, 15, &cmd(delete(ObjectKind::Notification, "nt1"))),
        CommandResult::Deleted(_)
    ));
    assert!(
        s.referrers("t1", ObjectKind::Notification, "nt1")
            .is_empty()
    );
}

#[test]
fn deleting_an_entity_takes_its_alarms_references_with_it() {
    let mut s = wired();
    let r = apply(&mut s, 10, &cmd(delete(ObjectKind::Entity, "en1")));
    assert!(
        matches!(r, CommandResult::Deleted(ref v) if v.len() == 3),
        "{r:?}"
    );
    assert!(s.referrers("t1", ObjectKind::Plan, "np1").is_empty());
    assert!(matches!(
        apply(&mut s, 11, &cmd(delete(ObjectKind::Plan, "np1"))),
        CommandResult::Deleted(_)
    ));
}

#[test]
fn replacing_an_object_moves_its_references() {
    let mut s = wired();
    apply(
        &mut s,
        10,
        &cmd(put(ObjectKind::Notification, "nt2", None, &[])),
    );
    let mut op = put(
        ObjectKind::Plan,
        "np1",
        None,
        &[(ObjectKind::Notification, "nt2")],
    );
    if let Op::PutObject { mode, .. } = &mut op {
        *mode = PutMode::Replace { if_match: None };
    }
    assert!(matches!(
        apply(&mut s, 11, &cmd(op)),
        CommandResult::Object(_)
    ));
    assert!(matches!(
        apply(&mut s, 12, &cmd(delete(ObjectKind::Notification, "nt1"))),
        CommandResult::Deleted(_)
    ));
    assert!(
        refusal(&apply(
            &mut s,
            13,
            &cmd(delete(ObjectKind::Notification, "nt2"))
        ))
        .is_some()
    );
}

#[test]
fn the_per_tenant_limit_is_enforced_and_counts_survive_a_reload() {
    let mut s = with_tenant();
    let max = objects_per_tenant_max(ObjectKind::Notification);
    for i in 0..max {
        let r = apply(
            &mut s,
            2 + i as u64,
            &cmd(put(ObjectKind::Notification, &format!("nt{i}"), None, &[])),
        );
        assert!(matches!(r, CommandResult::Object(_)), "{r:?}");
    }
    let over = put(ObjectKind::Notification, "ntx", None, &[]);
    let (kind, msg) = refusal(&apply(&mut s, 5_000, &cmd(over.clone()))).expect("refused");
    assert_eq!(kind, ApplyErrorKind::Conflict);
    assert!(msg.contains("limit"), "{msg}");
    // Other kinds and updates of existing objects are not affected.
    assert!(matches!(
        apply(&mut s, 5_001, &cmd(put(ObjectKind::Plan, "np1", None, &[]))),
        CommandResult::Object(_)
    ));
    let reloaded = ConfigState::from_image(s.to_image());
    assert_eq!(reloaded.object_count("t1", ObjectKind::Notification), max);
    apply(&mut s, 5_002, &cmd(delete(ObjectKind::Notification, "nt0")));
    assert!(matches!(
        apply(&mut s, 5_003, &cmd(over)),
        CommandResult::Object(_)
    ));
}

#[test]
fn derived_indexes_are_rebuilt_from_persisted_records() {
    let mut s = wired();
    s.mark_all_dirty();
    let pairs = s
        .take_changes()
        .into_iter()
        .filter_map(|(k, v)| v.map(|v| (k, v)));
    let loaded = ConfigState::load(pairs).expect("load");
    assert_eq!(
        loaded.referrers("t1", ObjectKind::Plan, "np1"),
        vec![(ObjectKind::Alarm, "al1".to_string())]
    );
    assert_eq!(loaded.object_count("t1", ObjectKind::Check), 1);
}
