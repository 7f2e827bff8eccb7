//! A small blocking OCI distribution client (the crate's only network IO), shared by
//! `ferry-bundle push` and the agent's OCI source: manifests by tag or digest, tag lists,
//! blobs, monolithic uploads, and the auth flow (anonymous, basic, bearer token from the
//! `WWW-Authenticate` challenge). TLS is verified against the system or a given CA; plain
//! HTTP only on explicit request.

use crate::oci::{self, Challenge, Reference};
use base64::Engine;
use std::io::Read;
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

    /// The digest of the manifest `target` points to (one HEAD request), None if absent.
    pub fn manifest_digest(&self, target: &str) -> Result<Option<String>, RegistryError> {
        let accept = [("Accept", oci::OCI_MANIFEST_MEDIA_TYPE.to_string())];
        let mut resp = self.send(
            "HEAD",
            &self.repo_path(&format!("manifests/{target}")),
            &accept,
            None,
        )?;
        match resp.status().as_u16() {
            200 => Ok(resp
                .headers()
                .get("docker-content-digest")
                .and_then(|v| v.to_str().ok())
                .map(str::to_string)),
            404 => Ok(None),
            _ => Err(self.status(&format!("manifest {target}"), &mut resp)),
        }
    }

    /// The manifest bytes and digest (checked against the digest when `target` is one).
    pub fn manifest(&self, target: &str) -> Result<(Vec<u8>, String), RegistryError> {
        let accept = [("Accept", oci::OCI_MANIFEST_MEDIA_TYPE.to_string())];
        let mut resp = self.send(
            "GET",
            &self.repo_path(&format!("manifests/{target}")),
            &accept,
            None,
        )?;
        if resp.status().as_u16() != 200 {
            return Err(self.status(&format!("manifest {target}"), &mut resp));
        }
        let bytes = resp
            .body_mut()
            .with_config()
            .limit(4 * 1024 * 1024)
            .read_to_vec()
            .map_err(|e| self.unreachable(e))?;
        let digest = format!("sha256:{}", crate::digest::sha256_hex(&bytes));
        if target.starts_with("sha256:") && target != digest {
            return Err(RegistryError::Invalid {
                registry: self.reference.registry.clone(),
                what: format!("manifest {target}"),
                reason: format!("content has digest {digest}"),
            });
        }
        Ok((bytes, digest))
    }

    /// A manifest or index by tag or digest, accepting the given media types: its bytes,
    /// digest (checked when `target` is a digest) and the media type the registry answered with.
    /// Used to pull container images, whose top level may be an index.
    pub fn manifest_accepting(
        &self,
        target: &str,
        accept: &[&str],
        max_bytes: u64,
    ) -> Result<(Vec<u8>, String, String), RegistryError> {
        let accept = [("Accept", accept.join(", "))];
        let mut resp = self.send(
            "GET",
            &self.repo_path(&format!("manifests/{target}")),
            &accept,
            None,
        )?;
        if resp.status().as_u16() != 200 {
            return Err(self.status(&format!("manifest {target}"), &mut resp));
        }
        let media_type = resp
            .headers()
            .get("content-type")
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_string();
        let bytes = resp
            .body_mut()
            .with_config()
            .limit(max_bytes)
            .read_to_vec()
            .map_err(|e| self.unreachable(e))?;
        let digest = format!("sha256:{}", crate::digest::sha256_hex(&bytes));
        if target.starts_with("sha256:") && target != digest {
            return Err(RegistryError::Invalid {
                registry: self.reference.registry.clone(),
                what: format!("manifest {target}"),
                reason: format!("content has digest {digest}"),
            });
        }
        Ok((bytes, digest, media_type))
    }

    /// Stores a manifest of any media type under `tag` (a tag or its digest).
    pub fn put_manifest_typed(
        &self,
        tag: &str,
        media_type: &str,
        bytes: &[u8],
    ) -> Result<String, RegistryError> {
        let ct = [("Content-Type", media_type.to_string())];
        let mut resp = self.send(
            "PUT",
            &self.repo_path(&format!("manifests/{tag}")),
            &ct,
            Some(bytes),
        )?;
        if resp.status().as_u16() != 201 {
            return Err(self.status(&format!("manifest {tag}"), &mut resp));
        }
        Ok(format!("sha256:{}", crate::digest::sha256_hex(bytes)))
    }

    /// Every tag of the repository.
    pub fn tags(&self) -> Result<Vec<String>, RegistryError> {
        let mut resp = self.send("GET", &self.repo_path("tags/list"), &[], None)?;
        if resp.status().as_u16() != 200 {
            return Err(self.status("tags/list", &mut resp));
        }
        let v = self.read_json(&mut resp, 4 * 1024 * 1024)?;
        Ok(v["tags"]
            .as_array()
            .map(|t| {
                t.iter()
                    .filter_map(|t| t.as_str().map(str::to_string))
                    .collect()
            })
            .unwrap_or_default())
    }

    /// A reader over a blob's content (the caller bounds and verifies it).
    pub fn blob(&self, digest: &str) -> Result<impl Read, RegistryError> {
        let mut resp = self.send(
            "GET",
            &self.repo_path(&format!("blobs/{digest}")),
            &[],
            None,
        )?;
        if resp.status().as_u16() != 200 {
            return Err(self.status(&format!("blob {digest}"), &mut resp));
        }
        Ok(resp.into_body().into_with_config().limit(u64::MAX).reader())
    }

    pub fn blob_exists(&self, digest: &str) -> Result<bool, RegistryError> {
        let mut resp = self.send(
            "HEAD",
            &self.repo_path(&format!("blobs/{digest}")),
            &[],
            None,
        )?;
        match resp.status().as_u16() {
            200 => Ok(true),
            404 => Ok(false),
            _ => Err(self.status(&format!("blob {digest}"), &mut resp)),
        }
    }

    /// Uploads the file at `path` as blob `digest`, streaming it (never read whole).
    pub fn push_blob_file(
        &self,
        digest: &str,
        path: &std::path::Path,
    ) -> Result<(), RegistryError> {
        let invalid = |e: std::io::Error| RegistryError::Invalid {
            registry: self.reference.registry.clone(),
            what: format!("blob {digest}"),
            reason: format!("{}: {e}", path.display()),
        };
        let file = std::fs::File::open(path).map_err(invalid)?;
        let size = file.metadata().map_err(invalid)?.len();
        let url = self.upload_url(digest)?;
        *self.requests.lock().unwrap_or_else(|e| e.into_inner()) += 1;
        let mut b = ureq::http::Request::builder()
            .method("PUT")
            .uri(&url)
            .header("Content-Type", "application/octet-stream")
            .header("Content-Length", size.to_string());
        if let Some(a) = self.auth.lock().unwrap_or_else(|e| e.into_inner()).as_ref() {
            b = b.header("Authorization", a);
        }
        let req = b.body(file).map_err(|e| self.unreachable(e))?;
        let mut resp = self.agent.run(req).map_err(|e| self.unreachable(e))?;
        if resp.status().as_u16() != 201 {
            return Err(self.status(&format!("upload {digest}"), &mut resp));
        }
        Ok(())
    }

    /// Starts an upload session; returns the URL to PUT blob `digest` to.
    fn upload_url(&self, digest: &str) -> Result<String, RegistryError> {
        let mut resp = self.send("POST", &self.repo_path("blobs/uploads/"), &[], Some(&[]))?;
        if resp.status().as_u16() != 202 {
            return Err(self.status("start upload", &mut resp));
        }
        let location = resp
            .headers()
            .get("location")
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_string();
        let location = if location.starts_with('/') {
            format!("{}{location}", self.base)
        } else {
            location
        };
        let sep = if location.contains('?') { '&' } else { '?' };
        Ok(format!("{location}{sep}digest={digest}"))
    }

    /// Uploads a blob in one request (POST for a session, then PUT with the digest).
    pub fn push_blob(&self, digest: &str, data: &[u8]) -> Result<(), RegistryError> {
        let mut resp = self.send("POST", &self.repo_path("blobs/uploads/"), &[], Some(&[]))?;
        if resp.status().as_u16() != 202 {
            return Err(self.status("start upload", &mut resp));
        }
        let location = resp
            .headers()
            .get("location")
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_string();
        let location = if location.starts_with('/') {
            format!("{}{location}", self.base)
        } else {
            location
        };
        let sep = if location.contains('?') { '&' } else { '?' };
        let url = format!("{location}{sep}digest={digest}");
        let ct = [("Content-Type", "application/octet-stream".to_string())];
        let mut resp = self.send("PUT", &url, &ct, Some(data))?;
        if resp.status().as_u16() != 201 {
            return Err(self.status(&format!("upload {digest}"), &mut resp));
        }
        Ok(())
    }

    /// Stores a manifest under `tag`; returns its digest.
    pub fn put_manifest(&self, tag: &str, bytes: &[u8]) -> Result<String, RegistryError> {
        let ct = [("Content-Type", oci::OCI_MANIFEST_MEDIA_TYPE.to_string())];
        let mut resp = self.send(
            "PUT",
            &self.repo_path(&format!("manifests/{tag}")),
            &ct,
            Some(bytes),
        )?;
        if resp.status().as_u16() != 201 {
            return Err(self.status(&format!("manifest {tag}"), &mut resp));
        }
        Ok(format!("sha256:{}", crate::digest::sha256_hex(bytes)))
    }

    /// Requests sent so far.
    pub fn request_count(&self) -> u64 {
        *self.requests.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// Which artifact layout to push.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PushFormat {
    /// Manifest, signature and one layer per file (delta-friendly).
    Ferry,
    /// One tar+gzip content layer, as `flux push artifact` makes it.
    Flux,
}

