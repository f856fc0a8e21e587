//! Starting and stopping a node: data dir, identity, Raft, the shared HTTP+gRPC listener, the
//! bootstrap or join step, and background loops.

use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, Instant};

use meridian_raft::network::{Network, Peers};
use meridian_raft::{LogStore, Raft, StateMachine};
use openraft::SnapshotPolicy;
use sha2::{Digest, Sha256};
use tokio::net::TcpListener;

use crate::cluster::reserve_node_id;
use crate::config::Config;
use crate::datadir::{DataDir, Identity};
use crate::error::{Error, Result};
use crate::http;
use crate::node::Node;

/// The admin token and whether it was generated now (to be shown once).
fn admin_token(cfg: &Config, dir: &DataDir) -> Result<(String, bool)> {
    if let Some(t) = &cfg.admin_token {
        return Ok((t.clone(), false));
    }
    if let Some(t) = dir.admin_token()? {
        return Ok((t, false));
    }
    let t = crate::http::new_token();
    dir.save_admin_token(&t)?;
    Ok((t, true))
}

async fn node_id(cfg: &Config, dir: &DataDir, peers: &Peers) -> Result<u64> {
    if let Some(known) = dir.identity()? {
        if cfg.node_id.is_some_and(|n| n != known.node_id) {
            return Err(Error::Config(format!(
                "node-id: the data dir belongs to node {}, not {}",
                known.node_id,
                cfg.node_id.unwrap_or_default()
            )));
        }
        return Ok(known.node_id);
    }
    let id = match cfg.node_id {
        Some(n) => n,
        None if !cfg.join.is_empty() => reserve_node_id(peers, &cfg.join).await?,
        None => 1,
    };
    dir.save_identity(&Identity { node_id: id })?;
    Ok(id)
}

fn raft_config(cfg: &Config) -> Result<openraft::Config> {
    openraft::Config {
        cluster_name: "meridian".into(),
        heartbeat_interval: cfg.raft_heartbeat_ms,
        election_timeout_min: cfg.raft_election_min_ms,
        election_timeout_max: cfg.raft_election_max_ms,
        // `snapshots::run` decides when (it weighs the state's size too).
        snapshot_policy: SnapshotPolicy::Never,
        max_in_snapshot_log_to_keep: cfg.snapshot_keep,
        install_snapshot_timeout: 30_000,
        enable_pre_vote: Some(true),
        ..Default::default()
    }
    .validate()
    .map_err(|e| Error::Config(format!("raft settings: {e}")))
}

