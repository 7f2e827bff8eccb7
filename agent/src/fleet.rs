//! Reporting: the fleet status heartbeat, webhook notifications, and their delivery from the
//! SQLite outbox (in order per endpoint, kept while offline, bounded). Payload building is
//! pure; delivery is the IO shell. The heartbeat schema is documented in docs/fleet.md.

use crate::config::{AgentConfig, WebhookFormat};
use crate::outbound::Endpoint;
use crate::store::{Store, StoreError, SyncState};
use serde_json::{json, Value};
use std::collections::BTreeMap;
use std::time::Duration;

/// Version of the heartbeat and event payloads.
pub const HEARTBEAT_SCHEMA: &str = "ferry.dev/heartbeat/v1";
pub const EVENT_SCHEMA: &str = "ferry.dev/event/v1";
/// Outbox target of heartbeats.
pub const FLEET_TARGET: &str = "fleet";

pub(crate) fn rfc3339(t: i64) -> String {
    humantime::format_rfc3339_seconds(std::time::UNIX_EPOCH + Duration::from_secs(t.max(0) as u64))
        .to_string()
}

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

/// Builds a heartbeat (pure).
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
            json!({
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
            })
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
/// Endpoints are kept across flushes (see [`EndpointCache`]), so a daemon posting a heartbeat
/// every interval reuses one kept-alive TLS connection per endpoint instead of a handshake per
/// message. Heartbeats gain `intervalSeconds` (the configured `fleet.interval`) when they lack
/// it, so the receiver can tell a stale device by its own cadence.
pub fn flush(store: &Store, cfg: &AgentConfig) -> Result<(usize, Vec<String>), StoreError> {
    let mut failed: Vec<String> = Vec::new();
    let mut delivered = 0;
    let interval = cfg.fleet.as_ref().map(|f| f.interval);
    for (id, target, body) in store.outbox(500)? {
        if failed.contains(&target) {
            continue;
        }
        let Some((ep, url)) = EndpointCache::get(cfg, &target) else {
            // The endpoint was removed from the config: nothing will ever take the message.
            store.outbox_done(id)?;
            continue;
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
            Err(e) => {
                tracing::warn!(target = %target, "delivery failed, kept in outbox: {e}");
                store.outbox_failed(id)?;
                // The next attempt re-reads the endpoint's files (a rotated token or CA).
                EndpointCache::forget(&target);
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

/// Process-wide endpoints by outbox target, rebuilt when the target's settings change or a
/// delivery failed. One ureq agent per endpoint means one connection pool per endpoint.
struct EndpointCache;

struct CachedEndpoint {
    /// URL and TLS settings the endpoint was built from (paths only, no secrets).
    settings: String,
    endpoint: Endpoint,
    url: String,
}

static ENDPOINTS: std::sync::OnceLock<std::sync::Mutex<BTreeMap<String, CachedEndpoint>>> =
    std::sync::OnceLock::new();

impl EndpointCache {
    fn map() -> std::sync::MutexGuard<'static, BTreeMap<String, CachedEndpoint>> {
        let m = ENDPOINTS.get_or_init(Default::default);
        m.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    fn get(cfg: &AgentConfig, target: &str) -> Option<(Endpoint, String)> {
        let (tls, url) = endpoint_settings(cfg, target)?;
        let settings = format!("{url} {tls:?}");
        let mut map = Self::map();
        if let Some(c) = map.get(target) {
            if c.settings == settings {
                return Some((c.endpoint.clone(), c.url.clone()));
            }
        }
        // Keep the connection a little longer than the heartbeat interval, so the next
        // heartbeat finds it open (the receiver's idle timeout should be longer still).
        let idle = cfg
            .fleet
            .as_ref()
            .map(|f| f.interval + Duration::from_secs(60))
            .unwrap_or(Duration::from_secs(360));
        match Endpoint::kept_alive(tls, Duration::from_secs(15), idle) {
            Ok(endpoint) => {
                map.insert(
                    target.to_string(),
                    CachedEndpoint {
                        settings,
                        endpoint: endpoint.clone(),
                        url: url.clone(),
                    },
                );
                Some((endpoint, url))
            }
            Err(e) => {
                tracing::warn!(target = %target, "endpoint not usable: {e}");
                None
            }
        }
    }

    fn forget(target: &str) {
        Self::map().remove(target);
    }
}

fn endpoint_settings<'a>(
    cfg: &'a AgentConfig,
    target: &str,
) -> Option<(&'a crate::outbound::EndpointTls, String)> {
    if target == FLEET_TARGET {
        let f = cfg.fleet.as_ref()?;
        Some((&f.tls, f.url.clone()))
    } else {
        let name = target.strip_prefix("webhook:")?;
        let n = cfg.notifications.iter().find(|n| n.name == name)?;
        Some((&n.tls, n.url.clone()))
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
