//! The agent's `host` configuration: whether host payloads are applied, the root they are
//! installed under, the allow-lists (paths, units, health executables, owners), the unit
//! manager and the self-update rule's limits; and the per-sync gate (`host: {enabled: true}`
//! on a sync), checked at load: only signed syncs may be host-capable.

use serde::Deserialize;
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

/// Where the .deb installs the agent; the allow-list must name it for self-updates.
pub const DEFAULT_SELF_PATH: &str = "/usr/bin/ferry-agent";

/// `host:` in agent.yaml.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct HostConfig {
    /// Host sections are refused unless this is true.
    #[serde(default)]
    pub enabled: bool,
    /// Every target path is resolved under this directory (`/` in production).
    #[serde(default = "default_root")]
    pub root: PathBuf,
    /// Allowed targets: an entry ending in `/` allows every file below it, others one exact path.
    #[serde(default)]
    pub allow: Vec<String>,
    /// Units a host section may restart (exact names); any other is refused by the plan.
    #[serde(default)]
    pub allow_units: Vec<String>,
    /// Absolute paths a health `command` may run (argv[0]); never a shell or interpreter.
    #[serde(default)]
    pub health_executables: Vec<String>,
    /// Owners (uid) installed files may have besides root.
    #[serde(default)]
    pub allow_uids: Vec<u32>,
    /// Groups (gid) installed files may have besides root.
    #[serde(default)]
    pub allow_gids: Vec<u32>,
    /// The agent's own binary (a target equal to this is a self-update).
    #[serde(default = "default_self_path")]
    pub self_path: String,
    /// How units are restarted and probed.
    #[serde(default)]
    pub units: UnitBackend,
    /// A new agent binary must confirm itself within this time...
    #[serde(
        default = "default_deadline",
        deserialize_with = "ferry_bundle::config_file::duration"
    )]
    pub self_update_deadline: Duration,
    /// ...and within this many starts, or the previous binary is restored.
    #[serde(default = "default_max_starts")]
    pub self_update_max_starts: u32,
}

/// The unit manager to use.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(tag = "type", rename_all = "lowercase", deny_unknown_fields)]
pub enum UnitBackend {
    /// `systemctl restart` / `systemctl is-active` (production).
    #[default]
    Systemd,
    /// A small process supervisor (tests, systems without systemd): each unit is a command
    /// (argv[0] is a host path under `root`), its pid kept in `stateDir`.
    Process {
        #[serde(rename = "stateDir")]
        state_dir: PathBuf,
        units: BTreeMap<String, Vec<String>>,
    },
}

fn default_root() -> PathBuf {
    PathBuf::from("/")
}
fn default_self_path() -> String {
    DEFAULT_SELF_PATH.to_string()
}
fn default_deadline() -> Duration {
    Duration::from_secs(300)
}
fn default_max_starts() -> u32 {
    3
}

/// `host:` on one sync: whether its bundles may carry a host section.
#[derive(Debug, Clone, Copy, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SyncHost {
    /// Host-capable: off by default (a bundle with a host section is then refused whole).
    #[serde(default)]
    pub enabled: bool,
}

/// Program names that run other code given as arguments: never a health executable.
const INTERPRETERS: &[&str] = &[
    "sh",
    "bash",
    "dash",
    "ash",
    "zsh",
    "ksh",
    "mksh",
    "csh",
    "tcsh",
    "fish",
    "busybox",
    "env",
    "sudo",
    "su",
    "doas",
    "nohup",
    "setsid",
    "xargs",
    "find",
    "awk",
    "gawk",
    "mawk",
    "sed",
    "perl",
    "python",
    "python3",
    "ruby",
    "node",
    "lua",
    "php",
    "tclsh",
    "expect",
    "systemd-run",
    "nsenter",
    "chroot",
    "timeout",
    "nice",
    "ionice",
    "stdbuf",
    "script",
    "watch",
    "flock",
];

/// True when `path` names a shell or a program that runs code from its arguments.
pub fn is_interpreter(path: &str) -> bool {
    let base = path.rsplit('/').next().unwrap_or(path);
    let stem = base.trim_end_matches(|c: char| c.is_ascii_digit() || c == '.');
    INTERPRETERS.contains(&base) || INTERPRETERS.contains(&stem)
}

