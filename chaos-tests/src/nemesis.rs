//! Fault classes and the seeded fault schedule (pure: the same seed gives the same schedule).

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde::{Deserialize, Serialize};

/// A class of fault, selectable on the command line.
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    Hash,
    PartialOrd,
    Ord,
    Serialize,
    Deserialize,
    clap::ValueEnum,
)]
#[serde(rename_all = "kebab-case")]
pub enum FaultClass {
    Partition,
    Kill,
    Pause,
    Clock,
    Loss,
    Latency,
}

impl FaultClass {
    pub const ALL: [FaultClass; 6] = [
        FaultClass::Partition,
        FaultClass::Kill,
        FaultClass::Pause,
        FaultClass::Clock,
        FaultClass::Loss,
        FaultClass::Latency,
    ];

    pub fn needs_netns(self) -> bool {
        matches!(
            self,
            FaultClass::Partition | FaultClass::Loss | FaultClass::Latency
        )
    }

    pub fn name(self) -> &'static str {
        match self {
            FaultClass::Partition => "partition",
            FaultClass::Kill => "kill",
            FaultClass::Pause => "pause",
            FaultClass::Clock => "clock",
            FaultClass::Loss => "loss",
            FaultClass::Latency => "latency",
        }
    }
}

/// The shape of a partition.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum PartitionKind {
    /// Nodes shuffled and cut into a majority and a minority.
    RandomHalves,
    /// The current leader alone on one side.
    IsolateLeader,
    /// Each node sees only its ring neighbours: every node has a majority, none the same one.
    MajoritiesRing,
    /// Two halves joined by one node that sees both.
    Bridge,
    /// Every node of one region cut from the others.
    IsolateRegion,
}

const PARTITION_KINDS: [PartitionKind; 5] = [
    PartitionKind::RandomHalves,
    PartitionKind::IsolateLeader,
    PartitionKind::MajoritiesRing,
    PartitionKind::Bridge,
    PartitionKind::IsolateRegion,
];

/// What exactly a scheduled fault does; targets are resolved when it starts.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "kebab-case")]
pub enum Fault {
    Partition {
        shape: PartitionKind,
    },
    /// SIGKILL one node (the leader when `leader`), restart it at heal.
    Kill {
        leader: bool,
    },
    /// SIGSTOP one node (the leader when `leader`), SIGCONT at heal.
    Pause {
        leader: bool,
    },
    /// Shift the wall clock of `nodes` nodes by `skew_s` seconds.
    Clock {
        nodes: u32,
        skew_s: i64,
    },
    /// Drop `percent` % of node-to-node packets.
    Loss {
        percent: u32,
    },
    /// Delay node-to-node packets between regions by `delay_ms` each way.
    Latency {
        delay_ms: u64,
    },
}

impl Fault {
    pub fn class(&self) -> FaultClass {
        match self {
            Fault::Partition { .. } => FaultClass::Partition,
            Fault::Kill { .. } => FaultClass::Kill,
            Fault::Pause { .. } => FaultClass::Pause,
            Fault::Clock { .. } => FaultClass::Clock,
            Fault::Loss { .. } => FaultClass::Loss,
            Fault::Latency { .. } => FaultClass::Latency,
        }
    }
}

/// One entry of the schedule: start and heal offsets from the start of the workload.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Scheduled {
    pub id: usize,
    pub start_ms: u64,
    pub heal_ms: u64,
    pub fault: Fault,
}

/// Inputs of the schedule.
#[derive(Debug, Clone)]
pub struct ScheduleSpec {
    pub seed: u64,
    pub classes: Vec<FaultClass>,
    pub duration_ms: u64,
    pub warmup_ms: u64,
    pub cooldown_ms: u64,
    pub interval_ms: u64,
    pub latency_ms: u64,
}

/// Upper bound on faults per run, whatever the duration.
pub const FAULTS_MAX: usize = 10_000;

/// Builds the schedule: a fault starts about every `interval_ms` (±25 %), stays for 40–70 %
/// of the interval, and is healed before the next one; nothing starts in the cooldown.
pub fn schedule(spec: &ScheduleSpec) -> Vec<Scheduled> {
    let mut rng = StdRng::seed_from_u64(spec.seed);
    let mut out = Vec::new();
    if spec.classes.is_empty() {
        return out;
    }
    let end = spec.duration_ms.saturating_sub(spec.cooldown_ms);
    let mut t = spec.warmup_ms;
    while out.len() < FAULTS_MAX {
        let interval = spec.interval_ms * rng.random_range(75..=125) / 100;
        let hold = interval * rng.random_range(40..=70) / 100;
        if t + hold > end {
            break;
        }
        let class = spec.classes[rng.random_range(0..spec.classes.len())];
        let fault = pick(&mut rng, class, spec.latency_ms);
        out.push(Scheduled {
            id: out.len(),
            start_ms: t,
            heal_ms: t + hold,
            fault,
        });
        t += interval;
    }
    out
}

