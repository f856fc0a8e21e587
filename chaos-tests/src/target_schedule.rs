//! Seeded schedule of target health changes (pure): global up/down flips, each state held for
//! at least 3 check periods, and regional outages (a target down as seen from one region only)
//! inside up periods. The same seed gives the same schedule.

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

use crate::monitoring_history::{Health, Scope, TargetChange};

/// At most this many target records per target in one schedule.
pub const SCHEDULE_CHANGES_MAX: usize = 10_000;

/// What to schedule.
#[derive(Debug, Clone, PartialEq)]
pub struct ScheduleSpec {
    pub seed: u64,
    /// Target names (each target is scheduled independently).
    pub targets: Vec<String>,
    /// Region names for regional outages; empty means none.
    pub regions: Vec<String>,
    /// The checks' period in seconds; every state is held at least 3 periods.
    pub check_period_s: u64,
    /// Length of the schedule in seconds, from `start_ns`.
    pub duration_s: u64,
    /// Time of the schedule's start on the history clock.
    pub start_ns: u64,
    /// Chance (0..=1) that an up period carries a regional outage.
    pub regional_outage_chance: f64,
}

/// Why a schedule could not be made.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ScheduleError {
    #[error("field `{field}`: {reason}")]
    Invalid { field: &'static str, reason: String },
}

fn invalid(field: &'static str, reason: impl Into<String>) -> ScheduleError {
    ScheduleError::Invalid {
        field,
        reason: reason.into(),
    }
}

impl ScheduleSpec {
    fn validate(&self) -> Result<(), ScheduleError> {
        if self.check_period_s == 0 {
            return Err(invalid("check_period_s", "must be at least 1"));
        }
        if self.targets.is_empty() || self.targets.iter().any(String::is_empty) {
            return Err(invalid(
                "targets",
                "need at least one non-empty target name",
            ));
        }
        if self.regions.iter().any(String::is_empty) {
            return Err(invalid("regions", "region names must not be empty"));
        }
        if !(0.0..=1.0).contains(&self.regional_outage_chance) {
            return Err(invalid("regional_outage_chance", "must lie in 0..=1"));
        }
        // Every 3 periods bring at most one global change and the two ends of one outage.
        let most = self.duration_s / self.check_period_s;
        if most as usize > SCHEDULE_CHANGES_MAX {
            return Err(invalid(
                "duration_s",
                format!("would allow {most} changes per target, over {SCHEDULE_CHANGES_MAX}"),
            ));
        }
        Ok(())
    }
}

/// The schedule as `target` history records, in time order. Every global state, the last one
/// included, holds at least 3 check periods before the end of the schedule; each regional
/// outage lasts at least 3 periods and lies strictly inside a global up period.
pub fn target_schedule(spec: &ScheduleSpec) -> Result<Vec<TargetChange>, ScheduleError> {
    spec.validate()?;
    let mut records = Vec::new();
    for (i, target) in spec.targets.iter().enumerate() {
        let mut rng = StdRng::seed_from_u64(spec.seed ^ (i as u64).wrapping_mul(0x9E37_79B9));
        records.extend(one_target(spec, target, &mut rng));
    }
    records.sort_by_key(|r| r.time_ns);
    Ok(records)
}

