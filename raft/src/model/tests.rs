//! Tests of the pure model: each promise of `apply`, and that persistence round-trips. Its
//! `cmd` and `with_tenant` fixtures serve the other model tests too.

use super::apply;
use super::{ApplyErrorKind, REQUEST_IDS_MAX, REQUEST_TTL_MS};
use crate::model::{Command, CommandResult, ConfigState, ObjectKind, Op, PutMode};
use serde_json::json;

pub(super) fn cmd(op: Op) -> Command {
    Command {
        request_id: None,
        fingerprint: None,
        at_ms: 1_000,
        op,
    }
}

pub(super) fn with_tenant() -> ConfigState {
    let mut s = ConfigState::default();
    let op = Op::CreateTenant {
        id: "t1".into(),
        name: "acme".into(),
        token_hash: "h1".into(),
    };
    assert!(matches!(
        apply(&mut s, 1, &cmd(op)),
        CommandResult::Tenant(_)
    ));
    s
}

pub(super) fn put(id: &str, parent: Option<&str>, kind: ObjectKind, mode: PutMode) -> Op {
    Op::PutObject {
        tenant: "t1".into(),
        kind,
        id: id.into(),
        parent: parent.map(str::to_string),
        body: json!({"label": id}),
        mode,
        refs: vec![],
    }
}

fn refused_kind(r: &CommandResult) -> Option<ApplyErrorKind> {
    match r {
        CommandResult::Refused(e) => Some(e.kind),
        _ => None,
    }
}

#[test]
fn retried_request_id_applies_once_and_returns_first_result() {
    let mut s = with_tenant();
    let mut c = cmd(put("en1", None, ObjectKind::Entity, PutMode::Create));
    c.request_id = Some("r1".into());
    let first = apply(&mut s, 2, &c);
    let again = apply(&mut s, 3, &c);
    assert_eq!(first, again);
    assert_eq!(
        s.object("t1", ObjectKind::Entity, "en1").map(|o| o.version),
        Some(2)
    );
}

#[test]
fn if_match_checks_the_version() {
    let mut s = with_tenant();
    apply(
        &mut s,
        2,
        &cmd(put("en1", None, ObjectKind::Entity, PutMode::Create)),
    );
    let stale = put(
        "en1",
        None,
        ObjectKind::Entity,
        PutMode::Replace { if_match: Some(1) },
    );
    assert_eq!(
        refused_kind(&apply(&mut s, 3, &cmd(stale))),
        Some(ApplyErrorKind::PreconditionFailed)
    );
    let fresh = put(
        "en1",
        None,
        ObjectKind::Entity,
        PutMode::Replace { if_match: Some(2) },
    );
    assert!(matches!(apply(&mut s, 4, &cmd(fresh)), CommandResult::Object(o) if o.version == 4));
}

#[test]
fn create_twice_conflicts_and_replace_missing_is_not_found() {
    let mut s = with_tenant();
    let c = put("en1", None, ObjectKind::Entity, PutMode::Create);
    apply(&mut s, 2, &cmd(c.clone()));
    assert_eq!(
        refused_kind(&apply(&mut s, 3, &cmd(c))),
        Some(ApplyErrorKind::Conflict)
    );
    let r = put(
        "en9",
        None,
        ObjectKind::Entity,
        PutMode::Replace { if_match: None },
    );
    assert_eq!(
        refused_kind(&apply(&mut s, 4, &cmd(r))),
        Some(ApplyErrorKind::NotFound)
    );
}

#[test]
fn deleting_an_entity_removes_its_checks_and_alarms() {
    let mut s = with_tenant();
    apply(
        &mut s,
        2,
        &cmd(put("en1", None, ObjectKind::Entity, PutMode::Create)),
    );
    apply(
        &mut s,
        3,
        &cmd(put("ch1", Some("en1"), ObjectKind::Check, PutMode::Create)),
    );
    apply(
        &mut s,
        4,
        &cmd(put("al1", Some("en1"), ObjectKind::Alarm, PutMode::Create)),
    );
    let del = Op::DeleteObject {
        tenant: "t1".into(),
        kind: ObjectKind::Entity,
        id: "en1".into(),
        if_match: None,
    };
    let r = apply(&mut s, 5, &cmd(del));
    assert!(
        matches!(r, CommandResult::Deleted(ref v) if v.len() == 3),
        "{r:?}"
    );
    assert!(s.object("t1", ObjectKind::Check, "ch1").is_none());
    assert!(s.object("t1", ObjectKind::Alarm, "al1").is_none());
}

