//! Reporting: the fleet status heartbeat, webhook notifications, and their delivery from the
//! SQLite outbox (in order per endpoint, kept while offline, bounded). Payload building is
//! pure; delivery is the IO shell. The heartbeat schema is documented in docs/fleet.md.

pub mod config;

use crate::config::AgentConfig;
use crate::endpoints;
use crate::store::{Store, StoreError, SyncState};
use config::WebhookFormat;
use serde_json::{json, Value};
use std::collections::BTreeMap;
use std::time::Duration;

/// Version of the heartbeat and event payloads.
pub const HEARTBEAT_SCHEMA: &str = "ferry.dev/heartbeat/v1";
pub const EVENT_SCHEMA: &str = "ferry.dev/event/v1";
pub use crate::endpoints::FLEET_TARGET;

pub(crate) use crate::clock::rfc3339;

/// One sync as status, heartbeat and metrics report it.
#[derive(Debug, Clone, Default)]
pub struct SyncReport {
    pub name: String,
    pub suspended: bool,
    pub state: SyncState,
    /// State of the newest attempt, if any.
    pub last_attempt_state: Option<crate::store::AttemptState>,
    pub drift_corrections: i64,
}

/// The health word status, heartbeat and the status object share.
pub fn health_word(r: &SyncReport) -> &'static str {
    if r.suspended {
        "suspended"
    } else if r.state.waiting.is_some() {
        "waiting"
    } else {
        use crate::store::AttemptState;
        match (r.last_attempt_state, r.state.last_error.is_some()) {
            (None, _) => "never-synced",
            (Some(AttemptState::Applied), false) => "healthy",
            (Some(AttemptState::Applied), true) => "degraded",
            _ => "failed",
        }
    }
}

/// Leaves out the null fields of an object (pure): an absent field means null in v1, and
/// every heartbeat is smaller on the wire for it.
fn without_nulls(mut v: Value) -> Value {
    if let Value::Object(map) = &mut v {
        map.retain(|_, field| !field.is_null());
    }
    v
}

/// Builds a heartbeat (pure). Compact: no null fields (absent means null), no whitespace.
pub fn heartbeat(
    device_id: &str,
    labels: &BTreeMap<String, String>,
    uptime: Duration,
    now: i64,
    syncs: &[SyncReport],
    dropped: i64,
) -> Value {
    let syncs: Vec<Value> = syncs
        .iter()
        .map(|r| {
            without_nulls(json!({
                "name": r.name,
                "revision": r.state.good.as_ref().map(|g| g.revision),
                "highestVerified": r.state.highest_revision,
                "health": health_word(r),
                "lastError": r.state.last_error,
                "lastSuccess": r.state.last_success.map(rfc3339),
                "driftCorrections": r.drift_corrections,
                "sourceReachable": r.state.source_unreachable_since.is_none(),
                "sourceUnreachableSince": r.state.source_unreachable_since.map(rfc3339),
                "waiting": r.state.waiting,
            }))
        })
        .collect();
    json!({
        "schema": HEARTBEAT_SCHEMA,
        "time": rfc3339(now),
        "device": {"id": device_id, "labels": labels},
        "agent": {"version": env!("CARGO_PKG_VERSION"), "uptimeSeconds": uptime.as_secs()},
        "syncs": syncs,
        "outbox": {"dropped": dropped},
    })
}

/// Builds a webhook payload for one event (pure).
pub fn event_payload(
    format: WebhookFormat,
    device_id: &str,
    sync: &str,
    kind: &str,
    message: &str,
    now: i64,
) -> Value {
    match format {
        WebhookFormat::Json => {
            json!({"schema": EVENT_SCHEMA, "time": rfc3339(now), "device": device_id, "sync": sync, "kind": kind, "message": message})
        }
        WebhookFormat::Slack => {
            json!({"text": format!("ferry {device_id} / {sync}: {kind}: {message}")})
        }
    }
}

/// The per-sync reports for a heartbeat, status or metrics.
pub fn reports(store: &Store, cfg: &AgentConfig) -> Result<Vec<SyncReport>, StoreError> {
    let counters: BTreeMap<String, i64> = store.counters()?.into_iter().collect();
    cfg.syncs
        .iter()
        .map(|s| {
            let state = store.sync_state(&s.name)?;
            let last_attempt_state = store
                .history(Some(&s.name), 1)?
                .into_iter()
                .next()
                .map(|h| h.state);
            let drift_corrections = counters
                .get(&format!("events_total|{}|drift-corrected", s.name))
                .copied()
                .unwrap_or(0);
            Ok(SyncReport {
                name: s.name.clone(),
                suspended: state.suspended || s.suspend,
                state,
                last_attempt_state,
                drift_corrections,
            })
        })
        .collect()
}

