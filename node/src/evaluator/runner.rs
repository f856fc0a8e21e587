//! The evaluation loop: keeps one `AlarmEvaluator` per alarm whose check's shard this node
//! evaluates (built from the committed state, so taking a shard never resets an alarm), feeds
//! it observations, evaluates every `EVAL_INTERVAL_MS`, commits proposed transitions by
//! compare-and-set on `seq`, asks pollers for re-checks, and queues the deliveries of what it
//! committed. Without quorum contact it evaluates nothing.

use std::collections::{BTreeSet, HashMap};
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use meridian_alarm::{AlarmEvaluator, AlarmRef, Committed, Plan, State, Transition};
use meridian_raft::model::{
    AlarmStateRecord, ApplyErrorKind, CommandResult, ConfigState, ObjectKind, Op, TransitionFacts,
};
use tokio::sync::watch;

use super::convert::zone_observation;
use super::{Cluster, DeliveryJob, Evaluators};
use crate::node::now_ms;
use crate::placement_view::PlacementView;
use crate::poller::schedule::check_shard;
use crate::poller::sink::Subscription;
use crate::spec::{AlarmConfig, CheckSpec, PlanSpec};

/// How often every alarm is evaluated, ms (freshness and threshold buckets move with time).
pub const EVAL_INTERVAL_MS: u64 = 250;
/// Most observations taken from the intake per round.
pub const INTAKE_BATCH_MAX: usize = 4096;
/// Most transitions proposed per round; the rest wait for the next.
pub const PROPOSALS_PER_ROUND_MAX: usize = 256;

/// What the loop needs to know about its node.
#[derive(Debug, Clone)]
pub struct Config {
    pub node_id: u64,
    pub region: String,
}

/// Asks the pollers of a zone to poll checks now.
pub trait Rechecks: Send + Sync + 'static {
    fn recheck(&self, tenant: &str, check_id: &str, zone: &str);
}

type AlarmKey = (String, String);

struct Entry {
    alarm_version: u64,
    check_version: u64,
    entity_id: String,
    check_id: String,
    plan_id: String,
    evaluator: AlarmEvaluator,
}

/// Runs until `stop` turns true.
pub async fn run(
    cfg: Config,
    view: PlacementView,
    cluster: Arc<dyn Cluster>,
    rechecks: Arc<dyn Rechecks>,
    evaluators: Arc<Evaluators>,
    intake: Subscription,
    mut stop: watch::Receiver<bool>,
) {
    let mut alarms: HashMap<AlarmKey, Entry> = HashMap::new();
    let mut seen = (u64::MAX, u64::MAX);
    loop {
        let batch = tokio::select! {
            b = intake.next_batch(INTAKE_BATCH_MAX) => b,
            _ = tokio::time::sleep(Duration::from_millis(EVAL_INTERVAL_MS)) => Vec::new(),
            _ = stop.changed() => return,
        };
        let a = view.assignment();
        let index = view.state().applied_index();
        if (index, a.epoch) != seen {
            seen = (index, a.epoch);
            view.state()
                .read(|s| sync(&cfg, s, &a, &mut alarms, &evaluators));
            evaluators
                .metrics
                .alarms
                .store(alarms.len() as i64, Ordering::Relaxed);
        }
        feed(&mut alarms, &batch, &evaluators);
        if !cluster.has_quorum_contact() {
            evaluators.metrics.lease_paused.inc();
            continue;
        }
        let zones_up: BTreeSet<String> = view.state().read(|s| {
            s.members()
                .filter(|m| m.up)
                .map(|m| m.region.clone())
                .collect()
        });
        let now = now_ms();
        let mut proposals = Vec::new();
        for (key, e) in alarms.iter_mut() {
            let d = e.evaluator.evaluate(now, &zones_up);
            evaluators.metrics.evaluations.inc();
            for zone in &d.recheck {
                evaluators.metrics.rechecks.inc();
                rechecks.recheck(&key.0, &e.check_id, zone);
            }
            if let Some(t) = d.proposal {
                proposals.push((key.clone(), t));
            }
        }
        proposals.truncate(PROPOSALS_PER_ROUND_MAX);
        for (key, t) in proposals {
            commit(&cfg, &view, &*cluster, &evaluators, &mut alarms, key, t).await;
        }
    }
}

