//! Local accounts: argon2id password hashes (RustCrypto `argon2`) with the OWASP Password
//! Storage Cheat Sheet's first recommended setting: m = 19 MiB (19456 KiB), t = 2 iterations,
//! p = 1 lane, a random 16-byte salt per hash, kept in the PHC string format
//! (`$argon2id$v=19$m=19456,t=2,p=1$SALT$HASH`). Verification reads the parameters from the
//! stored string, so raising them later only affects new hashes. Unknown users are checked
//! against a dummy hash, so a wrong name and a wrong password take the same time.

use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::{Algorithm, Argon2, Params, Version};
use std::sync::OnceLock;
use thiserror::Error;

/// OWASP: argon2id, 19 MiB, 2 iterations, 1 lane.
pub const MEMORY_KIB: u32 = 19 * 1024;
pub const ITERATIONS: u32 = 2;
pub const LANES: u32 = 1;
/// Shortest password accepted (NIST SP 800-63B asks at least 8; we ask 12).
pub const MIN_PASSWORD: usize = 12;
/// Longest password accepted (bounds the hashing input).
pub const MAX_PASSWORD: usize = 1024;
/// Longest user name.
pub const MAX_NAME: usize = 64;

#[derive(Debug, Error, PartialEq)]
pub enum LocalError {
    #[error("password must be {MIN_PASSWORD}..={MAX_PASSWORD} bytes")]
    PasswordLength,
    #[error("user name must be 1..={MAX_NAME} ASCII letters, digits or . - _ @")]
    BadName,
    #[error("hashing failed: {0}")]
    Hash(String),
}

fn hasher() -> Argon2<'static> {
    let params = Params::new(MEMORY_KIB, ITERATIONS, LANES, None).unwrap_or_default();
    Argon2::new(Algorithm::Argon2id, Version::V0x13, params)
}

/// Checks a user name: the same safe set as device ids (no lookalikes), at most 64 bytes.
pub fn check_name(name: &str) -> Result<(), LocalError> {
    let ok = !name.is_empty()
        && name.len() <= MAX_NAME
        && name.starts_with(|c: char| c.is_ascii_alphanumeric())
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_' | '@'));
    ok.then_some(()).ok_or(LocalError::BadName)
}

/// Hashes a new password (argon2id, OWASP parameters, a random salt).
pub fn hash_password(password: &str) -> Result<String, LocalError> {
    if password.len() < MIN_PASSWORD || password.len() > MAX_PASSWORD {
        return Err(LocalError::PasswordLength);
    }
    let salt = super::session::random::<16>().map_err(|e| LocalError::Hash(e.to_string()))?;
    let salt = SaltString::encode_b64(&salt).map_err(|e| LocalError::Hash(e.to_string()))?;
    hasher()
        .hash_password(password.as_bytes(), &salt)
        .map(|h| h.to_string())
        .map_err(|e| LocalError::Hash(e.to_string()))
}

/// A hash of a password no one knows, computed once: what unknown users are checked against.
fn dummy() -> &'static str {
    static DUMMY: OnceLock<String> = OnceLock::new();
    DUMMY.get_or_init(|| hash_password("no user has this password").unwrap_or_default())
}

/// Does `password` match `stored` (a PHC string)? `None` (unknown user) is checked against a
/// dummy hash first, so both failures cost one argon2id computation. Constant time in the
/// hash comparison (the argon2 crate compares the outputs in constant time).
pub fn verify_password(password: &str, stored: Option<&str>) -> bool {
    let phc = stored.unwrap_or_else(|| dummy());
    let ok = password.len() <= MAX_PASSWORD
        && PasswordHash::new(phc)
            .map(|h| hasher().verify_password(password.as_bytes(), &h).is_ok())
            .unwrap_or(false);
    ok && stored.is_some()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn argon2id_with_owasp_parameters() {
        let h = hash_password("correct horse battery").unwrap();
        assert!(h.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"), "{h}");
        assert!(verify_password("correct horse battery", Some(&h)));
        assert!(!verify_password("correct horse batterz", Some(&h)));
        assert!(!verify_password("correct horse battery", None));
        assert_ne!(h, hash_password("correct horse battery").unwrap(), "salted");
        assert_eq!(hash_password("short"), Err(LocalError::PasswordLength));
        assert!(check_name("alice").is_ok());
        assert!(check_name("аlice").is_err(), "Cyrillic a");
        assert!(check_name("../x").is_err());
    }
}
