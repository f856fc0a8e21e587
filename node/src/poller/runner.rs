//! The poll loop of one node: keeps the set of (check, zone) pairs it owns in sync with the
//! applied configuration and placement, starts each poll when it is due, bounded by
//! `polls_in_flight_max`, and publishes what the probes found.

use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use meridian_raft::model::ObjectKind;
use tokio::sync::{Semaphore, watch};

use super::Pollers;
use super::metrics::Outcome;
use super::observation::{Observation, ProbeOutcome};
use super::schedule::{first_due, next_due, offset_ms, owns};
use crate::node::now_ms;
use crate::placement_view::PlacementView;
use crate::spec::CheckSpec;

/// How often the loop looks for applied configuration or placement changes, ms.
pub const SYNC_INTERVAL_MS: u64 = 200;
/// Grace past a check's timeout before a poll is cancelled from outside the probe, ms.
pub const TIMEOUT_GRACE_MS: u64 = 1000;

/// What the poll loop needs to know about its node.
#[derive(Debug, Clone)]
pub struct Config {
    pub node_id: u64,
    pub region: String,
    pub polls_in_flight_max: usize,
}

type Key = (String, String);

/// One owned (check, this zone) pair.
struct Pair {
    spec: Arc<CheckSpec>,
    entity_id: String,
    host: Option<String>,
    version: u64,
    offset_ms: i64,
    due_ms: i64,
    /// Bumped whenever the pair is rescheduled, so stale heap entries are skipped.
    generation: u64,
    running: Arc<AtomicBool>,
}

/// A check as read from the applied state: what a pair is built from.
struct Owned {
    key: Key,
    version: u64,
    entity_id: String,
    host: Option<String>,
    spec: Arc<CheckSpec>,
}

/// Runs until `stop` turns true.
pub async fn run(
    cfg: Config,
    view: PlacementView,
    pollers: Arc<Pollers>,
    mut stop: watch::Receiver<bool>,
) {
    let sem = Arc::new(Semaphore::new(cfg.polls_in_flight_max));
    let mut pairs: HashMap<Key, Pair> = HashMap::new();
    let mut specs: HashMap<Key, (u64, Arc<CheckSpec>)> = HashMap::new();
    let mut heap: BinaryHeap<Reverse<(i64, u64, Key)>> = BinaryHeap::new();
    let mut seen = (u64::MAX, u64::MAX);
    let mut generation = 0u64;
    let mut at_start = true;
    loop {
        let a = view.assignment();
        let index = view.state().applied_index();
        if (index, a.epoch) != seen {
            seen = (index, a.epoch);
            let owned = owned_checks(&cfg, &view, &mut specs);
            let initialised = view.state().read(|s| s.cluster_info().is_some());
            let now = now_ms();
            let start = at_start && initialised;
            for (key, due) in sync(&mut pairs, owned, &cfg.region, now, start) {
                generation += 1;
                if let Some(p) = pairs.get_mut(&key) {
                    p.generation = generation;
                }
                heap.push(Reverse((due, generation, key)));
            }
            at_start &= !initialised;
            pollers
                .metrics
                .owned
                .store(pairs.len() as i64, Ordering::Relaxed);
            pollers
                .latest
                .retain(|t, c| pairs.contains_key(&(t.into(), c.into())));
        }
        let now = now_ms();
        for key in pollers.take_rechecks() {
            if let Some(p) = pairs.get_mut(&key) {
                generation += 1;
                p.generation = generation;
                p.due_ms = now;
                heap.push(Reverse((now, generation, key)));
            }
        }
        while heap.peek().is_some_and(|Reverse((due, _, _))| *due <= now) {
            let Some(Reverse((due, g, key))) = heap.pop() else {
                break;
            };
            let Some(pair) = pairs.get_mut(&key).filter(|p| p.generation == g) else {
                continue;
            };
            start_poll(&cfg, &pollers, &sem, &key, pair, due, now);
            let period = i64::from(pair.spec.period_s) * 1000;
            let (next, missed) = next_due(due, period, pair.offset_ms, now);
            pollers.metrics.skipped.add(missed);
            pair.due_ms = next;
            heap.push(Reverse((next, g, key)));
        }
        let next = heap.peek().map_or(i64::MAX, |Reverse((d, _, _))| *d);
        let wait = (next - now_ms()).clamp(0, SYNC_INTERVAL_MS as i64) as u64;
        tokio::select! {
            _ = tokio::time::sleep(Duration::from_millis(wait)) => {}
            _ = pollers.recheck_ready.notified() => {}
            _ = stop.changed() => {}
        }
        if *stop.borrow() {
            return;
        }
    }
}

