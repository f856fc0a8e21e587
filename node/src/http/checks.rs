//! `/v1/entities/{en}/checks` (tenant token): what to poll, how often, from which zones.

use axum::Router;
use meridian_raft::model::ObjectKind;
use serde_json::{Map, Value};

use super::AppState;
use super::resource::{self, Ctx, Prepared, RResult, Resource};
use crate::spec::CheckSpec;

pub fn routes() -> Router<AppState> {
    resource::routes::<Checks>()
}

pub struct Checks;

impl Resource for Checks {
    const KIND: ObjectKind = ObjectKind::Check;
    const COLLECTION: &'static str = "/v1/entities/{entity_id}/checks";

    fn prepare(ctx: &Ctx<'_>, body: Map<String, Value>) -> RResult<Prepared> {
        let spec = CheckSpec::from_body(ctx.state, ctx.tenant, ctx.parent, ctx.check_limits, body)?;
        Ok(Prepared {
            body: spec.to_body(),
            refs: Vec::new(),
        })
    }
}
