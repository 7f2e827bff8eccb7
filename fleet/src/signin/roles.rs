//! Who is asking and what they may do: two roles (viewer reads every page and the JSON API;
//! operator may also change things, today: retire a device) and the principal a request
//! carries once the gate accepted its session or API token.

use serde::Deserialize;

/// A role, lowest first: each role may do what the ones before it may.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Role {
    Viewer,
    Operator,
}

impl Role {
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Viewer => "viewer",
            Role::Operator => "operator",
        }
    }

    pub fn parse(s: &str) -> Option<Role> {
        match s {
            "viewer" => Some(Role::Viewer),
            "operator" => Some(Role::Operator),
            _ => None,
        }
    }

    /// May this role do what `needed` may?
    pub fn allows(self, needed: Role) -> bool {
        self >= needed
    }
}

/// How a request proved who it is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Via {
    /// A browser session; the CSRF token of its forms.
    Session { csrf: String },
    /// An API token (`Authorization: Bearer`); no ambient credential, so no CSRF check.
    Token,
}

/// The signed-in user or script of a request (a request extension set by the gate).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Principal {
    pub name: String,
    pub role: Role,
    pub via: Via,
}

impl Principal {
    /// The CSRF token for forms rendered for this principal (empty for API tokens).
    pub fn csrf(&self) -> &str {
        match &self.via {
            Via::Session { csrf } => csrf,
            Via::Token => "",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn operator_may_do_what_a_viewer_may() {
        assert!(Role::Operator.allows(Role::Viewer));
        assert!(!Role::Viewer.allows(Role::Operator));
        assert_eq!(Role::parse("operator"), Some(Role::Operator));
        assert_eq!(Role::parse("admin"), None);
    }
}