/// The enabled checks this node polls for its region, parsing only records that changed.
fn owned_checks(
    cfg: &Config,
    view: &PlacementView,
    specs: &mut HashMap<Key, (u64, Arc<CheckSpec>)>,
) -> Vec<Owned> {
    let a = view.assignment();
    let mut live = std::collections::HashSet::new();
    let owned = view.state().read(|s| {
        let mut out = Vec::new();
        for tenant in s.tenants() {
            for rec in s.objects_after(&tenant.id, ObjectKind::Check, None) {
                let key = (rec.tenant.clone(), rec.id.clone());
                live.insert(key.clone());
                let spec = match specs.get(&key) {
                    Some((v, spec)) if *v == rec.version => spec.clone(),
                    _ => match CheckSpec::from_record(rec) {
                        Ok(spec) => {
                            let spec = Arc::new(spec);
                            specs.insert(key.clone(), (rec.version, spec.clone()));
                            spec
                        }
                        Err(e) => {
                            tracing::warn!(check = %rec.id, error = %e, "stored check unreadable");
                            continue;
                        }
                    },
                };
                if spec.disabled
                    || !spec.zones.contains(&cfg.region)
                    || !owns(&a, cfg.node_id, &cfg.region, &rec.tenant, &rec.id)
                {
                    continue;
                }
                let entity_id = rec.parent.clone().unwrap_or_default();
                let entity = s.object(&rec.tenant, ObjectKind::Entity, &entity_id);
                out.push(Owned {
                    key,
                    version: rec.version,
                    entity_id,
                    host: spec.target_host(entity),
                    spec,
                });
            }
        }
        out
    });
    specs.retain(|k, _| live.contains(k));
    owned
}

/// Brings `pairs` to `owned`; answers the pairs to (re)schedule with their first due time.
fn sync(
    pairs: &mut HashMap<Key, Pair>,
    owned: Vec<Owned>,
    zone: &str,
    now: i64,
    at_start: bool,
) -> Vec<(Key, i64)> {
    let mut keep = std::collections::HashSet::new();
    let mut schedule = Vec::new();
    for o in owned {
        keep.insert(o.key.clone());
        let unchanged = pairs
            .get(&o.key)
            .is_some_and(|p| p.version == o.version && p.host == o.host);
        if unchanged {
            continue;
        }
        let period = i64::from(o.spec.period_s) * 1000;
        let zone_offset = offset_ms(&o.key.1, zone, period);
        let due = first_due(&o.key.1, zone, period, now, at_start);
        let running = pairs.get(&o.key).map(|p| p.running.clone());
        pairs.insert(
            o.key.clone(),
            Pair {
                spec: o.spec,
                entity_id: o.entity_id,
                host: o.host,
                version: o.version,
                offset_ms: zone_offset,
                due_ms: due,
                generation: 0,
                running: running.unwrap_or_default(),
            },
        );
        schedule.push((o.key, due));
    }
    pairs.retain(|k, _| keep.contains(k));
    schedule
}

/// Starts one poll unless the previous poll of the pair still runs (then it is skipped).
fn start_poll(
    cfg: &Config,
    pollers: &Arc<Pollers>,
    sem: &Arc<Semaphore>,
    key: &Key,
    pair: &Pair,
    due: i64,
    now: i64,
) {
    if pair.running.swap(true, Ordering::AcqRel) {
        pollers.metrics.skipped.inc();
        return;
    }
    let period = Duration::from_secs(u64::from(pair.spec.period_s));
    let started = Instant::now();
    let (sem, pollers, spec) = (sem.clone(), pollers.clone(), pair.spec.clone());
    let running = pair.running.clone();
    let host = pair.host.clone();
    let mut obs = Observation {
        check_id: key.1.clone(),
        entity_id: pair.entity_id.clone(),
        tenant_id: key.0.clone(),
        monitoring_zone_id: cfg.region.clone(),
        node_id: cfg.node_id,
        timestamp: due,
        available: false,
        status: String::new(),
        metrics: Default::default(),
    };
    tokio::spawn(async move {
        let permit = match tokio::time::timeout(period, sem.acquire_owned()).await {
            Ok(Ok(p)) => p,
            _ => {
                pollers.metrics.skipped.inc();
                running.store(false, Ordering::Release);
                return;
            }
        };
        let lag_ms = (now_ms() - due).max(now - due).max(0) as u64;
        pollers
            .metrics
            .schedule_lag
            .observe(Duration::from_millis(lag_ms));
        obs.timestamp = now_ms();
        let outcome = pollers.poll(&spec, host.as_deref()).await;
        drop(permit);
        running.store(false, Ordering::Release);
        pollers.metrics.duration.observe(started.elapsed());
        pollers.record(spec.details.check_type(), &outcome);
        obs.available = outcome.available;
        obs.status = outcome.status;
        obs.metrics = outcome.metrics;
        pollers.publish(obs);
    });
}

/// A poll that ran past its timeout (plus grace) is cancelled and reported as a timeout.
pub async fn with_timeout(
    timeout_s: u32,
    poll: impl std::future::Future<Output = ProbeOutcome>,
) -> ProbeOutcome {
    let limit = Duration::from_millis(u64::from(timeout_s) * 1000 + TIMEOUT_GRACE_MS);
    match tokio::time::timeout(limit, poll).await {
        Ok(o) => o,
        Err(_) => ProbeOutcome::unavailable(format!("timeout after {} ms", timeout_s * 1000)),
    }
}

/// How a finished poll is counted.
pub fn outcome_of(o: &ProbeOutcome) -> Outcome {
    if o.available {
        Outcome::Available
    } else if o.status.starts_with("target refused by policy") {
        Outcome::Refused
    } else if o.status.starts_with("timeout") {
        Outcome::Timeout
    } else {
        Outcome::Unavailable
    }
}
