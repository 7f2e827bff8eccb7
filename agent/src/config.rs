//! The agent's configuration (`/etc/ferry/agent.yaml`): device identity, state directory,
//! cluster access, trusted keys, and the syncs. Documented in docs/configuration.md.

use serde::{Deserialize, Deserializer};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;
use thiserror::Error;

#[derive(Debug, Error)]
pub enum ConfigError {
    #[error("config {path}: {reason}")]
    Read { path: PathBuf, reason: String },
    #[error("config {path}: {reason}")]
    Invalid { path: PathBuf, reason: String },
}

pub(crate) fn duration<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
    let s = String::deserialize(d)?;
    humantime::parse_duration(&s)
        .map_err(|e| serde::de::Error::custom(format!("bad duration {s:?}: {e}")))
}

fn opt_duration<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Duration>, D::Error> {
    duration(d).map(Some)
}

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

/// Where a sync gets its bundles.
#[derive(Debug, Clone, Deserialize)]
#[serde(tag = "type", rename_all = "lowercase", deny_unknown_fields)]
pub enum SourceConfig {
    /// A local directory (or USB mount) holding `.bundle` archives and/or bundle directories.
    Directory {
        path: PathBuf,
        /// Move refused candidates here, each with a `.reason` file (never deleted silently).
        quarantine: Option<PathBuf>,
    },
    /// HTTP(S): a `.bundle` archive URL, or the base URL (ending in `/`) of an exploded layout.
    #[serde(rename_all = "camelCase")]
    Http {
        url: String,
        /// Detached signature, when the archive or layout has none of its own.
        signature_url: Option<String>,
        #[serde(default = "default_http_timeout", deserialize_with = "duration")]
        timeout: Duration,
        #[serde(flatten)]
        auth: crate::outbound::EndpointTls,
    },
    /// A Git repository (`https://`, `git://` or a local path) holding a signed bundle at `path`.
    #[serde(rename_all = "camelCase")]
    Git {
        url: String,
        branch: Option<String>,
        tag: Option<String>,
        /// Highest tag matching this range (Cargo syntax).
        semver: Option<String>,
        commit: Option<String>,
        /// Directory of the bundle in the repository (default: the root).
        #[serde(default)]
        path: String,
        /// Deadline of each request (HTTPS) or connection (`git://`), pack included.
        #[serde(default = "default_fetch_timeout", deserialize_with = "duration")]
        timeout: Duration,
        /// Largest pack a fetch may receive (default: the bundle limits' total, manifest and
        /// signature sizes plus 16 MiB).
        max_pack_bytes: Option<u64>,
        #[serde(flatten)]
        auth: crate::outbound::EndpointTls,
    },
    /// An OCI registry: `url: oci://host[:port]/repository` plus one of tag, digest, semver.
    #[serde(rename_all = "camelCase")]
    Oci {
        url: String,
        tag: Option<String>,
        digest: Option<String>,
        /// Highest tag matching this range (Cargo syntax, e.g. `>=1.2, <2`).
        semver: Option<String>,
        ca_file: Option<PathBuf>,
        client_cert: Option<PathBuf>,
        client_key: Option<PathBuf>,
        /// `user:password` for basic auth or the registry's token service.
        basic_auth_file: Option<PathBuf>,
        /// A docker `config.json` holding credentials for the registry.
        docker_config: Option<PathBuf>,
        /// Plain HTTP (only for a registry on a trusted private link).
        #[serde(default)]
        plain_http: bool,
        /// Deadline of each request to the registry, body included.
        #[serde(default = "default_fetch_timeout", deserialize_with = "duration")]
        timeout: Duration,
        /// Token services on another origin (`https://host[:port]`) that may receive the
        /// registry credentials.
        #[serde(default)]
        token_realms: Vec<String>,
    },
}

fn default_fetch_timeout() -> Duration {
    Duration::from_secs(600)
}

fn default_http_timeout() -> Duration {
    Duration::from_secs(300)
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
    pub host: crate::host::config::SyncHost,
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

/// The images a sync owns on this node: its mirror serves a tag only for the sync whose
/// `prefixes` cover it. Without prefixes, the only sync of a configuration owns every name;
/// with several syncs, each that carries images lists its own (no two may overlap).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SyncImages {
    #[serde(default)]
    pub prefixes: Vec<ferry_bundle::images::ImagePrefix>,
}

