//! Pulling an image from its registry at build time into `blobs/sha256/<hex>`: the upstream
//! top-level index or manifest is kept byte for byte; from an index only the manifests of the
//! selected platforms (and their configs and layers) are fetched. Every blob streams to disk
//! through sha256 and is checked against its descriptor (size and digest) before it is renamed
//! into place, so a layer never sits in memory and a wrong one never lands.

use super::{is_index_type, is_manifest_type, ImageBlob, ImageEntry, ImageLimits, ImageName};
use crate::registry::{Registry, RegistryError};
use serde_json::Value;
use sha2::{Digest, Sha256};
use std::fs;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use thiserror::Error;

#[derive(Debug, Error)]
pub enum PullError {
    #[error("image {image}: {source}")]
    Registry {
        image: String,
        source: RegistryError,
    },
    #[error("image {image}: {what}: {reason}")]
    Invalid {
        image: String,
        what: String,
        reason: String,
    },
    #[error("image {image}: no manifest for platform(s) {wanted} (the index offers {offered})")]
    NoPlatform {
        image: String,
        wanted: String,
        offered: String,
    },
    #[error("image {image}: blob {digest}: {reason}")]
    Blob {
        image: String,
        digest: String,
        reason: String,
    },
    #[error("writing {path}: {source}")]
    Write {
        path: PathBuf,
        source: std::io::Error,
    },
}

/// The Accept header for image pulls: indexes and manifests, OCI and Docker.
pub const ACCEPT: [&str; 4] = [
    super::OCI_INDEX,
    super::OCI_MANIFEST,
    super::DOCKER_LIST,
    super::DOCKER_MANIFEST,
];

/// The host serving a registry's API (`docker.io` is served by `registry-1.docker.io`).
pub fn api_host(registry: &str) -> &str {
    if registry == super::name::DOCKER_HUB {
        "registry-1.docker.io"
    } else {
        registry
    }
}

/// An OCI descriptor as it appears in indexes and manifests.
#[derive(Debug, Clone)]
struct Descriptor {
    media_type: String,
    digest: String,
    size: u64,
    platform: Option<String>,
}

fn descriptor(v: &Value) -> Option<Descriptor> {
    let platform = v.get("platform").map(|p| {
        let mut s = format!(
            "{}/{}",
            p["os"].as_str().unwrap_or_default(),
            p["architecture"].as_str().unwrap_or_default()
        );
        if let Some(var) = p["variant"].as_str() {
            s.push('/');
            s.push_str(var);
        }
        s
    });
    Some(Descriptor {
        media_type: v["mediaType"].as_str()?.to_string(),
        digest: v["digest"].as_str()?.to_string(),
        size: v["size"].as_u64()?,
        platform,
    })
}

/// True when the index entry's platform is one the bundle targets (`linux/arm` also matches
/// `linux/arm/v7` when no variant is asked for).
pub fn platform_matches(offered: &str, wanted: &[String]) -> bool {
    wanted.is_empty()
        || wanted.iter().any(|w| {
            offered == w || (w.matches('/').count() == 1 && offered.starts_with(&format!("{w}/")))
        })
}

/// One pull: an image, its registry client and where blobs go.
pub struct Puller<'a> {
    pub registry: &'a Registry,
    pub name: &'a ImageName,
    /// Platforms to keep (`os/arch[/variant]`); empty keeps all.
    pub platforms: &'a [String],
    /// `blobs/sha256` of the output bundle.
    pub blob_dir: &'a Path,
    pub limits: ImageLimits,
}

