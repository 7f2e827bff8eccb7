//! The decisions of one sync pass (pure): dependency gate, replay, up to date, held after a
//! failure, rollout wave, and what to do after a failed attempt. The IO shell gathers facts,
//! asks, and does what the typed decision says; these functions are tested on their own.

use crate::store::live::Hold;
pub use crate::store::AttemptState;

/// The applied and healthy revision of a sync.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GoodRevision {
    pub revision: u64,
    pub digest: String,
}

/// What a sync this one depends on looks like.
#[derive(Debug, Clone)]
pub struct Dependency {
    pub name: String,
    pub applied: bool,
    pub last_attempt: Option<AttemptState>,
    pub last_error: Option<String>,
}

/// Whether a pass may go ahead.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Gate {
    Open,
    Suspended,
    Blocked { dependency: String, reason: String },
}

/// The gate before anything is polled.
pub fn gate(suspended: bool, dependencies: &[Dependency]) -> Gate {
    if suspended {
        return Gate::Suspended;
    }
    for d in dependencies {
        let reason = if !d.applied {
            Some("not applied yet".to_string())
        } else if let Some(s) = d.last_attempt.filter(|s| *s != AttemptState::Applied) {
            Some(format!("last attempt {}", s.as_str()))
        } else {
            d.last_error.as_ref().map(|e| format!("last error: {e}"))
        };
        if let Some(reason) = reason {
            return Gate::Blocked {
                dependency: d.name.clone(),
                reason,
            };
        }
    }
    Gate::Open
}

/// A verified revision the source offers.
#[derive(Debug, Clone)]
pub struct Offer {
    pub revision: u64,
    pub digest: String,
    /// The verifier found it no newer than the highest applied.
    pub not_newer: bool,
    pub in_wave: bool,
}

/// What to do with an offered revision.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum OfferDecision {
    /// Same revision number as the applied one, other content: refused.
    Replay {
        applied: String,
    },
    /// The applied revision itself: enforce it (drift check).
    UpToDate,
    /// Failed and rolled back before; held until `until` or `ferry-agent retry`.
    Held {
        hold: Hold,
    },
    /// This device is outside the rollout wave.
    WaitForWave,
    Apply,
}

/// Decides about an offered revision.
pub fn on_offer(
    offer: &Offer,
    good: Option<&GoodRevision>,
    held: Option<&Hold>,
    now: i64,
) -> OfferDecision {
    if let Some(g) = good.filter(|g| g.revision == offer.revision && offer.not_newer) {
        return if g.digest != offer.digest {
            OfferDecision::Replay {
                applied: g.digest.clone(),
            }
        } else {
            OfferDecision::UpToDate
        };
    }
    if let Some(h) = held.filter(|h| h.digest == offer.digest && now < h.until) {
        return OfferDecision::Held { hold: h.clone() };
    }
    if !offer.in_wave {
        return OfferDecision::WaitForWave;
    }
    OfferDecision::Apply
}

/// How an attempt failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FailureClass {
    /// The revision is at fault (rejected object, failed health, health timeout).
    Deterministic,
    /// The cluster is at fault (API unreachable after retries, namespace terminating): a
    /// rollback would meet the same cluster.
    Environmental,
}

/// What to do after a failed attempt.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AfterFailure {
    /// Re-apply the last good revision and hold the failed one back.
    RollBack { to: GoodRevision },
    /// Nothing to roll back to (first revision, or the good one failed itself), or the
    /// cluster is at fault: keep the state; the next pass tries again (daemon backoff).
    Retry,
}

/// Decides after `failed` (digest) failed with `class`.
pub fn after_failure(
    class: FailureClass,
    failed: &str,
    good: Option<&GoodRevision>,
) -> AfterFailure {
    if class == FailureClass::Environmental {
        return AfterFailure::Retry;
    }
    match good.filter(|g| g.digest != failed) {
        Some(g) => AfterFailure::RollBack { to: g.clone() },
        None => AfterFailure::Retry,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn good(rev: u64, d: &str) -> GoodRevision {
        GoodRevision {
            revision: rev,
            digest: d.into(),
        }
    }

    fn offer(rev: u64, d: &str, not_newer: bool, in_wave: bool) -> Offer {
        Offer {
            revision: rev,
            digest: d.into(),
            not_newer,
            in_wave,
        }
    }

    #[test]
    fn the_gate_checks_suspension_then_dependencies() {
        let dep = |applied, last: Option<AttemptState>, err: Option<&str>| Dependency {
            name: "infra".into(),
            applied,
            last_attempt: last,
            last_error: err.map(str::to_string),
        };
        assert_eq!(gate(true, &[]), Gate::Suspended);
        assert_eq!(
            gate(false, &[dep(true, Some(AttemptState::Applied), None)]),
            Gate::Open
        );
        assert!(
            matches!(gate(false, &[dep(false, None, None)]), Gate::Blocked { reason, .. } if reason == "not applied yet")
        );
        assert!(
            matches!(gate(false, &[dep(true, Some(AttemptState::Failed), None)]), Gate::Blocked { reason, .. } if reason == "last attempt failed")
        );
        assert!(
            matches!(gate(false, &[dep(true, Some(AttemptState::Applied), Some("x"))]), Gate::Blocked { reason, .. } if reason == "last error: x")
        );
    }

    #[test]
    fn offers_are_replays_up_to_date_held_waiting_or_applied() {
        let g = good(3, "d3");
        assert_eq!(
            on_offer(&offer(3, "other", true, true), Some(&g), None, 0),
            OfferDecision::Replay {
                applied: "d3".into()
            }
        );
        assert_eq!(
            on_offer(&offer(3, "d3", true, true), Some(&g), None, 0),
            OfferDecision::UpToDate
        );
        let hold = Hold {
            revision: 4,
            digest: "d4".into(),
            failures: 1,
            until: 100,
            error: "boom".into(),
        };
        assert!(matches!(
            on_offer(&offer(4, "d4", false, true), Some(&g), Some(&hold), 50),
            OfferDecision::Held { .. }
        ));
        // The hold expired, or a newer revision arrived.
        assert_eq!(
            on_offer(&offer(4, "d4", false, true), Some(&g), Some(&hold), 100),
            OfferDecision::Apply
        );
        assert_eq!(
            on_offer(&offer(5, "d5", false, true), Some(&g), Some(&hold), 50),
            OfferDecision::Apply
        );
        assert_eq!(
            on_offer(&offer(5, "d5", false, false), Some(&g), None, 0),
            OfferDecision::WaitForWave
        );
    }

    #[test]
    fn failures_roll_back_hold_or_retry() {
        let g = good(3, "d3");
        assert_eq!(
            after_failure(FailureClass::Deterministic, "d4", Some(&g)),
            AfterFailure::RollBack { to: g.clone() }
        );
        assert_eq!(
            after_failure(FailureClass::Deterministic, "d4", None),
            AfterFailure::Retry
        );
        assert_eq!(
            after_failure(FailureClass::Deterministic, "d3", Some(&g)),
            AfterFailure::Retry
        );
        assert_eq!(
            after_failure(FailureClass::Environmental, "d4", Some(&g)),
            AfterFailure::Retry
        );
    }
}
