//! Host payloads: files outside the cluster (the k3s binary, its `registries.yaml` and
//! `config.yaml`, ferry-agent itself) installed from the signed `host` section of a bundle, with
//! unit restarts, health checks and rollback. See `docs/host-payloads.md`.
//!
//! [`plan`], [`selfupdate`]'s rules and the failure [`backoff`] are pure; [`install`]
//! (no-symlink atomic file replacement), [`units`], [`health`] and [`apply`] are the IO shell.
//! Host events are recorded like every other event ([`crate::events::record`]: coalesced,
//! notified), at the time of the agent's [`Clock`].

pub mod apply;
pub mod backoff;
pub mod config;
pub mod error;
pub mod gate;
pub mod health;
pub mod install;
pub mod plan;
pub mod selfupdate;
pub mod units;

pub use apply::{HostApplyError, HostContext, HostOutcome};
pub use config::HostConfig;

use crate::clock::Clock;
use crate::config::AgentConfig;
use crate::store::host_journal::HostState;
use crate::store::Store;
use install::Parent;
use selfupdate::{GuardDecision, StartDecision};
use std::sync::atomic::{AtomicBool, Ordering};

/// The kv key holding the digest of the last self-update the guard rolled back.
pub const REFUSED_SELF_KEY: &str = "host.self-update.refused";

/// Exit code asking the supervisor (systemd `Restart=on-failure`) to start the new binary.
pub const EXIT_RESTART: u8 = 75;

static RESTART_REQUESTED: AtomicBool = AtomicBool::new(false);

/// Asks the process to exit with [`EXIT_RESTART`] after the current pass.
pub fn request_restart() {
    RESTART_REQUESTED.store(true, Ordering::SeqCst);
}

/// True when a self-update is waiting for the process to restart.
pub fn restart_requested() -> bool {
    RESTART_REQUESTED.load(Ordering::SeqCst)
}

/// The sha256 of the running binary (the inode this process runs, even if replaced since).
pub fn running_sha256() -> Result<String, String> {
    let f = std::fs::File::open("/proc/self/exe").map_err(|e| format!("/proc/self/exe: {e}"))?;
    ferry_bundle::digest::sha256_reader(f)
        .map(|(d, _)| d)
        .map_err(|e| format!("/proc/self/exe: {e}"))
}

/// At start: a new binary confirms itself (`self_check` passed) or fails; a pending update the
/// running binary is not part of is cleared. Returns the decision taken.
pub fn start_check(
    agent: &AgentConfig,
    store: &Store,
    clock: &dyn Clock,
    self_check: Result<(), String>,
) -> Result<StartDecision, String> {
    let state_dir = agent.state_dir.as_path();
    let marker = selfupdate::read_marker(state_dir)?;
    let now = clock.unix_now().max(0) as u64;
    let decision = selfupdate::on_start(marker.as_ref(), &running_sha256()?, now, self_check);
    let Some(m) = marker else {
        return Ok(decision);
    };
    match &decision {
        StartDecision::Confirm => {
            store
                .host_set_state(m.journal, HostState::Done, None)
                .map_err(|e| e.to_string())?;
            crate::events::record(
                store,
                agent,
                "host",
                crate::events::EventKind::SelfUpdateConfirmed,
                &format!(
                    "ferry-agent {} confirmed healthy",
                    env!("CARGO_PKG_VERSION")
                ),
                clock.unix_now(),
            );
            selfupdate::clear_marker(state_dir).map_err(|e| e.to_string())?;
        }
        StartDecision::Abandon => {
            selfupdate::clear_marker(state_dir).map_err(|e| e.to_string())?;
        }
        StartDecision::Nothing | StartDecision::FailStart(_) => {}
    }
    Ok(decision)
}

