//! A site node's turn in the rolling host upgrade, after each pass of a host-capable sync:
//! the host section of the site's applied revision (as the site Lease records it, from this
//! node's own verified store) is installed here only while this node holds the host Lease;
//! then its Node must be Ready and the API healthy, or the previous files are restored and
//! the rollout of that revision is stopped for the whole site. The decisions are
//! [`crate::site::rollout`]'s; the requests [`crate::site::host_lease`]'s. A node whose host
//! files already match makes no request at all. A device without `site:` applies host
//! sections inside the pass, as before ([`Agent::apply_host`]).

use super::{Agent, Outcome, SyncError};
use crate::config::SyncConfig;
use crate::events::EventKind;
use crate::host::plan::HostPlan;
use crate::host::{apply, HostApplyError, HostOutcome};
use crate::site::host_lease::{HostLeaseError, HostRollout};
use crate::site::lease_object::LeaseRecord;
use crate::site::rollout::{Local, Phase, Step, Stopped};
use ferry_bundle::Manifest;
use serde::{Deserialize, Serialize};
use serde_json::json;

/// Why a turn did not complete (the next pass tries again).
#[derive(Debug, thiserror::Error)]
pub enum RolloutError {
    #[error("host rollout: {0}")]
    Lease(#[from] HostLeaseError),
    #[error("host rollout: {0}")]
    Host(#[from] HostApplyError),
    #[error("host rollout: {0}")]
    Store(#[from] crate::store::StoreError),
    #[error("host rollout: turn marker: {0}")]
    Marker(String),
    #[error("host rollout: {0} pods still on the node after the drain timeout (readyTimeout); turn given back")]
    Drain(usize),
}

/// What this node is in the middle of (kv `host-rollout|<sync>`), so an agent restarted in
/// its turn (a self-update, a crash) checks and releases instead of starting over.
#[derive(Debug, Serialize, Deserialize)]
struct Turn {
    revision: u64,
    plan: HostPlan,
    /// This turn cordoned the Node (and uncordons it).
    cordoned: bool,
}

fn turn_key(sync: &str) -> String {
    format!("host-rollout|{sync}")
}

impl Agent {
    /// One pass of the named sync, then (on a site node) its turn in the host rollout.
    pub fn sync_once(&self, name: &str) -> Result<Outcome, SyncError> {
        let out = self.sync_pass(name);
        if let (Some(r), Some(sync)) = (&self.rollout, self.config.sync(name)) {
            if sync.host.enabled {
                if let Err(e) = self.roll_host(sync, r) {
                    tracing::warn!(sync = name, "{e}");
                }
            }
        }
        out
    }

    /// Applies the host section of `manifest` (if any) now.
    pub(super) fn apply_host(
        &self,
        name: &str,
        manifest: &Manifest,
    ) -> Result<Option<HostOutcome>, SyncError> {
        let clock = self.client.clock();
        crate::host::apply_for_sync(
            &self.config,
            &self.store,
            &self.blobs,
            clock,
            name,
            manifest,
        )
        .map_err(|source| SyncError::Host {
            sync: name.into(),
            source,
        })
    }

    fn turn(&self, sync: &str) -> Result<Option<Turn>, RolloutError> {
        match self.store.kv_get(&turn_key(sync))? {
            Some(v) if !v.is_empty() => serde_json::from_str(&v)
                .map(Some)
                .map_err(|e| RolloutError::Marker(e.to_string())),
            _ => Ok(None),
        }
    }

    fn set_turn(&self, sync: &str, turn: Option<&Turn>) -> Result<(), RolloutError> {
        let v = match turn {
            Some(t) => serde_json::to_string(t).map_err(|e| RolloutError::Marker(e.to_string()))?,
            None => String::new(),
        };
        Ok(self.store.kv_set(&turn_key(sync), &v)?)
    }

    fn roll_host(&self, sync: &SyncConfig, r: &HostRollout) -> Result<(), RolloutError> {
        let name = sync.name.as_str();
        let Some((revision, digest)) = self
            .site
            .as_ref()
            .and_then(|e| e.site_state("applied", name))
        else {
            return Ok(());
        };
        // The site's revision, verified by this node (a follower caches every revision).
        let Ok(manifest) = self.cached_manifest(name, revision, &digest) else {
            return Ok(());
        };
        let Some(section) = &manifest.host else {
            return Ok(());
        };
        let held = self.store.host_hold(name)?;
        let digest = crate::host::backoff::section_digest(section);
        if let Some(h) = crate::host::backoff::holds(
            held.as_ref(),
            revision,
            &digest,
            self.client.clock().unix_now(),
        ) {
            r.set_status(
                json!({"sync": name, "revision": revision, "state": "held", "reason": h.error}),
            );
            return Ok(());
        }
        let turn = self.turn(name)?.filter(|t| t.revision == revision);
        let plan = match &turn {
            Some(t) => t.plan.clone(),
            None => crate::host::with_context(
                &self.config,
                &self.store,
                &self.blobs,
                self.client.clock(),
                |ctx| apply::plan_section(ctx, &manifest, section),
            )
            .map_err(HostApplyError::from)??,
        };
        let local = match (&turn, plan.is_empty()) {
            (Some(_), _) => Local::Verifying,
            (None, true) => Local::Current,
            (None, false) => Local::Pending,
        };
        if local == Local::Current {
            return Ok(());
        }
        let lease = r.read()?;
        match r.decide(lease.as_ref(), name, revision, local) {
            Step::Nothing => Ok(()),
            Step::Release => match &lease {
                Some(l) => Ok(r.release(l, None)?),
                None => Ok(()),
            },
            Step::Stopped(s) => {
                self.report_stop(name, &s, false);
                r.set_status(stopped_status(name, &s));
                Ok(())
            }
            Step::Wait { holder } => {
                r.set_status(json!({"sync": name, "revision": revision, "state": "waiting", "holder": holder}));
                Ok(())
            }
            Step::Take { spec, phase, .. } => {
                let mine = match r.write(&spec, lease.as_ref(), Default::default()) {
                    Ok(l) => l,
                    Err(HostLeaseError::Conflict(_)) => return Ok(()),
                    Err(e) => return Err(e.into()),
                };
                r.set_status(json!({"sync": name, "revision": revision, "state": "upgrading", "holder": r.me()}));
                let turn = match (phase, turn) {
                    (Phase::Verify, Some(t)) => Some(t),
                    _ => self.upgrade(name, r, &manifest, plan, &mine)?,
                };
                match turn {
                    Some(t) => self.check_and_release(name, r, &manifest, t, mine),
                    None => Ok(()),
                }
            }
        }
    }

    /// Cordons (if asked), installs and restarts; a failure here was rolled back by the host
    /// transaction and stops the rollout. Returns the turn to check (None: nothing to check
    /// now: the turn ended, or a self-update that the new binary checks after its restart).
    fn upgrade(
        &self,
        name: &str,
        r: &HostRollout,
        manifest: &Manifest,
        plan: HostPlan,
        mine: &LeaseRecord,
    ) -> Result<Option<Turn>, RolloutError> {
        let cordoned = r.config().cordon && !r.cordoned()?;
        if cordoned {
            r.set_unschedulable(true)?;
        }
        let turn = Turn {
            revision: manifest.revision,
            plan,
            cordoned,
        };
        self.set_turn(name, Some(&turn))?;
        if r.config().drain {
            if let Err(e) = self.drain(r) {
                // Pods that would not leave (a budget, a stuck pod): not the revision's fault.
                self.end_turn(name, r, mine, &turn, None)?;
                return Err(e);
            }
        }
        match self.apply_host(name, manifest) {
            Ok(Some(HostOutcome::SelfUpdatePending { .. })) => Ok(None),
            Ok(_) => Ok(Some(turn)),
            Err(SyncError::Host { source, .. }) if source.is_environmental() => {
                // The device, not the revision: give the turn back and try again later.
                self.end_turn(name, r, mine, &turn, None)?;
                Err(source.into())
            }
            Err(e) => {
                let stop = Stopped::new(manifest.revision, r.me(), &e.to_string());
                self.end_turn(name, r, mine, &turn, Some(&stop))?;
                Ok(None)
            }
        }
    }

    /// Evicts the Node's pods until none is left, at most `readyTimeout` (on the agent's clock).
    fn drain(&self, r: &HostRollout) -> Result<(), RolloutError> {
        let clock = r.clock().clone();
        let deadline = clock.now() + r.config().ready_timeout;
        loop {
            let left = r.drain_step()?;
            if left == 0 {
                return Ok(());
            }
            if clock.now() >= deadline {
                return Err(RolloutError::Drain(left));
            }
            clock.sleep(r.config().poll_interval);
        }
    }

    /// Waits (on the agent's clock) for the Node to be Ready and the API healthy; on success
    /// uncordons and releases; past `readyTimeout` restores the previous files, holds the
    /// revision back here and stops the rollout for the site.
    fn check_and_release(
        &self,
        name: &str,
        r: &HostRollout,
        manifest: &Manifest,
        turn: Turn,
        mine: LeaseRecord,
    ) -> Result<(), RolloutError> {
        let clock = r.clock().clone();
        // The turn is renewed before the wait (the restart may have taken most of it).
        let mine = r.renew(&mine).unwrap_or(mine);
        let cfg = r.config();
        let deadline = clock.now() + cfg.ready_timeout;
        let failure = loop {
            // A Node just restarted still shows its old condition: look one period later.
            clock.sleep(cfg.poll_interval);
            match r.ready() {
                None => break None,
                Some(why) if clock.now() >= deadline => break Some(why),
                Some(_) => {}
            }
        };
        let Some(why) = failure else {
            self.end_turn(name, r, &mine, &turn, None)?;
            r.set_status(json!({"sync": name, "revision": turn.revision, "state": "done"}));
            return Ok(());
        };
        let why = format!(
            "{why} within {}",
            humantime::format_duration(cfg.ready_timeout)
        );
        let restored = crate::host::with_context(
            &self.config,
            &self.store,
            &self.blobs,
            clock.as_ref(),
            |ctx| apply::rollback(ctx, &turn.plan),
        )
        .map_err(HostApplyError::from)?;
        let (kind, reason) = match restored {
            Ok(()) => (
                EventKind::HostRolledBack,
                format!("{why}; previous host files restored"),
            ),
            Err(e) => (
                EventKind::HostRollbackFailed,
                format!("{why}; restoring the previous host files failed: {e}"),
            ),
        };
        self.event(name, kind, &reason);
        crate::host::hold_failed(
            &self.config,
            &self.store,
            clock.as_ref(),
            name,
            manifest,
            &reason,
        )?;
        let stop = Stopped::new(turn.revision, r.me(), &reason);
        self.end_turn(name, r, &mine, &turn, Some(&stop))
    }

    /// Uncordons (if this turn cordoned), releases the host Lease (recording `stop`), and
    /// forgets the turn.
    fn end_turn(
        &self,
        name: &str,
        r: &HostRollout,
        mine: &LeaseRecord,
        turn: &Turn,
        stop: Option<&Stopped>,
    ) -> Result<(), RolloutError> {
        if turn.cordoned {
            r.set_unschedulable(false)?;
        }
        r.release(mine, stop.map(|s| (name, s)))?;
        self.set_turn(name, None)?;
        if let Some(s) = stop {
            self.report_stop(name, s, true);
            r.set_status(stopped_status(name, s));
        }
        Ok(())
    }

    /// Records `host-rollout-stopped` once per stop record (outbox, webhooks, fleet).
    fn report_stop(&self, name: &str, s: &Stopped, here: bool) {
        let key = format!("host-rollout-stopped:{name}:{}:{}", s.revision, s.node);
        let first = self.store.report_once(&key).unwrap_or(false);
        if here || first {
            self.event(
                name,
                EventKind::HostRolloutStopped,
                &format!(
                    "host rollout of revision {} stopped at node {}: {}",
                    s.revision, s.node, s.reason
                ),
            );
        }
    }
}

fn stopped_status(sync: &str, s: &Stopped) -> serde_json::Value {
    json!({"sync": sync, "revision": s.revision, "state": "stopped", "node": s.node, "reason": s.reason})
}
