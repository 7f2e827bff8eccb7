//! Writing to a repository: blob uploads (in memory or streamed from a file), manifests, and
//! [`push_bundle`], which pushes a signed bundle as a ferry or flux artifact.

use super::{Registry, RegistryError};
use crate::oci;

impl Registry {
    /// Uploads the file at `path` as blob `digest`, streaming it (never read whole).
    pub fn push_blob_file(
        &self,
        digest: &str,
        path: &std::path::Path,
    ) -> Result<(), RegistryError> {
        let invalid = |e: std::io::Error| RegistryError::Invalid {
            registry: self.reference.registry.clone(),
            what: format!("blob {digest}"),
            reason: format!("{}: {e}", path.display()),
        };
        let file = std::fs::File::open(path).map_err(invalid)?;
        let size = file.metadata().map_err(invalid)?.len();
        let url = self.upload_url(digest)?;
        *self.requests.lock().unwrap_or_else(|e| e.into_inner()) += 1;
        let mut b = ureq::http::Request::builder()
            .method("PUT")
            .uri(&url)
            .header("Content-Type", "application/octet-stream")
            .header("Content-Length", size.to_string());
        if let Some(a) = self.auth.lock().unwrap_or_else(|e| e.into_inner()).as_ref() {
            b = b.header("Authorization", a);
        }
        let req = b.body(file).map_err(|e| self.unreachable(e))?;
        let mut resp = self.agent.run(req).map_err(|e| self.unreachable(e))?;
        if resp.status().as_u16() != 201 {
            return Err(self.status(&format!("upload {digest}"), &mut resp));
        }
        Ok(())
    }

    /// Starts an upload session; returns the URL to PUT blob `digest` to.
    fn upload_url(&self, digest: &str) -> Result<String, RegistryError> {
        let mut resp = self.send("POST", &self.repo_path("blobs/uploads/"), &[], Some(&[]))?;
        if resp.status().as_u16() != 202 {
            return Err(self.status("start upload", &mut resp));
        }
        let location = resp
            .headers()
            .get("location")
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_string();
        let location = if location.starts_with('/') {
            format!("{}{location}", self.base)
        } else {
            location
        };
        let sep = if location.contains('?') { '&' } else { '?' };
        Ok(format!("{location}{sep}digest={digest}"))
    }

    /// Uploads a blob in one request (POST for a session, then PUT with the digest).
    pub fn push_blob(&self, digest: &str, data: &[u8]) -> Result<(), RegistryError> {
        let url = self.upload_url(digest)?;
        let ct = [("Content-Type", "application/octet-stream".to_string())];
        let mut resp = self.send("PUT", &url, &ct, Some(data))?;
        if resp.status().as_u16() != 201 {
            return Err(self.status(&format!("upload {digest}"), &mut resp));
        }
        Ok(())
    }

    /// Stores a manifest of any media type under `tag` (a tag or its digest).
    pub fn put_manifest_typed(
        &self,
        tag: &str,
        media_type: &str,
        bytes: &[u8],
    ) -> Result<String, RegistryError> {
        let ct = [("Content-Type", media_type.to_string())];
        let mut resp = self.send(
            "PUT",
            &self.repo_path(&format!("manifests/{tag}")),
            &ct,
            Some(bytes),
        )?;
        if resp.status().as_u16() != 201 {
            return Err(self.status(&format!("manifest {tag}"), &mut resp));
        }
        Ok(format!("sha256:{}", crate::digest::sha256_hex(bytes)))
    }

    /// Stores a manifest under `tag`; returns its digest.
    pub fn put_manifest(&self, tag: &str, bytes: &[u8]) -> Result<String, RegistryError> {
        let ct = [("Content-Type", oci::OCI_MANIFEST_MEDIA_TYPE.to_string())];
        let mut resp = self.send(
            "PUT",
            &self.repo_path(&format!("manifests/{tag}")),
            &ct,
            Some(bytes),
        )?;
        if resp.status().as_u16() != 201 {
            return Err(self.status(&format!("manifest {tag}"), &mut resp));
        }
        Ok(format!("sha256:{}", crate::digest::sha256_hex(bytes)))
    }
}

