//! Cross-site request forgery (pure decisions). Two checks on every state-changing request
//! made with a session cookie: the synchronizer token (derived from the session id, so bound
//! to the session and unknown to any other site; compared in constant time), and the request's
//! own origin (`Sec-Fetch-Site: same-origin`, or an `Origin` equal to ours). Requests with an
//! API token carry no ambient credential and need neither.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

/// The form field (or `X-CSRF-Token` header) holding the token.
pub const FIELD: &str = "csrf";

/// The CSRF token of a session (or of a pre-sign-in cookie): a hash of its secret, so it can
/// be put in a page without revealing the secret.
pub fn token(secret: &str) -> String {
    let mut h = Sha256::new();
    h.update(b"ferry-fleet csrf v1\0");
    h.update(secret.as_bytes());
    URL_SAFE_NO_PAD.encode(h.finalize())
}

/// Is `got` the token of `secret`? (constant time)
pub fn valid(secret: &str, got: &str) -> bool {
    let want = token(secret);
    want.len() == got.len() && bool::from(want.as_bytes().ct_eq(got.as_bytes()))
}

/// Did the browser send this request from our own pages? `Sec-Fetch-Site` (every current
/// browser sends it) must be `same-origin`; without it, an `Origin` must be `https://HOST`
/// with our `Host`. A request with neither (not a browser) passes here; the token still holds.
pub fn same_origin(headers: &axum::http::HeaderMap) -> Result<(), &'static str> {
    let get = |n: &str| headers.get(n).and_then(|v| v.to_str().ok());
    if let Some(site) = get("sec-fetch-site") {
        return (site == "same-origin")
            .then_some(())
            .ok_or("cross-site request (Sec-Fetch-Site)");
    }
    if let Some(origin) = get("origin") {
        let host = get("host").unwrap_or("");
        return (origin == format!("https://{host}"))
            .then_some(())
            .ok_or("cross-origin request (Origin)");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderMap;

    #[test]
    fn token_is_bound_to_its_secret() {
        let t = token("s1");
        assert!(valid("s1", &t));
        assert!(!valid("s2", &t));
        assert!(!valid("s1", ""));
    }

    #[test]
    fn origin_checks() {
        let mut h = HeaderMap::new();
        assert!(same_origin(&h).is_ok());
        h.insert("host", "fleet:8443".parse().unwrap());
        h.insert("origin", "https://evil".parse().unwrap());
        assert!(same_origin(&h).is_err());
        h.insert("origin", "https://fleet:8443".parse().unwrap());
        assert!(same_origin(&h).is_ok());
        h.insert("sec-fetch-site", "cross-site".parse().unwrap());
        assert!(same_origin(&h).is_err());
        h.insert("sec-fetch-site", "same-origin".parse().unwrap());
        assert!(same_origin(&h).is_ok());
    }
}
