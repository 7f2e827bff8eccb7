//! Size limits a device enforces on every bundle, before and while reading it, and on what it
//! renders to. Every arithmetic on them saturates, so `u64::MAX` means "no limit", not a
//! panic.

use serde::{Deserialize, Serialize};

/// Bounds on what one bundle may make a device read or store.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default, deny_unknown_fields)]
pub struct Limits {
    /// Largest accepted `bundle.yaml`.
    pub max_manifest_bytes: u64,
    /// Largest accepted signature file.
    pub max_signature_bytes: u64,
    /// Most files one bundle may list.
    pub max_files: usize,
    /// Largest single content file.
    pub max_file_bytes: u64,
    /// Largest sum of all content files.
    pub max_total_bytes: u64,
    /// Longest path of a content file, in bytes.
    pub max_path_bytes: usize,
    /// Most Kubernetes objects one bundle may render to (items of a `List` count one each).
    pub max_objects: usize,
    /// Largest single rendered object, as JSON (etcd's own limit is 1.5 MiB).
    pub max_object_bytes: u64,
    /// Largest sum of all rendered objects, as JSON.
    pub max_rendered_bytes: u64,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_manifest_bytes: 1024 * 1024,
            max_signature_bytes: 4 * 1024,
            max_files: 4096,
            max_file_bytes: 16 * 1024 * 1024,
            max_total_bytes: 64 * 1024 * 1024,
            max_path_bytes: 512,
            max_objects: 10_000,
            max_object_bytes: 1_572_864,
            max_rendered_bytes: 64 * 1024 * 1024,
        }
    }
}
