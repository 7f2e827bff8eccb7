//! `metrics:` in agent.yaml: the textfile and the localhost listener.

use serde::Deserialize;
use std::path::PathBuf;

/// Prometheus metrics output.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct MetricsConfig {
    /// node_exporter textfile-collector file, written atomically after every pass.
    pub textfile: Option<PathBuf>,
    /// Serve `/metrics` on this address (keep it on localhost), e.g. 127.0.0.1:9465.
    pub listen: Option<String>,
}