#[test]
fn a_removed_node_id_is_never_reused() {
    let mut s = ConfigState::default();
    let up = |id| Op::UpsertMember {
        id,
        region: "r".into(),
        addr: format!("a{id}"),
        voter: true,
    };
    apply(&mut s, 1, &cmd(up(1)));
    apply(&mut s, 2, &cmd(up(2)));
    apply(&mut s, 3, &cmd(Op::RemoveMember { id: 2 }));
    assert_eq!(
        refused_kind(&apply(&mut s, 4, &cmd(up(2)))),
        Some(ApplyErrorKind::Conflict)
    );
    assert_eq!(
        apply(&mut s, 5, &cmd(Op::ReserveNodeId)),
        CommandResult::NodeId(3)
    );
    assert_eq!(
        apply(&mut s, 6, &cmd(Op::ReserveNodeId)),
        CommandResult::NodeId(4)
    );
}

#[test]
fn alarm_transition_is_a_compare_and_set() {
    let mut s = with_tenant();
    apply(
        &mut s,
        2,
        &cmd(put("en1", None, ObjectKind::Entity, PutMode::Create)),
    );
    apply(
        &mut s,
        3,
        &cmd(put("al1", Some("en1"), ObjectKind::Alarm, PutMode::Create)),
    );
    let tr = |seq| Op::AlarmTransition {
        tenant: "t1".into(),
        alarm_id: "al1".into(),
        expected_seq: seq,
        state: "CRITICAL".into(),
        evaluator: 1,
        reason: "down".into(),
        facts: crate::model::TransitionFacts {
            check_id: "ch1".into(),
            zone: "r1".into(),
            ..Default::default()
        },
    };
    assert!(matches!(apply(&mut s, 4, &cmd(tr(0))),
        CommandResult::Alarm(a) if a.seq == 1 && a.facts.check_id == "ch1" && a.facts.zone == "r1"));
    // A second evaluator that read seq 0 loses.
    assert_eq!(
        refused_kind(&apply(&mut s, 5, &cmd(tr(0)))),
        Some(ApplyErrorKind::Conflict)
    );
    assert_eq!(s.alarm_changes().count(), 1);
}

#[test]
fn request_ids_are_bounded_in_count() {
    let mut s = with_tenant();
    for i in 0..(REQUEST_IDS_MAX as u64 + 10) {
        let mut c = cmd(Op::ReserveNodeId);
        c.request_id = Some(format!("r{i}"));
        apply(&mut s, 10 + i, &c);
    }
    assert_eq!(s.request_count(), REQUEST_IDS_MAX);
}

#[test]
fn request_ids_expire_by_proposer_time() {
    let mut s = with_tenant();
    let mut c = cmd(Op::ReserveNodeId);
    c.request_id = Some("old".into());
    apply(&mut s, 2, &c);
    let mut later = cmd(Op::ReserveNodeId);
    later.request_id = Some("new".into());
    later.at_ms = c.at_ms + REQUEST_TTL_MS + 1;
    apply(&mut s, 3, &later);
    assert_eq!(s.request_count(), 1);
}

#[test]
fn persisted_changes_and_images_round_trip() {
    let mut s = with_tenant();
    let mut persisted = std::collections::BTreeMap::new();
    let ops = [
        put("en1", None, ObjectKind::Entity, PutMode::Create),
        put("ch1", Some("en1"), ObjectKind::Check, PutMode::Create),
        put("en2", None, ObjectKind::Entity, PutMode::Create),
        Op::DeleteObject {
            tenant: "t1".into(),
            kind: ObjectKind::Entity,
            id: "en2".into(),
            if_match: None,
        },
        Op::UpsertMember {
            id: 1,
            region: "r".into(),
            addr: "a".into(),
            voter: true,
        },
    ];
    for (i, op) in ops.into_iter().enumerate() {
        let mut c = cmd(op);
        c.request_id = Some(format!("req{i}"));
        apply(&mut s, 2 + i as u64, &c);
    }
    s.mark_all_dirty();
    for (k, v) in s.take_changes() {
        match v {
            Some(v) => persisted.insert(k, v),
            None => persisted.remove(&k),
        };
    }
    let loaded = ConfigState::load(persisted).expect("load");
    assert_eq!(loaded.to_image(), s.to_image());
    // The snapshot encoding borrows the maps and must equal the image's own.
    let image_json = serde_json::to_vec(&s.to_image()).expect("encode");
    assert_eq!(s.image_json().expect("encode"), image_json);
    assert_eq!(loaded.digest(), s.digest());
    assert_eq!(ConfigState::from_image(s.to_image()).digest(), s.digest());
    assert!(loaded.tenant_by_token_hash("h1").is_some());
}

/// The creation of entity `en<index>` with request id `req<index>`, proposed at `at_ms`.
fn create_with_id(index: u64, at_ms: i64) -> Command {
    let mut c = cmd(put(
        &format!("en{index}"),
        None,
        ObjectKind::Entity,
        PutMode::Create,
    ));
    c.request_id = Some(format!("req{index}"));
    c.at_ms = at_ms;
    c
}

