//! The long-running verbs: `run` (the daemon, with the relay, image mirror and metrics
//! listeners it is configured for), `serve` (only the relay) and `images`.

use super::setup::{agent, open_store};
use super::Cli;
use anyhow::{anyhow, bail, Context, Result};
use ferry_agent::config::AgentConfig;
use ferry_agent::store::blobs::BlobCache;
use std::path::PathBuf;
use std::sync::Arc;

pub(super) fn serve(cli: &Cli, cfg: &AgentConfig) -> Result<u8> {
    let listen = cli
        .args
        .first()
        .cloned()
        .or_else(|| cfg.serve.as_ref().map(|s| s.listen.clone()))
        .ok_or_else(|| anyhow!("usage: ferry-agent serve ADDR:PORT (or set serve.listen)"))?;
    let relay = relay(cfg)?;
    let listener =
        std::net::TcpListener::bind(&listen).with_context(|| format!("serve address {listen}"))?;
    eprintln!(
        "ferry-agent: serving the verified cache on http://{}/<sync>/",
        listener.local_addr()?
    );
    ferry_agent::serve::serve(listener, Arc::new(relay));
    Ok(0)
}

/// The relay on this agent's state, with its site tokens (`serve.tokenFile`, required).
fn relay(cfg: &AgentConfig) -> Result<ferry_agent::serve::Relay> {
    let file = cfg.serve.as_ref().and_then(|s| s.token_file.as_deref());
    Ok(ferry_agent::serve::Relay {
        tokens: ferry_agent::serve::RelayTokens::load(file)?,
        store: open_store(cfg)?,
        blobs: BlobCache::open(&cfg.state_dir.join("blobs"))?,
        syncs: cfg.syncs.iter().map(|s| s.name.clone()).collect(),
    })
}

pub(super) fn images(cli: &Cli, cfg: &AgentConfig) -> Result<u8> {
    let per_registry = cli.args.iter().any(|a| a == "--per-registry");
    match cli.args.first().map(String::as_str) {
            Some("registries-yaml") => {
                print!(
                    "{}",
                    ferry_agent::images::registries_yaml_for(
                        cfg,
                        open_store(cfg)?,
                        per_registry
                    )?
                );
                Ok(0)
            }
            Some("export-airgap") => {
                let dir = cli
                    .args
                    .get(1)
                    .map(PathBuf::from)
                    .unwrap_or_else(|| ferry_agent::images::K3S_AIRGAP_DIR.into());
                let n = ferry_agent::images::export_airgap(cfg, open_store(cfg)?, &dir)?;
                println!("exported {n} image(s) to {}", dir.join("ferry-images.tar").display());
                Ok(0)
            }
            Some("serve") => {
                let addr = ferry_agent::images::start_mirror(cfg, open_store(cfg)?)?
                    .ok_or_else(|| anyhow!("set images.listen in the configuration"))?;
                eprintln!("ferry-agent: image mirror on http://{addr}");
                loop {
                    std::thread::park();
                }
            }
            _ => bail!(
                "usage: ferry-agent images registries-yaml [--per-registry] | serve | export-airgap [DIR]"
            ),
        }
}

pub(super) fn run(cli: &Cli, cfg: AgentConfig) -> Result<u8> {
    let a = Arc::new(agent(cfg, &cli.config)?);
    // After a restart, the first drift check of each sync is a full dry-run sweep.
    a.sweep_on_start
        .store(true, std::sync::atomic::Ordering::SeqCst);
    if let Some(s) = &a.config.serve {
        let relay = Arc::new(relay(&a.config)?);
        let listener = std::net::TcpListener::bind(&s.listen)
            .with_context(|| format!("serve address {}", s.listen))?;
        std::thread::spawn(move || ferry_agent::serve::serve(listener, relay));
    }
    ferry_agent::images::start_mirror(&a.config, open_store(&a.config)?)?;
    if let Some(addr) = &a.config.metrics.listen {
        let listener = std::net::TcpListener::bind(addr)
            .with_context(|| format!("metrics listen address {addr}"))?;
        let m = a.clone();
        ferry_agent::metrics::serve(
            listener,
            Arc::new(move || {
                ferry_agent::metrics::current(&m.store, &m.config).unwrap_or_default()
            }),
        );
    }
    tracing::info!(device = %a.config.device_id(), syncs = a.config.syncs.len(), "ferry-agent started");
    ferry_agent::daemon::run(a);
    Ok(0)
}
