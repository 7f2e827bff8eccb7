//! What every ferry configuration file shares (the agent's `agent.yaml`, the receiver's
//! `fleet.yaml`): durations written as `30s`, `5m`, `1h 30m`.

use serde::{Deserialize, Deserializer};
use std::time::Duration;

/// A duration in humantime's notation (`30s`, `5m`, `1h 30m`); for `deserialize_with`.
pub fn duration<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
    let s = String::deserialize(d)?;
    humantime::parse_duration(&s)
        .map_err(|e| serde::de::Error::custom(format!("bad duration {s:?}: {e}")))
}

/// An optional [`duration`]; for `deserialize_with` with `#[serde(default)]`.
pub fn opt_duration<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Duration>, D::Error> {
    duration(d).map(Some)
}
