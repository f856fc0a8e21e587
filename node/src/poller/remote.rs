//! Observations across nodes: a node answers for the checks it polls (newest observation, a
//! test poll), and any node gathers a check's observations from the owners of its zones.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use meridian_proto::{ObservationQuery, Observations, TestCheckRequest};
use meridian_raft::network::Peers;
use tonic::Status;

use super::Pollers;
use super::observation::Observation;
use super::schedule::check_shard;
use crate::placement_view::PlacementView;
use crate::spec::CheckSpec;

/// Most checks asked for in one query to one node.
pub const QUERY_CHECKS_MAX: usize = 10_000;
/// How long a node waits for another node's newest observations.
pub const FETCH_TIMEOUT: Duration = Duration::from_secs(2);
/// Most owner nodes asked at once while gathering observations.
pub const FETCH_FANOUT_MAX: usize = 32;

/// This node, as the other nodes' observation calls see it.
#[derive(Clone)]
pub struct Local {
    pub node_id: u64,
    pub region: String,
    pub pollers: Arc<Pollers>,
}

impl Local {
    /// The newest observations of the asked checks that this node holds.
    pub fn latest(&self, q: ObservationQuery) -> Result<Observations, Status> {
        if q.check_ids.len() > QUERY_CHECKS_MAX {
            return Err(Status::invalid_argument(format!(
                "check_ids: at most {QUERY_CHECKS_MAX}"
            )));
        }
        let values = self.pollers.latest.get(&q.tenant_id, &q.check_ids);
        Ok(Observations {
            node_id: self.node_id,
            values: values.iter().map(Into::into).collect(),
        })
    }

    /// Runs a check once from this node's zone; nothing is stored.
    pub async fn test_check(&self, r: TestCheckRequest) -> Result<Observations, Status> {
        let body: serde_json::Value = serde_json::from_str(&r.check_json)
            .map_err(|e| Status::invalid_argument(format!("check_json: {e}")))?;
        let spec =
            CheckSpec::from_stored(body).map_err(|e| Status::invalid_argument(e.to_string()))?;
        let host = (!r.target_host.is_empty()).then_some(r.target_host.as_str());
        let o = self.run_once(&spec, &r.tenant_id, &r.entity_id, host).await;
        Ok(Observations {
            node_id: self.node_id,
            values: vec![(&o).into()],
        })
    }

    /// One poll of `spec` from this node, stamped as an observation of this zone.
    pub async fn run_once(
        &self,
        spec: &CheckSpec,
        tenant: &str,
        entity: &str,
        host: Option<&str>,
    ) -> Observation {
        let timestamp = crate::node::now_ms();
        let outcome = self.pollers.poll(spec, host).await;
        Observation {
            check_id: String::new(),
            entity_id: entity.to_string(),
            tenant_id: tenant.to_string(),
            monitoring_zone_id: self.region.clone(),
            node_id: self.node_id,
            timestamp,
            available: outcome.available,
            status: outcome.status,
            metrics: outcome.metrics,
        }
    }
}

/// What one zone says about one check.
#[derive(Debug, Clone)]
pub enum ZoneResult {
    Observed(Observation),
    /// Nobody polls the check in this zone now, or its owner could not be asked.
    Missing(String),
}

/// Gathers observations from the owners of checks' zones, for the results API and overview.
pub struct Gather<'a> {
    pub local: &'a Local,
    pub peers: &'a Peers,
    pub placement: &'a PlacementView,
}

