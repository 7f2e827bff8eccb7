//! Sites with several nodes: one writer elected by a coordination.k8s.io Lease ([`lease`] is
//! the pure core, [`elector`] the IO shell that reads and writes the Lease), and the write
//! fence every mutating Kubernetes request passes ([`fence`]); what a follower verified and
//! cached for a takeover ([`cache`]), and the site's peers' relays as a source ([`peers`]).
//! Host payloads roll through the nodes one at a time under a second Lease ([`rollout`] the
//! pure core, [`host_lease`] its IO). A device without a `site:` section makes no Lease
//! request and is never fenced.

pub mod cache;
pub mod config;
pub mod elector;
pub mod fence;
pub mod host_lease;
pub mod lease;
pub mod lease_object;
pub mod peers;
pub mod rollout;
pub mod shutdown;

pub use config::SiteConfig;

use crate::config::AgentConfig;
use crate::kube::KubeClient;
use std::sync::Arc;

/// What [`wire`] gives a site node.
pub struct Wired {
    pub elector: Arc<elector::Elector>,
    pub rollout: Arc<host_lease::HostRollout>,
}

/// With `site:` configured: the client with every write fenced, the elector (holding the
/// unfenced client for the Lease alone) and the host rollout (the unfenced client for the
/// host Lease and this node's Node). Without: the client as it was, and nothing else.
pub fn wire(config: &AgentConfig, client: KubeClient) -> (KubeClient, Option<Wired>) {
    let Some(site) = &config.site else {
        return (client, None);
    };
    let me = config.device_id();
    let fence = Arc::new(fence::Fence::new(
        format!("{}/{}", site.lease_namespace, site.lease()),
        site.timings(),
        crate::clock::configured(),
    ));
    let unfenced = client.clone().fenced(None, &me);
    let rollout = host_lease::HostRollout::new(
        unfenced.clone(),
        site.clone(),
        me.clone(),
        fence.clock().clone(),
    );
    let elector = elector::Elector::new(unfenced, site.clone(), me.clone(), fence.clone());
    let wired = Wired {
        elector: Arc::new(elector),
        rollout: Arc::new(rollout),
    };
    (client.fenced(Some(fence), &me), Some(wired))
}

/// The source of `sync`, polling the site's peers' relays too when `site.peers` names any.
pub fn with_peers(
    config: &AgentConfig,
    sync: &str,
    own: Box<dyn crate::source::Source>,
    scratch: &std::path::Path,
) -> Box<dyn crate::source::Source> {
    match &config.site {
        Some(site) if !site.peers.is_empty() => {
            Box::new(peers::PeerSource::new(own, sync, &site.peers, scratch))
        }
        _ => own,
    }
}

/// Runs the election forever: one try per retry period on the fence's clock; `changed` hears
/// each change of role (leading, following another holder).
pub fn run(elector: Arc<elector::Elector>, changed: impl Fn(&elector::Role)) {
    let mut last = elector::Role::Unknown;
    let every = elector.fence().timings().retry_period;
    loop {
        let role = match elector.try_once() {
            Ok(r) => r,
            Err(e) => {
                tracing::warn!("site election: {e}");
                elector::Role::Unknown
            }
        };
        // A failed try is no change (the fence closes by the renew deadline on its own).
        if role != elector::Role::Unknown && role != last {
            changed(&role);
            last = role;
        } else if role == elector::Role::Unknown && !elector.fence().holds() {
            if let elector::Role::Leading { .. } = last {
                changed(&elector::Role::Unknown);
                last = elector::Role::Unknown;
            }
        }
        elector.fence().clock().sleep(every);
    }
}
