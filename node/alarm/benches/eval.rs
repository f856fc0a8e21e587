//! Evaluations per second of one alarm on one core: a 3-zone QUORUM criteria alarm (the spec's
//! example criteria, consecutiveCount 2) and a threshold alarm (p90, 3 of 5), each step feeding
//! one observation and evaluating. Bounded in count and in time. `cargo bench -p meridian-alarm`.

use std::collections::{BTreeMap, BTreeSet};
use std::hint::black_box;
use std::time::{Duration, Instant};

use meridian_alarm::{
    AlarmEvaluator, AlarmSpec, Committed, Comparison, MetricValue, MissingData, Observation, Rule,
    State, Statistic, ThresholdSpec, ZoneObservation,
};

/// Most evaluations per run.
const STEPS_MAX: u64 = 2_000_000;
/// Longest run.
const RUN_MAX: Duration = Duration::from_secs(3);

const CRITERIA: &str = ":set consecutiveCount=2
if (metric['code'] != '200') { return new AlarmStatus(CRITICAL, 'HTTP #{code}'); }
if (metric['duration'] > 2000) { return new AlarmStatus(WARNING, 'slow: #{duration} ms'); }
return new AlarmStatus(OK);";

fn zones() -> Vec<String> {
    ["mzord", "mzlon", "mzsyd"].map(String::from).to_vec()
}

fn observation(step: u64) -> ZoneObservation {
    let zone = zones()[(step % 3) as usize].clone();
    let slow = (step / 30).is_multiple_of(4);
    let duration = if slow {
        2500.0
    } else {
        120.0 + (step % 17) as f64
    };
    let metrics = BTreeMap::from([
        ("code".to_string(), MetricValue::Text("200".into())),
        ("duration".to_string(), MetricValue::Number(duration)),
    ]);
    ZoneObservation {
        zone,
        node_id: 1,
        observation: Observation {
            timestamp_ms: 1_000 * step as i64,
            available: true,
            status: "code=200".into(),
            metrics,
        },
    }
}

fn run(name: &str, spec: AlarmSpec) {
    let mut ev = AlarmEvaluator::new(spec, Committed::initial()).expect("valid spec");
    let up: BTreeSet<String> = zones().into_iter().collect();
    let observations: Vec<ZoneObservation> = (0..3_000).map(observation).collect();
    let start = Instant::now();
    let mut steps = 0u64;
    let mut transitions = 0u64;
    while steps < STEPS_MAX && start.elapsed() < RUN_MAX {
        for _ in 0..1_000 {
            let mut o = observations[(steps % 3_000) as usize].clone();
            o.observation.timestamp_ms = 1_000 * steps as i64;
            ev.observe(o).expect("accepted");
            let d = ev.evaluate(1_000 * steps as i64 + 500, &up);
            if let Some(t) = black_box(d).proposal {
                transitions += 1;
                ev.on_committed(Committed {
                    seq: t.seq,
                    state: t.to,
                });
            }
            steps += 1;
        }
    }
    let secs = start.elapsed().as_secs_f64();
    println!(
        "{name}: {steps} observe+evaluate steps in {secs:.2} s = {:.0} evaluations/s \
         ({transitions} transitions)",
        steps as f64 / secs
    );
}

fn main() {
    let criteria = meridian_criteria::parse(CRITERIA).expect("bench criteria parse");
    run(
        "criteria, 3 zones, QUORUM",
        AlarmSpec {
            period_ms: 3_000,
            zones: zones(),
            rule: Rule::Criteria {
                criteria: Some(criteria),
                consecutive_count: 2,
            },
        },
    );
    run(
        "threshold, p90 3 of 5",
        AlarmSpec {
            period_ms: 3_000,
            zones: zones(),
            rule: Rule::Threshold(ThresholdSpec {
                metric: "duration".into(),
                statistic: Statistic::P90,
                period_ms: 3_000,
                comparison: Comparison::Greater,
                threshold: 2_000.0,
                evaluation_periods: 5,
                datapoints_to_alarm: 3,
                treat_missing_data: MissingData::Missing,
                state: State::Warning,
            }),
        },
    );
}
