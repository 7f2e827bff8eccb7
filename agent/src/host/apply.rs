//! The IO shell of a host transaction: plan against the files on disk, journal, install each
//! file (stage, keep previous, rename), restart the units, check health, and on failure put
//! every previous file back and restart again. The agent's own binary is switched last, after
//! the other units are healthy, behind the self-update marker.

use super::config::HostConfig;
use super::health;
use super::install::{InstallError, Parent};
use super::plan::{self, Candidate, Current, HostPlan, PlanError};
use super::selfupdate::{self, Marker};
use super::units::{UnitError, UnitManager};
use crate::clock::Clock;
use crate::config::AgentConfig;
use crate::fault;
use crate::store::blobs::{BlobCache, BlobError};
use crate::store::host_journal::HostState;
use crate::store::{Store, StoreError};
use ferry_bundle::host::{Arch, HostSection};
use ferry_bundle::Manifest;
use std::path::Path;
use thiserror::Error;

/// What a host transaction needs.
pub struct HostContext<'a> {
    /// The agent's configuration (events go to its notifications).
    pub agent: &'a AgentConfig,
    pub cfg: &'a HostConfig,
    pub store: &'a Store,
    pub blobs: &'a BlobCache,
    pub units: &'a dyn UnitManager,
    /// The agent's state directory (self-update marker).
    pub state_dir: &'a Path,
    pub clock: &'a dyn Clock,
}

/// How a host transaction ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HostOutcome {
    /// Every file already had the wanted content.
    Unchanged,
    /// Files installed and units healthy.
    Applied { files: usize, units: Vec<String> },
    /// As `Applied`, and the agent's own binary was switched: the process must exit so its
    /// supervisor starts the new one.
    SelfUpdatePending { files: usize },
}

