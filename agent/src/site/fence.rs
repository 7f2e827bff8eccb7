//! The write fence: every mutating Kubernetes request of a site node passes [`Fence::check`]
//! right before it is sent (in [`crate::kube::KubeClient`]'s send path, so no write phase can
//! bypass it). The check asks the [`Observer`] whether our last successful Lease write began
//! less than `renewDeadline` ago on the agent's clock.
//!
//! The window that remains: a request checked at `t` is sent after `t`; a process paused
//! between the check and the send (SIGSTOP, a long GC, a frozen VM) still sends it when it
//! resumes. The fence bounds what such a pause may cost only by the margin
//! `leaseDuration - renewDeadline` (5 s by default): no follower can take over before that
//! margin has passed since the check. A pause longer than that, exactly between check and
//! send, is not covered; Kubernetes has no fencing token on ordinary writes to close it.

use super::lease::{Observer, Timings};
use crate::clock::Clock;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

/// Why a write was not sent.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FenceError {
    #[error("this node does not hold the site lease {lease} (renewed {since}); write not sent")]
    NotHeld { lease: String, since: String },
}

/// The shared election state: what the elector observed, read by every write.
pub struct Fence {
    lease: String,
    timings: Timings,
    clock: Arc<dyn Clock>,
    observer: Mutex<Observer>,
    /// Counts the times this node became leader (a pass that sees it move starts anew).
    terms: AtomicU64,
}

impl Fence {
    pub fn new(lease: String, timings: Timings, clock: Arc<dyn Clock>) -> Self {
        Fence {
            lease,
            timings,
            clock,
            observer: Mutex::new(Observer::default()),
            terms: AtomicU64::new(0),
        }
    }

    pub(crate) fn observer(&self) -> MutexGuard<'_, Observer> {
        self.observer.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub fn timings(&self) -> Timings {
        self.timings
    }

    pub fn clock(&self) -> &Arc<dyn Clock> {
        &self.clock
    }

    /// True while this node may write.
    pub fn holds(&self) -> bool {
        self.observer().holds(self.clock.now(), self.timings)
    }

    /// Ok while this node may write; checked right before each mutating request.
    pub fn check(&self) -> Result<(), FenceError> {
        let now = self.clock.now();
        let o = self.observer();
        if o.holds(now, self.timings) {
            return Ok(());
        }
        let since = match o.renewed_at() {
            Some(r) => format!("{:?} ago", now.saturating_duration_since(r)),
            None => "never in this term".into(),
        };
        Err(FenceError::NotHeld {
            lease: self.lease.clone(),
            since,
        })
    }

    /// Records that this node became leader.
    pub(crate) fn new_term(&self) {
        self.terms.fetch_add(1, Ordering::SeqCst);
    }

    /// How many times this node became leader.
    pub fn terms(&self) -> u64 {
        self.terms.load(Ordering::SeqCst)
    }
}

/// The check for one request: reads (and server-side dry runs, which change nothing) pass;
/// every other request needs the lease held.
pub fn gate(fence: &Fence, method: &str, path: &str) -> Result<(), FenceError> {
    let read = matches!(method, "GET" | "HEAD" | "OPTIONS");
    let dry_run = path
        .split_once('?')
        .is_some_and(|(_, q)| q.split('&').any(|p| p == "dryRun=All"));
    if read || dry_run {
        return Ok(());
    }
    fence.check()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clock::ManualClock;
    use crate::site::lease::LeaseSpec;
    use std::time::Duration;

    #[test]
    fn the_fence_opens_after_a_renewal_and_closes_at_the_renew_deadline() {
        let clock = Arc::new(ManualClock::at(0));
        let f = Fence::new(
            "kube-system/ferry-a".into(),
            Timings::default(),
            clock.clone(),
        );
        assert!(matches!(f.check(), Err(FenceError::NotHeld { .. })));
        f.observer().written(LeaseSpec::default(), clock.now());
        assert_eq!(f.check(), Ok(()));
        clock.advance(Duration::from_millis(9_999));
        assert_eq!(f.check(), Ok(()));
        clock.advance(Duration::from_millis(1));
        let e = f.check().unwrap_err().to_string();
        assert!(
            e.contains("kube-system/ferry-a") && e.contains("10s ago"),
            "{e}"
        );
        assert_eq!(gate(&f, "GET", "/api/v1/pods"), Ok(()));
        assert_eq!(
            gate(&f, "PATCH", "/api/v1/x?fieldManager=ferry&dryRun=All"),
            Ok(())
        );
        for m in ["POST", "PUT", "PATCH", "DELETE"] {
            assert!(gate(&f, m, "/api/v1/x?dryRun=AllX").is_err(), "{m}");
        }
    }
}
