//! `/v1/suppressions` (tenant token): maintenance windows during which notifications for the
//! named entities, checks, alarms or plans are held back. A window is one-shot
//! (`start_time`..`end_time`, ms since the epoch) or recurring weekly (`recurrence`: days, local
//! start time, duration, IANA time zone).
//!
//! The targets must exist when the suppression is written, but do not pin them: deleting an
//! entity named by a suppression is allowed, and the suppression then matches nothing for it.

use axum::Router;
use meridian_raft::model::ObjectKind;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};

use super::AppState;
use super::resource::{self, Ctx, Prepared, RResult, Resource};
use crate::error::Error;
use crate::spec::fields::{bad, id_list, label, typed, typed_body};

/// Most targets of each kind in one suppression.
pub const TARGETS_MAX: usize = 100;
/// Longest one-shot window, ms (366 days).
pub const WINDOW_MAX_MS: i64 = 366 * 24 * 3600 * 1000;
/// Longest recurring window, minutes (one week).
pub const RECURRING_DURATION_MAX_MIN: u32 = 7 * 24 * 60;
/// Day names of a weekly recurrence.
pub const DAYS: [&str; 7] = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"];
/// The target fields and the kind of object each names.
pub const TARGETS: [(&str, ObjectKind); 4] = [
    ("entities", ObjectKind::Entity),
    ("checks", ObjectKind::Check),
    ("alarms", ObjectKind::Alarm),
    ("notification_plans", ObjectKind::Plan),
];

pub fn routes() -> Router<AppState> {
    resource::routes::<Suppressions>()
}

pub struct Suppressions;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct SuppressionBody {
    label: Option<String>,
    #[serde(default)]
    entities: Vec<String>,
    #[serde(default)]
    checks: Vec<String>,
    #[serde(default)]
    alarms: Vec<String>,
    #[serde(default)]
    notification_plans: Vec<String>,
    start_time: Option<i64>,
    end_time: Option<i64>,
    recurrence: Option<Value>,
}

#[derive(Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
struct Recurrence {
    days: Vec<String>,
    /// Local start time, `HH:MM`.
    start: String,
    duration_minutes: u32,
    time_zone: String,
}

impl Resource for Suppressions {
    const KIND: ObjectKind = ObjectKind::Suppression;
    const COLLECTION: &'static str = "/v1/suppressions";

    fn prepare(ctx: &Ctx<'_>, body: Map<String, Value>) -> RResult<Prepared> {
        let s: SuppressionBody = typed_body(body)?;
        let label = label(s.label.as_deref())?;
        let lists = [&s.entities, &s.checks, &s.alarms, &s.notification_plans];
        for ((field, kind), ids) in TARGETS.iter().zip(lists) {
            id_list(field, ids, TARGETS_MAX)?;
            if let Some(id) = ids
                .iter()
                .find(|id| ctx.state.object(ctx.tenant, *kind, id).is_none())
            {
                return Err(bad(format!("{field}: {} {id} does not exist", kind.as_str())).into());
            }
        }
        if lists.iter().all(|l| l.is_empty()) {
            return Err(bad(
                "entities: name at least one entity, check, alarm or notification plan".into(),
            )
            .into());
        }
        let mut body = json!({
            "label": label, "entities": s.entities, "checks": s.checks, "alarms": s.alarms,
            "notification_plans": s.notification_plans,
        });
        match (s.start_time, s.end_time, s.recurrence) {
            (None, None, Some(r)) => body["recurrence"] = recurrence(typed("recurrence", r)?)?,
            (start, end, None) => {
                let (start, end) = one_shot(start, end)?;
                body["start_time"] = json!(start);
                body["end_time"] = json!(end);
            }
            (_, _, Some(_)) => {
                return Err(bad(
                    "recurrence: give start_time/end_time or recurrence, not both".into(),
                )
                .into());
            }
        }
        Ok(Prepared {
            body,
            refs: Vec::new(),
        })
    }
}