/// Runs a node until `shutdown` resolves, then stops it cleanly. A join that is refused or
/// gives up also stops the node, with that error, so a supervisor sees the failure.
pub async fn run(cfg: Config, shutdown: impl Future<Output = ()>) -> Result<()> {
    cfg.validate()?;
    let dir = DataDir::open(&cfg.data_dir)?;
    let (token, generated) = admin_token(&cfg, &dir)?;
    if generated {
        // Shown once; it is also in the data dir, readable by this user only.
        println!(
            "admin token (shown once, also in {}/admin-token): {token}",
            dir.root().display()
        );
    }
    let peers = Peers::new(hex::encode(Sha256::digest(format!(
        "meridian-peer-key:{token}"
    ))));
    let listener = TcpListener::bind(&cfg.listen)
        .await
        .map_err(|e| Error::Config(format!("listen: cannot bind {}: {e}", cfg.listen)))?;
    let local = listener.local_addr()?;
    if local.ip().is_unspecified() && cfg.advertise.is_none() {
        return Err(Error::Config(
            "advertise: required when listen is a wildcard address".into(),
        ));
    }
    let advertise = cfg.advertise.clone().unwrap_or_else(|| local.to_string());
    let id = node_id(&cfg, &dir, &peers).await?;

    let log = LogStore::open(&dir.raft_log_dir())?;
    let wal_stats = log.stats();
    let sm = StateMachine::open(&dir.state_dir())?;
    let state = sm.view();
    let network = Network::new(id, peers.clone());
    let raft = Raft::new(id, Arc::new(raft_config(&cfg)?), network, log, sm.clone())
        .await
        .map_err(|e| Error::Internal(format!("starting raft: {e}")))?;
    let placement = crate::placement_view::PlacementView::new(state.clone(), cfg.n_shards);
    let pollers = Arc::new(crate::poller::Pollers::new(crate::poller::node_probes(
        &cfg,
    )));
    let (outcomes, outcomes_rx) = crate::notifier::pump::outcomes();
    let dialer = Arc::new(crate::poller::node_dialer(&cfg));
    let notifier = crate::notifier::Notifier::new(
        cfg.notifier_config(),
        crate::notifier::Channels::from_config(&cfg, dialer)?,
        outcomes.clone(),
        crate::notifier::system_clock(),
    );
    let series_dir = dir.root().join("series");
    let series = tokio::task::spawn_blocking(move || crate::series::Series::open(&series_dir))
        .await
        .map_err(|e| Error::Internal(format!("opening series store: {e}")))??;
    let series = Arc::new(series);
    // sled and the series engine create their files with the process umask; they live in
    // private directories, and are made private themselves here, once every store is open.
    dir.make_private(false)?;
    let node = Arc::new(Node {
        id,
        cfg: cfg.clone(),
        advertise: advertise.clone(),
        raft: raft.clone(),
        state,
        peers,
        admin_token_hash: crate::http::token_hash(&token),
        metrics: Default::default(),
        liveness: Default::default(),
        placement,
        pollers: pollers.clone(),
        evaluators: Default::default(),
        notifier: notifier.clone(),
        series: series.clone(),
        test_check_limiter: crate::http::rate_limit::RateLimiter::new(
            crate::http::results::TEST_CHECKS_PER_MINUTE / 60.0,
            crate::http::results::TEST_CHECKS_PER_MINUTE,
            crate::http::rate_limit::RATE_LIMIT_TOKENS_MAX,
        ),
        membership_lock: Default::default(),
        proposer: Default::default(),
        wal_stats,
        started: Instant::now(),
    });

    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    // Writes keep flowing until the server has drained its requests.
    let (proposer_stop_tx, proposer_stop) = tokio::sync::watch::channel(false);
    let proposer = tokio::spawn(crate::proposer::run(node.clone(), proposer_stop));
    let (fatal_tx, mut fatal_rx) = tokio::sync::watch::channel::<Option<String>>(None);
    let grpc = crate::peer_service::routes(node.clone());
    let app = http::router(node.clone())
        .merge(grpc)
        .fallback(http::not_found);
    let app = app.layer(axum::middleware::from_fn_with_state(
        node.clone(),
        http::count_status,
    ));
    let limits = crate::listener::Limits {
        connections_max: cfg.connections_max,
        header_read_timeout: Duration::from_millis(cfg.header_read_timeout_ms),
        idle_timeout: Duration::from_millis(cfg.idle_timeout_ms),
    };
    let server = tokio::spawn(crate::listener::serve(
        listener,
        app,
        limits,
        stop_rx.clone(),
    ));
    tracing::info!(node_id = id, %advertise, region = %cfg.region, "listening");

    let initialized = raft
        .is_initialized()
        .await
        .map_err(|e| Error::Internal(e.to_string()))?;
    if !initialized && cfg.bootstrap {
        node.initialize().await?;
    } else if !initialized && !cfg.join.is_empty() {
        let n = node.clone();
        tokio::spawn(async move {
            if let Err(e) = n.join_cluster(&n.cfg.join.clone(), None).await {
                tracing::error!(error = %e, "could not join the cluster");
                let _ = fatal_tx.send(Some(e.to_string()));
            }
        });
    } else if !initialized {
        tracing::info!("waiting for `meridian cluster init` or to be added by a member");
    }
    let n = node.clone();
    let snapshot_stop = stop_rx.clone();
    let poller_stop = stop_rx.clone();
    let evaluator_stop = stop_rx.clone();
    let liveness = tokio::spawn(async move { n.run_liveness(stop_rx).await });
    let snapshots = tokio::spawn(crate::snapshots::run(node.clone(), snapshot_stop));
    let poller_cfg = crate::poller::runner::Config {
        node_id: id,
        region: cfg.region.clone(),
        polls_in_flight_max: cfg.polls_in_flight_max,
    };
    if cfg.allow_private_targets {
        tracing::warn!("pollers may reach loopback, link-local and private addresses");
    }
    tracing::info!(icmp = node.pollers.icmp_mode(), "pollers started");
    let pollers = tokio::spawn(crate::poller::runner::run(
        poller_cfg,
        node.placement.clone(),
        node.pollers.clone(),
        poller_stop,
    ));
    let (forward, evaluator) = crate::evaluator::spawn(&node, &evaluator_stop);
    let pump = tokio::spawn(crate::notifier::pump::run(
        node.placement.clone(),
        node.evaluators.clone(),
        notifier,
        outcomes,
        evaluator_stop.clone(),
    ));
    let recorder = tokio::spawn(crate::notifier::pump::record(
        outcomes_rx,
        node.clone(),
        evaluator_stop.clone(),
    ));
    let check_metrics = crate::series::checks::spawn(&node, evaluator_stop.clone());

    let fatal = tokio::select! {
        _ = shutdown => None,
        Ok(reason) = fatal_rx.wait_for(Option::is_some) => reason.clone(),
    };
    tracing::info!(node_id = id, "shutting down");
    let _ = stop_tx.send(true);
    let _ = tokio::time::timeout(Duration::from_secs(10), server).await;
    let _ = proposer_stop_tx.send(true);
    let _ = proposer.await;
    let _ = liveness.await;
    let _ = snapshots.await;
    let _ = pollers.await;
    let _ = forward.await;
    let _ = evaluator.await;
    let _ = pump.await;
    let _ = recorder.await;
    let _ = check_metrics.await;
    if let Ok(Err(e)) = tokio::task::spawn_blocking(move || series.close()).await {
        tracing::error!(error = %e, "closing the series store");
    }
    let _ = raft.shutdown().await;
    sm.flush()?;
    match fatal {
        Some(reason) => Err(Error::Unavailable(format!("join: {reason}"))),
        None => Ok(()),
    }
}
