//! The bundle manifest (`bundle.yaml`): what a publisher signs and a device verifies.

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use std::collections::BTreeMap;
use std::fmt;
use std::time::{Duration, SystemTime, UNIX_EPOCH};
use thiserror::Error;

/// A point in time, written as RFC 3339 UTC with second precision (`2026-11-22T10:00:00Z`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Timestamp(pub u64);

impl Timestamp {
    /// The current time.
    pub fn now() -> Self {
        Timestamp::from(SystemTime::now())
    }
    /// Seconds since the Unix epoch.
    pub fn unix(self) -> u64 {
        self.0
    }
    /// This time plus `d`.
    pub fn plus(self, d: Duration) -> Self {
        Timestamp(self.0.saturating_add(d.as_secs()))
    }
    /// Parses RFC 3339 (`Z` or offset-free UTC form).
    pub fn parse(s: &str) -> Result<Self, String> {
        let t = humantime::parse_rfc3339_weak(s).map_err(|e| format!("{s:?}: {e}"))?;
        Ok(Timestamp::from(t))
    }
}

impl From<SystemTime> for Timestamp {
    fn from(t: SystemTime) -> Self {
        Timestamp(
            t.duration_since(UNIX_EPOCH)
                .map(|d| d.as_secs())
                .unwrap_or(0),
        )
    }
}

impl fmt::Display for Timestamp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let t = UNIX_EPOCH + Duration::from_secs(self.0);
        write!(f, "{}", humantime::format_rfc3339_seconds(t))
    }
}

impl Serialize for Timestamp {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.to_string())
    }
}

impl<'de> Deserialize<'de> for Timestamp {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        Timestamp::parse(&s).map_err(serde::de::Error::custom)
    }
}

/// One content file of a bundle.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileEntry {
    /// Relative `/`-separated path (see [`crate::paths::validate`]).
    pub path: String,
    /// Exact size in bytes.
    pub size: u64,
    /// Lowercase hex sha256 of the content.
    pub sha256: String,
}

/// Which devices may apply a bundle. Empty means every device.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Targets {
    /// Device ids allowed to apply the bundle.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub devices: Vec<String>,
    /// Label selectors: a device whose labels contain every pair of one selector matches.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub selectors: Vec<BTreeMap<String, String>>,
}

impl Targets {
    /// True when no device or selector is listed (the bundle is for every device).
    pub fn is_empty(&self) -> bool {
        self.devices.is_empty() && self.selectors.is_empty()
    }
}

/// Rollout hints the publisher signs with the bundle.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Rollout {
    /// Share of devices (0..=100) that apply this revision; each device decides by a stable hash.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub percent: Option<u8>,
}

/// The signed bundle manifest.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct Manifest {
    /// Always [`crate::API_VERSION`].
    pub api_version: String,
    /// Always [`crate::KIND`].
    pub kind: String,
    /// The bundle's name; a device's sync names the bundle it expects.
    pub name: String,
    /// Grows with every release; a device never goes below the highest it applied.
    pub revision: u64,
    /// When the publisher built it.
    pub created: Timestamp,
    /// After this instant devices refuse it (freeze attacks).
    pub expires: Timestamp,
    /// Devices allowed to apply it.
    #[serde(default, skip_serializing_if = "Targets::is_empty")]
    pub targets: Targets,
    /// Rollout hints.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rollout: Option<Rollout>,
    /// Content files, sorted by path.
    pub files: Vec<FileEntry>,
    /// Container images that travel with the bundle (see [`crate::images`]).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub images: Vec<crate::images::ImageEntry>,
    /// Files installed on the host and units restarted (see [`crate::host`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub host: Option<crate::host::HostSection>,
    /// The publisher confirms that this revision may delete most of what the previous one
    /// applied (devices refuse such a revision otherwise; see `docs/bundle-format.md`).
    #[serde(default, skip_serializing_if = "is_false")]
    pub allow_mass_prune: bool,
    /// Content files that are SOPS files, with their age recipients (docs/secrets.md).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub sops: Vec<SopsFile>,
    /// Secrets Kustomize generated from SOPS sources, completed on the device.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub generated_secrets: Vec<crate::sops::generator::GeneratedSecret>,
}

fn is_false(b: &bool) -> bool {
    !*b
}

/// A content file encrypted with SOPS: devices decrypt it in memory just before apply.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SopsFile {
    /// A path listed in `files`.
    pub path: String,
    /// The age recipients (`age1...`) the file is encrypted for, as its metadata names them.
    #[serde(default)]
    pub recipients: Vec<String>,
}

