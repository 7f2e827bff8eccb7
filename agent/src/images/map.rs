//! The image map the mirror answers from: the signed `images` sections of the revisions each
//! sync currently has applied, indexed by (registry, repository), each sync's entries only
//! where its [`ImagePolicy`] gives it the name (verification refuses the others; this keeps a
//! revision stored before a configuration change from serving a name it no longer owns).
//! Rebuilt only when an applied revision changes.

use crate::store::Store;
use ferry_bundle::images::{ImageEntry, ImageName, ImagePolicy};
use ferry_bundle::manifest::Manifest;
use std::sync::{Arc, Mutex};

/// One servable image: its parsed name and signed entry.
#[derive(Debug, Clone)]
pub struct MappedImage {
    pub name: ImageName,
    pub entry: ImageEntry,
}

/// The images the mirror may serve.
#[derive(Debug, Clone, Default)]
pub struct ImageMap {
    pub images: Vec<MappedImage>,
}

impl ImageMap {
    /// A map of signed entries (entries whose name does not parse are left out; the manifest
    /// check refuses those long before).
    pub fn new(entries: impl IntoIterator<Item = ImageEntry>) -> Self {
        ImageMap {
            images: entries
                .into_iter()
                .filter_map(|entry| {
                    Some(MappedImage {
                        name: entry.image_name().ok()?,
                        entry,
                    })
                })
                .collect(),
        }
    }

    /// The distinct registries named by the map (for per-registry `registries.yaml`).
    pub fn registries(&self) -> Vec<String> {
        let mut r: Vec<String> = self
            .images
            .iter()
            .map(|i| i.name.registry.clone())
            .collect();
        r.sort();
        r.dedup();
        r
    }
}

/// Builds the map from the applied revision of each named sync (with the names it owns),
/// caching it per set of applied bundle digests.
pub struct StoreMap {
    store: Arc<Store>,
    syncs: Vec<(String, ImagePolicy)>,
    cached: Mutex<(Vec<String>, Arc<ImageMap>)>,
}

impl StoreMap {
    pub fn new(store: Arc<Store>, syncs: Vec<(String, ImagePolicy)>) -> Self {
        StoreMap {
            store,
            syncs,
            cached: Mutex::new((Vec::new(), Arc::new(ImageMap::default()))),
        }
    }

    /// The current map.
    pub fn current(&self) -> Arc<ImageMap> {
        let applied: Vec<(String, &ImagePolicy)> = self
            .syncs
            .iter()
            .filter_map(|(s, policy)| Some((self.store.sync_state(s).ok()?.good?.digest, policy)))
            .collect();
        let digests: Vec<String> = applied.iter().map(|(d, _)| d.clone()).collect();
        let mut cached = self.cached.lock().unwrap_or_else(|e| e.into_inner());
        if cached.0 == digests && !digests.is_empty() {
            return cached.1.clone();
        }
        let entries = applied.iter().flat_map(|(d, policy)| {
            self.store
                .bundle(d)
                .ok()
                .flatten()
                .and_then(|(bytes, _)| Manifest::parse(&bytes).ok())
                .map(|m| m.images)
                .unwrap_or_default()
                .into_iter()
                .filter(|e| {
                    e.image_name()
                        .is_ok_and(|n| policy.allows(&n.registry, &n.repository))
                })
        });
        let map = Arc::new(ImageMap::new(entries.collect::<Vec<_>>()));
        *cached = (digests, map.clone());
        map
    }
}
