//! Reading from a repository: manifest digests (HEAD), manifests by tag or digest, tag lists
//! and blobs.

use super::{Registry, RegistryError};
use crate::oci;
use std::io::Read;

/// Largest tag list read ([`crate::oci_wire::MAX_TAGS`] tags of up to 128 characters fit).
pub const MAX_TAG_LIST_BYTES: u64 = 2 * 1024 * 1024;

impl Registry {
    /// The digest of the manifest `target` points to (one HEAD request), None if absent.
    pub fn manifest_digest(&self, target: &str) -> Result<Option<String>, RegistryError> {
        let accept = [("Accept", oci::OCI_MANIFEST_MEDIA_TYPE.to_string())];
        let mut resp = self.send(
            "HEAD",
            &self.repo_path(&format!("manifests/{target}")),
            &accept,
            None,
        )?;
        match resp.status().as_u16() {
            200 => Ok(resp
                .headers()
                .get("docker-content-digest")
                .and_then(|v| v.to_str().ok())
                .map(str::to_string)),
            404 => Ok(None),
            _ => Err(self.status(&format!("manifest {target}"), &mut resp)),
        }
    }

    /// The manifest bytes and digest (checked against the digest when `target` is one).
    pub fn manifest(&self, target: &str) -> Result<(Vec<u8>, String), RegistryError> {
        self.manifest_accepting(target, &[oci::OCI_MANIFEST_MEDIA_TYPE], 4 * 1024 * 1024)
            .map(|(bytes, digest, _)| (bytes, digest))
    }

    /// A manifest or index by tag or digest, accepting the given media types: its bytes,
    /// digest (checked when `target` is a digest) and the media type the registry answered with.
    /// Used to pull container images, whose top level may be an index.
    pub fn manifest_accepting(
        &self,
        target: &str,
        accept: &[&str],
        max_bytes: u64,
    ) -> Result<(Vec<u8>, String, String), RegistryError> {
        let accept = [("Accept", accept.join(", "))];
        let mut resp = self.send(
            "GET",
            &self.repo_path(&format!("manifests/{target}")),
            &accept,
            None,
        )?;
        if resp.status().as_u16() != 200 {
            return Err(self.status(&format!("manifest {target}"), &mut resp));
        }
        let media_type = resp
            .headers()
            .get("content-type")
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_string();
        let bytes = self.read_limited(&mut resp, max_bytes, &format!("manifest {target}"))?;
        let digest = format!("sha256:{}", crate::digest::sha256_hex(&bytes));
        if target.starts_with("sha256:") && target != digest {
            return Err(RegistryError::Invalid {
                registry: self.reference.registry.clone(),
                what: format!("manifest {target}"),
                reason: format!("content has digest {digest}"),
            });
        }
        Ok((bytes, digest, media_type))
    }

    /// Every tag of the repository (at most [`crate::oci_wire::MAX_TAGS`], in at most
    /// [`MAX_TAG_LIST_BYTES`]).
    pub fn tags(&self) -> Result<Vec<String>, RegistryError> {
        let mut resp = self.send("GET", &self.repo_path("tags/list"), &[], None)?;
        if resp.status().as_u16() != 200 {
            return Err(self.status("tags/list", &mut resp));
        }
        let bytes = self.read_limited(&mut resp, MAX_TAG_LIST_BYTES, "tags/list")?;
        crate::oci_wire::parse_tags(&bytes).map_err(|reason| RegistryError::Invalid {
            registry: self.reference.registry.clone(),
            what: "tags/list".into(),
            reason,
        })
    }

    /// A reader over a blob's content (the caller bounds and verifies it).
    pub fn blob(&self, digest: &str) -> Result<impl Read, RegistryError> {
        let mut resp = self.send(
            "GET",
            &self.repo_path(&format!("blobs/{digest}")),
            &[],
            None,
        )?;
        if resp.status().as_u16() != 200 {
            return Err(self.status(&format!("blob {digest}"), &mut resp));
        }
        Ok(resp.into_body().into_with_config().limit(u64::MAX).reader())
    }

    pub fn blob_exists(&self, digest: &str) -> Result<bool, RegistryError> {
        let mut resp = self.send(
            "HEAD",
            &self.repo_path(&format!("blobs/{digest}")),
            &[],
            None,
        )?;
        match resp.status().as_u16() {
            200 => Ok(true),
            404 => Ok(false),
            _ => Err(self.status(&format!("blob {digest}"), &mut resp)),
        }
    }
}
