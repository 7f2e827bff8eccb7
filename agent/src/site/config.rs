//! The agent's `site:` section: the Lease that elects one writer among the nodes of a site
//! (name, namespace, the client-go leader-election durations). Absent on a one-node device,
//! which then makes no Lease request at all.

use serde::Deserialize;
use std::time::Duration;

/// `site:` in agent.yaml.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct SiteConfig {
    /// The site's name (the default Lease is `ferry-<name>`).
    pub name: String,
    /// Namespace of the Lease.
    #[serde(default = "default_namespace")]
    pub lease_namespace: String,
    /// Name of the Lease (default `ferry-<site name>`).
    #[serde(default)]
    pub lease_name: Option<String>,
    /// How long a holder's claim lasts after a follower saw it last change (client-go 15 s).
    #[serde(
        default = "default_lease_duration",
        deserialize_with = "ferry_bundle::config_file::duration"
    )]
    pub lease_duration: Duration,
    /// A leader that has not renewed for this long stops writing (client-go 10 s).
    #[serde(
        default = "default_renew_deadline",
        deserialize_with = "ferry_bundle::config_file::duration"
    )]
    pub renew_deadline: Duration,
    /// Time between two tries to acquire or renew (client-go 2 s).
    #[serde(
        default = "default_retry_period",
        deserialize_with = "ferry_bundle::config_file::duration"
    )]
    pub retry_period: Duration,
    /// The relays (`serve:`) of the site's other nodes: the leader polls them for revisions
    /// a follower verified (a USB drop on any node reaches the leader) and verifies them itself.
    #[serde(default)]
    pub peers: Vec<PeerConfig>,
    /// Host payloads rolled through the site's nodes one at a time under a second Lease.
    #[serde(default)]
    pub host_rollout: HostRolloutConfig,
}

/// `site.hostRollout`: how a node takes its turn to upgrade its host payloads (see
/// [`super::rollout`]).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase", default)]
pub struct HostRolloutConfig {
    /// Name of the host Lease (default `<site lease>-host`), in the site Lease's namespace.
    pub lease_name: Option<String>,
    /// This node's Node object (default: the device id).
    pub node_name: Option<String>,
    /// How long a node's turn lasts unless it releases it (a node that died mid-upgrade
    /// blocks the others this long); must exceed the longest unit health timeout plus
    /// `readyTimeout`.
    #[serde(deserialize_with = "ferry_bundle::config_file::duration")]
    pub lease_duration: Duration,
    /// After the restart: how long the Node may take to be Ready and the API healthy.
    #[serde(deserialize_with = "ferry_bundle::config_file::duration")]
    pub ready_timeout: Duration,
    /// Time between two looks at the Node and the API while waiting.
    #[serde(deserialize_with = "ferry_bundle::config_file::duration")]
    pub poll_interval: Duration,
    /// Mark the Node unschedulable before the restart and schedulable again after it
    /// (`kubectl cordon`/`uncordon`), as system-upgrade-controller does.
    pub cordon: bool,
    /// With `cordon`: evict the Node's pods through the eviction API (DaemonSet and mirror
    /// pods stay) and wait until they are gone, at most `readyTimeout`, before the restart.
    pub drain: bool,
}

impl Default for HostRolloutConfig {
    fn default() -> Self {
        HostRolloutConfig {
            lease_name: None,
            node_name: None,
            lease_duration: Duration::from_secs(900),
            ready_timeout: Duration::from_secs(300),
            poll_interval: Duration::from_secs(5),
            cordon: false,
            drain: false,
        }
    }
}

/// Longest Node name (a DNS subdomain).
pub const MAX_NODE_NAME: usize = 253;

/// True for a DNS subdomain: 1-253 characters of a-z, 0-9, '-' and '.'.
pub fn dns_subdomain(s: &str) -> bool {
    !s.is_empty() && s.len() <= MAX_NODE_NAME && s.split('.').all(|l| dns_label(l, 63))
}

/// One peer's relay: `url` is its base (`http://node-2:8470/`), `tokenFile` the site token.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct PeerConfig {
    pub url: String,
    /// The site token file (absolute path), as the relay's own `serve.tokenFile`.
    pub token_file: std::path::PathBuf,
}

