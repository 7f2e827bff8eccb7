//! OpenID Connect sign-in: the authorization code flow with PKCE (S256), `state` and `nonce`.
//! `GET /oidc/login` makes a state, a nonce and a code verifier (256 random bits each), keeps
//! them in the database under the state's hash for 10 minutes (so any fleet process sharing
//! the database can finish the login), binds the state to the browser with the
//! `__Host-ferry_oidc` cookie and sends the browser to the provider. `GET /oidc/callback`
//! takes the pending login once, exchanges the code (with the verifier, client_secret_basic),
//! verifies the ID token ([`super::jwt`]) and maps a claim to a role. Discovery and JWKS are
//! fetched with a 10 s limit and at most 64 KiB each; the JWKS is re-read when a token names
//! an unknown key, at most once a minute.

use super::provider::{OidcError, Provider};
use super::roles::Role;
use super::session::{clear_cookie, cookie, hash_secret, new_secret, safe_next, set_cookie};
use super::SignIn;
use crate::app::App;
use crate::html::{esc, page};
use crate::store::Store;
use axum::extract::{Query, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{Html, IntoResponse, Response};
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use serde::Deserialize;
use sha2::{Digest, Sha256};
use std::sync::Arc;

/// The cookie binding a login under way to the browser that started it.
pub const STATE_COOKIE: &str = "__Host-ferry_oidc";
/// How long a started login may take.
pub const LOGIN_WINDOW: i64 = 600;

fn refused(status: StatusCode, why: &str) -> Response {
    let body = format!(
        "<section><h2>Sign-in failed</h2><p class=\"err\" id=\"signin-error\">{}</p><p><a href=\"/login\">Back to sign-in</a></p></section>",
        esc(why)
    );
    (status, Html(page("sign-in failed", &body))).into_response()
}

fn pkce_challenge(verifier: &str) -> String {
    URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.as_bytes()))
}

#[derive(Debug, Deserialize)]
pub struct StartQuery {
    next: Option<String>,
}

pub async fn start<S: Store>(
    State(app): State<Arc<App<S>>>,
    Query(q): Query<StartQuery>,
) -> Response {
    let Some((signin, provider)) = app
        .signin
        .as_ref()
        .and_then(|s| s.oidc.as_ref().map(|p| (s, p)))
    else {
        return refused(StatusCode::NOT_FOUND, "OIDC sign-in is not configured");
    };
    let m = match provider.metadata().await {
        Ok(m) => m,
        Err(e) => {
            tracing::error!("{e}");
            return refused(
                StatusCode::BAD_GATEWAY,
                "The identity provider is unreachable.",
            );
        }
    };
    let (Ok(state), Ok(nonce), Ok(verifier)) = (new_secret(), new_secret(), new_secret()) else {
        return refused(StatusCode::SERVICE_UNAVAILABLE, "no randomness");
    };
    let pending = super::accounts::Pending {
        verifier: verifier.clone(),
        nonce: nonce.clone(),
        return_to: safe_next(q.next.as_deref()),
        expires: app.clock.now() + LOGIN_WINDOW,
    };
    if let Err(e) = signin.db.put_pending(&hash_secret(&state), &pending).await {
        tracing::error!("sign-in store: {e}");
        return refused(StatusCode::SERVICE_UNAVAILABLE, "Sign-in is unavailable.");
    }
    let c = &provider.config;
    let scope = std::iter::once("openid")
        .chain(
            c.scopes
                .iter()
                .map(String::as_str)
                .filter(|s| *s != "openid"),
        )
        .collect::<Vec<_>>()
        .join(" ");
    let query = serde_urlencoded::to_string([
        ("response_type", "code"),
        ("client_id", c.client_id.as_str()),
        ("redirect_uri", c.redirect_url.as_str()),
        ("scope", scope.as_str()),
        ("state", state.as_str()),
        ("nonce", nonce.as_str()),
        ("code_challenge", pkce_challenge(&verifier).as_str()),
        ("code_challenge_method", "S256"),
    ])
    .unwrap_or_default();
    let sep = if m.authorization_endpoint.contains('?') {
        '&'
    } else {
        '?'
    };
    (
        StatusCode::SEE_OTHER,
        [
            (
                header::LOCATION,
                format!("{}{sep}{query}", m.authorization_endpoint),
            ),
            (header::SET_COOKIE, set_cookie(STATE_COOKIE, &state, "Lax")),
        ],
    )
        .into_response()
}

#[derive(Debug, Deserialize)]
pub struct Callback {
    code: Option<String>,
    state: Option<String>,
    error: Option<String>,
}

#[derive(Debug, Deserialize)]
struct TokenAnswer {
    id_token: String,
}

async fn finish(
    signin: &SignIn,
    p: &Provider,
    cb: Callback,
    headers: &HeaderMap,
    now: i64,
) -> Result<(String, Role, String), OidcError> {
    if let Some(e) = cb.error {
        return Err(OidcError::Refused(format!(
            "the identity provider said: {}",
            e.chars().take(100).collect::<String>()
        )));
    }
    let (Some(code), Some(state)) = (cb.code, cb.state) else {
        return Err(OidcError::Refused("no code or state".into()));
    };
    let bound = cookie(headers, STATE_COOKIE).unwrap_or("");
    if !super::csrf::valid(bound, &super::csrf::token(&state)) || bound.is_empty() {
        return Err(OidcError::Refused(
            "this sign-in was not started in this browser".into(),
        ));
    }
    let pending = signin
        .db
        .take_pending(&hash_secret(&state))
        .await
        .map_err(|e| OidcError::Config(e.to_string()))?
        .filter(|p| p.expires >= now)
        .ok_or_else(|| OidcError::Refused("unknown, used or expired sign-in".into()))?;
    let m = p.metadata().await?;
    let mut form = vec![
        ("grant_type", "authorization_code".to_string()),
        ("code", code),
        ("redirect_uri", p.config.redirect_url.clone()),
        ("code_verifier", pending.verifier),
    ];
    if p.secret.is_none() {
        form.push(("client_id", p.config.client_id.clone()));
    }
    let answer: TokenAnswer = p.fetch(&m.token_endpoint, Some(form)).await?;
    let claims = p.verify(&answer.id_token, &pending.nonce, now).await?;
    let (name, role) = p.identity(&claims)?;
    Ok((name, role, pending.return_to))
}

pub async fn callback<S: Store>(
    State(app): State<Arc<App<S>>>,
    headers: HeaderMap,
    Query(cb): Query<Callback>,
) -> Response {
    let Some((signin, provider)) = app
        .signin
        .as_ref()
        .and_then(|s| s.oidc.as_ref().map(|p| (s, p)))
    else {
        return refused(StatusCode::NOT_FOUND, "OIDC sign-in is not configured");
    };
    let now = app.clock.now();
    match finish(signin, provider, cb, &headers, now).await {
        Ok((name, role, next)) => {
            let mut resp =
                super::web::start_session(signin, &headers, &name, role, now, &next).await;
            if let Ok(v) = clear_cookie(STATE_COOKIE).parse() {
                resp.headers_mut().append(header::SET_COOKIE, v);
            }
            resp
        }
        Err(e) => {
            tracing::warn!("OIDC sign-in: {e}");
            let status = match e {
                OidcError::Fetch { .. } | OidcError::Config(_) => StatusCode::BAD_GATEWAY,
                _ => StatusCode::FORBIDDEN,
            };
            refused(status, &e.to_string())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pkce_s256_matches_rfc7636_appendix_b() {
        assert_eq!(
            pkce_challenge("dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk"),
            "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"
        );
    }
}
