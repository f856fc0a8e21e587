//! The notifications a committed transition makes out, by the alarm's plan, with stable event ids.

use serde::{Deserialize, Serialize};

use crate::error::{AlarmError, Result};
use crate::state::State;

/// Most notifications a plan names for one state (the API's limit).
pub const PLAN_NOTIFICATIONS_MAX: usize = 20;

/// A notification plan: the notifications for each state.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct Plan {
    /// Notification ids for CRITICAL.
    pub critical_state: Vec<String>,
    /// Notification ids for WARNING.
    pub warning_state: Vec<String>,
    /// Notification ids for OK.
    pub ok_state: Vec<String>,
}

impl Plan {
    /// The notifications for `state`; none for `Unknown`, which a plan cannot name.
    pub fn for_state(&self, state: State) -> &[String] {
        match state {
            State::Critical => &self.critical_state,
            State::Warning => &self.warning_state,
            State::Ok => &self.ok_state,
            State::Unknown => &[],
        }
    }

    /// Checks the list lengths; the error names the first list too long.
    pub fn validate(&self) -> Result<()> {
        let lists = [
            ("critical_state", &self.critical_state),
            ("warning_state", &self.warning_state),
            ("ok_state", &self.ok_state),
        ];
        for (field, list) in lists {
            if list.len() > PLAN_NOTIFICATIONS_MAX {
                let message = format!("at most {PLAN_NOTIFICATIONS_MAX} notifications");
                return Err(AlarmError::invalid(field, message));
            }
        }
        Ok(())
    }
}

/// Which alarm a transition belongs to, for event ids.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AlarmRef {
    /// Tenant id.
    pub tenant: String,
    /// Entity id.
    pub entity: String,
    /// Alarm id.
    pub alarm: String,
    /// Check id.
    pub check: String,
}

/// One (transition, notification) to deliver at least once.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Delivery {
    /// `<tenant>:<entity>:<alarm>:<check>:<seq>:<STATE>`, the same on every retry and failover.
    pub event_id: String,
    /// The notification to send through.
    pub notification_id: String,
    /// The transition's new state.
    pub state: State,
    /// A suppression matched: record it as `suppressed`, do not send.
    pub suppressed: bool,
}

/// The event id of transition `seq` to `state` of `alarm`.
pub fn event_id(alarm: &AlarmRef, seq: u64, state: State) -> String {
    let AlarmRef {
        tenant,
        entity,
        alarm,
        check,
    } = alarm;
    format!("{tenant}:{entity}:{alarm}:{check}:{seq}:{state}")
}

/// The deliveries for committed transition `seq` to `state`: one per notification the plan names
/// for `state` (each once, in plan order), all marked `suppressed` when a suppression matched.
pub fn deliveries(
    alarm: &AlarmRef,
    seq: u64,
    state: State,
    plan: &Plan,
    suppressed: bool,
) -> Result<Vec<Delivery>> {
    plan.validate()?;
    let event_id = event_id(alarm, seq, state);
    let mut out: Vec<Delivery> = Vec::new();
    for notification_id in plan.for_state(state) {
        if out.iter().any(|d| d.notification_id == *notification_id) {
            continue;
        }
        out.push(Delivery {
            event_id: event_id.clone(),
            notification_id: notification_id.clone(),
            state,
            suppressed,
        });
    }
    Ok(out)
}

/// Whether a suppression that just ended owes one notification for the `current` state: when it
/// differs from the last state notified (`None`: nothing notified yet, as if `Unknown`).
pub fn notify_after_suppression(current: State, last_notified: Option<State>) -> bool {
    current != State::Unknown && current != last_notified.unwrap_or(State::Unknown)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn alarm() -> AlarmRef {
        AlarmRef {
            tenant: "t1".into(),
            entity: "enA".into(),
            alarm: "alB".into(),
            check: "chC".into(),
        }
    }

    fn plan() -> Plan {
        Plan {
            critical_state: vec!["ntPager".into(), "ntHook".into(), "ntPager".into()],
            warning_state: vec!["ntHook".into()],
            ok_state: vec![],
        }
    }

    #[test]
    fn one_delivery_per_notification_of_the_new_state() {
        let d = deliveries(&alarm(), 7, State::Critical, &plan(), false).expect("valid plan");
        let ids: Vec<&str> = d.iter().map(|d| d.notification_id.as_str()).collect();
        assert_eq!(ids, ["ntPager", "ntHook"]);
        assert!(
            d.iter()
                .all(|d| d.event_id == "t1:enA:alB:chC:7:CRITICAL" && !d.suppressed)
        );
        let ok = deliveries(&alarm(), 8, State::Ok, &plan(), false).expect("valid plan");
        assert!(ok.is_empty());
        let unknown = deliveries(&alarm(), 9, State::Unknown, &plan(), false).expect("valid");
        assert!(unknown.is_empty());
        let s = deliveries(&alarm(), 10, State::Warning, &plan(), true).expect("valid plan");
        assert_eq!(s.len(), 1);
        assert!(s[0].suppressed);
    }

    #[test]
    fn a_plan_over_the_limit_is_refused_naming_the_list() {
        let mut p = plan();
        p.ok_state = (0..=PLAN_NOTIFICATIONS_MAX)
            .map(|i| format!("nt{i}"))
            .collect();
        let err = deliveries(&alarm(), 1, State::Ok, &p, false).expect_err("too many");
        assert!(err.to_string().starts_with("ok_state: "), "{err}");
        p.ok_state.pop();
        assert_eq!(
            deliveries(&alarm(), 1, State::Ok, &p, false).map(|d| d.len()),
            Ok(20)
        );
    }

    #[test]
    fn after_a_suppression_only_a_changed_state_is_notified() {
        assert!(notify_after_suppression(State::Critical, Some(State::Ok)));
        assert!(!notify_after_suppression(
            State::Critical,
            Some(State::Critical)
        ));
        assert!(notify_after_suppression(State::Ok, None));
        assert!(!notify_after_suppression(State::Unknown, Some(State::Ok)));
    }
}
