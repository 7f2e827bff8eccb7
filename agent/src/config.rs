//! The agent's configuration (`/etc/ferry/agent.yaml`): device identity, state directory,
//! cluster access, trusted keys, and the syncs. Documented in docs/configuration.md.
//!
//! This file only assembles and loads: each capability's settings are typed in the module of
//! that capability (a sync's `source:` in [`crate::source::config`], `host:` in
//! [`crate::host::config`], `fleet:` and `notifications:` in [`crate::fleet::config`], ...) and
//! re-exported here under their old names.

pub use crate::engine::health::JobHealth;
pub use crate::engine::write::RecreatePolicy;
pub use crate::fleet::config::{FleetConfig, NotificationConfig, WebhookFormat};
pub use crate::host::config::{HostConfig, SyncHost};
pub use crate::images::config::{ImagesConfig, SyncImages};
pub use crate::kube::client::Impersonate;
pub use crate::metrics::config::MetricsConfig;
pub use crate::report::config::StatusObjectConfig;
pub use crate::serve::ServeConfig;
pub use crate::source::config::SourceConfig;
pub use crate::store::events::RetentionConfig;
pub use ferry_bundle::config_file::ConfigError;
use ferry_bundle::config_file::{duration, opt_duration, Relative};
use serde::Deserialize;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// Who this device is.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct DeviceConfig {
    /// Defaults to the host name.
    pub id: Option<String>,
    #[serde(default)]
    pub labels: BTreeMap<String, String>,
    /// Variables substituted in manifests (`${NAME}`); `DEVICE_ID` is always defined.
    #[serde(default)]
    pub vars: BTreeMap<String, String>,
}

/// One sync: a bundle name, a source and how to apply it.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct SyncConfig {
    pub name: String,
    /// The bundle name expected in manifests (defaults to `name`).
    pub bundle: Option<String>,
    pub source: SourceConfig,
    #[serde(default = "default_interval", deserialize_with = "duration")]
    pub interval: Duration,
    /// How often live objects are compared with the applied revision (defaults to `interval`).
    #[serde(default, deserialize_with = "opt_duration")]
    pub drift_interval: Option<Duration>,
    #[serde(default = "yes")]
    pub prune: bool,
    /// Apply a revision that would prune most of what the previous one applied without the
    /// publisher's `allowMassPrune` confirmation in the manifest (off: such a revision is
    /// refused, see [`crate::engine::plan::MassPrune`]).
    #[serde(default)]
    pub allow_mass_prune: bool,
    #[serde(default = "yes")]
    pub wait: bool,
    #[serde(default = "default_timeout", deserialize_with = "duration")]
    pub timeout: Duration,
    #[serde(default)]
    pub suspend: bool,
    /// Namespace for namespaced objects that name none.
    #[serde(default = "default_namespace")]
    pub namespace: String,
    /// Trusted keys for this sync (file or directory); defaults to the agent's `keys`.
    pub keys: Option<PathBuf>,
    /// Accept unsigned bundles. Off by default; only for sources you fully control.
    #[serde(default)]
    pub insecure_skip_signature: bool,
    /// `host: {enabled: true}`: this sync's bundles may carry a host section (never with
    /// `insecureSkipSignature`); any other sync's bundle with one is refused whole.
    #[serde(default)]
    pub host: SyncHost,
    /// Syncs that must be applied and healthy before this one runs (infra before apps).
    #[serde(default)]
    pub depends_on: Vec<String>,
    /// Act as this identity (Impersonate-User/Group headers) instead of the agent's own.
    pub impersonate: Option<Impersonate>,
    /// Namespace fence: when set, the bundle may only hold objects in these namespaces (no
    /// cluster-scoped objects); anything else is refused before any write.
    #[serde(default)]
    pub namespaces: Vec<String>,
    /// Refuse a bundle whose manifests use an undefined `${VAR}` (without `:=default`) or an
    /// unterminated `${`. Off by default: such text is left as it is (shell scripts in
    /// ConfigMaps keep their own variables).
    #[serde(default)]
    pub strict_substitution: bool,
    /// Take fields other managers own when they conflict (server-side apply `force`). With
    /// `false`, conflicting fields are left to their owner and reported once.
    #[serde(default = "yes")]
    pub force: bool,
    /// `on-immutable`: delete and re-create an object whose immutable field changed (every
    /// object of the sync; per object, the annotation `ferry.dev/recreate: on-immutable`).
    #[serde(default)]
    pub recreate: RecreatePolicy,
    /// When a Job counts as healthy: once `complete` (default) or once `started`.
    #[serde(default)]
    pub job_health: JobHealth,
    /// How long a revision that failed and was rolled back is held before it is tried again
    /// (doubling per failure, at most a day); `ferry-agent retry` lifts the hold at once.
    #[serde(default = "default_failed_backoff", deserialize_with = "duration")]
    pub failed_revision_backoff: Duration,
    /// A full dry-run drift sweep of every object at least this often (and on daemon start).
    #[serde(default = "default_sweep", deserialize_with = "duration")]
    pub drift_sweep_interval: Duration,
    /// The image names this sync's bundles may carry (docs/images.md).
    #[serde(default)]
    pub images: SyncImages,
}

