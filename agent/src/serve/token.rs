//! The relay's site credential: bearer tokens from a file (`serve.tokenFile`), one per line
//! (several during a rotation; `#` comments and blank lines ignored). A request is answered only
//! when its `Authorization: Bearer <token>` matches one of them; the comparison is over SHA-256
//! digests in constant time, and the tokens themselves are never logged or kept in memory.

use sha2::{Digest, Sha256};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use thiserror::Error;

/// Shortest token accepted (e.g. `openssl rand -hex 32` gives 64 characters).
pub const MIN_TOKEN: usize = 32;
/// Largest token file read.
pub const MAX_TOKEN_FILE: u64 = 64 * 1024;

/// Why the token file cannot be used.
#[derive(Debug, Error)]
pub enum TokenError {
    #[error("serve.tokenFile is required: the relay answers only neighbours that send the site token (docs/sources.md, relay access)")]
    Missing,
    #[error("serve.tokenFile {path}: {reason}")]
    Bad { path: PathBuf, reason: String },
}

/// The tokens a relay accepts, as digests.
#[derive(Clone)]
pub struct RelayTokens(Vec<[u8; 32]>);

impl std::fmt::Debug for RelayTokens {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "RelayTokens({} token(s))", self.0.len())
    }
}

fn digest(token: &[u8]) -> [u8; 32] {
    Sha256::digest(token).into()
}

impl RelayTokens {
    /// Tokens from text (one per line); each at least [`MIN_TOKEN`] printable ASCII characters
    /// without spaces.
    pub fn parse(text: &str) -> Result<Self, String> {
        let mut tokens = Vec::new();
        for (i, line) in text.lines().enumerate() {
            let t = line.trim();
            if t.is_empty() || t.starts_with('#') {
                continue;
            }
            if t.len() < MIN_TOKEN || !t.bytes().all(|b| b.is_ascii_graphic()) {
                return Err(format!(
                    "line {}: a token must be at least {MIN_TOKEN} printable characters without spaces (e.g. openssl rand -hex 32)",
                    i + 1
                ));
            }
            tokens.push(digest(t.as_bytes()));
        }
        if tokens.is_empty() {
            return Err("holds no token".into());
        }
        Ok(RelayTokens(tokens))
    }

    /// Reads `path`: a regular file (links not followed), at most [`MAX_TOKEN_FILE`] bytes,
    /// readable by its owner only.
    pub fn load(path: Option<&Path>) -> Result<Self, TokenError> {
        let path = path.ok_or(TokenError::Missing)?;
        let bad = |reason: String| TokenError::Bad {
            path: path.into(),
            reason,
        };
        let meta = std::fs::symlink_metadata(path).map_err(|e| bad(e.to_string()))?;
        if !meta.file_type().is_file() {
            return Err(bad("not a regular file (links are not followed)".into()));
        }
        if meta.permissions().mode() & 0o077 != 0 {
            return Err(bad(format!(
                "mode {:04o}: group and others may not read the site token (chmod 600)",
                meta.permissions().mode() & 0o7777
            )));
        }
        if meta.len() > MAX_TOKEN_FILE {
            return Err(bad(format!("larger than {MAX_TOKEN_FILE} bytes")));
        }
        let text = std::fs::read_to_string(path).map_err(|e| bad(e.to_string()))?;
        Self::parse(&text).map_err(bad)
    }

    /// Whether an `Authorization` header value carries one of the tokens.
    pub fn allows(&self, authorization: Option<&str>) -> bool {
        let Some(token) = authorization.and_then(|a| {
            let (scheme, rest) = a.split_once(' ')?;
            scheme.eq_ignore_ascii_case("bearer").then(|| rest.trim())
        }) else {
            return false;
        };
        let offered = digest(token.as_bytes());
        // Every token is compared, each in constant time.
        self.0.iter().fold(false, |found, t| {
            let diff = t.iter().zip(offered).fold(0u8, |d, (a, b)| d | (a ^ b));
            found | (diff == 0)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_are_long_bearer_values_one_per_line() {
        let a = "a".repeat(40);
        let b = "b".repeat(64);
        let t = RelayTokens::parse(&format!("# site token\n{a}\n\n{b}\n")).unwrap();
        assert!(t.allows(Some(&format!("Bearer {a}"))));
        assert!(t.allows(Some(&format!("bearer {b}"))));
        for bad in [
            None,
            Some(a.as_str()),
            Some("Bearer "),
            Some("Basic YTpi"),
            Some(&*format!("Bearer {}", "a".repeat(39))),
        ] {
            assert!(!t.allows(bad), "{bad:?}");
        }
        assert!(RelayTokens::parse("short\n").is_err());
        assert!(RelayTokens::parse("# nothing\n\n").is_err());
        assert!(RelayTokens::parse(&format!("{a} {b}\n")).is_err());
        assert!(format!("{t:?}").contains("2 token(s)") && !format!("{t:?}").contains(&a));
    }

    #[test]
    fn the_token_file_must_be_private_and_present() {
        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("token");
        std::fs::write(&f, "x".repeat(32)).unwrap();
        std::fs::set_permissions(&f, std::fs::Permissions::from_mode(0o644)).unwrap();
        let e = RelayTokens::load(Some(&f)).unwrap_err().to_string();
        assert!(e.contains("mode 0644"), "{e}");
        std::fs::set_permissions(&f, std::fs::Permissions::from_mode(0o600)).unwrap();
        assert!(RelayTokens::load(Some(&f)).is_ok());
        let link = dir.path().join("link");
        std::os::unix::fs::symlink(&f, &link).unwrap();
        assert!(RelayTokens::load(Some(&link)).is_err());
        assert!(matches!(RelayTokens::load(None), Err(TokenError::Missing)));
    }
}
