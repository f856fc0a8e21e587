//! Storage tests against real files in a temporary directory.

use std::io::Cursor;

use meridian_raft::model::{Command, ObjectKind, Op, PutMode};
use meridian_raft::types::{Entry, LogId, TypeConfig};
use meridian_raft::{LogStore, StateMachine};
use openraft::StorageError;
use openraft::entry::RaftEntry;
use openraft::storage::{
    IOFlushed, RaftLogReader, RaftLogStorage, RaftSnapshotBuilder, RaftStateMachine,
};
use openraft::testing::log::{StoreBuilder, Suite};
use openraft::type_config::TypeConfigExt;
use tempfile::TempDir;

struct Builder;

impl StoreBuilder<TypeConfig, LogStore, StateMachine, TempDir> for Builder {
    async fn build(&self) -> Result<(TempDir, LogStore, StateMachine), StorageError<TypeConfig>> {
        let dir = tempfile::tempdir().expect("tempdir");
        let log = LogStore::open(&dir.path().join("log")).expect("open log");
        let sm = StateMachine::open(&dir.path().join("sm")).expect("open sm");
        Ok((dir, log, sm))
    }
}

#[test]
fn passes_openraft_storage_suite() {
    TypeConfig::run(async { Suite::test_all(Builder).await }).expect("storage suite");
}

/// Reopens a state machine dropped a moment ago in this process: sled's background flusher may
/// hold the old handle's file lock briefly after the drop, so retry (bounded) while it is locked.
fn reopen_sm(path: &std::path::Path) -> StateMachine {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    loop {
        match StateMachine::open(path) {
            Ok(sm) => return sm,
            Err(e) if std::time::Instant::now() < deadline => {
                eprintln!("reopen retry: {e}");
                std::thread::sleep(std::time::Duration::from_millis(50));
            }
            Err(e) => panic!("reopen {}: {e}", path.display()),
        }
    }
}

fn lid(index: u64) -> LogId {
    openraft::testing::log_id::<TypeConfig>(1, 1, index)
}

fn normal(index: u64, op: Op) -> Entry {
    Entry::new_normal(
        lid(index),
        Command {
            request_id: None,
            fingerprint: None,
            at_ms: 7,
            op,
        },
    )
}

async fn append_durably(log: &mut LogStore, entries: Vec<Entry>) {
    let (tx, rx) = TypeConfig::oneshot();
    log.append(entries, IOFlushed::signal(tx))
        .await
        .expect("append");
    rx.await.expect("callback").expect("flushed");
}

#[tokio::test]
async fn appended_entries_and_vote_survive_reopen() {
    let dir = tempfile::tempdir().expect("tempdir");
    {
        let mut log = LogStore::open(dir.path()).expect("open");
        let entries = (1..=5).map(|i| Entry::new_blank(lid(i))).collect();
        append_durably(&mut log, entries).await;
        let vote = openraft::impls::Vote::new(3, 2);
        log.save_vote(&vote).await.expect("vote");
        log.truncate_after(Some(lid(4))).await.expect("truncate");
        log.purge(lid(1)).await.expect("purge");
        append_durably(&mut log, vec![Entry::new_blank(lid(5))]).await;
    }
    let mut log = LogStore::open(dir.path()).expect("reopen");
    let state = log.get_log_state().await.expect("state");
    assert_eq!(state.last_purged_log_id, Some(lid(1)));
    assert_eq!(state.last_log_id, Some(lid(5)));
    let got = log.try_get_log_entries(0..100).await.expect("read");
    assert_eq!(
        got.iter().map(|e| e.index()).collect::<Vec<_>>(),
        [2, 3, 4, 5]
    );
    assert_eq!(
        log.read_vote().await.expect("vote"),
        Some(openraft::impls::Vote::new(3, 2))
    );
}

#[tokio::test]
async fn many_appends_share_few_fdatasyncs() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut log = LogStore::open(dir.path()).expect("open");
    let mut waits = Vec::new();
    for i in 1..=2000u64 {
        let (tx, rx) = TypeConfig::oneshot();
        log.append(vec![Entry::new_blank(lid(i))], IOFlushed::signal(tx))
            .await
            .expect("append");
        waits.push(rx);
    }
    for rx in waits {
        rx.await.expect("callback").expect("flushed");
    }
    let stats = log.stats();
    let syncs = stats.syncs.load(std::sync::atomic::Ordering::Relaxed);
    let records = stats.records.load(std::sync::atomic::Ordering::Relaxed);
    assert_eq!(records, 2000);
    assert!(
        syncs < records,
        "group commit: {syncs} syncs for {records} records"
    );
}

fn entity_put(index: u64, id: &str) -> Entry {
    normal(
        index,
        Op::PutObject {
            tenant: "t1".into(),
            kind: ObjectKind::Entity,
            id: id.into(),
            parent: None,
            body: serde_json::json!({"label": id}),
            mode: PutMode::Create,
            refs: vec![],
        },
    )
}

