//! Rolling host upgrades, the pure core: host payloads (k3s, its configuration, ferry-agent)
//! of a site are applied one node at a time, under a second Lease (the *host Lease*, holder =
//! the device id). Any node with a pending host change for the site's applied revision takes
//! it (not only the sync leader), installs, restarts, waits for its Node to be Ready and the
//! API healthy, and releases it. A node whose check fails restores its previous files and
//! records on the host Lease that the rollout of that revision is stopped ([`Stopped`]): every
//! other node then refuses that revision's host upgrade; a newer revision starts anew.
//!
//! [`next`] decides, from the host Lease as read and this node's state, the one next step;
//! expiry of another node's turn is measured as the site election measures it
//! ([`super::lease::Observer`]: from this node's own observation, never the holder's clock).
//! The IO is in [`super::host_lease`] and `reconcile/rollout.rs`.

use super::lease::{Decision, LeaseSpec, Observer, Timings};
use super::lease_object::LeaseRecord;
use std::time::Instant;

/// The annotation recording that the host rollout of `sync` stopped.
pub fn stop_key(sync: &str) -> String {
    format!("ferry.dev/host-stopped.{sync}")
}

/// Longest reason kept in a stop record (the annotation stays under the 1 KiB a Lease read
/// keeps).
pub const MAX_REASON: usize = 512;

/// A stopped rollout: the revision, the node whose check failed, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Stopped {
    pub revision: u64,
    pub node: String,
    pub reason: String,
}

/// One line of printable text, at most `max` bytes (control characters become spaces).
fn clean(s: &str, max: usize) -> String {
    let one_line: String = s
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect();
    ferry_bundle::text::bounded(&one_line, max)
}

impl Stopped {
    pub fn new(revision: u64, node: &str, reason: &str) -> Self {
        Stopped {
            revision,
            node: clean(node, super::config::MAX_NODE_NAME),
            // `bounded` may add a "…(N more bytes)" tail: leave room for it.
            reason: clean(reason, MAX_REASON - 32),
        }
    }

    /// The annotation value: `<revision> <node> <reason>`.
    pub fn encode(&self) -> String {
        format!("{} {} {}", self.revision, self.node, self.reason)
    }

    /// Reads a stop record a peer wrote. A record that does not parse (revision, a node id,
    /// a bounded one-line reason) stops every revision: when in doubt no host is touched,
    /// until an operator removes the annotation.
    pub fn decode(v: &str) -> Stopped {
        let mut it = v.splitn(3, ' ');
        let revision = it.next().and_then(|r| r.parse::<u64>().ok());
        let node = it.next().unwrap_or_default();
        let reason = it.next().unwrap_or_default();
        let node_ok = !node.is_empty()
            && node.len() <= super::config::MAX_NODE_NAME
            && !node.chars().any(|c| c.is_control() || c.is_whitespace());
        let reason_ok = reason.len() <= MAX_REASON && !reason.chars().any(char::is_control);
        match revision {
            Some(revision) if node_ok && reason_ok => Stopped {
                revision,
                node: node.into(),
                reason: reason.into(),
            },
            _ => Stopped {
                revision: u64::MAX,
                node: "unknown".into(),
                reason: format!("malformed stop record ({} bytes)", v.len()),
            },
        }
    }
}

/// This node's host state for the revision being rolled out.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Local {
    /// Every file already matches: nothing to do here.
    Current,
    /// Files differ: this node needs its turn.
    Pending,
    /// Installed in an earlier turn (the agent restarted meanwhile, e.g. a self-update):
    /// the Node and API check is still owed.
    Verifying,
}

/// What to do in this turn.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Phase {
    /// Install, restart, then check.
    Upgrade,
    /// Only check (and roll back on failure).
    Verify,
}

/// The next step.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Step {
    /// Nothing pending and nothing held.
    Nothing,
    /// This node holds the host Lease with nothing left to do: release it.
    Release,
    /// The rollout of this revision stopped: refuse (and report).
    Stopped(Stopped),
    /// Another node has its turn.
    Wait { holder: String },
    /// Write `spec` (a create, or an update of the version read), then do `phase`.
    Take {
        spec: LeaseSpec,
        create: bool,
        phase: Phase,
    },
}