/// The guard run by the previous binary before each start (`ferry-agent host guard`).
pub fn guard(
    agent: &AgentConfig,
    cfg: &HostConfig,
    store: &Store,
    clock: &dyn Clock,
) -> Result<GuardDecision, String> {
    let state_dir = agent.state_dir.as_path();
    let marker = selfupdate::read_marker(state_dir)?;
    let now = clock.unix_now().max(0) as u64;
    let decision = selfupdate::guard(marker.as_ref(), now, cfg.self_update_max_starts);
    let Some(m) = marker else {
        return Ok(decision);
    };
    match &decision {
        GuardDecision::Nothing => {}
        GuardDecision::Start { starts } => {
            let next = selfupdate::Marker {
                starts: *starts,
                ..m
            };
            selfupdate::write_marker(state_dir, &next).map_err(|e| e.to_string())?;
        }
        GuardDecision::Restore(reason) => {
            let prev = (!m.previous_sha256.is_empty()).then_some(m.previous_sha256.as_str());
            Parent::open(&cfg.root, &m.target, false)
                .and_then(|p| p.restore(prev, &m.new_sha256))
                .map_err(|e| e.to_string())?;
            let msg = format!(
                "new ferry-agent did not confirm itself ({reason:?}); previous binary restored"
            );
            let _ = store.host_set_state(m.journal, HostState::RolledBack, Some(&msg));
            let _ = store.kv_set(REFUSED_SELF_KEY, &m.new_sha256);
            // The sync's status carries it too (its history still lists the revision applied).
            if let Ok(records) = store.host_records(&[HostState::RolledBack]) {
                if let Some(r) = records.iter().find(|r| r.id == m.journal) {
                    let _ = store.set_error(&r.sync, Some(&msg));
                }
            }
            crate::events::record(
                store,
                agent,
                "host",
                crate::events::EventKind::SelfUpdateRolledBack,
                &msg,
                clock.unix_now(),
            );
            selfupdate::clear_marker(state_dir).map_err(|e| e.to_string())?;
        }
    }
    Ok(decision)
}

/// Whether `sync` may receive `manifest`: a manifest with a host section only on a signed,
/// host-capable sync ([`gate::gate`]). Run right after verification, before anything of the
/// revision is stored, and again before a host section is applied.
pub fn admit(
    sync: &crate::config::SyncConfig,
    manifest: &ferry_bundle::Manifest,
) -> Result<(), plan::PlanError> {
    match manifest.host {
        Some(_) => gate::gate(&sync.name, sync.host.enabled, sync.insecure_skip_signature),
        None => Ok(()),
    }
}

/// The one call a sync makes: applies the manifest's host section (if any) with the configured
/// unit manager; a self-update asks the process to restart after the pass. A host section that
/// failed and was rolled back is held back (see [`backoff`]) instead of being installed again on
/// every pass.
pub fn apply_for_sync(
    cfg: &AgentConfig,
    store: &Store,
    blobs: &crate::store::blobs::BlobCache,
    clock: &dyn Clock,
    sync: &str,
    manifest: &ferry_bundle::Manifest,
) -> Result<Option<HostOutcome>, HostApplyError> {
    let Some(section) = &manifest.host else {
        return Ok(None);
    };
    let sync_cfg = cfg
        .sync(sync)
        .ok_or_else(|| plan::PlanError::NotHostCapable(sync.to_string()))?;
    admit(sync_cfg, manifest)?;
    if cfg.host.is_none() {
        return Err(plan::PlanError::Disabled.into());
    }
    let digest = backoff::section_digest(section);
    let now = clock.unix_now();
    let held = store.host_hold(sync)?;
    if let Some(h) = backoff::holds(held.as_ref(), manifest.revision, &digest, now) {
        return Err(HostApplyError::Held {
            revision: h.revision,
            until: crate::fleet::rfc3339(h.until),
            failures: h.failures,
            error: h.error.clone(),
        });
    }
    let outcome = with_context(cfg, store, blobs, clock, |ctx| {
        apply::apply(ctx, sync, manifest, section)
    })?;
    let outcome = match outcome {
        Ok(outcome) => outcome,
        Err(e @ (HostApplyError::RolledBack { .. } | HostApplyError::RestoreFailed { .. })) => {
            hold_failed(cfg, store, clock, sync, manifest, &e.to_string())?;
            return Err(e);
        }
        Err(e) => return Err(e),
    };
    if held.is_some() {
        store.release_host_hold(sync)?;
    }
    if matches!(outcome, HostOutcome::SelfUpdatePending { .. }) {
        request_restart();
    }
    Ok(Some(outcome))
}

