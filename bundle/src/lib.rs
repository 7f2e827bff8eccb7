//! ferry's bundle format: the one contract between a publisher and a device.
//!
//! A bundle is a small signed manifest (`bundle.yaml` + `bundle.yaml.minisig`) listing content
//! files by path, size and sha256. This crate builds, signs, encodes and verifies bundles. It does
//! no network IO except [`registry`], the small OCI client `ferry-bundle push` and the agent
//! share; the other transports (HTTP, Git, USB) live in the agent and all end in [`verify`].
//!
//! The format is specified in `docs/bundle-format.md`.

pub mod archive;
pub mod config_file;
pub mod digest;
pub mod host;
pub mod images;
pub mod keys;
pub mod layout;
pub mod limits;
pub mod local;
pub mod manifest;
pub mod oci;
pub mod oci_auth;
pub mod oci_wire;
pub mod paths;
pub mod registry;
pub mod render;
pub mod safe_open;
pub mod sign;
pub mod sops;
pub mod source_dir;
pub mod targets;
pub mod text;
pub mod tls;
pub mod verify;
pub mod yaml;

pub use keys::{SigningKey, TrustedKeys};
pub use limits::Limits;
pub use manifest::{FileEntry, Manifest, Rollout, Targets};
pub use verify::{Device, Verdict, VerifiedManifest, VerifyError, VerifyPolicy};

/// File name of the manifest inside every encoding.
pub const MANIFEST_FILE: &str = "bundle.yaml";
/// File name of the manifest's detached minisign signature.
pub const SIGNATURE_FILE: &str = "bundle.yaml.minisig";
/// `apiVersion` every manifest carries.
pub const API_VERSION: &str = "ferry.dev/v1";
/// `kind` every manifest carries.
pub const KIND: &str = "Bundle";

/// Renders an error and its causes as one line, skipping a cause whose text the line already
/// holds (many errors repeat their source in their own message).
pub fn error_chain(err: &(dyn std::error::Error + 'static)) -> String {
    let mut line = err.to_string();
    let mut cur = err.source();
    while let Some(e) = cur {
        let text = e.to_string();
        if !line.contains(&text) {
            line.push_str(": ");
            line.push_str(&text);
        }
        cur = e.source();
    }
    line
}
