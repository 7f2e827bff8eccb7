//! A small blocking Kubernetes client: kubeconfig (CA data, client certificate and key, or
//! bearer token; k3s's layout) or in-cluster service account, TLS always verified.
//! Requests are built with kube-core and sent with ureq.

pub use super::error::{Cause, KubeError};
use super::retry::{self, Clock, RetryPolicy};
use base64::Engine;
use kube::config::Kubeconfig;
use secrecy::ExposeSecret;
use serde::de::DeserializeOwned;
use serde::Deserialize;
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

/// An identity to impersonate.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Impersonate {
    pub user: String,
    #[serde(default)]
    pub groups: Vec<String>,
}

/// Longest server message kept in an error.
const MAX_MESSAGE: usize = 2000;

fn bounded(s: &str) -> String {
    s.chars().take(MAX_MESSAGE).collect()
}

/// A configured client. Cheap to clone; connections are pooled, and the pool is shared by
/// every clone (see [`KubeClient::close_idle`]).
#[derive(Clone)]
pub struct KubeClient {
    agent: Arc<std::sync::RwLock<ureq::Agent>>,
    base: String,
    token: Option<String>,
    /// Identity to act as (per-sync impersonation), sent as `Impersonate-*` headers.
    impersonate: Option<(String, Vec<String>)>,
    user_agent: String,
    retry: RetryPolicy,
    clock: Arc<dyn Clock>,
    /// A site node's write fence: checked right before every mutating request.
    fence: Option<Arc<crate::site::fence::Fence>>,
}

const SA_DIR: &str = "/var/run/secrets/kubernetes.io/serviceaccount";

/// ureq's input and output buffers, per connection layer (TLS and TCP each have both).
/// ureq's default is 128 KiB each, zero-filled when a connection is made: 512 KiB resident
/// per connection, kept while the connection is pooled. Bodies stream through the buffers in
/// chunks; the input buffer must hold the whole response header block (kube-apiserver's is
/// well under 1 KiB, plus its Warning headers), so a response whose headers exceed 16 KiB
/// fails as a transport error. 48 KiB per connection (96 KiB before issue 21's memory goal).
const INPUT_BUFFER: usize = 16 * 1024;
/// See [`INPUT_BUFFER`]: the request header and body chunks go through it.
const OUTPUT_BUFFER: usize = 8 * 1024;
/// Idle connections kept: as many as a pass's workers use at once (`concurrency`, default
/// 4). With ureq's default of 3, every batch of 4 concurrent requests closed one connection
/// and the next batch made a new one (a TLS handshake each time: 43 handshakes in a
/// 1000-object first sync instead of 4).
const IDLE_CONNECTIONS: usize = 4;

fn b64(s: &str) -> Result<Vec<u8>, String> {
    base64::engine::general_purpose::STANDARD
        .decode(s.trim())
        .map_err(|e| e.to_string())
}

impl KubeClient {
    /// Loads a kubeconfig (current context), e.g. `/etc/rancher/k3s/k3s.yaml`.
    pub fn from_kubeconfig(path: &Path) -> Result<Self, KubeError> {
        let err = |reason: String| KubeError::Config {
            path: path.into(),
            reason,
        };
        let kc = Kubeconfig::read_from(path).map_err(|e| err(e.to_string()))?;
        let ctx_name = kc
            .current_context
            .clone()
            .or_else(|| kc.contexts.first().map(|c| c.name.clone()))
            .ok_or_else(|| err("no context".into()))?;
        let ctx = kc
            .contexts
            .iter()
            .find(|c| c.name == ctx_name)
            .and_then(|c| c.context.clone())
            .ok_or_else(|| err(format!("context {ctx_name:?} not found")))?;
        let cluster = kc
            .clusters
            .iter()
            .find(|c| c.name == ctx.cluster)
            .and_then(|c| c.cluster.clone())
            .ok_or_else(|| err(format!("cluster {:?} not found", ctx.cluster)))?;
        let user = ctx
            .user
            .as_ref()
            .and_then(|u| kc.auth_infos.iter().find(|a| &a.name == u))
            .and_then(|a| a.auth_info.clone())
            .unwrap_or_default();
        if cluster.insecure_skip_tls_verify == Some(true) {
            return Err(err(
                "insecure-skip-tls-verify is not supported: ferry always verifies TLS".into(),
            ));
        }
        let server = cluster
            .server
            .clone()
            .ok_or_else(|| err("cluster has no server".into()))?;
        let rel = |p: &str| -> PathBuf { path.parent().unwrap_or(Path::new(".")).join(p) };
        let ca_pem = match (
            &cluster.certificate_authority_data,
            &cluster.certificate_authority,
        ) {
            (Some(d), _) => {
                Some(b64(d).map_err(|e| err(format!("certificate-authority-data: {e}")))?)
            }
            (None, Some(f)) => Some(
                std::fs::read(rel(f))
                    .map_err(|e| err(format!("certificate-authority {f}: {e}")))?,
            ),
            _ => None,
        };
        let cert_pem = match (&user.client_certificate_data, &user.client_certificate) {
            (Some(d), _) => Some(b64(d).map_err(|e| err(format!("client-certificate-data: {e}")))?),
            (None, Some(f)) => Some(
                std::fs::read(rel(f)).map_err(|e| err(format!("client-certificate {f}: {e}")))?,
            ),
            _ => None,
        };
        let key_pem = match (&user.client_key_data, &user.client_key) {
            (Some(d), _) => {
                Some(b64(d.expose_secret()).map_err(|e| err(format!("client-key-data: {e}")))?)
            }
            (None, Some(f)) => {
                Some(std::fs::read(rel(f)).map_err(|e| err(format!("client-key {f}: {e}")))?)
            }
            _ => None,
        };
        let token = match (&user.token, &user.token_file) {
            (Some(t), _) => Some(t.expose_secret().to_string()),
            (None, Some(f)) => Some(
                std::fs::read_to_string(rel(f))
                    .map_err(|e| err(format!("token-file {f}: {e}")))?
                    .trim()
                    .to_string(),
            ),
            _ => None,
        };
        let client_pair = match (cert_pem, key_pem) {
            (Some(c), Some(k)) => Some((c, k)),
            (None, None) => None,
            _ => {
                return Err(err(
                    "client certificate and key must be given together".into()
                ))
            }
        };
        Self::build(&server, ca_pem.as_deref(), client_pair, token).map_err(err)
    }

