//! The receiver as a whole: the routes, and the TLS accept loop (rustls via tokio-rustls,
//! HTTP/1.1 keep-alive via hyper). Each connection's verified client certificate is turned into
//! device ids once, at the handshake, and handed to every request on it.

use crate::app::{App, ConnIdentity};
use crate::auth::certificate_ids;
use crate::conn::{watch, Activity, Watched};
use crate::guard::Slots;
use crate::store::Store;
use axum::routing::{get, post};
use axum::Router;
use hyper_util::rt::{TokioIo, TokioTimer};
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;
use tokio::net::TcpListener;
use tower::ServiceExt;

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
        .merge(crate::site::page::routes::<S>())
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
    let mut log_bound = crate::guard::LogBound::default();
    loop {
        let (tcp, peer) = match listener.accept().await {
            Ok(c) => {
                backoff = Duration::from_millis(50);
                c
            }
            Err(e) => {
                // Out of file descriptors and the like: back off (up to 2 s) instead of
                // spinning, and log it at most once a minute of the receiver's clock (an
                // accept that succeeds in between does not start a new line).
                app.counters.accept_errors.fetch_add(1, Ordering::Relaxed);
                if let Some(left_out) = log_bound.note(app.clock.now()) {
                    tracing::warn!(
                        "accept: {e} (backing off; {left_out} more accept errors since the last message)"
                    );
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