impl SyncHost {
    /// Why sync `name`'s `host:` is refused at load: a host-capable sync must be signed, and
    /// needs the agent's `host` section.
    pub fn check(
        &self,
        name: &str,
        insecure_skip_signature: bool,
        host: Option<&HostConfig>,
    ) -> Result<(), String> {
        if !self.enabled {
            return Ok(());
        }
        if insecure_skip_signature {
            return Err(format!(
                "sync {name:?}: a host-capable sync (host.enabled) cannot set insecureSkipSignature: \
                 host payloads run as root and must be signed"
            ));
        }
        if host.is_none() {
            return Err(format!(
                "sync {name:?}: host.enabled needs the agent's `host` section (allow-list, units)"
            ));
        }
        Ok(())
    }
}

/// Why a configuration's `host` section is refused at load.
pub fn check_at_load(host: Option<&HostConfig>) -> Result<(), String> {
    let Some(h) = host else { return Ok(()) };
    for e in &h.health_executables {
        ferry_bundle::host::validate_target(e)
            .map_err(|err| format!("host.healthExecutables: {err}"))?;
        if is_interpreter(e) {
            return Err(format!(
                "host.healthExecutables: {e} is a shell or interpreter; health checks run a \
                 program with its argv, never a shell"
            ));
        }
    }
    for u in &h.allow_units {
        if !ferry_bundle::host::is_valid_unit_name(u) {
            return Err(format!("host.allowUnits: {u:?} is not a valid unit name"));
        }
    }
    Ok(())
}

impl HostConfig {
    /// True when a host section may restart `unit`.
    pub fn allows_unit(&self, unit: &str) -> bool {
        self.allow_units.iter().any(|u| u == unit)
    }

    /// True when a health command may run `exe`.
    pub fn allows_executable(&self, exe: &str) -> bool {
        !is_interpreter(exe) && self.health_executables.iter().any(|e| e == exe)
    }

    /// True when an installed file may have this owner and group.
    pub fn allows_owner(&self, uid: u32, gid: u32) -> bool {
        (uid == 0 || self.allow_uids.contains(&uid)) && (gid == 0 || self.allow_gids.contains(&gid))
    }

    /// True when `target` is on the allow-list.
    pub fn allows(&self, target: &str) -> bool {
        self.allow.iter().any(|a| match a.strip_suffix('/') {
            Some(dir) => target
                .strip_prefix(dir)
                .is_some_and(|rest| rest.starts_with('/') && rest.len() > 1),
            None => a == target,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn allow_list_is_exact_or_directory_prefix() {
        let c: HostConfig = ferry_bundle::yaml::from_str_bounded(
            "host",
            "enabled: true\nallow: [/usr/bin/ferry-agent, /etc/rancher/k3s/]\n",
            &ferry_bundle::yaml::Budget::small(),
        )
        .unwrap();
        assert!(c.allows("/usr/bin/ferry-agent"));
        assert!(!c.allows("/usr/bin/ferry-agent2"));
        assert!(c.allows("/etc/rancher/k3s/config.yaml"));
        assert!(c.allows("/etc/rancher/k3s/a/b"));
        assert!(!c.allows("/etc/rancher/k3s"));
        assert!(!c.allows("/etc/rancher/k3sx/config.yaml"));
        assert_eq!(c.self_update_max_starts, 3);
        assert_eq!(c.root, PathBuf::from("/"));
        assert!(!c.allows_unit("k3s.service") && c.allows_owner(0, 0));
        assert!(!c.allows_owner(65534, 0) && !c.allows_owner(0, 65534));
    }

    #[test]
    fn shells_and_interpreters_are_never_health_executables() {
        for p in [
            "/bin/sh",
            "/usr/bin/bash",
            "/usr/bin/env",
            "/usr/bin/python3",
            "/usr/bin/python3.11",
            "/bin/busybox",
        ] {
            assert!(is_interpreter(p), "{p}");
        }
        for p in [
            "/usr/local/bin/k3s",
            "/usr/bin/curl",
            "/usr/bin/ferry-agent",
        ] {
            assert!(!is_interpreter(p), "{p}");
        }
        let c: HostConfig = ferry_bundle::yaml::from_str_bounded(
            "host",
            "healthExecutables: [/bin/sh, /usr/local/bin/k3s]\n",
            &ferry_bundle::yaml::Budget::small(),
        )
        .unwrap();
        assert!(!c.allows_executable("/bin/sh") && c.allows_executable("/usr/local/bin/k3s"));
        assert!(check_at_load(Some(&c))
            .unwrap_err()
            .contains("/bin/sh is a shell"));
    }
}
