//! Retries of transient API failures inside a pass (pure schedule, injectable clock): 429
//! (honouring `Retry-After`, bounded), 5xx, timeouts and dropped connections are retried with
//! bounded exponential backoff and jitter; everything else is returned at once.

use super::error::KubeError;
pub use crate::clock::{Clock, SystemClock};
use serde::Deserialize;
use std::time::Duration;

/// How transient failures are retried (config key `apiRetry`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct RetryPolicy {
    /// Tries per request, the first included (1 = no retries).
    #[serde(default = "default_attempts")]
    pub attempts: u32,
    /// Delay before the first retry; doubles per retry.
    #[serde(
        default = "default_initial",
        deserialize_with = "ferry_bundle::config_file::duration"
    )]
    pub initial_delay: Duration,
    /// Longest delay between two tries (also bounds a server's `Retry-After`).
    #[serde(
        default = "default_max",
        deserialize_with = "ferry_bundle::config_file::duration"
    )]
    pub max_delay: Duration,
}

fn default_attempts() -> u32 {
    6
}
fn default_initial() -> Duration {
    Duration::from_millis(200)
}
fn default_max() -> Duration {
    Duration::from_secs(10)
}

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy {
            attempts: default_attempts(),
            initial_delay: default_initial(),
            max_delay: default_max(),
        }
    }
}

impl RetryPolicy {
    /// The delay before retry number `retry` (1-based): the server's `Retry-After` when it
    /// gave one, else exponential backoff with `jitter` (0..1) taking up to half off; never
    /// above `max_delay`.
    pub fn delay(&self, retry: u32, retry_after: Option<Duration>, jitter: f64) -> Duration {
        if let Some(ra) = retry_after {
            return ra.min(self.max_delay);
        }
        let backoff = self
            .initial_delay
            .saturating_mul(1u32 << retry.saturating_sub(1).min(16))
            .min(self.max_delay);
        backoff.mul_f64(1.0 - jitter.clamp(0.0, 1.0) * 0.5)
    }
}

/// Runs `op` until it succeeds, fails for good, or the policy's tries are used up.
pub fn run<T>(
    policy: &RetryPolicy,
    clock: &dyn Clock,
    mut op: impl FnMut() -> Result<T, KubeError>,
) -> Result<T, KubeError> {
    let mut tries = 0u32;
    loop {
        tries += 1;
        match op() {
            Err(e) if e.is_transient() && tries < policy.attempts.max(1) => {
                let d = policy.delay(tries, e.retry_after(), clock.jitter());
                tracing::debug!("transient API failure, retry {tries} in {d:?}: {e}");
                clock.sleep(d);
            }
            other => return other,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clock::ManualClock;

    fn api(code: u16, retry_after: Option<u64>) -> KubeError {
        KubeError::Api {
            method: "PATCH".into(),
            path: "/x".into(),
            code,
            reason: "r".into(),
            message: "m".into(),
            retry_after,
            causes: Vec::new(),
        }
    }

    #[test]
    fn transient_failures_are_retried_with_growing_bounded_delays() {
        let clock = ManualClock::at(0);
        let policy = RetryPolicy {
            attempts: 6,
            initial_delay: Duration::from_millis(100),
            max_delay: Duration::from_millis(500),
        };
        let mut n = 0;
        let r = run(&policy, &clock, || {
            n += 1;
            match n {
                1 => Err(api(503, None)),
                2 => Err(api(429, Some(2))),
                3..=5 => Err(KubeError::Transport {
                    method: "GET".into(),
                    path: "/x".into(),
                    reason: "connection reset".into(),
                }),
                _ => Ok(n),
            }
        });
        assert_eq!(r.unwrap(), 6);
        let ms: Vec<u128> = clock.sleeps().iter().map(|d| d.as_millis()).collect();
        // Retry-After 2s is bounded by max_delay.
        assert_eq!(ms, vec![100, 500, 400, 500, 500]);
    }

    #[test]
    fn deterministic_failures_and_exhausted_tries_return() {
        let clock = ManualClock::at(0);
        let policy = RetryPolicy {
            attempts: 3,
            ..RetryPolicy::default()
        };
        let r: Result<(), _> = run(&policy, &clock, || Err(api(422, None)));
        assert_eq!(r.unwrap_err().code(), Some(422));
        assert!(clock.sleeps().is_empty());
        let r: Result<(), _> = run(&policy, &clock, || Err(api(503, None)));
        assert_eq!(r.unwrap_err().code(), Some(503));
        assert_eq!(clock.sleeps().len(), 2);
    }
}
