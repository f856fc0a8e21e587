//! Carries out a target schedule in time: waits for each change's moment, applies it through
//! the caller's function, and returns the changes stamped with the time they took effect
//! (the `target` records of the history). Bounded in changes and by a deadline.

use std::future::Future;
use std::time::Duration;

use anyhow::{Context, Result, bail};
use tokio::time::Instant;

use crate::monitoring_history::{Health, TargetChange};

/// At most this many changes are carried out by one call.
pub const DRIVER_CHANGES_MAX: usize = 100_000;

/// Applies `schedule` (times in ns since `epoch`) in time order until `deadline` after the
/// epoch; a change due later is not applied. Each applied change is returned with `time_ns`
/// set to the moment `apply` returned, on the same clock. The first error stops the drive.
pub async fn drive<F, Fut>(
    schedule: &[TargetChange],
    epoch: Instant,
    deadline: Duration,
    mut apply: F,
) -> Result<Vec<TargetChange>>
where
    F: FnMut(TargetChange) -> Fut,
    Fut: Future<Output = Result<()>>,
{
    if schedule.len() > DRIVER_CHANGES_MAX {
        bail!(
            "field `schedule`: {} changes, over {DRIVER_CHANGES_MAX}",
            schedule.len()
        );
    }
    let mut ordered = schedule.to_vec();
    ordered.sort_by_key(|c| c.time_ns);
    let mut applied = Vec::with_capacity(ordered.len());
    for change in ordered {
        let due = Duration::from_nanos(change.time_ns);
        if due > deadline {
            break;
        }
        tokio::time::sleep_until(epoch + due).await;
        let what = format!("{change:?}");
        apply(change.clone())
            .await
            .with_context(|| format!("applying {what}"))?;
        let took_effect = epoch.elapsed().as_nanos() as u64;
        applied.push(TargetChange {
            time_ns: took_effect,
            ..change
        });
    }
    Ok(applied)
}

/// Sets a target's health through its control endpoint (`PUT <base>/_control/health`).
pub async fn set_over_http(client: &reqwest::Client, base: &str, health: Health) -> Result<()> {
    let body = match health {
        Health::Up => "up",
        Health::Down => "down",
    };
    let url = format!("{base}/_control/health");
    let response = client
        .put(&url)
        .body(body)
        .send()
        .await
        .with_context(|| format!("PUT {url}"))?;
    if !response.status().is_success() {
        bail!("PUT {url}: status {}", response.status());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use std::sync::{Arc, Mutex};

    use super::*;
    use crate::monitoring_history::Scope;

    fn change(time_ns: u64, state: Health) -> TargetChange {
        TargetChange {
            target: "t1".into(),
            state,
            scope: Scope::All,
            time_ns,
        }
    }

    /// Every change is applied no earlier than it is due, in time order, and nothing due
    /// after the deadline is applied (lower bounds only: nothing depends on the machine's speed).
    #[tokio::test]
    async fn applies_in_time_order_until_the_deadline() {
        let epoch = Instant::now();
        let seen: Arc<Mutex<Vec<(u64, u64)>>> = Arc::default();
        let schedule = vec![
            change(90_000_000, Health::Up),
            change(30_000_000, Health::Down),
            change(200_000_000, Health::Down),
        ];
        let log = seen.clone();
        let applied = drive(&schedule, epoch, Duration::from_millis(100), move |c| {
            let log = log.clone();
            async move {
                let now = epoch.elapsed().as_nanos() as u64;
                log.lock().unwrap().push((c.time_ns, now));
                Ok(())
            }
        })
        .await
        .unwrap();
        let seen = seen.lock().unwrap().clone();
        assert_eq!(seen.len(), 2);
        assert!(seen.iter().all(|&(due, at)| at >= due));
        assert_eq!(seen[0].0, 30_000_000);
        assert_eq!(applied.len(), 2);
        assert!(applied[0].time_ns >= 30_000_000 && applied[1].time_ns >= 90_000_000);
        assert_eq!(
            (applied[0].state, applied[1].state),
            (Health::Down, Health::Up)
        );
    }

    #[tokio::test]
    async fn errors_stop_the_drive_and_the_schedule_is_bounded() {
        let epoch = Instant::now();
        let schedule = vec![change(1, Health::Down), change(2, Health::Up)];
        let mut calls = 0;
        let result = drive(&schedule, epoch, Duration::from_secs(1), |_| {
            calls += 1;
            async { bail!("target unreachable") }
        })
        .await;
        assert!(format!("{:#}", result.unwrap_err()).contains("target unreachable"));
        assert_eq!(calls, 1);
        let long = vec![change(1, Health::Down); DRIVER_CHANGES_MAX + 1];
        let result = drive(&long, epoch, Duration::from_secs(1), |_| async { Ok(()) }).await;
        assert!(result.unwrap_err().to_string().contains("schedule"));
    }
}
