//! The receiver's configuration file (YAML): listener, TLS and client authentication, store,
//! retention and staleness. Relative paths are taken from the config file's directory.

use crate::guard::EventRate;
use crate::status::Staleness;
use serde::Deserialize;
use std::path::{Path, PathBuf};
use std::time::Duration;
use thiserror::Error;

#[derive(Debug, Error)]
pub enum ConfigError {
    #[error("{path}: {reason}")]
    Read { path: PathBuf, reason: String },
    #[error("{path}: {reason}")]
    Invalid { path: PathBuf, reason: String },
}

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct TlsConfig {
    pub cert: PathBuf,
    pub key: PathBuf,
    /// CA of device certificates: enables mutual TLS (the device id is the certificate's DNS
    /// SAN or common name). Devices without a certificate may still use tokens.
    pub client_ca: Option<PathBuf>,
}

/// Where data is kept: `{sqlite: PATH}` or `{postgres: CONNECTION-STRING}`.
#[derive(Debug, Clone, Deserialize)]
#[serde(try_from = "StoreSection")]
pub enum StoreConfig {
    /// Path of the SQLite database.
    Sqlite(PathBuf),
    /// A PostgreSQL connection string (`host=... user=... dbname=...` or a URL).
    Postgres(String),
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
struct StoreSection {
    sqlite: Option<PathBuf>,
    postgres: Option<String>,
}

impl TryFrom<StoreSection> for StoreConfig {
    type Error = String;
    fn try_from(s: StoreSection) -> Result<Self, String> {
        match (s.sqlite, s.postgres) {
            (Some(p), None) => Ok(StoreConfig::Sqlite(p)),
            (None, Some(u)) => Ok(StoreConfig::Postgres(u)),
            _ => Err(
                "store: set exactly one of sqlite (a path) or postgres (a connection string)"
                    .into(),
            ),
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct FleetConfig {
    pub listen: String,
    pub tls: TlsConfig,
    /// File of `DEVICE-ID SHA256-HEX-OF-TOKEN` lines (bearer tokens, stored hashed).
    pub tokens: Option<PathBuf>,
    /// File holding the SHA-256 hex of the bearer token `/metrics` asks for (`ferry-fleet
    /// hash-token < TOKEN`); without it `/metrics` answers 403.
    pub metrics_token_hash: Option<PathBuf>,
    pub store: StoreConfig,
    /// Events and health changes older than this are dropped (default 30d).
    #[serde(default = "default_retention", with = "humantime_serde_compat")]
    pub retention: Duration,
    /// Largest request body accepted (default 256 KiB).
    #[serde(default = "default_body")]
    pub max_body_bytes: usize,
    /// A kept-alive connection idle this long is closed (default 20m: above a 15-minute
    /// heartbeat plus the agent's own minute of slack, so each agent keeps one connection; it
    /// must exceed the longest `fleet.interval` of the agents).
    #[serde(default = "default_idle", with = "humantime_serde_compat")]
    pub idle_timeout: Duration,
    /// TLS sessions kept for resumption (default 20,000: a handshake leaves a device two, so
    /// enough for 10,000 devices; about 1 KB each with a client certificate, ~100 B without;
    /// 0 turns resumption off). The oldest are evicted first; a device whose sessions were
    /// evicted reconnects with a full handshake.
    #[serde(default = "default_sessions")]
    pub tls_sessions: usize,
    /// A request's headers must arrive within this once its first byte did (default 10s).
    #[serde(default = "default_header", with = "humantime_serde_compat")]
    pub header_timeout: Duration,
    /// A request's body must arrive within this (default 30s; else 408).
    #[serde(default = "default_body_timeout", with = "humantime_serde_compat")]
    pub body_timeout: Duration,
    /// Open connections from one client address (default 1024; raise it for large NATs).
    #[serde(default = "default_per_address")]
    pub max_connections_per_address: usize,
    /// Open connections in all (default 16384; keep it below the file limit, `LimitNOFILE`).
    #[serde(default = "default_connections")]
    pub max_connections: usize,
    /// Events per device: `{burst: 300, perMinute: 60}`; more are answered 429.
    #[serde(default)]
    pub event_rate: EventRate,
    #[serde(default)]
    pub staleness: Staleness,
    /// Sign-in for people and scripts (sessions, rate limits, OIDC): `crate::signin::config`.
    #[serde(default)]
    pub signin: crate::signin::config::SigninConfig,
    /// Several receivers share this (PostgreSQL) database: each reads the devices the others
    /// wrote every second, so every receiver shows the whole fleet (default false).
    #[serde(default)]
    pub shared_store: bool,
    /// Tests only: read "now" (unix seconds) from this file instead of the system clock.
    pub clock_file: Option<PathBuf>,
}

fn default_retention() -> Duration {
    Duration::from_secs(30 * 86400)
}
fn default_body() -> usize {
    256 * 1024
}
fn default_header() -> Duration {
    Duration::from_secs(10)
}
fn default_body_timeout() -> Duration {
    Duration::from_secs(30)
}
fn default_per_address() -> usize {
    1024
}
fn default_connections() -> usize {
    16384
}
fn default_sessions() -> usize {
    20_000
}

/// The default idle limit of kept connections.
pub const DEFAULT_IDLE_TIMEOUT: Duration = Duration::from_secs(20 * 60);

fn default_idle() -> Duration {
    DEFAULT_IDLE_TIMEOUT
}

/// `with = ...` for durations written as `30s`, `20m`, `7d` (also used by `crate::signin`).
pub(crate) mod humantime_serde_compat {
    use serde::Deserialize;
    use std::time::Duration;
    pub fn deserialize<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
        let s = String::deserialize(d)?;
        humantime::parse_duration(&s)
            .map_err(|e| serde::de::Error::custom(format!("bad duration {s:?}: {e}")))
    }
}

impl FleetConfig {
    pub fn load(path: &Path) -> Result<Self, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|e| ConfigError::Read {
            path: path.into(),
            reason: e.to_string(),
        })?;
        Self::parse(path, &text)
    }