fn pick(rng: &mut StdRng, class: FaultClass, latency_ms: u64) -> Fault {
    match class {
        FaultClass::Partition => Fault::Partition {
            shape: PARTITION_KINDS[rng.random_range(0..PARTITION_KINDS.len())],
        },
        FaultClass::Kill => Fault::Kill {
            leader: rng.random_bool(0.5),
        },
        FaultClass::Pause => Fault::Pause {
            leader: rng.random_bool(0.5),
        },
        FaultClass::Clock => {
            let magnitude = rng.random_range(5..=120i64);
            let skew_s = if rng.random_bool(0.5) {
                magnitude
            } else {
                -magnitude
            };
            Fault::Clock {
                nodes: rng.random_range(1..=2),
                skew_s,
            }
        }
        FaultClass::Loss => Fault::Loss {
            percent: rng.random_range(10..=40),
        },
        FaultClass::Latency => Fault::Latency {
            delay_ms: latency_ms,
        },
    }
}

/// Splits `ids` into groups for a partition; returns, per node, the nodes it must not reach.
/// `rng_pick` chooses the shuffle; `leader` and `region_of` resolve the targeted shapes.
pub fn partition_blocks(
    shape: PartitionKind,
    ids: &[u32],
    leader: Option<u32>,
    region_of: &dyn Fn(u32) -> u32,
    rng: &mut StdRng,
) -> Vec<(u32, Vec<u32>)> {
    let mut order = ids.to_vec();
    for i in (1..order.len()).rev() {
        order.swap(i, rng.random_range(0..=i));
    }
    let n = order.len();
    let sees = |a: u32, b: u32| -> bool {
        let pos = |x: u32| order.iter().position(|y| *y == x).unwrap_or(0);
        match shape {
            PartitionKind::RandomHalves => (pos(a) < n / 2) == (pos(b) < n / 2),
            PartitionKind::IsolateLeader => {
                let l = leader.unwrap_or(order[0]);
                (a == l) == (b == l)
            }
            PartitionKind::MajoritiesRing => {
                let d = (pos(a) + n - pos(b)) % n;
                d.min(n - d) <= n.saturating_sub(1).div_ceil(4).max(1)
            }
            PartitionKind::Bridge => {
                let (pa, pb, mid) = (pos(a), pos(b), n / 2);
                pa == mid || pb == mid || (pa < mid) == (pb < mid)
            }
            PartitionKind::IsolateRegion => {
                let r = region_of(order[0]);
                (region_of(a) == r) == (region_of(b) == r)
            }
        }
    };
    ids.iter()
        .map(|&a| {
            (
                a,
                ids.iter()
                    .copied()
                    .filter(|&b| b != a && !sees(a, b))
                    .collect(),
            )
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(seed: u64) -> ScheduleSpec {
        ScheduleSpec {
            seed,
            classes: FaultClass::ALL.to_vec(),
            duration_ms: 60_000,
            warmup_ms: 5_000,
            cooldown_ms: 8_000,
            interval_ms: 10_000,
            latency_ms: 50,
        }
    }

    #[test]
    fn schedule_is_seeded_and_non_overlapping() {
        let a = schedule(&spec(7));
        assert_eq!(a, schedule(&spec(7)));
        assert!(a.len() >= 3);
        for w in a.windows(2) {
            assert!(w[0].heal_ms < w[1].start_ms);
        }
        assert!(a.last().unwrap().heal_ms <= 52_000);
    }

    fn blocks(shape: PartitionKind) -> Vec<(u32, Vec<u32>)> {
        let mut rng = StdRng::seed_from_u64(3);
        partition_blocks(
            shape,
            &[1, 2, 3, 4, 5],
            Some(2),
            &|id| (id - 1) % 3 + 1,
            &mut rng,
        )
    }

    #[test]
    fn partitions_are_symmetric_and_leave_a_majority_somewhere() {
        for shape in PARTITION_KINDS {
            let b = blocks(shape);
            for (a, cut) in &b {
                for c in cut {
                    let other = &b.iter().find(|(x, _)| x == c).unwrap().1;
                    assert!(other.contains(a), "{shape:?} not symmetric");
                }
            }
            assert!(
                b.iter().any(|(_, cut)| cut.len() <= 2),
                "{shape:?} leaves no majority"
            );
            assert!(
                b.iter().any(|(_, cut)| !cut.is_empty()),
                "{shape:?} cuts nothing"
            );
        }
    }

    #[test]
    fn isolate_leader_cuts_exactly_the_leader() {
        let b = blocks(PartitionKind::IsolateLeader);
        assert_eq!(b.iter().find(|(x, _)| *x == 2).unwrap().1, vec![1, 3, 4, 5]);
        assert_eq!(b.iter().find(|(x, _)| *x == 1).unwrap().1, vec![2]);
    }

    #[test]
    fn majorities_ring_gives_every_node_a_majority() {
        for (_, cut) in blocks(PartitionKind::MajoritiesRing) {
            assert_eq!(cut.len(), 2);
        }
    }
}