fn one_target(spec: &ScheduleSpec, target: &str, rng: &mut StdRng) -> Vec<TargetChange> {
    let period = spec.check_period_s * 1_000_000_000;
    let settle = 3 * period;
    let end = spec.start_ns + spec.duration_s * 1_000_000_000;
    let record = |state, scope, time_ns| TargetChange {
        target: target.to_string(),
        state,
        scope,
        time_ns,
    };
    let mut out = Vec::new();
    let mut state = Health::Up;
    let mut since = spec.start_ns;
    loop {
        let outage = state == Health::Up
            && !spec.regions.is_empty()
            && rng.random_bool(spec.regional_outage_chance);
        let hold = if outage {
            // one period of margin on each side of an outage of 3 to 4 periods
            let length = rng.random_range(settle..=settle + period);
            let region = spec.regions[rng.random_range(0..spec.regions.len())].clone();
            if since + length + 2 * period + settle <= end {
                let from = since + period;
                out.push(record(Health::Down, Scope::Region(region.clone()), from));
                out.push(record(Health::Up, Scope::Region(region), from + length));
            }
            length + 2 * period + rng.random_range(0..=settle)
        } else {
            rng.random_range(settle..=2 * settle)
        };
        let next = since + hold;
        // The state after `next` must itself hold `settle` before the end.
        if next + settle > end || out.len() + 3 > SCHEDULE_CHANGES_MAX {
            break;
        }
        state = match state {
            Health::Up => Health::Down,
            Health::Down => Health::Up,
        };
        out.push(record(state, Scope::All, next));
        since = next;
    }
    out.retain(|r| r.time_ns <= end);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(seed: u64) -> ScheduleSpec {
        ScheduleSpec {
            seed,
            targets: vec!["t1".into(), "t2".into(), "t3".into()],
            regions: vec!["r1".into(), "r2".into(), "r3".into()],
            check_period_s: 2,
            duration_s: 600,
            start_ns: 5_000,
            regional_outage_chance: 0.5,
        }
    }

    #[test]
    fn same_seed_same_schedule() {
        assert_eq!(target_schedule(&spec(3)), target_schedule(&spec(3)));
        assert_ne!(target_schedule(&spec(3)), target_schedule(&spec(4)));
    }

    /// Every state holds 3 periods (the last one up to the end), regional outages last 3
    /// periods and sit inside global up periods, records are in time order.
    #[test]
    fn holds_and_nesting() {
        let settle = 6_000_000_000;
        for seed in 0..50 {
            let s = spec(seed);
            let end = s.start_ns + s.duration_s * 1_000_000_000;
            let records = target_schedule(&s).unwrap();
            assert!(records.windows(2).all(|w| w[0].time_ns <= w[1].time_ns));
            for t in &s.targets {
                let mine: Vec<_> = records.iter().filter(|r| &r.target == t).collect();
                let global: Vec<_> = mine.iter().filter(|r| r.scope == Scope::All).collect();
                assert!(!global.is_empty(), "seed {seed}: no change for {t}");
                let mut since = (s.start_ns, Health::Up);
                for g in &global {
                    assert!(g.time_ns - since.0 >= settle && g.state != since.1);
                    since = (g.time_ns, g.state);
                }
                assert!(end - since.0 >= settle, "last state too short");
                let regional: Vec<_> = mine.iter().filter(|r| r.scope != Scope::All).collect();
                for pair in regional.chunks(2) {
                    assert_eq!((pair[0].state, pair[1].state), (Health::Down, Health::Up));
                    assert_eq!(pair[0].scope, pair[1].scope);
                    assert!(pair[1].time_ns - pair[0].time_ns >= settle);
                    let globally_up = |at: u64| {
                        global
                            .iter()
                            .rev()
                            .find(|g| g.time_ns <= at)
                            .is_none_or(|g| g.state == Health::Up)
                    };
                    let crossed = global
                        .iter()
                        .any(|g| g.time_ns >= pair[0].time_ns && g.time_ns <= pair[1].time_ns);
                    assert!(globally_up(pair[0].time_ns) && !crossed);
                }
            }
        }
        let with_outages = (0..20).filter(|&seed| {
            target_schedule(&spec(seed))
                .unwrap()
                .iter()
                .any(|r| r.scope != Scope::All)
        });
        assert!(with_outages.count() > 10);
    }

    #[test]
    fn bounded_and_validated() {
        let mut s = spec(1);
        s.check_period_s = 1;
        s.duration_s = SCHEDULE_CHANGES_MAX as u64 + 1;
        let e = target_schedule(&s).unwrap_err();
        assert!(e.to_string().contains("duration_s"), "{e}");
        s.duration_s = SCHEDULE_CHANGES_MAX as u64;
        let records = target_schedule(&s).unwrap();
        assert!(records.iter().filter(|r| r.target == "t1").count() <= SCHEDULE_CHANGES_MAX);
        for (field, mut bad) in [
            ("check_period_s", spec(1)),
            ("targets", spec(1)),
            ("regions", spec(1)),
        ] {
            match field {
                "check_period_s" => bad.check_period_s = 0,
                "targets" => bad.targets.clear(),
                _ => bad.regions.push(String::new()),
            }
            assert!(
                target_schedule(&bad)
                    .unwrap_err()
                    .to_string()
                    .contains(field)
            );
        }
    }
}
