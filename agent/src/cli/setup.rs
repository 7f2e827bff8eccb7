//! What the commands share: the cluster client, the state store, the agent for commands that
//! sync, and `check-config`.

use anyhow::{anyhow, Context, Result};
use ferry_agent::config::{AgentConfig, K3S_KUBECONFIG};
use ferry_agent::kube::KubeClient;
use ferry_agent::reconcile::Agent;
use ferry_agent::store::blobs::BlobCache;
use ferry_agent::store::Store;
use std::path::Path;

pub(super) fn kube_client(cfg: &AgentConfig) -> Result<KubeClient> {
    if let Some(p) = &cfg.kubeconfig {
        return Ok(KubeClient::from_kubeconfig(p)?);
    }
    if Path::new(K3S_KUBECONFIG).exists() {
        return Ok(KubeClient::from_kubeconfig(Path::new(K3S_KUBECONFIG))?);
    }
    KubeClient::in_cluster().map_err(|e| {
        anyhow!("no kubeconfig configured, none at {K3S_KUBECONFIG}, and not in a cluster: {e}")
    })
}

pub(super) fn open_store(cfg: &AgentConfig) -> Result<Store> {
    std::fs::create_dir_all(&cfg.state_dir)
        .with_context(|| format!("creating state directory {}", cfg.state_dir.display()))?;
    Ok(Store::open(&cfg.state_dir.join("state.db"))?)
}

/// The agent for commands that sync: the configuration passed every check `check-config`
/// runs (paths, permissions, quarantine placement, kubeconfig).
pub(super) fn agent(cfg: AgentConfig, config_path: &Path) -> Result<Agent> {
    for w in ferry_agent::config_check::check(&cfg, config_path)? {
        tracing::warn!("{w}");
    }
    let store = open_store(&cfg)?;
    let interrupted = store.recover_interrupted()?;
    if interrupted > 0 {
        tracing::warn!(
            interrupted,
            "previous run stopped during a sync; those attempts are marked interrupted"
        );
    }
    let blobs = BlobCache::open(&cfg.state_dir.join("blobs"))?;
    let client = kube_client(&cfg)?;
    Ok(Agent::new(cfg, store, blobs, client))
}

pub(super) fn check_config(cfg: &AgentConfig, config_path: &Path) -> Result<u8> {
    for w in ferry_agent::config_check::check(cfg, config_path)? {
        println!("WARNING {w}");
    }
    kube_client(cfg).context("cluster access")?;
    println!("kube   client configuration loaded");
    println!("device {} labels {:?}", cfg.device_id(), cfg.device.labels);
    println!("state  {}", cfg.state_dir.display());
    for s in &cfg.syncs {
        let keys = if s.insecure_skip_signature {
            "signatures NOT checked (insecureSkipSignature)".to_string()
        } else {
            let path = s.keys.as_ref().unwrap_or(&cfg.keys);
            let k = ferry_bundle::TrustedKeys::load(path)
                .with_context(|| format!("sync {}", s.name))?;
            format!(
                "{} trusted key(s): {}",
                k.iter().count(),
                k.iter().map(|k| k.key_id()).collect::<Vec<_>>().join(", ")
            )
        };
        println!(
            "sync   {} bundle={} every {:?}, {keys}",
            s.name,
            s.bundle_name(),
            s.interval
        );
    }
    println!("config ok");
    Ok(0)
}
