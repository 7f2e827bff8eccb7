//! Retiring a device (operators only): the device disappears from every view and figure for
//! good (its latest state, history and events are dropped; who retired it and when is kept),
//! and ingest refuses its id from then on with 403 `retired`, whatever credential it presents:
//! its token and certificate are revoked for that id. `GET /devices/{id}/retire` asks for
//! confirmation; `POST` the same path (a form with the CSRF token) or `POST
//! /api/devices/{id}/retire` (an operator API token) retires.
//!
//! Un-retiring (operators only, `/devices/{id}/unretire`, the same form and API shapes) lifts
//! the refusal: the id's existing credentials count again, so the request must say so
//! explicitly (`credentials=re-enable`); credentials that may have leaked are re-issued first
//! (docs/fleet.md). The device reappears with its next heartbeat; its old history stays gone.

use super::roles::Principal;
use crate::app::App;
use crate::html::{device_text, esc, page, url_part};
use crate::ingest::reject;
use crate::store::Store;
use axum::extract::{Path, State};
use axum::http::{header, StatusCode};
use axum::response::{Html, IntoResponse, Response};
use axum::{Extension, Json};
use std::sync::Arc;

/// A report from a retired device (answered 403 `retired`).
#[derive(Debug)]
pub struct Retired(pub String);

impl From<Retired> for Response {
    fn from(r: Retired) -> Response {
        reject(
            StatusCode::FORBIDDEN,
            "retired",
            format!("device {:?} was retired; its credentials are revoked", r.0),
        )
    }
}

/// The form field an un-retire must carry, and its only accepted value.
pub const REENABLE_FIELD: &str = "credentials";
pub const REENABLE: &str = "re-enable";

impl<S: Store> App<S> {
    /// Ingest's check: a retired device's reports are refused (403 `retired`).
    pub fn refuse_retired(&self, device: &str) -> Result<(), Retired> {
        match &self.signin {
            Some(s) if s.is_retired(device) => Err(Retired(device.to_string())),
            _ => Ok(()),
        }
    }

    async fn retire(&self, id: &str, by: &Principal) -> Result<(), Response> {
        crate::safe::id("device", id.to_string())
            .map_err(|e| reject(StatusCode::UNPROCESSABLE_ENTITY, "invalid-id", e))?;
        let Some(signin) = &self.signin else {
            return Err(reject(
                StatusCode::SERVICE_UNAVAILABLE,
                "unavailable",
                "no sign-in",
            ));
        };
        if let Ok(mut r) = signin.retired.write() {
            r.insert(id.to_string());
        }
        signin
            .db
            .retire(id, &by.name, self.clock.now())
            .await
            .map_err(|e| {
                tracing::error!("retire {id:?}: {e}");
                reject(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "store-unavailable",
                    "retry later",
                )
            })?;
        self.fleet.with(|f| f.forget(id));
        tracing::info!("{} retired device {id:?}", by.name);
        Ok(())
    }

    async fn unretire(&self, id: &str, by: &Principal, form: &[u8]) -> Result<(), Response> {
        crate::safe::id("device", id.to_string())
            .map_err(|e| reject(StatusCode::UNPROCESSABLE_ENTITY, "invalid-id", e))?;
        if super::gate::form_field(form, REENABLE_FIELD).as_deref() != Some(REENABLE) {
            return Err(reject(
                StatusCode::UNPROCESSABLE_ENTITY,
                "confirm-credentials",
                format!("send {REENABLE_FIELD}={REENABLE}: the device's existing token and certificate will be accepted again (re-issue them first if they may have leaked)"),
            ));
        }
        let Some(signin) = self.signin.as_ref().filter(|s| s.is_retired(id)) else {
            return Err(reject(
                StatusCode::NOT_FOUND,
                "not-retired",
                format!("device {id:?} is not retired"),
            ));
        };
        // The database first: if it fails, the device stays retired (the safe side).
        signin.db.unretire(id).await.map_err(|e| {
            tracing::error!("unretire {id:?}: {e}");
            reject(
                StatusCode::SERVICE_UNAVAILABLE,
                "store-unavailable",
                "retry later",
            )
        })?;
        if let Ok(mut r) = signin.retired.write() {
            r.remove(id);
        }
        tracing::info!(
            "{} un-retired device {id:?} (its credentials re-enabled)",
            by.name
        );
        Ok(())
    }
}

