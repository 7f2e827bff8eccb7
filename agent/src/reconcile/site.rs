//! A pass on a node of a site with several nodes: a follower (not holding the site Lease)
//! polls, verifies and caches each new revision and writes nothing; a node that becomes
//! leader first applies, from its own cache, a revision it cached while following (a
//! takeover needs no source). A write refused by the fence ends the pass without rollback,
//! hold or error state: the revision is not at fault, the node just stopped leading.

use super::decide::GoodRevision;
use super::{Agent, Outcome, SyncError};
use crate::config::SyncConfig;
use crate::source::{Poll, SourceError};
use crate::store::AttemptKind;
use ferry_bundle::verify::{self, Verdict};

use crate::site::cache::{self, Cached};

impl Agent {
    /// The holder, when this node is a site node that does not hold the Lease now.
    pub(super) fn site_follower(&self) -> Option<String> {
        let e = self.site.as_ref()?;
        if e.fence().holds() {
            return None;
        }
        Some(e.last().and_then(|r| r.spec.holder).unwrap_or_default())
    }

    fn cached(&self, sync: &str) -> Option<Cached> {
        cache::get(&self.store, sync)
    }

    /// A follower's pass: poll, verify, cache; no write.
    pub(super) fn follow(&self, sync: &SyncConfig, holder: String) -> Result<Outcome, SyncError> {
        let name = sync.name.as_str();
        let st = |source| SyncError::Store {
            sync: name.into(),
            source,
        };
        let state = self.store.sync_state(name).map_err(st)?;
        let cached = self.cached(name);
        let mut policy = self.policy(sync)?;
        // Anti-rollback counts what was cached too: never cache below it.
        policy.highest_applied = policy
            .highest_applied
            .max(cached.as_ref().map(|c| c.revision));
        let following = |cached: Option<u64>| Outcome::Following {
            holder: holder.clone(),
            cached,
        };
        let polled = {
            let mut src = self.sources[name].lock().unwrap_or_else(|e| e.into_inner());
            src.poll(state.cursor.as_deref(), &policy)
        };
        let found = match polled {
            Err(e) => {
                let unreachable = matches!(e, SourceError::Unreachable { .. });
                self.store
                    .set_source_reachable(name, !unreachable)
                    .map_err(st)?;
                return Err(SyncError::Source {
                    sync: name.into(),
                    source: e,
                });
            }
            Ok(Poll::Unchanged) => return Ok(following(cached.map(|c| c.revision))),
            Ok(Poll::Found(f)) => f,
        };
        self.store.set_source_reachable(name, true).map_err(st)?;
        let verdict = verify::verify_manifest(&found.manifest, found.signature.as_deref(), &policy)
            .map_err(|source| SyncError::Refused {
                sync: name.into(),
                origin: found.origin.clone(),
                source,
            })?;
        let vm = verdict.manifest().clone();
        if matches!(verdict, Verdict::UpToDate(_)) {
            self.store
                .set_cursor(name, Some(&found.cursor))
                .map_err(st)?;
            return Ok(following(cached.map(|c| c.revision)));
        }
        crate::host::admit(sync, &vm.manifest).map_err(|source| SyncError::HostRefused {
            sync: name.into(),
            origin: found.origin.clone(),
            source,
        })?;
        let revision = vm.manifest.revision;
        self.store_bundle(
            sync,
            found.files,
            &found.manifest,
            found.signature.as_deref(),
            &vm,
            &found.origin,
        )?;
        let c = Cached {
            revision,
            digest: vm.digest.clone(),
            cursor: found.cursor.clone(),
        };
        cache::put(&self.store, name, &c).map_err(st)?;
        self.store
            .set_cursor(name, Some(&found.cursor))
            .map_err(st)?;
        tracing::info!(
            sync = name,
            revision,
            "verified and cached for a takeover ({holder} leads)"
        );
        Ok(following(Some(revision)))
    }