fn default_failed_backoff() -> Duration {
    Duration::from_secs(600)
}
fn default_sweep() -> Duration {
    Duration::from_secs(6 * 3600)
}

fn yes() -> bool {
    true
}
fn default_interval() -> Duration {
    Duration::from_secs(300)
}
fn default_timeout() -> Duration {
    Duration::from_secs(300)
}
fn default_namespace() -> String {
    "default".into()
}

impl SyncConfig {
    pub fn bundle_name(&self) -> &str {
        self.bundle.as_deref().unwrap_or(&self.name)
    }
    pub fn drift_every(&self) -> Duration {
        self.drift_interval.unwrap_or(self.interval)
    }
}

/// The whole file.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct AgentConfig {
    #[serde(default)]
    pub device: DeviceConfig,
    #[serde(default = "default_state_dir")]
    pub state_dir: PathBuf,
    /// A kubeconfig; defaults to k3s's, then the in-cluster service account.
    pub kubeconfig: Option<PathBuf>,
    /// Trusted public keys: a `.pub` file or a directory of them.
    #[serde(default = "default_keys")]
    pub keys: PathBuf,
    /// Attempts kept per sync in history (and their bundles in the cache).
    #[serde(default = "default_history")]
    pub history: usize,
    /// Objects applied at once within a stage.
    #[serde(default = "default_concurrency")]
    pub concurrency: usize,
    #[serde(default)]
    pub limits: ferry_bundle::Limits,
    /// Fleet status heartbeat (optional).
    pub fleet: Option<FleetConfig>,
    #[serde(default)]
    pub notifications: Vec<NotificationConfig>,
    #[serde(default)]
    pub metrics: MetricsConfig,
    #[serde(default)]
    pub status_object: StatusObjectConfig,
    /// Serve the verified cache to neighbours while running (air-gapped sites).
    pub serve: Option<ServeConfig>,
    /// Serve the images bundles carry to the node's containerd.
    pub images: Option<ImagesConfig>,
    /// Most heartbeats and notifications kept while their endpoints are unreachable; the
    /// oldest are dropped (and counted) beyond it.
    #[serde(default = "default_outbox")]
    pub outbox_limit: usize,
    /// Retries of transient API failures (429, 5xx, timeouts, dropped connections).
    #[serde(default)]
    pub api_retry: crate::kube::retry::RetryPolicy,
    /// Accept trusted keys and a config file that others can write, with a warning instead of
    /// refusing to start (docs/configuration.md). Off by default.
    #[serde(default)]
    pub insecure_allow_writable_trust: bool,
    /// How long and how many events and attempts are kept.
    #[serde(default)]
    pub retention: RetentionConfig,
    /// Host payloads (docs/host-payloads.md); absent = host sections are refused.
    #[serde(default)]
    pub host: Option<HostConfig>,
    /// age identities for SOPS files (docs/secrets.md); absent = SOPS files are refused.
    #[serde(default)]
    pub decryption: Option<crate::secrets::DecryptionConfig>,
    /// Several nodes, one writer elected by a Lease (docs/operations.md); absent = one node.
    #[serde(default, deserialize_with = "crate::site::config::checked")]
    pub site: Option<crate::site::config::SiteConfig>,
    pub syncs: Vec<SyncConfig>,
}

