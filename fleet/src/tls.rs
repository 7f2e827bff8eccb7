//! The server's TLS settings: certificate chain and key from PEM files, and, with a device CA,
//! client certificates verified against it (optional per connection, so token devices work
//! on the same port). rustls with ring; TLS 1.2 and 1.3.
//!
//! Session resumption: a device whose kept connection was dropped (idle limit, NAT, a
//! restarted middlebox) reconnects with a resumed handshake, no certificates on the wire. The
//! server keeps the sessions itself, in a bounded in-memory cache (`tlsSessions` entries, the
//! oldest evicted first; a TLS 1.3 ticket is used once and a handshake issues two), and hands
//! out 32-byte ticket ids. Stateless tickets were measured and not chosen: they carry the
//! session, client certificate chain included, so with mutual TLS every resumed handshake sent
//! the device certificate twice (in the ticket and back) and cost more than this cache (about
//! 1 KB per device). A resumed session keeps its client certificate, so mutual TLS binds the
//! device id on a resumed connection too. Sessions do not survive a restart of the receiver.

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
    sessions: usize,
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
    cfg.session_storage = if sessions == 0 {
        Arc::new(rustls::server::NoServerSessionStorage {})
    } else {
        rustls::server::ServerSessionMemoryCache::new(sessions)
    };
    // Two tickets per handshake (rustls' default): a TLS 1.3 ticket is used once, also by a
    // handshake that then fails (a connection accepted and dropped during an outage), so the
    // second one lets the next attempt still resume. ~100 B more per handshake.
    cfg.send_tls13_tickets = 2;
    Ok(Arc::new(cfg))
}