/// Whether objects are re-created when an immutable field changed.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum RecreatePolicy {
    #[default]
    Never,
    OnImmutable,
}

/// When a Job counts as healthy.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum JobHealth {
    #[default]
    Complete,
    Started,
}

fn default_failed_backoff() -> Duration {
    Duration::from_secs(600)
}
fn default_sweep() -> Duration {
    Duration::from_secs(6 * 3600)
}

/// An identity to impersonate.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Impersonate {
    pub user: String,
    #[serde(default)]
    pub groups: Vec<String>,
}

/// The fleet status endpoint.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct FleetConfig {
    pub url: String,
    #[serde(default = "default_interval", deserialize_with = "duration")]
    pub interval: Duration,
    #[serde(flatten)]
    pub tls: crate::outbound::EndpointTls,
}

/// Payload shapes for webhooks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum WebhookFormat {
    Json,
    Slack,
}

/// A webhook that receives events.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct NotificationConfig {
    pub name: String,
    pub url: String,
    #[serde(default = "default_format")]
    pub format: WebhookFormat,
    /// Event kinds to send (default: all): applied, failed, rolled-back, refused,
    /// drift-detected, drift-corrected, source-unreachable.
    #[serde(default)]
    pub events: Vec<String>,
    #[serde(flatten)]
    pub tls: crate::outbound::EndpointTls,
}

fn default_format() -> WebhookFormat {
    WebhookFormat::Json
}

/// Prometheus metrics output.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct MetricsConfig {
    /// node_exporter textfile-collector file, written atomically after every pass.
    pub textfile: Option<PathBuf>,
    /// Serve `/metrics` on this address (keep it on localhost), e.g. 127.0.0.1:9465.
    pub listen: Option<String>,
}

/// `ferry-agent serve` settings.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ServeConfig {
    /// Address to listen on, e.g. `0.0.0.0:8470`.
    pub listen: String,
    /// The site token(s) neighbours must send (`Authorization: Bearer`); required to serve.
    #[serde(rename = "tokenFile")]
    pub token_file: Option<PathBuf>,
}

/// The image mirror containerd pulls through (see docs/images.md).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ImagesConfig {
    /// Loopback address to serve on, e.g. `127.0.0.1:5001`.
    pub listen: String,
}

/// The status ConfigMap ferry keeps in the cluster for local tools.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct StatusObjectConfig {
    #[serde(default = "yes")]
    pub enabled: bool,
    #[serde(default = "default_status_namespace")]
    pub namespace: String,
}

impl Default for StatusObjectConfig {
    fn default() -> Self {
        StatusObjectConfig {
            enabled: true,
            namespace: default_status_namespace(),
        }
    }
}

fn default_status_namespace() -> String {
    "kube-system".into()
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
    pub host: Option<crate::host::HostConfig>,
    /// age identities for SOPS files (docs/secrets.md); absent = SOPS files are refused.
    #[serde(default)]
    pub decryption: Option<crate::secrets::DecryptionConfig>,
    /// Several nodes, one writer elected by a Lease (docs/operations.md); absent = one node.
    #[serde(default, deserialize_with = "crate::site::config::checked")]
    pub site: Option<crate::site::SiteConfig>,
    pub syncs: Vec<SyncConfig>,
}

/// Retention of the state database's events and history.
#[derive(Debug, Clone, Copy, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase", default)]
pub struct RetentionConfig {
    /// Events last seen longer ago are deleted.
    #[serde(deserialize_with = "duration")]
    pub event_max_age: Duration,
    /// Events kept per sync (newest first).
    pub event_max_count: usize,
    /// Attempts started longer ago are deleted (never a sync's applied attempt); `history`
    /// bounds their number.
    #[serde(deserialize_with = "duration")]
    pub history_max_age: Duration,
}

impl Default for RetentionConfig {
    fn default() -> Self {
        RetentionConfig {
            event_max_age: Duration::from_secs(30 * 86_400),
            event_max_count: 1000,
            history_max_age: Duration::from_secs(90 * 86_400),
        }
    }
}

