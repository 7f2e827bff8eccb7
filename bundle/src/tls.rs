//! TLS client settings shared by every HTTPS client of ferry (the registry client here, the
//! agent's Kubernetes client and its outbound endpoints): rustls with ring, roots from PEM, an
//! optional client certificate. Verification is never turned off.

use std::sync::Arc;
use ureq::tls::{Certificate, ClientCert, PrivateKey, RootCerts, TlsConfig};

/// Debian's (and most distributions') CA bundle, used when no CA is configured.
pub const SYSTEM_CA_BUNDLE: &str = "/etc/ssl/certs/ca-certificates.crt";

/// Parses every certificate of a PEM bundle (at least one).
pub fn certificates(pem: &[u8]) -> Result<Vec<Certificate<'static>>, String> {
    use rustls::pki_types::{pem::PemObject, CertificateDer};
    let certs: Vec<Certificate<'static>> = CertificateDer::pem_slice_iter(pem)
        .map(|c| c.map(|c| Certificate::from_der(c.as_ref()).to_owned()))
        .collect::<Result<_, _>>()
        .map_err(|e| e.to_string())?;
    if certs.is_empty() {
        return Err("no certificate in the PEM data".into());
    }
    Ok(certs)
}

/// Where trusted roots come from.
pub enum Roots<'a> {
    /// Exactly these PEM certificates (a kubeconfig's CA, a configured `caFile`).
    Pem(&'a [u8]),
    /// The system bundle if present (else no roots: only plain HTTP would work).
    System,
}

/// A client TLS configuration. `client` is a PEM certificate chain and key (PKCS#8, SEC1 as
/// k3s writes it, or PKCS#1).
pub fn client_config(roots: Roots, client: Option<(&[u8], &[u8])>) -> Result<TlsConfig, String> {
    let mut tls = TlsConfig::builder()
        .unversioned_rustls_crypto_provider(Arc::new(rustls::crypto::ring::default_provider()));
    match roots {
        Roots::Pem(pem) => {
            tls = tls.root_certs(RootCerts::new_with_certs(
                &certificates(pem).map_err(|e| format!("CA certificate: {e}"))?,
            ))
        }
        Roots::System => {
            if let Ok(pem) = std::fs::read(SYSTEM_CA_BUNDLE) {
                tls = tls.root_certs(RootCerts::new_with_certs(
                    &certificates(&pem).map_err(|e| format!("{SYSTEM_CA_BUNDLE}: {e}"))?,
                ));
            }
        }
    }
    if let Some((cert, key)) = client {
        let chain = certificates(cert).map_err(|e| format!("client certificate: {e}"))?;
        let key = PrivateKey::from_pem(key)
            .map(|k| k.to_owned())
            .map_err(|e| format!("client key: {e}"))?;
        tls = tls.client_cert(Some(ClientCert::new_with_certs(&chain, key)));
    }
    Ok(tls.build())
}
