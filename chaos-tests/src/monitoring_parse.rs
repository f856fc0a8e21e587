//! Reads monitoring histories: JSON lines to typed records, with errors naming the line and
//! the field, and the ordering rules (run first, alarms before timed records, time order).

use std::collections::HashSet;

use serde_json::{Map, Value};

use crate::monitoring_history::{
    AlarmRecord, AlarmState, Delivery, FaultMark, FaultPhase, Health, HistoryError, Level,
    MonitoringHistory, Record, RunRecord, Scope, TargetChange, Transition, err,
};
use crate::nemesis::FaultClass;

/// Parses the text of a history file. Blank lines are skipped; line numbers count them.
pub fn parse(text: &str) -> Result<MonitoringHistory, HistoryError> {
    let mut records = Vec::new();
    for (i, line) in text.lines().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        records.push((i + 1, parse_line(i + 1, line)?));
    }
    assemble(records)
}

/// Builds a history from records with their line numbers, enforcing the ordering rules.
pub fn assemble(records: Vec<(usize, Record)>) -> Result<MonitoringHistory, HistoryError> {
    let mut iter = records.into_iter();
    let run = match iter.next() {
        Some((_, Record::Run(run))) => run,
        Some((line, _)) => return Err(err(line, "type", "the first record must be \"run\"")),
        None => return Err(err(0, "type", "empty history: no \"run\" record")),
    };
    let mut h = MonitoringHistory {
        run,
        alarms: Vec::new(),
        targets: Vec::new(),
        transitions: Vec::new(),
        deliveries: Vec::new(),
        faults: Vec::new(),
        start_ns: 0,
        end_ns: 0,
    };
    let mut order = Order::default();
    for (line, record) in iter {
        order.admit(line, &record)?;
        match record {
            Record::Run(_) => return Err(err(line, "type", "a second \"run\" record")),
            Record::Alarm(r) => h.alarms.push(r),
            Record::Target(r) => h.targets.push(r),
            Record::Transition(r) => h.transitions.push(r),
            Record::Delivery(r) => h.deliveries.push(r),
            Record::Fault(r) => h.faults.push(r),
        }
    }
    (h.start_ns, h.end_ns) = (order.first_ns.unwrap_or(0), order.last_ns.unwrap_or(0));
    Ok(h)
}

/// Ordering and reference rules checked while records are admitted one by one.
#[derive(Default)]
struct Order {
    first_ns: Option<u64>,
    last_ns: Option<u64>,
    alarms: HashSet<String>,
    targets: HashSet<String>,
    open_faults: HashSet<u64>,
    seen_faults: HashSet<u64>,
}

impl Order {
    fn admit(&mut self, line: usize, r: &Record) -> Result<(), HistoryError> {
        if let Some(t) = r.time_ns() {
            if self.last_ns.is_some_and(|last| t < last) {
                return Err(err(
                    line,
                    "time_ns",
                    "goes backwards: records must be in time order",
                ));
            }
            self.first_ns.get_or_insert(t);
            self.last_ns = Some(t);
        }
        match r {
            Record::Run(_) => {}
            Record::Alarm(a) => {
                if self.last_ns.is_some() {
                    return Err(err(
                        line,
                        "type",
                        "alarm records must precede timed records",
                    ));
                }
                if !self.alarms.insert(a.alarm.clone()) {
                    return Err(err(
                        line,
                        "alarm",
                        format!("alarm {:?} declared twice", a.alarm),
                    ));
                }
                self.targets.insert(a.target.clone());
            }
            Record::Target(t) if !self.targets.contains(&t.target) => {
                return Err(err(
                    line,
                    "target",
                    format!("no alarm watches {:?}", t.target),
                ));
            }
            Record::Target(_) => {}
            Record::Transition(t) => self.known_alarm(line, &t.alarm)?,
            Record::Delivery(d) => self.known_alarm(line, &d.alarm)?,
            Record::Fault(f) => self.fault(line, f)?,
        }
        Ok(())
    }

