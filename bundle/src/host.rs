//! The optional signed `host` section of a manifest: files a device installs on the host
//! (outside the cluster) and the systemd units restarted after they change, with a health check.
//!
//! Only shapes are checked here (pure): absolute normalized target paths, valid unit names,
//! sources listed in the manifest's `files`, one entry per target and architecture. Whether a
//! target is allowed on a device is the device's decision (its allow-list), see
//! `docs/host-payloads.md`.

use serde::{Deserialize, Serialize};
use thiserror::Error;

/// Longest target path accepted.
pub const MAX_TARGET_LEN: usize = 512;
/// Most host files in one manifest.
pub const MAX_HOST_FILES: usize = 64;
/// Longest health timeout a publisher may ask for (seconds).
pub const MAX_HEALTH_TIMEOUT_SECONDS: u64 = 600;

/// The CPU architecture a host file is built for, named like Rust's `std::env::consts::ARCH`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Arch {
    /// Any architecture (configuration files, scripts).
    Any,
    X86_64,
    Aarch64,
    Armv7,
    Arm,
}

impl Arch {
    /// The architecture named by `std::env::consts::ARCH` (`arm` covers armv7 builds).
    pub fn from_rust(arch: &str) -> Option<Arch> {
        match arch {
            "x86_64" => Some(Arch::X86_64),
            "aarch64" => Some(Arch::Aarch64),
            "arm" => Some(Arch::Arm),
            _ => None,
        }
    }

    /// True when a file declared for `self` runs on a machine of architecture `running`.
    pub fn runs_on(self, running: Arch) -> bool {
        match (self, running) {
            (Arch::Any, _) => true,
            (Arch::Armv7 | Arch::Arm, Arch::Armv7 | Arch::Arm) => true,
            (a, b) => a == b,
        }
    }
}

/// One file to install on the host.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct HostFile {
    /// The bundle path of the content (listed in the manifest's `files`).
    pub source: String,
    /// Absolute, normalized host path (`/usr/local/bin/k3s`).
    pub target: String,
    /// Permission bits (`0o755` is written `493` or `0755` as a string).
    #[serde(with = "octal_mode")]
    pub mode: u32,
    /// Owner user id.
    #[serde(default)]
    pub uid: u32,
    /// Owner group id.
    #[serde(default)]
    pub gid: u32,
    /// Architecture the content is built for.
    pub arch: Arch,
    /// Version of the content (semver), required for the agent's own binary.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version: Option<String>,
    /// Installs even when `version` is below the running agent's version.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub allow_downgrade: bool,
    /// The source is a SOPS file for the devices' age recipients: decrypted in memory at
    /// install time and written with `mode` (docs/secrets.md). A binary SOPS file is written
    /// byte for byte; a YAML or JSON one as the JSON of its one document.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub sops: bool,
}

/// How to tell a restarted unit is healthy.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct HealthCheck {
    /// A command (argv, no shell) that must exit 0.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub command: Vec<String>,
    /// An HTTP(S) URL on loopback (`127.0.0.1`, `[::1]` or `localhost`) that must answer 2xx.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub http: Option<String>,
    /// An absolute host path that must exist (a socket, a pid file, a token).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub file: Option<String>,
    /// Seconds the unit has to become active and pass the probes.
    pub timeout_seconds: u64,
}

/// A unit restarted after any of its files changed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct HostUnit {
    /// systemd unit name (`k3s.service`).
    pub name: String,
    /// Targets whose change restarts this unit.
    pub files: Vec<String>,
    /// The health check after the restart.
    pub health: HealthCheck,
}

/// The `host` section of a manifest.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HostSection {
    /// Files to install, in any order.
    #[serde(default)]
    pub files: Vec<HostFile>,
    /// Units to restart, in this order.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub units: Vec<HostUnit>,
}

/// Why a `host` section is not well formed.
#[derive(Debug, Error, PartialEq, Eq)]
pub enum HostError {
    #[error("host target {0:?} is not an absolute path")]
    NotAbsolute(String),
    #[error("host target {0:?} has a '..' component")]
    ParentComponent(String),
    #[error("host target {0:?} is not normalized (empty or '.' component, trailing '/')")]
    NotNormalized(String),
    #[error("host target {0:?} is longer than {MAX_TARGET_LEN} bytes or has a control character")]
    BadTarget(String),
    #[error("host file {target:?} has source {source_path:?}, which the manifest does not list")]
    SourceNotListed { target: String, source_path: String },
    #[error("host target {0:?} is listed twice for the same architecture")]
    DuplicateTarget(String),
    #[error("host file {target:?} has mode {mode:o}, outside 0..=0o7777 or setuid/setgid")]
    BadMode { target: String, mode: u32 },
    #[error("host file {target:?} has an invalid version {version:?}")]
    BadVersion { target: String, version: String },
    #[error("host section lists more than {MAX_HOST_FILES} files")]
    TooManyFiles,
    #[error("host unit {0:?} is not a valid unit name (letters, digits, ':-_.@', a known suffix)")]
    BadUnitName(String),
    #[error("host unit {unit:?} names target {target:?}, which the host section does not list")]
    UnknownUnitFile { unit: String, target: String },
    #[error("host unit {unit:?}: {reason}")]
    BadHealth { unit: String, reason: String },
}

