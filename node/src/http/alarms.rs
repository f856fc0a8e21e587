//! `/v1/entities/{en}/alarms` (tenant token): when a check's results mean trouble, and whom to
//! tell. Either `criteria` in the alarm language or a CloudWatch-style `threshold`; neither
//! means the check's availability decides. Validation is `spec::AlarmConfig`'s.

use axum::Router;
use meridian_raft::model::{ConfigState, ObjectKind, ObjectRecord};
use serde_json::{Map, Value};

use super::AppState;
use super::resource::{self, Ctx, Prepared, RResult, Rejection, Resource};
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

    fn decorate(state: &ConfigState, o: &ObjectRecord, out: &mut Map<String, Value>) {
        out.remove("_criteria_ast");
        let s = state
            .alarm_state(&o.tenant, &o.id)
            .map_or("UNKNOWN", |a| a.state.as_str());
        out.insert("state".into(), Value::String(s.to_string()));
    }
}
