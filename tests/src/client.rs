//! A plain HTTPS client for tests that talk to kube-sim below kubectl's level (status codes,
//! headers, raw bodies), authenticated with the simulator's client certificate or token.

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
    let ca = Certificate::from_pem(sim.pki.ca_pem.as_bytes()).expect("CA PEM");
    let mut tls = TlsConfig::builder()
        .root_certs(RootCerts::new_with_certs(&[ca]))
        .unversioned_rustls_crypto_provider(Arc::new(rustls::crypto::ring::default_provider()));
    let pair = match auth {
        Auth::ClientCert => Some((&sim.pki.client_cert_pem, &sim.pki.client_key_pem)),
        Auth::RogueClientCert => Some((
            &sim.pki.rogue_client_cert_pem,
            &sim.pki.rogue_client_key_pem,
        )),
        _ => None,
    };
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

/// Sends a request and returns (status, content type, body).
pub fn send(
    agent: &ureq::Agent,
    method: &str,
    url: &str,
    content_type: Option<&str>,
    body: Option<&str>,
    token: Option<&str>,
) -> Result<(u16, String, String), ureq::Error> {
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
    let ct = resp
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_string();
    let text = resp.body_mut().read_to_string()?;
    Ok((status, ct, text))
}