/// Checks a target path: absolute, normalized, no `..`, bounded, no control character.
pub fn validate_target(target: &str) -> Result<(), HostError> {
    if target.len() > MAX_TARGET_LEN || target.chars().any(|c| c.is_control() || c == '\\') {
        return Err(HostError::BadTarget(target.chars().take(80).collect()));
    }
    let Some(rest) = target.strip_prefix('/') else {
        return Err(HostError::NotAbsolute(target.to_string()));
    };
    for component in rest.split('/') {
        match component {
            ".." => return Err(HostError::ParentComponent(target.to_string())),
            "" | "." => return Err(HostError::NotNormalized(target.to_string())),
            _ => {}
        }
    }
    Ok(())
}

/// True for a systemd unit name ferry may restart.
pub fn is_valid_unit_name(name: &str) -> bool {
    let suffix_ok = [".service", ".socket", ".timer", ".target", ".path"]
        .iter()
        .any(|s| name.ends_with(s) && name.len() > s.len());
    suffix_ok
        && name.len() <= 255
        && !name.starts_with('-')
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b":-_.@\\".contains(&b))
}

/// True for a health URL on the loopback interface.
pub fn is_loopback_url(url: &str) -> bool {
    let rest = url
        .strip_prefix("http://")
        .or_else(|| url.strip_prefix("https://"));
    let Some(rest) = rest else { return false };
    let authority = rest.split('/').next().unwrap_or("");
    if authority.contains('@') {
        return false;
    }
    let host = if let Some(v6) = authority.strip_prefix('[') {
        v6.split(']').next().unwrap_or("")
    } else {
        authority.split(':').next().unwrap_or("")
    };
    matches!(host, "127.0.0.1" | "::1" | "localhost")
}

impl HostSection {
    /// Checks the section's shapes; `listed` tells whether a bundle path is in `files`.
    pub fn validate(&self, listed: impl Fn(&str) -> bool) -> Result<(), HostError> {
        if self.files.len() > MAX_HOST_FILES {
            return Err(HostError::TooManyFiles);
        }
        for (i, f) in self.files.iter().enumerate() {
            validate_target(&f.target)?;
            if !listed(&f.source) {
                return Err(HostError::SourceNotListed {
                    target: f.target.clone(),
                    source_path: f.source.clone(),
                });
            }
            if f.mode > 0o7777 || f.mode & 0o6000 != 0 {
                return Err(HostError::BadMode {
                    target: f.target.clone(),
                    mode: f.mode,
                });
            }
            if let Some(v) = &f.version {
                if semver::Version::parse(v).is_err() {
                    return Err(HostError::BadVersion {
                        target: f.target.clone(),
                        version: v.chars().take(40).collect(),
                    });
                }
            }
            let clash = self.files[..i].iter().any(|o| {
                o.target == f.target && (o.arch.runs_on(f.arch) || f.arch.runs_on(o.arch))
            });
            if clash {
                return Err(HostError::DuplicateTarget(f.target.clone()));
            }
        }
        for u in &self.units {
            if !is_valid_unit_name(&u.name) {
                return Err(HostError::BadUnitName(u.name.chars().take(80).collect()));
            }
            for t in &u.files {
                if !self.files.iter().any(|f| &f.target == t) {
                    return Err(HostError::UnknownUnitFile {
                        unit: u.name.clone(),
                        target: t.clone(),
                    });
                }
            }
            let bad = |reason: &str| HostError::BadHealth {
                unit: u.name.clone(),
                reason: reason.to_string(),
            };
            if u.health.timeout_seconds == 0
                || u.health.timeout_seconds > MAX_HEALTH_TIMEOUT_SECONDS
            {
                return Err(bad("timeoutSeconds must be 1..=600"));
            }
            if let Some(url) = &u.health.http {
                if !is_loopback_url(url) {
                    return Err(bad("the http probe must be a loopback http(s) URL"));
                }
            }
            if u.health
                .command
                .first()
                .is_some_and(|c| !c.starts_with('/'))
            {
                return Err(bad("the health command must be an absolute path"));
            }
            if let Some(f) = &u.health.file {
                if validate_target(f).is_err() {
                    return Err(bad("the file probe must be an absolute, normalized path"));
                }
            }
        }
        Ok(())
    }

    /// True when `path` is the source of a host file (such files are not cluster manifests).
    pub fn is_source(&self, path: &str) -> bool {
        self.files.iter().any(|f| f.source == path)
    }
}