fn default_outbox() -> usize {
    1000
}

fn default_state_dir() -> PathBuf {
    "/var/lib/ferry".into()
}
fn default_keys() -> PathBuf {
    "/etc/ferry/keys".into()
}
fn default_history() -> usize {
    10
}
fn default_concurrency() -> usize {
    4
}

/// Where k3s writes its admin kubeconfig.
pub const K3S_KUBECONFIG: &str = "/etc/rancher/k3s/k3s.yaml";

impl AgentConfig {
    pub fn load(path: &Path) -> Result<Self, ConfigError> {
        Self::parse(path, &ferry_bundle::config_file::read(path)?)
    }

    pub fn parse(path: &Path, text: &str) -> Result<Self, ConfigError> {
        let invalid = |reason: String| ConfigError::invalid(path, reason);
        let mut cfg: AgentConfig = ferry_bundle::config_file::parse(path, text)?;
        if cfg.syncs.is_empty() {
            return Err(invalid("no syncs defined".into()));
        }
        check_ranges(&cfg).map_err(invalid)?;
        let mut names = std::collections::BTreeSet::new();
        for s in &cfg.syncs {
            if !ferry_bundle::manifest::is_valid_name(&s.name) {
                return Err(invalid(format!(
                    "sync name {:?} is invalid (lowercase letters, digits, '-', '.')",
                    s.name
                )));
            }
            if !names.insert(s.name.clone()) {
                return Err(invalid(format!("sync {:?} is defined twice", s.name)));
            }
            if s.interval < Duration::from_secs(1) {
                return Err(invalid(format!(
                    "sync {:?}: interval must be at least 1s",
                    s.name
                )));
            }
        }
        check_image_prefixes(&cfg.syncs).map_err(invalid)?;
        for s in &cfg.syncs {
            for d in &s.depends_on {
                if !names.contains(d) {
                    return Err(invalid(format!(
                        "sync {:?} depends on unknown sync {d:?}",
                        s.name
                    )));
                }
            }
        }
        if let Some(cycle) = dependency_cycle(&cfg.syncs) {
            return Err(invalid(format!("dependsOn cycle: {}", cycle.join(" -> "))));
        }
        for s in &cfg.syncs {
            s.host
                .check(&s.name, s.insecure_skip_signature, cfg.host.as_ref())
                .map_err(invalid)?;
        }
        crate::host::config::check_at_load(cfg.host.as_ref()).map_err(invalid)?;
        // Relative paths are relative to the config file.
        let rel = Relative::to_file(path);
        let abs = |p: &mut PathBuf| rel.resolve(p);
        abs(&mut cfg.state_dir);
        if let Some(t) = cfg.metrics.textfile.as_mut() {
            abs(t);
        }
        if let Some(t) = cfg.serve.as_mut().and_then(|s| s.token_file.as_mut()) {
            abs(t);
        }
        if let Some(f) = cfg.fleet.as_mut() {
            f.tls.paths_mut().into_iter().for_each(abs);
        }
        for n in &mut cfg.notifications {
            n.tls.paths_mut().into_iter().for_each(abs);
        }
        abs(&mut cfg.keys);
        if let Some(k) = cfg.kubeconfig.as_mut() {
            abs(k);
        }
        for s in &mut cfg.syncs {
            if let Some(k) = s.keys.as_mut() {
                abs(k);
            }
            s.source.paths_mut().into_iter().for_each(abs);
        }
        Ok(cfg)
    }