impl Gather<'_> {
    /// For each (check id, its zones) of `tenant`: what each zone's owner holds now.
    pub async fn latest(
        &self,
        tenant: &str,
        checks: &[(String, Vec<String>)],
    ) -> BTreeMap<(String, String), ZoneResult> {
        let a = self.placement.assignment();
        let addrs: BTreeMap<u64, String> = self
            .placement
            .state()
            .read(|s| s.members().map(|m| (m.id, m.addr.clone())).collect());
        let mut out = BTreeMap::new();
        let mut per_owner: BTreeMap<u64, Vec<(String, String)>> = BTreeMap::new();
        for (check, zones) in checks {
            let shard = check_shard(tenant, check, a.n_shards);
            for zone in zones {
                match a.poller_owner(shard, zone) {
                    Some(owner) => per_owner
                        .entry(owner)
                        .or_default()
                        .push((check.clone(), zone.clone())),
                    None => {
                        let why = "not polled: no live node in zone".to_string();
                        out.insert((check.clone(), zone.clone()), ZoneResult::Missing(why));
                    }
                }
            }
        }
        let asks = per_owner.into_iter().map(|(owner, pairs)| {
            let addr = addrs.get(&owner).cloned().unwrap_or_default();
            async move {
                let got = self.ask(owner, &addr, tenant, &pairs).await;
                (pairs, got)
            }
        });
        let mut answers = futures::stream::iter(asks).buffer_unordered(FETCH_FANOUT_MAX);
        use futures::StreamExt;
        while let Some((pairs, got)) = answers.next().await {
            for (check, zone) in pairs {
                let r = match &got {
                    Ok(obs) => match obs.iter().find(|o| o.check_id == check) {
                        Some(o) => ZoneResult::Observed(o.clone()),
                        None => ZoneResult::Missing("not polled yet".into()),
                    },
                    Err(e) => ZoneResult::Missing(format!("owner unreachable: {e}")),
                };
                out.insert((check, zone), r);
            }
        }
        out
    }

    async fn ask(
        &self,
        owner: u64,
        addr: &str,
        tenant: &str,
        pairs: &[(String, String)],
    ) -> Result<Vec<Observation>, String> {
        let mut check_ids: Vec<String> = pairs.iter().map(|(c, _)| c.clone()).collect();
        check_ids.dedup();
        if owner == self.local.node_id {
            return Ok(self.local.pollers.latest.get(tenant, &check_ids));
        }
        let mut values = Vec::new();
        for part in check_ids.chunks(QUERY_CHECKS_MAX) {
            let q = ObservationQuery {
                target_node_id: owner,
                tenant_id: tenant.to_string(),
                check_ids: part.to_vec(),
            };
            let mut client = self.peers.client(addr).map_err(|e| e.to_string())?;
            let reply = client
                .latest_observations(self.peers.request(q, FETCH_TIMEOUT))
                .await
                .map_err(|s| s.message().to_string())?
                .into_inner();
            if reply.node_id != owner {
                return Err(format!("node {} answered for node {owner}", reply.node_id));
            }
            values.extend(reply.values.into_iter().map(Observation::from));
        }
        Ok(values)
    }

    /// Runs `spec` once from a live node of `zone`; an error when the zone has none.
    pub async fn test_check(
        &self,
        tenant: &str,
        entity: &str,
        spec: &CheckSpec,
        host: Option<&str>,
        zone: &str,
    ) -> Result<Observation, String> {
        let a = self.placement.assignment();
        // A test check has no id yet: any live node of the zone may run it; the owner of the
        // entity's shard is a stable choice.
        let shard = check_shard(tenant, entity, a.n_shards);
        let Some(owner) = a.poller_owner(shard, zone) else {
            return Err("no live node in zone".into());
        };
        if owner == self.local.node_id {
            return Ok(self.local.run_once(spec, tenant, entity, host).await);
        }
        let addr = self
            .placement
            .state()
            .read(|s| s.member(owner).map(|m| m.addr.clone()))
            .unwrap_or_default();
        let req = TestCheckRequest {
            target_node_id: owner,
            tenant_id: tenant.to_string(),
            entity_id: entity.to_string(),
            check_json: spec.to_body().to_string(),
            target_host: host.unwrap_or_default().to_string(),
        };
        let deadline = Duration::from_secs(u64::from(spec.timeout_s) + 2);
        let mut client = self.peers.client(&addr).map_err(|e| e.to_string())?;
        let reply = client
            .test_check(self.peers.request(req, deadline))
            .await
            .map_err(|s| format!("owner unreachable: {}", s.message()))?
            .into_inner();
        reply
            .values
            .into_iter()
            .next()
            .map(Observation::from)
            .ok_or_else(|| "owner answered nothing".to_string())
    }
}
