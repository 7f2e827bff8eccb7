//! The receiver's shared state: what every handler sees ([`App`]: store, tokens, limits,
//! counters, the clock) and the device ids of a connection's client certificate
//! ([`ConnIdentity`]). The routes and the accept loop are in [`crate::server`].

use crate::auth::Tokens;
use crate::conn::ConnTimeouts;
use crate::guard::{EventRate, RateLimiter};
use crate::status::Staleness;
use crate::store::Store;
use std::sync::atomic::AtomicU64;
use std::sync::Arc;
use std::time::Duration;

pub use crate::clock::Clock;

/// Device ids bound by the connection's client certificate (empty without one).
#[derive(Debug, Clone, Default)]
pub struct ConnIdentity(pub Vec<String>);

/// Fleet-wide counters (no per-device labels).
#[derive(Debug, Default)]
pub struct Counters {
    pub handshakes: AtomicU64,
    /// Handshakes that resumed an earlier TLS session (a ticket, no certificate exchange).
    pub resumed: AtomicU64,
    pub heartbeats: AtomicU64,
    pub events: AtomicU64,
    /// Rejections by status: 401, 403, 413, 422, 429, other.
    pub rejected: [AtomicU64; 6],
    /// Connections closed at accept: over the per-address or total limit.
    pub refused_connections: AtomicU64,
    /// Failed `accept` calls (out of file descriptors and the like).
    pub accept_errors: AtomicU64,
}

/// Request limits and view settings.
#[derive(Debug, Clone)]
pub struct Limits {
    pub max_body_bytes: usize,
    pub staleness: Staleness,
    pub retention: Duration,
    pub timeouts: ConnTimeouts,
    /// A request body must arrive within this (else 408).
    pub body_timeout: Duration,
    pub per_address: usize,
    pub max_connections: usize,
}

/// Views computed at once (each holds the device list in memory); more requests wait.
pub const VIEWS_AT_ONCE: usize = 2;

/// Shared state of every request.
pub struct App<S: Store> {
    pub store: S,
    pub tokens: Tokens,
    pub limits: Limits,
    pub clock: Clock,
    pub counters: Counters,
    pub events: RateLimiter,
    pub views: tokio::sync::Semaphore,
    /// SHA-256 of the bearer token `/metrics` asks for (None: `/metrics` is refused).
    pub metrics_token: Option<[u8; 32]>,
    /// Sign-in (sessions, API tokens, retired devices); without it only public paths answer.
    pub signin: Option<Arc<crate::signin::SignIn>>,
    /// The fleet's aggregates, kept at ingest (the views read them).
    pub fleet: crate::aggregate::live::Live,
}

impl<S: Store> App<S> {
    pub fn new(store: S, tokens: Tokens, limits: Limits, clock: Clock, rate: EventRate) -> Self {
        let staleness = limits.staleness;
        App {
            store,
            tokens,
            limits,
            clock,
            counters: Counters::default(),
            events: RateLimiter::new(rate),
            views: tokio::sync::Semaphore::new(VIEWS_AT_ONCE),
            metrics_token: None,
            signin: None,
            fleet: crate::aggregate::live::Live::new(staleness),
        }
    }
}