/// Runs `f` with the context of a host transaction (the configured unit manager).
pub fn with_context<T>(
    cfg: &AgentConfig,
    store: &Store,
    blobs: &crate::store::blobs::BlobCache,
    clock: &dyn Clock,
    f: impl FnOnce(&HostContext<'_>) -> T,
) -> Result<T, plan::PlanError> {
    let Some(host) = cfg.host.as_ref() else {
        return Err(plan::PlanError::Disabled);
    };
    let units = units::from_config(host);
    let ctx = HostContext {
        agent: cfg,
        cfg: host,
        store,
        blobs,
        units: units.as_ref(),
        state_dir: &cfg.state_dir,
        clock,
    };
    Ok(f(&ctx))
}

/// After a host update of `manifest` failed and was rolled back: holds the revision's host
/// section back (doubling, see [`backoff`]) and records `host-held`.
pub fn hold_failed(
    cfg: &AgentConfig,
    store: &Store,
    clock: &dyn Clock,
    sync: &str,
    manifest: &ferry_bundle::Manifest,
    error: &str,
) -> Result<(), crate::store::StoreError> {
    let Some(section) = &manifest.host else {
        return Ok(());
    };
    let base = cfg
        .sync(sync)
        .map(|s| s.failed_revision_backoff)
        .unwrap_or(std::time::Duration::from_secs(600));
    let held = store.host_hold(sync)?;
    let hold = backoff::after_failure(
        held.as_ref(),
        manifest.revision,
        &backoff::section_digest(section),
        error,
        base,
        clock.unix_now(),
    );
    store.set_host_hold(sync, &hold)?;
    crate::events::record(
        store,
        cfg,
        sync,
        crate::events::EventKind::HostHeld,
        &format!(
            "host update of revision {} held until {} (failure {}), or `ferry-agent retry`",
            hold.revision,
            crate::fleet::rfc3339(hold.until),
            hold.failures
        ),
        clock.unix_now(),
    );
    Ok(())
}

/// Exits with [`EXIT_RESTART`] when a self-update waits for a restart (daemon loop).
pub fn exit_if_restart_requested() {
    if restart_requested() {
        tracing::info!("ferry-agent replaced itself; exiting so systemd starts the new binary");
        std::process::exit(i32::from(EXIT_RESTART));
    }
}

/// The new binary's self-check: the state database opens and the trusted keys load.
fn self_check(cfg: &AgentConfig) -> Result<Store, String> {
    std::fs::create_dir_all(&cfg.state_dir).map_err(|e| e.to_string())?;
    let store = Store::open(&cfg.state_dir.join("state.db")).map_err(|e| e.to_string())?;
    if cfg.syncs.iter().any(|s| !s.insecure_skip_signature) {
        ferry_bundle::TrustedKeys::load(&cfg.keys).map_err(|e| e.to_string())?;
    }
    Ok(store)
}

/// At every start of `run` and `sync`: confirm or fail a pending self-update, then roll back
/// any host transaction a crash interrupted (in that order, so a confirmed switch is settled
/// before recovery looks at the journal).
pub fn at_start(cfg: &AgentConfig) -> Result<(), String> {
    if cfg.host.is_none() {
        return Ok(());
    }
    if selfupdate::marker_path(&cfg.state_dir).exists() {
        let result = self_check(cfg).map(drop);
        std::fs::create_dir_all(&cfg.state_dir).map_err(|e| e.to_string())?;
        let store = Store::open(&cfg.state_dir.join("state.db")).map_err(|e| e.to_string())?;
        let clock = crate::clock::configured();
        if let StartDecision::FailStart(e) = start_check(cfg, &store, clock.as_ref(), result)? {
            return Err(format!("new binary failed its self-check: {e}"));
        }
    }
    std::fs::create_dir_all(&cfg.state_dir).map_err(|e| e.to_string())?;
    let store = Store::open(&cfg.state_dir.join("state.db")).map_err(|e| e.to_string())?;
    recover_with(cfg, &store).map(drop)
}

fn recover_with(cfg: &AgentConfig, store: &Store) -> Result<usize, String> {
    let blobs = crate::store::blobs::BlobCache::open(&cfg.state_dir.join("blobs"))
        .map_err(|e| e.to_string())?;
    let clock = crate::clock::configured();
    with_context(cfg, store, &blobs, clock.as_ref(), apply::recover)
        .map_err(|e| e.to_string())?
        .map_err(|e| e.to_string())
}

/// `ferry-agent host guard` (the previous binary's check before each start, systemd
/// `ExecStartPre`) and `ferry-agent host recover` (roll back an interrupted host transaction).
pub fn host_command(cfg: &AgentConfig, args: &[String]) -> Result<u8, String> {
    let Some(host) = &cfg.host else {
        return Ok(0);
    };
    let store = Store::open(&cfg.state_dir.join("state.db")).map_err(|e| e.to_string())?;
    match args.first().map(String::as_str) {
        Some("guard") => match guard(cfg, host, &store, crate::clock::configured().as_ref())? {
            GuardDecision::Nothing => {}
            GuardDecision::Start { starts } => println!(
                "self-update pending: start {starts} of {}",
                host.self_update_max_starts
            ),
            GuardDecision::Restore(reason) => {
                println!("self-update rolled back ({reason:?}): previous binary restored")
            }
        },
        Some("recover") => {
            let n = recover_with(cfg, &store)?;
            println!("{n} interrupted host transactions rolled back");
        }
        _ => return Err("usage: ferry-agent host guard|recover".into()),
    }
    Ok(0)
}
