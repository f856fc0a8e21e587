//! `/v1/entities` (tenant token): the hosts being monitored, with their named IP addresses.
//! CRUD, ETag / If-Match, Idempotency-Key and paging come from the shared resource code.

use std::collections::BTreeMap;
use std::net::IpAddr;

use axum::Router;
use meridian_raft::model::ObjectKind;
use serde::Deserialize;
use serde_json::{Map, Value, json};

use super::AppState;
use super::resource::{self, Ctx, Prepared, RResult, Resource};
use crate::spec::fields::{bad, label, metadata, typed_body};

/// Most named IP addresses on one entity.
pub const IP_ADDRESSES_MAX: usize = 64;
/// Longest IP address name, in bytes.
pub const IP_NAME_MAX: usize = 64;

pub fn routes() -> Router<AppState> {
    resource::routes::<Entities>()
}

pub struct Entities;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct EntityBody {
    label: Option<String>,
    #[serde(default)]
    ip_addresses: BTreeMap<String, String>,
    #[serde(default)]
    metadata: BTreeMap<String, String>,
}

impl Resource for Entities {
    const KIND: ObjectKind = ObjectKind::Entity;
    const COLLECTION: &'static str = "/v1/entities";

    fn prepare(_ctx: &Ctx<'_>, body: Map<String, Value>) -> RResult<Prepared> {
        let e: EntityBody = typed_body(body)?;
        let label = label(e.label.as_deref())?;
        if e.ip_addresses.len() > IP_ADDRESSES_MAX {
            return Err(bad(format!("ip_addresses: at most {IP_ADDRESSES_MAX} entries")).into());
        }
        for (name, ip) in &e.ip_addresses {
            if name.is_empty() || name.len() > IP_NAME_MAX {
                return Err(bad(format!(
                    "ip_addresses: names must be 1 to {IP_NAME_MAX} characters"
                ))
                .into());
            }
            if ip.parse::<IpAddr>().is_err() {
                return Err(
                    bad(format!("ip_addresses.{name}: {ip:?} is not an IP address")).into(),
                );
            }
        }
        metadata(&e.metadata)?;
        let body = json!({"label": label, "ip_addresses": e.ip_addresses, "metadata": e.metadata});
        Ok(Prepared {
            body,
            refs: Vec::new(),
        })
    }
}
