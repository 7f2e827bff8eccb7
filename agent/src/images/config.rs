//! `images:` in agent.yaml (the mirror's listener) and on each sync (the image names it owns).

use serde::Deserialize;

/// The image mirror containerd pulls through (see docs/images.md).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ImagesConfig {
    /// Loopback address to serve on, e.g. `127.0.0.1:5001`.
    pub listen: String,
}

/// The images a sync owns on this node: its mirror serves a tag only for the sync whose
/// `prefixes` cover it. Without prefixes, the only sync of a configuration owns every name;
/// with several syncs, each that carries images lists its own (no two may overlap).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SyncImages {
    #[serde(default)]
    pub prefixes: Vec<ferry_bundle::images::ImagePrefix>,
}
