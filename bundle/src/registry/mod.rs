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
    /// Deadline of each request, body included (default 600 s).
    pub timeout: Option<Duration>,
    /// Origins (`https://host[:port]`) of token services on another host than the registry
    /// that may receive `credentials` (the registry's own origin always may).
    pub token_realms: Vec<String>,
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
    token_realms: Vec<String>,
    /// The deadline of each request.
    timeout: Duration,
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
        let timeout = conn.timeout.unwrap_or(Duration::from_secs(600));
        let agent = ureq::Agent::config_builder()
            .tls_config(tls)
            .http_status_as_error(false)
            .timeout_connect(Some(Duration::from_secs(10)))
            .timeout_per_read(Some(Duration::from_secs(30)))
            .timeout_global(Some(timeout))
            // Never from https to http, on a redirect (blobs often redirect to storage) or a
            // token realm: a TLS registry's answers and credentials stay under TLS.
            .https_only(!conn.plain_http)
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
            token_realms: conn.token_realms.clone(),
            timeout,
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

    /// A ureq error: a refused downgrade is not worth retrying; a deadline says which.
    pub(crate) fn transport(&self, e: ureq::Error) -> RegistryError {
        match e {
            ureq::Error::RequireHttpsOnly(to) => RegistryError::Invalid {
                registry: self.reference.registry.clone(),
                what: "redirect".into(),
                reason: format!(
                    "to {}: refused (no downgrade from https to plain HTTP)",
                    crate::text::bounded(&to, 200)
                ),
            },
            ureq::Error::Timeout(t) => self.unreachable(format!(
                "timed out ({t}): no complete answer within {:?} (timeout)",
                self.timeout
            )),
            e => self.unreachable(e),
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
        let message = crate::oci_wire::parse_error_message(body.as_bytes())
            .map(|m| crate::text::bounded(&m, 200))
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
        result.map_err(|e| self.transport(e))
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

    /// Fetches a bearer token from the challenge's realm, sending the basic credentials only
    /// to the registry's own origin or a configured one ([`Connection::token_realms`]).
    fn token(
        &self,
        realm: &str,
        service: Option<&str>,
        scope: Option<&str>,
    ) -> Result<String, RegistryError> {
        let send_credentials = oci::realm_use(
            &self.base,
            realm,
            &self.token_realms,
            self.credentials.is_some(),
        )
        .map_err(|reason| RegistryError::Invalid {
            registry: self.reference.registry.clone(),
            what: "token".into(),
            reason,
        })?;
        let scope = scope
            .map(str::to_string)
            .unwrap_or_else(|| format!("repository:{}:pull", self.reference.repository));
        let mut url = format!("{realm}?scope={scope}");
        if let Some(s) = service {
            url.push_str(&format!("&service={s}"));
        }
        let mut req = self.agent.get(&url);
        if let (true, Some(c)) = (send_credentials, &self.credentials) {
            req = req.header(
                "Authorization",
                format!(
                    "Basic {}",
                    base64::engine::general_purpose::STANDARD.encode(c)
                ),
            );
        }
        *self.requests.lock().unwrap_or_else(|e| e.into_inner()) += 1;
        let mut resp = req.call().map_err(|e| self.transport(e))?;
        if resp.status().as_u16() != 200 {
            return Err(self.status("token", &mut resp));
        }
        let bytes = self.read_limited(&mut resp, 64 * 1024, "token")?;
        let invalid = |reason: String| RegistryError::Invalid {
            registry: self.reference.registry.clone(),
            what: "token".into(),
            reason,
        };
        crate::oci_wire::parse_token(&bytes)
            .map_err(invalid)?
            .ok_or_else(|| invalid("no token in the token service's answer".into()))
    }

    /// A body of at most `limit` bytes, refused past it before any parse (naming `what`).
    pub(crate) fn read_limited(
        &self,
        resp: &mut ureq::http::Response<ureq::Body>,
        limit: u64,
        what: &str,
    ) -> Result<Vec<u8>, RegistryError> {
        resp.body_mut()
            .with_config()
            .limit(limit)
            .read_to_vec()
            .map_err(|e| match e {
                ureq::Error::BodyExceedsLimit(max) => RegistryError::Invalid {
                    registry: self.reference.registry.clone(),
                    what: what.to_string(),
                    reason: format!("answer larger than {max} bytes: not read further"),
                },
                e => self.transport(e),
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
