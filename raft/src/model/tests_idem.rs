//! Tests of request fingerprints: a request id belongs to the request it was first applied
//! with; another request under the same id is refused and changes nothing, on every node and
//! after a reload. Older records and images (without fingerprints) still load.

use std::collections::BTreeMap;

use proptest::prelude::*;
use serde_json::json;

use super::tests::{cmd, with_tenant};
use super::{ApplyErrorKind, apply};
use crate::model::{Command, CommandResult, ConfigState, Image, ObjectKind, Op, PutMode};

fn create(id: &str) -> Op {
    Op::PutObject {
        tenant: "t1".into(),
        kind: ObjectKind::Entity,
        id: id.into(),
        parent: None,
        body: json!({"label": id}),
        mode: PutMode::Create,
        refs: vec![],
    }
}

fn delete(id: &str) -> Op {
    Op::DeleteObject {
        tenant: "t1".into(),
        kind: ObjectKind::Entity,
        id: id.into(),
        if_match: None,
    }
}

fn keyed(op: Op, rid: &str, fingerprint: Option<&str>) -> Command {
    let mut c = cmd(op);
    c.request_id = Some(rid.into());
    c.fingerprint = fingerprint.map(str::to_string);
    c
}

fn is_key_reused(r: &CommandResult) -> bool {
    matches!(r, CommandResult::Refused(e) if e.kind == ApplyErrorKind::KeyReused)
}

fn persist(s: &mut ConfigState, disk: &mut BTreeMap<String, Vec<u8>>) {
    for (k, v) in s.take_changes() {
        match v {
            Some(v) => disk.insert(k, v),
            None => disk.remove(&k),
        };
    }
}

#[test]
fn a_reused_key_with_another_request_is_refused_and_changes_nothing() {
    let mut s = with_tenant();
    let first = apply(&mut s, 2, &keyed(create("en1"), "k", Some("fa")));
    assert!(matches!(first, CommandResult::Object(_)), "{first:?}");
    let before = s.digest();
    // Another body or route (another fingerprint), the same op or another one.
    for (i, op) in [create("en2"), delete("en1"), create("en1")]
        .into_iter()
        .enumerate()
    {
        let r = apply(&mut s, 3 + i as u64, &keyed(op, "k", Some("fb")));
        assert!(is_key_reused(&r), "{r:?}");
        assert_eq!(s.digest(), before, "a refused reuse changed the state");
    }
    assert!(s.object("t1", ObjectKind::Entity, "en2").is_none());
    assert!(s.request_reused("k", "fb") && !s.request_reused("k", "fa"));
    assert!(!s.request_reused("unknown", "fb"));
    assert!(s.object("t1", ObjectKind::Entity, "en1").is_some());
    // The first request's retry still gets the first result.
    assert_eq!(
        apply(&mut s, 9, &keyed(create("en1"), "k", Some("fa"))),
        first
    );
}

#[test]
fn ids_without_a_fingerprint_on_either_side_match_any_retry() {
    let mut s = with_tenant();
    // A record from before fingerprints existed answers every retry with its result.
    let old = apply(&mut s, 2, &keyed(create("en1"), "old", None));
    assert_eq!(
        apply(&mut s, 3, &keyed(create("en1"), "old", Some("f"))),
        old
    );
    // An internal write (no fingerprint) retried matches a record that has one.
    let new = apply(&mut s, 4, &keyed(create("en2"), "new", Some("f")));
    assert_eq!(apply(&mut s, 5, &keyed(create("en2"), "new", None)), new);
}

#[test]
fn a_refused_reuse_is_not_remembered_and_the_first_fingerprint_stays() {
    let mut s = with_tenant();
    // A refused first attempt leaves the id free: the next request under it applies.
    let missing = apply(&mut s, 2, &keyed(delete("nope"), "k", Some("fa")));
    assert!(matches!(missing, CommandResult::Refused(e) if e.kind == ApplyErrorKind::NotFound));
    let created = apply(&mut s, 3, &keyed(create("en1"), "k", Some("fb")));
    assert!(matches!(created, CommandResult::Object(_)));
    assert!(is_key_reused(&apply(
        &mut s,
        4,
        &keyed(delete("nope"), "k", Some("fa"))
    )));
}