/// Brings the evaluators to the alarms this node evaluates now; a changed alarm or check gets
/// a new evaluator from the committed state, an unchanged one learns newer commits.
fn sync(
    cfg: &Config,
    s: &ConfigState,
    a: &meridian_placement::Assignment,
    alarms: &mut HashMap<AlarmKey, Entry>,
    evaluators: &Evaluators,
) {
    let mut keep = BTreeSet::new();
    for tenant in s.tenants() {
        for rec in s.objects_after(&tenant.id, ObjectKind::Alarm, None) {
            let Ok(cfg_alarm) = AlarmConfig::from_record(rec) else {
                continue;
            };
            let Some(check) = s.object(&tenant.id, ObjectKind::Check, &cfg_alarm.check_id) else {
                continue;
            };
            let shard = check_shard(&tenant.id, &check.id, a.n_shards);
            if cfg_alarm.disabled || a.evaluator(shard) != Some(cfg.node_id) {
                continue;
            }
            let key: AlarmKey = (tenant.id.clone(), rec.id.clone());
            let committed = committed_of(s.alarm_state(&tenant.id, &rec.id));
            keep.insert(key.clone());
            if let Some(e) = alarms.get_mut(&key)
                && e.alarm_version == rec.version
                && e.check_version == check.version
            {
                if committed.seq > e.evaluator.committed().seq {
                    e.evaluator.on_committed(committed);
                }
                continue;
            }
            let built = CheckSpec::from_record(check)
                .and_then(|c| cfg_alarm.evaluator_spec(&c))
                .map_err(|e| e.to_string())
                .and_then(|spec| AlarmEvaluator::new(spec, committed).map_err(|e| e.to_string()));
            match built {
                Ok(evaluator) => {
                    alarms.insert(
                        key.clone(),
                        Entry {
                            alarm_version: rec.version,
                            check_version: check.version,
                            entity_id: rec.parent.clone().unwrap_or_default(),
                            check_id: check.id.clone(),
                            plan_id: cfg_alarm.plan_id.clone(),
                            evaluator,
                        },
                    );
                    // A new evaluator re-delivers the last transition's notifications that
                    // have no record yet (the one before it may have died sending them).
                    redeliver(s, &key, evaluators, alarms);
                }
                Err(e) => {
                    tracing::warn!(alarm = %rec.id, error = %e, "alarm cannot be evaluated");
                    alarms.remove(&key);
                }
            }
        }
    }
    alarms.retain(|k, _| keep.contains(k));
}

/// The committed state of an alarm as the evaluator starts from it.
fn committed_of(rec: Option<&AlarmStateRecord>) -> Committed {
    match rec {
        Some(r) => Committed {
            seq: r.seq,
            state: State::from_name(&r.state).unwrap_or(State::Unknown),
        },
        None => Committed::initial(),
    }
}

/// Offers each observation to every alarm on its check.
fn feed(
    alarms: &mut HashMap<AlarmKey, Entry>,
    batch: &[Arc<crate::poller::Observation>],
    evaluators: &Evaluators,
) {
    if batch.is_empty() {
        return;
    }
    let mut by_check: HashMap<(&str, &str), Vec<&AlarmKey>> = HashMap::new();
    for (k, e) in alarms.iter() {
        by_check
            .entry((k.0.as_str(), e.check_id.as_str()))
            .or_default()
            .push(k);
    }
    let mut targets: Vec<(AlarmKey, Arc<crate::poller::Observation>)> = Vec::new();
    for o in batch {
        if let Some(keys) = by_check.get(&(o.tenant_id.as_str(), o.check_id.as_str())) {
            targets.extend(keys.iter().map(|k| ((*k).clone(), o.clone())));
        }
    }
    for (k, o) in targets {
        if let Some(e) = alarms.get_mut(&k)
            && e.evaluator.observe(zone_observation(&o)).is_err()
        {
            evaluators.metrics.observations_refused.inc();
        }
    }
}

