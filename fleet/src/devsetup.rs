//! `ferry-fleet dev-setup`: a complete trial setup in one directory: a CA, a server
//! certificate for 127.0.0.1/localhost, one client certificate and one bearer token per
//! device (the device id in the certificate's DNS SAN and common name), the tokens file and a
//! `fleet.yaml`. For trials, tests and the demo; production certificates come from your PKI.

use rcgen::{
    BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair,
    KeyUsagePurpose, SanType,
};
use std::io::Read;
use std::path::Path;
use thiserror::Error;

#[derive(Debug, Error)]
pub enum DevSetupError {
    #[error("certificate: {0}")]
    Cert(#[from] rcgen::Error),
    #[error("{path}: {reason}")]
    Io { path: String, reason: String },
    #[error("device id {0:?}: must be 1..=63 of a-z, 0-9, '-', '.'")]
    DeviceId(String),
}

fn write(path: &Path, text: &str) -> Result<(), DevSetupError> {
    std::fs::write(path, text).map_err(|e| DevSetupError::Io {
        path: path.display().to_string(),
        reason: e.to_string(),
    })
}

/// A random token (32 hex digits from the kernel's generator).
pub fn random_token() -> Result<String, DevSetupError> {
    let mut b = [0u8; 16];
    std::fs::File::open("/dev/urandom")
        .and_then(|mut f| f.read_exact(&mut b))
        .map_err(|e| DevSetupError::Io {
            path: "/dev/urandom".into(),
            reason: e.to_string(),
        })?;
    Ok(hex::encode(b))
}

fn valid_id(id: &str) -> bool {
    !id.is_empty()
        && id.len() <= 63
        && id
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'.')
}

/// Writes the trial setup into `dir` (created). The config listens on `listen`.
pub fn dev_setup(dir: &Path, devices: &[String], listen: &str) -> Result<(), DevSetupError> {
    let io = |e: std::io::Error| DevSetupError::Io {
        path: dir.display().to_string(),
        reason: e.to_string(),
    };
    std::fs::create_dir_all(dir.join("devices")).map_err(io)?;
    let ca_key = KeyPair::generate()?;
    let mut ca = CertificateParams::new(Vec::<String>::new())?;
    ca.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca.distinguished_name
        .push(DnType::CommonName, "ferry-fleet trial CA");
    ca.key_usages = vec![
        KeyUsagePurpose::KeyCertSign,
        KeyUsagePurpose::DigitalSignature,
    ];
    let ca_cert = ca.self_signed(&ca_key)?;
    write(&dir.join("ca.pem"), &ca_cert.pem())?;
    let issuer = Issuer::new(ca, ca_key);
    let server_key = KeyPair::generate()?;
    let mut sp = CertificateParams::new(vec!["127.0.0.1".to_string(), "localhost".to_string()])?;
    sp.distinguished_name
        .push(DnType::CommonName, "ferry-fleet");
    sp.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
    write(
        &dir.join("server.pem"),
        &sp.signed_by(&server_key, &issuer)?.pem(),
    )?;
    write(&dir.join("server-key.pem"), &server_key.serialize_pem())?;
    let mut tokens =
        String::from("# DEVICE-ID SHA256-HEX-OF-TOKEN (ferry-fleet hash-token < TOKEN)\n");
    for id in devices {
        if !valid_id(id) {
            return Err(DevSetupError::DeviceId(id.clone()));
        }
        let key = KeyPair::generate()?;
        let mut p = CertificateParams::new(Vec::<String>::new())?;
        p.distinguished_name.push(DnType::CommonName, id.as_str());
        p.subject_alt_names = vec![SanType::DnsName(id.as_str().try_into()?)];
        p.extended_key_usages = vec![ExtendedKeyUsagePurpose::ClientAuth];
        write(
            &dir.join(format!("devices/{id}.pem")),
            &p.signed_by(&key, &issuer)?.pem(),
        )?;
        write(
            &dir.join(format!("devices/{id}-key.pem")),
            &key.serialize_pem(),
        )?;
        let token = random_token()?;
        write(&dir.join(format!("devices/{id}.token")), &token)?;
        tokens.push_str(&format!(
            "{id} {}\n",
            hex::encode(crate::auth::hash_token(&token))
        ));
    }
    write(&dir.join("tokens"), &tokens)?;
    // The scraper's token (metrics.token) and its hash, which is all the receiver keeps.
    let metrics = random_token()?;
    write(&dir.join("metrics.token"), &metrics)?;
    write(
        &dir.join("metrics.token.sha256"),
        &format!("{}\n", hex::encode(crate::auth::hash_token(&metrics))),
    )?;
    write(
        &dir.join("fleet.yaml"),
        &format!(
            "listen: {listen}\ntls:\n  cert: server.pem\n  key: server-key.pem\n  clientCa: ca.pem\ntokens: tokens\nmetricsTokenHash: metrics.token.sha256\nstore:\n  sqlite: fleet.db\nretention: 30d\n"
        ),
    )
}
