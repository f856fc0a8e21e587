//! The pure state transition: `apply(state, index, command) -> result`.

use super::command::{ApplyError, ApplyErrorKind as K, Command, CommandResult, Op, PutMode};
use super::records::{
    AlarmStateRecord, ClusterInfo, DeliveryRecord, MemberRecord, ObjectKind, ObjectRecord,
    TenantRecord,
};
use super::state::{ConfigState, RequestRecord, StateKey};
use super::{
    ALARM_CHANGES_MAX, CHANGELOG_TTL_MS, REQUEST_IDS_MAX, REQUEST_TTL_MS, objects_per_tenant_max,
};

/// The most referrers named in the message of a refused delete.
pub const REFERRERS_SHOWN_MAX: usize = 20;

/// Applies the command at log `index`. A command whose request id was already applied returns
/// the result recorded the first time and changes nothing, if it is the same request (equal
/// fingerprints, or either one unknown); a different request under that id is refused with
/// `KeyReused` and changes nothing. Deciding it here, rather than in the node that received the
/// request, makes it hold for concurrent retries through different nodes. Refusals are not
/// remembered: they changed nothing, so a retry is evaluated afresh.
pub fn apply(state: &mut ConfigState, index: u64, cmd: &Command) -> CommandResult {
    if let Some(rid) = &cmd.request_id
        && let Some(done) = state.requests.get(rid)
    {
        if let (Some(first), Some(this)) = (&done.fingerprint, &cmd.fingerprint)
            && first != this
        {
            return refused(
                K::KeyReused,
                "Idempotency-Key: already used for a different request (method, path or body)",
            );
        }
        return done.result.clone();
    }
    let result = apply_op(state, index, cmd.at_ms, &cmd.op);
    if let Some(rid) = &cmd.request_id
        && !matches!(result, CommandResult::Refused(_))
    {
        let record = RequestRecord {
            index,
            at_ms: cmd.at_ms,
            result: result.clone(),
            fingerprint: cmd.fingerprint.clone(),
        };
        remember_request(state, rid, record);
    }
    result
}

fn remember_request(state: &mut ConfigState, rid: &str, record: RequestRecord) {
    let (index, at_ms) = (record.index, record.at_ms);
    state.requests.insert(rid.to_string(), record);
    state.request_order.insert(index, rid.to_string());
    state.fresh_requests.push(index);
    // Forget the oldest ids: past the count bound, or older than the TTL by proposer time.
    while let Some((first, rid)) = state.request_order.get_min() {
        let first = *first;
        let expired = state
            .requests
            .get(rid)
            .is_some_and(|r| r.at_ms < at_ms - REQUEST_TTL_MS);
        if state.requests.len() <= REQUEST_IDS_MAX && !expired {
            break;
        }
        let rid = rid.clone();
        state.request_order.remove(&first);
        state.requests.remove(&rid);
    }
}

fn refused(kind: K, message: impl Into<String>) -> CommandResult {
    CommandResult::Refused(ApplyError::new(kind, message))
}