    fn known_alarm(&self, line: usize, alarm: &str) -> Result<(), HistoryError> {
        if self.alarms.contains(alarm) {
            Ok(())
        } else {
            Err(err(
                line,
                "alarm",
                format!("alarm {alarm:?} was not declared"),
            ))
        }
    }

    fn fault(&mut self, line: usize, f: &FaultMark) -> Result<(), HistoryError> {
        match f.phase {
            FaultPhase::Start if !self.seen_faults.insert(f.id) => {
                Err(err(line, "id", format!("fault {} started twice", f.id)))
            }
            FaultPhase::Start => {
                self.open_faults.insert(f.id);
                Ok(())
            }
            FaultPhase::Heal if !self.open_faults.remove(&f.id) => Err(err(
                line,
                "id",
                format!("fault {} healed but not started", f.id),
            )),
            FaultPhase::Heal => Ok(()),
        }
    }
}

/// Parses one non-blank line.
pub fn parse_line(line: usize, text: &str) -> Result<Record, HistoryError> {
    let value: Value =
        serde_json::from_str(text).map_err(|e| err(line, "(line)", format!("not JSON: {e}")))?;
    let Value::Object(obj) = value else {
        return Err(err(line, "(line)", "not a JSON object"));
    };
    let f = Fields { line, obj: &obj };
    Ok(match f.str("type")? {
        "run" => Record::Run(RunRecord {
            check_period_s: f.positive("check_period_s")?,
            detect_within_s: f.positive("detect_within_s")?,
        }),
        "alarm" => Record::Alarm(AlarmRecord {
            alarm: f.name("alarm")?,
            target: f.name("target")?,
            level: match f.str("level")? {
                "QUORUM" => Level::Quorum,
                "ALL" => Level::All,
                other => return Err(f.bad("level", format!("{other:?} is not QUORUM or ALL"))),
            },
        }),
        "target" => Record::Target(TargetChange {
            target: f.name("target")?,
            state: match f.str("state")? {
                "up" => Health::Up,
                "down" => Health::Down,
                other => return Err(f.bad("state", format!("{other:?} is not up or down"))),
            },
            scope: f.scope()?,
            time_ns: f.u64("time_ns")?,
        }),
        "transition" => Record::Transition(Transition {
            alarm: f.name("alarm")?,
            seq: f.seq()?,
            state: f.state()?,
            time_ns: f.u64("time_ns")?,
        }),
        "delivery" => Record::Delivery(Delivery {
            event_id: f.name("event_id")?,
            alarm: f.name("alarm")?,
            seq: f.seq()?,
            state: f.state()?,
            signature_ok: f.bool("signature_ok")?,
            time_ns: f.u64("time_ns")?,
        }),
        "fault" => Record::Fault(f.fault()?),
        other => return Err(f.bad("type", format!("unknown record type {other:?}"))),
    })
}

/// Typed access to the fields of one record, with errors naming the field.
struct Fields<'a> {
    line: usize,
    obj: &'a Map<String, Value>,
}

