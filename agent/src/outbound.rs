//! Outbound HTTPS for the fleet endpoint and webhooks (and remote sources): a ureq agent with
//! an optional custom CA, client certificate and bearer token read from files. TLS is always
//! verified; secrets are read from files and never logged.

use serde::Deserialize;
use std::path::{Path, PathBuf};
use std::time::Duration;
use thiserror::Error;

#[derive(Debug, Error)]
pub enum HttpError {
    #[error("{path}: {reason}")]
    File { path: PathBuf, reason: String },
    #[error("{url}: {reason}")]
    Transport { url: String, reason: String },
    #[error("{url}: HTTP {status}")]
    Status { url: String, status: u16 },
}

impl HttpError {
    /// The receiver refused this very message and would refuse it again (malformed, too large,
    /// not storable: 400, 411, 413-415, 422). Credentials, timeouts, rate limits, a missing
    /// path (a configuration fixed later) and server errors are worth another attempt.
    pub fn refused_for_good(&self) -> bool {
        matches!(
            self,
            HttpError::Status {
                status: 400 | 411 | 413..=415 | 422,
                ..
            }
        )
    }
}

/// TLS and auth settings of one endpoint (all files; nothing secret inline).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct EndpointTls {
    /// PEM CA bundle to trust instead of the system roots.
    pub ca_file: Option<PathBuf>,
    pub client_cert: Option<PathBuf>,
    pub client_key: Option<PathBuf>,
    /// File holding a bearer token.
    pub token_file: Option<PathBuf>,
    /// File holding `user:password` for HTTP basic auth.
    pub basic_auth_file: Option<PathBuf>,
    /// Give up connecting after this long (default 10s).
    #[serde(default, deserialize_with = "opt_duration")]
    pub connect_timeout: Option<Duration>,
    /// Give up on a transfer that stalls this long (default 30s; slow links still progress).
    #[serde(default, deserialize_with = "opt_duration")]
    pub read_timeout: Option<Duration>,
}

impl EndpointTls {
    /// Every file path, for resolving relative paths against the config file.
    pub fn paths_mut(&mut self) -> Vec<&mut PathBuf> {
        [
            &mut self.ca_file,
            &mut self.client_cert,
            &mut self.client_key,
            &mut self.token_file,
            &mut self.basic_auth_file,
        ]
        .into_iter()
        .flatten()
        .collect()
    }
}

fn opt_duration<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<Duration>, D::Error> {
    let s = String::deserialize(d)?;
    humantime::parse_duration(&s)
        .map(Some)
        .map_err(|e| serde::de::Error::custom(format!("bad duration {s:?}: {e}")))
}

/// SHA-256 over the content of an endpoint's files (CA, client certificate and key, token,
/// basic credentials), in that order with their lengths: a changed file changes it. Used to
/// keep an endpoint (its connection and TLS sessions) exactly as long as its files are unchanged.
pub fn material_digest(tls: &EndpointTls) -> Result<[u8; 32], HttpError> {
    use sha2::Digest;
    let mut h = sha2::Sha256::new();
    for p in [
        &tls.ca_file,
        &tls.client_cert,
        &tls.client_key,
        &tls.token_file,
        &tls.basic_auth_file,
    ] {
        match p {
            Some(p) => {
                let bytes = read(p)?;
                h.update((bytes.len() as u64 + 1).to_le_bytes());
                h.update(&bytes);
            }
            None => h.update(0u64.to_le_bytes()),
        }
    }
    Ok(h.finalize().into())
}

fn read(path: &Path) -> Result<Vec<u8>, HttpError> {
    std::fs::read(path).map_err(|e| HttpError::File {
        path: path.into(),
        reason: e.to_string(),
    })
}

/// Whether a request to `url` must stay on HTTPS, redirects included (ureq's `https_only`).
pub fn is_https(url: &str) -> bool {
    url.get(..8)
        .is_some_and(|s| s.eq_ignore_ascii_case("https://"))
}

