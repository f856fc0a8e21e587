//! The configuration state every node holds in full, with change tracking for persistence.

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use super::command::CommandResult;
use super::records::{
    AlarmStateRecord, ClusterInfo, DeliveryRecord, MemberRecord, ObjectKind, ObjectRecord,
    TenantRecord,
};

/// Identifies one persisted record; the state machine writes the dirty ones after each batch.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub enum StateKey {
    Info,
    NextNodeId,
    MembersEpoch,
    Member(u64),
    Removed(u64),
    Tenant(String),
    Object(String, ObjectKind, String),
    Alarm(String, String),
    Delivery(String),
    AlarmChange(u64),
}

pub(crate) type ObjKey = (String, ObjectKind, String);

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) struct RequestRecord {
    pub index: u64,
    pub at_ms: i64,
    pub result: CommandResult,
    /// The fingerprint of the request that first used the id (None for internal ids and for
    /// records written before fingerprints existed: those match any retry).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fingerprint: Option<String>,
}

/// The whole replicated configuration.
#[derive(Debug, Clone, Default)]
pub struct ConfigState {
    pub(crate) info: Option<ClusterInfo>,
    pub(crate) next_node_id: u64,
    /// Log index of the last change to the member list or a member's liveness.
    pub(crate) members_epoch: u64,
    pub(crate) members: BTreeMap<u64, MemberRecord>,
    pub(crate) removed: BTreeSet<u64>,
    pub(crate) tenants: BTreeMap<String, TenantRecord>,
    pub(crate) tokens: BTreeMap<String, String>,
    /// Persistent maps (clone in O(1)) for the parts that grow: a snapshot copies the state
    /// under the lock and encodes it after.
    pub(crate) objects: imbl::OrdMap<ObjKey, ObjectRecord>,
    /// Derived from `objects` (never persisted): objects per (tenant, kind), for the limits.
    pub(crate) counts: BTreeMap<(String, ObjectKind), usize>,
    /// Derived from `objects` (never persisted): who refers to an object, by its key.
    pub(crate) referrers: BTreeMap<ObjKey, BTreeSet<(ObjectKind, String)>>,
    pub(crate) alarms: imbl::OrdMap<(String, String), AlarmStateRecord>,
    pub(crate) alarm_changes: imbl::Vector<AlarmStateRecord>,
    /// Keyed by `DeliveryRecord::key`: one record per (transition, notification).
    pub(crate) deliveries: imbl::OrdMap<String, DeliveryRecord>,
    /// Derived from `deliveries` (never persisted): (recorded at, key), oldest first.
    delivery_age: BTreeSet<(i64, String)>,
    pub(crate) requests: imbl::OrdMap<String, RequestRecord>,
    /// Log indexes of request ids remembered since the last `take_changes` (never persisted).
    pub(crate) fresh_requests: Vec<u64>,
    /// Persisted request groups, first index -> last index (never persisted itself).
    request_groups: BTreeMap<u64, u64>,
    /// The request floor as last persisted, if known.
    persisted_floor: Option<u64>,
    /// Keys of the older one-record-per-request layout, deleted at the next persist.
    legacy_request_keys: Vec<String>,
    pub(crate) request_order: imbl::OrdMap<u64, String>,
    dirty: BTreeSet<StateKey>,
}

/// The serialisable form of the state: snapshots, persistence and the digest use it.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Image {
    pub info: Option<ClusterInfo>,
    pub next_node_id: u64,
    pub members_epoch: u64,
    pub members: Vec<MemberRecord>,
    pub removed: Vec<u64>,
    pub tenants: Vec<TenantRecord>,
    pub objects: Vec<ObjectRecord>,
    pub alarms: Vec<AlarmStateRecord>,
    pub alarm_changes: Vec<AlarmStateRecord>,
    pub deliveries: Vec<DeliveryRecord>,
    pub requests: Vec<(String, u64, i64, CommandResult)>,
    /// (request id, fingerprint) of the remembered ids that have one. Apart from `requests`
    /// so images written before fingerprints existed still load.
    #[serde(default)]
    pub request_fingerprints: Vec<(String, String)>,
}

impl ConfigState {
    pub(crate) fn touch(&mut self, key: StateKey) {
        self.dirty.insert(key);
    }

