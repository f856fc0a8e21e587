//! The register workload: clients spread over all nodes doing read, write and cas on K entities.
//!
//! Every client loop is bounded by a deadline and an operation count; every request by a
//! timeout. A timeout is recorded as `info`, never `fail`.

use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde_json::{Value, json};

use crate::api::{Api, Res};
use crate::history::{Event, EventType, Fun};

/// Collects events with timestamps relative to one monotonic epoch.
pub struct Recorder {
    epoch: Instant,
    events: Mutex<Vec<Event>>,
}

impl Recorder {
    pub fn new(epoch: Instant) -> Recorder {
        Recorder {
            epoch,
            events: Mutex::new(Vec::new()),
        }
    }

    pub fn now_ns(&self) -> u64 {
        self.epoch.elapsed().as_nanos() as u64
    }

    fn push(&self, process: u64, kind: EventType, f: Fun, key: &str, value: Value, node: &str) {
        let event = Event {
            process,
            kind,
            f,
            key: key.to_string(),
            value,
            time_ns: self.now_ns(),
            node: Some(node.to_string()),
        };
        self.events.lock().expect("recorder lock").push(event);
    }

    /// All events, ordered by time.
    pub fn take(&self) -> Vec<Event> {
        let mut events = std::mem::take(&mut *self.events.lock().expect("recorder lock"));
        events.sort_by_key(|e| e.time_ns);
        events
    }
}

/// What every client shares.
pub struct Shared {
    pub recorder: Recorder,
    pub token: String,
    /// `(history key, entity id)` per register.
    pub keys: Vec<(String, String)>,
    pub consistency: &'static str,
    pub next_value: AtomicI64,
    pub deadline: Instant,
    pub max_ops: u64,
    pub think: Duration,
    pub clients: u64,
}

/// Creates the tenant and the K entities through `api`, retrying while the cluster settles.
pub async fn setup(api: &Api, admin: &str, keys: u32) -> Result<(String, Vec<(String, String)>)> {
    let token = retry(|| api.create_tenant(admin, "chaos"))
        .await
        .context("creating tenant")?;
    let mut out = Vec::new();
    for k in 0..keys {
        let label = format!("k{k}");
        let id = retry(|| api.create_entity(&token, &label))
            .await
            .context("creating entity")?;
        out.push((label, id));
    }
    Ok((token, out))
}

async fn retry<T, F: Future<Output = Result<T>>>(mut f: impl FnMut() -> F) -> Result<T> {
    const ATTEMPTS_MAX: u32 = 60;
    let mut last = None;
    for _ in 0..ATTEMPTS_MAX {
        match f().await {
            Ok(v) => return Ok(v),
            Err(e) => last = Some(e),
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    Err(last.expect("at least one attempt"))
}

/// One client: `index` picks its node (`node_name`, `api`) and its random stream.
pub async fn client(shared: Arc<Shared>, index: u64, node_name: String, api: Api, seed: u64) {
    let mut rng = StdRng::seed_from_u64(seed ^ (index.wrapping_mul(0x9E37_79B9)));
    let mut process = index;
    let s = &*shared;
    for _ in 0..s.max_ops {
        if Instant::now() >= s.deadline {
            break;
        }
        let (key, id) = &s.keys[rng.random_range(0..s.keys.len())];
        let roll = rng.random_range(0..100);
        let crashed = if roll < 50 {
            read(s, &api, process, key, id, &node_name).await.is_none()
        } else if roll < 80 {
            write(s, &api, process, key, id, &node_name, None).await
        } else {
            match read(s, &api, process, key, id, &node_name).await {
                Some((expected, Some(etag))) => {
                    write(
                        s,
                        &api,
                        process,
                        key,
                        id,
                        &node_name,
                        Some((expected, etag)),
                    )
                    .await
                }
                Some(_) => false,
                None => true,
            }
        };
        if crashed {
            // An unknown outcome leaves the operation open; continue as a fresh process.
            process += s.clients;
        }
        tokio::time::sleep(s.think).await;
    }
}

/// Returns `None` when the read's outcome was `info`, otherwise what it saw (if it succeeded).
async fn read(
    s: &Shared,
    api: &Api,
    process: u64,
    key: &str,
    id: &str,
    node: &str,
) -> Option<(Option<i64>, Option<String>)> {
    s.recorder.push(
        process,
        EventType::Invoke,
        Fun::Read,
        key,
        Value::Null,
        node,
    );
    match api.read(&s.token, id, s.consistency).await {
        Res::Ok((value, etag)) => {
            s.recorder
                .push(process, EventType::Ok, Fun::Read, key, json!(value), node);
            Some((value, etag))
        }
        Res::Fail(_) => {
            s.recorder
                .push(process, EventType::Fail, Fun::Read, key, Value::Null, node);
            Some((None, None))
        }
        Res::Info(_) => {
            s.recorder
                .push(process, EventType::Info, Fun::Read, key, Value::Null, node);
            None
        }
    }
}

/// A write, or a cas when `cas` holds the value read and its ETag. True when `info`.
async fn write(
    s: &Shared,
    api: &Api,
    process: u64,
    key: &str,
    id: &str,
    node: &str,
    cas: Option<(Option<i64>, String)>,
) -> bool {
    let value = s.next_value.fetch_add(1, Ordering::Relaxed);
    let (f, arg) = match &cas {
        Some((expected, _)) => (Fun::Cas, json!([expected, value])),
        None => (Fun::Write, json!(value)),
    };
    s.recorder
        .push(process, EventType::Invoke, f, key, arg.clone(), node);
    let if_match = cas.as_ref().map(|(_, tag)| tag.as_str());
    let (kind, crashed) = match api.write(&s.token, id, key, value, if_match).await {
        Res::Ok(()) => (EventType::Ok, false),
        Res::Fail(_) => (EventType::Fail, false),
        Res::Info(_) => (EventType::Info, true),
    };
    s.recorder.push(process, kind, f, key, arg, node);
    crashed
}
