//! The pure core of leader election over a coordination.k8s.io/v1 Lease, as client-go's
//! `leaderelection` does it: given the Lease as read (or its absence), our identity and the
//! clock, decide to create, acquire, renew or follow; remember what was observed and when.
//!
//! Expiry is measured on the *observer's* clock from the moment it last saw the record change
//! (client-go's `observedTime`), never from the holder's `renewTime`, so clock skew between
//! nodes does not matter; the timestamps written are for people and `kubectl` only.
//! A leader holds its lease for writing while its last successful write of the record began
//! less than `renewDeadline` ago on its own clock ([`Observer::holds`]): the write fence.
//! Since `renewDeadline < leaseDuration`, and a follower's expiry starts only after it saw
//! the renewed record (which is after the renewal began), a fenced leader stops writing at
//! least `leaseDuration - renewDeadline` before any follower can take over.

use std::time::{Duration, Instant};

/// The election's durations (client-go: 15 s, 10 s, 2 s).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Timings {
    pub lease_duration: Duration,
    pub renew_deadline: Duration,
    pub retry_period: Duration,
}

impl Default for Timings {
    fn default() -> Self {
        Timings {
            lease_duration: Duration::from_secs(15),
            renew_deadline: Duration::from_secs(10),
            retry_period: Duration::from_secs(2),
        }
    }
}

/// Longest lease a record may ask followers to wait out (a hostile or mistaken
/// `leaseDurationSeconds` must not stop takeovers for good).
pub const MAX_LEASE_SECONDS: u32 = 3600;

/// The Lease's spec as ferry reads and writes it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LeaseSpec {
    pub holder: Option<String>,
    pub lease_duration_seconds: u32,
    /// RFC 3339 with microseconds (MicroTime), as written; informational.
    pub acquire_time: Option<String>,
    pub renew_time: Option<String>,
    pub transitions: u32,
}

/// What to do after reading the Lease.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision {
    /// No Lease yet: create it, holding it.
    Create(LeaseSpec),
    /// Someone else's expired (or an empty) Lease: take it over, a new term.
    Acquire(LeaseSpec),
    /// Our own Lease: renew it.
    Renew(LeaseSpec),
    /// Someone else holds it; it expires at `expires` on our clock unless it changes.
    Follow { holder: String, expires: Instant },
}

/// What one node remembers between tries (client-go's observedRecord and observedTime), and
/// when its last successful write of the record began.
#[derive(Debug, Clone, Default)]
pub struct Observer {
    observed: Option<(LeaseSpec, Instant)>,
    renewed: Option<Instant>,
}

/// A MicroTime for `unix` seconds.
pub fn micro_time(unix: i64) -> String {
    let secs = crate::clock::rfc3339(unix);
    match secs.strip_suffix('Z') {
        Some(s) => format!("{s}.000000Z"),
        None => secs,
    }
}

impl Observer {
    /// Decides what to do with `current` (None: the Lease does not exist) at `now` on our
    /// clock; `unix_now` only stamps the times written.
    pub fn decide(
        &mut self,
        current: Option<&LeaseSpec>,
        me: &str,
        now: Instant,
        unix_now: i64,
        timings: Timings,
    ) -> Decision {
        let stamp = micro_time(unix_now);
        let seconds = timings
            .lease_duration
            .as_secs()
            .clamp(1, MAX_LEASE_SECONDS as u64) as u32;
        let Some(current) = current else {
            self.observed = None;
            return Decision::Create(LeaseSpec {
                holder: Some(me.to_string()),
                lease_duration_seconds: seconds,
                acquire_time: Some(stamp.clone()),
                renew_time: Some(stamp),
                transitions: 0,
            });
        };
        if self.observed.as_ref().map(|(s, _)| s) != Some(current) {
            self.observed = Some((current.clone(), now));
        }
        let observed_at = self.observed.as_ref().map(|(_, t)| *t).unwrap_or(now);
        let holder = current.holder.clone().filter(|h| !h.is_empty());
        match holder {
            Some(h) if h == me => Decision::Renew(LeaseSpec {
                holder: Some(h),
                lease_duration_seconds: seconds,
                acquire_time: current.acquire_time.clone().or(Some(stamp.clone())),
                renew_time: Some(stamp),
                transitions: current.transitions,
            }),
            Some(h) => {
                let lasts = Duration::from_secs(
                    current
                        .lease_duration_seconds
                        .clamp(1, MAX_LEASE_SECONDS)
                        .into(),
                );
                let expires = observed_at + lasts;
                if now < expires {
                    // Someone else leads: we do not, whatever we believed.
                    self.renewed = None;
                    return Decision::Follow { holder: h, expires };
                }
                self.acquire(current, me, seconds, stamp)
            }
            None => self.acquire(current, me, seconds, stamp),
        }
    }

