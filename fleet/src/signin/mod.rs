//! Sign-in for people and scripts: local accounts (argon2id), OIDC (authorization code with
//! PKCE against the site's identity provider), server-side sessions in secure cookies, CSRF
//! protection on every form, roles (viewer, operator), API tokens for scripts, and device
//! retirement (the one operator action). The gate ([`gate::gate`]) stands in front of every
//! route but device ingest, `/metrics` (its own token), `/healthz`, the stylesheet and the
//! sign-in pages: default deny, so a new page is behind it without asking. See docs/fleet.md.

pub mod accounts;
pub mod cli;
pub mod config;
pub mod csrf;
pub mod db;
pub mod gate;
pub mod jwt;
pub mod local;
pub mod oidc;
pub mod provider;
pub mod retire;
pub mod roles;
pub mod session;
pub mod web;

use crate::guard::RateLimiter;
use config::SigninConfig;
use db::Db;
use std::collections::HashSet;
use std::sync::RwLock;

/// Password checks (argon2id, 19 MiB each) computed at once; more sign-ins wait.
pub const HASHES_AT_ONCE: usize = 2;

/// Sign-in state shared by every request.
pub struct SignIn {
    pub db: Db,
    pub config: SigninConfig,
    /// Sign-in attempts per account name.
    pub per_account: RateLimiter,
    /// Sign-in attempts per client address.
    pub per_address: RateLimiter,
    pub hashing: tokio::sync::Semaphore,
    /// Retired device ids (ingest refuses them); reloaded from the database every minute.
    pub retired: RwLock<HashSet<String>>,
    /// The identity provider, when `signin.oidc` is configured.
    pub oidc: Option<provider::Provider>,
}

impl SignIn {
    /// Opens the sign-in tables and loads the retired devices.
    pub async fn new(db: Db, config: SigninConfig) -> anyhow::Result<Self> {
        let retired = db.retired().await?.into_iter().collect();
        let oidc = match &config.oidc {
            Some(c) => Some(provider::Provider::new(c.clone())?),
            None => None,
        };
        Ok(SignIn {
            per_account: RateLimiter::new(config.login_rate.per_account),
            per_address: RateLimiter::new(config.login_rate.per_address),
            hashing: tokio::sync::Semaphore::new(HASHES_AT_ONCE),
            retired: RwLock::new(retired),
            db,
            config,
            oidc,
        })
    }

    pub fn lifetimes(&self) -> session::Lifetimes {
        session::Lifetimes {
            idle: self.config.idle_timeout,
            absolute: self.config.absolute_timeout,
        }
    }

    pub fn is_retired(&self, device: &str) -> bool {
        self.retired
            .read()
            .map(|r| r.contains(device))
            .unwrap_or(false)
    }

    /// Re-reads the retired devices (another process or the CLI may have added some).
    pub async fn reload_retired(&self) {
        match self.db.retired().await {
            Ok(ids) => {
                if let Ok(mut r) = self.retired.write() {
                    *r = ids.into_iter().collect();
                }
            }
            Err(e) => tracing::warn!("retired devices: {e}"),
        }
    }
}

/// Every minute: re-reads the retired devices and drops expired sessions and OIDC logins.
pub async fn housekeeping(signin: std::sync::Arc<SignIn>, clock: crate::clock::Clock) {
    loop {
        signin.reload_retired().await;
        let now = clock.now();
        let l = signin.lifetimes();
        let idle = now - l.idle.as_secs() as i64;
        let made = now - l.absolute.as_secs() as i64;
        if let Err(e) = signin.db.prune_sessions(idle, made, now).await {
            tracing::warn!("sessions: {e}");
        }
        tokio::time::sleep(std::time::Duration::from_secs(60)).await;
    }
}
