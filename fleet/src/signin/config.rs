//! The `signin:` section of fleet.yaml: session lifetimes, sign-in rate limits and the
//! optional OIDC identity provider.

use crate::guard::EventRate;
use serde::Deserialize;
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

use super::roles::Role;

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct SigninConfig {
    /// A session unused this long ends (default 30m).
    #[serde(
        default = "idle",
        deserialize_with = "ferry_bundle::config_file::duration"
    )]
    pub idle_timeout: Duration,
    /// A session ends this long after sign-in, used or not (default 12h).
    #[serde(
        default = "absolute",
        deserialize_with = "ferry_bundle::config_file::duration"
    )]
    pub absolute_timeout: Duration,
    #[serde(default)]
    pub login_rate: LoginRate,
    pub oidc: Option<OidcConfig>,
}

impl Default for SigninConfig {
    fn default() -> Self {
        SigninConfig {
            idle_timeout: idle(),
            absolute_timeout: absolute(),
            login_rate: LoginRate::default(),
            oidc: None,
        }
    }
}

/// Sign-in attempts allowed per account name and per client address (token buckets).
#[derive(Debug, Clone, Copy, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct LoginRate {
    #[serde(default = "per_account")]
    pub per_account: EventRate,
    #[serde(default = "per_address")]
    pub per_address: EventRate,
}

impl Default for LoginRate {
    fn default() -> Self {
        LoginRate {
            per_account: per_account(),
            per_address: per_address(),
        }
    }
}

fn per_account() -> EventRate {
    EventRate {
        burst: 5,
        per_minute: 2,
    }
}
fn per_address() -> EventRate {
    EventRate {
        burst: 20,
        per_minute: 10,
    }
}
fn idle() -> Duration {
    Duration::from_secs(30 * 60)
}
fn absolute() -> Duration {
    Duration::from_secs(12 * 3600)
}

/// The identity provider (OpenID Connect, authorization code flow with PKCE).
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct OidcConfig {
    /// The issuer URL; its `/.well-known/openid-configuration` is read at start. HTTPS, or
    /// `http://127.0.0.1`/`localhost` for tests.
    pub issuer: String,
    pub client_id: String,
    /// File holding the client secret (client_secret_basic); without it the client is public.
    pub client_secret_file: Option<PathBuf>,
    /// Where the provider sends the browser back: `https://FLEET/oidc/callback`.
    pub redirect_url: String,
    /// Scopes asked for besides `openid` (e.g. `profile`, `groups`).
    #[serde(default)]
    pub scopes: Vec<String>,
    /// The claim naming the user (default `sub`; e.g. `preferred_username`, `email`).
    #[serde(default = "sub")]
    pub username_claim: String,
    /// The claim holding role names or groups (a string or an array of strings).
    pub role_claim: Option<String>,
    /// Claim values to roles (e.g. `{fleet-operators: operator}`); the highest match wins.
    #[serde(default)]
    pub roles: BTreeMap<String, Role>,
    /// The role when nothing matches; without it such a user is refused.
    pub default_role: Option<Role>,
    /// CA bundle for the provider's HTTPS (default: the system's).
    pub ca_file: Option<PathBuf>,
}

fn sub() -> String {
    "sub".into()
}

#[cfg(test)]
mod tests {
    use crate::config::FleetConfig;
    use std::path::Path;
    use std::time::Duration;

    #[test]
    fn the_signin_section_parses_with_defaults_and_relative_paths() {
        let base = "listen: x\ntls: {cert: a, key: b}\ntokens: t\nstore: {sqlite: f}\n";
        let c = FleetConfig::parse(Path::new("/etc/f/fleet.yaml"), base).unwrap();
        assert_eq!(c.signin.idle_timeout, Duration::from_secs(1800));
        assert_eq!(c.signin.login_rate.per_account.burst, 5);
        let text = format!(
            "{base}signin:\n  absoluteTimeout: 1h\n  oidc: {{issuer: https://idp, clientId: fleet, clientSecretFile: s, redirectUrl: https://f/oidc/callback, roleClaim: groups, roles: {{ops: operator}}}}\n"
        );
        let c = FleetConfig::parse(Path::new("/etc/f/fleet.yaml"), &text).unwrap();
        assert_eq!(c.signin.absolute_timeout, Duration::from_secs(3600));
        let o = c.signin.oidc.unwrap();
        assert_eq!(o.client_secret_file.unwrap(), Path::new("/etc/f/s"));
        assert_eq!(o.username_claim, "sub");
        let bad = format!("{base}signin: {{roles: x}}\n");
        assert!(
            FleetConfig::parse(Path::new("f.yaml"), &bad).is_err(),
            "unknown field"
        );
    }
}