    /// Keys changed since the last call, with their current encoded value (None = deleted).
    pub fn take_changes(&mut self) -> Vec<(String, Option<Vec<u8>>)> {
        let dirty = std::mem::take(&mut self.dirty);
        let mut changes: Vec<_> = dirty
            .into_iter()
            .map(|k| (encode_key(&k), self.encode_value(&k)))
            .collect();
        self.request_changes(&mut changes);
        changes
    }

    /// Request ids are persisted a group at a time (one record for all ids remembered since the
    /// last call) with a floor: ids below it were forgotten. Forgetting is always oldest first,
    /// so a group is deleted once the floor passes its last id, and a group the floor cuts
    /// through is filtered on load. One record per call instead of one per id keeps the
    /// per-write cost of the persisted state low.
    fn request_changes(&mut self, changes: &mut Vec<(String, Option<Vec<u8>>)>) {
        changes.extend(self.legacy_request_keys.drain(..).map(|k| (k, None)));
        let fresh = std::mem::take(&mut self.fresh_requests);
        let group: Vec<(&String, &RequestRecord)> = fresh
            .iter()
            .filter_map(|index| self.request_order.get(index))
            .filter_map(|rid| self.requests.get_key_value(rid))
            .collect();
        if let (Some((_, first)), Some((_, last))) = (group.first(), group.last()) {
            let (first, last) = (first.index, last.index);
            let value = serde_json::to_vec(&group).expect("records serialise");
            changes.push((request_group_key(first), Some(value)));
            self.request_groups.insert(first, last);
        }
        let floor = self
            .request_order
            .keys()
            .next()
            .copied()
            .unwrap_or(u64::MAX);
        if self.persisted_floor != Some(floor) {
            changes.push((
                REQUEST_FLOOR_KEY.into(),
                Some(floor.to_string().into_bytes()),
            ));
            self.persisted_floor = Some(floor);
        }
        while let Some((&first, &last)) = self.request_groups.first_key_value()
            && last < floor
        {
            self.request_groups.remove(&first);
            changes.push((request_group_key(first), None));
        }
    }

    fn remember_loaded_request(&mut self, rid: String, r: RequestRecord) {
        self.request_order.insert(r.index, rid.clone());
        self.requests.insert(rid, r);
    }

    fn encode_value(&self, key: &StateKey) -> Option<Vec<u8>> {
        let json = |v: &dyn erased::Ser| Some(v.to_vec());
        match key {
            StateKey::Info => self.info.as_ref().and_then(|v| json(v)),
            StateKey::NextNodeId => json(&self.next_node_id),
            StateKey::MembersEpoch => json(&self.members_epoch),
            StateKey::Member(id) => self.members.get(id).and_then(|v| json(v)),
            StateKey::Removed(id) => self.removed.contains(id).then(|| b"1".to_vec()),
            StateKey::Tenant(t) => self.tenants.get(t).and_then(|v| json(v)),
            StateKey::Object(t, k, id) => self
                .objects
                .get(&(t.clone(), *k, id.clone()))
                .and_then(|v| json(v)),
            StateKey::Alarm(t, a) => self
                .alarms
                .get(&(t.clone(), a.clone()))
                .and_then(|v| json(v)),
            StateKey::Delivery(e) => self.deliveries.get(e).and_then(|v| json(v)),
            StateKey::AlarmChange(index) => {
                let i = self
                    .alarm_changes
                    .binary_search_by_key(index, |c| c.index)
                    .ok()?;
                json(&self.alarm_changes[i])
            }
        }
    }

