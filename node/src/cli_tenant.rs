//! The tenant command line: `meridian entities|checks|alarms|notifications|plans
//! list|get|create|update|delete`, an HTTP client of any node, with JSON or table output.
//! The token and node come from `--token` / `MERIDIAN_TOKEN` and `--node` / `MERIDIAN_NODE`.

use std::io::Read;
use std::time::Duration;

use anyhow::{Context, bail};
use clap::{Args, Subcommand, ValueEnum};
use serde_json::Value;

use crate::cli_http::ApiClient;

/// Longest a tenant command waits for one answer.
pub const TENANT_CLI_TIMEOUT: Duration = Duration::from_secs(30);
/// Most pages `list --all` fetches.
pub const LIST_PAGES_MAX: usize = 1000;

#[derive(Subcommand)]
pub enum TenantCmd {
    /// Hosts being monitored.
    Entities(Flat),
    /// Checks of one entity (--entity).
    Checks(Nested),
    /// Alarms of one entity (--entity).
    Alarms(Nested),
    /// Where alerts are sent.
    Notifications(Flat),
    /// Notification plans: which notifications each alarm state uses.
    Plans(Flat),
}

#[derive(Args)]
pub struct Common {
    /// A node of the cluster (host:port).
    #[arg(
        long,
        global = true,
        env = "MERIDIAN_NODE",
        default_value = "127.0.0.1:7070"
    )]
    node: String,
    /// Tenant token.
    #[arg(long, global = true, env = "MERIDIAN_TOKEN", hide_env_values = true)]
    token: Option<String>,
    /// Output format.
    #[arg(long, short, global = true, value_enum, default_value_t = Output::Table)]
    output: Output,
}

#[derive(Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Output {
    Table,
    Json,
}

#[derive(Args)]
pub struct Flat {
    #[command(flatten)]
    common: Common,
    #[command(subcommand)]
    action: Action,
}

#[derive(Args)]
pub struct Nested {
    /// The entity the objects belong to.
    #[arg(long, global = true)]
    entity: Option<String>,
    #[command(flatten)]
    common: Common,
    #[command(subcommand)]
    action: Action,
}

#[derive(Subcommand)]
pub enum Action {
    /// List objects (one page, or every page with --all).
    List {
        #[arg(long)]
        limit: Option<usize>,
        #[arg(long)]
        marker: Option<String>,
        #[arg(long)]
        all: bool,
    },
    /// Show one object.
    Get { id: String },
    /// Create an object from JSON: --data '{...}', --data @file.json or --data - (stdin).
    Create {
        #[arg(long)]
        data: String,
    },
    /// Change fields of an object (JSON as for create; null removes a field).
    Update {
        id: String,
        #[arg(long)]
        data: String,
        /// Only if the object's ETag is still this one.
        #[arg(long)]
        if_match: Option<String>,
    },
    /// Delete an object.
    Delete { id: String },
}

/// Columns of the table output per collection.
fn columns(collection: &str) -> &'static [&'static str] {
    if collection.ends_with("/checks") {
        &[
            "id",
            "label",
            "type",
            "period",
            "monitoring_zones_poll",
            "target_hostname",
            "target_alias",
        ]
    } else if collection.ends_with("/alarms") {
        &["id", "label", "check_id", "state", "notification_plan_id"]
    } else if collection.ends_with("notification_plans") {
        &["id", "label", "critical_state", "warning_state", "ok_state"]
    } else if collection.ends_with("notifications") {
        &["id", "label", "type"]
    } else {
        &["id", "label", "ip_addresses"]
    }
}

pub fn main(cmd: TenantCmd) -> anyhow::Result<()> {
    let (collection, common, action) = match cmd {
        TenantCmd::Entities(f) => ("/v1/entities".to_string(), f.common, f.action),
        TenantCmd::Notifications(f) => ("/v1/notifications".to_string(), f.common, f.action),
        TenantCmd::Plans(f) => ("/v1/notification_plans".to_string(), f.common, f.action),
        TenantCmd::Checks(n) => (nested(n.entity, "checks")?, n.common, n.action),
        TenantCmd::Alarms(n) => (nested(n.entity, "alarms")?, n.common, n.action),
    };
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    rt.block_on(run(&collection, common, action))
}

fn nested(entity: Option<String>, what: &str) -> anyhow::Result<String> {
    let Some(en) = entity else {
        bail!("--entity: {what} belong to an entity; pass --entity ID")
    };
    Ok(format!("/v1/entities/{en}/{what}"))
}

/// `--data`: inline JSON, `@file`, or `-` for standard input.
fn read_data(data: &str) -> anyhow::Result<Value> {
    let text = if data == "-" {
        let mut s = String::new();
        std::io::stdin()
            .read_to_string(&mut s)
            .context("reading standard input")?;
        s
    } else if let Some(path) = data.strip_prefix('@') {
        std::fs::read_to_string(path).with_context(|| format!("reading {path}"))?
    } else {
        data.to_string()
    };
    serde_json::from_str(&text).context("--data: not valid JSON")
}