fn apply_op(state: &mut ConfigState, index: u64, at_ms: i64, op: &Op) -> CommandResult {
    match op {
        Op::InitCluster {
            cluster_id,
            n_shards,
        } => {
            if state.info.is_none() {
                let info = ClusterInfo {
                    cluster_id: cluster_id.clone(),
                    n_shards: *n_shards,
                    created_at_ms: at_ms,
                };
                state.info = Some(info);
                state.touch(StateKey::Info);
            }
            CommandResult::Cluster(state.info.clone().expect("set above"))
        }
        Op::UpsertMember {
            id,
            region,
            addr,
            voter,
        } => {
            let r = upsert_member(state, at_ms, *id, region, addr, *voter);
            if matches!(r, CommandResult::Member(_)) {
                members_changed(state, index);
            }
            r
        }
        Op::RemoveMember { id } => {
            state.members.remove(id);
            state.removed.insert(*id);
            state.touch(StateKey::Member(*id));
            state.touch(StateKey::Removed(*id));
            members_changed(state, index);
            CommandResult::Done
        }
        Op::SetMemberStatus { id, up } => match state.members.get_mut(id) {
            None => refused(K::NotFound, format!("node {id} is not a member")),
            Some(m) => {
                if m.up != *up {
                    m.up = *up;
                    m.status_changed_at_ms = at_ms;
                    state.touch(StateKey::Member(*id));
                    members_changed(state, index);
                }
                CommandResult::Member(state.members[id].clone())
            }
        },
        Op::ReserveNodeId => {
            let highest = [
                state.members.keys().next_back().copied().unwrap_or(0),
                state.removed.iter().next_back().copied().unwrap_or(0),
                state.next_node_id.saturating_sub(1),
            ];
            let id = highest.into_iter().max().unwrap_or(0) + 1;
            state.next_node_id = id + 1;
            state.touch(StateKey::NextNodeId);
            CommandResult::NodeId(id)
        }
        Op::CreateTenant {
            id,
            name,
            token_hash,
        } => create_tenant(state, at_ms, id, name, token_hash),
        Op::DeleteTenant { id } => super::tenants::delete(state, at_ms, id),
        Op::AddTenantToken { tenant, token_hash } => {
            super::tenants::add_token(state, at_ms, tenant, token_hash)
        }
        Op::RevokeTenantToken { tenant, token_id } => {
            super::tenants::revoke_token(state, tenant, token_id)
        }
        Op::ForgetDroppedTenant { id } => super::tenants::forget(state, id),
        Op::PutObject {
            tenant,
            kind,
            id,
            parent,
            body,
            mode,
            refs,
        } => {
            let put = Put {
                tenant,
                kind: *kind,
                id,
                parent,
                body,
                mode: *mode,
                refs,
            };
            put_object(state, index, at_ms, put)
        }
        Op::DeleteObject {
            tenant,
            kind,
            id,
            if_match,
        } => delete_object(state, tenant, *kind, id, *if_match),
        Op::AlarmTransition {
            tenant,
            alarm_id,
            expected_seq,
            state: s,
            evaluator,
            reason,
            facts,
        } => {
            let t = Transition {
                facts,
                tenant,
                alarm_id,
                expected_seq: *expected_seq,
                state: s,
            };
            alarm_transition(state, index, at_ms, t, *evaluator, reason)
        }
        Op::RecordDelivery {
            tenant,
            event_id,
            notification_id,
            status,
            facts,
        } => {
            let d = DeliveryRecord {
                tenant: tenant.clone(),
                event_id: event_id.clone(),
                notification_id: notification_id.clone(),
                status: status.clone(),
                at_ms,
                facts: facts.clone(),
            };
            state.record_delivery(d, at_ms);
            CommandResult::Done
        }
    }
}

fn members_changed(state: &mut ConfigState, index: u64) {
    state.members_epoch = index;
    state.touch(StateKey::MembersEpoch);
}

fn upsert_member(
    state: &mut ConfigState,
    at_ms: i64,
    id: u64,
    region: &str,
    addr: &str,
    voter: bool,
) -> CommandResult {
    if state.removed.contains(&id) {
        return refused(
            K::Conflict,
            format!("node id {id} was removed and is never reused"),
        );
    }
    if let Some(other) = state
        .members
        .values()
        .find(|m| m.addr == addr && m.id != id)
    {
        return refused(
            K::Conflict,
            format!("address {addr} belongs to node {}", other.id),
        );
    }
    let m = state.members.entry(id).or_insert_with(|| MemberRecord {
        id,
        region: region.to_string(),
        addr: addr.to_string(),
        voter,
        up: true,
        weight: 1,
        joined_at_ms: at_ms,
        status_changed_at_ms: at_ms,
    });
    m.region = region.to_string();
    m.addr = addr.to_string();
    m.voter = voter;
    let m = m.clone();
    state.next_node_id = state.next_node_id.max(id + 1);
    state.touch(StateKey::Member(id));
    state.touch(StateKey::NextNodeId);
    CommandResult::Member(m)
}