impl RetentionConfig {
    pub fn for_store(&self) -> crate::store::events::Retention {
        let secs = |d: Duration| i64::try_from(d.as_secs()).unwrap_or(i64::MAX);
        crate::store::events::Retention {
            event_max_age_secs: secs(self.event_max_age),
            event_max_count: self.event_max_count,
            history_max_age_secs: secs(self.history_max_age),
        }
    }
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
        let mut cfg: AgentConfig = ferry_bundle::yaml::from_str_bounded(
            &path.display().to_string(),
            text,
            &ferry_bundle::yaml::Budget::small(),
        )
        .map_err(|e| match e {
            ferry_bundle::yaml::YamlError::Shape { reason, .. } => invalid(reason),
            other => invalid(other.to_string()),
        })?;
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
        crate::host::config::check_at_load(cfg.host.as_ref(), &cfg.syncs).map_err(invalid)?;
        // Relative paths are relative to the config file.
        let base = path.parent().unwrap_or(Path::new("."));
        let abs = |p: &mut PathBuf| {
            if p.is_relative() {
                *p = base.join(&*p);
            }
        };
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
            match &mut s.source {
                SourceConfig::Directory { path, quarantine } => {
                    abs(path);
                    quarantine.iter_mut().for_each(abs);
                }
                SourceConfig::Http { auth, .. } | SourceConfig::Git { auth, .. } => {
                    auth.paths_mut().into_iter().for_each(abs)
                }
                SourceConfig::Oci {
                    ca_file,
                    client_cert,
                    client_key,
                    basic_auth_file,
                    docker_config,
                    ..
                } => [
                    ca_file,
                    client_cert,
                    client_key,
                    basic_auth_file,
                    docker_config,
                ]
                .into_iter()
                .flatten()
                .for_each(abs),
            }
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
mod tests {
    use super::*;

    #[test]
    fn parses_defaults_and_resolves_relative_paths() {
        let cfg = AgentConfig::parse(Path::new("/etc/ferry/agent.yaml"), "device: {id: edge-1}\nsyncs:\n- name: app\n  source: {type: directory, path: drop}\n  interval: 30s\n").unwrap();
        let s = &cfg.syncs[0];
        assert_eq!(s.interval, Duration::from_secs(30));
        assert_eq!(s.drift_every(), Duration::from_secs(30));
        assert!(s.prune && s.wait && !s.insecure_skip_signature);
        let SourceConfig::Directory { path, .. } = &s.source else {
            panic!("directory source")
        };
        assert_eq!(path, Path::new("/etc/ferry/drop"));
        assert_eq!(cfg.vars()["DEVICE_ID"], "edge-1");
    }

    #[test]
    fn every_example_config_parses() {
        let dir = Path::new(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../k3s-examples/agent"
        ));
        let mut n = 0;
        for e in std::fs::read_dir(dir).unwrap() {
            let p = e.unwrap().path();
            AgentConfig::load(&p).unwrap_or_else(|e| panic!("{e}"));
            n += 1;
        }
        assert!(n >= 6, "one example per source kind");
    }

    #[test]
    fn refuses_bad_configs() {
        let p = Path::new("a.yaml");
        assert!(AgentConfig::parse(p, "syncs: []").is_err());
        assert!(AgentConfig::parse(
            p,
            "syncs:\n- name: A\n  source: {type: directory, path: x}\n"
        )
        .is_err());
        assert!(
            AgentConfig::parse(p, "syncs:\n- name: a\n  source: {type: ftp, path: x}\n").is_err()
        );
        assert!(AgentConfig::parse(
            p,
            "bogus: 1\nsyncs:\n- name: a\n  source: {type: directory, path: x}\n"
        )
        .is_err());
        let e = AgentConfig::parse(p, "syncs:\n- name: a\n  source: {type: directory, path: x}\n- name: a\n  source: {type: directory, path: y}\n").unwrap_err();
        assert!(e.to_string().contains("defined twice"), "{e}");
        let e = AgentConfig::parse(p, "syncs:\n- name: a\n  dependsOn: [b]\n  source: {type: directory, path: x}\n- name: b\n  dependsOn: [a]\n  source: {type: directory, path: y}\n").unwrap_err();
        assert!(
            e.to_string().contains("dependsOn cycle: a -> b -> a"),
            "{e}"
        );
        let e = AgentConfig::parse(
            p,
            "syncs:\n- name: a\n  dependsOn: [zz]\n  source: {type: directory, path: x}\n",
        )
        .unwrap_err();
        assert!(e.to_string().contains("unknown sync"));
    }
}
