//! Size limits a device enforces on every bundle, before and while reading it.

use serde::{Deserialize, Serialize};

/// Bounds on what one bundle may make a device read or store.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
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
        }
    }
}
