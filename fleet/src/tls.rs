//! The server's TLS settings: certificate chain and key from PEM files, and, with a device CA,
//! client certificates verified against it (optional per connection, so token devices work
//! on the same port). rustls with ring; TLS 1.2 and 1.3.
//!
//! Session resumption: the server issues stateless tickets (ring's rotating ticketer: a key
//! per 6 hours, the previous one still accepted), so a device whose kept connection was
//! dropped (idle limit, NAT, restart of a middlebox) reconnects with a resumed handshake: no
//! certificate chain on the wire, and no per-device session state on the server however many
//! devices there are. A resumed session keeps its client certificate (rustls stores the chain
//! in the ticket), so mutual TLS binds the device id on a resumed connection too.

use std::path::Path;
use std::sync::Arc;
use thiserror::Error;

#[derive(Debug, Error)]
#[error("{path}: {reason}")]
pub struct TlsError {
    pub path: String,
    pub reason: String,
}

fn pem_error(path: &Path, reason: impl std::fmt::Display) -> TlsError {
    TlsError {
        path: path.display().to_string(),
        reason: reason.to_string(),
    }
}

/// Builds the server configuration.
pub fn server_config(
    cert: &Path,
    key: &Path,
    client_ca: Option<&Path>,
) -> Result<Arc<rustls::ServerConfig>, TlsError> {
    use rustls::pki_types::{pem::PemObject, CertificateDer, PrivateKeyDer};
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let chain: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(cert)
        .map_err(|e| pem_error(cert, e))?
        .collect::<Result<_, _>>()
        .map_err(|e| pem_error(cert, e))?;
    if chain.is_empty() {
        return Err(pem_error(cert, "no certificate"));
    }
    let key_der = PrivateKeyDer::from_pem_file(key).map_err(|e| pem_error(key, e))?;
    let builder = rustls::ServerConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .map_err(|e| pem_error(cert, e))?;
    let builder = match client_ca {
        Some(ca) => {
            let mut roots = rustls::RootCertStore::empty();
            for c in CertificateDer::pem_file_iter(ca).map_err(|e| pem_error(ca, e))? {
                roots
                    .add(c.map_err(|e| pem_error(ca, e))?)
                    .map_err(|e| pem_error(ca, e))?;
            }
            let verifier = rustls::server::WebPkiClientVerifier::builder_with_provider(
                Arc::new(roots),
                provider,
            )
            .allow_unauthenticated()
            .build()
            .map_err(|e| pem_error(ca, e))?;
            builder.with_client_cert_verifier(verifier)
        }
        None => builder.with_no_client_auth(),
    };
    let mut cfg = builder
        .with_single_cert(chain, key_der)
        .map_err(|e| pem_error(key, e))?;
    cfg.alpn_protocols = vec![b"http/1.1".to_vec()];
    cfg.ticketer = rustls::crypto::ring::Ticketer::new().map_err(|e| pem_error(key, e))?;
    // One ticket per handshake: a device resumes with it and gets a fresh one each time.
    cfg.send_tls13_tickets = 1;
    Ok(Arc::new(cfg))
}
