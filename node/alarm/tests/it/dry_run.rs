//! The test-alarm dry run: per-observation zone states and the combined state.

use meridian_alarm::{DRY_RUN_OBSERVATIONS_MAX, MissingData, State, Statistic, dry_run};

use crate::support::{criteria_spec, obs};
use crate::threshold::threshold_spec;

#[test]
fn criteria_dry_run_gives_each_observation_and_the_quorum() {
    let spec = criteria_spec("QUORUM", 1, 3, 60_000);
    let data = vec![
        obs("z2", 3_000, 0.0, true),
        obs("z0", 1_000, 2.0, true),
        obs("z1", 2_000, 5.0, false),
    ];
    let run = dry_run(&spec, data).expect("valid");
    let got: Vec<(&str, State, i64)> = run
        .values
        .iter()
        .map(|v| (v.zone.as_str(), v.state, v.timestamp_ms))
        .collect();
    assert_eq!(
        got,
        [
            ("z0", State::Critical, 1_000),
            ("z1", State::Critical, 2_000),
            ("z2", State::Ok, 3_000)
        ]
    );
    assert_eq!(run.values[0].status, "v=2");
    assert_eq!(run.values[1].status, "connection refused");
    assert_eq!(run.state, State::Critical, "two of three zones");
    let one = dry_run(&spec, vec![obs("z0", 1, 1.0, true)]).expect("valid");
    assert_eq!(one.state, State::Unknown, "one zone of three is no quorum");
    assert_eq!(
        dry_run(&spec, Vec::new()).expect("valid").state,
        State::Unknown
    );
}

#[test]
fn threshold_dry_run_judges_values_and_the_range() {
    let spec = threshold_spec(2, 2, MissingData::Missing, Statistic::Average);
    let data = vec![
        obs("z0", 1_000, 9.0, true),
        obs("z1", 1_500, 3.0, true),
        obs("z0", 2_200, 6.0, true),
        obs("z1", 2_300, 0.0, false),
    ];
    let run = dry_run(&spec, data).expect("valid");
    let states: Vec<State> = run.values.iter().map(|v| v.state).collect();
    assert_eq!(
        states,
        [State::Warning, State::Ok, State::Warning, State::Unknown]
    );
    assert_eq!(run.values[0].status, "v >= 5: 9 breaches");
    // Bucket 1 averages 6, bucket 2 averages 6: 2 of 2 breach.
    assert_eq!(run.state, State::Warning);
}

#[test]
fn dry_runs_are_bounded() {
    let spec = criteria_spec("ONE", 1, 1, 1000);
    let data: Vec<_> = (0..=DRY_RUN_OBSERVATIONS_MAX as i64)
        .map(|t| obs("z0", t, 0.0, true))
        .collect();
    let err = dry_run(&spec, data.clone()).expect_err("one too many");
    assert!(err.to_string().starts_with("check_data: "), "{err}");
    let run = dry_run(&spec, data[1..].to_vec()).expect("at the limit");
    assert_eq!(
        (run.values.len(), run.state),
        (DRY_RUN_OBSERVATIONS_MAX, State::Ok)
    );
}