fn create_tenant(
    state: &mut ConfigState,
    at_ms: i64,
    id: &str,
    name: &str,
    token_hash: &str,
) -> CommandResult {
    if state
        .tenants
        .values()
        .any(|t| t.name == name && t.deleted_at_ms.is_none())
    {
        return refused(
            K::Conflict,
            format!("a tenant named {name:?} already exists"),
        );
    }
    if state.tenants.contains_key(id) || state.tokens.contains_key(token_hash) {
        return refused(K::Conflict, "tenant id or token already in use");
    }
    let t = TenantRecord {
        id: id.to_string(),
        name: name.to_string(),
        token_hash: token_hash.to_string(),
        created_at_ms: at_ms,
        tokens: vec![super::records::TokenRecord {
            id: super::records::TokenRecord::id_of(token_hash),
            token_hash: token_hash.to_string(),
            created_at_ms: at_ms,
        }],
        deleted_at_ms: None,
    };
    state.insert_tenant(t.clone());
    state.touch(StateKey::Tenant(id.to_string()));
    CommandResult::Tenant(t)
}

struct Put<'a> {
    tenant: &'a str,
    kind: ObjectKind,
    id: &'a str,
    parent: &'a Option<String>,
    body: &'a serde_json::Value,
    mode: PutMode,
    refs: &'a [(ObjectKind, String)],
}

/// Refuses a put whose references are missing or that would pass the tenant's limit.
fn check_put(state: &ConfigState, p: &Put<'_>, exists: bool) -> Option<CommandResult> {
    if let Some((k, id)) = p
        .refs
        .iter()
        .find(|(k, id)| state.object(p.tenant, *k, id).is_none())
    {
        return Some(refused(
            K::Invalid,
            format!("{} {id} does not exist", k.as_str()),
        ));
    }
    let max = objects_per_tenant_max(p.kind);
    if !exists && state.object_count(p.tenant, p.kind) >= max {
        let what = p.kind.as_str();
        return Some(refused(
            K::Conflict,
            format!("limit reached: a tenant may have at most {max} objects of kind {what}"),
        ));
    }
    None
}

fn put_object(state: &mut ConfigState, index: u64, at_ms: i64, p: Put<'_>) -> CommandResult {
    if state.tenant(p.tenant).is_none() {
        return refused(K::NotFound, format!("tenant {} does not exist", p.tenant));
    }
    if let Some(parent) = p.parent
        && state.object(p.tenant, ObjectKind::Entity, parent).is_none()
    {
        return refused(K::NotFound, format!("entity {parent} does not exist"));
    }
    if let Some(r) = check_put(state, &p, state.object(p.tenant, p.kind, p.id).is_some()) {
        return r;
    }
    let key = (p.tenant.to_string(), p.kind, p.id.to_string());
    let existing = state.objects.get(&key);
    let created_at_ms = match (p.mode, existing) {
        (PutMode::Create, Some(_)) => {
            return refused(
                K::Conflict,
                format!("{} {} already exists", p.kind.as_str(), p.id),
            );
        }
        (PutMode::Create, None) => at_ms,
        (PutMode::Replace { .. }, None) => {
            return refused(
                K::NotFound,
                format!("{} {} does not exist", p.kind.as_str(), p.id),
            );
        }
        (PutMode::Replace { if_match }, Some(o)) => {
            if if_match.is_some_and(|v| v != o.version) {
                return refused(
                    K::PreconditionFailed,
                    "If-Match does not match the current ETag",
                );
            }
            if o.parent != *p.parent {
                return refused(K::Invalid, "an object cannot move to another entity");
            }
            o.created_at_ms
        }
    };
    let record = ObjectRecord {
        kind: p.kind,
        tenant: p.tenant.to_string(),
        id: p.id.to_string(),
        parent: p.parent.clone(),
        body: p.body.clone(),
        refs: p.refs.to_vec(),
        created_at_ms,
        updated_at_ms: at_ms,
        version: index,
    };
    state.insert_object(record.clone());
    state.touch(StateKey::Object(
        p.tenant.to_string(),
        p.kind,
        p.id.to_string(),
    ));
    CommandResult::Object(record)
}