fn create_tenant() -> Op {
    Op::CreateTenant {
        id: "t1".into(),
        name: "acme".into(),
        token_hash: "h".into(),
    }
}

async fn apply_entries(sm: &mut StateMachine, entries: Vec<Entry>) {
    let items = entries.into_iter().map(|e| Ok((e, None)));
    sm.apply(futures::stream::iter(items)).await.expect("apply");
}

#[tokio::test]
async fn applied_state_and_last_applied_survive_reopen_together() {
    let dir = tempfile::tempdir().expect("tempdir");
    let tenant = create_tenant();
    {
        let mut sm = StateMachine::open(dir.path()).expect("open");
        apply_entries(&mut sm, vec![normal(1, tenant), entity_put(2, "en1")]).await;
        sm.flush().expect("flush");
    }
    let mut sm = reopen_sm(dir.path());
    let (applied, _) = sm.applied_state().await.expect("applied");
    assert_eq!(applied, Some(lid(2)));
    let view = sm.view();
    assert!(view.read(|s| s.object("t1", ObjectKind::Entity, "en1").is_some()));
}

#[tokio::test]
async fn many_applied_batches_share_few_sled_batches_and_survive_reopen() {
    let dir = tempfile::tempdir().expect("tempdir");
    let tenant = create_tenant();
    let (batches, records) = {
        let mut sm = StateMachine::open(dir.path()).expect("open");
        apply_entries(&mut sm, vec![normal(1, tenant)]).await;
        // One entry per applied batch, each with a request id, as openraft applies under load.
        for index in 2..=301 {
            let mut e = entity_put(index, &format!("en{index}"));
            if let openraft::EntryPayload::Normal(c) = &mut e.payload {
                c.request_id = Some(format!("rq{index}"));
            }
            apply_entries(&mut sm, vec![e]).await;
        }
        sm.flush().expect("flush");
        let view = sm.view();
        let stats = view.persist_stats();
        let load = |c: &std::sync::atomic::AtomicU64| c.load(std::sync::atomic::Ordering::Relaxed);
        (load(&stats.batches), load(&stats.records))
    };
    // 301 applied batches; the persister wrote far fewer sled batches, and the request ids
    // went in groups: about one record per entity, not two.
    assert!(
        batches < 100,
        "{batches} sled batches for 301 applied batches"
    );
    // Per sled batch: at most one request group, the floor, `last_applied` and the membership.
    assert!(
        records <= 301 + 4 * batches,
        "{records} records in {batches} batches"
    );
    let mut sm = reopen_sm(dir.path());
    let (applied, _) = sm.applied_state().await.expect("applied");
    assert_eq!(applied, Some(lid(301)));
    let view = sm.view();
    assert!(view.read(|s| s.object("t1", ObjectKind::Entity, "en301").is_some()));
    assert_eq!(view.read(|s| s.request_count()), 300);
}

#[tokio::test]
async fn snapshot_is_persisted_and_installs_into_an_empty_machine() {
    let dir = tempfile::tempdir().expect("tempdir");
    let tenant = create_tenant();
    let mut sm = StateMachine::open(&dir.path().join("a")).expect("open");
    apply_entries(&mut sm, vec![normal(1, tenant), entity_put(2, "en1")]).await;
    let snap = sm.build_snapshot().await.expect("build");
    let digest = sm.view().digest();

    // The snapshot survives a restart of the node that built it.
    drop(sm);
    let mut again = reopen_sm(&dir.path().join("a"));
    let current = again
        .get_current_snapshot()
        .await
        .expect("get")
        .expect("some");
    assert_eq!(current.meta, snap.meta);

    // Another node installs it and ends with the same state; a restart keeps it.
    let mut other = StateMachine::open(&dir.path().join("b")).expect("open b");
    other
        .install_snapshot(&snap.meta, Cursor::new(snap.snapshot.into_inner()))
        .await
        .expect("install");
    assert_eq!(other.view().digest(), digest);
    drop(other);
    let other = reopen_sm(&dir.path().join("b"));
    assert_eq!(other.view().digest(), digest);
}

#[tokio::test]
async fn duplicate_request_in_the_log_applies_once() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut sm = StateMachine::open(dir.path()).expect("open");
    let tenant = create_tenant();
    let mut first = entity_put(2, "en1");
    let mut retry = entity_put(3, "en1");
    for e in [&mut first, &mut retry] {
        if let openraft::EntryPayload::Normal(c) = &mut e.payload {
            c.request_id = Some("same".into());
        }
    }
    apply_entries(&mut sm, vec![normal(1, tenant), first, retry]).await;
    let version = sm
        .view()
        .read(|s| s.object("t1", ObjectKind::Entity, "en1").map(|o| o.version));
    assert_eq!(version, Some(2));
}
