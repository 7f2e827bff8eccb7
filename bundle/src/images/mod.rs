//! The signed image map: the optional `images` section of a bundle manifest.
//!
//! Each entry names one container image (fully qualified), the digest of its upstream top-level
//! index or manifest (kept byte for byte, so `image@sha256:` references stay valid), the
//! platforms the bundle carries, and every blob that travels (index, manifests, configs,
//! layers) with media type, size and sha256. Blobs of platforms the bundle does not target are
//! not listed and do not travel. In every encoding an image blob lives at `blobs/sha256/<hex>`.

pub mod name;
pub mod owner;
pub mod pull;
pub mod scan;

pub use name::{ImageName, ImageNameError};
pub use owner::{ImageOwnerError, ImagePolicy, ImagePrefix};
use serde::{Deserialize, Serialize};
use std::collections::BTreeSet;
use thiserror::Error;

pub const OCI_INDEX: &str = "application/vnd.oci.image.index.v1+json";
pub const OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
pub const DOCKER_LIST: &str = "application/vnd.docker.distribution.manifest.list.v2+json";
pub const DOCKER_MANIFEST: &str = "application/vnd.docker.distribution.manifest.v2+json";

/// True for the media types of an index (multi-platform list).
pub fn is_index_type(media_type: &str) -> bool {
    media_type == OCI_INDEX || media_type == DOCKER_LIST
}

/// True for the media types of an index or an image manifest (served under `/manifests/`).
pub fn is_manifest_type(media_type: &str) -> bool {
    is_index_type(media_type) || media_type == OCI_MANIFEST || media_type == DOCKER_MANIFEST
}

/// Bounds on the image map of one bundle (images are far larger than manifests).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ImageLimits {
    pub max_images: usize,
    /// Blob entries summed over all images.
    pub max_blobs: usize,
    pub max_blob_bytes: u64,
    /// Distinct blob bytes of the whole map.
    pub max_total_bytes: u64,
    /// Largest index or manifest blob (read into memory by the mirror).
    pub max_manifest_bytes: u64,
}

impl Default for ImageLimits {
    fn default() -> Self {
        ImageLimits {
            max_images: 256,
            max_blobs: 8192,
            max_blob_bytes: 8 << 30,
            max_total_bytes: 64 << 30,
            max_manifest_bytes: 4 << 20,
        }
    }
}

/// One blob of an image.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct ImageBlob {
    pub media_type: String,
    pub size: u64,
    /// Lowercase hex sha256.
    pub sha256: String,
}

/// One image the bundle carries.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct ImageEntry {
    /// Fully qualified reference, `registry/repository[:tag][@sha256:..]`.
    pub name: String,
    /// `sha256:<hex>` of the upstream top-level index or manifest (one of `blobs`).
    pub digest: String,
    /// Platforms carried (`os/arch[/variant]`); empty for a single-platform image manifest.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub platforms: Vec<String>,
    /// Every blob that travels, sorted by sha256, no duplicates.
    pub blobs: Vec<ImageBlob>,
}

impl ImageEntry {
    /// The parsed name (checked by [`check`], so this only fails on unchecked maps).
    pub fn image_name(&self) -> Result<ImageName, ImageNameError> {
        ImageName::parse(&self.name)
    }

    /// The blob with this hex digest, if listed.
    pub fn blob(&self, sha256: &str) -> Option<&ImageBlob> {
        self.blobs
            .binary_search_by(|b| b.sha256.as_str().cmp(sha256))
            .ok()
            .map(|i| &self.blobs[i])
    }

    /// The top-level blob (index or manifest).
    pub fn top(&self) -> Option<&ImageBlob> {
        self.blob(self.digest.strip_prefix("sha256:")?)
    }
}

#[derive(Debug, Error, PartialEq, Eq)]
pub enum ImageMapError {
    #[error("images: {0}")]
    Name(#[from] ImageNameError),
    #[error("images: {name}: digest {digest:?} is not sha256:<64 lowercase hex>")]
    BadDigest { name: String, digest: String },
    #[error("images: {name}: the top-level digest {digest} is not among its blobs")]
    MissingTop { name: String, digest: String },
    #[error("images: {name}: the top-level blob has media type {media_type:?}, not an index or manifest")]
    TopNotManifest { name: String, media_type: String },
    #[error("images: {name}: blob {sha256:?} is invalid: {reason}")]
    BadBlob {
        name: String,
        sha256: String,
        reason: &'static str,
    },
    #[error("images: {name}: blobs are not sorted by sha256 or repeat one (at {sha256})")]
    Unsorted { name: String, sha256: String },
    #[error("images: {name}: bad platform {platform:?} (os/arch[/variant])")]
    BadPlatform { name: String, platform: String },
    #[error("images: {name} is listed twice")]
    Duplicate { name: String },
    #[error("images: {what} {found} is above the limit of {max}")]
    TooLarge {
        what: &'static str,
        found: u64,
        max: u64,
    },
}

fn is_platform(p: &str) -> bool {
    let parts: Vec<&str> = p.split('/').collect();
    (2..=3).contains(&parts.len())
        && parts.iter().all(|c| {
            !c.is_empty()
                && c.len() <= 32
                && c.bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
        })
}

fn is_media_type(m: &str) -> bool {
    !m.is_empty()
        && m.len() <= 255
        && m.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"./+-_=;".contains(&b))
}

