//! The one loader of ferry's configuration files (the agent's `agent.yaml`, the receiver's
//! `fleet.yaml`): read with a size bound, parsed with the small YAML [`Budget`] (unknown
//! fields refused by each type), relative paths taken from the file's directory, and one error
//! shape naming the file. Durations are written as `30s`, `5m`, `1h 30m` ([`duration`]).
//!
//! It lives in ferry-bundle because both the agent and ferry-fleet already depend on this
//! crate (for its bounded YAML), and it depends on nothing of theirs: no cycle between crates.

use crate::yaml::{Budget, YamlError};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Deserializer};
use std::io::Read;
use std::path::{Path, PathBuf};
use std::time::Duration;
use thiserror::Error;

/// Why a configuration file cannot be used.
#[derive(Debug, Error)]
pub enum ConfigError {
    #[error("config {path}: {reason}")]
    Read { path: PathBuf, reason: String },
    #[error("config {path}: {reason}")]
    Invalid { path: PathBuf, reason: String },
}

impl ConfigError {
    /// A file that parsed but says something that cannot work.
    pub fn invalid(path: &Path, reason: impl Into<String>) -> ConfigError {
        ConfigError::Invalid {
            path: path.into(),
            reason: reason.into(),
        }
    }
}

/// Reads the file at `path`, at most the small budget's bytes.
pub fn read(path: &Path) -> Result<String, ConfigError> {
    let err = |reason: String| ConfigError::Read {
        path: path.into(),
        reason,
    };
    let max = Budget::small().max_bytes;
    let mut text = String::new();
    std::fs::File::open(path)
        .and_then(|f| f.take(max as u64 + 1).read_to_string(&mut text))
        .map_err(|e| err(e.to_string()))?;
    if text.len() > max {
        return Err(err(format!("larger than {max} bytes")));
    }
    Ok(text)
}

/// Parses `text` (read from `path`) as a `T` with the small YAML budget.
pub fn parse<T: DeserializeOwned>(path: &Path, text: &str) -> Result<T, ConfigError> {
    crate::yaml::from_str_bounded(&path.display().to_string(), text, &Budget::small()).map_err(
        |e| match e {
            YamlError::Shape { reason, .. } => ConfigError::invalid(path, reason),
            other => ConfigError::invalid(path, other.to_string()),
        },
    )
}

/// Makes paths written relative to the configuration file absolute.
pub struct Relative<'a> {
    base: &'a Path,
}

impl<'a> Relative<'a> {
    /// Paths relative to the directory of the file at `path`.
    pub fn to_file(path: &'a Path) -> Self {
        Relative {
            base: path.parent().unwrap_or(Path::new(".")),
        }
    }

    /// Joins `p` to the file's directory when it is relative.
    pub fn resolve(&self, p: &mut PathBuf) {
        if p.is_relative() {
            *p = self.base.join(&*p);
        }
    }
}

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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_loader_bounds_the_read_names_the_file_and_resolves_relative_paths() {
        let dir = tempfile::tempdir().unwrap();
        let big = dir.path().join("big.yaml");
        std::fs::write(&big, vec![b'#'; Budget::small().max_bytes + 1]).unwrap();
        let e = read(&big).unwrap_err().to_string();
        assert!(e.starts_with("config ") && e.contains("big.yaml") && e.contains("larger than"));
        #[derive(Debug, Deserialize)]
        #[serde(deny_unknown_fields)]
        struct T {
            #[serde(deserialize_with = "duration")]
            every: Duration,
        }
        let path = Path::new("/etc/ferry/x.yaml");
        let t: T = parse(path, "every: 1m 30s\n").unwrap();
        assert_eq!(t.every, Duration::from_secs(90));
        let e = parse::<T>(path, "every: 1m\nbogus: 1\n")
            .unwrap_err()
            .to_string();
        assert!(
            e.starts_with("config /etc/ferry/x.yaml: ") && e.contains("bogus"),
            "{e}"
        );
        let mut p = PathBuf::from("keys");
        Relative::to_file(path).resolve(&mut p);
        assert_eq!(p, Path::new("/etc/ferry/keys"));
    }
}
