//! Routing: any node splits a write or a query by the owner of each series' shard and carries
//! it out locally or over the peer protocol; listings ask every owner and merge.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt;
use meridian_proto::{SeriesBatch, SeriesListQuery, SeriesQuery};
use meridian_raft::network::Peers;
use meridian_tsdb::{SeriesFilter, SeriesKey, SeriesPoints, Statistic};
use tonic::{Code, Status};

use super::plan::shard;
use super::{Series, StatRows, local, wire};
use crate::error::{Error, Result};
use crate::placement_view::PlacementView;

/// Most owners one call talks to at once.
pub const ROUTE_FANOUT_MAX: usize = 32;
/// Most points in one write sent to one owner (a larger share is sent in several calls).
pub const ROUTE_CHUNK_POINTS_MAX: usize = 50_000;
/// How long an owner may take to make a write durable or answer a read.
pub const ROUTE_TIMEOUT: Duration = Duration::from_secs(10);

/// Shards whose owner did not answer a read; empty when the answer is complete.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct Partial {
    pub shards: BTreeSet<u32>,
}

/// The narrow handle the HTTP handlers and the check-metrics writer route through.
pub struct SeriesRoute<'a> {
    pub node_id: u64,
    pub series: &'a Arc<Series>,
    pub peers: &'a Peers,
    pub placement: &'a PlacementView,
}

fn status_error(owner: u64, s: &Status) -> Error {
    match s.code() {
        Code::InvalidArgument => Error::BadRequest(s.message().to_string()),
        _ => Error::Unavailable(format!("series owner node {owner}: {}", s.message())),
    }
}

/// Splits `items` into chunks of at most `ROUTE_CHUNK_POINTS_MAX` points, filling each before
/// starting the next (a large series is split across chunks).
fn chunks(items: Vec<SeriesPoints>) -> Vec<Vec<SeriesPoints>> {
    let mut out = vec![Vec::new()];
    let mut n = 0;
    for s in items {
        let mut rest = &s.points[..];
        while !rest.is_empty() {
            if n == ROUTE_CHUNK_POINTS_MAX {
                out.push(Vec::new());
                n = 0;
            }
            let take = rest.len().min(ROUTE_CHUNK_POINTS_MAX - n);
            out.last_mut().expect("one chunk").push(SeriesPoints {
                key: s.key.clone(),
                points: rest[..take].to_vec(),
            });
            n += take;
            rest = &rest[take..];
        }
    }
    out
}