    /// Rebuilds the state from persisted (key, value) pairs written by `take_changes`.
    pub fn load(pairs: impl IntoIterator<Item = (String, Vec<u8>)>) -> serde_json::Result<Self> {
        let mut s = ConfigState::default();
        let (mut groups, mut floor) = (Vec::new(), None);
        for (k, v) in pairs {
            let (prefix, rest) = k.split_once('/').unwrap_or((k.as_str(), ""));
            match prefix {
                "i" => s.info = Some(serde_json::from_slice(&v)?),
                "n" => s.next_node_id = serde_json::from_slice(&v)?,
                "e" => s.members_epoch = serde_json::from_slice(&v)?,
                "m" => {
                    let m: MemberRecord = serde_json::from_slice(&v)?;
                    s.members.insert(m.id, m);
                }
                "x" => {
                    s.removed.insert(rest.parse().unwrap_or_default());
                }
                "t" => s.insert_tenant(serde_json::from_slice(&v)?),
                "o" => {
                    s.insert_object(serde_json::from_slice(&v)?);
                }
                "a" => {
                    let a: AlarmStateRecord = serde_json::from_slice(&v)?;
                    s.alarms.insert((a.tenant.clone(), a.alarm_id.clone()), a);
                }
                "c" => s.alarm_changes.push_back(serde_json::from_slice(&v)?),
                "d" => s.insert_delivery(serde_json::from_slice(&v)?),
                "q" => {
                    let group: Vec<(String, RequestRecord)> = serde_json::from_slice(&v)?;
                    if let (Some(first), Some(last)) = (group.first(), group.last()) {
                        s.request_groups.insert(first.1.index, last.1.index);
                    }
                    groups.push(group);
                }
                "qf" => floor = Some(serde_json::from_slice(&v)?),
                // The older layout: one record per request id, regrouped at the next persist.
                "r" => {
                    let r: RequestRecord = serde_json::from_slice(&v)?;
                    s.fresh_requests.push(r.index);
                    s.legacy_request_keys.push(k.clone());
                    s.remember_loaded_request(rest.to_string(), r);
                }
                _ => {}
            }
        }
        let floor = floor.unwrap_or(0);
        s.persisted_floor = Some(floor);
        for (rid, r) in groups.into_iter().flatten() {
            if r.index >= floor {
                s.remember_loaded_request(rid, r);
            }
        }
        s.fresh_requests.sort_unstable();
        Ok(s)
    }

    /// Inserts or replaces an object, keeping the derived counts and referrers in step.
    pub(crate) fn insert_object(&mut self, o: ObjectRecord) {
        let key = (o.tenant.clone(), o.kind, o.id.clone());
        if self.objects.contains_key(&key) {
            self.remove_object(&key);
        }
        *self.counts.entry((o.tenant.clone(), o.kind)).or_default() += 1;
        for (k, id) in &o.refs {
            let target = (o.tenant.clone(), *k, id.clone());
            self.referrers
                .entry(target)
                .or_default()
                .insert((o.kind, o.id.clone()));
        }
        self.objects.insert(key, o);
    }

    /// Removes an object, keeping the derived counts and referrers in step.
    pub(crate) fn remove_object(&mut self, key: &ObjKey) -> Option<ObjectRecord> {
        let o = self.objects.remove(key)?;
        if let Some(n) = self.counts.get_mut(&(o.tenant.clone(), o.kind)) {
            *n -= 1;
            if *n == 0 {
                self.counts.remove(&(o.tenant.clone(), o.kind));
            }
        }
        for (k, id) in &o.refs {
            let target = (o.tenant.clone(), *k, id.clone());
            if let Some(set) = self.referrers.get_mut(&target) {
                set.remove(&(o.kind, o.id.clone()));
                if set.is_empty() {
                    self.referrers.remove(&target);
                }
            }
        }
        Some(o)
    }

    /// Keeps `d` and drops the oldest records past `DELIVERIES_MAX` or older than
    /// `DELIVERY_TTL_MS` before `now_ms` (proposer time), marking what changed.
    pub(crate) fn record_delivery(&mut self, d: DeliveryRecord, now_ms: i64) {
        let key = d.key();
        self.insert_delivery(d);
        self.touch(StateKey::Delivery(key));
        while let Some((at, oldest)) = self.delivery_age.first().cloned() {
            let expired = at < now_ms - super::DELIVERY_TTL_MS;
            if !expired && self.deliveries.len() <= super::DELIVERIES_MAX {
                break;
            }
            self.delivery_age.remove(&(at, oldest.clone()));
            self.deliveries.remove(&oldest);
            self.touch(StateKey::Delivery(oldest));
        }
    }

    fn insert_delivery(&mut self, d: DeliveryRecord) {
        let key = d.key();
        if let Some(old) = self.deliveries.insert(key.clone(), d.clone()) {
            self.delivery_age.remove(&(old.at_ms, key.clone()));
        }
        self.delivery_age.insert((d.at_ms, key));
    }

