//! The promises of spec/alarms.md as explicit stories: no reset on failover, silent regions do
//! not raise alarms, re-checks, refusals naming the field.

use std::collections::BTreeSet;

use meridian_alarm::{
    AlarmError, AlarmEvaluator, AlarmSpec, Committed, MissingData, Rule, State, Statistic,
    ZONE_WINDOW_MAX, ZONES_MAX,
};

use crate::support::{all_up, criteria_spec, obs, zones};
use crate::threshold::threshold_spec;

fn critical_at_seven() -> Committed {
    Committed {
        seq: 7,
        state: State::Critical,
    }
}

#[test]
fn a_new_evaluator_resumes_and_never_resets() {
    for level in ["ONE", "QUORUM", "ALL"] {
        let spec = criteria_spec(level, 2, 3, 1000);
        let mut ev = AlarmEvaluator::new(spec, critical_at_seven()).expect("valid");
        let d = ev.evaluate(10_000, &all_up(3));
        assert_eq!(d.state, State::Critical, "{level}");
        assert!(
            d.proposal.is_none(),
            "{level}: first sight proposes nothing"
        );
        // One OK observation per zone is not enough with consecutiveCount=2.
        for (i, z) in zones(3).iter().enumerate() {
            ev.observe(obs(z, 10_100 + i as i64, 0.0, true))
                .expect("accepted");
        }
        assert!(
            ev.evaluate(10_200, &all_up(3)).proposal.is_none(),
            "{level}"
        );
        for (i, z) in zones(3).iter().enumerate() {
            ev.observe(obs(z, 11_100 + i as i64, 0.0, true))
                .expect("accepted");
        }
        let d = ev.evaluate(11_200, &all_up(3));
        let t = d.proposal.expect("fresh observations justify OK");
        assert_eq!(
            (t.from, t.to, t.seq),
            (State::Critical, State::Ok, 8),
            "{level}"
        );
        assert_eq!(t.zone_states.len(), 3);
        assert!(t.message.starts_with("z2: v=0"), "{}", t.message);
    }
}

#[test]
fn threshold_alarms_resume_without_reset_until_they_have_watched_a_range() {
    for mode in MissingData::ALL {
        let spec = threshold_spec(3, 3, mode, Statistic::Average);
        let mut ev = AlarmEvaluator::new(spec, critical_at_seven()).expect("valid");
        // Nothing seen yet: no UNKNOWN (missing), no OK (notBreaching), no reset of any kind.
        for now in [100_000, 101_000, 103_500] {
            let d = ev.evaluate(now, &BTreeSet::new());
            assert!(d.proposal.is_none(), "{mode:?} at {now}: {:?}", d.proposal);
        }
        // After a whole range (5 periods) without data, the mode applies.
        let d = ev.evaluate(106_000, &BTreeSet::new());
        let want = match mode {
            MissingData::Missing => Some(State::Unknown),
            MissingData::Ignore => None,
            MissingData::Breaching => Some(State::Warning),
            MissingData::NotBreaching => Some(State::Ok),
        };
        assert_eq!(d.proposal.map(|t| t.to), want, "{mode:?}");
    }
}

#[test]
fn threshold_alarms_decide_at_once_on_n_real_points() {
    let spec = threshold_spec(3, 2, MissingData::Missing, Statistic::Max);
    let mut ev = AlarmEvaluator::new(spec, Committed::initial()).expect("valid");
    // Observations primed from before the evaluator started count as real points.
    for (ts, v) in [(1_000, 9.0), (2_000, 1.0), (3_100, 7.0), (3_200, 2.0)] {
        ev.observe(obs("z1", ts, v, true)).expect("accepted");
    }
    let d = ev.evaluate(4_000, &BTreeSet::new());
    let t = d.proposal.expect("2 of 3 breach");
    assert_eq!((t.from, t.to, t.seq), (State::Unknown, State::Warning, 1));
    assert_eq!(t.message, "max(v) >= 5 in 2 of 3 periods with data");
}

#[test]
fn a_region_that_went_silent_raises_nothing() {
    let spec = criteria_spec("QUORUM", 1, 3, 1000);
    let mut ev = AlarmEvaluator::new(
        spec,
        Committed {
            seq: 2,
            state: State::Ok,
        },
    )
    .expect("ok");
    // z0 sees CRITICAL, the others last spoke long ago (stale) and OK.
    ev.observe(obs("z1", 0, 0.0, true)).expect("accepted");
    ev.observe(obs("z2", 0, 0.0, true)).expect("accepted");
    ev.observe(obs("z0", 5_000, 5.0, true)).expect("accepted");
    let d = ev.evaluate(5_100, &all_up(3));
    assert_eq!(d.state, State::Ok);
    assert!(!d.zone_states["z1"].voting && d.zone_states["z0"].voting);
    // Freshness bound: younger than 1.5 x 1 x 1000 ms votes, exactly 1500 does not.
    ev.observe(obs("z1", 4_000, 3.0, true)).expect("accepted");
    assert_eq!(ev.evaluate(5_499, &all_up(3)).state, State::Critical);
    assert_eq!(
        ev.evaluate(5_500, &all_up(3)).state,
        State::Ok,
        "z1 stale at 1500 ms"
    );
    // A zone whose nodes are all down does not vote either.
    ev.observe(obs("z1", 5_600, 3.0, true)).expect("accepted");
    let up: BTreeSet<String> = ["z0".to_string(), "z2".to_string()].into();
    assert_eq!(ev.evaluate(5_700, &up).state, State::Ok);
    assert_eq!(ev.evaluate(5_700, &all_up(3)).state, State::Critical);
}