impl SeriesRoute<'_> {
    fn owner_of(&self, key: &SeriesKey) -> Result<(u32, u64)> {
        let a = self.series.owners.assignment(self.placement);
        let s = shard(key, a.n_shards);
        match a.series_replicas(s).first() {
            Some(owner) => Ok((s, *owner)),
            None => Err(Error::Unavailable(format!("no live node holds shard {s}"))),
        }
    }

    fn addr(&self, node: u64) -> String {
        self.placement
            .state()
            .read(|s| s.member(node).map(|m| m.addr.clone()))
            .unwrap_or_default()
    }

    /// Stores the points of `tenant`, each series on its owner; returns the points stored once
    /// every owner made its share durable. A retry after an error is harmless (same points).
    pub async fn write(&self, tenant: &str, batch: Vec<SeriesPoints>) -> Result<usize> {
        let mut per_owner: BTreeMap<u64, Vec<SeriesPoints>> = BTreeMap::new();
        for s in batch.into_iter().filter(|s| !s.points.is_empty()) {
            let (_, owner) = self.owner_of(&s.key)?;
            per_owner.entry(owner).or_default().push(s);
        }
        let calls = per_owner
            .into_iter()
            .flat_map(|(owner, items)| chunks(items).into_iter().map(move |c| (owner, c)))
            .map(|(owner, c)| self.write_to(tenant, owner, c))
            .collect::<Vec<_>>();
        let mut done = futures::stream::iter(calls).buffer_unordered(ROUTE_FANOUT_MAX);
        let mut stored = 0;
        let mut first_error = None;
        while let Some(r) = done.next().await {
            match r {
                Ok(n) => stored += n,
                Err(e) => first_error = first_error.or(Some(e)),
            }
        }
        match first_error {
            Some(e) => Err(e),
            None => Ok(stored),
        }
    }

    async fn write_to(&self, tenant: &str, owner: u64, items: Vec<SeriesPoints>) -> Result<usize> {
        let points: usize = items.iter().map(|s| s.points.len()).sum();
        if owner == self.node_id {
            let out = self.series.blocking(move |e| e.write(&items)).await?;
            self.series.metrics.points_local.add(out.points as u64);
            return Ok(out.points);
        }
        let req = SeriesBatch {
            target_node_id: owner,
            tenant_id: tenant.to_string(),
            series: items.iter().map(wire::points_to_wire).collect(),
        };
        let mut client = self
            .peers
            .client(&self.addr(owner))
            .map_err(|e| Error::Unavailable(format!("series owner node {owner}: {e}")))?;
        let ack = client
            .write_series(self.peers.request(req, ROUTE_TIMEOUT))
            .await
            .map_err(|s| status_error(owner, &s))?
            .into_inner();
        self.series.metrics.points_forwarded.add(points as u64);
        Ok(ack.points as usize)
    }

    /// Statistics of each of `keys` (or raw points when `period_ms == 0`); `None` for a series
    /// whose owner did not answer, and those shards in `Partial`.
    pub async fn query(
        &self,
        keys: &[SeriesKey],
        range: (i64, i64),
        period_ms: i64,
        stats: &[String],
        raw_limit: usize,
    ) -> Result<(Vec<Option<StatRows>>, Partial)> {
        let mut per_owner: BTreeMap<u64, Vec<usize>> = BTreeMap::new();
        let mut partial = Partial::default();
        let mut shards = Vec::with_capacity(keys.len());
        for (i, k) in keys.iter().enumerate() {
            match self.owner_of(k) {
                Ok((s, owner)) => {
                    shards.push(s);
                    per_owner.entry(owner).or_default().push(i);
                }
                Err(_) => {
                    let n = self.series.owners.assignment(self.placement).n_shards;
                    shards.push(shard(k, n));
                    partial.shards.insert(shard(k, n));
                }
            }
        }
        let asks = per_owner.into_iter().map(|(owner, idx)| async move {
            let ks: Vec<SeriesKey> = idx.iter().map(|i| keys[*i].clone()).collect();
            let got = self
                .query_owner(owner, ks, range, period_ms, stats, raw_limit)
                .await;
            (idx, got)
        });
        let asks: Vec<_> = asks.collect();
        let mut answers = futures::stream::iter(asks).buffer_unordered(ROUTE_FANOUT_MAX);
        let mut out = vec![None; keys.len()];
        while let Some((idx, got)) = answers.next().await {
            match got {
                Ok(rows) => {
                    for (i, r) in idx.into_iter().zip(rows) {
                        out[i] = Some(r);
                    }
                }
                Err(Error::BadRequest(m)) => return Err(Error::BadRequest(m)),
                Err(e) => {
                    tracing::warn!(error = %e, "series owner did not answer a query");
                    partial.shards.extend(idx.iter().map(|i| shards[*i]));
                }
            }
        }
        Ok((out, partial))
    }

    async fn query_owner(
        &self,
        owner: u64,
        keys: Vec<SeriesKey>,
        (from_ms, to_ms): (i64, i64),
        period_ms: i64,
        stats: &[String],
        raw_limit: usize,
    ) -> Result<Vec<StatRows>> {
        if owner == self.node_id {
            let parsed = parse_statistics(stats)?;
            return self
                .series
                .blocking(move |e| {
                    keys.iter()
                        .map(|k| local::stats(e, k, from_ms, to_ms, period_ms, &parsed, raw_limit))
                        .collect()
                })
                .await;
        }
        let tenant = keys.first().map(|k| k.tenant.clone()).unwrap_or_default();
        let req = SeriesQuery {
            target_node_id: owner,
            tenant_id: tenant,
            series: keys.iter().map(wire::key_to_wire).collect(),
            from_ms,
            to_ms,
            period_ms,
            statistics: stats.to_vec(),
            raw_limit: raw_limit as u32,
        };
        let mut client = self
            .peers
            .client(&self.addr(owner))
            .map_err(|e| Error::Unavailable(e.to_string()))?;
        let reply = client
            .query_series(self.peers.request(req, ROUTE_TIMEOUT))
            .await
            .map_err(|s| status_error(owner, &s))?
            .into_inner();
        if reply.series.len() != keys.len() {
            return Err(Error::Unavailable(format!(
                "node {owner} answered {} series for {}",
                reply.series.len(),
                keys.len()
            )));
        }
        reply
            .series
            .into_iter()
            .map(|s| wire::stats_from_wire(s).map_err(Error::Unavailable))
            .collect()
    }
}

