//! The gate in front of every route (axum middleware): default deny. Public are only device
//! ingest (device credentials), `/metrics` (its own token), `/healthz`, the stylesheet and the
//! sign-in pages. Everything else needs a session cookie or an API token (`Authorization:
//! Bearer`); a page without one redirects to `/login`, the API answers 401. A request that
//! changes something (any method but GET and HEAD) needs the operator role (but `/logout`)
//! and, with a session, the same origin and the session's CSRF token (form field `csrf` or
//! header `X-CSRF-Token`).

use super::csrf;
use super::roles::{Principal, Role, Via};
use super::session::{self, cookie, hash_secret};
use crate::app::App;
use crate::html::url_part;
use crate::ingest::reject;
use crate::store::Store;
use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{header, HeaderMap, Method, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use std::net::IpAddr;
use std::sync::Arc;

/// The client address of the connection (set by the accept loop).
#[derive(Debug, Clone, Copy)]
pub struct ClientAddr(pub IpAddr);

/// Paths anyone may reach (each guarded otherwise or harmless).
const PUBLIC: [&str; 8] = [
    "/api/heartbeat",
    "/api/events",
    "/metrics",
    "/healthz",
    "/style.css",
    "/login",
    "/oidc/login",
    "/oidc/callback",
];

/// Largest form body read for the CSRF check.
pub const MAX_FORM: usize = 16 * 1024;

fn forbidden(why: &str) -> Response {
    reject(StatusCode::FORBIDDEN, "forbidden", why)
}

/// A session cookie's secret and principal, when the session is alive (touched when used).
async fn from_session<S: Store>(app: &App<S>, headers: &HeaderMap) -> Option<(Principal, String)> {
    let signin = app.signin.as_ref()?;
    let secret = cookie(headers, session::COOKIE)?;
    let hash = hash_secret(secret);
    let row = signin.db.session(&hash).await.ok()??;
    let now = app.clock.now();
    if !session::alive(row.created, row.last_used, now, signin.lifetimes()) {
        let _ = signin.db.end_session(&hash).await;
        return None;
    }
    if now - row.last_used >= 10 {
        let _ = signin.db.touch_session(&hash, now).await;
    }
    let p = Principal {
        name: row.user,
        role: row.role,
        via: Via::Session {
            csrf: csrf::token(secret),
        },
    };
    Some((p, secret.to_string()))
}

/// The bearer API token's principal: `Err` for a token that is not known.
async fn from_token<S: Store>(
    app: &App<S>,
    headers: &HeaderMap,
) -> Result<Option<Principal>, Response> {
    let Some(token) = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
    else {
        return Ok(None);
    };
    let unknown = || {
        reject(
            StatusCode::UNAUTHORIZED,
            "unauthorized",
            "unknown API token",
        )
    };
    let signin = app.signin.as_ref().ok_or_else(unknown)?;
    match signin.db.token(&hash_secret(token.trim())).await {
        Ok(Some((name, role))) => Ok(Some(Principal {
            name,
            role,
            via: Via::Token,
        })),
        Ok(None) => Err(unknown()),
        Err(e) => {
            tracing::error!("sign-in store: {e}");
            Err(reject(
                StatusCode::SERVICE_UNAVAILABLE,
                "store-unavailable",
                "retry later",
            ))
        }
    }
}

/// The middleware.
pub async fn gate<S: Store>(State(app): State<Arc<App<S>>>, req: Request, next: Next) -> Response {
    let path = req.uri().path();
    if PUBLIC.contains(&path) {
        return next.run(req).await;
    }
    let (mut parts, body) = req.into_parts();
    let (principal, secret) = match from_token(&app, &parts.headers).await {
        Err(r) => return r,
        Ok(Some(p)) => (p, None),
        Ok(None) => match from_session(&app, &parts.headers).await {
            Some((p, s)) => (p, Some(s)),
            None => return signed_out(&parts.method, &parts.uri),
        },
    };
    let mut body = body;
    if !matches!(parts.method, Method::GET | Method::HEAD) {
        if parts.uri.path() != "/logout" && !principal.role.allows(Role::Operator) {
            return forbidden(&format!(
                "{} is a {}: this needs the operator role",
                principal.name,
                principal.role.as_str()
            ));
        }
        if let Some(secret) = &secret {
            if let Err(why) = csrf::same_origin(&parts.headers) {
                return forbidden(why);
            }
            let Ok(bytes) = axum::body::to_bytes(body, MAX_FORM).await else {
                return reject(StatusCode::PAYLOAD_TOO_LARGE, "too-large", "form too large");
            };
            let sent = parts
                .headers
                .get("x-csrf-token")
                .and_then(|v| v.to_str().ok())
                .map(str::to_string)
                .or_else(|| form_field(&bytes, csrf::FIELD));
            if !sent.is_some_and(|t| csrf::valid(secret, &t)) {
                return forbidden("missing or wrong CSRF token (reload the page)");
            }
            body = Body::from(bytes);
        }
    }
    parts.extensions.insert(principal);
    next.run(Request::from_parts(parts, body)).await
}

/// A form field of an `application/x-www-form-urlencoded` body.
pub fn form_field(body: &[u8], name: &str) -> Option<String> {
    serde_urlencoded::from_bytes::<Vec<(String, String)>>(body)
        .ok()?
        .into_iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v)
}

/// No credential: pages go to the sign-in page (and come back), the API answers 401.
fn signed_out(method: &Method, uri: &axum::http::Uri) -> Response {
    let path = uri.path_and_query().map(|p| p.as_str()).unwrap_or("/");
    if uri.path().starts_with("/api/") || !matches!(*method, Method::GET | Method::HEAD) {
        return reject(
            StatusCode::UNAUTHORIZED,
            "unauthorized",
            "sign in, or send an API token (Authorization: Bearer)",
        );
    }
    let to = format!("/login?next={}", url_part(&session::safe_next(Some(path))));
    (StatusCode::SEE_OTHER, [(header::LOCATION, to)]).into_response()
}