/// Delivers queued messages in order; a failing endpoint keeps its messages (and their
/// order) for the next flush. Returns (delivered, failed endpoints).
///
/// Endpoints are kept across flushes and shared by destination (see [`crate::endpoints`]): a
/// daemon posting a heartbeat every interval and the occasional event reuses one kept-alive
/// TLS connection per destination, and resumes its TLS session when that connection was
/// dropped. Heartbeats gain `intervalSeconds` (the configured `fleet.interval`) when they lack
/// it, so the receiver can tell a stale device by its own cadence.
pub fn flush(store: &Store, cfg: &AgentConfig) -> Result<(usize, Vec<String>), StoreError> {
    let mut failed: Vec<String> = Vec::new();
    let mut delivered = 0;
    let interval = cfg.fleet.as_ref().map(|f| f.interval);
    for (id, target, body) in store.outbox(500)? {
        if failed.contains(&target) {
            continue;
        }
        let (ep, url) = match endpoints::endpoint(cfg, &target) {
            Ok(found) => found,
            Err(endpoints::Unavailable::Removed) => {
                // The endpoint was removed from the config: nothing will ever take the message.
                store.outbox_done(id)?;
                continue;
            }
            Err(endpoints::Unavailable::Unusable(e)) => {
                tracing::warn!(target = %target, "endpoint not usable, kept in outbox: {e}");
                store.outbox_failed(id)?;
                failed.push(target);
                continue;
            }
        };
        let body = match (target.as_str(), interval) {
            (FLEET_TARGET, Some(i)) => with_interval(&body, i),
            _ => body,
        };
        match ep.post_json(&url, &body) {
            Ok(()) => {
                store.outbox_done(id)?;
                delivered += 1;
            }
            Err(e) if e.refused_for_good() => {
                // Kept, it would block every later message to this endpoint forever.
                tracing::warn!(target = %target, "message refused by the receiver, dropped: {e}");
                store.outbox_refused(id)?;
            }
            Err(e) => {
                // The endpoint is kept (its TLS sessions with it); a rotated token or CA file
                // is noticed by its digest at the next attempt.
                tracing::warn!(target = %target, "delivery failed, kept in outbox: {e}");
                store.outbox_failed(id)?;
                failed.push(target);
            }
        }
    }
    Ok((delivered, failed))
}

/// Adds `intervalSeconds` to a heartbeat body that lacks it (pure); other bodies pass as is.
pub fn with_interval(body: &str, interval: Duration) -> String {
    match serde_json::from_str::<Value>(body) {
        Ok(Value::Object(mut map)) if !map.contains_key("intervalSeconds") => {
            map.insert("intervalSeconds".into(), json!(interval.as_secs()));
            Value::Object(map).to_string()
        }
        _ => body.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn heartbeat_shape() {
        let st = SyncState {
            good: Some(crate::store::GoodAttempt {
                attempt: 3,
                revision: 7,
                digest: "d".into(),
            }),
            highest_revision: Some(8),
            last_error: Some("boom".into()),
            source_unreachable_since: Some(100),
            ..Default::default()
        };
        let r = SyncReport {
            name: "apps".into(),
            suspended: false,
            state: st,
            last_attempt_state: Some(crate::store::AttemptState::Failed),
            drift_corrections: 2,
        };
        let hb = heartbeat(
            "edge-1",
            &[("site".to_string(), "x".to_string())].into(),
            Duration::from_secs(9),
            0,
            &[r],
            4,
        );
        assert_eq!(hb["schema"], HEARTBEAT_SCHEMA);
        assert_eq!(hb["device"]["labels"]["site"], "x");
        assert_eq!(hb["syncs"][0]["revision"], 7);
        assert_eq!(hb["syncs"][0]["health"], "failed");
        assert_eq!(hb["syncs"][0]["sourceReachable"], false);
        assert_eq!(hb["syncs"][0]["driftCorrections"], 2);
        assert_eq!(hb["outbox"]["dropped"], 4);
        assert_eq!(hb["agent"]["uptimeSeconds"], 9);
        // Null fields are left out (absent means null), set ones stay.
        let sync = hb["syncs"][0].as_object().unwrap();
        assert!(!sync.contains_key("waiting") && !sync.contains_key("lastSuccess"));
        assert_eq!(sync["lastError"], "boom");
        assert!(!hb.to_string().contains("null"));
    }

    #[test]
    fn interval_added_once() {
        let b = with_interval(r#"{"schema":"x"}"#, Duration::from_secs(300));
        let v: Value = serde_json::from_str(&b).unwrap();
        assert_eq!(v["intervalSeconds"], 300);
        let again = with_interval(&b, Duration::from_secs(60));
        assert_eq!(again, b);
        assert_eq!(
            with_interval("not json", Duration::from_secs(1)),
            "not json"
        );
    }

    #[test]
    fn slack_and_json_payloads() {
        let s = event_payload(WebhookFormat::Slack, "e", "apps", "failed", "x", 0);
        assert_eq!(s["text"], "ferry e / apps: failed: x");
        let j = event_payload(WebhookFormat::Json, "e", "apps", "failed", "x", 0);
        assert_eq!(
            (j["schema"].as_str(), j["kind"].as_str()),
            (Some(EVENT_SCHEMA), Some("failed"))
        );
    }
}