impl Fields<'_> {
    fn bad(&self, field: &str, reason: impl Into<String>) -> HistoryError {
        err(self.line, field, reason)
    }

    fn get(&self, field: &str) -> Result<&Value, HistoryError> {
        self.obj
            .get(field)
            .ok_or_else(|| self.bad(field, "missing"))
    }

    fn str(&self, field: &str) -> Result<&str, HistoryError> {
        self.get(field)?
            .as_str()
            .ok_or_else(|| self.bad(field, "expected a string"))
    }

    fn name(&self, field: &str) -> Result<String, HistoryError> {
        let s = self.str(field)?;
        if s.is_empty() {
            return Err(self.bad(field, "empty"));
        }
        Ok(s.to_string())
    }

    fn u64(&self, field: &str) -> Result<u64, HistoryError> {
        self.get(field)?
            .as_u64()
            .ok_or_else(|| self.bad(field, "expected a non-negative integer"))
    }

    fn bool(&self, field: &str) -> Result<bool, HistoryError> {
        self.get(field)?
            .as_bool()
            .ok_or_else(|| self.bad(field, "expected true or false"))
    }

    fn positive(&self, field: &str) -> Result<f64, HistoryError> {
        match self.get(field)?.as_f64() {
            Some(x) if x.is_finite() && x > 0.0 && x < 1e9 => Ok(x),
            _ => Err(self.bad(field, "expected a positive number of seconds")),
        }
    }

    fn seq(&self) -> Result<u64, HistoryError> {
        match self.u64("seq")? {
            0 => Err(self.bad("seq", "sequences start at 1")),
            n => Ok(n),
        }
    }

    fn state(&self) -> Result<AlarmState, HistoryError> {
        let s = self.str("state")?;
        AlarmState::parse(s).ok_or_else(|| {
            self.bad(
                "state",
                format!("{s:?} is not OK, WARNING, CRITICAL or UNKNOWN"),
            )
        })
    }

    fn scope(&self) -> Result<Scope, HistoryError> {
        match self.str("scope")? {
            "all" => Ok(Scope::All),
            s => match s.strip_prefix("region:") {
                Some(name) if !name.is_empty() => Ok(Scope::Region(name.to_string())),
                _ => Err(self.bad(
                    "scope",
                    format!("{s:?} is not \"all\" or \"region:<name>\""),
                )),
            },
        }
    }

    fn fault(&self) -> Result<FaultMark, HistoryError> {
        let class_name = self.str("class")?;
        let class = FaultClass::ALL
            .into_iter()
            .find(|c| c.name() == class_name)
            .ok_or_else(|| self.bad("class", format!("unknown fault class {class_name:?}")))?;
        let phase = match self.str("phase")? {
            "start" => FaultPhase::Start,
            "heal" => FaultPhase::Heal,
            other => return Err(self.bad("phase", format!("{other:?} is not start or heal"))),
        };
        let nodes = match self.obj.get("nodes") {
            None => Vec::new(),
            Some(Value::Array(items)) => items
                .iter()
                .map(|v| v.as_str().map(str::to_string))
                .collect::<Option<Vec<_>>>()
                .ok_or_else(|| self.bad("nodes", "expected a list of node names"))?,
            Some(_) => return Err(self.bad("nodes", "expected a list of node names")),
        };
        Ok(FaultMark {
            id: self.u64("id")?,
            class,
            phase,
            nodes,
            time_ns: self.u64("time_ns")?,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::monitoring_history::*;

    const HEAD: &str = concat!(
        r#"{"type":"run","check_period_s":2,"detect_within_s":20}"#,
        "\n",
        r#"{"type":"alarm","alarm":"al1","target":"t1","level":"QUORUM"}"#,
        "\n"
    );

    fn with(lines: &str) -> Result<MonitoringHistory, HistoryError> {
        parse(&format!("{HEAD}{lines}"))
    }

    #[test]
    fn parses_every_record_type_and_round_trips() {
        let body = concat!(
            r#"{"type":"target","target":"t1","state":"down","scope":"region:r2","time_ns":5}"#,
            "\n\n",
            r#"{"type":"fault","id":1,"class":"kill","phase":"start","nodes":["n2"],"time_ns":6}"#,
            "\n",
            r#"{"type":"transition","alarm":"al1","seq":1,"state":"OK","time_ns":7}"#,
            "\n",
            r#"{"type":"delivery","event_id":"e","alarm":"al1","seq":1,"state":"OK","signature_ok":true,"time_ns":8}"#,
            "\n",
            r#"{"type":"fault","id":1,"class":"kill","phase":"heal","nodes":["n2"],"time_ns":9}"#,
        );
        let h = with(body).unwrap();
        assert_eq!(h.targets[0].scope, Scope::Region("r2".into()));
        assert!(h.faults[0].is_failover() && !h.faults[1].is_failover());
        assert_eq!((h.start_ns, h.end_ns), (5, 9));
        assert_eq!(h.settle_ns(), 6_000_000_000);
        let text: Vec<String> = HEAD
            .lines()
            .chain(body.lines())
            .filter(|l| !l.is_empty())
            .enumerate()
            .map(|(i, l)| parse_line(i + 1, l).unwrap().to_line())
            .collect();
        assert_eq!(parse(&text.join("\n")).unwrap(), h);
    }

    #[test]
    fn errors_name_line_and_field() {
        let cases = [
            (
                r#"{"type":"transition","alarm":"al1","seq":0,"state":"OK","time_ns":1}"#,
                "seq",
            ),
            (
                r#"{"type":"transition","alarm":"al1","seq":1,"state":"ok","time_ns":1}"#,
                "state",
            ),
            (
                r#"{"type":"transition","alarm":"x","seq":1,"state":"OK","time_ns":1}"#,
                "alarm",
            ),
            (
                r#"{"type":"target","target":"t1","state":"up","scope":"region:","time_ns":1}"#,
                "scope",
            ),
            (
                r#"{"type":"target","target":"t9","state":"up","scope":"all","time_ns":1}"#,
                "target",
            ),
            (
                r#"{"type":"delivery","event_id":"e","alarm":"al1","seq":1,"state":"OK","time_ns":1}"#,
                "signature_ok",
            ),
            (
                r#"{"type":"fault","id":1,"class":"flood","phase":"start","time_ns":1}"#,
                "class",
            ),
            (
                r#"{"type":"fault","id":1,"class":"kill","phase":"heal","time_ns":1}"#,
                "id",
            ),
            (
                r#"{"type":"alarm","alarm":"al1","target":"t1","level":"QUORUM"}"#,
                "alarm",
            ),
            (r#"{"type":"bogus"}"#, "type"),
            (r#"[1]"#, "(line)"),
        ];
        for (line, field) in cases {
            let e = with(line).unwrap_err();
            assert_eq!((e.line, e.field.as_str()), (3, field), "{line}: {e}");
        }
    }

    #[test]
    fn order_rules() {
        let back = concat!(
            r#"{"type":"target","target":"t1","state":"down","scope":"all","time_ns":5}"#,
            "\n",
            r#"{"type":"target","target":"t1","state":"up","scope":"all","time_ns":4}"#,
        );
        assert_eq!(with(back).unwrap_err().field, "time_ns");
        let late_alarm = concat!(
            r#"{"type":"target","target":"t1","state":"down","scope":"all","time_ns":5}"#,
            "\n",
            r#"{"type":"alarm","alarm":"al2","target":"t1","level":"ALL"}"#,
        );
        assert_eq!(with(late_alarm).unwrap_err().line, 4);
        let e = parse(r#"{"type":"alarm","alarm":"al1","target":"t1","level":"ALL"}"#);
        assert_eq!(e.unwrap_err().field, "type");
        let e = parse(r#"{"type":"run","check_period_s":0,"detect_within_s":20}"#);
        assert_eq!(e.unwrap_err().field, "check_period_s");
        assert_eq!(parse("\n").unwrap_err().line, 0);
    }

    proptest::proptest! {
        /// Arbitrary text, and valid lines with one character replaced, are either parsed or
        /// refused with an error naming a line: never a panic.
        #[test]
        fn arbitrary_input_never_panics(
            text in "[ -~\\n]{0,300}",
            at in 0usize..400,
            replacement in proptest::char::any(),
        ) {
            let _ = parse(&text);
            let valid = format!(
                "{HEAD}{}",
                r#"{"type":"delivery","event_id":"e","alarm":"al1","seq":1,"state":"OK","signature_ok":true,"time_ns":8}"#
            );
            let mut chars: Vec<char> = valid.chars().collect();
            let i = at % chars.len();
            chars[i] = replacement;
            let mutated: String = chars.into_iter().collect();
            if let Err(e) = parse(&mutated) {
                proptest::prop_assert!(e.line <= 4, "{e}");
            }
        }
    }
}
