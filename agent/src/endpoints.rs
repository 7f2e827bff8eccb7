//! The kept endpoints of outbox delivery (heartbeats and webhooks), shared per destination.
//!
//! What an idle agent costs on the wire depends on three things kept here:
//! - **one endpoint per destination, not per target**: the fleet heartbeat and a webhook that
//!   go to the same `scheme://host:port` with the same TLS settings and credential files use
//!   one ureq agent, so one pooled connection (ferry-fleet's `/api/heartbeat` and
//!   `/api/events` share a connection);
//! - **an idle limit above the heartbeat interval** ([`keep_idle`]), so the next heartbeat
//!   finds the connection open (the receiver must keep it at least as long: ferry-fleet's
//!   `idleTimeout` defaults to 20 minutes);
//! - **the TLS session across reconnects**: the endpoint (and with it rustls' session cache,
//!   which ureq builds once per agent) survives failed deliveries; it is rebuilt only when the
//!   endpoint's settings or the content of its files (CA, client certificate and key, token)
//!   changed, so a connection dropped by the server or a NAT is reopened with a resumed
//!   handshake, and a rotated token or CA is still picked up at the next delivery.

use crate::config::AgentConfig;
use crate::outbound::{Endpoint, EndpointTls, HttpError};
use std::collections::BTreeMap;
use std::sync::{Mutex, MutexGuard, OnceLock};
use std::time::Duration;

/// Outbox target of heartbeats.
pub const FLEET_TARGET: &str = "fleet";

/// How long a kept connection waits for the next message: a minute longer than the heartbeat
/// interval (so the next heartbeat finds it open), 6 minutes without a fleet endpoint.
pub fn keep_idle(fleet_interval: Option<Duration>) -> Duration {
    fleet_interval.unwrap_or(Duration::from_secs(300)) + Duration::from_secs(60)
}

/// The `scheme://host:port` a URL's connections go to (pure; lower-cased, default ports
/// filled in), or `None` for a URL without a scheme.
pub fn origin(url: &str) -> Option<String> {
    let (scheme, rest) = url.split_once("://")?;
    let scheme = scheme.to_ascii_lowercase();
    let authority = rest.split(['/', '?', '#']).next().unwrap_or("");
    let authority = authority.rsplit_once('@').map_or(authority, |(_, a)| a);
    let authority = authority.to_ascii_lowercase();
    // `[::1]` has no port; `[::1]:9443` and `host:8443` have one.
    let has_port = authority.rsplit_once(':').is_some_and(|(host, port)| {
        !port.is_empty() && (!host.starts_with('[') || host.ends_with(']'))
    });
    Some(match (has_port, scheme.as_str()) {
        (true, _) => format!("{scheme}://{authority}"),
        (false, "https") => format!("{scheme}://{authority}:443"),
        (false, "http") => format!("{scheme}://{authority}:80"),
        (false, _) => format!("{scheme}://{authority}"),
    })
}

/// Why a queued message has no endpoint now.
#[derive(Debug)]
pub enum Unavailable {
    /// The target is no longer configured: nothing will ever take the message.
    Removed,
    /// Configured but not usable now (a file missing or unreadable): the message waits.
    Unusable(HttpError),
}

/// One kept endpoint and what it was built from.
struct Kept {
    /// Digest of the endpoint's files when it was built.
    material: [u8; 32],
    endpoint: Endpoint,
}

static KEPT: OnceLock<Mutex<BTreeMap<String, Kept>>> = OnceLock::new();

fn kept() -> MutexGuard<'static, BTreeMap<String, Kept>> {
    let m = KEPT.get_or_init(Default::default);
    m.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// The URL and TLS settings of an outbox target, if it is configured.
fn settings<'a>(cfg: &'a AgentConfig, target: &str) -> Option<(&'a EndpointTls, &'a str)> {
    if target == FLEET_TARGET {
        let f = cfg.fleet.as_ref()?;
        Some((&f.tls, f.url.as_str()))
    } else {
        let name = target.strip_prefix("webhook:")?;
        let n = cfg.notifications.iter().find(|n| n.name == name)?;
        Some((&n.tls, n.url.as_str()))
    }
}

/// The endpoint and URL for an outbox target, shared with every target of the same
/// destination and settings, rebuilt when its files changed.
pub fn endpoint(cfg: &AgentConfig, target: &str) -> Result<(Endpoint, String), Unavailable> {
    let (tls, url) = settings(cfg, target).ok_or(Unavailable::Removed)?;
    let idle = keep_idle(cfg.fleet.as_ref().map(|f| f.interval));
    let material = crate::outbound::material_digest(tls).map_err(Unavailable::Unusable)?;
    // Paths and timeouts only: no secret is part of the key (the files' digest is kept aside).
    let key = format!(
        "{} {tls:?} {idle:?}",
        origin(url).unwrap_or_else(|| url.into())
    );
    let mut map = kept();
    if let Some(k) = map.get(&key).filter(|k| k.material == material) {
        return Ok((k.endpoint.clone(), url.to_string()));
    }
    let endpoint = Endpoint::for_deliveries(tls, Duration::from_secs(15), idle)
        .map_err(Unavailable::Unusable)?;
    map.insert(
        key,
        Kept {
            material,
            endpoint: endpoint.clone(),
        },
    );
    Ok((endpoint, url.to_string()))
}

/// How many distinct endpoints are kept (tests).
pub fn kept_count() -> usize {
    kept().len()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn origins() {
        assert_eq!(
            origin("https://Fleet.example.com/api/heartbeat").as_deref(),
            Some("https://fleet.example.com:443")
        );
        assert_eq!(
            origin("https://fleet.example.com:8443/api/events?x=1").as_deref(),
            Some("https://fleet.example.com:8443")
        );
        assert_eq!(
            origin("http://u:p@[::1]/hook").as_deref(),
            Some("http://[::1]:80")
        );
        assert_eq!(
            origin("https://[::1]:9443/x").as_deref(),
            Some("https://[::1]:9443")
        );
        assert_eq!(origin("no-scheme"), None);
    }

    #[test]
    fn idle_limit_outlasts_the_heartbeat() {
        let fifteen = Duration::from_secs(15 * 60);
        assert!(keep_idle(Some(fifteen)) > fifteen);
        assert_eq!(keep_idle(None), Duration::from_secs(360));
    }
}
