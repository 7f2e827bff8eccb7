//! The wire vocabulary the receiver accepts (heartbeat `ferry.dev/heartbeat/v1`, event
//! `ferry.dev/event/v1`) and the typed rows it keeps. Parsing is bounded and lenient about
//! unknown fields (the agent only ever adds fields within v1); wrong shapes are refused with a
//! short error naming the field.

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

pub(crate) use crate::safe::field;
use crate::safe::{checked_id, id, line, text};
pub use crate::safe::{PayloadError, MAX_MESSAGE, MAX_NAME};

pub const HEARTBEAT_SCHEMA: &str = "ferry.dev/heartbeat/v1";
pub const EVENT_SCHEMA: &str = "ferry.dev/event/v1";

/// Most syncs and labels per heartbeat.
pub const MAX_SYNCS: usize = 32;
pub const MAX_LABELS: usize = 32;
/// Longest heartbeat interval taken from a device (a day); longer ones are cut to it, so a
/// device cannot make itself a device that never goes stale.
pub const MAX_INTERVAL: u64 = 86_400;
/// Highest revision accepted (revisions are stored as signed 64-bit integers).
pub const MAX_REVISION: u64 = i64::MAX as u64;
/// Counters (uptime, outbox drops, drift corrections) saturate here.
pub const MAX_COUNTER: u64 = i64::MAX as u64;

/// A sync's health as the agent reports it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum SyncHealth {
    Failed,
    Degraded,
    Waiting,
    Suspended,
    NeverSynced,
    Healthy,
}

impl SyncHealth {
    pub fn as_str(self) -> &'static str {
        match self {
            SyncHealth::Failed => "failed",
            SyncHealth::Degraded => "degraded",
            SyncHealth::Waiting => "waiting",
            SyncHealth::Suspended => "suspended",
            SyncHealth::NeverSynced => "never-synced",
            SyncHealth::Healthy => "healthy",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        serde_json::from_value(serde_json::Value::String(s.to_string())).ok()
    }
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct WireHeartbeat {
    schema: String,
    time: Option<String>,
    device: WireDevice,
    #[serde(default)]
    agent: WireAgent,
    #[serde(default)]
    syncs: Vec<WireSync>,
    #[serde(default)]
    outbox: WireOutbox,
    interval_seconds: Option<u64>,
    site: Option<crate::site::model::WireSite>,
}

#[derive(Debug, Deserialize)]
struct WireDevice {
    id: String,
    #[serde(default)]
    labels: BTreeMap<String, String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
struct WireAgent {
    version: Option<String>,
    uptime_seconds: Option<u64>,
}

#[derive(Debug, Default, Deserialize)]
struct WireOutbox {
    #[serde(default)]
    dropped: u64,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct WireSync {
    name: String,
    revision: Option<u64>,
    highest_verified: Option<u64>,
    health: String,
    last_error: Option<String>,
    last_success: Option<String>,
    #[serde(default)]
    drift_corrections: u64,
    #[serde(default = "yes")]
    source_reachable: bool,
    source_unreachable_since: Option<String>,
    waiting: Option<String>,
}

fn yes() -> bool {
    true
}

/// A device's latest report, as stored.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct DeviceReport {
    pub id: String,
    pub labels: BTreeMap<String, String>,
    pub agent_version: String,
    pub uptime_seconds: u64,
    /// The device's own heartbeat interval, if it sent one.
    pub interval_seconds: Option<u64>,
    /// The time the agent wrote in the heartbeat (its clock, not trusted for staleness).
    pub reported_time: String,
    pub outbox_dropped: u64,
    pub syncs: Vec<SyncReport>,
    /// The site this device is a node of (`site` in the heartbeat), if any.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub site: Option<Box<crate::site::model::SiteMembership>>,
}

/// One sync of a device, as stored.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct SyncReport {
    pub name: String,
    pub revision: Option<u64>,
    pub highest_verified: Option<u64>,
    pub health: SyncHealth,
    pub last_error: Option<String>,
    pub last_success: Option<String>,
    pub drift_corrections: u64,
    pub source_reachable: bool,
    pub source_unreachable_since: Option<String>,
    pub waiting: Option<String>,
}

/// One event a device sent.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct EventReport {
    pub device: String,
    pub sync: String,
    pub kind: String,
    pub message: String,
    pub reported_time: String,
}

fn revision(path: String, r: Option<u64>) -> Result<Option<u64>, PayloadError> {
    match r {
        Some(r) if r > MAX_REVISION => Err(field(path, format!("must be at most {MAX_REVISION}"))),
        r => Ok(r),
    }
}

fn counter(n: u64) -> u64 {
    n.min(MAX_COUNTER)
}

fn short(s: Option<String>) -> Option<String> {
    s.map(|s| line(s, 64))
}

fn json_error(schema: &'static str, e: serde_json::Error) -> PayloadError {
    let mut reason = e.to_string();
    reason.truncate(200);
    PayloadError::Json { schema, reason }
}

