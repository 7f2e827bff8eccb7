//! Server-side sessions (pure decisions): a random 256-bit id is the cookie's value, only its
//! SHA-256 is stored; the cookie is `__Host-ferry_session` with `Secure; HttpOnly;
//! SameSite=Lax; Path=/` (the `__Host-` prefix makes the browser refuse it from a subdomain or
//! over plain HTTP, and without `Domain`); a session ends after `idleTimeout` without a request
//! or `absoluteTimeout` after sign-in, whichever comes first. A new id is made at every
//! sign-in (no session fixation). The post-login return path is only ever a same-origin
//! relative path.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use ring::rand::{SecureRandom, SystemRandom};
use sha2::{Digest, Sha256};
use std::time::Duration;

/// The session cookie.
pub const COOKIE: &str = "__Host-ferry_session";
/// The pre-sign-in cookie the login form's CSRF token is bound to.
pub const LOGIN_COOKIE: &str = "__Host-ferry_login";
/// Longest cookie value read.
const MAX_COOKIE: usize = 128;

#[derive(Debug, thiserror::Error)]
#[error("the system random generator failed")]
pub struct RandomError;

/// `N` bytes from the operating system's random generator.
pub fn random<const N: usize>() -> Result<[u8; N], RandomError> {
    let mut b = [0u8; N];
    SystemRandom::new().fill(&mut b).map_err(|_| RandomError)?;
    Ok(b)
}

/// A new secret: 256 random bits, base64url (43 characters).
pub fn new_secret() -> Result<String, RandomError> {
    Ok(URL_SAFE_NO_PAD.encode(random::<32>()?))
}

/// What is stored for a secret (session id, API token): its SHA-256, hex.
pub fn hash_secret(secret: &str) -> String {
    hex::encode(Sha256::digest(secret.as_bytes()))
}

/// The value of cookie `name` in the request's `Cookie` headers (bounded, first match).
pub fn cookie<'a>(headers: &'a axum::http::HeaderMap, name: &str) -> Option<&'a str> {
    headers
        .get_all(axum::http::header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|kv| kv.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v)
        .filter(|v| !v.is_empty() && v.len() <= MAX_COOKIE)
}

/// `Set-Cookie` for `name=value` with the attributes every ferry cookie carries.
pub fn set_cookie(name: &str, value: &str, same_site: &str) -> String {
    format!("{name}={value}; Secure; HttpOnly; SameSite={same_site}; Path=/")
}

/// `Set-Cookie` that removes `name`.
pub fn clear_cookie(name: &str) -> String {
    format!("{name}=; Secure; HttpOnly; SameSite=Lax; Path=/; Max-Age=0")
}

/// Session lifetimes.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Lifetimes {
    pub idle: Duration,
    pub absolute: Duration,
}

/// Is a session made at `created` and last used at `last_used` still valid at `now`?
pub fn alive(created: i64, last_used: i64, now: i64, l: Lifetimes) -> bool {
    now.saturating_sub(last_used) < l.idle.as_secs() as i64
        && now.saturating_sub(created) < l.absolute.as_secs() as i64
}

/// Longest return path kept.
const MAX_NEXT: usize = 512;

/// The post-login return path: `next` when it is a same-origin relative path (starts with one
/// `/`, not `//` or `/\`, no scheme, no control characters or backslashes, bounded), else `/`.
pub fn safe_next(next: Option<&str>) -> String {
    match next {
        Some(n)
            if n.starts_with('/')
                && !n.starts_with("//")
                && n.len() <= MAX_NEXT
                && n.bytes().all(|b| b.is_ascii_graphic() && b != b'\\') =>
        {
            n.to_string()
        }
        _ => "/".into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderMap;

    #[test]
    fn secrets_are_256_bits_and_stored_hashed() {
        let a = new_secret().unwrap();
        assert_eq!(a.len(), 43);
        assert_ne!(a, new_secret().unwrap());
        assert_eq!(hash_secret(&a).len(), 64);
        assert_ne!(hash_secret(&a), a);
    }

    #[test]
    fn cookies_and_expiry() {
        let mut h = HeaderMap::new();
        h.insert(
            "cookie",
            "a=1; __Host-ferry_session=xyz; b=2".parse().unwrap(),
        );
        assert_eq!(cookie(&h, COOKIE), Some("xyz"));
        assert_eq!(cookie(&h, "c"), None);
        let s = set_cookie(COOKIE, "v", "Lax");
        assert!(s.contains("Secure; HttpOnly; SameSite=Lax; Path=/"));
        let l = Lifetimes {
            idle: Duration::from_secs(60),
            absolute: Duration::from_secs(600),
        };
        assert!(alive(0, 0, 59, l));
        assert!(!alive(0, 0, 60, l), "idle");
        assert!(alive(0, 550, 599, l));
        assert!(!alive(0, 590, 600, l), "absolute");
    }

    #[test]
    fn only_same_origin_relative_return_paths() {
        assert_eq!(
            safe_next(Some("/devices?status=stale")),
            "/devices?status=stale"
        );
        for bad in [
            "https://evil.example/",
            "//evil.example/",
            "/\\evil.example",
            "evil",
            "/a\nb",
            "javascript:alert(1)",
            "/%0d",
        ] {
            let got = safe_next(Some(bad));
            assert!(got == "/" || got == bad && bad == "/%0d", "{bad} -> {got}");
        }
        assert_eq!(safe_next(None), "/");
    }
}