    fn acquire(&mut self, current: &LeaseSpec, me: &str, seconds: u32, stamp: String) -> Decision {
        self.renewed = None;
        Decision::Acquire(LeaseSpec {
            holder: Some(me.to_string()),
            lease_duration_seconds: seconds,
            acquire_time: Some(stamp.clone()),
            renew_time: Some(stamp),
            transitions: current.transitions.saturating_add(1),
        })
    }

    /// The write of `spec` that began at `began` (before the request was sent) succeeded.
    pub fn written(&mut self, spec: LeaseSpec, began: Instant) {
        self.observed = Some((spec, began));
        self.renewed = Some(began);
    }

    /// Our write was refused because the record changed under us (409), or we are to stop:
    /// we no longer hold the lease, at once.
    pub fn lost(&mut self) {
        self.renewed = None;
    }

    /// True while the last successful write of the record began less than `renewDeadline`
    /// ago: the leader may write.
    pub fn holds(&self, now: Instant, timings: Timings) -> bool {
        self.renewed
            .is_some_and(|r| now.saturating_duration_since(r) < timings.renew_deadline)
    }

    /// When the last successful write of the record began (None: not held in this term).
    pub fn renewed_at(&self) -> Option<Instant> {
        self.renewed
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const T: Timings = Timings {
        lease_duration: Duration::from_secs(15),
        renew_deadline: Duration::from_secs(10),
        retry_period: Duration::from_secs(2),
    };

    fn held_by(h: &str, transitions: u32) -> LeaseSpec {
        LeaseSpec {
            holder: Some(h.into()),
            lease_duration_seconds: 15,
            acquire_time: Some(micro_time(100)),
            renew_time: Some(micro_time(100)),
            transitions,
        }
    }

    #[test]
    fn no_lease_is_created_held_by_us() {
        let mut o = Observer::default();
        let t0 = Instant::now();
        let Decision::Create(spec) = o.decide(None, "a", t0, 1_000, T) else {
            panic!()
        };
        assert_eq!(spec.holder.as_deref(), Some("a"));
        assert_eq!(spec.lease_duration_seconds, 15);
        assert_eq!(spec.transitions, 0);
        assert_eq!(
            spec.renew_time.as_deref(),
            Some("1970-01-01T00:16:40.000000Z")
        );
        assert!(!o.holds(t0, T), "not held before the write succeeds");
        o.written(spec, t0);
        assert!(o.holds(t0 + Duration::from_secs(9), T));
        assert!(!o.holds(t0 + Duration::from_secs(10), T));
    }

    #[test]
    fn a_follower_waits_the_lease_from_its_own_observation_not_the_holders_timestamps() {
        let mut o = Observer::default();
        let t0 = Instant::now();
        // The holder's renewTime is decades old (skewed clock): it does not matter.
        let other = held_by("b", 3);
        let d = o.decide(Some(&other), "a", t0, 5_000_000, T);
        assert_eq!(
            d,
            Decision::Follow {
                holder: "b".into(),
                expires: t0 + Duration::from_secs(15)
            }
        );
        // Unchanged at 14 s: still following, expiry still counted from t0.
        let d = o.decide(Some(&other), "a", t0 + Duration::from_secs(14), 0, T);
        assert!(
            matches!(d, Decision::Follow { expires, .. } if expires == t0 + Duration::from_secs(15))
        );
        // Renewed by b at 14 s (the record changed): expiry moves to 14 + 15 s.
        let mut renewed = other.clone();
        renewed.renew_time = Some(micro_time(114));
        let d = o.decide(Some(&renewed), "a", t0 + Duration::from_secs(14), 0, T);
        assert!(
            matches!(d, Decision::Follow { expires, .. } if expires == t0 + Duration::from_secs(29))
        );
        // Unchanged until 29 s: taken over, a new term.
        let Decision::Acquire(spec) =
            o.decide(Some(&renewed), "a", t0 + Duration::from_secs(29), 0, T)
        else {
            panic!()
        };
        assert_eq!((spec.holder.as_deref(), spec.transitions), (Some("a"), 4));
    }

    #[test]
    fn our_own_lease_is_renewed_keeping_term_and_acquire_time() {
        let mut o = Observer::default();
        let t0 = Instant::now();
        let mine = held_by("a", 7);
        let Decision::Renew(spec) = o.decide(Some(&mine), "a", t0, 200, T) else {
            panic!()
        };
        assert_eq!(spec.transitions, 7);
        assert_eq!(spec.acquire_time, mine.acquire_time);
        assert_eq!(spec.renew_time.as_deref(), Some(micro_time(200).as_str()));
    }

    #[test]
    fn an_empty_holder_is_taken_at_once_and_a_huge_duration_is_bounded() {
        let mut o = Observer::default();
        let t0 = Instant::now();
        let released = LeaseSpec {
            holder: Some(String::new()),
            ..held_by("x", 2)
        };
        assert!(matches!(
            o.decide(Some(&released), "a", t0, 0, T),
            Decision::Acquire(LeaseSpec { transitions: 3, .. })
        ));
        let mut o = Observer::default();
        let forever = LeaseSpec {
            lease_duration_seconds: u32::MAX,
            ..held_by("b", 1)
        };
        assert!(matches!(
            o.decide(Some(&forever), "a", t0, 0, T),
            Decision::Follow { .. }
        ));
        let later = t0 + Duration::from_secs(MAX_LEASE_SECONDS as u64);
        assert!(matches!(
            o.decide(Some(&forever), "a", later, 0, T),
            Decision::Acquire(_)
        ));
    }

    #[test]
    fn a_leader_that_sees_another_holder_or_a_conflict_stops_holding_at_once() {
        let mut o = Observer::default();
        let t0 = Instant::now();
        o.written(held_by("a", 1), t0);
        assert!(o.holds(t0, T));
        // A paused leader wakes up to find b's record: following, not holding.
        assert!(matches!(
            o.decide(
                Some(&held_by("b", 2)),
                "a",
                t0 + Duration::from_secs(1),
                0,
                T
            ),
            Decision::Follow { .. }
        ));
        assert!(!o.holds(t0 + Duration::from_secs(1), T));
        o.written(held_by("a", 3), t0);
        o.lost();
        assert!(!o.holds(t0, T));
    }

    #[test]
    fn a_paused_leader_does_not_hold_past_its_renew_deadline_on_its_own_clock() {
        let mut o = Observer::default();
        let t0 = Instant::now();
        o.written(held_by("a", 1), t0);
        // Paused 20 s (SIGSTOP): the first check after waking refuses, before any read.
        assert!(!o.holds(t0 + Duration::from_secs(20), T));
        // And the margin a follower keeps: it cannot take over before t0 + 15 s.
        assert!(T.lease_duration > T.renew_deadline);
    }
}