/// Why a host transaction failed.
#[derive(Debug, Error)]
pub enum HostApplyError {
    #[error("host section refused: {0}")]
    Plan(#[from] PlanError),
    #[error(transparent)]
    Install(#[from] InstallError),
    #[error("host file content: {0}")]
    Blob(#[from] BlobError),
    #[error("host file {target}: {source}")]
    Secrets {
        target: String,
        source: crate::secrets::SecretsError,
    },
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Unit(#[from] UnitError),
    #[error("host update failed and was rolled back: {reason}")]
    RolledBack { reason: String },
    #[error("host update failed ({reason}) and the rollback failed too: {restore}")]
    RestoreFailed { reason: String, restore: String },
    #[error("self-update marker: {0}")]
    Marker(std::io::Error),
    #[error("{0}")]
    Unhealthy(String),
    #[error("host plan record: {0}")]
    Record(String),
    #[error("host update of revision {revision} failed before ({error}); held until {until} (failure {failures}), or `ferry-agent retry`")]
    Held {
        revision: u64,
        /// RFC 3339.
        until: String,
        failures: u32,
        error: String,
    },
}

impl HostApplyError {
    /// True when the device, not the revision, is at fault (state database, blob cache, a
    /// filesystem error, `systemctl` not answering): the revision is retried, not held. A plan
    /// refused, an unhealthy unit and a rolled-back update are the revision's (deterministic).
    pub fn is_environmental(&self) -> bool {
        match self {
            HostApplyError::Store(_) | HostApplyError::Blob(_) | HostApplyError::Marker(_) => true,
            HostApplyError::Install(InstallError::Io { .. }) => true,
            HostApplyError::Unit(UnitError::Failed { .. }) => true,
            HostApplyError::Plan(_)
            | HostApplyError::Secrets { .. }
            | HostApplyError::Install(_)
            | HostApplyError::Unit(UnitError::Unknown(_))
            | HostApplyError::RolledBack { .. }
            | HostApplyError::RestoreFailed { .. }
            | HostApplyError::Unhealthy(_)
            | HostApplyError::Record(_)
            | HostApplyError::Held { .. } => false,
        }
    }
}

fn running_arch() -> Result<Arch, PlanError> {
    Arch::from_rust(std::env::consts::ARCH)
        .ok_or_else(|| PlanError::UnknownArchitecture(std::env::consts::ARCH.into()))
}

/// Plans `section` of `manifest` against the files under the configured root.
pub fn plan_section(
    ctx: &HostContext<'_>,
    manifest: &Manifest,
    section: &HostSection,
) -> Result<HostPlan, HostApplyError> {
    let running = running_arch()?;
    let mut candidates = Vec::new();
    for file in plan::for_arch(section, running) {
        let entry = manifest.file(&file.source).ok_or_else(|| {
            HostApplyError::Record(format!("{} is not in the manifest", file.source))
        })?;
        let current = match Parent::open(&ctx.cfg.root, &file.target, false) {
            Ok(p) => p.current("")?,
            Err(InstallError::Io { source, .. })
                if source.kind() == std::io::ErrorKind::NotFound =>
            {
                Current::Missing
            }
            Err(e) => return Err(e.into()),
        };
        // An encrypted file is planned by the digest of its plaintext (what is on the host).
        let data = content(ctx, manifest, &file.source)?;
        let sha256 = match file.sops {
            true => ferry_bundle::digest::sha256_hex(&data),
            false => entry.sha256.clone(),
        };
        candidates.push(Candidate {
            file,
            sha256,
            machine: plan::machine(&data[..data.len().min(64)]),
            current,
        });
    }
    let plan = plan::plan(
        ctx.cfg,
        section,
        &candidates,
        running,
        env!("CARGO_PKG_VERSION"),
    )?;
    let refused = ctx.store.kv_get(super::REFUSED_SELF_KEY)?;
    if let Some(own) = plan.installs.last().filter(|_| plan.self_update) {
        if refused.as_deref() == Some(own.sha256.as_str()) {
            let short = own.sha256.get(..12).unwrap_or_default().to_string();
            return Err(PlanError::SelfUpdateRolledBack(short).into());
        }
    }
    Ok(plan)
}

/// Applies a host section for `sync` at `revision`.
pub fn apply(
    ctx: &HostContext<'_>,
    sync: &str,
    manifest: &Manifest,
    section: &HostSection,
) -> Result<HostOutcome, HostApplyError> {
    recover(ctx)?;
    let plan = plan_section(ctx, manifest, section)?;
    if plan.is_empty() {
        return Ok(HostOutcome::Unchanged);
    }
    let record = serde_json::to_string(&plan).map_err(|e| HostApplyError::Record(e.to_string()))?;
    let id = ctx.store.host_begin(sync, manifest.revision, &record)?;
    fault::point("host-after-journal");
    let (others, own): (Vec<_>, Vec<_>) = plan
        .installs
        .iter()
        .partition(|i| i.target != ctx.cfg.self_path);
    let result = install_all(ctx, manifest, &others).and_then(|()| {
        ctx.store.host_set_state(id, HostState::Checking, None)?;
        restart_and_check(ctx, &plan)
    });
    if let Err(e) = result {
        return Err(fail(ctx, sync, id, &plan, e.to_string()));
    }
    let Some(own) = own.first() else {
        ctx.store.host_set_state(id, HostState::Done, None)?;
        let units: Vec<String> = plan.restarts.iter().map(|u| u.name.clone()).collect();
        event(
            ctx,
            sync,
            crate::events::EventKind::HostApplied,
            &format!(
                "revision {}: {} host files, restarted {:?}",
                manifest.revision,
                plan.installs.len(),
                units
            ),
        );
        return Ok(HostOutcome::Applied {
            files: plan.installs.len(),
            units,
        });
    };
    let marker = Marker {
        target: own.target.clone(),
        new_sha256: own.sha256.clone(),
        previous_sha256: own.previous_sha256.clone().unwrap_or_default(),
        deadline: ctx.clock.unix_now().max(0) as u64 + ctx.cfg.self_update_deadline.as_secs(),
        starts: 0,
        journal: id,
    };
    let switched = (|| {
        let parent = Parent::open(&ctx.cfg.root, &own.target, true)?;
        parent.stage(
            &content(ctx, manifest, &own.source)?,
            own.mode,
            own.uid,
            own.gid,
        )?;
        parent.keep_previous()?;
        selfupdate::write_marker(ctx.state_dir, &marker).map_err(HostApplyError::Marker)?;
        fault::point("host-before-self-switch");
        parent.commit()?;
        ctx.store.host_set_state(id, HostState::SelfPending, None)?;
        Ok::<_, HostApplyError>(())
    })();
    if let Err(e) = switched {
        let _ = selfupdate::clear_marker(ctx.state_dir);
        return Err(fail(ctx, sync, id, &plan, e.to_string()));
    }
    event(
        ctx,
        sync,
        crate::events::EventKind::SelfUpdate,
        &format!(
            "revision {}: ferry-agent {} installed, restarting to confirm",
            manifest.revision,
            own.sha256.get(..12).unwrap_or("")
        ),
    );
    Ok(HostOutcome::SelfUpdatePending {
        files: plan.installs.len(),
    })
}

/// The bytes a host file installs: the bundle file, or for a SOPS file its plaintext,
/// decrypted in memory (wiped when dropped) with the device's identities.
fn content(
    ctx: &HostContext<'_>,
    manifest: &Manifest,
    source: &str,
) -> Result<zeroize::Zeroizing<Vec<u8>>, HostApplyError> {
    let entry = manifest
        .file(source)
        .ok_or_else(|| HostApplyError::Record(format!("{source} is not in the manifest")))?;
    let data = ctx.blobs.read(&entry.sha256)?;
    let encrypted = manifest
        .host
        .as_ref()
        .is_some_and(|h| h.files.iter().any(|f| f.source == source && f.sops));
    if !encrypted {
        return Ok(zeroize::Zeroizing::new(data));
    }
    let mut keyring = crate::secrets::Keyring::new(ctx.agent.decryption.as_ref());
    keyring
        .open_host_file(source, &data)
        .map_err(|source_err| HostApplyError::Secrets {
            target: source.to_string(),
            source: source_err,
        })
}

fn install_all(
    ctx: &HostContext<'_>,
    manifest: &Manifest,
    installs: &[&plan::Install],
) -> Result<(), HostApplyError> {
    for i in installs {
        let parent = Parent::open(&ctx.cfg.root, &i.target, true)?;
        parent.stage(&content(ctx, manifest, &i.source)?, i.mode, i.uid, i.gid)?;
        fault::count("host-staged");
        if i.had_previous {
            parent.keep_previous()?;
        }
        parent.commit()?;
        fault::count("host-renamed");
    }
    Ok(())
}

fn restart_and_check(ctx: &HostContext<'_>, plan: &HostPlan) -> Result<(), HostApplyError> {
    for u in &plan.restarts {
        ctx.units.restart(&u.name)?;
        fault::point("host-after-restart");
        health::wait_healthy(ctx.units, &u.name, &u.health, ctx.cfg)
            .map_err(HostApplyError::Unhealthy)?;
    }
    Ok(())
}

/// Puts every previous file of `plan` back (reverse order) and restarts its units.
pub fn rollback(ctx: &HostContext<'_>, plan: &HostPlan) -> Result<(), String> {
    for i in plan.installs.iter().rev() {
        match Parent::open(&ctx.cfg.root, &i.target, false) {
            Ok(p) => p
                .restore(i.previous_sha256.as_deref(), &i.sha256)
                .map_err(|e| e.to_string())?,
            // A parent that was never created holds nothing to undo.
            Err(InstallError::Io { source, .. })
                if source.kind() == std::io::ErrorKind::NotFound && !i.had_previous => {}
            Err(e) => return Err(e.to_string()),
        }
        fault::count("host-restored");
    }
    for u in &plan.restarts {
        ctx.units.restart(&u.name).map_err(|e| e.to_string())?;
        health::wait_healthy(ctx.units, &u.name, &u.health, ctx.cfg)
            .map_err(|e| format!("after rollback: {e}"))?;
    }
    Ok(())
}

fn fail(
    ctx: &HostContext<'_>,
    sync: &str,
    id: i64,
    plan: &HostPlan,
    reason: String,
) -> HostApplyError {
    match rollback(ctx, plan) {
        Ok(()) => {
            let _ = ctx
                .store
                .host_set_state(id, HostState::RolledBack, Some(&reason));
            event(ctx, sync, crate::events::EventKind::HostRolledBack, &reason);
            HostApplyError::RolledBack { reason }
        }
        Err(restore) => {
            let msg = format!("{reason}; rollback: {restore}");
            let _ = ctx
                .store
                .host_set_state(id, HostState::RolledBack, Some(&msg));
            event(
                ctx,
                sync,
                crate::events::EventKind::HostRollbackFailed,
                &msg,
            );
            HostApplyError::RestoreFailed { reason, restore }
        }
    }
}

/// Records a host event the way every event is recorded (logged, coalesced, notified).
fn event(ctx: &HostContext<'_>, sync: &str, kind: crate::events::EventKind, message: &str) {
    crate::events::record(
        ctx.store,
        ctx.agent,
        sync,
        kind,
        message,
        ctx.clock.unix_now(),
    );
}

/// At start and before each host transaction: rolls back every transaction a crash left
/// `installing` or `checking`, so the host has all the old files again.
pub fn recover(ctx: &HostContext<'_>) -> Result<usize, HostApplyError> {
    let open = ctx
        .store
        .host_records(&[HostState::Installing, HostState::Checking])?;
    for r in &open {
        let plan: HostPlan =
            serde_json::from_str(&r.plan).map_err(|e| HostApplyError::Record(e.to_string()))?;
        let result = rollback(ctx, &plan);
        let msg = match &result {
            Ok(()) => "agent stopped during this host update; previous files restored".to_string(),
            Err(e) => format!("agent stopped during this host update; restore failed: {e}"),
        };
        ctx.store
            .host_set_state(r.id, HostState::Interrupted, Some(&msg))?;
        event(
            ctx,
            &r.sync,
            crate::events::EventKind::HostInterrupted,
            &msg,
        );
    }
    Ok(open.len())
}
