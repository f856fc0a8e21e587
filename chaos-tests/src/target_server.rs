//! A controllable HTTP target: answers every GET with 200 while up and 503 while down. Its
//! health is switched in process (`set_health`) or over HTTP (`PUT /_control/health` with
//! body `up` or `down`), so a target running in a namespace can be driven by the suite. It
//! keeps a bounded log of the last requests (time and peer), to see which region polled.

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use anyhow::{Context, Result, bail};
use axum::Router;
use axum::body::Bytes;
use axum::extract::{ConnectInfo, DefaultBodyLimit, State};
use axum::http::StatusCode;
use axum::routing::put;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

use crate::monitoring_history::Health;

/// Largest request log a target keeps (drop-oldest beyond its capacity, counted).
pub const TARGET_LOG_MAX: usize = 10_000;
/// Largest control request body in bytes.
const CONTROL_BODY_MAX: usize = 64;

/// One request the target answered.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Hit {
    /// Nanoseconds since the suite's epoch.
    pub time_ns: u64,
    pub peer: SocketAddr,
    pub answered_up: bool,
}

struct Shared {
    up: AtomicBool,
    epoch: Instant,
    capacity: usize,
    answered: AtomicU64,
    log: Mutex<(VecDeque<Hit>, u64)>,
}

/// A running target; dropping it without `stop` aborts the server task.
pub struct TargetServer {
    addr: SocketAddr,
    shared: Arc<Shared>,
    shutdown: Option<oneshot::Sender<()>>,
    task: JoinHandle<()>,
}

impl TargetServer {
    /// Listens on `bind` (port 0 picks one), starting up, logging the last `log_capacity`
    /// requests.
    pub async fn start(bind: SocketAddr, epoch: Instant, log_capacity: usize) -> Result<Self> {
        if log_capacity == 0 || log_capacity > TARGET_LOG_MAX {
            bail!("field `log_capacity`: must lie in 1..={TARGET_LOG_MAX}");
        }
        let shared = Arc::new(Shared {
            up: AtomicBool::new(true),
            epoch,
            capacity: log_capacity,
            answered: AtomicU64::new(0),
            log: Mutex::new((VecDeque::with_capacity(log_capacity), 0)),
        });
        let app = Router::new()
            .route("/_control/health", put(control))
            .fallback(answer)
            .layer(DefaultBodyLimit::max(CONTROL_BODY_MAX))
            .with_state(shared.clone());
        let listener = tokio::net::TcpListener::bind(bind)
            .await
            .with_context(|| format!("binding the target to {bind}"))?;
        let addr = listener.local_addr()?;
        let (tx, rx) = oneshot::channel();
        let task = tokio::spawn(async move {
            let service = app.into_make_service_with_connect_info::<SocketAddr>();
            let serve = axum::serve(listener, service).with_graceful_shutdown(async {
                let _ = rx.await;
            });
            if let Err(e) = serve.await {
                eprintln!("target stopped: {e}");
            }
        });
        Ok(TargetServer {
            addr,
            shared,
            shutdown: Some(tx),
            task,
        })
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    pub fn set_health(&self, health: Health) {
        self.shared.up.store(health == Health::Up, Ordering::SeqCst);
    }

    pub fn health(&self) -> Health {
        if self.shared.up.load(Ordering::SeqCst) {
            Health::Up
        } else {
            Health::Down
        }
    }

    /// Requests answered since the start (control requests excluded).
    pub fn answered(&self) -> u64 {
        self.shared.answered.load(Ordering::SeqCst)
    }

    /// The last requests (oldest first) and how many older ones were dropped from the log.
    pub fn recent(&self) -> (Vec<Hit>, u64) {
        let log = self.shared.log.lock().expect("target log");
        (log.0.iter().copied().collect(), log.1)
    }

    /// Stops accepting and waits for the server task to end.
    pub async fn stop(mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        let _ = (&mut self.task).await;
    }
}

impl Drop for TargetServer {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn answer(
    State(shared): State<Arc<Shared>>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
) -> (StatusCode, &'static str) {
    let up = shared.up.load(Ordering::SeqCst);
    shared.answered.fetch_add(1, Ordering::SeqCst);
    let hit = Hit {
        time_ns: shared.epoch.elapsed().as_nanos() as u64,
        peer,
        answered_up: up,
    };
    {
        let mut log = shared.log.lock().expect("target log");
        if log.0.len() == shared.capacity {
            log.0.pop_front();
            log.1 += 1;
        }
        log.0.push_back(hit);
    }
    if up {
        (StatusCode::OK, "up\n")
    } else {
        (StatusCode::SERVICE_UNAVAILABLE, "down\n")
    }
}

async fn control(State(shared): State<Arc<Shared>>, body: Bytes) -> (StatusCode, &'static str) {
    match body.trim_ascii() {
        b"up" => shared.up.store(true, Ordering::SeqCst),
        b"down" => shared.up.store(false, Ordering::SeqCst),
        _ => {
            return (
                StatusCode::BAD_REQUEST,
                "field `health`: expected up or down\n",
            );
        }
    }
    (StatusCode::NO_CONTENT, "")
}
