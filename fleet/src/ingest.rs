//! The ingest endpoints: `POST /api/heartbeat` and `POST /api/events`. Order of checks: a
//! credential at all (401, before the body is read), body size (413), payload shape (422),
//! device binding (403); the answer is sent only after the store committed the record.

use crate::app::{App, ConnIdentity};
use crate::auth::{AuthError, Credential};
use crate::model::{parse_event, parse_heartbeat, PayloadError};
use crate::store::{Record, Store, StoreError};
use axum::body::Body;
use axum::extract::State;
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::{Extension, Json};
use serde_json::json;
use std::sync::atomic::Ordering;
use std::sync::Arc;

/// Oversized bodies up to this size are drained before the 413 is sent.
const DRAIN_MAX: u64 = 4 << 20;

/// A JSON error answer: `{"error": CODE, "message": TEXT}` (text bounded).
pub fn reject(status: StatusCode, code: &str, message: impl std::fmt::Display) -> Response {
    let mut m = message.to_string();
    if m.len() > 300 {
        let mut end = 300;
        while !m.is_char_boundary(end) {
            end -= 1;
        }
        m.truncate(end);
    }
    let mut resp = (status, Json(json!({"error": code, "message": m}))).into_response();
    if status == StatusCode::REQUEST_TIMEOUT {
        // The rest of the body may never come: do not wait for it to reuse the connection.
        resp.headers_mut().insert(
            header::CONNECTION,
            header::HeaderValue::from_static("close"),
        );
    }
    if status == StatusCode::UNAUTHORIZED {
        resp.headers_mut().insert(
            header::WWW_AUTHENTICATE,
            header::HeaderValue::from_static("Bearer"),
        );
    }
    resp
}

fn auth_reject(e: AuthError) -> Response {
    match e {
        AuthError::WrongDevice { .. } => reject(StatusCode::FORBIDDEN, "forbidden", e),
        _ => reject(StatusCode::UNAUTHORIZED, "unauthorized", e),
    }
}

fn payload_reject(e: PayloadError) -> Response {
    reject(StatusCode::UNPROCESSABLE_ENTITY, "invalid-payload", e)
}

impl<S: Store> App<S> {
    fn credential(&self, conn: &ConnIdentity, headers: &HeaderMap) -> Credential {
        let token = headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "));
        let token_id = token
            .and_then(|t| self.tokens.device_of(t))
            .map(str::to_string);
        Credential {
            cert_ids: conn.0.clone(),
            bad_token: token.is_some() && token_id.is_none(),
            token_id,
        }
    }

    /// Counts a finished request: as `accepted` when it succeeded, else by its refusal.
    fn count(&self, resp: &Response, accepted: &std::sync::atomic::AtomicU64) {
        if resp.status().is_success() {
            accepted.fetch_add(1, Ordering::Relaxed);
            return;
        }
        let i = match resp.status().as_u16() {
            401 => 0,
            403 => 1,
            413 => 2,
            422 => 3,
            429 => 4,
            _ => 5,
        };
        self.counters.rejected[i].fetch_add(1, Ordering::Relaxed);
    }

    /// Checks the credential and reads a bounded body.
    async fn admit(
        &self,
        conn: &ConnIdentity,
        headers: &HeaderMap,
        body: Body,
    ) -> Result<(Credential, axum::body::Bytes), Response> {
        let cred = self.credential(conn, headers);
        cred.check_present().map_err(auth_reject)?;
        let limit = self.limits.max_body_bytes;
        let too_large = || {
            reject(
                StatusCode::PAYLOAD_TOO_LARGE,
                "too-large",
                format!("body larger than {limit} bytes"),
            )
        };
        let declared = headers
            .get(header::CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse::<u64>().ok());
        if let Some(n) = declared.filter(|n| *n > limit as u64) {
            // A modest oversized body is read and thrown away first, so the client gets to
            // read the 413 instead of a reset while it is still sending; a huge one is not.
            if n <= DRAIN_MAX {
                let mut body = body;
                while let Some(Ok(_)) = http_body_util::BodyExt::frame(&mut body).await {}
            }
            return Err(too_large());
        }
        let read = axum::body::to_bytes(body, limit);
        let bytes = tokio::time::timeout(self.limits.body_timeout, read)
            .await
            .map_err(|_| {
                reject(
                    StatusCode::REQUEST_TIMEOUT,
                    "timeout",
                    format!("body not received within {:?}", self.limits.body_timeout),
                )
            })?
            .map_err(|_| too_large())?;
        Ok((cred, bytes))
    }

    async fn commit(&self, record: Record) -> Response {
        match self.store.write(vec![record]).await {
            Ok(()) => (StatusCode::OK, Json(json!({"ok": true}))).into_response(),
            // Never storable: a permanent answer, so the sender drops it instead of retrying.
            Err(e @ StoreError::Refused(_)) => {
                tracing::warn!("store refused a record: {e}");
                reject(StatusCode::UNPROCESSABLE_ENTITY, "not-storable", e)
            }
            Err(e) => {
                tracing::error!("store: {e}");
                reject(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "store-unavailable",
                    "not stored, retry later",
                )
            }
        }
    }
}

pub async fn heartbeat<S: Store>(
    State(app): State<Arc<App<S>>>,
    Extension(conn): Extension<ConnIdentity>,
    headers: HeaderMap,
    body: Body,
) -> Response {
    let resp = async {
        let (cred, bytes) = app.admit(&conn, &headers, body).await?;
        let report = parse_heartbeat(&bytes).map_err(payload_reject)?;
        cred.authorize(&report.id).map_err(auth_reject)?;
        app.refuse_retired(&report.id)?;
        app.check_site(&report)?;
        let received = app.clock.now();
        let record = Record::Heartbeat {
            report: report.clone(),
            received,
        };
        let resp = app.commit(record).await;
        if resp.status().is_success() {
            app.fleet.ingested(report, received, app.clock.now());
        }
        Ok::<Response, Response>(resp)
    }
    .await
    .unwrap_or_else(|r| r);
    app.count(&resp, &app.counters.heartbeats);
    resp
}

pub async fn event<S: Store>(
    State(app): State<Arc<App<S>>>,
    Extension(conn): Extension<ConnIdentity>,
    headers: HeaderMap,
    body: Body,
) -> Response {
    let resp = async {
        let (cred, bytes) = app.admit(&conn, &headers, body).await?;
        let event = parse_event(&bytes).map_err(payload_reject)?;
        cred.authorize(&event.device).map_err(auth_reject)?;
        app.refuse_retired(&event.device)?;
        let received = app.clock.now();
        if let Err(wait) = app.events.take(&event.device, received) {
            let mut resp = reject(
                StatusCode::TOO_MANY_REQUESTS,
                "rate-limited",
                format!("too many events from {:?}, retry in {wait}s", event.device),
            );
            resp.headers_mut()
                .insert(header::RETRY_AFTER, header::HeaderValue::from(wait));
            return Err(resp);
        }
        Ok::<Response, Response>(app.commit(Record::Event { event, received }).await)
    }
    .await
    .unwrap_or_else(|r| r);
    app.count(&resp, &app.counters.events);
    resp
}
