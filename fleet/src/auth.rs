//! Device authentication (pure decisions): a client certificate binds a device id (its DNS
//! SANs and common name), a bearer token binds the device id it was issued for (tokens are
//! kept as SHA-256 hashes). A request is accepted only when the id in the payload is one the
//! credential binds: no credential is 401, a credential for another device is 403.

use sha2::{Digest, Sha256};
use std::collections::HashMap;
use std::path::Path;
use thiserror::Error;

#[derive(Debug, Error, PartialEq)]
pub enum AuthError {
    #[error("no client certificate or bearer token")]
    Missing,
    #[error("unknown bearer token")]
    UnknownToken,
    #[error("credential is for device {bound:?}, payload is from {claimed:?}")]
    WrongDevice { bound: String, claimed: String },
    #[error("{path}:{line}: {reason}")]
    TokensFile {
        path: String,
        line: usize,
        reason: String,
    },
}

/// The identity a connection or request presented.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Credential {
    /// Device ids bound by the verified client certificate (empty without one).
    pub cert_ids: Vec<String>,
    /// Device id of the bearer token, if one was sent and known.
    pub token_id: Option<String>,
    /// A bearer token was sent but is unknown.
    pub bad_token: bool,
}

impl Credential {
    /// Is this credential enough to send anything at all (checked before the body is read)?
    pub fn check_present(&self) -> Result<(), AuthError> {
        if self.bad_token && self.cert_ids.is_empty() {
            return Err(AuthError::UnknownToken);
        }
        if self.cert_ids.is_empty() && self.token_id.is_none() {
            return Err(AuthError::Missing);
        }
        Ok(())
    }

    /// May this credential report for `device`?
    pub fn authorize(&self, device: &str) -> Result<(), AuthError> {
        self.check_present()?;
        if self.cert_ids.iter().any(|c| c == device) || self.token_id.as_deref() == Some(device) {
            return Ok(());
        }
        let bound = self
            .cert_ids
            .first()
            .cloned()
            .or_else(|| self.token_id.clone())
            .unwrap_or_default();
        Err(AuthError::WrongDevice {
            bound,
            claimed: device.chars().take(64).collect(),
        })
    }
}

/// Token hashes to device ids.
#[derive(Debug, Clone, Default)]
pub struct Tokens {
    by_hash: HashMap<[u8; 32], String>,
}

pub fn hash_token(token: &str) -> [u8; 32] {
    Sha256::digest(token.trim().as_bytes()).into()
}

impl Tokens {
    /// Parses `DEVICE-ID SHA256-HEX` lines (`#` comments and blank lines skipped).
    pub fn parse(path: &Path, text: &str) -> Result<Self, AuthError> {
        let mut by_hash = HashMap::new();
        for (i, line) in text.lines().enumerate() {
            let line = line.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let bad = |reason: &str| AuthError::TokensFile {
                path: path.display().to_string(),
                line: i + 1,
                reason: reason.into(),
            };
            let mut parts = line.split_whitespace();
            let (Some(id), Some(hash), None) = (parts.next(), parts.next(), parts.next()) else {
                return Err(bad("expected: DEVICE-ID SHA256-HEX"));
            };
            let mut h = [0u8; 32];
            hex::decode_to_slice(hash, &mut h).map_err(|_| bad("hash is not 64 hex digits"))?;
            by_hash.insert(h, id.to_string());
        }
        Ok(Tokens { by_hash })
    }

    pub fn from_pairs<'a>(pairs: impl IntoIterator<Item = (&'a str, &'a str)>) -> Self {
        Tokens {
            by_hash: pairs
                .into_iter()
                .map(|(id, tok)| (hash_token(tok), id.to_string()))
                .collect(),
        }
    }

    pub fn len(&self) -> usize {
        self.by_hash.len()
    }

    pub fn is_empty(&self) -> bool {
        self.by_hash.is_empty()
    }

    /// The device a presented token belongs to.
    pub fn device_of(&self, token: &str) -> Option<&str> {
        self.by_hash.get(&hash_token(token)).map(String::as_str)
    }
}

/// The device ids a verified client certificate binds: its DNS SANs, else its common name.
pub fn certificate_ids(der: &[u8]) -> Vec<String> {
    let Ok((_, cert)) = x509_parser::parse_x509_certificate(der) else {
        return Vec::new();
    };
    let mut ids: Vec<String> = Vec::new();
    if let Ok(Some(san)) = cert.subject_alternative_name() {
        for n in &san.value.general_names {
            if let x509_parser::extensions::GeneralName::DNSName(d) = n {
                ids.push(d.to_string());
            }
        }
    }
    if ids.is_empty() {
        ids.extend(
            cert.subject()
                .iter_common_name()
                .filter_map(|cn| cn.as_str().ok())
                .map(str::to_string),
        );
    }
    ids
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decisions() {
        let none = Credential::default();
        assert_eq!(none.authorize("a"), Err(AuthError::Missing));
        let bad = Credential {
            bad_token: true,
            ..Default::default()
        };
        assert_eq!(bad.authorize("a"), Err(AuthError::UnknownToken));
        let tok = Credential {
            token_id: Some("a".into()),
            ..Default::default()
        };
        assert!(tok.authorize("a").is_ok());
        assert!(matches!(
            tok.authorize("b"),
            Err(AuthError::WrongDevice { .. })
        ));
        let cert = Credential {
            cert_ids: vec!["c".into()],
            bad_token: true,
            ..Default::default()
        };
        assert!(cert.authorize("c").is_ok());
    }

    #[test]
    fn tokens_file() {
        let h = hex::encode(hash_token("s3cret"));
        let t = Tokens::parse(Path::new("t"), &format!("# c\nedge-1 {h}\n")).unwrap();
        assert_eq!(t.device_of("s3cret"), Some("edge-1"));
        assert_eq!(t.device_of("other"), None);
        assert!(Tokens::parse(Path::new("t"), "edge-1 zz").is_err());
    }
}
