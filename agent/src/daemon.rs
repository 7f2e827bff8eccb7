//! The long-running loop (smol): each sync on its own schedule, the next interval after
//! success, exponential backoff with jitter (capped) after failures.

use crate::reconcile::{Agent, Outcome};
use std::sync::Arc;
use std::time::Duration;

/// Longest wait between retries of a failing sync.
pub const MAX_BACKOFF: Duration = Duration::from_secs(600);

/// The delay before the next attempt after `failures` consecutive failures (pure; `jitter` in
/// 0..1 spreads a fleet's retries).
pub fn next_delay(interval: Duration, failures: u32, jitter: f64) -> Duration {
    if failures == 0 {
        return interval;
    }
    let base = Duration::from_secs(5).saturating_mul(1u32 << failures.min(10).saturating_sub(1));
    let capped = base.min(MAX_BACKOFF).min(interval.max(Duration::from_secs(5)));
    capped.mul_f64(0.5 + jitter.clamp(0.0, 1.0) * 0.5)
}

fn jitter() -> f64 {
    let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.subsec_nanos()).unwrap_or(0);
    (nanos % 1000) as f64 / 1000.0
}

/// Runs every sync forever.
pub fn run(agent: Arc<Agent>) {
    let names: Vec<String> = agent.config.syncs.iter().map(|s| s.name.clone()).collect();
    smol::block_on(async {
        let tasks: Vec<_> = names
            .into_iter()
            .map(|name| {
                let agent = agent.clone();
                smol::spawn(async move {
                    let interval = agent.config.sync(&name).map(|s| s.interval).unwrap_or(Duration::from_secs(300));
                    let mut failures = 0u32;
                    loop {
                        let (a, n) = (agent.clone(), name.clone());
                        let result = smol::unblock(move || a.sync_once(&n)).await;
                        match &result {
                            Ok(Outcome::RolledBack { .. }) | Err(_) => failures += 1,
                            Ok(_) => failures = 0,
                        }
                        match result {
                            Ok(o) => tracing::debug!(sync = %name, ?o, "sync pass done"),
                            Err(e) => tracing::warn!(sync = %name, "{e}"),
                        }
                        smol::Timer::after(next_delay(interval, failures, jitter())).await;
                    }
                })
            })
            .collect();
        for t in tasks {
            t.await;
        }
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_grows_caps_and_jitters() {
        let i = Duration::from_secs(3600);
        assert_eq!(next_delay(i, 0, 0.3), i);
        assert_eq!(next_delay(i, 1, 1.0), Duration::from_secs(5));
        assert_eq!(next_delay(i, 3, 1.0), Duration::from_secs(20));
        assert_eq!(next_delay(i, 30, 1.0), MAX_BACKOFF);
        assert_eq!(next_delay(i, 30, 0.0), MAX_BACKOFF / 2);
        // Never longer than the interval itself.
        assert_eq!(next_delay(Duration::from_secs(60), 30, 1.0), Duration::from_secs(60));
    }
}