/// A transport error's text; a redirect from https to http says so.
pub fn transport_reason(e: ureq::Error) -> String {
    match e {
        ureq::Error::RequireHttpsOnly(to) => format!(
            "redirected from https to {}: refused (no downgrade to plain HTTP)",
            ferry_bundle::text::bounded(&to, 200)
        ),
        e => e.to_string(),
    }
}

/// Which `User-Agent` an endpoint's requests carry unless they set their own.
#[derive(Clone, Copy)]
/// Whether an endpoint's requests follow redirects (each GET still refuses `https` -> `http`).
enum Redirects {
    Follow,
    None,
}

enum UserAgent {
    /// `ferry-agent/<version>`.
    Ferry,
    /// None.
    None,
}

/// A configured client for one endpoint.
#[derive(Clone)]
pub struct Endpoint {
    agent: ureq::Agent,
    /// The `Authorization` header value (bearer or basic), never logged.
    authorization: Option<String>,
}

/// How long ureq keeps an idle pooled connection unless told otherwise (its own default).
const DEFAULT_IDLE: Duration = Duration::from_secs(15);

impl Endpoint {
    pub fn new(tls: &EndpointTls, timeout: Duration) -> Result<Self, HttpError> {
        Self::kept_alive(tls, timeout, DEFAULT_IDLE)
    }

    /// Like [`Endpoint::new`], keeping an idle connection up to `idle` for the next request:
    /// a sender that posts every few minutes reuses one TLS session instead of a new handshake
    /// per message (the pool checks that a kept connection is still open before reusing it).
    pub fn kept_alive(
        tls: &EndpointTls,
        timeout: Duration,
        idle: Duration,
    ) -> Result<Self, HttpError> {
        Self::build(tls, timeout, idle, UserAgent::Ferry, Redirects::Follow)
    }

    /// Like [`Endpoint::kept_alive`] for deliveries (heartbeats, webhooks): a POST follows no
    /// redirect at all (a 3xx is a failed delivery), so nothing is ever sent on to `http://`.
    /// Set on the agent, not per request: a per-request setting costs the TLS session
    /// resumption of the next connection (fleet/tests/wire.rs).
    pub fn for_deliveries(
        tls: &EndpointTls,
        timeout: Duration,
        idle: Duration,
    ) -> Result<Self, HttpError> {
        Self::build(tls, timeout, idle, UserAgent::Ferry, Redirects::None)
    }

    /// Like [`Endpoint::kept_alive`], sending no `User-Agent` of its own: for a poll repeated
    /// every minute, where the header's 31 bytes are 45 KB a day (a request that carries its
    /// own `User-Agent` header, as gix's do, still sends that one).
    pub fn kept_alive_unnamed(
        tls: &EndpointTls,
        timeout: Duration,
        idle: Duration,
    ) -> Result<Self, HttpError> {
        Self::build(tls, timeout, idle, UserAgent::None, Redirects::Follow)
    }

