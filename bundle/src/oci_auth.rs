//! Registry auth, pure: `WWW-Authenticate` challenges, which token realm may be asked and
//! whether it gets the registry credentials (never over plain HTTP from an HTTPS registry, only
//! on the registry's own origin or a configured one), and credentials from a docker
//! `config.json`. The registry client ([`crate::registry`]) does the IO.

use serde_json::Value;
use std::collections::BTreeMap;

/// A parsed `WWW-Authenticate` challenge.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Challenge {
    Basic,
    Bearer {
        realm: String,
        service: Option<String>,
        scope: Option<String>,
    },
}

/// Parses `Basic realm=".."` or `Bearer realm="..",service="..",scope=".."`.
pub fn parse_challenge(header: &str) -> Option<Challenge> {
    let (scheme, params) = header.trim().split_once(' ').unwrap_or((header.trim(), ""));
    let mut map = BTreeMap::new();
    let mut rest = params;
    while let Some(eq) = rest.find('=') {
        let key = rest[..eq]
            .trim()
            .trim_start_matches(',')
            .trim()
            .to_ascii_lowercase();
        let after = &rest[eq + 1..];
        let (value, next) = if let Some(q) = after.strip_prefix('"') {
            let end = q.find('"').unwrap_or(q.len());
            (&q[..end], q.get(end + 1..).unwrap_or(""))
        } else {
            let end = after.find(',').unwrap_or(after.len());
            (&after[..end], &after[end..])
        };
        map.insert(key, value.to_string());
        rest = next;
    }
    match scheme.to_ascii_lowercase().as_str() {
        "basic" => Some(Challenge::Basic),
        "bearer" => Some(Challenge::Bearer {
            realm: map.get("realm")?.clone(),
            service: map.get("service").cloned(),
            scope: map.get("scope").cloned(),
        }),
        _ => None,
    }
}

/// `scheme://host[:port]` of an `http(s)://` URL, lowercased; None for anything else.
pub fn origin(url: &str) -> Option<String> {
    let (scheme, rest) = url.split_once("://")?;
    let scheme = scheme.to_ascii_lowercase();
    if scheme != "http" && scheme != "https" {
        return None;
    }
    let authority = rest.split(['/', '?', '#']).next().unwrap_or_default();
    let host = authority.rsplit('@').next().unwrap_or_default();
    (!host.is_empty()).then(|| format!("{scheme}://{}", host.to_ascii_lowercase()))
}

/// Whether a token realm may be asked, and with the registry credentials (true) or without.
/// Refused: a realm that is not an `http(s)` URL, a plain-HTTP realm named by an HTTPS
/// registry (a downgrade), and a realm on another origin than `registry_base`'s when there
/// are credentials to send, unless that origin is in `allowed`. Without credentials a realm on
/// another host (a registry's separate token service) is asked anonymously.
pub fn realm_use(
    registry_base: &str,
    realm: &str,
    allowed: &[String],
    credentials: bool,
) -> Result<bool, String> {
    let shown = crate::text::bounded(realm, 200);
    let realm_origin =
        origin(realm).ok_or_else(|| format!("token realm {shown:?} is not an http(s) URL"))?;
    let own = origin(registry_base).unwrap_or_default();
    if own.starts_with("https://") && realm_origin.starts_with("http://") {
        return Err(format!(
            "token realm {shown} is plain HTTP for a registry reached over HTTPS: refused (the \
             credentials and the token would travel in clear)"
        ));
    }
    if !credentials || realm_origin == own {
        return Ok(credentials);
    }
    if allowed
        .iter()
        .any(|a| origin(a).is_some_and(|a| a == realm_origin))
    {
        return Ok(true);
    }
    Err(format!(
        "token realm {realm_origin} is not the registry's own origin ({own}): refused to send \
         the registry credentials there (list it in tokenRealms to allow it)"
    ))
}

/// Credentials for `registry` from a docker `config.json` (`auths.<host>.auth` or
/// `username`/`password`), as `user:password`.
pub fn docker_config_credentials(config_json: &str, registry: &str) -> Option<String> {
    use base64::Engine;
    let v: Value = serde_json::from_str(config_json).ok()?;
    let auths = v["auths"].as_object()?;
    let entry = auths.iter().find(|(k, _)| {
        let host = k
            .trim_start_matches("https://")
            .trim_start_matches("http://")
            .split('/')
            .next()
            .unwrap_or_default();
        host == registry
    })?;
    if let Some(a) = entry.1["auth"].as_str() {
        let decoded = base64::engine::general_purpose::STANDARD.decode(a).ok()?;
        return String::from_utf8(decoded).ok();
    }
    Some(format!(
        "{}:{}",
        entry.1["username"].as_str()?,
        entry.1["password"].as_str()?
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn challenges_and_docker_config() {
        assert_eq!(
            parse_challenge("Basic realm=\"Registry Realm\""),
            Some(Challenge::Basic)
        );
        assert_eq!(
            parse_challenge("Bearer realm=\"https://auth.io/token\",service=\"registry.io\",scope=\"repository:a/b:pull\""),
            Some(Challenge::Bearer { realm: "https://auth.io/token".into(), service: Some("registry.io".into()), scope: Some("repository:a/b:pull".into()) })
        );
        let cfg = r#"{"auths": {"127.0.0.1:5000": {"auth": "ZWRnZTpwdw=="}, "https://other.io/v1/": {"username": "u", "password": "p"}}}"#;
        assert_eq!(
            docker_config_credentials(cfg, "127.0.0.1:5000").as_deref(),
            Some("edge:pw")
        );
        assert_eq!(
            docker_config_credentials(cfg, "other.io").as_deref(),
            Some("u:p")
        );
        assert_eq!(docker_config_credentials(cfg, "nope"), None);
    }

    #[test]
    fn token_realms_get_credentials_only_on_the_registry_origin_or_an_allowed_one() {
        let reg = "https://reg.example.com:5000";
        let ok = |realm: &str, allowed: &[&str], creds: bool| {
            let allowed: Vec<String> = allowed.iter().map(|s| s.to_string()).collect();
            realm_use(reg, realm, &allowed, creds)
        };
        assert_eq!(
            ok("https://REG.example.com:5000/token", &[], true),
            Ok(true)
        );
        assert_eq!(ok("https://auth.example.com/token", &[], false), Ok(false));
        let e = ok("https://auth.example.com/token", &[], true).unwrap_err();
        assert!(e.contains("tokenRealms"), "{e}");
        assert_eq!(
            ok(
                "https://auth.example.com/token",
                &["https://auth.example.com"],
                true
            ),
            Ok(true)
        );
        // Another port or scheme is another origin; plain HTTP is never asked.
        assert!(ok("https://reg.example.com:5001/t", &[], true).is_err());
        for creds in [true, false] {
            let e = ok("http://reg.example.com:5000/token", &[], creds).unwrap_err();
            assert!(e.contains("plain HTTP"), "{e}");
        }
        assert!(ok("ftp://x/token", &[], false).is_err());
        assert_eq!(
            realm_use("http://reg:5000", "http://reg:5000/t", &[], true),
            Ok(true)
        );
    }
}
