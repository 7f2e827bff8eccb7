//! The OpenID Connect provider as seen from the fleet: discovery (the issuer must match), the
//! token request (client_secret_basic, or a public client), the JWKS (re-read when a token
//! names an unknown key, at most once a minute) and the mapping of claims to a user and role.
//! Every fetch has a 10 s limit, an answer bound of 64 KiB and no redirects; issuer and
//! endpoints must be `https://` (plain HTTP only to 127.0.0.1 or localhost, for tests).

use super::config::OidcConfig;
use super::jwt::{self, Expect, Jwks};
use super::roles::Role;
use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use serde::Deserialize;
use std::sync::Mutex;
use std::time::Duration;
use thiserror::Error;

/// Largest answer read from the provider (discovery, JWKS, token).
pub const MAX_FETCH: u64 = 64 * 1024;

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
pub(super) struct Metadata {
    pub(super) issuer: String,
    pub(super) authorization_endpoint: String,
    pub(super) token_endpoint: String,
    pub(super) jwks_uri: String,
}

pub struct Provider {
    pub(super) config: OidcConfig,
    pub(super) secret: Option<String>,
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
    pub(super) async fn fetch<T: serde::de::DeserializeOwned + Send + 'static>(
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

    pub(super) async fn metadata(&self) -> Result<Metadata, OidcError> {
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
    pub(super) async fn verify(
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

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn provider(default_role: Option<Role>) -> Provider {
        let config: OidcConfig = serde_json::from_value(json!({
            "issuer": "https://idp.example", "clientId": "fleet",
            "redirectUrl": "https://fleet.example/oidc/callback",
            "usernameClaim": "preferred_username", "roleClaim": "groups",
            "roles": {"ops": "operator", "staff": "viewer"}}))
        .unwrap();
        Provider::new(OidcConfig {
            default_role,
            ..config
        })
        .unwrap()
    }

    #[test]
    fn claims_map_to_the_highest_role_or_the_default_or_nothing() {
        let p = provider(None);
        let claims = |v: serde_json::Value| v.as_object().unwrap().clone();
        let both = claims(json!({"preferred_username": "alice", "groups": ["staff", "ops"]}));
        assert_eq!(
            p.identity(&both).unwrap(),
            ("oidc:alice".into(), Role::Operator)
        );
        let one = claims(json!({"preferred_username": "bob", "groups": "staff"}));
        assert_eq!(p.identity(&one).unwrap().1, Role::Viewer);
        let none = claims(json!({"preferred_username": "eve", "groups": ["guests"]}));
        assert!(p.identity(&none).is_err(), "no role, no default: refused");
        assert_eq!(
            provider(Some(Role::Viewer)).identity(&none).unwrap().1,
            Role::Viewer
        );
        assert!(
            p.identity(&claims(json!({"groups": ["ops"]}))).is_err(),
            "no name"
        );
    }

    #[test]
    fn plain_http_only_to_the_loopback() {
        assert!(allowed_url("https://idp.example/"));
        assert!(allowed_url("http://127.0.0.1:4444/"));
        assert!(!allowed_url("http://idp.example/"));
        assert!(!allowed_url("http://127.0.0.1.evil.example/"));
        let mut c = provider(None).config;
        c.issuer = "http://idp.example".into();
        assert!(Provider::new(c).is_err());
    }
}