/// Proposes `t` for `key`; on success queues its deliveries, on a lost compare-and-set takes
/// the committed state the winner left.
async fn commit(
    cfg: &Config,
    view: &PlacementView,
    cluster: &dyn Cluster,
    evaluators: &Evaluators,
    alarms: &mut HashMap<AlarmKey, Entry>,
    key: AlarmKey,
    t: Transition,
) {
    let Some(e) = alarms.get(&key) else {
        return;
    };
    let zone_states = t
        .zone_states
        .iter()
        .map(|(z, s)| (z.clone(), s.as_str().to_string()))
        .collect();
    let op = Op::AlarmTransition {
        tenant: key.0.clone(),
        alarm_id: key.1.clone(),
        expected_seq: t.seq - 1,
        state: t.to.as_str().to_string(),
        evaluator: cfg.node_id,
        reason: t.message.clone(),
        facts: TransitionFacts {
            entity_id: e.entity_id.clone(),
            check_id: e.check_id.clone(),
            zone_states,
            zone: cfg.region.clone(),
        },
    };
    evaluators.metrics.proposed.inc();
    let result = cluster.propose(op).await;
    let Some(e) = alarms.get_mut(&key) else {
        return;
    };
    match result {
        Ok(CommandResult::Alarm(rec)) => {
            evaluators.metrics.committed.inc();
            e.evaluator.on_committed(committed_of(Some(&rec)));
            let plan = view.state().read(|s| plan_of(s, &key.0, &e.plan_id));
            queue_deliveries(evaluators, e, &key, &rec, &plan);
        }
        Ok(CommandResult::Refused(err)) if err.kind == ApplyErrorKind::Conflict => {
            evaluators.metrics.lost_cas.inc();
            let rec = view
                .state()
                .read(|s| s.alarm_state(&key.0, &key.1).cloned());
            e.evaluator.on_committed(committed_of(rec.as_ref()));
        }
        Ok(other) => {
            evaluators.metrics.propose_failed.inc();
            tracing::warn!(alarm = %key.1, result = ?other, "transition not committed");
        }
        Err(err) => {
            evaluators.metrics.propose_failed.inc();
            tracing::debug!(alarm = %key.1, error = %err, "transition not committed yet");
        }
    }
}

/// The alarm's plan, typed once by `spec::PlanSpec` (an empty plan when it is gone).
fn plan_of(s: &ConfigState, tenant: &str, plan_id: &str) -> Plan {
    s.object(tenant, ObjectKind::Plan, plan_id)
        .and_then(|p| PlanSpec::from_record(p).ok())
        .map(|p| p.to_plan())
        .unwrap_or_default()
}

/// Queues the deliveries of committed transition `rec` of `key` by `plan`.
fn queue_deliveries(
    evaluators: &Evaluators,
    e: &Entry,
    key: &AlarmKey,
    rec: &AlarmStateRecord,
    plan: &Plan,
) {
    let Some(state) = State::from_name(&rec.state) else {
        return;
    };
    let alarm = AlarmRef {
        tenant: key.0.clone(),
        entity: e.entity_id.clone(),
        alarm: key.1.clone(),
        check: e.check_id.clone(),
    };
    let Ok(list) = meridian_alarm::deliveries(&alarm, rec.seq, state, plan, false) else {
        return;
    };
    for delivery in list {
        evaluators.deliver(DeliveryJob {
            delivery,
            tenant: key.0.clone(),
            entity_id: e.entity_id.clone(),
            check_id: e.check_id.clone(),
            alarm_id: key.1.clone(),
            previous_state: rec.previous_state.clone(),
            message: rec.reason.clone(),
            zone_states: rec.facts.zone_states.clone(),
            timestamp: rec.at_ms,
        });
    }
}

/// Queues the last committed transition's deliveries again; the notifier's pump drops those
/// that already have a delivery record, so only what was never recorded is sent.
fn redeliver(
    s: &ConfigState,
    key: &AlarmKey,
    evaluators: &Evaluators,
    alarms: &HashMap<AlarmKey, Entry>,
) {
    let (Some(e), Some(rec)) = (alarms.get(key), s.alarm_state(&key.0, &key.1)) else {
        return;
    };
    queue_deliveries(evaluators, e, key, rec, &plan_of(s, &key.0, &e.plan_id));
}
