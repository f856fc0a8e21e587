//! Tenant lifecycle in `apply`: deleting a tenant (objects and tokens gone at once, the record
//! kept as dropped for the series store), adding and revoking its tokens.

use super::TOKENS_PER_TENANT_MAX;
use super::command::{ApplyError, ApplyErrorKind as K, CommandResult};
use super::records::{TenantRecord, TokenRecord};
use super::state::{ConfigState, StateKey};

fn refused(kind: K, message: impl Into<String>) -> CommandResult {
    CommandResult::Refused(ApplyError::new(kind, message))
}

/// The live tenant `id`, or the refusal to answer (boxed: a result is large).
fn live(state: &ConfigState, id: &str) -> Result<TenantRecord, Box<CommandResult>> {
    state
        .tenant(id)
        .cloned()
        .ok_or_else(|| Box::new(refused(K::NotFound, format!("tenant {id} does not exist"))))
}

/// Marks the tenant deleted, drops its tokens, objects and alarm states. Answers the record
/// as it now is (with `deleted_at_ms`).
pub(super) fn delete(state: &mut ConfigState, at_ms: i64, id: &str) -> CommandResult {
    let mut t = match live(state, id) {
        Ok(t) => t,
        Err(r) => return *r,
    };
    let keys: Vec<_> = state
        .objects
        .keys()
        .filter(|(tenant, _, _)| tenant == id)
        .cloned()
        .collect();
    for key in keys {
        state.remove_object(&key);
        state.touch(StateKey::Object(key.0, key.1, key.2));
    }
    let alarms: Vec<_> = state
        .alarms
        .keys()
        .filter(|(tenant, _)| tenant == id)
        .cloned()
        .collect();
    for key in alarms {
        state.alarms.remove(&key);
        state.touch(StateKey::Alarm(key.0, key.1));
    }
    t.tokens.clear();
    t.deleted_at_ms = Some(at_ms);
    state.insert_tenant(t.clone());
    state.touch(StateKey::Tenant(id.to_string()));
    CommandResult::Tenant(t)
}

/// Adds a token (by hash) to a live tenant; answers the updated record.
pub(super) fn add_token(
    state: &mut ConfigState,
    at_ms: i64,
    tenant: &str,
    token_hash: &str,
) -> CommandResult {
    let mut t = match live(state, tenant) {
        Ok(t) => t,
        Err(r) => return *r,
    };
    let mut tokens = t.token_list();
    if tokens.len() >= TOKENS_PER_TENANT_MAX {
        return refused(
            K::Conflict,
            format!(
                "tenant {tenant} already holds {TOKENS_PER_TENANT_MAX} tokens; revoke one first"
            ),
        );
    }
    let id = TokenRecord::id_of(token_hash);
    if state.tokens.contains_key(token_hash) || tokens.iter().any(|k| k.id == id) {
        return refused(K::Conflict, "token already in use");
    }
    tokens.push(TokenRecord {
        id,
        token_hash: token_hash.to_string(),
        created_at_ms: at_ms,
    });
    t.tokens = tokens;
    state.insert_tenant(t.clone());
    state.touch(StateKey::Tenant(tenant.to_string()));
    CommandResult::Tenant(t)
}

/// Revokes one token of a live tenant; the last one stays (a tenant without a token could
/// never be used again).
pub(super) fn revoke_token(state: &mut ConfigState, tenant: &str, token_id: &str) -> CommandResult {
    let mut t = match live(state, tenant) {
        Ok(t) => t,
        Err(r) => return *r,
    };
    let mut tokens = t.token_list();
    let Some(pos) = tokens.iter().position(|k| k.id == token_id) else {
        return refused(K::NotFound, format!("token {token_id} does not exist"));
    };
    if tokens.len() == 1 {
        return refused(
            K::Conflict,
            "the tenant's last token cannot be revoked; issue another one first",
        );
    }
    tokens.remove(pos);
    t.tokens = tokens;
    state.insert_tenant(t.clone());
    state.touch(StateKey::Tenant(tenant.to_string()));
    CommandResult::Tenant(t)
}

/// Forgets a dropped tenant once its series are gone.
pub(super) fn forget(state: &mut ConfigState, id: &str) -> CommandResult {
    match state.tenants.get(id) {
        Some(t) if t.deleted_at_ms.is_some() => {
            state.tenants.remove(id);
            state.touch(StateKey::Tenant(id.to_string()));
            CommandResult::Done
        }
        Some(_) => refused(K::Conflict, format!("tenant {id} is not deleted")),
        None => refused(K::NotFound, format!("tenant {id} does not exist")),
    }
}
