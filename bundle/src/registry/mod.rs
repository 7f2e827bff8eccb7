//! A small blocking OCI distribution client (the crate's only network IO), shared by
//! `ferry-bundle push` and the agent's OCI source: manifests by tag or digest, tag lists,
//! blobs, monolithic uploads, and the auth flow (anonymous, basic, bearer token from the
//! `WWW-Authenticate` challenge). TLS is verified against the system or a given CA; plain
//! HTTP only on explicit request.
//!
//! This module holds the client, its connection settings and the request/auth flow; [`pull`]
//! reads from a repository, [`push`] writes to one.

mod pull;
mod push;

pub use push::{push_bundle, PushFormat};

use crate::oci::{self, Challenge, Reference};
use base64::Engine;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use thiserror::Error;

#[derive(Debug, Error)]
pub enum RegistryError {
    #[error("registry {registry}: {reason}")]
    Unreachable { registry: String, reason: String },
    #[error("registry {registry}: {what}: HTTP {status}{}", if .message.is_empty() { String::new() } else { format!(" ({})", .message) })]
    Status {
        registry: String,
        what: String,
        status: u16,
        message: String,
    },
    #[error("registry {registry}: {what}: {reason}")]
    Invalid {
        registry: String,
        what: String,
        reason: String,
    },
    #[error("TLS settings: {0}")]
    Tls(String),
}

impl RegistryError {
    /// Connection problems and 5xx/429: worth retrying later.
    pub fn is_transient(&self) -> bool {
        match self {
            RegistryError::Unreachable { .. } => true,
            RegistryError::Status { status, .. } => *status >= 500 || *status == 429,
            _ => false,
        }
    }
}

/// How to reach a registry.
#[derive(Debug, Clone, Default)]
pub struct Connection {
    /// PEM CA bundle; None means the system bundle.
    pub ca_pem: Option<Vec<u8>>,
    /// PEM client certificate and key for mutual TLS.
    pub client_pem: Option<(Vec<u8>, Vec<u8>)>,
    /// `user:password` for basic auth or the token service.
    pub credentials: Option<String>,
    /// Talk plain HTTP (only for registries you trust on a private link).
    pub plain_http: bool,
    pub timeout: Option<Duration>,
    /// How long an idle connection is kept for the next request (default: ureq's 15 s). An
    /// agent polling every minute sets more, so a no-change poll reuses its connection.
    pub keep_idle: Option<Duration>,
}

/// A client for one repository.
pub struct Registry {
    agent: ureq::Agent,
    base: String,
    pub reference: Reference,
    credentials: Option<String>,
    /// Authorization header learned from a challenge, reused until refused.
    auth: Arc<Mutex<Option<String>>>,
    /// Requests sent (for tests and benchmarks).
    pub requests: Arc<Mutex<u64>>,
}

impl Registry {
    pub fn new(reference: Reference, conn: &Connection) -> Result<Self, RegistryError> {
        let roots = match &conn.ca_pem {
            Some(p) => crate::tls::Roots::Pem(p),
            None => crate::tls::Roots::System,
        };
        let client = conn
            .client_pem
            .as_ref()
            .map(|(c, k)| (c.as_slice(), k.as_slice()));
        let tls = crate::tls::client_config(roots, client).map_err(RegistryError::Tls)?;
        let agent = ureq::Agent::config_builder()
            .tls_config(tls)
            .http_status_as_error(false)
            .timeout_connect(Some(Duration::from_secs(10)))
            .timeout_per_read(Some(Duration::from_secs(30)))
            .timeout_global(conn.timeout.or(Some(Duration::from_secs(600))))
            .max_idle_age(conn.keep_idle.unwrap_or(Duration::from_secs(15)))
            .user_agent(format!("ferry/{}", env!("CARGO_PKG_VERSION")))
            .build()
            .new_agent();
        let scheme = if conn.plain_http { "http" } else { "https" };
        Ok(Registry {
            agent,
            base: format!("{scheme}://{}", reference.registry),
            reference,
            credentials: conn.credentials.clone(),
            auth: Arc::new(Mutex::new(None)),
            requests: Arc::new(Mutex::new(0)),
        })
    }

    fn unreachable(&self, e: impl std::fmt::Display) -> RegistryError {
        RegistryError::Unreachable {
            registry: self.reference.registry.clone(),
            reason: e.to_string(),
        }
    }

    fn status(&self, what: &str, resp: &mut ureq::http::Response<ureq::Body>) -> RegistryError {
        let status = resp.status().as_u16();
        let body = resp
            .body_mut()
            .with_config()
            .limit(4096)
            .read_to_string()
            .unwrap_or_default();
        let message = serde_json::from_str::<serde_json::Value>(&body)
            .ok()
            .and_then(|v| v["errors"][0]["message"].as_str().map(str::to_string))
            .unwrap_or_default();
        RegistryError::Status {
            registry: self.reference.registry.clone(),
            what: what.to_string(),
            status,
            message,
        }
    }

