//! Impersonation and a deliberately simple RBAC: the admin (client certificate or token) may
//! do anything and impersonate anyone; an impersonated user may act in a namespace where a
//! RoleBinding names it (or one of its groups), and everywhere when a ClusterRoleBinding does.
//! The roles' rules are not evaluated: a binding grants everything in its scope.

use super::errors::ApiError;
use super::resources::ResourceType;
use super::store::State;
use serde_json::Value;

/// Who a request acts as.
#[derive(Debug, Clone)]
pub struct Identity {
    pub user: String,
    pub groups: Vec<String>,
    pub admin: bool,
}

fn subject_matches(binding: &Value, id: &Identity) -> bool {
    binding["subjects"]
        .as_array()
        .into_iter()
        .flatten()
        .any(|s| match s["kind"].as_str() {
            Some("User") => s["name"] == id.user.as_str(),
            Some("Group") => id.groups.iter().any(|g| s["name"] == g.as_str()),
            _ => false,
        })
}

/// Allows or refuses `verb` on `rt` in `namespace` (None for cluster scope).
pub fn authorize(
    state: &State,
    id: &Identity,
    verb: &str,
    rt: &ResourceType,
    namespace: Option<&str>,
    name: Option<&str>,
) -> Result<(), ApiError> {
    if id.admin {
        return Ok(());
    }
    let bindings = |kind: &str, ns: Option<&str>| -> bool {
        let Some(brt) = state.rt_by_kind("rbac.authorization.k8s.io", kind) else {
            return false;
        };
        state.list(&brt, ns).iter().any(|b| subject_matches(b, id))
    };
    if bindings("ClusterRoleBinding", None) {
        return Ok(());
    }
    if let Some(ns) = namespace.filter(|_| rt.namespaced) {
        if bindings("RoleBinding", Some(ns)) {
            return Ok(());
        }
    }
    let what = match name {
        Some(n) => format!("{} \"{n}\"", rt.qualified()),
        None => rt.qualified(),
    };
    let scope = match namespace.filter(|_| rt.namespaced) {
        Some(ns) => format!(" in the namespace \"{ns}\""),
        None => " at the cluster scope".to_string(),
    };
    Err(ApiError::new(
        403,
        "Forbidden",
        format!("{what} is forbidden: User \"{}\" cannot {verb} resource \"{}\" in API group \"{}\"{scope}", id.user, rt.plural, rt.group),
    ))
}
