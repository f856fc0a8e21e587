//! Tenant lifecycle in the model: tokens added up to their bound and revoked (never the
//! last), a deleted tenant's objects and tokens gone at once and its record kept as dropped
//! until forgotten, and all of it surviving persistence and images.

use super::tests::{cmd, put, with_tenant};
use super::{TOKENS_PER_TENANT_MAX, TokenRecord, apply};
use crate::model::{
    ApplyErrorKind, CommandResult, ConfigState, ObjectKind, Op, PutMode, TenantRecord,
};

fn refused_kind(r: &CommandResult) -> Option<ApplyErrorKind> {
    match r {
        CommandResult::Refused(e) => Some(e.kind),
        _ => None,
    }
}

fn add(s: &mut ConfigState, index: u64, hash: &str) -> CommandResult {
    let op = Op::AddTenantToken {
        tenant: "t1".into(),
        token_hash: hash.into(),
    };
    apply(s, index, &cmd(op))
}

fn revoke(s: &mut ConfigState, index: u64, id: &str) -> CommandResult {
    let op = Op::RevokeTenantToken {
        tenant: "t1".into(),
        token_id: id.into(),
    };
    apply(s, index, &cmd(op))
}

fn owner(s: &ConfigState, hash: &str) -> Option<String> {
    s.tenant_by_token_hash(hash).map(|t| t.id.clone())
}

/// A token hash whose first digits (the token id) differ with `i`.
fn hash(i: usize) -> String {
    format!("{i:016x}{}", "0".repeat(48))
}

#[test]
fn tokens_are_added_up_to_the_bound_and_each_works() {
    let mut s = with_tenant();
    for i in 1..TOKENS_PER_TENANT_MAX {
        assert!(matches!(
            add(&mut s, 10 + i as u64, &hash(i)),
            CommandResult::Tenant(_)
        ));
    }
    let full = add(&mut s, 99, &hash(99));
    assert_eq!(refused_kind(&full), Some(ApplyErrorKind::Conflict));
    assert_eq!(owner(&s, &hash(99)), None);
    assert_eq!(owner(&s, "h1").as_deref(), Some("t1"));
    for i in 1..TOKENS_PER_TENANT_MAX {
        assert_eq!(owner(&s, &hash(i)).as_deref(), Some("t1"));
    }
    let t = s.tenant("t1").expect("tenant");
    assert_eq!(t.token_list().len(), TOKENS_PER_TENANT_MAX);
    let again = add(&mut s, 100, "h1");
    assert_eq!(refused_kind(&again), Some(ApplyErrorKind::Conflict));
}

#[test]
fn a_revoked_token_stops_working_but_the_last_one_stays() {
    let mut s = with_tenant();
    assert!(matches!(add(&mut s, 2, &hash(1)), CommandResult::Tenant(_)));
    let first = TokenRecord::id_of("h1");
    assert!(matches!(
        revoke(&mut s, 3, &first),
        CommandResult::Tenant(_)
    ));
    assert_eq!(owner(&s, "h1"), None, "revoked");
    assert_eq!(owner(&s, &hash(1)).as_deref(), Some("t1"));
    let gone = revoke(&mut s, 4, &first);
    assert_eq!(refused_kind(&gone), Some(ApplyErrorKind::NotFound));
    let last = revoke(&mut s, 5, &TokenRecord::id_of(&hash(1)));
    assert_eq!(refused_kind(&last), Some(ApplyErrorKind::Conflict));
    assert_eq!(owner(&s, &hash(1)).as_deref(), Some("t1"));
}

