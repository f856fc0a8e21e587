//! Self-validation of the linearizability checker: known-bad histories must be rejected, good
//! ones (stored and generated from a simulated linearizable register) accepted.

use std::path::PathBuf;
use std::process::Command;

use meridian_chaos::history::{Event, EventType, Fun, pair, read_events};
use meridian_chaos::linearizability::{MAX_STATES_DEFAULT, Verdict};
use meridian_chaos::offline::{check_events, check_file};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde_json::json;

fn histories() -> Vec<PathBuf> {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/histories");
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "jsonl"))
        .collect();
    files.sort();
    assert!(files.len() >= 7, "stored histories missing");
    files
}

fn name(path: &std::path::Path) -> String {
    path.file_name().unwrap().to_string_lossy().into_owned()
}

#[test]
fn stored_histories_are_judged_by_their_name() {
    for path in histories() {
        let (_, summary) = check_file(&path, MAX_STATES_DEFAULT).unwrap();
        let expected = if name(&path).starts_with("bad-") {
            Verdict::NotLinearizable
        } else {
            Verdict::Linearizable
        };
        assert_eq!(summary.verdict(), expected, "{}", path.display());
        if expected == Verdict::NotLinearizable {
            let failing = summary.keys.iter().find(|k| k.verdict == expected).unwrap();
            let window = failing.window.as_ref().expect("a failing key has a window");
            assert!(!window.ops.is_empty() && window.ops.len() <= failing.ops);
        }
    }
}

#[test]
fn check_command_exit_codes() {
    for path in histories() {
        let out = Command::new(env!("CARGO_BIN_EXE_meridian-chaos"))
            .arg("check")
            .arg(&path)
            .output()
            .unwrap();
        let stdout = String::from_utf8_lossy(&out.stdout);
        if name(&path).starts_with("bad-") {
            assert_eq!(out.status.code(), Some(1), "{stdout}");
            assert!(stdout.contains("smallest failing window"), "{stdout}");
        } else {
            assert_eq!(out.status.code(), Some(0), "{stdout}");
        }
    }
}

#[test]
fn stale_read_window_is_minimal() {
    let path = histories()
        .into_iter()
        .find(|p| name(p) == "bad-stale-read.jsonl")
        .unwrap();
    let (_, summary) = check_file(&path, MAX_STATES_DEFAULT).unwrap();
    // write 2 then read 1: two operations suffice, whatever came before.
    assert_eq!(summary.keys[0].window.as_ref().unwrap().ops, vec![2, 4]);
}

/// Simulates `procs` clients on a linearizable register: each operation takes effect at a
/// random instant between its invoke and its completion. Some completions are lost (info).
fn simulated(seed: u64, procs: u64, ops_per_proc: usize, keys: usize) -> Vec<Event> {
    let mut rng = StdRng::seed_from_u64(seed);
    let mut plan: Vec<(u64, u64, u64, u64, Fun, String, bool)> = Vec::new();
    for p in 0..procs {
        let mut t = rng.random_range(0..50u64);
        for _ in 0..ops_per_proc {
            let call = t;
            let lin = call + rng.random_range(1..40u64);
            let ret = lin + rng.random_range(1..40u64);
            let f = [Fun::Read, Fun::Write, Fun::Cas][rng.random_range(0..3)];
            let key = format!("k{}", rng.random_range(0..keys));
            let lost = rng.random_bool(0.1);
            plan.push((lin, call, ret, p, f, key, lost));
            t = ret + rng.random_range(1..20u64);
        }
    }
    plan.sort_by_key(|x| x.0);
    let mut state: std::collections::HashMap<String, Option<i64>> = Default::default();
    let mut events = Vec::new();
    let mut next_value = 1i64;
    for (_, call, ret, process, f, key, lost) in plan {
        let cur = state.get(&key).copied().flatten();
        let (inv, done, kind) = match f {
            Fun::Read => (json!(null), json!(cur), EventType::Ok),
            Fun::Write => {
                next_value += 1;
                state.insert(key.clone(), Some(next_value));
                (json!(next_value), json!(next_value), EventType::Ok)
            }
            Fun::Cas => {
                next_value += 1;
                let expected = if rng.random_bool(0.7) { cur } else { Some(-1) };
                let value = json!([expected, next_value]);
                if expected == cur {
                    state.insert(key.clone(), Some(next_value));
                    (value.clone(), value, EventType::Ok)
                } else {
                    (value.clone(), value, EventType::Fail)
                }
            }
        };
        let kind = if lost && f != Fun::Read {
            EventType::Info
        } else {
            kind
        };
        let ev = |kind, value, time_ns| Event {
            process,
            kind,
            f,
            key: key.clone(),
            value,
            time_ns,
            node: Some(format!("n{}", process % 5 + 1)),
        };
        events.push(ev(EventType::Invoke, inv, call * 1000 + process));
        events.push(ev(kind, done, ret * 1000 + process));
    }
    events.sort_by_key(|e| (e.time_ns, e.kind != EventType::Invoke));
    events
}

#[test]
fn simulated_linearizable_histories_are_accepted() {
    for seed in 0..60 {
        let events = simulated(seed, 6, 40, 3);
        pair(&events).unwrap();
        let summary = check_events(&events, MAX_STATES_DEFAULT).unwrap();
        assert_eq!(summary.verdict(), Verdict::Linearizable, "seed {seed}");
    }
}

#[test]
fn corrupted_read_in_simulated_history_is_rejected() {
    let mut rejected = 0;
    for seed in 0..30 {
        let mut events = simulated(seed, 4, 30, 1);
        // Make one completed read return a value no one ever wrote.
        let Some(read) = events
            .iter_mut()
            .find(|e| e.f == Fun::Read && e.kind == EventType::Ok)
        else {
            continue;
        };
        read.value = json!(-42);
        let summary = check_events(&events, MAX_STATES_DEFAULT).unwrap();
        assert_eq!(summary.verdict(), Verdict::NotLinearizable, "seed {seed}");
        rejected += 1;
    }
    assert!(rejected > 20);
}

#[test]
fn history_round_trips_through_text() {
    let events = simulated(7, 3, 5, 1);
    let mut text = Vec::new();
    meridian_chaos::history::write_events(&mut text, &events).unwrap();
    assert_eq!(read_events(text.as_slice()).unwrap(), events);
}