/// Most peers a site names.
pub const MAX_PEERS: usize = 16;

fn default_namespace() -> String {
    "kube-system".into()
}
fn default_lease_duration() -> Duration {
    Duration::from_secs(15)
}
fn default_renew_deadline() -> Duration {
    Duration::from_secs(10)
}
fn default_retry_period() -> Duration {
    Duration::from_secs(2)
}

/// Why a `site:` section is refused at load.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SiteConfigError {
    #[error("site: name {0:?} must be 1-50 characters of a-z, 0-9 and '-'")]
    Name(String),
    #[error("site: leaseName {0:?} must be 1-63 characters of a-z, 0-9 and '-'")]
    LeaseName(String),
    #[error("site: leaseNamespace {0:?} must be 1-63 characters of a-z, 0-9 and '-'")]
    Namespace(String),
    #[error("site: peers: at most {MAX_PEERS}; each url http(s)://..., ending in '/', and an absolute tokenFile ({0})")]
    Peer(String),
    #[error("site: hostRollout: {0}")]
    HostRollout(String),
    #[error("site: need retryPeriod ({retry:?}) < renewDeadline ({renew:?}) < leaseDuration ({lease:?}), retryPeriod >= 100ms and leaseDuration <= 1h")]
    Durations {
        retry: Duration,
        renew: Duration,
        lease: Duration,
    },
}

fn dns_label(s: &str, max: usize) -> bool {
    !s.is_empty()
        && s.len() <= max
        && s.bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        && !s.starts_with('-')
        && !s.ends_with('-')
}

impl SiteConfig {
    /// The Lease's name.
    pub fn lease(&self) -> String {
        self.lease_name
            .clone()
            .unwrap_or_else(|| format!("ferry-{}", self.name))
    }

    /// The host Lease's name.
    pub fn host_lease(&self) -> String {
        self.host_rollout
            .lease_name
            .clone()
            .unwrap_or_else(|| format!("{}-host", self.lease()))
    }

    /// The durations as the pure core takes them.
    pub fn timings(&self) -> super::lease::Timings {
        super::lease::Timings {
            lease_duration: self.lease_duration,
            renew_deadline: self.renew_deadline,
            retry_period: self.retry_period,
        }
    }

    /// Checks names and the order of the durations (client-go refuses the same).
    pub fn check(&self) -> Result<(), SiteConfigError> {
        if !dns_label(&self.name, 50) {
            return Err(SiteConfigError::Name(self.name.clone()));
        }
        if !dns_label(&self.lease(), 63) {
            return Err(SiteConfigError::LeaseName(self.lease()));
        }
        if !dns_label(&self.lease_namespace, 63) {
            return Err(SiteConfigError::Namespace(self.lease_namespace.clone()));
        }
        let ok = self.retry_period >= Duration::from_millis(100)
            && self.retry_period < self.renew_deadline
            && self.renew_deadline < self.lease_duration
            && self.lease_duration <= Duration::from_secs(3600);
        if self.peers.len() > MAX_PEERS {
            return Err(SiteConfigError::Peer(format!("{} given", self.peers.len())));
        }
        for p in &self.peers {
            let scheme = p.url.starts_with("http://") || p.url.starts_with("https://");
            if !scheme || !p.url.ends_with('/') || !p.token_file.is_absolute() || p.url.len() > 512
            {
                return Err(SiteConfigError::Peer(ferry_bundle::text::bounded(
                    &p.url, 100,
                )));
            }
        }
        self.check_host_rollout()?;
        if !ok {
            return Err(SiteConfigError::Durations {
                retry: self.retry_period,
                renew: self.renew_deadline,
                lease: self.lease_duration,
            });
        }
        Ok(())
    }
}

