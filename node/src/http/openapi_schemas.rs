//! JSON schemas of the objects in the OpenAPI document (the shapes of spec/api.md).

use serde_json::{Value, json};

fn string() -> Value {
    json!({"type": "string"})
}

fn strings() -> Value {
    json!({"type": "array", "items": {"type": "string"}})
}

fn string_map() -> Value {
    json!({"type": "object", "additionalProperties": {"type": "string"}})
}

fn object(required: &[&str], props: Value) -> Value {
    let mut props = props;
    for f in ["id", "created_at", "updated_at"] {
        props[f] = if f == "id" {
            json!({"type": "string", "readOnly": true})
        } else {
            json!({"type": "integer", "readOnly": true})
        };
    }
    json!({"type": "object", "required": required, "properties": props})
}

/// `components.schemas`.
pub fn schemas() -> Value {
    json!({
        "error": {"type": "object", "properties": {
            "type": string(), "code": {"type": "integer"}, "message": string(),
            "details": {"type": "object", "nullable": true}, "request_id": string(),
        }},
        "entity": object(&["label"], json!({"label": string(), "ip_addresses": string_map(), "metadata": string_map()})),
        "check": object(&["label", "type", "monitoring_zones_poll"], json!({
            "entity_id": {"type": "string", "readOnly": true}, "label": string(),
            "type": {"type": "string", "enum": ["remote.http", "remote.tcp", "remote.dns", "remote.ping", "remote.tls"]},
            "details": {"type": "object"},
            "period": {"type": "integer", "minimum": 30, "maximum": 1800, "default": 60},
            "timeout": {"type": "integer", "minimum": 2},
            "monitoring_zones_poll": strings(), "target_hostname": string(), "target_alias": string(),
            "disabled": {"type": "boolean"}, "metadata": string_map(),
        })),
        "alarm": object(&["label", "check_id", "notification_plan_id"], json!({
            "entity_id": {"type": "string", "readOnly": true}, "label": string(), "check_id": string(),
            "criteria": string(), "threshold": {"type": "object"}, "notification_plan_id": string(),
            "disabled": {"type": "boolean"}, "metadata": string_map(),
            "state": {"type": "string", "enum": ["OK", "WARNING", "CRITICAL", "UNKNOWN"], "readOnly": true},
        })),
        "notification": object(&["label", "type", "details"], json!({
            "label": string(), "type": {"type": "string", "enum": ["webhook", "email", "pagerduty", "slack"]},
            "details": {"type": "object"},
        })),
        "plan": object(&["label"], json!({
            "label": string(), "critical_state": strings(), "warning_state": strings(), "ok_state": strings(),
        })),
        "suppression": object(&["label"], json!({
            "label": string(), "entities": strings(), "checks": strings(), "alarms": strings(),
            "notification_plans": strings(), "start_time": {"type": "integer"}, "end_time": {"type": "integer"},
            "recurrence": {"type": "object", "properties": {
                "days": strings(), "start": string(), "duration_minutes": {"type": "integer"}, "time_zone": string(),
            }},
        })),
    })
}
