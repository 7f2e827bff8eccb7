//! One event, recorded once: logged, stored coalesced (a repeat of a sync's newest event bumps
//! its count instead of adding a row) and queued to the webhooks only when it is new, so a drift
//! or an error that repeats on every pass costs one row and one notification, not one per pass.

pub mod kind;

pub use kind::EventKind;

use crate::config::AgentConfig;
use crate::store::events::Recorded;
use crate::store::Store;

/// Records `kind`/`message` for `sync` at `now`.
pub fn record(
    store: &Store,
    config: &AgentConfig,
    sync: &str,
    kind: EventKind,
    message: &str,
    now: i64,
) {
    let recorded = match store.record_event(sync, kind.as_str(), message, now) {
        Ok(r) => r,
        Err(e) => {
            tracing::error!(sync, "cannot record event: {e}");
            Recorded::New
        }
    };
    let warn = kind.is_warning();
    let kind = kind.as_str();
    match recorded {
        Recorded::Repeated { count } => {
            tracing::debug!(sync, kind, count, "{message} (repeated)");
            return;
        }
        Recorded::New if warn => tracing::warn!(sync, kind, "{message}"),
        Recorded::New => tracing::info!(sync, kind, "{message}"),
    }
    let device = config.device_id();
    for n in config
        .notifications
        .iter()
        .filter(|n| n.events.is_empty() || n.events.iter().any(|k| k == kind))
    {
        let body = crate::fleet::event_payload(n.format, &device, sync, kind, message, now);
        if let Err(e) = store.enqueue(
            &format!("webhook:{}", n.name),
            &body.to_string(),
            config.outbox_limit,
        ) {
            tracing::error!(sync, "cannot queue notification: {e}");
        }
    }
}

/// Prunes events and history per the configured retention.
pub fn prune(store: &Store, config: &AgentConfig, now: i64) {
    match store.prune(&config.retention.for_store(), now) {
        Ok(p) if p.events + p.attempts > 0 => {
            tracing::info!(
                events = p.events,
                attempts = p.attempts,
                "retention pruned state"
            )
        }
        Ok(_) => {}
        Err(e) => tracing::warn!("retention: {e}"),
    }
}