/// Most recipients listed for one SOPS file, and the longest one.
pub const MAX_SOPS_RECIPIENTS: usize = 64;
const MAX_RECIPIENT_BYTES: usize = 4096;

/// Why a manifest could not be parsed or is not well formed.
#[derive(Debug, Error)]
pub enum ManifestError {
    #[error("bundle.yaml is not valid YAML for a manifest: {0}")]
    Yaml(String),
    #[error("bundle.yaml is not UTF-8")]
    NotUtf8,
    #[error("bundle.yaml: sops entry {path}: {reason}")]
    Sops { path: String, reason: String },
    #[error("bundle.yaml has apiVersion {found:?}/kind {kind:?}, expected {expected:?}/Bundle")]
    WrongType {
        found: String,
        kind: String,
        expected: String,
    },
    #[error(
        "bundle.yaml has an invalid name {0:?} (lowercase letters, digits, '-', '.', at most 63)"
    )]
    InvalidName(String),
    #[error("bundle.yaml lists file {path:?} twice")]
    DuplicateFile { path: String },
    #[error("bundle.yaml lists file {path:?} with an invalid sha256 {sha256:?}")]
    InvalidDigest { path: String, sha256: String },
    #[error("bundle.yaml rollout percent {0} is above 100")]
    InvalidPercent(u8),
    #[error("bundle.yaml files are not sorted by path (at {path:?})")]
    Unsorted { path: String },
    #[error("bundle.yaml {0}")]
    Images(#[from] crate::images::ImageMapError),
    #[error("bundle.yaml host section: {0}")]
    Host(#[from] crate::host::HostError),
}

/// True for a name a bundle or sync may carry (DNS-label-like, dots allowed).
pub fn is_valid_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 63
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'.')
        && name.as_bytes()[0].is_ascii_alphanumeric()
        && name.as_bytes()[name.len() - 1].is_ascii_alphanumeric()
}

impl Manifest {
    /// A new manifest with `files` sorted by path.
    pub fn new(
        name: &str,
        revision: u64,
        created: Timestamp,
        ttl: Duration,
        mut files: Vec<FileEntry>,
    ) -> Self {
        files.sort_by(|a, b| a.path.cmp(&b.path));
        Manifest {
            api_version: crate::API_VERSION.to_string(),
            kind: crate::KIND.to_string(),
            name: name.to_string(),
            revision,
            created,
            expires: created.plus(ttl),
            targets: Targets::default(),
            rollout: None,
            files,
            images: Vec::new(),
            host: None,
            allow_mass_prune: false,
            sops: Vec::new(),
            generated_secrets: Vec::new(),
        }
    }

    /// Parses and checks a manifest's structure (types, name, digests, order, no duplicates).
    /// Path shapes and limits are checked by [`crate::verify`].
    pub fn parse(bytes: &[u8]) -> Result<Self, ManifestError> {
        let text = std::str::from_utf8(bytes).map_err(|_| ManifestError::NotUtf8)?;
        let m: Manifest = crate::yaml::from_str_bounded(
            crate::MANIFEST_FILE,
            text,
            &crate::yaml::Budget::small(),
        )
        .map_err(|e| ManifestError::Yaml(e.to_string()))?;
        m.check()?;
        Ok(m)
    }

    fn check(&self) -> Result<(), ManifestError> {
        if self.api_version != crate::API_VERSION || self.kind != crate::KIND {
            return Err(ManifestError::WrongType {
                found: self.api_version.clone(),
                kind: self.kind.clone(),
                expected: crate::API_VERSION.to_string(),
            });
        }
        if !is_valid_name(&self.name) {
            return Err(ManifestError::InvalidName(self.name.clone()));
        }
        if let Some(p) = self.rollout.as_ref().and_then(|r| r.percent) {
            if p > 100 {
                return Err(ManifestError::InvalidPercent(p));
            }
        }
        for (i, f) in self.files.iter().enumerate() {
            if !crate::digest::is_sha256_hex(&f.sha256) {
                return Err(ManifestError::InvalidDigest {
                    path: f.path.clone(),
                    sha256: f.sha256.clone(),
                });
            }
            if i > 0 {
                let prev = &self.files[i - 1].path;
                if *prev == f.path {
                    return Err(ManifestError::DuplicateFile {
                        path: f.path.clone(),
                    });
                }
                if *prev > f.path {
                    return Err(ManifestError::Unsorted {
                        path: f.path.clone(),
                    });
                }
            }
        }
        crate::images::check(&self.images, &crate::images::ImageLimits::default())?;
        if let Some(host) = &self.host {
            host.validate(|p| self.file(p).is_some())?;
        }
        self.check_sops()?;
        crate::sops::generator::check(&self.generated_secrets, |p| self.file(p).is_some()).map_err(
            |reason| ManifestError::Sops {
                path: "generatedSecrets".into(),
                reason,
            },
        )
    }

