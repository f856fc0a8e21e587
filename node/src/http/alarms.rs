//! `/v1/entities/{en}/alarms` (tenant token): when a check's results mean trouble, and whom to
//! tell. Either `criteria` in the alarm language or a CloudWatch-style `threshold`; neither
//! means the check's availability decides. Validation is `spec::AlarmConfig`'s.

use axum::Router;
use meridian_raft::model::{ObjectKind, ObjectRecord};
use serde_json::{Map, Value};

use super::AppState;
use super::resource::{self, Ctx, Prepared, RResult, Rejection, Resource, View};
use crate::spec::alarm::{AlarmConfig, AlarmRefusal};

pub fn routes() -> Router<AppState> {
    resource::routes::<Alarms>()
}

pub struct Alarms;

impl Resource for Alarms {
    const KIND: ObjectKind = ObjectKind::Alarm;
    const COLLECTION: &'static str = "/v1/entities/{entity_id}/alarms";

    fn prepare(ctx: &Ctx<'_>, body: Map<String, Value>) -> RResult<Prepared> {
        let a = AlarmConfig::from_body(ctx.state, ctx.tenant, ctx.parent, body).map_err(
            |r| match r {
                AlarmRefusal::Field(e) => Rejection::from(e),
                AlarmRefusal::Criteria(error) => Rejection::Parse {
                    field: "criteria",
                    error,
                },
            },
        )?;
        Ok(Prepared {
            body: a.to_body(),
            refs: a.refs(),
        })
    }

    fn decorate(view: &View<'_>, o: &ObjectRecord, out: &mut Map<String, Value>) {
        out.extend(alarm_state_fields(view, o));
    }
}

/// `state`, `state_since`, `state_message`, `zone_states`, `seq` and `evaluated_by` of an alarm:
/// the committed state, and the node that evaluates it under the current placement.
pub fn alarm_state_fields(view: &View<'_>, o: &ObjectRecord) -> Map<String, Value> {
    let committed = view.state.alarm_state(&o.tenant, &o.id);
    let check = o.body["check_id"].as_str().unwrap_or_default();
    let shard = crate::poller::schedule::check_shard(&o.tenant, check, view.assignment.n_shards);
    let mut out = Map::new();
    let (state, since, message, zones, seq) = match committed {
        Some(a) => (
            a.state.as_str(),
            Value::from(a.at_ms),
            a.reason.as_str(),
            serde_json::to_value(&a.facts.zone_states).unwrap_or_default(),
            a.seq,
        ),
        None => ("UNKNOWN", Value::Null, "", Value::Object(Map::new()), 0),
    };
    out.insert("state".into(), Value::from(state));
    out.insert("state_since".into(), since);
    out.insert("state_message".into(), Value::from(message));
    out.insert("zone_states".into(), zones);
    out.insert("seq".into(), Value::from(seq));
    let evaluator = view.assignment.evaluator(shard);
    out.insert(
        "evaluated_by".into(),
        evaluator.map_or(Value::Null, Value::from),
    );
    out
}