    /// The in-cluster service account (token and CA under /var/run/secrets).
    pub fn in_cluster() -> Result<Self, KubeError> {
        let dir = Path::new(SA_DIR);
        let err = |reason: String| KubeError::Config {
            path: dir.into(),
            reason,
        };
        let host = std::env::var("KUBERNETES_SERVICE_HOST")
            .map_err(|_| err("KUBERNETES_SERVICE_HOST not set".into()))?;
        let port = std::env::var("KUBERNETES_SERVICE_PORT").unwrap_or_else(|_| "443".into());
        let token = std::fs::read_to_string(dir.join("token")).map_err(|e| err(e.to_string()))?;
        let ca = std::fs::read(dir.join("ca.crt")).map_err(|e| err(e.to_string()))?;
        Self::build(
            &format!("https://{host}:{port}"),
            Some(&ca),
            None,
            Some(token.trim().to_string()),
        )
        .map_err(err)
    }

    fn build(
        server: &str,
        ca_pem: Option<&[u8]>,
        client: Option<(Vec<u8>, Vec<u8>)>,
        token: Option<String>,
    ) -> Result<Self, String> {
        // A kubeconfig's CA is the only root; without one, the system bundle.
        let roots = match ca_pem {
            Some(pem) => ferry_bundle::tls::Roots::Pem(pem),
            None => ferry_bundle::tls::Roots::System,
        };
        let tls = ferry_bundle::tls::client_config(
            roots,
            client.as_ref().map(|(c, k)| (c.as_slice(), k.as_slice())),
        )?;
        let config = ureq::Agent::config_builder()
            .tls_config(tls)
            .input_buffer_size(INPUT_BUFFER)
            .output_buffer_size(OUTPUT_BUFFER)
            .max_idle_connections_per_host(IDLE_CONNECTIONS)
            .http_status_as_error(false)
            .timeout_connect(Some(Duration::from_secs(5)))
            .timeout_global(Some(Duration::from_secs(30)))
            .https_only(true)
            .build();
        let agent = super::resolver::agent(config);
        Ok(KubeClient {
            agent: Arc::new(std::sync::RwLock::new(agent)),
            base: server.trim_end_matches('/').to_string(),
            token,
            impersonate: None,
            user_agent: format!("ferry-agent/{}", env!("CARGO_PKG_VERSION")),
            retry: RetryPolicy::default(),
            clock: crate::clock::configured(),
            fence: None,
        })
    }

    /// A client that acts as `user` (and `groups`) through impersonation headers.
    pub fn impersonating(&self, user: &str, groups: &[String]) -> Self {
        let mut c = self.clone();
        c.impersonate = Some((user.to_string(), groups.to_vec()));
        c
    }

    /// The same client with another retry policy for transient failures.
    pub fn with_retry(mut self, retry: RetryPolicy) -> Self {
        self.retry = retry;
        self
    }

    /// The same client with every write fenced by a site lease (`None`: unfenced), and
    /// `node` in its User-Agent (audit logs tell a site's nodes apart).
    pub fn fenced(mut self, fence: Option<Arc<crate::site::fence::Fence>>, node: &str) -> Self {
        self.fence = fence;
        self.user_agent = format!("ferry-agent/{} node/{node}", env!("CARGO_PKG_VERSION"));
        self
    }

    /// The same client with `(tag)` in its User-Agent before the node (audit logs tell a
    /// node's host rollout requests from its site writes).
    pub fn tagged(mut self, tag: &str) -> Self {
        self.user_agent = self
            .user_agent
            .replacen(" node/", &format!(" ({tag}) node/"), 1);
        self
    }

