//! Object identities and desired objects (pure data).

use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::fmt;

/// Identifies an object across revisions: group, kind, namespace, name (not version).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct ObjectId {
    pub group: String,
    pub kind: String,
    pub namespace: String,
    pub name: String,
}

impl fmt::Display for ObjectId {
    /// `Deployment/demo/web`, `Namespace/demo`, `Sensor.edge.example.com/default/t`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let kind = if self.group.is_empty() {
            self.kind.clone()
        } else {
            format!("{}.{}", self.kind, self.group)
        };
        if self.namespace.is_empty() {
            write!(f, "{kind}/{}", self.name)
        } else {
            write!(f, "{kind}/{}/{}", self.namespace, self.name)
        }
    }
}

/// One object a revision wants, with where it came from.
///
/// The object is kept as its compact JSON text, not as a `serde_json::Value` tree: a small
/// ConfigMap is ~400 bytes of text but ~3 KB of map nodes and strings, and a sync holds every
/// desired object for the whole pass. [`DesiredObject::manifest`] parses it again where a
/// tree is needed (one object at a time).
#[derive(Debug, Clone, PartialEq)]
pub struct DesiredObject {
    pub id: ObjectId,
    pub api_version: String,
    /// `file#index` in the bundle.
    pub origin: String,
    /// The object to apply (labels added, namespace defaulted), as compact JSON; wiped when
    /// dropped (it may hold a Secret decrypted from a SOPS file).
    json: zeroize::Zeroizing<Box<str>>,
    /// sha256 of `json` (the canonical JSON of the object).
    pub hash: String,
}

impl DesiredObject {
    pub fn new(
        api_version: String,
        kind: String,
        namespace: String,
        origin: String,
        mut manifest: Value,
    ) -> Self {
        let (group, _) = crate::kube::discovery::split_api_version(&api_version);
        let name = manifest["metadata"]["name"]
            .as_str()
            .unwrap_or_default()
            .to_string();
        let json = serde_json::to_string(&manifest).unwrap_or_default();
        let hash = ferry_bundle::digest::sha256_hex(json.as_bytes());
        // The tree may hold a Secret decrypted from a SOPS file: wiped, not just freed.
        ferry_bundle::sops::wipe(&mut manifest);
        DesiredObject {
            id: ObjectId {
                group,
                kind,
                namespace,
                name,
            },
            api_version,
            origin,
            json: zeroize::Zeroizing::new(json.into_boxed_str()),
            hash,
        }
    }

    /// The object as a JSON tree (parsed from its text; fails only past serde_json's nesting
    /// limit of 128 levels).
    pub fn manifest(&self) -> Result<Value, serde_json::Error> {
        serde_json::from_str(&self.json)
    }

    /// The object's compact JSON text (what [`DesiredObject::hash`] is the digest of).
    pub fn json(&self) -> &str {
        &self.json
    }
}

/// sha256 of a value's JSON (serde_json maps are ordered, so this is canonical).
pub fn hash_value(v: &Value) -> String {
    ferry_bundle::digest::sha256_hex(&serde_json::to_vec(v).unwrap_or_default())
}

/// What the inventory remembers of an applied object.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct InventoryEntry {
    pub id: ObjectId,
    pub api_version: String,
    pub hash: String,
}

impl From<&DesiredObject> for InventoryEntry {
    fn from(d: &DesiredObject) -> Self {
        InventoryEntry {
            id: d.id.clone(),
            api_version: d.api_version.clone(),
            hash: d.hash.clone(),
        }
    }
}