fn one_shot(start: Option<i64>, end: Option<i64>) -> Result<(i64, i64), Error> {
    let Some(start) = start else {
        return Err(bad("start_time: is required (or give recurrence)".into()));
    };
    let Some(end) = end else {
        return Err(bad("end_time: is required".into()));
    };
    if start < 0 {
        return Err(bad("start_time: must be ms since the epoch".into()));
    }
    if end <= start {
        return Err(bad("end_time: must be after start_time".into()));
    }
    if end - start > WINDOW_MAX_MS {
        return Err(bad(format!(
            "end_time: a window lasts at most {WINDOW_MAX_MS} ms"
        )));
    }
    Ok((start, end))
}

fn recurrence(mut r: Recurrence) -> Result<Value, Error> {
    if r.days.is_empty() {
        return Err(bad("recurrence.days: name at least one day".into()));
    }
    for d in &mut r.days {
        *d = d.to_ascii_lowercase();
        if !DAYS.contains(&d.as_str()) {
            return Err(bad(format!(
                "recurrence.days: {d:?} is not one of {}",
                DAYS.join(", ")
            )));
        }
    }
    id_list("recurrence.days", &r.days, DAYS.len())?;
    let hm = r
        .start
        .split_once(':')
        .and_then(|(h, m)| Some((h.parse::<u8>().ok()?, m.parse::<u8>().ok()?)));
    if r.start.len() != 5 || !hm.is_some_and(|(h, m)| h < 24 && m < 60) {
        return Err(bad(format!(
            "recurrence.start: {:?} is not a time HH:MM",
            r.start
        )));
    }
    if !(1..=RECURRING_DURATION_MAX_MIN).contains(&r.duration_minutes) {
        return Err(bad(format!(
            "recurrence.duration_minutes: must be 1..={RECURRING_DURATION_MAX_MIN}"
        )));
    }
    if r.time_zone.parse::<chrono_tz::Tz>().is_err() {
        return Err(bad(format!(
            "recurrence.time_zone: {:?} is not an IANA time zone",
            r.time_zone
        )));
    }
    serde_json::to_value(r).map_err(|e| Error::Internal(e.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rec(v: Value) -> Result<Value, Error> {
        recurrence(typed("recurrence", v)?)
    }

    #[test]
    fn recurring_windows() {
        let ok = json!({"days": ["Mon", "fri"], "start": "22:30", "duration_minutes": 90, "time_zone": "Europe/Paris"});
        assert_eq!(rec(ok).expect("valid")["days"], json!(["mon", "fri"]));
        let base =
            json!({"days": ["mon"], "start": "01:00", "duration_minutes": 60, "time_zone": "UTC"});
        let cases = [
            ("days", json!(["someday"]), "recurrence.days"),
            ("days", json!([]), "recurrence.days"),
            ("start", json!("25:00"), "recurrence.start"),
            ("start", json!("1:00"), "recurrence.start"),
            ("duration_minutes", json!(0), "recurrence.duration_minutes"),
            ("time_zone", json!("Mars/Olympus"), "recurrence.time_zone"),
        ];
        for (k, v, field) in cases {
            let mut r = base.clone();
            r[k] = v;
            let e = rec(r).expect_err(field);
            assert!(e.to_string().starts_with(field), "{e}");
        }
    }

    #[test]
    fn one_shot_windows() {
        assert_eq!(one_shot(Some(1), Some(2)).expect("ok"), (1, 2));
        assert!(
            one_shot(Some(2), Some(2))
                .expect_err("empty")
                .to_string()
                .starts_with("end_time")
        );
        assert!(
            one_shot(None, Some(2))
                .expect_err("none")
                .to_string()
                .starts_with("start_time")
        );
        assert!(one_shot(Some(0), Some(WINDOW_MAX_MS + 1)).is_err());
    }
}