/// Pushes the signed plain bundle in `dir` under `tag`, skipping blobs the registry has.
/// Returns the manifest digest and how many blobs were uploaded.
pub fn push_bundle(
    registry: &Registry,
    dir: &std::path::Path,
    m: &crate::Manifest,
    manifest_bytes: &[u8],
    signature: &str,
    tag: &str,
    format: PushFormat,
) -> Result<(String, usize), RegistryError> {
    let invalid = |what: &str, e: std::io::Error| RegistryError::Invalid {
        registry: registry.reference.registry.clone(),
        what: what.into(),
        reason: e.to_string(),
    };
    let mut blobs: Vec<(oci::Layer, Vec<u8>)> = Vec::new();
    let (config_type, artifact_type) = match format {
        PushFormat::Flux => {
            let mut tgz = Vec::new();
            crate::archive::write(dir, m, manifest_bytes, signature, &mut tgz)
                .map_err(|e| invalid("content layer", e))?;
            let layer = oci::Layer {
                media_type: oci::FLUX_CONTENT_MEDIA_TYPE.into(),
                digest: format!("sha256:{}", crate::digest::sha256_hex(&tgz)),
                size: tgz.len() as u64,
                title: String::new(),
            };
            blobs.push((layer, tgz));
            (oci::FLUX_CONFIG_MEDIA_TYPE, None)
        }
        PushFormat::Ferry => {
            for layer in oci::ferry_layers(m, manifest_bytes, signature) {
                let data = match layer.media_type.as_str() {
                    oci::MANIFEST_MEDIA_TYPE => manifest_bytes.to_vec(),
                    oci::SIGNATURE_MEDIA_TYPE => signature.as_bytes().to_vec(),
                    _ => std::fs::read(dir.join(&layer.title))
                        .map_err(|e| invalid(&layer.title, e))?,
                };
                blobs.push((layer, data));
            }
            (oci::EMPTY_CONFIG_MEDIA_TYPE, Some(oci::FERRY_ARTIFACT_TYPE))
        }
    };
    let config_digest = format!("sha256:{}", crate::digest::sha256_hex(oci::EMPTY_CONFIG));
    if !registry.blob_exists(&config_digest)? {
        registry.push_blob(&config_digest, oci::EMPTY_CONFIG)?;
    }
    let mut uploaded = 0;
    for (layer, data) in &blobs {
        if !registry.blob_exists(&layer.digest)? {
            registry.push_blob(&layer.digest, data)?;
            uploaded += 1;
        }
    }
    let mut layers: Vec<oci::Layer> = blobs.into_iter().map(|(l, _)| l).collect();
    // Image blobs stream from `blobs/sha256` and are listed as layers, so the registry keeps
    // them with the artifact; devices fetch them by digest like file layers.
    for (sha256, blob) in crate::images::distinct_blobs(&m.images) {
        let layer = oci::Layer {
            media_type: oci::IMAGE_BLOB_MEDIA_TYPE.into(),
            digest: format!("sha256:{sha256}"),
            size: blob.size,
            title: crate::layout::blob_rel(&sha256),
        };
        if !registry.blob_exists(&layer.digest)? {
            registry.push_blob_file(&layer.digest, &crate::layout::blob_path(dir, &sha256))?;
            uploaded += 1;
        }
        layers.push(layer);
    }
    let annotations: std::collections::BTreeMap<String, String> = [
        ("org.opencontainers.image.title".to_string(), m.name.clone()),
        (
            "org.opencontainers.image.version".to_string(),
            m.revision.to_string(),
        ),
        (
            "org.opencontainers.image.created".to_string(),
            m.created.to_string(),
        ),
    ]
    .into();
    let doc = oci::image_manifest(
        artifact_type,
        config_type,
        oci::EMPTY_CONFIG,
        &layers,
        &annotations,
    );
    Ok((registry.put_manifest(tag, &doc)?, uploaded))
}