#[test]
fn fingerprints_survive_persistence_and_snapshots() {
    let mut s = with_tenant();
    let mut disk = BTreeMap::new();
    apply(&mut s, 2, &keyed(create("en1"), "k1", Some("f1")));
    apply(&mut s, 3, &keyed(create("en2"), "k2", None));
    persist(&mut s, &mut disk);
    let mut loaded = ConfigState::load(disk).expect("load");
    assert_eq!(loaded.to_image(), s.to_image());
    assert!(is_key_reused(&apply(
        &mut loaded,
        4,
        &keyed(create("en3"), "k1", Some("f2"))
    )));
    let image = s.to_image();
    assert_eq!(
        image.request_fingerprints,
        vec![("k1".to_string(), "f1".to_string())]
    );
    assert_eq!(
        s.image_json().expect("encode"),
        serde_json::to_vec(&image).expect("encode")
    );
    let mut installed = ConfigState::from_image(image);
    assert_eq!(installed.digest(), s.digest());
    assert!(is_key_reused(&apply(
        &mut installed,
        4,
        &keyed(create("en3"), "k1", Some("f2"))
    )));
}

#[test]
fn records_images_and_entries_written_before_fingerprints_still_load() {
    let mut s = with_tenant();
    apply(&mut s, 2, &keyed(create("en1"), "k1", None));
    // A snapshot image without the `request_fingerprints` field.
    let mut old = serde_json::to_value(s.to_image()).expect("encode");
    old.as_object_mut()
        .expect("object")
        .remove("request_fingerprints");
    let image: Image = serde_json::from_value(old).expect("older image loads");
    assert_eq!(ConfigState::from_image(image).digest(), s.digest());
    // A persisted request group whose records have no `fingerprint`.
    let mut disk = BTreeMap::new();
    persist(&mut s, &mut disk);
    let group = disk
        .iter()
        .find(|(k, _)| k.starts_with("q/"))
        .map(|(_, v)| String::from_utf8_lossy(v).into_owned())
        .expect("a request group");
    assert!(!group.contains("fingerprint"), "{group}");
    assert_eq!(
        ConfigState::load(disk).expect("load").to_image(),
        s.to_image()
    );
    // A log entry without the field; and an internal one is written without it.
    let entry = json!({"request_id": "x", "at_ms": 5, "op": "ReserveNodeId"});
    let c: Command = serde_json::from_value(entry.clone()).expect("older entry loads");
    assert_eq!(c.fingerprint, None);
    assert_eq!(serde_json::to_value(&c).expect("encode"), entry);
}

/// The naive model: the first (fingerprint, result) per key.
type Seen = BTreeMap<u8, (Option<u8>, CommandResult)>;

proptest! {
    /// Against a naive model: each key answers its first request's result to a matching
    /// retry, `KeyReused` to a different one, and only first uses change the state.
    #[test]
    fn keys_answer_like_a_first_use_table(
        reqs in proptest::collection::vec((0u8..4, proptest::option::of(0u8..3), 0u8..6), 1..40)
    ) {
        let mut s = with_tenant();
        let mut seen = Seen::new();
        for (i, (key, fp, target)) in reqs.into_iter().enumerate() {
            let index = 2 + i as u64;
            let id = format!("en{target}");
            let op = if target % 2 == 0 {
                create(&id)
            } else {
                delete(&format!("en{}", target - 1))
            };
            let fps = fp.map(|f| f.to_string());
            let c = keyed(op.clone(), &key.to_string(), fps.as_deref());
            let before = s.digest();
            let mut reference = ConfigState::from_image(s.to_image());
            let got = apply(&mut s, index, &c);
            match seen.get(&key) {
                Some((first, _)) if first.is_some() && fp.is_some() && *first != fp => {
                    prop_assert!(is_key_reused(&got), "{got:?}");
                    prop_assert_eq!(s.digest(), before);
                }
                Some((_, result)) => {
                    prop_assert_eq!(&got, result);
                    prop_assert_eq!(s.digest(), before);
                }
                None => {
                    // A first use applies as the same op without an id would.
                    prop_assert_eq!(&got, &apply(&mut reference, index, &cmd(op)));
                    if !matches!(got, CommandResult::Refused(_)) {
                        seen.insert(key, (fp, got));
                    }
                }
            }
        }
    }
}
