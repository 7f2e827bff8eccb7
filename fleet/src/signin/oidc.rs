//! OpenID Connect sign-in: the authorization code flow with PKCE (S256), `state` and `nonce`.
//! `GET /oidc/login` makes a state, a nonce and a code verifier (256 random bits each), keeps
//! them in the database under the state's hash for 10 minutes (so any fleet process sharing
//! the database can finish the login), binds the state to the browser with the
//! `__Host-ferry_oidc` cookie and sends the browser to the provider. `GET /oidc/callback`
//! takes the pending login once, exchanges the code (with the verifier, client_secret_basic),
//! verifies the ID token ([`super::jwt`]) and maps a claim to a role. Discovery and JWKS are
//! fetched with a 10 s limit and at most 64 KiB each; the JWKS is re-read when a token names
//! an unknown key, at most once a minute.

use super::config::OidcConfig;
use super::jwt::{self, Expect, Jwks};
use super::roles::Role;
use super::session::{clear_cookie, cookie, hash_secret, new_secret, safe_next, set_cookie};
use super::SignIn;
use crate::app::App;
use crate::html::{esc, page};
use crate::store::Store;
use axum::extract::{Query, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{Html, IntoResponse, Response};
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use base64::Engine;
use serde::Deserialize;
use sha2::{Digest, Sha256};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use thiserror::Error;

/// The cookie binding a login under way to the browser that started it.
pub const STATE_COOKIE: &str = "__Host-ferry_oidc";
/// Largest answer read from the provider (discovery, JWKS, token).
pub const MAX_FETCH: u64 = 64 * 1024;
/// How long a started login may take.
pub const LOGIN_WINDOW: i64 = 600;

#[derive(Debug, Error)]
pub enum OidcError {
    #[error("oidc: {0}")]
    Config(String),
    #[error("identity provider {url}: {reason}")]
    Fetch { url: String, reason: String },
    #[error(transparent)]
    Token(#[from] jwt::JwtError),
    #[error("sign-in refused: {0}")]
    Refused(String),
}

#[derive(Debug, Clone, Deserialize)]
struct Metadata {
    issuer: String,
    authorization_endpoint: String,
    token_endpoint: String,
    jwks_uri: String,
}

pub struct Provider {
    config: OidcConfig,
    secret: Option<String>,
    http: ureq::Agent,
    metadata: Mutex<Option<Metadata>>,
    /// The key set and when it was fetched.
    jwks: Mutex<Option<(Jwks, std::time::Instant)>>,
}

/// HTTPS, or plain HTTP to the loopback (tests).
fn allowed_url(u: &str) -> bool {
    u.starts_with("https://")
        || [
            "http://127.0.0.1:",
            "http://127.0.0.1/",
            "http://localhost:",
            "http://localhost/",
        ]
        .iter()
        .any(|p| u.starts_with(p))
}

impl Provider {
    pub fn new(config: OidcConfig) -> Result<Self, OidcError> {
        if !allowed_url(&config.issuer) || !allowed_url(&config.redirect_url) {
            return Err(OidcError::Config(
                "issuer and redirectUrl must be https:// (http:// only to 127.0.0.1 or localhost)"
                    .into(),
            ));
        }
        let secret = match &config.client_secret_file {
            Some(p) => Some(
                std::fs::read_to_string(p)
                    .map_err(|e| OidcError::Config(format!("{}: {e}", p.display())))?
                    .trim()
                    .to_string(),
            ),
            None => None,
        };
        let ca = match &config.ca_file {
            Some(p) => Some(
                std::fs::read(p).map_err(|e| OidcError::Config(format!("{}: {e}", p.display())))?,
            ),
            None => None,
        };
        let roots = match &ca {
            Some(pem) => ferry_bundle::tls::Roots::Pem(pem),
            None => ferry_bundle::tls::Roots::System,
        };
        let tls = ferry_bundle::tls::client_config(roots, None).map_err(OidcError::Config)?;
        let http = ureq::Agent::config_builder()
            .tls_config(tls)
            .http_status_as_error(false)
            .max_redirects(0)
            .timeout_global(Some(Duration::from_secs(10)))
            .build()
            .new_agent();
        Ok(Provider {
            config,
            secret,
            http,
            metadata: Mutex::new(None),
            jwks: Mutex::new(None),
        })
    }

    pub fn issuer(&self) -> &str {
        &self.config.issuer
    }

    /// GET (or POST a form to) `url`; the JSON answer, at most [`MAX_FETCH`] bytes.
    async fn fetch<T: serde::de::DeserializeOwned + Send + 'static>(
        &self,
        url: &str,
        form: Option<Vec<(&'static str, String)>>,
    ) -> Result<T, OidcError> {
        let (http, u) = (self.http.clone(), url.to_string());
        let basic = self.secret.as_ref().map(|s| {
            let enc = |v: &str| crate::html::url_part(v);
            format!(
                "Basic {}",
                STANDARD.encode(format!("{}:{}", enc(&self.config.client_id), enc(s)))
            )
        });
        let err = |reason: String| OidcError::Fetch {
            url: url.to_string(),
            reason,
        };
        let out = tokio::task::spawn_blocking(move || -> Result<(u16, Vec<u8>), String> {
            let mut resp = match form {
                None => http.get(&u).call(),
                Some(f) => {
                    let mut req = http.post(&u);
                    if let Some(b) = basic {
                        req = req.header("Authorization", &b);
                    }
                    req.send_form(f.iter().map(|(k, v)| (*k, v.as_str())))
                }
            }
            .map_err(|e| e.to_string())?;
            let status = resp.status().as_u16();
            let body = resp
                .body_mut()
                .with_config()
                .limit(MAX_FETCH)
                .read_to_vec()
                .map_err(|e| e.to_string())?;
            Ok((status, body))
        })
        .await
        .map_err(|e| err(e.to_string()))?
        .map_err(err)?;
        if out.0 != 200 {
            let text: String = String::from_utf8_lossy(&out.1).chars().take(200).collect();
            return Err(err(format!("HTTP {}: {text}", out.0)));
        }
        serde_json::from_slice(&out.1).map_err(|e| err(format!("not the expected JSON: {e}")))
    }

    async fn metadata(&self) -> Result<Metadata, OidcError> {
        if let Some(m) = self.metadata.lock().ok().and_then(|m| m.clone()) {
            return Ok(m);
        }
        let url = format!(
            "{}/.well-known/openid-configuration",
            self.config.issuer.trim_end_matches('/')
        );
        let m: Metadata = self.fetch(&url, None).await?;
        if m.issuer.trim_end_matches('/') != self.config.issuer.trim_end_matches('/') {
            return Err(OidcError::Config(format!(
                "the provider says its issuer is {:?}, configured {:?}",
                m.issuer, self.config.issuer
            )));
        }
        if ![&m.authorization_endpoint, &m.token_endpoint, &m.jwks_uri]
            .iter()
            .all(|u| allowed_url(u))
        {
            return Err(OidcError::Config(
                "the provider's endpoints must be https://".into(),
            ));
        }
        if let Ok(mut slot) = self.metadata.lock() {
            *slot = Some(m.clone());
        }
        Ok(m)
    }

    /// Verifies an ID token, re-reading the JWKS once (at most every minute) for a new key.
    async fn verify(
        &self,
        token: &str,
        nonce: &str,
        now: i64,
    ) -> Result<serde_json::Map<String, serde_json::Value>, OidcError> {
        let m = self.metadata().await?;
        let want = Expect {
            issuer: &m.issuer,
            audience: &self.config.client_id,
            nonce,
            now,
        };
        let cached = self.jwks.lock().ok().and_then(|j| j.clone());
        if let Some((keys, at)) = &cached {
            match jwt::verify(token, keys, &want) {
                Err(jwt::JwtError::NoKey(_)) if at.elapsed() > Duration::from_secs(60) => {}
                other => return Ok(other?),
            }
        }
        let keys: Jwks = self.fetch(&m.jwks_uri, None).await?;
        if let Ok(mut j) = self.jwks.lock() {
            *j = Some((keys.clone(), std::time::Instant::now()));
        }
        Ok(jwt::verify(token, &keys, &want)?)
    }

    /// The user name and role an ID token's claims give (None: no role, refused).
    pub fn identity(
        &self,
        claims: &serde_json::Map<String, serde_json::Value>,
    ) -> Result<(String, Role), OidcError> {
        let name = claims
            .get(&self.config.username_claim)
            .and_then(|v| v.as_str())
            .filter(|n| !n.is_empty() && n.len() <= 128)
            .ok_or_else(|| {
                OidcError::Refused(format!("no {} claim", self.config.username_claim))
            })?;
        let values: Vec<&str> = match self.config.role_claim.as_ref().and_then(|c| claims.get(c)) {
            Some(serde_json::Value::String(s)) => vec![s.as_str()],
            Some(serde_json::Value::Array(a)) => {
                a.iter().filter_map(|v| v.as_str()).take(256).collect()
            }
            _ => vec![],
        };
        let role = values
            .iter()
            .filter_map(|v| self.config.roles.get(*v).copied())
            .max()
            .or(self.config.default_role)
            .ok_or_else(|| OidcError::Refused(format!("{name:?} has no fleet role")))?;
        Ok((
            format!("oidc:{}", crate::safe::text(name.to_string())),
            role,
        ))
    }
}

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