/// Parses and checks a heartbeat body.
pub fn parse_heartbeat(body: &[u8]) -> Result<DeviceReport, PayloadError> {
    let w: WireHeartbeat =
        serde_json::from_slice(body).map_err(|e| json_error(HEARTBEAT_SCHEMA, e))?;
    if w.schema != HEARTBEAT_SCHEMA {
        return Err(PayloadError::Schema {
            expected: HEARTBEAT_SCHEMA,
            found: w.schema.chars().take(64).collect(),
        });
    }
    if w.syncs.len() > MAX_SYNCS {
        return Err(field("syncs", format!("at most {MAX_SYNCS}")));
    }
    if w.device.labels.len() > MAX_LABELS {
        return Err(field("device.labels", format!("at most {MAX_LABELS}")));
    }
    let mut labels = BTreeMap::new();
    for (k, v) in w.device.labels {
        let k = checked_id("device.labels", k, true)?;
        if v.len() > MAX_NAME {
            return Err(field(format!("device.labels.{k}"), "value too long"));
        }
        labels.insert(k, line(v, MAX_NAME));
    }
    let mut syncs = Vec::with_capacity(w.syncs.len());
    for (i, s) in w.syncs.into_iter().enumerate() {
        let sname = id(&format!("syncs[{i}].name"), s.name)?;
        if syncs.iter().any(|x: &SyncReport| x.name == sname) {
            return Err(field(format!("syncs[{i}].name"), "duplicate sync name"));
        }
        let health = SyncHealth::parse(&s.health).ok_or_else(|| {
            field(
                format!("syncs[{i}].health"),
                "expected healthy, degraded, failed, waiting, suspended or never-synced",
            )
        })?;
        syncs.push(SyncReport {
            name: sname,
            revision: revision(format!("syncs[{i}].revision"), s.revision)?,
            highest_verified: revision(format!("syncs[{i}].highestVerified"), s.highest_verified)?,
            health,
            last_error: s.last_error.map(text),
            last_success: short(s.last_success),
            drift_corrections: counter(s.drift_corrections),
            source_reachable: s.source_reachable,
            source_unreachable_since: short(s.source_unreachable_since),
            waiting: s.waiting.map(text),
        });
    }
    let interval = match w.interval_seconds {
        Some(0) => return Err(field("intervalSeconds", "must be at least 1")),
        i => i.map(|i| i.min(MAX_INTERVAL)),
    };
    let site = w
        .site
        .map(|s| crate::site::model::parse(s, &w.device.id, &syncs).map(Box::new))
        .transpose()?;
    Ok(DeviceReport {
        id: id("device.id", w.device.id)?,
        labels,
        agent_version: short(w.agent.version).unwrap_or_default(),
        uptime_seconds: counter(w.agent.uptime_seconds.unwrap_or(0)),
        interval_seconds: interval,
        reported_time: short(w.time).unwrap_or_default(),
        outbox_dropped: counter(w.outbox.dropped),
        syncs,
        site,
    })
}

#[derive(Debug, Deserialize)]
struct WireEvent {
    schema: String,
    time: Option<String>,
    device: String,
    sync: String,
    kind: String,
    #[serde(default)]
    message: String,
}

/// Parses and checks an event body (the agent's `json` webhook format).
pub fn parse_event(body: &[u8]) -> Result<EventReport, PayloadError> {
    let w: WireEvent = serde_json::from_slice(body).map_err(|e| json_error(EVENT_SCHEMA, e))?;
    if w.schema != EVENT_SCHEMA {
        return Err(PayloadError::Schema {
            expected: EVENT_SCHEMA,
            found: w.schema.chars().take(64).collect(),
        });
    }
    Ok(EventReport {
        device: id("device", w.device)?,
        sync: id("sync", w.sync)?,
        kind: id("kind", w.kind)?,
        message: text(w.message),
        reported_time: short(w.time).unwrap_or_default(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unknown_fields_accepted_and_shapes_checked() {
        let hb = br#"{"schema":"ferry.dev/heartbeat/v1","future":1,"device":{"id":"e1","x":2},
            "syncs":[{"name":"apps","health":"healthy","revision":3,"new":true}]}"#;
        let d = parse_heartbeat(hb).unwrap();
        assert_eq!((d.id.as_str(), d.syncs[0].revision), ("e1", Some(3)));
        let bad = br#"{"schema":"ferry.dev/heartbeat/v1","device":{"id":"e1"},"syncs":[{"name":"a","health":"great"}]}"#;
        assert!(matches!(
            parse_heartbeat(bad),
            Err(PayloadError::Field { .. })
        ));
        let v2 = br#"{"schema":"ferry.dev/heartbeat/v2","device":{"id":"e1"}}"#;
        assert!(matches!(
            parse_heartbeat(v2),
            Err(PayloadError::Schema { .. })
        ));
        let ctl = br#"{"schema":"ferry.dev/heartbeat/v1","device":{"id":"e\u0001"}}"#;
        assert!(parse_heartbeat(ctl).is_err());
    }

    #[test]
    fn hidden_characters_never_reach_a_store() {
        let hb = br#"{"schema":"ferry.dev/heartbeat/v1","device":{"id":"e1"},"intervalSeconds":18446744073709551615,
            "agent":{"uptimeSeconds":18446744073709551615},"outbox":{"dropped":18446744073709551615},
            "syncs":[{"name":"a","health":"failed","lastError":"x\u0000y","driftCorrections":18446744073709551615}]}"#;
        let d = parse_heartbeat(hb).unwrap();
        assert_eq!(d.interval_seconds, Some(MAX_INTERVAL));
        assert_eq!(
            (d.outbox_dropped, d.uptime_seconds),
            (MAX_COUNTER, MAX_COUNTER)
        );
        assert_eq!(d.syncs[0].last_error.as_deref(), Some("x\u{FFFD}y"));
        let rev = br#"{"schema":"ferry.dev/heartbeat/v1","device":{"id":"e1"},"syncs":[{"name":"a","health":"healthy","highestVerified":9223372036854775808}]}"#;
        assert_eq!(
            parse_heartbeat(rev).unwrap_err().to_string(),
            "syncs[0].highestVerified: must be at most 9223372036854775807"
        );
    }
}
