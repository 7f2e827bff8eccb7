//! Starting the receiver from its configuration: opens the store, loads tokens and TLS
//! settings, binds the listener, and runs the accept loop and the retention task.

use crate::app::{App, Clock, Limits};
use crate::auth::Tokens;
use crate::config::{FleetConfig, StoreConfig};
use crate::conn::ConnTimeouts;
use crate::store::{postgres::PgStore, sqlite::SqliteStore, Store};
use anyhow::Context;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use tokio::net::TcpListener;

/// Loads the tokens file, if configured.
pub fn load_tokens(cfg: &FleetConfig) -> anyhow::Result<Tokens> {
    match &cfg.tokens {
        Some(p) => {
            let text = std::fs::read_to_string(p).with_context(|| format!("{}", p.display()))?;
            Ok(Tokens::parse(p, &text)?)
        }
        None => Ok(Tokens::default()),
    }
}

/// Reads the metrics token hash file (64 hex digits), if configured.
pub fn load_metrics_token(cfg: &FleetConfig) -> anyhow::Result<Option<[u8; 32]>> {
    let Some(p) = &cfg.metrics_token_hash else {
        return Ok(None);
    };
    let text = std::fs::read_to_string(p).with_context(|| format!("{}", p.display()))?;
    let mut h = [0u8; 32];
    hex::decode_to_slice(text.trim(), &mut h)
        .with_context(|| format!("{}: expected the 64 hex digits of hash-token", p.display()))?;
    Ok(Some(h))
}

/// Binds and serves until the process ends; `ready` gets the bound address.
pub async fn run(cfg: FleetConfig, ready: impl FnOnce(SocketAddr)) -> anyhow::Result<()> {
    let tls = crate::tls::server_config(
        &cfg.tls.cert,
        &cfg.tls.key,
        cfg.tls.client_ca.as_deref(),
        cfg.tls_sessions,
    )?;
    let tokens = load_tokens(&cfg)?;
    load_metrics_token(&cfg)?;
    let listener = TcpListener::bind(&cfg.listen)
        .await
        .with_context(|| format!("listen {}", cfg.listen))?;
    let addr = listener.local_addr()?;
    match &cfg.store {
        StoreConfig::Sqlite(path) => {
            if let Some(dir) = path.parent() {
                std::fs::create_dir_all(dir).with_context(|| format!("{}", dir.display()))?;
            }
            let store = SqliteStore::open(path)?;
            serve(cfg, tls, tokens, listener, store, addr, ready).await
        }
        StoreConfig::Postgres(url) => {
            let store = PgStore::connect(url).await?;
            serve(cfg, tls, tokens, listener, store, addr, ready).await
        }
    }
}

async fn serve<S: Store>(
    cfg: FleetConfig,
    tls: Arc<rustls::ServerConfig>,
    tokens: Tokens,
    listener: TcpListener,
    store: S,
    addr: SocketAddr,
    ready: impl FnOnce(SocketAddr),
) -> anyhow::Result<()> {
    let limits = Limits {
        max_body_bytes: cfg.max_body_bytes,
        staleness: cfg.staleness,
        retention: cfg.retention,
        timeouts: ConnTimeouts {
            idle: cfg.idle_timeout,
            header: cfg.header_timeout,
            // The body limit plus time to store and answer.
            request: cfg.body_timeout + Duration::from_secs(60),
        },
        body_timeout: cfg.body_timeout,
        per_address: cfg.max_connections_per_address,
        max_connections: cfg.max_connections,
    };
    let clock = cfg
        .clock_file
        .clone()
        .map(Clock::file)
        .unwrap_or(Clock::System);
    let mut app = App::new(store, tokens, limits, clock, cfg.event_rate);
    app.metrics_token = load_metrics_token(&cfg)?;
    let db = crate::signin::db::Db::open(&cfg.store).await?;
    let signin = Arc::new(crate::signin::SignIn::new(db, cfg.signin.clone()).await?);
    app.signin = Some(signin.clone());
    let app = Arc::new(app);
    let clock = app.clock.clone();
    tokio::spawn(crate::signin::housekeeping(signin, clock));
    let loaded = app
        .fleet
        .catch_up(&app.store, || app.clock.now(), false)
        .await?;
    tracing::info!("aggregates loaded: {loaded} devices");
    if cfg.shared_store {
        // Other receivers write to the same database: take their heartbeats every second.
        let follower = app.clone();
        tokio::spawn(async move {
            loop {
                tokio::time::sleep(Duration::from_secs(1)).await;
                let f = &follower;
                if let Err(e) = f.fleet.catch_up(&f.store, || f.clock.now(), true).await {
                    tracing::warn!("following the shared store: {e}");
                }
            }
        });
    }
    let pruner = app.clone();
    tokio::spawn(async move {
        loop {
            let before = pruner.clock.now() - pruner.limits.retention.as_secs() as i64;
            match pruner.store.prune(before).await {
                Ok(n) if n > 0 => tracing::info!("retention: dropped {n} old events and changes"),
                Ok(_) => {}
                Err(e) => tracing::warn!("retention: {e}"),
            }
            tokio::time::sleep(Duration::from_secs(3600)).await;
        }
    });
    ready(addr);
    crate::server::serve(listener, tls, app).await?;
    Ok(())
}