impl SiteConfig {
    fn check_host_rollout(&self) -> Result<(), SiteConfigError> {
        let h = &self.host_rollout;
        let bad = |what: String| Err(SiteConfigError::HostRollout(what));
        if !dns_label(&self.host_lease(), 63) {
            return bad(format!(
                "leaseName {:?} must be 1-63 characters of a-z, 0-9 and '-'",
                ferry_bundle::text::bounded(&self.host_lease(), 80)
            ));
        }
        if let Some(n) = h.node_name.as_ref().filter(|n| !dns_subdomain(n)) {
            return bad(format!(
                "nodeName {:?} must be a DNS subdomain (a-z, 0-9, '-', '.', at most {MAX_NODE_NAME})",
                ferry_bundle::text::bounded(n, 80)
            ));
        }
        if h.drain && !h.cordon {
            return bad("drain needs cordon: true".into());
        }
        if self.host_lease() == self.lease() {
            return bad("leaseName must differ from the site Lease".into());
        }
        let ok = h.poll_interval >= Duration::from_millis(100)
            && h.poll_interval < h.ready_timeout
            && h.ready_timeout < h.lease_duration
            && h.lease_duration <= Duration::from_secs(super::lease::MAX_LEASE_SECONDS as u64);
        if !ok {
            return bad(format!(
                "need 100ms <= pollInterval ({:?}) < readyTimeout ({:?}) < leaseDuration ({:?}) <= 1h",
                h.poll_interval, h.ready_timeout, h.lease_duration
            ));
        }
        Ok(())
    }
}

/// Deserializes an optional `site:` section and checks it (a bad one fails the load, naming
/// the field).
pub(crate) fn checked<'de, D: serde::Deserializer<'de>>(
    d: D,
) -> Result<Option<SiteConfig>, D::Error> {
    let site = Option::<SiteConfig>::deserialize(d)?;
    if let Some(s) = &site {
        s.check().map_err(serde::de::Error::custom)?;
    }
    Ok(site)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(y: &str) -> SiteConfig {
        serde_json::from_str(y).unwrap()
    }

    #[test]
    fn defaults_are_client_go_and_checks_refuse_bad_orders_and_names() {
        let c = parse(r#"{"name": "line-3"}"#);
        assert_eq!(c.lease(), "ferry-line-3");
        assert_eq!(c.lease_namespace, "kube-system");
        assert_eq!(
            (c.lease_duration, c.renew_deadline, c.retry_period),
            (
                Duration::from_secs(15),
                Duration::from_secs(10),
                Duration::from_secs(2)
            )
        );
        assert_eq!(c.check(), Ok(()));
        assert_eq!(c.host_lease(), "ferry-line-3-host");
        assert_eq!(c.host_rollout, HostRolloutConfig::default());
        for bad in [
            r#"{"name": "a", "hostRollout": {"nodeName": "Node_1"}}"#,
            r#"{"name": "a", "hostRollout": {"leaseName": "ferry-a"}}"#,
            r#"{"name": "a", "hostRollout": {"readyTimeout": "20m"}}"#,
            r#"{"name": "a", "hostRollout": {"pollInterval": "1ms"}}"#,
            r#"{"name": "a", "hostRollout": {"drain": true}}"#,
        ] {
            assert!(
                matches!(parse(bad).check(), Err(SiteConfigError::HostRollout(_))),
                "{bad}"
            );
        }
        let ok = parse(r#"{"name": "a", "hostRollout": {"nodeName": "n1.lab", "cordon": true}}"#);
        assert_eq!(ok.check(), Ok(()));
        let bad = parse(r#"{"name": "a", "renewDeadline": "20s"}"#);
        assert!(matches!(
            bad.check(),
            Err(SiteConfigError::Durations { .. })
        ));
        assert!(matches!(
            parse(r#"{"name": "A/b"}"#).check(),
            Err(SiteConfigError::Name(_))
        ));
        assert!(serde_json::from_str::<SiteConfig>(r#"{"name": "a", "leader": "x"}"#).is_err());
        let peer = |url: &str, token: &str| {
            parse(&format!(
                r#"{{"name": "a", "peers": [{{"url": "{url}", "tokenFile": "{token}"}}]}}"#
            ))
            .check()
        };
        assert_eq!(peer("http://n2:8470/", "/etc/ferry/site-token"), Ok(()));
        for (url, token) in [
            ("http://n2:8470", "/t"),
            ("file:///etc/", "/t"),
            ("http://n2:8470/", "t"),
        ] {
            assert!(
                matches!(peer(url, token), Err(SiteConfigError::Peer(_))),
                "{url}"
            );
        }
    }
}
