//! SHA-256 digests as lowercase hex, the only digest the format uses.

use sha2::{Digest, Sha256 as Hasher};
use std::fmt;
use std::io::{self, Read};
use thiserror::Error;

/// Text that is not a sha256 digest.
#[derive(Debug, Error, PartialEq, Eq)]
#[error("not a sha256 digest (64 lowercase hex digits): {0:?}")]
pub struct NotSha256(String);

/// A sha256 digest, validated: 64 lowercase hex digits and nothing else, so it can name a
/// file (`blobs/<hex>`) without any path component, dot or separator.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Sha256(String);

impl Sha256 {
    /// Parses `text` (bare hex, as in manifests and URL paths).
    pub fn parse(text: &str) -> Result<Self, NotSha256> {
        if is_sha256_hex(text) {
            Ok(Sha256(text.to_string()))
        } else {
            Err(NotSha256(crate::text::bounded(text, 80)))
        }
    }

    /// The digest of `data`.
    pub fn of(data: &[u8]) -> Self {
        Sha256(sha256_hex(data))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Sha256 {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::str::FromStr for Sha256 {
    type Err = NotSha256;
    fn from_str(s: &str) -> Result<Self, NotSha256> {
        Sha256::parse(s)
    }
}

/// The lowercase hex sha256 of `data`.
pub fn sha256_hex(data: &[u8]) -> String {
    hex::encode(Hasher::digest(data))
}

/// Streams `reader` to its end and returns (sha256 hex, bytes read).
pub fn sha256_reader(mut reader: impl Read) -> io::Result<(String, u64)> {
    let mut hasher = Hasher::new();
    let mut buf = [0u8; 16 * 1024];
    let mut total = 0u64;
    loop {
        let n = reader.read(&mut buf)?;
        if n == 0 {
            break;
        }
        hasher.update(&buf[..n]);
        total += n as u64;
    }
    Ok((hex::encode(hasher.finalize()), total))
}

/// True when `s` is 64 lowercase hex characters.
pub fn is_sha256_hex(s: &str) -> bool {
    s.len() == 64
        && s.bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_vector() {
        assert_eq!(
            sha256_hex(b"abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
        let (hex, n) = sha256_reader(&b"abc"[..]).unwrap();
        assert_eq!(n, 3);
        assert_eq!(hex, sha256_hex(b"abc"));
    }

    #[test]
    fn sha256_newtype_refuses_paths_and_other_text() {
        assert!(Sha256::parse(&sha256_hex(b"x")).is_ok());
        for bad in [
            "../../x",
            "/dev/zero",
            "",
            &"A".repeat(64),
            &format!("{}/", "a".repeat(63)),
        ] {
            assert!(Sha256::parse(bad).is_err(), "{bad}");
        }
        assert!(
            Sha256::parse(&"a".repeat(1 << 20))
                .unwrap_err()
                .to_string()
                .len()
                < 200
        );
    }

    #[test]
    fn hex_shape() {
        assert!(is_sha256_hex(&sha256_hex(b"")));
        assert!(!is_sha256_hex("ABC"));
        assert!(!is_sha256_hex(&"G".repeat(64)));
    }
}