    /// The device id: configured, or the host name.
    pub fn device_id(&self) -> String {
        self.device.id.clone().unwrap_or_else(|| {
            std::fs::read_to_string("/etc/hostname")
                .map(|h| h.trim().to_string())
                .ok()
                .filter(|h| !h.is_empty())
                .unwrap_or_else(|| "unknown-device".into())
        })
    }

    /// Variables for manifests: the configured ones plus `DEVICE_ID`.
    pub fn vars(&self) -> BTreeMap<String, String> {
        let mut v = self.device.vars.clone();
        v.insert("DEVICE_ID".into(), self.device_id());
        v
    }

    pub fn sync(&self, name: &str) -> Option<&SyncConfig> {
        self.syncs.iter().find(|s| s.name == name)
    }
}

/// Numbers that parse but cannot work: zero limits, no concurrency, no history.
fn check_ranges(cfg: &AgentConfig) -> Result<(), String> {
    let l = &cfg.limits;
    let positive = [
        ("limits.maxManifestBytes", l.max_manifest_bytes),
        ("limits.maxSignatureBytes", l.max_signature_bytes),
        ("limits.maxFiles", l.max_files as u64),
        ("limits.maxFileBytes", l.max_file_bytes),
        ("limits.maxTotalBytes", l.max_total_bytes),
        ("limits.maxPathBytes", l.max_path_bytes as u64),
        ("limits.maxObjects", l.max_objects as u64),
        ("limits.maxObjectBytes", l.max_object_bytes),
        ("limits.maxRenderedBytes", l.max_rendered_bytes),
        ("history", cfg.history as u64),
        ("outboxLimit", cfg.outbox_limit as u64),
    ];
    if let Some((name, _)) = positive.iter().find(|(_, v)| *v == 0) {
        return Err(format!("{name} must be at least 1"));
    }
    if !(1..=64).contains(&cfg.concurrency) {
        return Err(format!(
            "concurrency must be 1 to 64, not {}",
            cfg.concurrency
        ));
    }
    Ok(())
}

/// No image name may belong to two syncs: prefixes of different syncs must not overlap.
fn check_image_prefixes(syncs: &[SyncConfig]) -> Result<(), String> {
    for (i, a) in syncs.iter().enumerate() {
        for b in &syncs[i + 1..] {
            for pa in &a.images.prefixes {
                if let Some(pb) = b.images.prefixes.iter().find(|pb| pa.overlaps(pb)) {
                    return Err(format!(
                        "images.prefixes: {pa} of sync {:?} overlaps {pb} of sync {:?} (an image belongs to one sync)",
                        a.name, b.name
                    ));
                }
            }
        }
    }
    Ok(())
}

/// A dependsOn cycle, if any (as the path that closes it).
fn dependency_cycle(syncs: &[SyncConfig]) -> Option<Vec<String>> {
    fn visit(name: &str, syncs: &[SyncConfig], path: &mut Vec<String>) -> Option<Vec<String>> {
        if let Some(i) = path.iter().position(|p| p == name) {
            let mut cycle = path[i..].to_vec();
            cycle.push(name.to_string());
            return Some(cycle);
        }
        path.push(name.to_string());
        let deps = syncs
            .iter()
            .find(|s| s.name == name)
            .map(|s| s.depends_on.clone())
            .unwrap_or_default();
        for d in deps {
            if let Some(c) = visit(&d, syncs, path) {
                return Some(c);
            }
        }
        path.pop();
        None
    }
    syncs
        .iter()
        .find_map(|s| visit(&s.name, syncs, &mut Vec::new()))
}

#[cfg(test)]
mod tests;