    /// On the leader: a revision cached while following and newer than the one applied is
    /// applied first, from the cache.
    pub(super) fn take_over_from_cache(
        &self,
        sync: &SyncConfig,
        good: Option<&GoodRevision>,
    ) -> Option<Result<Outcome, SyncError>> {
        self.site.as_ref()?;
        let name = sync.name.as_str();
        let c = self.cached(name)?;
        // A cached revision that failed here and is held waits like any held offer.
        let held = self.store.held(name).ok().flatten().is_some_and(|h| {
            h.revision == c.revision && h.digest == c.digest && h.until > crate::store::now()
        });
        if held
            || good.is_some_and(|g| g.revision >= c.revision)
            || self.site_applied(name).is_some_and(|s| s > c.revision)
        {
            return None;
        }
        let run = || {
            let manifest = self.cached_manifest(name, c.revision, &c.digest)?;
            self.store
                .raise_highest(name, c.revision)
                .map_err(|source| SyncError::Store {
                    sync: name.into(),
                    source,
                })?;
            let result = self.apply_revision(
                sync,
                &manifest,
                &c.digest,
                AttemptKind::Apply,
                Some("the site cache"),
            );
            self.after_attempt(sync, c.revision, &c.digest, &c.cursor, good, result)
        };
        Some(run())
    }
}

impl Agent {
    /// The site's applied revision of `sync` as the Lease carries it (None: no site, or
    /// nothing recorded yet).
    pub(super) fn site_applied(&self, sync: &str) -> Option<u64> {
        let e = self.site.as_ref()?;
        e.site_state("applied", sync).map(|(r, _)| r)
    }

    /// The anti-rollback floor for verification: the local highest applied, raised to just
    /// below the site's applied revision (so that revision itself is still taken when this
    /// node lacks it, and anything older is refused as a rollback).
    pub(super) fn site_floor(&self, sync: &str, local: Option<u64>) -> Option<u64> {
        match self.site_applied(sync) {
            Some(r) if r > 0 => Some(local.unwrap_or(0).max(r - 1)),
            _ => local,
        }
    }

    /// True when the site is at a newer revision than this node's last good one: enforcing
    /// or rolling back to the local one would take the site back.
    pub(super) fn behind_site(&self, sync: &str, local: Option<u64>) -> bool {
        self.site_applied(sync)
            .is_some_and(|r| local.is_none_or(|l| l < r))
    }

    /// Before a revision is applied on a site: the Lease records it as the site's highest
    /// verified revision, written at once (the write fails unless this node leads).
    pub(super) fn site_intent(&self, sync: &str, revision: u64) -> Result<(), SyncError> {
        let Some(e) = &self.site else { return Ok(()) };
        if let Some(site) = self.site_applied(sync).filter(|s| *s > revision) {
            // The one gate every apply passes: nothing older than the site's revision.
            return Err(SyncError::BelowSite {
                sync: sync.into(),
                revision,
                site,
            });
        }
        let key = crate::site::elector::state_key("highest", sync);
        e.publish_now(&[(key, revision.to_string())])
            .map_err(|source| SyncError::Site {
                sync: sync.into(),
                source,
            })
    }

    /// After a revision was applied: the Lease records it as the site's applied revision (at
    /// once; else with the next renewal).
    pub(super) fn site_done(&self, sync: &str, revision: u64, digest: &str) {
        let Some(e) = &self.site else { return };
        let key = crate::site::elector::state_key("applied", sync);
        if let Err(err) = e.publish_now(&[(key, format!("{revision} {digest}"))]) {
            tracing::warn!(sync, "site state: {err}");
        }
    }
}

impl SyncError {
    /// True when a write was refused by the site fence (this node stopped leading).
    pub fn is_fenced(&self) -> bool {
        if matches!(self, SyncError::Site { .. }) {
            return true;
        }
        let mut e: Option<&(dyn std::error::Error + 'static)> = Some(self);
        while let Some(err) = e {
            if let Some(crate::kube::KubeError::Fenced { .. }) =
                err.downcast_ref::<crate::kube::KubeError>()
            {
                return true;
            }
            e = err.source();
        }
        false
    }
}