    pub fn parse(path: &Path, text: &str) -> Result<Self, ConfigError> {
        let invalid = |reason: String| ConfigError::Invalid {
            path: path.into(),
            reason,
        };
        let mut c: FleetConfig = ferry_bundle::yaml::from_str_bounded(
            &path.display().to_string(),
            text,
            &ferry_bundle::yaml::Budget::small(),
        )
        .map_err(|e| invalid(e.to_string()))?;
        let base = path.parent().unwrap_or(Path::new("."));
        let fix = |p: &mut PathBuf| {
            if p.is_relative() {
                *p = base.join(&*p);
            }
        };
        fix(&mut c.tls.cert);
        fix(&mut c.tls.key);
        c.tls.client_ca.as_mut().map(fix);
        c.tokens.as_mut().map(fix);
        c.metrics_token_hash.as_mut().map(fix);
        c.clock_file.as_mut().map(fix);
        if let Some(o) = c.signin.oidc.as_mut() {
            o.client_secret_file.as_mut().map(fix);
            o.ca_file.as_mut().map(fix);
        }
        if let StoreConfig::Sqlite(p) = &mut c.store {
            fix(p);
        }
        if c.tokens.is_none() && c.tls.client_ca.is_none() {
            return Err(invalid(
                "no device authentication: set tokens, tls.clientCa, or both".into(),
            ));
        }
        if c.max_connections_per_address == 0 || c.max_connections == 0 {
            return Err(invalid(
                "maxConnections and maxConnectionsPerAddress must be at least 1".into(),
            ));
        }
        if c.max_body_bytes < 1024 {
            return Err(invalid("maxBodyBytes must be at least 1024".into()));
        }
        if c.staleness.stale_after == 0 || c.staleness.offline_after < c.staleness.stale_after {
            return Err(invalid(
                "staleness: need 1 <= staleAfter <= offlineAfter".into(),
            ));
        }
        Ok(c)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_resolves_paths() {
        let c = FleetConfig::parse(
            Path::new("/etc/ferry-fleet/fleet.yaml"),
            "listen: 127.0.0.1:0\ntls: {cert: s.pem, key: s.key}\ntokens: tokens\nstore: {sqlite: fleet.db}\nretention: 7d\n",
        )
        .unwrap();
        assert_eq!(c.tls.cert, Path::new("/etc/ferry-fleet/s.pem"));
        assert_eq!(c.retention, Duration::from_secs(7 * 86400));
        assert!(
            matches!(c.store, StoreConfig::Sqlite(ref p) if p == Path::new("/etc/ferry-fleet/fleet.db"))
        );
        let none = FleetConfig::parse(
            Path::new("f.yaml"),
            "listen: x\ntls: {cert: a, key: b}\nstore: {sqlite: f}\n",
        );
        assert!(none
            .unwrap_err()
            .to_string()
            .contains("no device authentication"));
    }
}