pub async fn unretire_confirm(
    Path(id): Path<String>,
    Extension(p): Extension<Principal>,
) -> Response {
    Html(page(
        "un-retire",
        &format!(
            "<section id=\"unretire\"><h2>Un-retire {}</h2><p>Reports from this id are accepted again \
with the credentials it had when it was retired: its token and any client certificate issued for \
it. If they may have leaked, issue new ones first (a new token in the tokens file; a certificate \
cannot be revoked here: keep the id retired and give the device a new one). Its old history \
stays gone; it reappears with its next heartbeat.</p>\
<form method=\"post\" action=\"/devices/{}/unretire\"><input type=\"hidden\" name=\"csrf\" value=\"{}\">\
<label><input type=\"checkbox\" name=\"{REENABLE_FIELD}\" value=\"{REENABLE}\" required> \
re-enable its credentials</label> \
<button id=\"unretire-button\" type=\"submit\">Un-retire {}</button></form></section>",
            device_text(&id),
            url_part(&id),
            esc(p.csrf()),
            device_text(&id)
        ),
    ))
    .into_response()
}

pub async fn unretire_form<S: Store>(
    State(app): State<Arc<App<S>>>,
    Path(id): Path<String>,
    Extension(p): Extension<Principal>,
    form: axum::body::Bytes,
) -> Response {
    match app.unretire(&id, &p, &form).await {
        Ok(()) => (StatusCode::SEE_OTHER, [(header::LOCATION, "/devices")]).into_response(),
        Err(r) => r,
    }
}

pub async fn unretire_api<S: Store>(
    State(app): State<Arc<App<S>>>,
    Path(id): Path<String>,
    Extension(p): Extension<Principal>,
    form: axum::body::Bytes,
) -> Response {
    match app.unretire(&id, &p, &form).await {
        Ok(()) => Json(serde_json::json!({"ok": true, "unretired": id})).into_response(),
        Err(r) => r,
    }
}

pub async fn confirm(Path(id): Path<String>, Extension(p): Extension<Principal>) -> Response {
    Html(page(
        "retire",
        &format!(
            "<section id=\"retire\"><h2>Retire {}</h2><p>The device disappears from every view and \
figure, its history is dropped, and its reports are refused from now on (its credentials are \
revoked). An operator can un-retire it later, re-enabling those credentials.</p>\
<form method=\"post\" action=\"/devices/{}/retire\"><input type=\"hidden\" name=\"csrf\" value=\"{}\">\
<button id=\"retire-button\" type=\"submit\">Retire {}</button></form></section>",
            device_text(&id),
            url_part(&id),
            esc(p.csrf()),
            device_text(&id)
        ),
    ))
    .into_response()
}

pub async fn retire_form<S: Store>(
    State(app): State<Arc<App<S>>>,
    Path(id): Path<String>,
    Extension(p): Extension<Principal>,
) -> Response {
    match app.retire(&id, &p).await {
        Ok(()) => (StatusCode::SEE_OTHER, [(header::LOCATION, "/devices")]).into_response(),
        Err(r) => r,
    }
}

pub async fn retire_api<S: Store>(
    State(app): State<Arc<App<S>>>,
    Path(id): Path<String>,
    Extension(p): Extension<Principal>,
) -> Response {
    match app.retire(&id, &p).await {
        Ok(()) => Json(serde_json::json!({"ok": true, "retired": id})).into_response(),
        Err(r) => r,
    }
}

/// The sign-in and retirement routes.
pub fn routes<S: Store>() -> axum::Router<Arc<App<S>>> {
    use axum::routing::{get, post};
    axum::Router::new()
        .route(
            "/login",
            get(super::web::login_form::<S>).post(super::web::login::<S>),
        )
        .route(
            "/logout",
            get(super::web::logout_form).post(super::web::logout::<S>),
        )
        .route("/oidc/login", get(super::oidc::start::<S>))
        .route("/oidc/callback", get(super::oidc::callback::<S>))
        .route("/devices/{id}/retire", get(confirm).post(retire_form::<S>))
        .route("/api/devices/{id}/retire", post(retire_api::<S>))
        .route(
            "/devices/{id}/unretire",
            get(unretire_confirm).post(unretire_form::<S>),
        )
        .route("/api/devices/{id}/unretire", post(unretire_api::<S>))
}
