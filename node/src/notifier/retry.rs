//! The retry schedule, pure: exponential backoff with jitter from 1 s to 5 min, stopped when
//! the next try would start past the give-up time or the attempt bound. Time comes in as
//! arguments (ms since the first attempt), so tests drive it with their own clock.

/// Shortest wait before a retry, ms.
pub const RETRY_DELAY_MIN_MS: u64 = 1_000;
/// Longest wait before a retry, ms (also the cap on a receiver's `Retry-After`).
pub const RETRY_DELAY_MAX_MS: u64 = 300_000;
/// Default of `--delivery-give-up-s`, seconds.
pub const GIVE_UP_S_DEFAULT: u64 = 3_600;
/// Largest `--delivery-give-up-s`, seconds (one day).
pub const GIVE_UP_S_MAX: u64 = 86_400;
/// Most attempts of one delivery, whatever the give-up time: a day of retries every 5 min is
/// under 300, so this bound only stops a schedule gone wrong.
pub const ATTEMPTS_MAX: u32 = 400;

/// When a delivery stops trying.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryPolicy {
    /// No retry starts later than this after the first attempt, ms.
    pub give_up_ms: u64,
    /// No more attempts than this (at most `ATTEMPTS_MAX`).
    pub attempts_max: u32,
}

impl RetryPolicy {
    /// Give up `give_up_s` seconds after the first attempt, within `ATTEMPTS_MAX` attempts.
    pub fn new(give_up_s: u64) -> RetryPolicy {
        RetryPolicy {
            give_up_ms: give_up_s.saturating_mul(1000),
            attempts_max: ATTEMPTS_MAX,
        }
    }
}

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy::new(GIVE_UP_S_DEFAULT)
    }
}

/// What to do after a failed attempt.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Next {
    /// Wait this many ms, then try again.
    RetryIn(u64),
    /// Stop: the delivery failed.
    GiveUp,
}

/// The wait before retry number `retry` (1 = the first retry) without jitter: 1 s doubling up
/// to 5 min.
pub fn base_delay_ms(retry: u32) -> u64 {
    debug_assert!(retry >= 1);
    let shift = retry.saturating_sub(1).min(32);
    RETRY_DELAY_MIN_MS
        .saturating_mul(1 << shift)
        .min(RETRY_DELAY_MAX_MS)
}

/// The wait before retry `retry`: the base plus up to a quarter more by `jitter` (in [0, 1)),
/// at least a receiver's `Retry-After`, always within [1 s, 5 min].
pub fn delay_ms(retry: u32, jitter: f64, retry_after_ms: Option<u64>) -> u64 {
    let base = base_delay_ms(retry);
    let jitter = jitter.clamp(0.0, 1.0);
    let jittered = base + (base as f64 * 0.25 * jitter) as u64;
    jittered
        .max(retry_after_ms.unwrap_or(0))
        .clamp(RETRY_DELAY_MIN_MS, RETRY_DELAY_MAX_MS)
}

/// After `attempts` failed attempts, the last ending `elapsed_ms` after the first began: retry
/// (after how long) or give up.
pub fn next(
    policy: RetryPolicy,
    attempts: u32,
    elapsed_ms: u64,
    jitter: f64,
    retry_after_ms: Option<u64>,
) -> Next {
    if attempts >= policy.attempts_max.min(ATTEMPTS_MAX) {
        return Next::GiveUp;
    }
    let wait = delay_ms(attempts, jitter, retry_after_ms);
    if elapsed_ms.saturating_add(wait) > policy.give_up_ms {
        return Next::GiveUp;
    }
    Next::RetryIn(wait)
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    /// Drives a delivery that always fails through the schedule with a clock of its own: each
    /// attempt takes `attempt_ms`. Returns the start time of every attempt.
    fn run(policy: RetryPolicy, attempt_ms: u64, jitter: f64) -> Vec<u64> {
        let mut clock = 0;
        let mut starts = Vec::new();
        loop {
            starts.push(clock);
            clock += attempt_ms;
            match next(policy, starts.len() as u32, clock, jitter, None) {
                Next::RetryIn(wait) => clock += wait,
                Next::GiveUp => return starts,
            }
        }
    }

    #[test]
    fn backoff_doubles_from_one_second_to_five_minutes() {
        let bases: Vec<u64> = (1..=11).map(base_delay_ms).collect();
        assert_eq!(
            bases,
            [1, 2, 4, 8, 16, 32, 64, 128, 256, 300, 300].map(|s| s * 1000)
        );
        assert_eq!(base_delay_ms(u32::MAX), RETRY_DELAY_MAX_MS);
        assert_eq!(delay_ms(1, 0.0, None), 1_000);
        assert_eq!(delay_ms(1, 0.999, None), 1_249);
        assert_eq!(delay_ms(20, 0.999, None), RETRY_DELAY_MAX_MS);
        assert_eq!(delay_ms(1, 0.0, Some(30_000)), 30_000);
        assert_eq!(delay_ms(1, 0.0, Some(10_000_000)), RETRY_DELAY_MAX_MS);
    }

    #[test]
    fn the_default_policy_gives_up_after_an_hour() {
        let starts = run(RetryPolicy::default(), 0, 0.0);
        // 1+2+...+256 s = 511 s, then every 300 s until 3600 s: 9 + 10 retries, 20 attempts.
        assert_eq!(starts.len(), 20);
        assert_eq!(starts.last().copied(), Some(3_511_000));
        assert!(starts.windows(2).all(|w| w[1] - w[0] >= RETRY_DELAY_MIN_MS));
    }

    #[test]
    fn the_attempt_bound_stops_a_day_long_schedule() {
        let policy = RetryPolicy {
            give_up_ms: u64::MAX,
            attempts_max: ATTEMPTS_MAX,
        };
        assert_eq!(run(policy, 0, 0.5).len(), ATTEMPTS_MAX as usize);
        let few = RetryPolicy {
            give_up_ms: u64::MAX,
            attempts_max: 3,
        };
        assert_eq!(run(few, 10, 0.0), [0, 1_010, 3_020]);
    }

    proptest! {
        /// Against a naive model: every wait lies in [1 s, 5 min], is at least the unjittered
        /// `min(2^(n-1) s, 300 s)` and at most a quarter more, and no attempt starts after
        /// the give-up time.
        #[test]
        fn waits_stay_in_bounds(give_up_s in 0u64..20_000, attempt_ms in 0u64..60_000,
                                jitter in 0.0f64..1.0) {
            let policy = RetryPolicy::new(give_up_s);
            let starts = run(policy, attempt_ms, jitter);
            prop_assert!(!starts.is_empty());
            for (i, w) in starts.windows(2).enumerate() {
                let wait = w[1] - w[0] - attempt_ms;
                let model = (2f64.powi(i as i32) * 1000.0).min(300_000.0) as u64;
                prop_assert!((RETRY_DELAY_MIN_MS..=RETRY_DELAY_MAX_MS).contains(&wait));
                prop_assert!(wait >= model && wait <= (model + model / 4).min(300_000));
                prop_assert!(w[1] <= policy.give_up_ms);
            }
        }
    }
}