    /// The same client on another clock (tests).
    pub fn with_clock(mut self, clock: Arc<dyn Clock>) -> Self {
        self.clock = clock;
        self
    }

    /// The clock the client's retries, and the waits of the writes it carries, run on.
    pub fn clock(&self) -> &dyn Clock {
        self.clock.as_ref()
    }

    /// Closes the pooled idle connections (of every clone), freeing their buffers and TLS
    /// state (about 130 KiB each): the daemon calls it after a pass, since ureq would not
    /// reuse a connection idle for longer than 15 s anyway and passes are minutes apart.
    /// Requests in flight keep their connections.
    pub fn close_idle(&self) {
        let mut agent = self.agent.write().unwrap_or_else(|e| e.into_inner());
        let fresh = super::resolver::agent(agent.config().clone());
        *agent = fresh;
    }

    /// The API server URL.
    pub fn server(&self) -> &str {
        &self.base
    }

    /// Sends a request built by kube-core and returns the decoded JSON body, retrying
    /// transient failures per the client's [`RetryPolicy`].
    pub fn send(&self, req: http::Request<Vec<u8>>) -> Result<Value, KubeError> {
        self.send_as(req)
    }

    /// Like [`KubeClient::send`], decoding the body straight into `T` (only the fields a
    /// caller needs are kept, not the whole JSON tree of a large response).
    pub fn send_as<T: DeserializeOwned>(
        &self,
        req: http::Request<Vec<u8>>,
    ) -> Result<T, KubeError> {
        let (parts, body) = req.into_parts();
        retry::run(&self.retry, self.clock.as_ref(), || {
            self.send_once(&parts, body.clone())
        })
    }

    fn send_once<T: DeserializeOwned>(
        &self,
        parts: &http::request::Parts,
        body: Vec<u8>,
    ) -> Result<T, KubeError> {
        let method = parts.method.to_string();
        let path = parts.uri.to_string();
        let mut builder = ureq::http::Request::builder()
            .method(parts.method.clone())
            .uri(format!("{}{}", self.base, path));
        for (k, v) in &parts.headers {
            builder = builder.header(k, v);
        }
        builder = builder.header("User-Agent", &self.user_agent);
        if !parts.headers.contains_key(http::header::ACCEPT) {
            builder = builder.header("Accept", "application/json");
        }
        if let Some(t) = &self.token {
            builder = builder.header("Authorization", format!("Bearer {t}"));
        }
        if let Some((user, groups)) = &self.impersonate {
            builder = builder.header("Impersonate-User", user);
            for g in groups {
                builder = builder.header("Impersonate-Group", g);
            }
        }
        let request = builder.body(body).map_err(|e| KubeError::Request {
            what: path.clone(),
            reason: e.to_string(),
        })?;
        let transport = |e: ureq::Error| KubeError::Transport {
            method: method.clone(),
            path: path.clone(),
            reason: e.to_string(),
        };
        // The fence, last thing before the request leaves (see crate::site::fence).
        if let Some(f) = &self.fence {
            crate::site::fence::gate(f, &method, &path).map_err(|source| KubeError::Fenced {
                method: method.clone(),
                path: path.clone(),
                source,
            })?;
        }
        let agent = self.agent.read().unwrap_or_else(|e| e.into_inner()).clone();
        let mut resp = agent.run(request).map_err(transport)?;
        let code = resp.status().as_u16();
        let retry_after = resp
            .headers()
            .get("Retry-After")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.trim().parse::<u64>().ok());
        let text = resp
            .body_mut()
            .with_config()
            .limit(64 * 1024 * 1024)
            .read_to_string()
            .map_err(transport)?;
        if code >= 400 {
            let status: Value = serde_json::from_str(&text).unwrap_or(Value::Null);
            return Err(KubeError::Api {
                method,
                path,
                code,
                reason: bounded(status["reason"].as_str().unwrap_or("Error")),
                message: status["message"]
                    .as_str()
                    .map(bounded)
                    .unwrap_or_else(|| text.chars().take(200).collect()),
                retry_after,
                causes: status["details"]["causes"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .take(50)
                    .map(|c| Cause {
                        reason: bounded(c["reason"].as_str().unwrap_or_default()),
                        message: bounded(c["message"].as_str().unwrap_or_default()),
                        field: bounded(c["field"].as_str().unwrap_or_default()),
                    })
                    .collect(),
            });
        }
        serde_json::from_str(&text).map_err(|e| KubeError::Decode {
            method,
            path,
            reason: e.to_string(),
        })
    }

    /// GET of a plain path (discovery).
    pub fn get_path(&self, path: &str) -> Result<Value, KubeError> {
        let req = http::Request::get(path)
            .body(Vec::new())
            .map_err(|e| KubeError::Request {
                what: path.into(),
                reason: e.to_string(),
            })?;
        self.send(req)
    }
}
