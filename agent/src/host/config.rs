//! The agent's `host` configuration: whether host payloads are applied, the root they are
//! installed under, the path allow-list, the unit manager and the self-update rule's limits.

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
    /// The agent's own binary (a target equal to this is a self-update).
    #[serde(default = "default_self_path")]
    pub self_path: String,
    /// How units are restarted and probed.
    #[serde(default)]
    pub units: UnitBackend,
    /// A new agent binary must confirm itself within this time...
    #[serde(
        default = "default_deadline",
        deserialize_with = "crate::config::duration"
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

impl HostConfig {
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
    }
}