/// Decides the next step for `sync` at `revision` (the site's applied revision) from the host
/// Lease as read (`None`: it does not exist) and this node's state.
#[allow(clippy::too_many_arguments)]
pub fn next(
    observer: &mut Observer,
    lease: Option<&LeaseRecord>,
    me: &str,
    sync: &str,
    revision: u64,
    local: Local,
    now: Instant,
    unix_now: i64,
    timings: Timings,
) -> Step {
    let stopped = lease
        .and_then(|l| l.annotations.get(&stop_key(sync)))
        .map(|v| Stopped::decode(v))
        .filter(|s| s.revision >= revision);
    if let Some(s) = stopped {
        return Step::Stopped(s);
    }
    let mine = lease.is_some_and(|l| l.spec.holder.as_deref() == Some(me));
    let phase = match local {
        Local::Current if mine => return Step::Release,
        Local::Current => return Step::Nothing,
        Local::Pending => Phase::Upgrade,
        Local::Verifying => Phase::Verify,
    };
    match observer.decide(lease.map(|l| &l.spec), me, now, unix_now, timings) {
        Decision::Follow { holder, .. } => Step::Wait { holder },
        Decision::Create(spec) => Step::Take {
            spec,
            create: true,
            phase,
        },
        Decision::Acquire(spec) | Decision::Renew(spec) => Step::Take {
            spec,
            create: false,
            phase,
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    const T: Timings = Timings {
        lease_duration: Duration::from_secs(60),
        renew_deadline: Duration::from_secs(50),
        retry_period: Duration::from_secs(2),
    };

    fn lease(holder: Option<&str>, stop: Option<(&str, &str)>) -> LeaseRecord {
        let mut r = LeaseRecord::default();
        r.spec.holder = holder.map(String::from);
        r.spec.lease_duration_seconds = 60;
        if let Some((sync, v)) = stop {
            r.annotations.insert(stop_key(sync), v.into());
        }
        r
    }

    fn step(o: &mut Observer, l: Option<&LeaseRecord>, me: &str, local: Local, t: Instant) -> Step {
        next(o, l, me, "edge-host", 5, local, t, 1_000, T)
    }

    #[test]
    fn a_pending_node_creates_or_takes_a_free_lease_and_waits_for_a_held_one() {
        let mut o = Observer::default();
        let t0 = Instant::now();
        let s = step(&mut o, None, "n1", Local::Pending, t0);
        assert!(
            matches!(s, Step::Take { create: true, phase: Phase::Upgrade, ref spec } if spec.holder.as_deref() == Some("n1"))
        );
        let free = lease(None, None);
        assert!(matches!(
            step(&mut o, Some(&free), "n1", Local::Pending, t0),
            Step::Take { create: false, .. }
        ));
        let held = lease(Some("n2"), None);
        assert_eq!(
            step(&mut o, Some(&held), "n1", Local::Pending, t0),
            Step::Wait {
                holder: "n2".into()
            }
        );
        // n2 died mid-turn: its claim runs out a lease after n1 first saw it.
        let later = t0 + Duration::from_secs(60);
        assert!(matches!(
            step(&mut o, Some(&held), "n1", Local::Pending, later),
            Step::Take { create: false, .. }
        ));
    }

    #[test]
    fn a_current_node_makes_no_claim_and_releases_one_it_still_holds() {
        let mut o = Observer::default();
        let t0 = Instant::now();
        assert_eq!(step(&mut o, None, "n1", Local::Current, t0), Step::Nothing);
        let mine = lease(Some("n1"), None);
        assert_eq!(
            step(&mut o, Some(&mine), "n1", Local::Current, t0),
            Step::Release
        );
        // An agent restarted after installing (self-update) checks in its renewed turn.
        assert!(matches!(
            step(&mut o, Some(&mine), "n1", Local::Verifying, t0),
            Step::Take {
                create: false,
                phase: Phase::Verify,
                ..
            }
        ));
    }

    #[test]
    fn a_stopped_rollout_is_refused_until_a_newer_revision() {
        let mut o = Observer::default();
        let t0 = Instant::now();
        let stopped = lease(None, Some(("edge-host", "5 node-2 Node node-2 not Ready")));
        assert_eq!(
            step(&mut o, Some(&stopped), "n3", Local::Pending, t0),
            Step::Stopped(Stopped::new(5, "node-2", "Node node-2 not Ready"))
        );
        // Revision 6 is a new rollout; another sync's stop is not ours.
        assert!(matches!(
            next(
                &mut o,
                Some(&stopped),
                "n3",
                "edge-host",
                6,
                Local::Pending,
                t0,
                0,
                T
            ),
            Step::Take { .. }
        ));
        assert!(matches!(
            next(
                &mut o,
                Some(&stopped),
                "n3",
                "other",
                5,
                Local::Pending,
                t0,
                0,
                T
            ),
            Step::Take { .. }
        ));
    }

    #[test]
    fn a_malformed_or_hostile_stop_record_stops_every_revision_and_a_reason_is_bounded() {
        for bad in [
            "x node-2 why",
            "5  why",
            "5",
            "5 node-2 line\nbreak",
            &format!("5 node-2 {}", "r".repeat(MAX_REASON + 1)),
        ] {
            let s = Stopped::decode(bad);
            assert_eq!(
                (s.revision, s.node.as_str()),
                (u64::MAX, "unknown"),
                "{bad:?}"
            );
            assert!(s.reason.starts_with("malformed stop record"));
        }
        let long = Stopped::new(5, "node-2", &format!("a\nb{}", "x".repeat(5000)));
        assert!(long.reason.len() <= MAX_REASON && !long.reason.contains('\n'));
        assert_eq!(Stopped::decode(&long.encode()).revision, 5);
    }
}