    /// True for a SOPS source of a generated Secret (never read as a manifest).
    pub fn is_secret_source(&self, path: &str) -> bool {
        self.generated_secrets
            .iter()
            .any(|g| g.sources().any(|s| s == path))
    }

    fn check_sops(&self) -> Result<(), ManifestError> {
        let bad = |path: &str, reason: &str| ManifestError::Sops {
            path: crate::text::shown(path),
            reason: reason.to_string(),
        };
        for (i, f) in self.sops.iter().enumerate() {
            if self.file(&f.path).is_none() {
                return Err(bad(&f.path, "not listed in files"));
            }
            if i > 0 && self.sops[i - 1].path >= f.path {
                return Err(bad(&f.path, "not sorted by path, or listed twice"));
            }
            if f.recipients.len() > MAX_SOPS_RECIPIENTS {
                return Err(bad(&f.path, "more than 64 recipients"));
            }
            let shape = |r: &String| {
                r.len() <= MAX_RECIPIENT_BYTES && r.bytes().all(|b| b.is_ascii_graphic())
            };
            if !f.recipients.iter().all(shape) {
                return Err(bad(&f.path, "a recipient is not a short printable token"));
            }
        }
        Ok(())
    }

    /// The canonical YAML encoding (what gets signed).
    pub fn to_yaml(&self) -> String {
        crate::yaml::to_string(self)
    }

    /// Sum of all file sizes.
    pub fn total_size(&self) -> u64 {
        self.files.iter().map(|f| f.size).sum()
    }

    /// The entry for `path`, if listed.
    pub fn file(&self, path: &str) -> Option<&FileEntry> {
        self.files
            .binary_search_by(|f| f.path.as_str().cmp(path))
            .ok()
            .map(|i| &self.files[i])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Manifest {
        let files = vec![
            FileEntry {
                path: "b.yaml".into(),
                size: 1,
                sha256: crate::digest::sha256_hex(b"b"),
            },
            FileEntry {
                path: "a.yaml".into(),
                size: 1,
                sha256: crate::digest::sha256_hex(b"a"),
            },
        ];
        Manifest::new(
            "demo",
            7,
            Timestamp(1_700_000_000),
            Duration::from_secs(3600),
            files,
        )
    }

    #[test]
    fn round_trip_is_stable_and_sorted() {
        let m = sample();
        assert_eq!(m.files[0].path, "a.yaml");
        let yaml = m.to_yaml();
        assert!(yaml.contains("created: \"2023-11-14T22:13:20Z\""), "{yaml}");
        let back = Manifest::parse(yaml.as_bytes()).unwrap();
        assert_eq!(back, m);
        assert_eq!(back.to_yaml(), yaml);
        assert_eq!(m.file("b.yaml").unwrap().size, 1);
        assert!(m.file("c.yaml").is_none());
    }

    #[test]
    fn refuses_unknown_fields_and_bad_structure() {
        let yaml = sample().to_yaml() + "extra: 1\n";
        assert!(matches!(
            Manifest::parse(yaml.as_bytes()),
            Err(ManifestError::Yaml(_))
        ));
        let mut m = sample();
        m.files.swap(0, 1);
        assert!(matches!(
            Manifest::parse(m.to_yaml().as_bytes()),
            Err(ManifestError::Unsorted { .. })
        ));
        let mut m = sample();
        m.files[1] = m.files[0].clone();
        assert!(matches!(
            Manifest::parse(m.to_yaml().as_bytes()),
            Err(ManifestError::DuplicateFile { .. })
        ));
        let mut m = sample();
        m.files[0].sha256 = "xyz".into();
        assert!(matches!(
            Manifest::parse(m.to_yaml().as_bytes()),
            Err(ManifestError::InvalidDigest { .. })
        ));
        let mut m = sample();
        m.name = "Bad_Name".into();
        assert!(matches!(
            Manifest::parse(m.to_yaml().as_bytes()),
            Err(ManifestError::InvalidName(_))
        ));
        let mut m = sample();
        m.kind = "Other".into();
        assert!(matches!(
            Manifest::parse(m.to_yaml().as_bytes()),
            Err(ManifestError::WrongType { .. })
        ));
        assert!(matches!(
            Manifest::parse(&[0xff, 0xfe]),
            Err(ManifestError::NotUtf8)
        ));
    }
}