/// Parses statistic names; the error names the field.
pub fn parse_statistics(stats: &[String]) -> Result<Vec<Statistic>> {
    stats
        .iter()
        .map(|s| s.parse::<Statistic>().map_err(super::engine_error))
        .collect()
}

impl SeriesRoute<'_> {
    /// Series of `tenant` matching `filter`, after `after`, at most `limit`, asked of every
    /// node that owns a shard; the shards of nodes that did not answer are in `Partial`.
    pub async fn list(
        &self,
        tenant: &str,
        filter: &SeriesFilter,
        limit: usize,
        after: Option<&SeriesKey>,
    ) -> Result<(Vec<SeriesKey>, Partial)> {
        let a = self.series.owners.assignment(self.placement);
        let mut owned: BTreeMap<u64, Vec<u32>> = BTreeMap::new();
        for s in 0..a.n_shards {
            if let Some(o) = a.series_replicas(s).first() {
                owned.entry(*o).or_default().push(s);
            }
        }
        let asks = owned.into_iter().map(|(node, shards)| async move {
            (
                shards,
                self.list_at(node, tenant, filter, limit, after).await,
            )
        });
        let asks: Vec<_> = asks.collect();
        let mut answers = futures::stream::iter(asks).buffer_unordered(ROUTE_FANOUT_MAX);
        let mut keys = BTreeSet::new();
        let mut partial = Partial::default();
        while let Some((shards, got)) = answers.next().await {
            match got {
                Ok(ks) => keys.extend(ks),
                Err(Error::BadRequest(m)) => return Err(Error::BadRequest(m)),
                Err(e) => {
                    tracing::warn!(error = %e, "series owner did not answer a listing");
                    partial.shards.extend(shards);
                }
            }
        }
        Ok((keys.into_iter().take(limit).collect(), partial))
    }

    async fn list_at(
        &self,
        node: u64,
        tenant: &str,
        filter: &SeriesFilter,
        limit: usize,
        after: Option<&SeriesKey>,
    ) -> Result<Vec<SeriesKey>> {
        if node == self.node_id {
            let (t, f, a) = (tenant.to_string(), filter.clone(), after.cloned());
            return self
                .series
                .blocking(move |e| e.series(&t, &f, limit, a.as_ref()))
                .await;
        }
        let req = SeriesListQuery {
            target_node_id: node,
            tenant_id: tenant.to_string(),
            namespace: filter.namespace.clone().unwrap_or_default(),
            name: filter.name.clone().unwrap_or_default(),
            dimensions: filter.dimensions.clone().into_iter().collect(),
            active_since_ms: filter.active_since_ms.unwrap_or(i64::MIN),
            limit: limit as u32,
            after: after.map(wire::key_to_wire),
        };
        let mut client = self
            .peers
            .client(&self.addr(node))
            .map_err(|e| Error::Unavailable(e.to_string()))?;
        let reply = client
            .list_series(self.peers.request(req, ROUTE_TIMEOUT))
            .await
            .map_err(|s| status_error(node, &s))?
            .into_inner();
        Ok(reply
            .series
            .iter()
            .map(|d| wire::key_from_wire(tenant, d))
            .collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chunks_hold_at_most_the_bound_and_keep_every_point() {
        let big = SeriesPoints {
            key: SeriesKey::new("t", "n", "a"),
            points: (0..(2 * ROUTE_CHUNK_POINTS_MAX as i64 + 7))
                .map(|i| (i, 0.0))
                .collect(),
        };
        let small = SeriesPoints {
            key: SeriesKey::new("t", "n", "b"),
            points: vec![(1, 1.0); 10],
        };
        let out = chunks(vec![small, big]);
        assert_eq!(out.len(), 3);
        for c in &out {
            let n: usize = c.iter().map(|s| s.points.len()).sum();
            assert!(n <= ROUTE_CHUNK_POINTS_MAX);
        }
        let total: usize = out.iter().flatten().map(|s| s.points.len()).sum();
        assert_eq!(total, 2 * ROUTE_CHUNK_POINTS_MAX + 17);
    }
}