    fn send_once(
        &self,
        method: &str,
        url: &str,
        headers: &[(&str, String)],
        body: Option<&[u8]>,
    ) -> Result<ureq::http::Response<ureq::Body>, RegistryError> {
        *self.requests.lock().unwrap_or_else(|e| e.into_inner()) += 1;
        let mut b = ureq::http::Request::builder().method(method).uri(url);
        for (k, v) in headers {
            b = b.header(*k, v);
        }
        if let Some(a) = self.auth.lock().unwrap_or_else(|e| e.into_inner()).as_ref() {
            b = b.header("Authorization", a);
        }
        let result = match body {
            Some(data) => self
                .agent
                .run(b.body(data.to_vec()).map_err(|e| self.unreachable(e))?),
            None => self.agent.run(b.body(()).map_err(|e| self.unreachable(e))?),
        };
        result.map_err(|e| self.unreachable(e))
    }

    /// Sends a request, answering one auth challenge if the registry asks for it.
    fn send(
        &self,
        method: &str,
        path: &str,
        headers: &[(&str, String)],
        body: Option<&[u8]>,
    ) -> Result<ureq::http::Response<ureq::Body>, RegistryError> {
        let url = if path.starts_with("http") {
            path.to_string()
        } else {
            format!("{}{path}", self.base)
        };
        let resp = self.send_once(method, &url, headers, body)?;
        if resp.status().as_u16() != 401 {
            return Ok(resp);
        }
        let challenge = resp
            .headers()
            .get("www-authenticate")
            .and_then(|v| v.to_str().ok())
            .and_then(oci::parse_challenge);
        let header = match challenge {
            Some(Challenge::Basic) => match &self.credentials {
                Some(c) => format!(
                    "Basic {}",
                    base64::engine::general_purpose::STANDARD.encode(c)
                ),
                None => return Ok(resp),
            },
            Some(Challenge::Bearer {
                realm,
                service,
                scope,
            }) => format!(
                "Bearer {}",
                self.token(&realm, service.as_deref(), scope.as_deref())?
            ),
            None => return Ok(resp),
        };
        *self.auth.lock().unwrap_or_else(|e| e.into_inner()) = Some(header);
        self.send_once(method, &url, headers, body)
    }

    /// Fetches a bearer token from the challenge's realm (with basic credentials if any).
    fn token(
        &self,
        realm: &str,
        service: Option<&str>,
        scope: Option<&str>,
    ) -> Result<String, RegistryError> {
        let scope = scope
            .map(str::to_string)
            .unwrap_or_else(|| format!("repository:{}:pull", self.reference.repository));
        let mut url = format!("{realm}?scope={scope}");
        if let Some(s) = service {
            url.push_str(&format!("&service={s}"));
        }
        let mut req = self.agent.get(&url);
        if let Some(c) = &self.credentials {
            req = req.header(
                "Authorization",
                format!(
                    "Basic {}",
                    base64::engine::general_purpose::STANDARD.encode(c)
                ),
            );
        }
        *self.requests.lock().unwrap_or_else(|e| e.into_inner()) += 1;
        let mut resp = req.call().map_err(|e| self.unreachable(e))?;
        if resp.status().as_u16() != 200 {
            return Err(self.status("token", &mut resp));
        }
        let v = self.read_json(&mut resp, 64 * 1024)?;
        v["token"]
            .as_str()
            .or(v["access_token"].as_str())
            .map(str::to_string)
            .ok_or_else(|| RegistryError::Invalid {
                registry: self.reference.registry.clone(),
                what: "token".into(),
                reason: "no token in the token service's answer".into(),
            })
    }

    fn read_json(
        &self,
        resp: &mut ureq::http::Response<ureq::Body>,
        limit: u64,
    ) -> Result<serde_json::Value, RegistryError> {
        let bytes = resp
            .body_mut()
            .with_config()
            .limit(limit)
            .read_to_vec()
            .map_err(|e| self.unreachable(e))?;
        serde_json::from_slice(&bytes).map_err(|e| RegistryError::Invalid {
            registry: self.reference.registry.clone(),
            what: "response".into(),
            reason: e.to_string(),
        })
    }

    fn repo_path(&self, rest: &str) -> String {
        format!("/v2/{}/{rest}", self.reference.repository)
    }

    /// Requests sent so far.
    pub fn request_count(&self) -> u64 {
        *self.requests.lock().unwrap_or_else(|e| e.into_inner())
    }
}