/// Which artifact layout to push.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PushFormat {
    /// Manifest, signature and one layer per file (delta-friendly).
    Ferry,
    /// One tar+gzip content layer, as `flux push artifact` makes it.
    Flux,
}

/// Pushes the signed plain bundle in `dir` under `tag`, skipping blobs the registry has.
/// Returns the manifest digest and how many blobs were uploaded.
pub fn push_bundle(
    registry: &Registry,
    dir: &std::path::Path,
    m: &crate::Manifest,
    manifest_bytes: &[u8],
    signature: &str,
    tag: &str,
    format: PushFormat,
) -> Result<(String, usize), RegistryError> {
    let invalid = |what: &str, e: std::io::Error| RegistryError::Invalid {
        registry: registry.reference.registry.clone(),
        what: what.into(),
        reason: e.to_string(),
    };
    let mut blobs: Vec<(oci::Layer, Vec<u8>)> = Vec::new();
    let (config_type, artifact_type) = match format {
        PushFormat::Flux => {
            let mut tgz = Vec::new();
            crate::archive::write(dir, m, manifest_bytes, signature, &mut tgz)
                .map_err(|e| invalid("content layer", e))?;
            let layer = oci::Layer {
                media_type: oci::FLUX_CONTENT_MEDIA_TYPE.into(),
                digest: format!("sha256:{}", crate::digest::sha256_hex(&tgz)),
                size: tgz.len() as u64,
                title: String::new(),
            };
            blobs.push((layer, tgz));
            (oci::FLUX_CONFIG_MEDIA_TYPE, None)
        }
        PushFormat::Ferry => {
            for layer in oci::ferry_layers(m, manifest_bytes, signature) {
                let data = match layer.media_type.as_str() {
                    oci::MANIFEST_MEDIA_TYPE => manifest_bytes.to_vec(),
                    oci::SIGNATURE_MEDIA_TYPE => signature.as_bytes().to_vec(),
                    _ => std::fs::read(dir.join(&layer.title))
                        .map_err(|e| invalid(&layer.title, e))?,
                };
                blobs.push((layer, data));
            }
            (oci::EMPTY_CONFIG_MEDIA_TYPE, Some(oci::FERRY_ARTIFACT_TYPE))
        }
    };
    let config_digest = format!("sha256:{}", crate::digest::sha256_hex(oci::EMPTY_CONFIG));
    if !registry.blob_exists(&config_digest)? {
        registry.push_blob(&config_digest, oci::EMPTY_CONFIG)?;
    }
    let mut uploaded = 0;
    for (layer, data) in &blobs {
        if !registry.blob_exists(&layer.digest)? {
            registry.push_blob(&layer.digest, data)?;
            uploaded += 1;
        }
    }
    let mut layers: Vec<oci::Layer> = blobs.into_iter().map(|(l, _)| l).collect();
    // Image blobs stream from `blobs/sha256` and are listed as layers, so the registry keeps
    // them with the artifact; devices fetch them by digest like file layers.
    for (sha256, blob) in crate::images::distinct_blobs(&m.images) {
        let layer = oci::Layer {
            media_type: oci::IMAGE_BLOB_MEDIA_TYPE.into(),
            digest: format!("sha256:{sha256}"),
            size: blob.size,
            title: crate::layout::blob_rel(&sha256),
        };
        if !registry.blob_exists(&layer.digest)? {
            registry.push_blob_file(&layer.digest, &crate::layout::blob_path(dir, &sha256))?;
            uploaded += 1;
        }
        layers.push(layer);
    }
    let annotations: std::collections::BTreeMap<String, String> = [
        ("org.opencontainers.image.title".to_string(), m.name.clone()),
        (
            "org.opencontainers.image.version".to_string(),
            m.revision.to_string(),
        ),
        (
            "org.opencontainers.image.created".to_string(),
            m.created.to_string(),
        ),
    ]
    .into();
    let doc = oci::image_manifest(
        artifact_type,
        config_type,
        oci::EMPTY_CONFIG,
        &layers,
        &annotations,
    );
    Ok((registry.put_manifest(tag, &doc)?, uploaded))
}