async fn run(collection: &str, common: Common, action: Action) -> anyhow::Result<()> {
    use reqwest::Method;
    let Some(token) = common.token else {
        bail!("no token: pass --token or set MERIDIAN_TOKEN")
    };
    let c = ApiClient::new(&common.node, token, TENANT_CLI_TIMEOUT)?;
    let item = |id: &str| format!("{collection}/{id}");
    let (out, is_list) = match action {
        Action::List { limit, marker, all } => {
            (list(&c, collection, limit, marker, all).await?, true)
        }
        Action::Get { id } => (c.call(Method::GET, &item(&id), None, None).await?, false),
        Action::Create { data } => (
            c.call(Method::POST, collection, Some(read_data(&data)?), None)
                .await?,
            false,
        ),
        Action::Update { id, data, if_match } => (
            c.call(
                Method::PUT,
                &item(&id),
                Some(read_data(&data)?),
                if_match.as_deref(),
            )
            .await?,
            false,
        ),
        Action::Delete { id } => {
            c.call(Method::DELETE, &item(&id), None, None).await?;
            if common.output == Output::Json {
                println!("{}", serde_json::json!({"deleted": id}));
            } else {
                println!("deleted {id}");
            }
            return Ok(());
        }
    };
    match common.output {
        Output::Json => println!("{}", serde_json::to_string_pretty(&out)?),
        Output::Table if is_list => print_table(
            columns(collection),
            out["values"].as_array().map_or(&[][..], Vec::as_slice),
        ),
        Output::Table => print_fields(&out),
    }
    Ok(())
}

async fn list(
    c: &ApiClient,
    collection: &str,
    limit: Option<usize>,
    marker: Option<String>,
    all: bool,
) -> anyhow::Result<Value> {
    let mut values = Vec::new();
    let mut marker = marker;
    for _ in 0..LIST_PAGES_MAX {
        let mut path = format!("{collection}?limit={}", limit.unwrap_or(100));
        if let Some(m) = &marker {
            path.push_str(&format!("&marker={m}"));
        }
        let page = c.call(reqwest::Method::GET, &path, None, None).await?;
        values.extend(page["values"].as_array().cloned().unwrap_or_default());
        marker = page["metadata"]["next_marker"].as_str().map(str::to_string);
        if !all || marker.is_none() {
            return Ok(
                serde_json::json!({"values": values, "metadata": {"count": values.len(), "next_marker": marker}}),
            );
        }
    }
    bail!("list: more than {LIST_PAGES_MAX} pages")
}

/// A cell: strings as they are, lists joined by commas, maps as k=v, nothing as `-`.
fn cell(v: &Value) -> String {
    match v {
        Value::Null => "-".into(),
        Value::String(s) => s.clone(),
        Value::Array(a) => a.iter().map(cell).collect::<Vec<_>>().join(","),
        Value::Object(m) => m
            .iter()
            .map(|(k, v)| format!("{k}={}", cell(v)))
            .collect::<Vec<_>>()
            .join(","),
        other => other.to_string(),
    }
}

fn print_table(cols: &[&str], rows: &[Value]) {
    let cells: Vec<Vec<String>> = rows
        .iter()
        .map(|r| cols.iter().map(|c| cell(&r[*c])).collect())
        .collect();
    let widths: Vec<usize> = cols
        .iter()
        .enumerate()
        .map(|(i, c)| {
            cells
                .iter()
                .map(|r| r[i].chars().count())
                .chain([c.len()])
                .max()
                .unwrap_or(0)
        })
        .collect();
    let line = |vals: Vec<String>| {
        let padded: Vec<String> = vals
            .iter()
            .zip(&widths)
            .map(|(v, w)| format!("{v:<w$}"))
            .collect();
        println!("{}", padded.join("  ").trim_end());
    };
    line(cols.iter().map(|c| c.to_uppercase()).collect());
    for r in cells {
        line(r);
    }
}

fn print_fields(v: &Value) {
    let Some(m) = v.as_object() else {
        return println!("{v}");
    };
    let width = m.keys().map(String::len).max().unwrap_or(0);
    for (k, v) in m {
        println!("{k:<width$}  {}", cell(v));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cells_flatten_json() {
        assert_eq!(cell(&serde_json::json!(["a", "b"])), "a,b");
        assert_eq!(
            cell(&serde_json::json!({"web": "10.0.0.1"})),
            "web=10.0.0.1"
        );
        assert_eq!(cell(&Value::Null), "-");
        assert_eq!(columns("/v1/entities/en1/alarms")[3], "state");
    }
}