#[test]
fn a_deleted_tenant_loses_objects_and_tokens_and_is_listed_as_dropped() {
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
    assert!(matches!(add(&mut s, 4, &hash(1)), CommandResult::Tenant(_)));
    let del = apply(&mut s, 5, &cmd(Op::DeleteTenant { id: "t1".into() }));
    assert!(matches!(
        del,
        CommandResult::Tenant(TenantRecord {
            deleted_at_ms: Some(1_000),
            ..
        })
    ));
    assert!(s.object("t1", ObjectKind::Entity, "en1").is_none());
    assert_eq!(s.object_count("t1", ObjectKind::Check), 0);
    assert_eq!((owner(&s, "h1"), owner(&s, &hash(1))), (None, None));
    assert!(s.tenant("t1").is_none());
    assert_eq!(s.tenants().count(), 0);
    let dropped: Vec<_> = s.tenants_dropped().map(|t| t.id.clone()).collect();
    assert_eq!(dropped, ["t1"]);
    let write = apply(
        &mut s,
        6,
        &cmd(put("en2", None, ObjectKind::Entity, PutMode::Create)),
    );
    assert_eq!(refused_kind(&write), Some(ApplyErrorKind::NotFound));
    let twice = apply(&mut s, 7, &cmd(Op::DeleteTenant { id: "t1".into() }));
    assert_eq!(refused_kind(&twice), Some(ApplyErrorKind::NotFound));
    // The name is free again.
    let op = Op::CreateTenant {
        id: "t2".into(),
        name: "acme".into(),
        token_hash: "h2".into(),
    };
    assert!(matches!(
        apply(&mut s, 8, &cmd(op)),
        CommandResult::Tenant(_)
    ));
    let forget = apply(&mut s, 9, &cmd(Op::ForgetDroppedTenant { id: "t1".into() }));
    assert_eq!(forget, CommandResult::Done);
    assert_eq!(s.tenants_dropped().count(), 0);
    let live = apply(
        &mut s,
        10,
        &cmd(Op::ForgetDroppedTenant { id: "t2".into() }),
    );
    assert_eq!(refused_kind(&live), Some(ApplyErrorKind::Conflict));
}

/// Tokens and dropped tenants survive persistence (`take_changes` then `load`) and images.
#[test]
fn tokens_and_dropped_tenants_survive_persistence_and_images() {
    let mut s = with_tenant();
    assert!(matches!(add(&mut s, 2, &hash(1)), CommandResult::Tenant(_)));
    revoke(&mut s, 3, &TokenRecord::id_of("h1"));
    let op = Op::CreateTenant {
        id: "t2".into(),
        name: "other".into(),
        token_hash: "h2".into(),
    };
    apply(&mut s, 4, &cmd(op));
    apply(&mut s, 5, &cmd(Op::DeleteTenant { id: "t2".into() }));
    let pairs: Vec<(String, Vec<u8>)> = s
        .take_changes()
        .into_iter()
        .filter_map(|(k, v)| Some((k, v?)))
        .collect();
    let loaded = ConfigState::load(pairs).expect("load");
    let imaged = ConfigState::from_image(s.to_image());
    for copy in [&loaded, &imaged] {
        assert_eq!(owner(copy, "h1"), None);
        assert_eq!(owner(copy, &hash(1)).as_deref(), Some("t1"));
        assert_eq!(owner(copy, "h2"), None);
        assert_eq!(copy.tenants_dropped().count(), 1);
        assert_eq!(copy.digest(), s.digest());
    }
}

/// A record written before tokens could be rotated (no `tokens` field) still authenticates
/// with its creation token, and gains a second one.
#[test]
fn an_older_record_keeps_its_creation_token() {
    let old = r#"{"id":"t1","name":"acme","token_hash":"h1","created_at_ms":5}"#;
    let mut s = ConfigState::load([("t/t1".to_string(), old.as_bytes().to_vec())]).expect("load");
    assert_eq!(owner(&s, "h1").as_deref(), Some("t1"));
    assert!(matches!(add(&mut s, 2, &hash(1)), CommandResult::Tenant(_)));
    assert_eq!(owner(&s, "h1").as_deref(), Some("t1"));
    assert_eq!(s.tenant("t1").expect("t1").tokens.len(), 2);
}