    /// Inserts or replaces a tenant, keeping the token index in step.
    pub(crate) fn insert_tenant(&mut self, t: TenantRecord) {
        if let Some(old) = self.tenants.get(&t.id) {
            for k in old.token_list() {
                self.tokens.remove(&k.token_hash);
            }
        }
        for k in t.token_list() {
            self.tokens.insert(k.token_hash, t.id.clone());
        }
        self.tenants.insert(t.id.clone(), t);
    }

    /// Every key that `take_changes` could produce for the current contents (used to persist a
    /// whole state, e.g. after installing a snapshot).
    pub fn mark_all_dirty(&mut self) {
        let mut keys = vec![StateKey::Info, StateKey::NextNodeId, StateKey::MembersEpoch];
        keys.extend(
            self.alarm_changes
                .iter()
                .map(|c| StateKey::AlarmChange(c.index)),
        );
        keys.extend(self.members.keys().map(|id| StateKey::Member(*id)));
        keys.extend(self.removed.iter().map(|id| StateKey::Removed(*id)));
        keys.extend(self.tenants.keys().map(|t| StateKey::Tenant(t.clone())));
        keys.extend(
            self.objects
                .keys()
                .map(|(t, k, i)| StateKey::Object(t.clone(), *k, i.clone())),
        );
        keys.extend(
            self.alarms
                .keys()
                .map(|(t, a)| StateKey::Alarm(t.clone(), a.clone())),
        );
        keys.extend(
            self.deliveries
                .keys()
                .map(|e| StateKey::Delivery(e.clone())),
        );
        self.dirty.extend(keys);
        self.fresh_requests = self.request_order.keys().copied().collect();
        self.request_groups.clear();
        self.persisted_floor = None;
    }

    /// A copy holding what `to_image` needs, cheap to take (the large maps are persistent), so
    /// a snapshot holds the state lock only for this and encodes the copy after.
    pub fn image_source(&self) -> ConfigState {
        ConfigState {
            info: self.info.clone(),
            next_node_id: self.next_node_id,
            members_epoch: self.members_epoch,
            members: self.members.clone(),
            removed: self.removed.clone(),
            tenants: self.tenants.clone(),
            objects: self.objects.clone(),
            alarms: self.alarms.clone(),
            alarm_changes: self.alarm_changes.clone(),
            deliveries: self.deliveries.clone(),
            requests: self.requests.clone(),
            ..Default::default()
        }
    }

    /// Encodes the state as the JSON of its `Image`, straight from the maps (no copy of the
    /// records): what a snapshot stores.
    pub fn image_json(&self) -> serde_json::Result<Vec<u8>> {
        serde_json::to_vec(&ImageRef(self))
    }

    pub fn to_image(&self) -> Image {
        Image {
            info: self.info.clone(),
            next_node_id: self.next_node_id,
            members_epoch: self.members_epoch,
            members: self.members.values().cloned().collect(),
            removed: self.removed.iter().copied().collect(),
            tenants: self.tenants.values().cloned().collect(),
            objects: self.objects.values().cloned().collect(),
            alarms: self.alarms.values().cloned().collect(),
            alarm_changes: self.alarm_changes.iter().cloned().collect(),
            deliveries: self.deliveries.values().cloned().collect(),
            requests: self
                .requests
                .iter()
                .map(|(k, r)| (k.clone(), r.index, r.at_ms, r.result.clone()))
                .collect(),
            request_fingerprints: self
                .requests
                .iter()
                .filter_map(|(k, r)| Some((k.clone(), r.fingerprint.clone()?)))
                .collect(),
        }
    }

    pub fn from_image(image: Image) -> Self {
        let mut s = ConfigState {
            info: image.info,
            next_node_id: image.next_node_id,
            members_epoch: image.members_epoch,
            members: image.members.into_iter().map(|m| (m.id, m)).collect(),
            removed: image.removed.into_iter().collect(),
            alarm_changes: image.alarm_changes.into_iter().collect(),
            ..Default::default()
        };
        for t in image.tenants {
            s.insert_tenant(t);
        }
        for o in image.objects {
            s.insert_object(o);
        }
        for a in image.alarms {
            s.alarms.insert((a.tenant.clone(), a.alarm_id.clone()), a);
        }
        for d in image.deliveries {
            s.insert_delivery(d);
        }
        let mut fingerprints: BTreeMap<String, String> =
            image.request_fingerprints.into_iter().collect();
        for (k, index, at_ms, result) in image.requests {
            s.request_order.insert(index, k.clone());
            let fingerprint = fingerprints.remove(&k);
            let r = RequestRecord {
                index,
                at_ms,
                result,
                fingerprint,
            };
            s.requests.insert(k, r);
        }
        s
    }

