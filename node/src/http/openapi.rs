//! The OpenAPI 3 document served at `/v1/openapi.json`, built from one route table.
//!
//! The resource routes come from the same `Resource::COLLECTION` constants the router uses, so
//! they cannot drift; the fixed routes are listed here, and tests keep both sides equal: a tidy
//! test finds every `.route("...")` of this directory in the table, and an integration test
//! calls every documented method of every path (and checks the undocumented ones answer 405).

use axum::Router;
use axum::routing::get;
use serde_json::{Map, Value, json};

use super::AppState;
use super::alarms::Alarms;
use super::checks::Checks;
use super::entities::Entities;
use super::notifications::{Notifications, Plans};
use super::resource::Resource;
use super::suppressions::Suppressions;

/// Who may call a route.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Auth {
    None,
    Admin,
    Tenant,
}

/// One operation of the API.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DocRoute {
    pub method: &'static str,
    pub path: String,
    pub summary: String,
    pub auth: Auth,
    /// Schema of the request and response object, for resources.
    pub schema: Option<&'static str>,
}

const FIXED: [(&str, &str, &str, Auth); 32] = [
    ("GET", "/healthz", "process alive", Auth::None),
    (
        "GET",
        "/readyz",
        "joined, caught up and in contact with a quorum",
        Auth::None,
    ),
    ("GET", "/metrics", "Prometheus metrics", Auth::None),
    ("GET", "/v1/openapi.json", "this document", Auth::None),
    (
        "GET",
        "/v1/cluster",
        "the cluster as this node sees it",
        Auth::Admin,
    ),
    (
        "POST",
        "/v1/cluster/init",
        "make this node a one-voter cluster",
        Auth::Admin,
    ),
    (
        "GET",
        "/v1/cluster/nodes",
        "the cluster as this node sees it",
        Auth::Admin,
    ),
    ("POST", "/v1/cluster/nodes", "add a node", Auth::Admin),
    (
        "DELETE",
        "/v1/cluster/nodes/{id}",
        "remove a node for good",
        Auth::Admin,
    ),
    (
        "POST",
        "/v1/cluster/snapshot",
        "snapshot this node now and purge its log",
        Auth::Admin,
    ),
    ("GET", "/v1/node", "this node's identity", Auth::Admin),
    ("GET", "/v1/tenants", "list tenants", Auth::Admin),
    (
        "POST",
        "/v1/tenants",
        "create a tenant; its token is shown once",
        Auth::Admin,
    ),
    (
        "DELETE",
        "/v1/tenants/{id}",
        "delete a tenant: its objects and tokens at once, its series later",
        Auth::Admin,
    ),
    (
        "POST",
        "/v1/tenants/{id}/tokens",
        "issue another token to a tenant (at most 5 held); shown once",
        Auth::Admin,
    ),
    (
        "DELETE",
        "/v1/tenants/{id}/tokens/{token_id}",
        "revoke one of a tenant's tokens (not its last)",
        Auth::Admin,
    ),
    (
        "GET",
        "/v1/monitoring_zones",
        "the cluster's regions with live node counts",
        Auth::Tenant,
    ),
    (
        "GET",
        "/v1/monitoring_zones/{id}",
        "one monitoring zone",
        Auth::Tenant,
    ),
    (
        "GET",
        "/v1/views/overview",
        "entities with their checks, alarms and latest states",
        Auth::Tenant,
    ),
    (
        "GET",
        "/v1/entities/{entity_id}/checks/{check_id}/results",
        "the newest observation of the check from each zone",
        Auth::Tenant,
    ),
    (
        "POST",
        "/v1/entities/{entity_id}/test-check",
        "run a check once now from each of its zones; nothing is stored",
        Auth::Tenant,
    ),
    (
        "GET",
        "/v1/changelogs/alarms",
        "alarm state changes, newest first",
        Auth::Tenant,
    ),
    (
        "GET",
        "/v1/entities/{entity_id}/alarms/{alarm_id}/notification_history",
        "deliveries of this alarm's notifications",
        Auth::Tenant,
    ),
    (
        "POST",
        "/v1/entities/{entity_id}/test-alarm",
        "evaluate criteria or a threshold over given observations",
        Auth::Tenant,
    ),
    (
        "POST",
        "/v1/notifications/{notification_id}/test",
        "send a test notification now",
        Auth::Tenant,
    ),
    (
        "POST",
        "/v1/metrics",
        "store metric points (at most 1 MiB and 10,000 points)",
        Auth::Tenant,
    ),
    (
        "GET",
        "/v1/metrics",
        "series with points in the last 14 days",
        Auth::Tenant,
    ),
    (
        "GET",
        "/v1/metrics/query",
        "statistics of matching series per period",
        Auth::Tenant,
    ),
    (
        "POST",
        "/v1/metrics/query",
        "statistics of matching series per period (JSON body)",
        Auth::Tenant,
    ),
    (
        "POST",
        "/api/v1/write",
        "Prometheus remote_write 1.0",
        Auth::Tenant,
    ),
    (
        "GET",
        "/v1/entities/{entity_id}/checks/{check_id}/metrics",
        "the check's metric names per zone",
        Auth::Tenant,
    ),
    (
        "GET",
        "/v1/entities/{entity_id}/checks/{check_id}/metrics/{name}/plot",
        "one check metric over time at a resolution",
        Auth::Tenant,
    ),
];

pub fn routes() -> Router<AppState> {
    Router::new().route("/v1/openapi.json", get(|| async { axum::Json(document()) }))
}