/// Checks the shape of an image map and its limits (digests, order, names, media types).
pub fn check(images: &[ImageEntry], limits: &ImageLimits) -> Result<(), ImageMapError> {
    let too = |what, found: u64, max: u64| ImageMapError::TooLarge { what, found, max };
    if images.len() > limits.max_images {
        return Err(too(
            "image count",
            images.len() as u64,
            limits.max_images as u64,
        ));
    }
    let mut names = BTreeSet::new();
    let mut distinct = BTreeSet::new();
    let (mut blob_count, mut total) = (0usize, 0u64);
    for img in images {
        let parsed = ImageName::parse(&img.name)?;
        let name = parsed.to_string();
        if !names.insert(name.clone()) {
            return Err(ImageMapError::Duplicate { name });
        }
        if !name::is_digest(&img.digest) {
            return Err(ImageMapError::BadDigest {
                name,
                digest: img.digest.chars().take(80).collect(),
            });
        }
        for p in &img.platforms {
            if !is_platform(p) {
                return Err(ImageMapError::BadPlatform {
                    name,
                    platform: p.chars().take(40).collect(),
                });
            }
        }
        for (i, b) in img.blobs.iter().enumerate() {
            let bad = |reason| ImageMapError::BadBlob {
                name: name.clone(),
                sha256: b.sha256.chars().take(80).collect(),
                reason,
            };
            if !crate::digest::is_sha256_hex(&b.sha256) {
                return Err(bad("sha256 is not 64 lowercase hex"));
            }
            if !is_media_type(&b.media_type) {
                return Err(bad("bad media type"));
            }
            if b.size > limits.max_blob_bytes {
                return Err(too("blob size", b.size, limits.max_blob_bytes));
            }
            if is_manifest_type(&b.media_type) && b.size > limits.max_manifest_bytes {
                return Err(too("manifest size", b.size, limits.max_manifest_bytes));
            }
            if i > 0 && img.blobs[i - 1].sha256 >= b.sha256 {
                return Err(ImageMapError::Unsorted {
                    name,
                    sha256: b.sha256.clone(),
                });
            }
            if distinct.insert(b.sha256.clone()) {
                total = total.saturating_add(b.size);
            }
        }
        blob_count += img.blobs.len();
        match img.top() {
            None => {
                return Err(ImageMapError::MissingTop {
                    name,
                    digest: img.digest.clone(),
                })
            }
            Some(t) if !is_manifest_type(&t.media_type) => {
                return Err(ImageMapError::TopNotManifest {
                    name,
                    media_type: t.media_type.clone(),
                })
            }
            Some(_) => {}
        }
    }
    if blob_count > limits.max_blobs {
        return Err(too(
            "blob count",
            blob_count as u64,
            limits.max_blobs as u64,
        ));
    }
    if total > limits.max_total_bytes {
        return Err(too("total image bytes", total, limits.max_total_bytes));
    }
    Ok(())
}

/// Every distinct blob of the map (sha256 -> blob), what a device must hold.
pub fn distinct_blobs(images: &[ImageEntry]) -> std::collections::BTreeMap<String, ImageBlob> {
    images
        .iter()
        .flat_map(|i| i.blobs.iter())
        .map(|b| (b.sha256.clone(), b.clone()))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry() -> ImageEntry {
        let idx = crate::digest::sha256_hex(b"index");
        let mut blobs = vec![
            ImageBlob {
                media_type: OCI_INDEX.into(),
                size: 5,
                sha256: idx.clone(),
            },
            ImageBlob {
                media_type: "application/vnd.oci.image.layer.v1.tar+gzip".into(),
                size: 3,
                sha256: crate::digest::sha256_hex(b"l"),
            },
        ];
        blobs.sort_by(|a, b| a.sha256.cmp(&b.sha256));
        ImageEntry {
            name: "127.0.0.1:5000/demo/app:1".into(),
            digest: format!("sha256:{idx}"),
            platforms: vec!["linux/arm64".into()],
            blobs,
        }
    }

    #[test]
    fn accepts_a_good_map_and_refuses_bad_ones() {
        let l = ImageLimits::default();
        check(&[entry()], &l).unwrap();
        let mut e = entry();
        e.blobs.reverse();
        assert!(matches!(
            check(&[e], &l),
            Err(ImageMapError::Unsorted { .. })
        ));
        let mut e = entry();
        e.digest = format!("sha256:{}", "0".repeat(64));
        assert!(matches!(
            check(&[e], &l),
            Err(ImageMapError::MissingTop { .. })
        ));
        let mut e = entry();
        e.platforms = vec!["linux".into()];
        assert!(matches!(
            check(&[e], &l),
            Err(ImageMapError::BadPlatform { .. })
        ));
        assert!(matches!(
            check(&[entry(), entry()], &l),
            Err(ImageMapError::Duplicate { .. })
        ));
        let mut e = entry();
        e.blobs[0].media_type = "x\ny".into();
        assert!(matches!(
            check(&[e], &l),
            Err(ImageMapError::BadBlob { .. })
        ));
        let small = ImageLimits {
            max_total_bytes: 4,
            ..l
        };
        assert!(matches!(
            check(&[entry()], &small),
            Err(ImageMapError::TooLarge { .. })
        ));
    }
}