    /// Hex SHA-256 of the whole state: equal on two nodes iff their states are equal.
    pub fn digest(&self) -> String {
        let bytes = serde_json::to_vec(&self.to_image()).unwrap_or_default();
        hex::encode(Sha256::digest(bytes))
    }

    // ---- read side, used by the node ----

    pub fn cluster_info(&self) -> Option<&ClusterInfo> {
        self.info.as_ref()
    }
    /// Log index of the last change to the members or their liveness: the placement epoch.
    pub fn members_epoch(&self) -> u64 {
        self.members_epoch
    }
    pub fn members(&self) -> impl Iterator<Item = &MemberRecord> {
        self.members.values()
    }
    pub fn member(&self, id: u64) -> Option<&MemberRecord> {
        self.members.get(&id)
    }
    pub fn is_removed(&self, id: u64) -> bool {
        self.removed.contains(&id)
    }
    /// The tenants that exist (not deleted).
    pub fn tenants(&self) -> impl Iterator<Item = &TenantRecord> {
        self.tenants.values().filter(|t| t.deleted_at_ms.is_none())
    }
    /// Deleted tenants whose series the series store has yet to drop (it reports each with
    /// `Op::ForgetDroppedTenant`).
    pub fn tenants_dropped(&self) -> impl Iterator<Item = &TenantRecord> {
        self.tenants.values().filter(|t| t.deleted_at_ms.is_some())
    }
    /// A tenant that exists (not deleted).
    pub fn tenant(&self, id: &str) -> Option<&TenantRecord> {
        self.tenants.get(id).filter(|t| t.deleted_at_ms.is_none())
    }
    /// The tenant whose token hashes to `token_hash`.
    pub fn tenant_by_token_hash(&self, token_hash: &str) -> Option<&TenantRecord> {
        self.tokens
            .get(token_hash)
            .and_then(|id| self.tenants.get(id))
    }
    pub fn object(&self, tenant: &str, kind: ObjectKind, id: &str) -> Option<&ObjectRecord> {
        self.objects
            .get(&(tenant.to_string(), kind, id.to_string()))
    }
    /// Objects of one kind for a tenant, in id order, starting after `after` (exclusive).
    pub fn objects_after<'a>(
        &'a self,
        tenant: &'a str,
        kind: ObjectKind,
        after: Option<&'a str>,
    ) -> impl Iterator<Item = &'a ObjectRecord> + 'a {
        let start = (tenant.to_string(), kind, after.unwrap_or("").to_string());
        self.objects
            .range(start..)
            .take_while(move |((t, k, _), _)| t == tenant && *k == kind)
            .filter(move |((_, _, id), _)| after.is_none_or(|a| id.as_str() > a))
            .map(|(_, o)| o)
    }
    /// How many objects of `kind` the tenant has.
    pub fn object_count(&self, tenant: &str, kind: ObjectKind) -> usize {
        self.counts
            .get(&(tenant.to_string(), kind))
            .copied()
            .unwrap_or(0)
    }
    /// The objects that refer to (tenant, kind, id), as (kind, id) in order.
    pub fn referrers(&self, tenant: &str, kind: ObjectKind, id: &str) -> Vec<(ObjectKind, String)> {
        let key = (tenant.to_string(), kind, id.to_string());
        self.referrers
            .get(&key)
            .map(|s| s.iter().cloned().collect())
            .unwrap_or_default()
    }
    pub fn alarm_state(&self, tenant: &str, alarm_id: &str) -> Option<&AlarmStateRecord> {
        self.alarms.get(&(tenant.to_string(), alarm_id.to_string()))
    }
    pub fn alarm_changes(&self) -> impl DoubleEndedIterator<Item = &AlarmStateRecord> {
        self.alarm_changes.iter()
    }
    /// Delivery records whose event id starts with `prefix` (e.g. one alarm's), in key order.
    pub fn deliveries_with_prefix<'a>(
        &'a self,
        prefix: &'a str,
    ) -> impl Iterator<Item = &'a DeliveryRecord> + 'a {
        self.deliveries
            .range(prefix.to_string()..)
            .take_while(move |(k, _)| k.starts_with(prefix))
            .map(|(_, d)| d)
    }
    pub fn delivery(&self, event_id: &str, notification_id: &str) -> Option<&DeliveryRecord> {
        self.deliveries
            .get(&super::records::delivery_key(event_id, notification_id))
    }
    pub fn request_count(&self) -> usize {
        self.requests.len()
    }
    /// Whether the remembered request id `rid` was first applied with another fingerprint
    /// (false when unknown here, or when either fingerprint is missing). A hint for an early
    /// answer; `apply` decides.
    pub fn request_reused(&self, rid: &str, fingerprint: &str) -> bool {
        self.requests
            .get(rid)
            .and_then(|r| r.fingerprint.as_deref())
            .is_some_and(|first| first != fingerprint)
    }
    /// Records a snapshot holds: what writing one costs, roughly.
    pub fn record_count(&self) -> usize {
        self.members.len()
            + self.removed.len()
            + self.tenants.len()
            + self.objects.len()
            + self.alarms.len()
            + self.alarm_changes.len()
            + self.deliveries.len()
            + self.requests.len()
    }
}

