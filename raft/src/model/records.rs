//! The records the configuration state holds.

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ClusterInfo {
    pub cluster_id: String,
    pub n_shards: u32,
    pub created_at_ms: i64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MemberRecord {
    pub id: u64,
    pub region: String,
    pub addr: String,
    /// Whether the operator asked for a voter (the Raft membership says what it is now).
    pub voter: bool,
    /// Liveness as committed by the leader.
    pub up: bool,
    pub weight: u32,
    pub joined_at_ms: i64,
    pub status_changed_at_ms: i64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TenantRecord {
    pub id: String,
    pub name: String,
    /// Hex SHA-256 of the token the tenant was created with (the create answer compares it);
    /// whether that token still works is `tokens`. No token itself is ever stored.
    pub token_hash: String,
    pub created_at_ms: i64,
    /// The tenant's working tokens, oldest first (at most `TOKENS_PER_TENANT_MAX`). Empty in
    /// records written before tokens could be rotated: then `token_hash` is the one token.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tokens: Vec<TokenRecord>,
    /// Set when the tenant was deleted: its objects and tokens are gone, and the record stays
    /// (listed by `ConfigState::tenants_dropped`) until the series store reports its series
    /// dropped with `Op::ForgetDroppedTenant`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub deleted_at_ms: Option<i64>,
}

impl TenantRecord {
    /// The working tokens, including the creation token of an older record.
    pub fn token_list(&self) -> Vec<TokenRecord> {
        if self.tokens.is_empty() && self.deleted_at_ms.is_none() {
            return vec![TokenRecord {
                id: TokenRecord::id_of(&self.token_hash),
                token_hash: self.token_hash.clone(),
                created_at_ms: self.created_at_ms,
            }];
        }
        self.tokens.clone()
    }
}

/// One API token of a tenant, by its hash.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TokenRecord {
    /// `tk` and the first 16 hex digits of the hash: names the token without revealing it.
    pub id: String,
    /// Hex SHA-256 of the token.
    pub token_hash: String,
    pub created_at_ms: i64,
}

impl TokenRecord {
    pub fn id_of(token_hash: &str) -> String {
        format!("tk{}", token_hash.get(..16).unwrap_or(token_hash))
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ObjectKind {
    Entity,
    Check,
    Alarm,
    Notification,
    Plan,
    Suppression,
}

impl ObjectKind {
    pub const ALL: [ObjectKind; 6] = [
        ObjectKind::Entity,
        ObjectKind::Check,
        ObjectKind::Alarm,
        ObjectKind::Notification,
        ObjectKind::Plan,
        ObjectKind::Suppression,
    ];

    /// The prefix of the kind's ids in the public API.
    pub fn id_prefix(self) -> &'static str {
        match self {
            ObjectKind::Entity => "en",
            ObjectKind::Check => "ch",
            ObjectKind::Alarm => "al",
            ObjectKind::Notification => "nt",
            ObjectKind::Plan => "np",
            ObjectKind::Suppression => "sp",
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            ObjectKind::Entity => "entity",
            ObjectKind::Check => "check",
            ObjectKind::Alarm => "alarm",
            ObjectKind::Notification => "notification",
            ObjectKind::Plan => "plan",
            ObjectKind::Suppression => "suppression",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|k| k.as_str() == s)
    }
}

/// A tenant object (entity, check, alarm, ...): its API body plus bookkeeping.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ObjectRecord {
    pub kind: ObjectKind,
    pub tenant: String,
    pub id: String,
    /// The owning entity for checks and alarms.
    pub parent: Option<String>,
    pub body: serde_json::Value,
    /// Objects this one depends on (an alarm's check and plan, a plan's notifications): each
    /// must exist when this object is written, and none can be deleted while this one exists.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub refs: Vec<(ObjectKind, String)>,
    pub created_at_ms: i64,
    pub updated_at_ms: i64,
    /// Log index of the last change: the object's ETag.
    pub version: u64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AlarmStateRecord {
    pub tenant: String,
    pub alarm_id: String,
    /// Number of transitions recorded so far.
    pub seq: u64,
    pub state: String,
    pub previous_state: String,
    pub at_ms: i64,
    pub evaluator: u64,
    pub reason: String,
    /// Log index of the transition, a global order over all alarms.
    pub index: u64,
    #[serde(default)]
    pub facts: super::command::TransitionFacts,
}

/// How one notification of one alarm transition ended: `sent`, `failed` or `suppressed`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeliveryRecord {
    pub tenant: String,
    pub event_id: String,
    pub notification_id: String,
    pub status: String,
    /// When it was recorded (proposer time, ms).
    pub at_ms: i64,
    #[serde(default)]
    pub facts: DeliveryFacts,
}

/// What the notification history shows of a delivery beyond its outcome.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeliveryFacts {
    #[serde(default)]
    pub entity_id: String,
    #[serde(default)]
    pub alarm_id: String,
    /// The notification's type (`webhook`, `email`, ...).
    #[serde(default, rename = "type")]
    pub kind: String,
    /// The state notified.
    #[serde(default)]
    pub state: String,
    #[serde(default)]
    pub attempts: u32,
    #[serde(default)]
    pub last_error: String,
    #[serde(default)]
    pub first_attempt_at_ms: i64,
    #[serde(default)]
    pub done_at_ms: i64,
}

impl DeliveryRecord {
    /// One record per (transition, notification).
    pub fn key(&self) -> String {
        delivery_key(&self.event_id, &self.notification_id)
    }
}

/// The key of the delivery of `event_id` to `notification_id`.
pub fn delivery_key(event_id: &str, notification_id: &str) -> String {
    format!("{event_id}|{notification_id}")
}
