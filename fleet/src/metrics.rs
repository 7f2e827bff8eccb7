//! `/metrics`: fleet aggregates in the Prometheus text format. Labels are bounded by design
//! (status words, sync names, rejection codes); there is no per-device series. Only a scraper
//! with the configured bearer token (`metricsTokenHash`) gets an answer.

use crate::app::App;
use crate::auth::hash_token;
use crate::ingest::reject;
use crate::store::Store;
use axum::extract::State;
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use std::fmt::Write;
use std::sync::atomic::Ordering;
use std::sync::Arc;

/// Escapes a label value.
fn label(v: &str) -> String {
    v.replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

/// The refusal, unless the request's bearer token is the configured metrics token.
fn refusal<S: Store>(app: &App<S>, headers: &HeaderMap) -> Option<Response> {
    let Some(want) = app.metrics_token else {
        return Some(reject(
            StatusCode::FORBIDDEN,
            "forbidden",
            "/metrics needs a token: set metricsTokenHash in the configuration",
        ));
    };
    let presented = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "));
    match presented {
        Some(t) if hash_token(t) == want => None,
        _ => Some(reject(
            StatusCode::UNAUTHORIZED,
            "unauthorized",
            "/metrics needs its bearer token",
        )),
    }
}

pub async fn metrics<S: Store>(State(app): State<Arc<App<S>>>, headers: HeaderMap) -> Response {
    if let Some(r) = refusal(&app, &headers) {
        return r;
    }
    let o = match app.overview().await {
        Ok(o) => o,
        Err(e) => return crate::api::store_failed(e),
    };
    let c = &app.counters;
    let mut t = String::new();
    let _ = writeln!(t, "# TYPE ferry_fleet_devices gauge");
    for tile in &o.tiles {
        let _ = writeln!(
            t,
            "ferry_fleet_devices{{status=\"{}\"}} {}",
            tile.status.as_str(),
            tile.devices
        );
    }
    let _ = writeln!(t, "# TYPE ferry_fleet_sync_devices gauge");
    for s in &o.syncs {
        let n = label(&s.sync);
        for (state, v) in [
            ("applied", s.applied),
            ("offline", s.offline),
            ("pending", s.pending),
            ("waiting-for-wave", s.waiting_for_wave),
            ("not-seen", s.not_seen),
        ] {
            let _ = writeln!(
                t,
                "ferry_fleet_sync_devices{{sync=\"{n}\",state=\"{state}\"}} {v}"
            );
        }
        let _ = writeln!(
            t,
            "ferry_fleet_sync_target_revision{{sync=\"{n}\"}} {}",
            s.target.unwrap_or(0)
        );
    }
    let _ = writeln!(
        t,
        "# TYPE ferry_fleet_sources_unreachable gauge\nferry_fleet_sources_unreachable {}",
        o.unreachable_total
    );
    let _ = writeln!(
        t,
        "# TYPE ferry_fleet_outbox_dropped gauge\nferry_fleet_outbox_dropped {}",
        o.outbox_dropped_total
    );
    let _ = writeln!(
        t,
        "# TYPE ferry_fleet_heartbeats_total counter\nferry_fleet_heartbeats_total {}",
        c.heartbeats.load(Ordering::Relaxed)
    );
    let _ = writeln!(
        t,
        "# TYPE ferry_fleet_events_total counter\nferry_fleet_events_total {}",
        c.events.load(Ordering::Relaxed)
    );
    let _ = writeln!(
        t,
        "# TYPE ferry_fleet_tls_handshakes_total counter\nferry_fleet_tls_handshakes_total {}",
        c.handshakes.load(Ordering::Relaxed)
    );
    let _ = writeln!(
        t,
        "# TYPE ferry_fleet_tls_resumed_total counter\nferry_fleet_tls_resumed_total {}",
        c.resumed.load(Ordering::Relaxed)
    );
    let _ = writeln!(t, "# TYPE ferry_fleet_rejected_total counter");
    for (i, code) in ["401", "403", "413", "422", "429", "other"]
        .iter()
        .enumerate()
    {
        let _ = writeln!(
            t,
            "ferry_fleet_rejected_total{{code=\"{code}\"}} {}",
            c.rejected[i].load(Ordering::Relaxed)
        );
    }
    let _ = writeln!(
        t,
        "# TYPE ferry_fleet_connections_refused_total counter\nferry_fleet_connections_refused_total {}",
        c.refused_connections.load(Ordering::Relaxed)
    );
    let _ = writeln!(
        t,
        "# TYPE ferry_fleet_accept_errors_total counter\nferry_fleet_accept_errors_total {}",
        c.accept_errors.load(Ordering::Relaxed)
    );
    ([(header::CONTENT_TYPE, "text/plain; version=0.0.4")], t).into_response()
}
