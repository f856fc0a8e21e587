//! `meridian-chaos delayer`: holds every packet of an NFQUEUE for a fixed time, then accepts it.
//!
//! Runs inside a node's namespace (netlink queues are per namespace). Stops by itself when the
//! stop file appears or after `max_s`, releasing every held packet first; with
//! `--queue-bypass` on the rule, traffic keeps flowing if this process dies.

use std::collections::VecDeque;
use std::path::Path;
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use nfq::{Queue, Verdict};

/// Packets held at once; beyond this a packet is passed at once rather than queued.
const HELD_MAX: usize = 20_000;

/// Runs the delayer loop until stopped.
pub fn run(queue_num: u16, delay: Duration, stop_file: &Path, max: Duration) -> Result<()> {
    let mut queue = Queue::open().context("opening NFQUEUE netlink socket")?;
    queue.bind(queue_num).context("binding queue")?;
    queue.set_copy_range(queue_num, 64)?;
    queue.set_queue_max_len(queue_num, HELD_MAX as u32)?;
    queue.set_fail_open(queue_num, true)?;
    queue.set_nonblocking(true);
    let started = Instant::now();
    let mut held: VecDeque<(Instant, nfq::Message)> = VecDeque::new();
    let mut passed = 0u64;
    let mut last_stop_check = Instant::now();
    loop {
        let now = Instant::now();
        if now.duration_since(last_stop_check) > Duration::from_millis(100) {
            last_stop_check = now;
            if stop_file.exists() || now.duration_since(started) > max {
                break;
            }
        }
        loop {
            match queue.recv() {
                Ok(mut msg) => {
                    if held.len() >= HELD_MAX {
                        msg.set_verdict(Verdict::Accept);
                        queue.verdict(msg)?;
                        passed += 1;
                    } else {
                        held.push_back((now + delay, msg));
                    }
                }
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => break,
                Err(e) => return Err(e).context("receiving from queue"),
            }
        }
        while held.front().is_some_and(|(due, _)| *due <= Instant::now()) {
            let (_, mut msg) = held.pop_front().expect("front exists");
            msg.set_verdict(Verdict::Accept);
            queue.verdict(msg)?;
            passed += 1;
        }
        std::thread::sleep(Duration::from_millis(1));
    }
    for (_, mut msg) in held.drain(..) {
        msg.set_verdict(Verdict::Accept);
        queue.verdict(msg)?;
        passed += 1;
    }
    let _ = queue.unbind(queue_num);
    eprintln!("delayer: queue {queue_num} released {passed} packets after {delay:?} each");
    Ok(())
}