/// Serialises a state exactly as its `Image` would be, borrowing the records.
struct ImageRef<'a>(&'a ConfigState);

/// A sequence serialised from the iterator its function makes.
struct Seq<F>(F);

impl<F, I> Serialize for Seq<F>
where
    F: Fn() -> I,
    I: Iterator,
    I::Item: Serialize,
{
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_seq((self.0)())
    }
}

impl Serialize for ImageRef<'_> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeStruct;
        let st = self.0;
        let requests = || {
            st.requests
                .iter()
                .map(|(k, r)| (k, r.index, r.at_ms, &r.result))
        };
        let fingerprints = || {
            st.requests
                .iter()
                .filter_map(|(k, r)| Some((k, r.fingerprint.as_ref()?)))
        };
        let mut out = s.serialize_struct("Image", 12)?;
        out.serialize_field("info", &st.info)?;
        out.serialize_field("next_node_id", &st.next_node_id)?;
        out.serialize_field("members_epoch", &st.members_epoch)?;
        out.serialize_field("members", &Seq(|| st.members.values()))?;
        out.serialize_field("removed", &Seq(|| st.removed.iter()))?;
        out.serialize_field("tenants", &Seq(|| st.tenants.values()))?;
        out.serialize_field("objects", &Seq(|| st.objects.values()))?;
        out.serialize_field("alarms", &Seq(|| st.alarms.values()))?;
        out.serialize_field("alarm_changes", &Seq(|| st.alarm_changes.iter()))?;
        out.serialize_field("deliveries", &Seq(|| st.deliveries.values()))?;
        out.serialize_field("requests", &Seq(requests))?;
        out.serialize_field("request_fingerprints", &Seq(fingerprints))?;
        out.end()
    }
}

/// Persisted key of the smallest log index whose request id is still remembered.
const REQUEST_FLOOR_KEY: &str = "qf";

fn request_group_key(first_index: u64) -> String {
    format!("q/{first_index:020}")
}

fn encode_key(k: &StateKey) -> String {
    match k {
        StateKey::Info => "i".into(),
        StateKey::NextNodeId => "n".into(),
        StateKey::MembersEpoch => "e".into(),
        StateKey::Member(id) => format!("m/{id:020}"),
        StateKey::Removed(id) => format!("x/{id}"),
        StateKey::Tenant(t) => format!("t/{t}"),
        StateKey::Object(t, k, id) => format!("o/{t}/{}/{id}", k.as_str()),
        StateKey::Alarm(t, a) => format!("a/{t}/{a}"),
        StateKey::Delivery(e) => format!("d/{e}"),
        StateKey::AlarmChange(index) => format!("c/{index:020}"),
    }
}

/// Object-safe JSON encoding, so `encode_value` can treat every record type alike.
mod erased {
    pub trait Ser {
        fn to_vec(&self) -> Vec<u8>;
    }
    impl<T: serde::Serialize> Ser for T {
        fn to_vec(&self) -> Vec<u8> {
            // Records are plain data; serialising them cannot fail.
            serde_json::to_vec(self).expect("records serialise")
        }
    }
}