/// Persists `s`'s changes into `disk` the way the state machine does (last write wins).
fn persist(s: &mut ConfigState, disk: &mut std::collections::BTreeMap<String, Vec<u8>>) {
    for (k, v) in s.take_changes() {
        match v {
            Some(v) => disk.insert(k, v),
            None => disk.remove(&k),
        };
    }
}

#[test]
fn request_ids_persist_in_groups_and_forgotten_ones_stay_forgotten() {
    let mut s = with_tenant();
    let mut disk = std::collections::BTreeMap::new();
    persist(&mut s, &mut disk);
    // Batches of 3 writes, each a day and a bit later than the one before, so every batch
    // forgets the ids of the batch before it (TTL), groups cut in two included.
    let mut index = 2;
    for batch in 0..6_i64 {
        for i in 0..3 {
            let at_ms = 1_000 + batch * (REQUEST_TTL_MS + 1) + i;
            apply(&mut s, index, &create_with_id(index, at_ms));
            index += 1;
        }
        persist(&mut s, &mut disk);
        let loaded = ConfigState::load(disk.clone()).expect("load");
        assert_eq!(loaded.to_image(), s.to_image(), "after batch {batch}");
        assert_eq!(loaded.request_count(), 3);
        // One group per batch on disk, not one record per id; forgotten groups are deleted.
        let groups = disk.keys().filter(|k| k.starts_with("q/")).count();
        assert_eq!(groups, 1, "after batch {batch}: {:?}", disk.keys());
        assert!(!disk.keys().any(|k| k.starts_with("r/")));
    }
    // A retry of a remembered id still answers from the record after a reload.
    let mut loaded = ConfigState::load(disk.clone()).expect("load");
    let again = apply(
        &mut loaded,
        99,
        &create_with_id(17, 1_000 + 5 * (REQUEST_TTL_MS + 1) + 3),
    );
    assert!(matches!(again, CommandResult::Object(_)), "{again:?}");
    assert_eq!(loaded.to_image(), s.to_image());
}

#[test]
fn a_group_cut_by_the_floor_loads_only_its_remembered_ids() {
    let mut s = with_tenant();
    let mut disk = std::collections::BTreeMap::new();
    for (index, at_ms) in [(2, 1_000), (3, 1_000 + REQUEST_TTL_MS / 2)] {
        apply(&mut s, index, &create_with_id(index, at_ms));
    }
    persist(&mut s, &mut disk);
    // Forgets req2 only: its group stays on disk, and the floor hides it on load.
    apply(&mut s, 4, &create_with_id(4, 1_000 + REQUEST_TTL_MS + 1));
    persist(&mut s, &mut disk);
    assert_eq!(disk.keys().filter(|k| k.starts_with("q/")).count(), 2);
    let loaded = ConfigState::load(disk).expect("load");
    assert_eq!(loaded.request_count(), 2);
    assert_eq!(loaded.to_image(), s.to_image());
}

#[test]
fn request_records_of_the_older_layout_are_loaded_and_regrouped() {
    let mut s = with_tenant();
    apply(&mut s, 2, &create_with_id(2, 1_000));
    let mut disk = std::collections::BTreeMap::new();
    persist(&mut s, &mut disk);
    // Rewrite the group as the older one-record-per-id layout.
    disk.retain(|k, _| !k.starts_with('q'));
    let record = json!({"index": 2, "at_ms": 1_000, "result": serde_json::to_value(s.to_image().requests[0].3.clone()).unwrap()});
    disk.insert("r/req2".into(), serde_json::to_vec(&record).unwrap());
    let mut loaded = ConfigState::load(disk.clone()).expect("load");
    assert_eq!(loaded.to_image(), s.to_image());
    persist(&mut loaded, &mut disk);
    assert!(!disk.contains_key("r/req2"));
    assert_eq!(
        ConfigState::load(disk).expect("load").to_image(),
        s.to_image()
    );
}

#[test]
fn lists_page_by_id_within_tenant_and_kind() {
    let mut s = with_tenant();
    for (i, id) in ["en1", "en2", "en3"].iter().enumerate() {
        apply(
            &mut s,
            2 + i as u64,
            &cmd(put(id, None, ObjectKind::Entity, PutMode::Create)),
        );
    }
    apply(
        &mut s,
        9,
        &cmd(put("ch1", Some("en1"), ObjectKind::Check, PutMode::Create)),
    );
    let ids: Vec<_> = s
        .objects_after("t1", ObjectKind::Entity, Some("en1"))
        .map(|o| o.id.as_str())
        .collect();
    assert_eq!(ids, ["en2", "en3"]);
    assert_eq!(s.objects_after("t1", ObjectKind::Check, None).count(), 1);
    assert_eq!(s.objects_after("t2", ObjectKind::Entity, None).count(), 0);
}