fn resource<R: Resource>(schema: &'static str) -> Vec<DocRoute> {
    let kind = R::KIND.as_str();
    let item = format!("{}/{{id}}", R::COLLECTION);
    let op = |method, path: &str, summary: String| DocRoute {
        method,
        path: path.to_string(),
        summary,
        auth: Auth::Tenant,
        schema: Some(schema),
    };
    vec![
        op(
            "GET",
            R::COLLECTION,
            format!("list {kind} objects (limit, marker)"),
        ),
        op("POST", R::COLLECTION, format!("create a {kind}")),
        op(
            "GET",
            &item,
            format!("get a {kind} (linearizable by default)"),
        ),
        op(
            "PUT",
            &item,
            format!("update a {kind}: sent fields replace stored ones, null removes"),
        ),
        op("DELETE", &item, format!("delete a {kind}")),
    ]
}

/// Every operation the API serves.
pub fn all_routes() -> Vec<DocRoute> {
    let mut out: Vec<DocRoute> = Vec::new();
    for (method, path, summary, auth) in FIXED {
        out.push(DocRoute {
            method,
            path: path.to_string(),
            summary: summary.to_string(),
            auth,
            schema: None,
        });
    }
    out.extend(resource::<Entities>("entity"));
    out.extend(resource::<Checks>("check"));
    out.extend(resource::<Alarms>("alarm"));
    out.extend(resource::<Notifications>("notification"));
    out.extend(resource::<Plans>("plan"));
    out.extend(resource::<Suppressions>("suppression"));
    out
}

fn operation(r: &DocRoute) -> Value {
    let params: Vec<Value> = r
        .path
        .split('/')
        .filter_map(|seg| seg.strip_prefix('{').and_then(|s| s.strip_suffix('}')))
        .map(|name| json!({"name": name, "in": "path", "required": true, "schema": {"type": "string"}}))
        .collect();
    let mut op = json!({
        "summary": r.summary,
        "operationId": format!("{} {}", r.method.to_lowercase(), r.path),
        "parameters": params,
        "responses": {
            "default": {"description": "error", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/error"}}}},
        },
    });
    let ok = if r.method == "DELETE" {
        "204"
    } else if r.method == "POST" {
        "201"
    } else {
        "200"
    };
    let mut success = json!({"description": "success"});
    if let (Some(schema), false) = (r.schema, r.method == "DELETE") {
        let reference = json!({"$ref": format!("#/components/schemas/{schema}")});
        success["content"] = json!({"application/json": {"schema": reference}});
        if r.method == "POST" || r.method == "PUT" {
            op["requestBody"] =
                json!({"required": true, "content": {"application/json": {"schema": reference}}});
        }
    }
    op["responses"][ok] = success;
    op["security"] = match r.auth {
        Auth::None => json!([]),
        Auth::Admin | Auth::Tenant => json!([{"bearer": []}, {"authToken": []}]),
    };
    op["x-meridian-auth"] = json!(format!("{:?}", r.auth).to_lowercase());
    op
}

/// The OpenAPI 3 document.
pub fn document() -> Value {
    let mut paths = Map::new();
    for r in all_routes() {
        let entry = paths.entry(r.path.clone()).or_insert_with(|| json!({}));
        entry[r.method.to_lowercase()] = operation(&r);
    }
    json!({
        "openapi": "3.0.3",
        "info": {"title": "Meridian API", "version": env!("CARGO_PKG_VERSION")},
        "paths": paths,
        "components": {
            "securitySchemes": {
                "bearer": {"type": "http", "scheme": "bearer"},
                "authToken": {"type": "apiKey", "in": "header", "name": "X-Auth-Token"},
            },
            "schemas": super::openapi_schemas::schemas(),
        },
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every `.route("...")` written in this directory is documented.
    #[test]
    fn every_routed_path_in_the_sources_is_documented() {
        let sources = [
            include_str!("ops.rs"),
            include_str!("cluster.rs"),
            include_str!("tenants.rs"),
            include_str!("tenant_lifecycle.rs"),
            include_str!("views.rs"),
            include_str!("results.rs"),
            include_str!("alarm_views.rs"),
            include_str!("metrics_api.rs"),
            include_str!("check_metrics.rs"),
            include_str!("openapi.rs"),
            include_str!("resource.rs"),
            include_str!("mod.rs"),
        ];
        let documented: Vec<String> = all_routes().into_iter().map(|r| r.path).collect();
        let mut found = 0;
        for src in sources {
            for piece in src.split(".route(\"").skip(1) {
                let path = piece.split('"').next().unwrap_or("");
                if !path.starts_with('/') {
                    continue; // this test's own pattern and the doc comment
                }
                found += 1;
                assert!(
                    documented.iter().any(|d| d == path),
                    "{path} is routed but not documented"
                );
            }
        }
        assert!(found >= 12, "found only {found} routes in the sources");
    }

    #[test]
    fn the_document_has_every_resource_operation_once() {
        let doc = document();
        assert_eq!(doc["openapi"], "3.0.3");
        let paths = doc["paths"].as_object().expect("paths");
        let ops: usize = paths
            .values()
            .map(|p| p.as_object().map_or(0, Map::len))
            .sum();
        assert_eq!(ops, all_routes().len());
        assert!(paths["/v1/entities/{entity_id}/checks/{id}"]["put"]["requestBody"].is_object());
        let params = &paths["/v1/entities/{entity_id}/alarms/{id}"]["get"]["parameters"];
        assert_eq!(params.as_array().map(Vec::len), Some(2));
    }
}
