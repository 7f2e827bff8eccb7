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

/// The store key of the revision a follower verified and cached: `<revision> <digest> <cursor>`.
fn cached_key(sync: &str) -> String {
    format!("site_cached|{sync}")
}

/// A revision a follower verified and cached.
struct Cached {
    revision: u64,
    digest: String,
    cursor: String,
}

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
        let v = self.store.kv_get(&cached_key(sync)).ok().flatten()?;
        let mut it = v.splitn(3, ' ');
        Some(Cached {
            revision: it.next()?.parse().ok()?,
            digest: it.next()?.to_string(),
            cursor: it.next().unwrap_or_default().to_string(),
        })
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
        self.store
            .kv_set(
                &cached_key(name),
                &format!("{revision} {} {}", vm.digest, found.cursor),
            )
            .map_err(st)?;
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
        if good.is_some_and(|g| g.revision >= c.revision) {
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

impl SyncError {
    /// True when a write was refused by the site fence (this node stopped leading).
    pub fn is_fenced(&self) -> bool {
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