impl Puller<'_> {
    fn invalid(&self, what: &str, reason: impl ToString) -> PullError {
        PullError::Invalid {
            image: self.name.to_string(),
            what: what.into(),
            reason: reason.to_string(),
        }
    }

    fn registry_err(&self, source: RegistryError) -> PullError {
        PullError::Registry {
            image: self.name.to_string(),
            source,
        }
    }

    /// Pulls the image; returns its entry for the signed map.
    pub fn pull(&self) -> Result<ImageEntry, PullError> {
        fs::create_dir_all(self.blob_dir).map_err(|source| PullError::Write {
            path: self.blob_dir.into(),
            source,
        })?;
        let (bytes, digest, header_type) = self
            .registry
            .manifest_accepting(&self.name.target(), &ACCEPT, self.limits.max_manifest_bytes)
            .map_err(|e| self.registry_err(e))?;
        let doc: Value = serde_json::from_slice(&bytes).map_err(|e| self.invalid("manifest", e))?;
        let media_type = doc["mediaType"]
            .as_str()
            .map(str::to_string)
            .unwrap_or(header_type);
        if !is_manifest_type(&media_type) {
            return Err(self.invalid("manifest", format!("unsupported media type {media_type:?}")));
        }
        let mut blobs = vec![self.store_bytes(&bytes, &media_type)?];
        let mut platforms = Vec::new();
        if is_index_type(&media_type) {
            let entries: Vec<Descriptor> = doc["manifests"]
                .as_array()
                .map(|a| a.iter().filter_map(descriptor).collect())
                .unwrap_or_default();
            let offered: Vec<String> = entries.iter().filter_map(|d| d.platform.clone()).collect();
            let chosen: Vec<&Descriptor> = entries
                .iter()
                .filter(|d| {
                    d.platform.as_deref().is_some_and(|p| {
                        p != "unknown/unknown" && platform_matches(p, self.platforms)
                    })
                })
                .collect();
            if chosen.is_empty() {
                return Err(PullError::NoPlatform {
                    image: self.name.to_string(),
                    wanted: self.platforms.join(", "),
                    offered: offered.join(", "),
                });
            }
            for d in chosen {
                blobs.extend(self.pull_manifest(d)?);
                platforms.extend(d.platform.clone());
            }
        } else {
            blobs.extend(self.pull_children(&doc)?);
        }
        blobs.sort_by(|a, b| a.sha256.cmp(&b.sha256));
        blobs.dedup_by(|a, b| a.sha256 == b.sha256);
        platforms.sort();
        platforms.dedup();
        Ok(ImageEntry {
            name: self.name.to_string(),
            digest,
            platforms,
            blobs,
        })
    }

    /// An image manifest named by an index, then its config and layers.
    fn pull_manifest(&self, d: &Descriptor) -> Result<Vec<ImageBlob>, PullError> {
        if d.size > self.limits.max_manifest_bytes {
            return Err(self.invalid(&d.digest, "manifest above the size limit"));
        }
        let (bytes, _, _) = self
            .registry
            .manifest_accepting(&d.digest, &ACCEPT, self.limits.max_manifest_bytes)
            .map_err(|e| self.registry_err(e))?;
        if bytes.len() as u64 != d.size {
            return Err(self.invalid(&d.digest, "size differs from the index"));
        }
        let doc: Value = serde_json::from_slice(&bytes).map_err(|e| self.invalid(&d.digest, e))?;
        let mut out = vec![self.store_bytes(&bytes, &d.media_type)?];
        out.extend(self.pull_children(&doc)?);
        Ok(out)
    }

    /// The config and layers of an image manifest.
    fn pull_children(&self, doc: &Value) -> Result<Vec<ImageBlob>, PullError> {
        let mut children: Vec<Descriptor> = doc["config"]
            .as_object()
            .and_then(|_| descriptor(&doc["config"]))
            .into_iter()
            .collect();
        children.extend(
            doc["layers"]
                .as_array()
                .map(|a| a.iter().filter_map(descriptor).collect::<Vec<_>>())
                .unwrap_or_default(),
        );
        if children.is_empty() {
            return Err(self.invalid("manifest", "no config or layers"));
        }
        children.iter().map(|d| self.stream_blob(d)).collect()
    }

    fn blob_hex<'d>(&self, digest: &'d str) -> Result<&'d str, PullError> {
        digest
            .strip_prefix("sha256:")
            .filter(|h| crate::digest::is_sha256_hex(h))
            .ok_or_else(|| self.invalid(digest, "not a sha256 digest"))
    }

    fn store_bytes(&self, bytes: &[u8], media_type: &str) -> Result<ImageBlob, PullError> {
        let sha256 = crate::digest::sha256_hex(bytes);
        let path = self.blob_dir.join(&sha256);
        crate::layout::write_atomic(&path, bytes).map_err(|e| PullError::Write {
            path,
            source: std::io::Error::other(e.to_string()),
        })?;
        Ok(ImageBlob {
            media_type: media_type.into(),
            size: bytes.len() as u64,
            sha256,
        })
    }

    /// Streams one blob to disk, checking size and sha256 before it takes its final name.
    fn stream_blob(&self, d: &Descriptor) -> Result<ImageBlob, PullError> {
        let hex = self.blob_hex(&d.digest)?.to_string();
        if d.size > self.limits.max_blob_bytes {
            return Err(self.invalid(&d.digest, "blob above the size limit"));
        }
        let blob = ImageBlob {
            media_type: d.media_type.clone(),
            size: d.size,
            sha256: hex.clone(),
        };
        let dst = self.blob_dir.join(&hex);
        if dst.is_file() {
            return Ok(blob);
        }
        let reader = self
            .registry
            .blob(&d.digest)
            .map_err(|e| self.registry_err(e))?;
        let tmp = self.blob_dir.join(format!(".{hex}.partial"));
        let werr = |source| PullError::Write {
            path: tmp.clone(),
            source,
        };
        let file = fs::File::create(&tmp).map_err(werr)?;
        let written = copy_hashing(reader.take(d.size.saturating_add(1)), file);
        let fail = |reason: String| {
            let _ = fs::remove_file(&tmp);
            PullError::Blob {
                image: self.name.to_string(),
                digest: d.digest.clone(),
                reason,
            }
        };
        let (actual, size) = written.map_err(|e| fail(e.to_string()))?;
        if size != d.size {
            return Err(fail(format!("{size} bytes, descriptor says {}", d.size)));
        }
        if actual != hex {
            return Err(fail(format!("content has sha256 {actual}")));
        }
        fs::rename(&tmp, &dst).map_err(|source| PullError::Write { path: dst, source })?;
        Ok(blob)
    }
}

/// Copies `reader` into `out` (fsynced) while hashing; returns (sha256 hex, bytes).
pub fn copy_hashing(mut reader: impl Read, mut out: fs::File) -> std::io::Result<(String, u64)> {
    let mut hasher = Sha256::new();
    let mut buf = vec![0u8; 64 * 1024];
    let mut total = 0u64;
    loop {
        let n = reader.read(&mut buf)?;
        if n == 0 {
            break;
        }
        hasher.update(&buf[..n]);
        out.write_all(&buf[..n])?;
        total += n as u64;
    }
    out.sync_all()?;
    Ok((hex::encode(hasher.finalize()), total))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn platform_selection() {
        let want = vec!["linux/arm64".to_string()];
        assert!(platform_matches("linux/arm64", &want));
        assert!(!platform_matches("linux/amd64", &want));
        assert!(platform_matches("linux/arm/v7", &["linux/arm".to_string()]));
        assert!(!platform_matches(
            "linux/arm/v6",
            &["linux/arm/v7".to_string()]
        ));
        assert!(platform_matches("linux/amd64", &[]));
    }
}
