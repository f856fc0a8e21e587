//! Commands proposed through Raft and the results their application returns.

use serde::{Deserialize, Serialize};

use super::records::{
    AlarmStateRecord, ClusterInfo, MemberRecord, ObjectKind, ObjectRecord, TenantRecord,
};

/// One entry of the replicated log.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Command {
    /// Client request id: a command carrying an id already applied returns the first result.
    pub request_id: Option<String>,
    /// Digest of the client request the id came with (method, route, body). A command whose id
    /// was applied with another fingerprint is refused (`KeyReused`) and changes nothing.
    /// Absent for internal ids and in entries written before fingerprints existed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fingerprint: Option<String>,
    /// Proposer's wall clock (ms since the epoch); apply never reads a clock itself.
    pub at_ms: i64,
    pub op: Op,
}

impl std::fmt::Display for Command {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}", self.op.name())
    }
}

/// How a `PutObject` treats an existing object.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum PutMode {
    /// The id must be new.
    Create,
    /// The object must exist; when `if_match` is set, its version must equal it.
    Replace { if_match: Option<u64> },
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum Op {
    /// Records the cluster's identity once, at bootstrap.
    InitCluster { cluster_id: String, n_shards: u32 },
    /// Adds a member or updates its address/region. Refused for a removed id.
    UpsertMember {
        id: u64,
        region: String,
        addr: String,
        voter: bool,
    },
    /// Removes a member; its id is never accepted again.
    RemoveMember { id: u64 },
    /// Liveness as decided by the leader.
    SetMemberStatus { id: u64, up: bool },
    /// Reserves a fresh node id for a joining node.
    ReserveNodeId,
    CreateTenant {
        id: String,
        name: String,
        token_hash: String,
    },
    /// Deletes a tenant: its tokens stop working and its objects are removed; the record stays
    /// as dropped until `ForgetDroppedTenant`.
    DeleteTenant { id: String },
    /// Adds a token to a tenant (at most `TOKENS_PER_TENANT_MAX`).
    AddTenantToken { tenant: String, token_hash: String },
    /// Revokes one of a tenant's tokens; the last one cannot be revoked.
    RevokeTenantToken { tenant: String, token_id: String },
    /// The series store dropped a deleted tenant's series: forget the tenant.
    ForgetDroppedTenant { id: String },
    PutObject {
        tenant: String,
        kind: ObjectKind,
        id: String,
        parent: Option<String>,
        body: serde_json::Value,
        mode: PutMode,
        /// Objects of the same tenant this one depends on: each must exist when this applies,
        /// and none of them can be deleted while this object refers to it.
        #[serde(default)]
        refs: Vec<(ObjectKind, String)>,
    },
    DeleteObject {
        tenant: String,
        kind: ObjectKind,
        id: String,
        if_match: Option<u64>,
    },
    /// Compare-and-set of an alarm's state: applies only if the alarm's sequence equals
    /// `expected_seq`, so two evaluators can never both record the same transition.
    AlarmTransition {
        tenant: String,
        alarm_id: String,
        expected_seq: u64,
        state: String,
        evaluator: u64,
        reason: String,
        /// What the changelog shows of the transition beyond its state.
        #[serde(default)]
        facts: TransitionFacts,
    },
    /// A notification for an alarm transition was delivered.
    RecordDelivery {
        tenant: String,
        event_id: String,
        notification_id: String,
        status: String,
        #[serde(default)]
        facts: super::records::DeliveryFacts,
    },
}

/// The changelog's facts of an alarm transition: where it was decided and on what.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct TransitionFacts {
    #[serde(default)]
    pub entity_id: String,
    #[serde(default)]
    pub check_id: String,
    /// Each voting zone's state when the transition was decided.
    #[serde(default)]
    pub zone_states: std::collections::BTreeMap<String, String>,
    /// The region of the evaluating node.
    #[serde(default)]
    pub zone: String,
}

impl Op {
    pub fn name(&self) -> &'static str {
        match self {
            Op::InitCluster { .. } => "init_cluster",
            Op::UpsertMember { .. } => "upsert_member",
            Op::RemoveMember { .. } => "remove_member",
            Op::SetMemberStatus { .. } => "set_member_status",
            Op::ReserveNodeId => "reserve_node_id",
            Op::CreateTenant { .. } => "create_tenant",
            Op::DeleteTenant { .. } => "delete_tenant",
            Op::AddTenantToken { .. } => "add_tenant_token",
            Op::RevokeTenantToken { .. } => "revoke_tenant_token",
            Op::ForgetDroppedTenant { .. } => "forget_dropped_tenant",
            Op::PutObject { .. } => "put_object",
            Op::DeleteObject { .. } => "delete_object",
            Op::AlarmTransition { .. } => "alarm_transition",
            Op::RecordDelivery { .. } => "record_delivery",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum ApplyErrorKind {
    NotFound,
    Conflict,
    PreconditionFailed,
    Invalid,
    /// The request id was first applied for a different request (another fingerprint).
    KeyReused,
}

/// A command that was applied but refused by the model (deterministically, on every node).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ApplyError {
    pub kind: ApplyErrorKind,
    pub message: String,
}

impl ApplyError {
    pub fn new(kind: ApplyErrorKind, message: impl Into<String>) -> Self {
        Self {
            kind,
            message: message.into(),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
pub enum CommandResult {
    /// Membership entries and blank entries.
    #[default]
    Done,
    Cluster(ClusterInfo),
    Member(MemberRecord),
    NodeId(u64),
    Tenant(TenantRecord),
    Object(ObjectRecord),
    /// The ids (kind, id) removed by a delete, the object itself first.
    Deleted(Vec<(ObjectKind, String)>),
    Alarm(AlarmStateRecord),
    Refused(ApplyError),
}
