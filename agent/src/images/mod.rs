//! Container images that travel with bundles, on the device: fetch only missing blobs into the
//! content-addressed cache (verified while streaming), serve them read-only to the node's
//! containerd as an OCI distribution mirror on loopback, keep only what kept revisions
//! reference, and print the k3s `registries.yaml` that points containerd at the mirror.

pub mod airgap;
pub mod config;
pub mod fetch;
pub mod map;
pub mod mirror;
pub mod registries;
pub mod server;

use ferry_bundle::images::ImagePolicy;
use ferry_bundle::manifest::Manifest;

/// Every image blob digest a manifest references (kept by the cache's garbage collection).
pub fn referenced(manifest: &Manifest) -> impl Iterator<Item = String> + '_ {
    manifest
        .images
        .iter()
        .flat_map(|i| i.blobs.iter().map(|b| b.sha256.clone()))
}

/// The image names `sync` may carry ([`ImagePolicy`]): its `images.prefixes`; without them,
/// every name when it is the configuration's only sync, none otherwise.
pub fn policy_for(cfg: &crate::config::AgentConfig, sync: &str) -> ImagePolicy {
    let own = cfg
        .sync(sync)
        .map(|s| s.images.prefixes.clone())
        .unwrap_or_default();
    if own.is_empty() && cfg.syncs.len() == 1 {
        return ImagePolicy::Any;
    }
    let others = cfg
        .syncs
        .iter()
        .filter(|s| s.name != sync)
        .flat_map(|s| {
            s.images
                .prefixes
                .iter()
                .map(|p| (s.name.clone(), p.clone()))
        })
        .collect();
    ImagePolicy::Prefixes { own, others }
}

/// Every sync with the image names it owns (what the mirror serves for each).
pub fn owners(cfg: &crate::config::AgentConfig) -> Vec<(String, ImagePolicy)> {
    cfg.syncs
        .iter()
        .map(|s| (s.name.clone(), policy_for(cfg, &s.name)))
        .collect()
}

/// Why the mirror could not start or its snippet not be printed.
#[derive(Debug, thiserror::Error)]
pub enum MirrorSetupError {
    #[error("images.listen {listen:?}: {reason}")]
    Listen { listen: String, reason: String },
    #[error("the configuration has no images section (images.listen)")]
    NotConfigured,
    #[error(transparent)]
    Blobs(#[from] crate::store::blobs::BlobError),
    #[error(transparent)]
    Airgap(#[from] airgap::AirgapError),
}

/// Checks `images.listen`: an IP:PORT on loopback (run by `check-config` too).
pub fn loopback(listen: &str) -> Result<std::net::SocketAddr, MirrorSetupError> {
    let bad = |reason: &str| MirrorSetupError::Listen {
        listen: listen.chars().take(80).collect(),
        reason: reason.into(),
    };
    let addr: std::net::SocketAddr = listen.parse().map_err(|_| bad("not an IP:PORT address"))?;
    if !addr.ip().is_loopback() {
        return Err(bad(
            "the mirror serves the node's containerd only: use a loopback address",
        ));
    }
    Ok(addr)
}

/// Starts the mirror on `images.listen` in a thread when configured.
pub fn start_mirror(
    cfg: &crate::config::AgentConfig,
    store: crate::store::Store,
) -> Result<Option<std::net::SocketAddr>, MirrorSetupError> {
    let Some(images) = &cfg.images else {
        return Ok(None);
    };
    let addr = loopback(&images.listen)?;
    let listener = std::net::TcpListener::bind(addr).map_err(|e| MirrorSetupError::Listen {
        listen: images.listen.clone(),
        reason: e.to_string(),
    })?;
    let bound = listener.local_addr().ok();
    let map = std::sync::Arc::new(map::StoreMap::new(std::sync::Arc::new(store), owners(cfg)));
    let mirror = server::Mirror::new(
        crate::store::blobs::BlobCache::open(&cfg.state_dir.join("blobs"))?,
        std::sync::Arc::new(move || map.current()),
    );
    std::thread::spawn(move || server::serve(listener, std::sync::Arc::new(mirror)));
    tracing::info!(listen = %images.listen, "image mirror started");
    Ok(bound)
}

/// The `registries.yaml` snippet: `"*"`, or each registry the applied bundles name.
pub fn registries_yaml_for(
    cfg: &crate::config::AgentConfig,
    store: crate::store::Store,
    per_registry: bool,
) -> Result<String, MirrorSetupError> {
    let images = cfg.images.as_ref().ok_or(MirrorSetupError::NotConfigured)?;
    loopback(&images.listen)?;
    let registries = if per_registry {
        map::StoreMap::new(std::sync::Arc::new(store), owners(cfg))
            .current()
            .registries()
    } else {
        Vec::new()
    };
    Ok(registries::registries_yaml(&images.listen, &registries))
}

/// k3s's airgap images directory (imported at start and, since v1.29.13/v1.30.9/v1.31.5/v1.32.0,
/// whenever a file in it changes).
pub const K3S_AIRGAP_DIR: &str = "/var/lib/rancher/k3s/agent/images";

/// Writes `dir/ferry-images.tar` with the images of every sync's applied revision.
pub fn export_airgap(
    cfg: &crate::config::AgentConfig,
    store: crate::store::Store,
    dir: &std::path::Path,
) -> Result<usize, MirrorSetupError> {
    let map = map::StoreMap::new(std::sync::Arc::new(store), owners(cfg)).current();
    let cache = crate::store::blobs::BlobCache::open(&cfg.state_dir.join("blobs"))?;
    Ok(airgap::export(&map, &cache, dir, "ferry-images.tar")?)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(syncs: &str) -> Result<crate::config::AgentConfig, crate::config::ConfigError> {
        crate::config::AgentConfig::parse(std::path::Path::new("/etc/ferry/a.yaml"), syncs)
    }

    #[test]
    fn image_names_belong_to_one_sync_by_configuration() {
        let one = config("syncs:\n- name: app\n  source: {type: directory, path: d}\n").unwrap();
        assert_eq!(policy_for(&one, "app"), ImagePolicy::Any);
        let two = config(
            "syncs:\n- name: infra\n  source: {type: directory, path: d}\n  images: {prefixes: [docker.io/rancher]}\n- name: team\n  source: {type: directory, path: e}\n",
        )
        .unwrap();
        let ImagePolicy::Prefixes { own, others } = policy_for(&two, "team") else {
            panic!("several syncs: prefixes")
        };
        assert!(own.is_empty());
        assert_eq!(others[0].0, "infra");
        assert!(policy_for(&two, "infra").allows("docker.io", "rancher/coredns"));
        let e = config(
            "syncs:\n- name: a\n  source: {type: directory, path: d}\n  images: {prefixes: [docker.io]}\n- name: b\n  source: {type: directory, path: e}\n  images: {prefixes: [docker.io/rancher]}\n",
        )
        .unwrap_err();
        assert!(e.to_string().contains("overlaps"), "{e}");
        let e = config(
            "syncs:\n- name: a\n  source: {type: directory, path: d}\n  images: {prefixes: [rancher]}\n",
        )
        .unwrap_err();
        assert!(e.to_string().contains("registry host"), "{e}");
    }

    #[test]
    fn the_mirror_listens_on_loopback_only() {
        assert!(loopback("127.0.0.1:5001").is_ok());
        assert!(loopback("[::1]:5001").is_ok());
        for bad in ["0.0.0.0:5001", "10.0.0.5:5001", "localhost:5001", "5001"] {
            assert!(
                matches!(loopback(bad), Err(MirrorSetupError::Listen { .. })),
                "{bad}"
            );
        }
    }
}
