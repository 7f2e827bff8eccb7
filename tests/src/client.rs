//! A plain HTTPS client for tests that talk to kube-sim (or a real apiserver, from its
//! kubeconfig) below kubectl's level (status codes, headers, raw bodies), authenticated with a
//! client certificate or token.

use crate::kube_sim::KubeSim;
use std::sync::Arc;
use ureq::tls::{Certificate, ClientCert, PrivateKey, RootCerts, TlsConfig};

/// How the test client authenticates.
pub enum Auth {
    ClientCert,
    RogueClientCert,
    /// No client certificate (send a bearer token with [`send`], or nothing).
    None,
}

/// A ureq agent trusting the simulator's CA, never turning HTTP errors into `Err`.
pub fn agent(sim: &KubeSim, auth: Auth) -> ureq::Agent {
    let pair = match auth {
        Auth::ClientCert => Some((
            sim.pki.client_cert_pem.as_str(),
            sim.pki.client_key_pem.as_str(),
        )),
        Auth::RogueClientCert => Some((
            sim.pki.rogue_client_cert_pem.as_str(),
            sim.pki.rogue_client_key_pem.as_str(),
        )),
        _ => None,
    };
    agent_with(&sim.pki.ca_pem, pair)
}

/// A ureq agent for the first cluster and user of a kubeconfig with inline certificate data
/// (`certificate-authority-data`, `client-certificate-data`, `client-key-data`, as k3s and
/// `tests/control-plane` write them), and the server URL.
pub fn agent_from_kubeconfig(path: &std::path::Path) -> (ureq::Agent, String) {
    use base64::Engine as _;
    let text = std::fs::read_to_string(path).expect("kubeconfig");
    let field = |key: &str| {
        text.lines()
            .find_map(|l| l.trim().strip_prefix(key))
            .map(|v| v.trim().trim_matches('"').to_string())
            .unwrap_or_else(|| panic!("{} has no {key}", path.display()))
    };
    let pem = |key: &str| {
        let raw = base64::engine::general_purpose::STANDARD
            .decode(field(key))
            .expect("base64 in kubeconfig");
        String::from_utf8(raw).expect("PEM text")
    };
    let (ca, cert, key) = (
        pem("certificate-authority-data:"),
        pem("client-certificate-data:"),
        pem("client-key-data:"),
    );
    (agent_with(&ca, Some((&cert, &key))), field("server:"))
}

/// A ureq agent trusting `ca_pem`, with an optional client certificate and key.
pub(crate) fn agent_with(ca_pem: &str, pair: Option<(&str, &str)>) -> ureq::Agent {
    let ca = Certificate::from_pem(ca_pem.as_bytes()).expect("CA PEM");
    let mut tls = TlsConfig::builder()
        .root_certs(RootCerts::new_with_certs(&[ca]))
        .unversioned_rustls_crypto_provider(Arc::new(rustls::crypto::ring::default_provider()));
    if let Some((cert, key)) = pair {
        let cert = Certificate::from_pem(cert.as_bytes()).expect("cert PEM");
        let key = PrivateKey::from_pem(key.as_bytes()).expect("key PEM");
        tls = tls.client_cert(Some(ClientCert::new_with_certs(&[cert], key)));
    }
    ureq::Agent::config_builder()
        .tls_config(tls.build())
        .http_status_as_error(false)
        .timeout_global(Some(std::time::Duration::from_secs(10)))
        .build()
        .new_agent()
}

/// What a request got back.
pub struct Reply {
    pub status: u16,
    pub content_type: String,
    pub body: String,
    /// The `Warning` headers, in order.
    pub warnings: Vec<String>,
}

/// Sends a request and returns (status, content type, body).
pub fn send(
    agent: &ureq::Agent,
    method: &str,
    url: &str,
    content_type: Option<&str>,
    body: Option<&str>,
    token: Option<&str>,
) -> Result<(u16, String, String), ureq::Error> {
    let r = send_full(agent, method, url, content_type, body, token)?;
    Ok((r.status, r.content_type, r.body))
}

/// Sends a request and returns everything [`Reply`] holds.
pub fn send_full(
    agent: &ureq::Agent,
    method: &str,
    url: &str,
    content_type: Option<&str>,
    body: Option<&str>,
    token: Option<&str>,
) -> Result<Reply, ureq::Error> {
    let mut req = ureq::http::Request::builder().method(method).uri(url);
    if let Some(ct) = content_type {
        req = req.header("Content-Type", ct);
    }
    if let Some(t) = token {
        req = req.header("Authorization", format!("Bearer {t}"));
    }
    let req = req.body(body.unwrap_or("").to_string()).expect("request");
    let mut resp = agent.run(req)?;
    let status = resp.status().as_u16();
    let header = |name: &str| {
        resp.headers()
            .get_all(name)
            .iter()
            .filter_map(|v| v.to_str().ok().map(str::to_string))
            .collect::<Vec<_>>()
    };
    let content_type = header("content-type")
        .into_iter()
        .next()
        .unwrap_or_default();
    let warnings = header("warning");
    let body = resp.body_mut().read_to_string()?;
    Ok(Reply {
        status,
        content_type,
        body,
        warnings,
    })
}