mod octal_mode {
    //! Modes are written as octal strings (`"0755"`); integers are accepted too.
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(mode: &u32, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&format!("{mode:04o}"))
    }

    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Raw {
        Int(u32),
        Text(String),
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<u32, D::Error> {
        match Raw::deserialize(d)? {
            Raw::Int(i) => Ok(i),
            Raw::Text(t) => u32::from_str_radix(t.trim_start_matches("0o"), 8)
                .map_err(|_| serde::de::Error::custom(format!("mode {t:?} is not octal"))),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn file(target: &str, arch: Arch) -> HostFile {
        HostFile {
            source: "host/k3s".into(),
            target: target.into(),
            mode: 0o755,
            uid: 0,
            gid: 0,
            arch,
            version: None,
            allow_downgrade: false,
            sops: false,
        }
    }

    fn section(files: Vec<HostFile>) -> HostSection {
        HostSection {
            files,
            units: vec![HostUnit {
                name: "k3s.service".into(),
                files: vec!["/usr/local/bin/k3s".into()],
                health: HealthCheck {
                    command: vec![],
                    http: Some("https://127.0.0.1:6443/readyz".into()),
                    file: None,
                    timeout_seconds: 60,
                },
            }],
        }
    }

    #[test]
    fn targets_must_be_absolute_and_normalized() {
        assert_eq!(validate_target("/usr/local/bin/k3s"), Ok(()));
        for (t, want) in [
            ("usr/bin/x", HostError::NotAbsolute("usr/bin/x".into())),
            (
                "/usr/../etc/shadow",
                HostError::ParentComponent("/usr/../etc/shadow".into()),
            ),
            ("/usr//bin", HostError::NotNormalized("/usr//bin".into())),
            ("/usr/./bin", HostError::NotNormalized("/usr/./bin".into())),
            ("/usr/bin/", HostError::NotNormalized("/usr/bin/".into())),
            ("/", HostError::NotNormalized("/".into())),
        ] {
            assert_eq!(validate_target(t), Err(want), "{t}");
        }
        assert!(matches!(
            validate_target("/a\nb"),
            Err(HostError::BadTarget(_))
        ));
    }

    #[test]
    fn section_checks_sources_units_modes_and_duplicates() {
        let ok = section(vec![
            file("/usr/local/bin/k3s", Arch::X86_64),
            file("/usr/local/bin/k3s", Arch::Aarch64),
        ]);
        assert_eq!(ok.validate(|p| p == "host/k3s"), Ok(()));
        assert!(matches!(
            ok.validate(|_| false),
            Err(HostError::SourceNotListed { .. })
        ));
        let dup = section(vec![
            file("/usr/local/bin/k3s", Arch::Any),
            file("/usr/local/bin/k3s", Arch::Aarch64),
        ]);
        assert_eq!(
            dup.validate(|_| true),
            Err(HostError::DuplicateTarget("/usr/local/bin/k3s".into()))
        );
        let mut suid = section(vec![file("/usr/local/bin/k3s", Arch::Any)]);
        suid.files[0].mode = 0o4755;
        assert!(matches!(
            suid.validate(|_| true),
            Err(HostError::BadMode { .. })
        ));
        let mut unit = section(vec![file("/usr/local/bin/k3s", Arch::Any)]);
        unit.units[0].name = "k3s; reboot".into();
        assert!(matches!(
            unit.validate(|_| true),
            Err(HostError::BadUnitName(_))
        ));
        let mut remote = section(vec![file("/usr/local/bin/k3s", Arch::Any)]);
        remote.units[0].health.http = Some("http://127.0.0.1@evil.example/".into());
        assert!(matches!(
            remote.validate(|_| true),
            Err(HostError::BadHealth { .. })
        ));
        let mut other = section(vec![file("/usr/local/bin/k3s", Arch::Any)]);
        other.units[0].files = vec!["/etc/passwd".into()];
        assert!(matches!(
            other.validate(|_| true),
            Err(HostError::UnknownUnitFile { .. })
        ));
        let mut ver = section(vec![file("/usr/local/bin/k3s", Arch::Any)]);
        ver.files[0].version = Some("one".into());
        assert!(matches!(
            ver.validate(|_| true),
            Err(HostError::BadVersion { .. })
        ));
    }

    #[test]
    fn loopback_urls_and_arch_rules() {
        assert!(is_loopback_url("http://127.0.0.1:8080/healthz"));
        assert!(is_loopback_url("https://[::1]:6443/readyz"));
        assert!(is_loopback_url("http://localhost/"));
        assert!(!is_loopback_url("http://10.0.0.1/"));
        assert!(!is_loopback_url("file:///etc/passwd"));
        assert!(Arch::Any.runs_on(Arch::Aarch64));
        assert!(Arch::Armv7.runs_on(Arch::Arm));
        assert!(!Arch::Aarch64.runs_on(Arch::X86_64));
        assert!(Arch::from_rust(std::env::consts::ARCH).is_some());
    }

    fn from_yaml(text: &str) -> HostSection {
        crate::yaml::from_str_bounded("host.yaml", text, &crate::yaml::Budget::small()).unwrap()
    }

    #[test]
    fn yaml_round_trip_with_octal_modes() {
        let s = section(vec![file("/usr/local/bin/k3s", Arch::X86_64)]);
        let y = crate::yaml::to_string(&s);
        assert!(y.contains("mode: \"0755\""), "{y}");
        let back: HostSection = from_yaml(&y);
        assert_eq!(back, s);
        let int: HostSection =
            from_yaml("files:\n- {source: a, target: /a, mode: 420, arch: any}\n");
        assert_eq!(int.files[0].mode, 0o644);
    }
}