    fn build(
        tls: &EndpointTls,
        timeout: Duration,
        idle: Duration,
        user_agent: UserAgent,
        redirects: Redirects,
    ) -> Result<Self, HttpError> {
        let ca = tls.ca_file.as_deref().map(read).transpose()?;
        let roots = match &ca {
            Some(pem) => ferry_bundle::tls::Roots::Pem(pem),
            None => ferry_bundle::tls::Roots::System,
        };
        let client = match (&tls.client_cert, &tls.client_key) {
            (Some(c), Some(k)) => Some((read(c)?, read(k)?)),
            _ => None,
        };
        let path = tls
            .ca_file
            .clone()
            .or_else(|| tls.client_cert.clone())
            .unwrap_or_else(|| PathBuf::from(ferry_bundle::tls::SYSTEM_CA_BUNDLE));
        let cfg = ferry_bundle::tls::client_config(
            roots,
            client.as_ref().map(|(c, k)| (c.as_slice(), k.as_slice())),
        )
        .map_err(|reason| HttpError::File { path, reason })?;
        let authorization = match (&tls.token_file, &tls.basic_auth_file) {
            (Some(p), _) => Some(format!(
                "Bearer {}",
                String::from_utf8_lossy(&read(p)?).trim()
            )),
            (None, Some(p)) => {
                use base64::Engine;
                let creds = String::from_utf8_lossy(&read(p)?).trim().to_string();
                if !creds.contains(':') {
                    return Err(HttpError::File {
                        path: p.clone(),
                        reason: "expected user:password".into(),
                    });
                }
                Some(format!(
                    "Basic {}",
                    base64::engine::general_purpose::STANDARD.encode(creds)
                ))
            }
            (None, None) => None,
        };
        let agent = ureq::Agent::config_builder()
            .tls_config(cfg)
            .http_status_as_error(false)
            .timeout_connect(Some(tls.connect_timeout.unwrap_or(Duration::from_secs(10))))
            // A transfer that stalls this long is cut (slow links still progress).
            .timeout_per_read(Some(tls.read_timeout.unwrap_or(Duration::from_secs(30))))
            .timeout_global(Some(timeout))
            .max_idle_age(idle)
            .max_redirects(match redirects {
                Redirects::Follow => 10,
                Redirects::None => 0,
            })
            .user_agent(match user_agent {
                UserAgent::Ferry => ureq::config::AutoHeaderValue::Provided(std::sync::Arc::new(
                    format!("ferry-agent/{}", env!("CARGO_PKG_VERSION")),
                )),
                UserAgent::None => ureq::config::AutoHeaderValue::None,
            })
            .build()
            .new_agent();
        Ok(Endpoint {
            agent,
            authorization,
        })
    }

    /// POSTs a JSON body; any 2xx is success. Redirects are followed only by an endpoint
    /// made with redirects (deliveries use [`Endpoint::for_deliveries`]: none).
    pub fn post_json(&self, url: &str, body: &str) -> Result<(), HttpError> {
        let mut req = self
            .agent
            .post(url)
            .header("Content-Type", "application/json");
        if let Some(a) = &self.authorization {
            req = req.header("Authorization", a);
        }
        let mut resp = req.send(body).map_err(|e| HttpError::Transport {
            url: url.into(),
            reason: transport_reason(e),
        })?;
        let status = resp.status().as_u16();
        // Read the (small) answer to its end: only a fully read response gives the
        // connection back to the pool for the next message. A large one just closes it.
        let _ = resp.body_mut().with_config().limit(64 * 1024).read_to_vec();
        if !(200..300).contains(&status) {
            return Err(HttpError::Status {
                url: url.into(),
                status,
            });
        }
        Ok(())
    }

    /// GET with extra headers; any status is returned (the caller decides). A request to an
    /// `https://` URL follows no redirect to `http://`.
    pub fn get(
        &self,
        url: &str,
        headers: &[(&str, String)],
    ) -> Result<ureq::http::Response<ureq::Body>, HttpError> {
        let mut req = self
            .agent
            .get(url)
            .config()
            .https_only(is_https(url))
            .build();
        if let Some(a) = &self.authorization {
            req = req.header("Authorization", a);
        }
        for (k, v) in headers {
            req = req.header(*k, v);
        }
        req.call().map_err(|e| HttpError::Transport {
            url: url.into(),
            reason: transport_reason(e),
        })
    }

    pub fn agent(&self) -> &ureq::Agent {
        &self.agent
    }

    pub fn authorization(&self) -> Option<&str> {
        self.authorization.as_deref()
    }
}

#[cfg(test)]
mod tests {
    use super::HttpError;

    #[test]
    fn only_answers_about_the_message_itself_drop_it() {
        let status = |status| HttpError::Status {
            url: "u".into(),
            status,
        };
        for s in [400, 411, 413, 414, 415, 422] {
            assert!(status(s).refused_for_good(), "{s}");
        }
        for s in [401, 403, 404, 408, 409, 429, 500, 502, 503] {
            assert!(!status(s).refused_for_good(), "{s}");
        }
        let transport = HttpError::Transport {
            url: "u".into(),
            reason: "connection refused".into(),
        };
        assert!(!transport.refused_for_good());
    }
}
