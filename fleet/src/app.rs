//! The receiver as a whole: shared state, the routes, and the TLS accept loop (rustls via
//! tokio-rustls, HTTP/1.1 keep-alive via hyper). Each connection's verified client certificate
//! is turned into device ids once, at the handshake, and handed to every request on it.

use crate::auth::{certificate_ids, Tokens};
use crate::conn::{watch, Activity, ConnTimeouts, Watched};
use crate::guard::{EventRate, RateLimiter, Slots};
use crate::status::Staleness;
use crate::store::Store;
use axum::routing::{get, post};
use axum::Router;
use hyper_util::rt::{TokioIo, TokioTimer};
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;
use tokio::net::TcpListener;
use tower::ServiceExt;

/// Where "now" comes from.
#[derive(Debug, Clone)]
pub enum Clock {
    System,
    /// Unix seconds read from a file on every call (tests move time with it).
    File(PathBuf),
}

impl Clock {
    pub fn now(&self) -> i64 {
        let system = || {
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_secs() as i64)
                .unwrap_or(0)
        };
        match self {
            Clock::System => system(),
            Clock::File(p) => std::fs::read_to_string(p)
                .ok()
                .and_then(|s| s.trim().parse().ok())
                .unwrap_or_else(system),
        }
    }
}

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
}

impl<S: Store> App<S> {
    pub fn new(store: S, tokens: Tokens, limits: Limits, clock: Clock, rate: EventRate) -> Self {
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
        }
    }
}

/// The routes.
pub fn router<S: Store>(app: Arc<App<S>>) -> Router {
    Router::new()
        .route("/api/heartbeat", post(crate::ingest::heartbeat::<S>))
        .route("/api/events", post(crate::ingest::event::<S>))
        .route("/api/overview", get(crate::api::overview::<S>))
        .route("/api/devices", get(crate::api::devices::<S>))
        .route("/api/devices/{id}", get(crate::api::device::<S>))
        .route("/", get(crate::pages::overview::<S>))
        .route("/devices", get(crate::pages::devices::<S>))
        .route("/devices/{id}", get(crate::pages::device::<S>))
        .route("/metrics", get(crate::metrics::metrics::<S>))
        .route("/healthz", get(|| async { "ok\n" }))
        .route("/style.css", get(crate::html::stylesheet))
        .merge(crate::signin::retire::routes::<S>())
        // Default deny: every route but the public ones needs a session or an API token.
        .layer(axum::middleware::from_fn_with_state(
            app.clone(),
            crate::signin::gate::gate::<S>,
        ))
        .layer(axum::middleware::map_response(
            crate::html::security_headers,
        ))
        .with_state(app)
}

/// Accepts TLS connections until the listener fails; each connection is served on its own task.
/// A connection beyond the per-address or total limit is closed at once (before TLS).
pub async fn serve<S: Store>(
    listener: TcpListener,
    tls: Arc<rustls::ServerConfig>,
    app: Arc<App<S>>,
) -> std::io::Result<()> {
    let acceptor = tokio_rustls::TlsAcceptor::from(tls);
    let routes = router(app.clone());
    let slots = Slots::new(app.limits.per_address, app.limits.max_connections);
    let mut backoff = Duration::from_millis(50);
    loop {
        let (tcp, peer) = match listener.accept().await {
            Ok(c) => {
                backoff = Duration::from_millis(50);
                c
            }
            Err(e) => {
                // Out of file descriptors and the like: back off (up to 2 s) instead of
                // spinning, and say so once per backoff round, not every 50 ms.
                if backoff == Duration::from_millis(50) {
                    tracing::warn!("accept: {e} (backing off)");
                }
                tokio::time::sleep(backoff).await;
                backoff = (backoff * 2).min(Duration::from_secs(2));
                continue;
            }
        };
        let Ok(slot) = slots.admit(peer.ip()) else {
            app.counters
                .refused_connections
                .fetch_add(1, Ordering::Relaxed);
            continue;
        };
        let _ = tcp.set_nodelay(true);
        let acceptor = acceptor.clone();
        let routes = routes.clone();
        let app = app.clone();
        tokio::spawn(async move {
            let _slot = slot;
            let handshake =
                tokio::time::timeout(Duration::from_secs(10), acceptor.accept(tcp)).await;
            let Ok(Ok(stream)) = handshake else { return };
            app.counters.handshakes.fetch_add(1, Ordering::Relaxed);
            if stream.get_ref().1.handshake_kind() == Some(rustls::HandshakeKind::Resumed) {
                app.counters.resumed.fetch_add(1, Ordering::Relaxed);
            }
            let ids = stream
                .get_ref()
                .1
                .peer_certificates()
                .and_then(|c| c.first())
                .map(|c| certificate_ids(c.as_ref()))
                .unwrap_or_default();
            let identity = ConnIdentity(ids);
            let client = crate::signin::gate::ClientAddr(peer.ip());
            let activity = Activity::new();
            let seen = activity.clone();
            let service = hyper::service::service_fn(
                move |mut req: hyper::Request<hyper::body::Incoming>| {
                    req.extensions_mut().insert(identity.clone());
                    req.extensions_mut().insert(client);
                    seen.request_started();
                    let seen = seen.clone();
                    let answer = routes.clone().oneshot(req);
                    async move {
                        let r = answer.await;
                        seen.request_done();
                        r
                    }
                },
            );
            let conn = hyper::server::conn::http1::Builder::new()
                .timer(TokioTimer::new())
                // Our own timers (crate::conn) keep idle, header and request limits apart.
                .header_read_timeout(None)
                .serve_connection(
                    TokioIo::new(Watched::new(stream, activity.clone())),
                    service,
                );
            watch(conn, activity, app.limits.timeouts).await;
        });
    }
}
