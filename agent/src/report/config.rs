//! `statusObject:` in agent.yaml: the ConfigMap ferry keeps in the cluster for local tools.

use serde::Deserialize;

/// The status ConfigMap ferry keeps in the cluster for local tools.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct StatusObjectConfig {
    #[serde(default = "yes")]
    pub enabled: bool,
    #[serde(default = "default_status_namespace")]
    pub namespace: String,
}

impl Default for StatusObjectConfig {
    fn default() -> Self {
        StatusObjectConfig {
            enabled: true,
            namespace: default_status_namespace(),
        }
    }
}

fn default_status_namespace() -> String {
    "kube-system".into()
}

fn yes() -> bool {
    true
}