fn delete_object(
    state: &mut ConfigState,
    tenant: &str,
    kind: ObjectKind,
    id: &str,
    if_match: Option<u64>,
) -> CommandResult {
    let Some(o) = state.object(tenant, kind, id) else {
        return refused(
            K::NotFound,
            format!("{} {id} does not exist", kind.as_str()),
        );
    };
    if if_match.is_some_and(|v| v != o.version) {
        return refused(
            K::PreconditionFailed,
            "If-Match does not match the current ETag",
        );
    }
    let mut removed = vec![(kind, id.to_string())];
    if kind == ObjectKind::Entity {
        // Deleting an entity removes its checks and alarms.
        removed.extend(
            state
                .objects
                .values()
                .filter(|o| o.tenant == tenant && o.parent.as_deref() == Some(id))
                .map(|o| (o.kind, o.id.clone())),
        );
    }
    if let Some(r) = refuse_referenced(state, tenant, &removed) {
        return r;
    }
    for (k, oid) in &removed {
        state.remove_object(&(tenant.to_string(), *k, oid.clone()));
        state.touch(StateKey::Object(tenant.to_string(), *k, oid.clone()));
        if *k == ObjectKind::Alarm
            && state
                .alarms
                .remove(&(tenant.to_string(), oid.clone()))
                .is_some()
        {
            state.touch(StateKey::Alarm(tenant.to_string(), oid.clone()));
        }
    }
    CommandResult::Deleted(removed)
}

/// Refuses a delete while an object outside the removed set still refers to a removed one,
/// naming the referrers.
fn refuse_referenced(
    state: &ConfigState,
    tenant: &str,
    removed: &[(ObjectKind, String)],
) -> Option<CommandResult> {
    for (k, id) in removed {
        let outside: Vec<String> = state
            .referrers(tenant, *k, id)
            .into_iter()
            .filter(|r| !removed.contains(r))
            .map(|(rk, rid)| format!("{} {rid}", rk.as_str()))
            .collect();
        if !outside.is_empty() {
            let more = outside.len().saturating_sub(REFERRERS_SHOWN_MAX);
            let mut names = outside
                .into_iter()
                .take(REFERRERS_SHOWN_MAX)
                .collect::<Vec<_>>()
                .join(", ");
            if more > 0 {
                names.push_str(&format!(" and {more} more"));
            }
            let what = k.as_str();
            return Some(refused(
                K::Conflict,
                format!("{what} {id} is still referenced by {names}"),
            ));
        }
    }
    None
}

struct Transition<'a> {
    facts: &'a super::command::TransitionFacts,
    tenant: &'a str,
    alarm_id: &'a str,
    expected_seq: u64,
    state: &'a str,
}

fn alarm_transition(
    state: &mut ConfigState,
    index: u64,
    at_ms: i64,
    t: Transition<'_>,
    evaluator: u64,
    reason: &str,
) -> CommandResult {
    if state
        .object(t.tenant, ObjectKind::Alarm, t.alarm_id)
        .is_none()
    {
        return refused(K::NotFound, format!("alarm {} does not exist", t.alarm_id));
    }
    let key = (t.tenant.to_string(), t.alarm_id.to_string());
    let (seq, previous) = match state.alarms.get(&key) {
        Some(a) => (a.seq, a.state.clone()),
        None => (0, "UNKNOWN".to_string()),
    };
    if seq != t.expected_seq {
        return refused(
            K::Conflict,
            format!("alarm sequence is {seq}, not {}", t.expected_seq),
        );
    }
    let record = AlarmStateRecord {
        tenant: t.tenant.to_string(),
        alarm_id: t.alarm_id.to_string(),
        seq: seq + 1,
        state: t.state.to_string(),
        previous_state: previous,
        at_ms,
        evaluator,
        reason: reason.to_string(),
        index,
        facts: t.facts.clone(),
    };
    state.alarms.insert(key, record.clone());
    state.alarm_changes.push_back(record.clone());
    state.touch(StateKey::AlarmChange(index));
    // Oldest first: past the count bound, or older than the changelog's age bound.
    while state.alarm_changes.len() > ALARM_CHANGES_MAX
        || state
            .alarm_changes
            .front()
            .is_some_and(|c| c.at_ms < at_ms - CHANGELOG_TTL_MS)
    {
        if let Some(old) = state.alarm_changes.pop_front() {
            state.touch(StateKey::AlarmChange(old.index));
        }
    }
    state.touch(StateKey::Alarm(
        t.tenant.to_string(),
        t.alarm_id.to_string(),
    ));
    CommandResult::Alarm(record)
}