#[test]
fn a_zone_starting_to_disagree_asks_the_others_once_per_period() {
    let spec = criteria_spec("QUORUM", 3, 3, 1000);
    let mut ev = AlarmEvaluator::new(
        spec,
        Committed {
            seq: 1,
            state: State::Ok,
        },
    )
    .expect("ok");
    ev.observe(obs("z0", 100, 0.0, true)).expect("accepted");
    assert!(ev.evaluate(150, &all_up(3)).recheck.is_empty(), "agreeing");
    ev.observe(obs("z0", 200, 0.0, false)).expect("accepted");
    let up: BTreeSet<String> = ["z0".to_string(), "z2".to_string()].into();
    assert_eq!(ev.evaluate(250, &up).recheck, ["z2"], "others that are up");
    ev.observe(obs("z0", 300, 0.0, false)).expect("accepted");
    assert!(
        ev.evaluate(350, &all_up(3)).recheck.is_empty(),
        "once per period"
    );
    ev.observe(obs("z0", 1_300, 0.0, false)).expect("accepted");
    assert_eq!(ev.evaluate(1_350, &all_up(3)).recheck, ["z1", "z2"]);
    // z0 has now settled on CRITICAL: no longer starting to disagree.
    ev.observe(obs("z0", 2_400, 0.0, false)).expect("accepted");
    assert!(ev.evaluate(2_450, &all_up(3)).recheck.is_empty());
}

/// A change that makes a threshold spec invalid.
type Spoil = Box<dyn Fn(&mut meridian_alarm::ThresholdSpec)>;

#[test]
fn refusals_name_the_field() {
    let mut ev =
        AlarmEvaluator::new(criteria_spec("ONE", 1, 2, 1000), Committed::initial()).expect("valid");
    let err = ev
        .observe(obs("mzxyz", 1, 0.0, true))
        .expect_err("unknown zone");
    assert!(matches!(err, AlarmError::UnknownZone { .. }));
    assert!(err.to_string().starts_with("zone: "), "{err}");
    ev.observe(obs("z0", 10, 0.0, true)).expect("accepted");
    let err = ev.observe(obs("z0", 10, 0.0, true)).expect_err("repeat");
    assert!(err.to_string().starts_with("timestamp_ms: "), "{err}");

    let mut bad = criteria_spec("ONE", 1, 2, 1000);
    bad.zones = zones(ZONES_MAX + 1);
    let cases: Vec<(AlarmSpec, &str)> = vec![
        (
            AlarmSpec {
                period_ms: 0,
                ..criteria_spec("ONE", 1, 2, 1000)
            },
            "period_ms: ",
        ),
        (bad, "zones: "),
        (
            AlarmSpec {
                zones: vec!["a".into(), "a".into()],
                ..criteria_spec("ONE", 1, 2, 1000)
            },
            "zones: ",
        ),
        (
            AlarmSpec {
                rule: Rule::Criteria {
                    criteria: None,
                    consecutive_count: ZONE_WINDOW_MAX as u8 + 1,
                },
                ..criteria_spec("ONE", 1, 2, 1000)
            },
            "consecutive_count: ",
        ),
    ];
    for (spec, field) in cases {
        let err = AlarmEvaluator::new(spec, Committed::initial()).expect_err(field);
        assert!(err.to_string().starts_with(field), "{err}");
    }
    let threshold_cases: Vec<(Spoil, &str)> = vec![
        (Box::new(|t| t.metric.clear()), "threshold.metric: "),
        (Box::new(|t| t.period_ms = -5), "threshold.period: "),
        (
            Box::new(|t| t.threshold = f64::NAN),
            "threshold.threshold: ",
        ),
        (
            Box::new(|t| t.evaluation_periods = 101),
            "threshold.evaluation_periods: ",
        ),
        (
            Box::new(|t| t.datapoints_to_alarm = 4),
            "threshold.datapoints_to_alarm: ",
        ),
        (Box::new(|t| t.state = State::Ok), "threshold.state: "),
    ];
    for (spoil, field) in threshold_cases {
        let mut spec = threshold_spec(3, 3, MissingData::Missing, Statistic::Sum);
        let Rule::Threshold(t) = &mut spec.rule else {
            unreachable!()
        };
        spoil(t);
        let err = AlarmEvaluator::new(spec, Committed::initial()).expect_err(field);
        assert!(err.to_string().starts_with(field), "{err}");
    }
}

#[test]
fn an_older_commit_does_not_move_the_evaluator_back() {
    let mut ev =
        AlarmEvaluator::new(criteria_spec("ONE", 1, 1, 1000), critical_at_seven()).expect("ok");
    ev.on_committed(Committed {
        seq: 5,
        state: State::Ok,
    });
    assert_eq!(ev.committed(), critical_at_seven());
    ev.on_committed(Committed {
        seq: 8,
        state: State::Warning,
    });
    assert_eq!(ev.committed().seq, 8);
    ev.observe(obs("z0", 1, 0.0, true)).expect("accepted");
    let t = ev.evaluate(2, &all_up(1)).proposal.expect("OK differs");
    assert_eq!((t.from, t.to, t.seq), (State::Warning, State::Ok, 9));
}
