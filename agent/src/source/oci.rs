//! The OCI source: a bundle pushed as an OCI artifact (ferry layout or `flux push artifact`),
//! pulled by tag, digest, or the highest tag matching a semver range. A no-change poll is one
//! manifest HEAD by tag (plus the tag list for a semver range). Ferry artifacts download only
//! the file layers the cache lacks.

use super::{ExtractedFiles, FileFetcher, Found, Poll, Source, SourceError};
use ferry_bundle::manifest::FileEntry;
use ferry_bundle::oci::{self, Artifact, Reference};
use ferry_bundle::registry::{Connection, Registry, RegistryError};
use ferry_bundle::verify::{self, VerifyPolicy};
use std::io::Read;
use std::path::PathBuf;
use std::sync::Arc;

/// What to pull.
#[derive(Debug, Clone)]
pub enum Selector {
    Tag(String),
    Digest(String),
    Semver(String),
}

pub struct OciSource {
    url: String,
    selector: Selector,
    registry: Result<Arc<Registry>, String>,
    scratch: PathBuf,
}

impl OciSource {
    pub fn new(
        url: String,
        selector: Selector,
        conn: Result<Connection, String>,
        scratch: PathBuf,
    ) -> Self {
        let registry = conn.and_then(|c| {
            let reference = Reference::parse(&url).map_err(|e| e.to_string())?;
            Registry::new(reference, &c)
                .map(Arc::new)
                .map_err(|e| e.to_string())
        });
        OciSource {
            url,
            selector,
            registry,
            scratch,
        }
    }

    fn err(&self, e: RegistryError) -> SourceError {
        if e.is_transient() {
            SourceError::Unreachable {
                source_name: self.describe(),
                reason: e.to_string(),
            }
        } else {
            SourceError::File {
                origin: self.url.clone(),
                reason: e.to_string(),
            }
        }
    }

    fn read_layer(
        &self,
        registry: &Registry,
        digest: &str,
        max: u64,
    ) -> Result<Vec<u8>, SourceError> {
        let mut data = Vec::new();
        registry
            .blob(digest)
            .map_err(|e| self.err(e))?
            .take(max.saturating_add(1))
            .read_to_end(&mut data)
            .map_err(|e| SourceError::Unreachable {
                source_name: self.describe(),
                reason: format!("blob {digest}: {e}"),
            })?;
        if data.len() as u64 > max {
            return Err(SourceError::File {
                origin: format!("{}@{digest}", self.url),
                reason: format!("layer larger than the limit of {max} bytes"),
            });
        }
        if format!("sha256:{}", ferry_bundle::digest::sha256_hex(&data)) != digest {
            return Err(SourceError::File {
                origin: format!("{}@{digest}", self.url),
                reason: "layer content does not match its digest".into(),
            });
        }
        Ok(data)
    }
}

impl Source for OciSource {
    fn describe(&self) -> String {
        format!("oci {}", self.url)
    }

    fn poll(&mut self, cursor: Option<&str>, policy: &VerifyPolicy) -> Result<Poll, SourceError> {
        let registry = self.registry.clone().map_err(|e| SourceError::File {
            origin: self.url.clone(),
            reason: e,
        })?;
        let target = match &self.selector {
            Selector::Tag(t) => t.clone(),
            Selector::Digest(d) => d.clone(),
            Selector::Semver(range) => {
                let tags = registry.tags().map_err(|e| self.err(e))?;
                oci::select_tag(&tags, range).map_err(|e| SourceError::File {
                    origin: self.url.clone(),
                    reason: e.to_string(),
                })?
            }
        };
        let digest = registry
            .manifest_digest(&target)
            .map_err(|e| self.err(e))?
            .ok_or_else(|| SourceError::NoBundle {
                source_name: format!("{} ({target} not found)", self.describe()),
                refused: Vec::new(),
            })?;
        let next_cursor = format!("{target}@{digest}");
        if cursor == Some(next_cursor.as_str()) {
            return Ok(Poll::Unchanged);
        }
        let (doc, _) = registry.manifest(&digest).map_err(|e| self.err(e))?;
        let artifact = oci::parse_artifact(&doc).map_err(|e| SourceError::File {
            origin: format!("{}:{target}", self.url),
            reason: e.to_string(),
        })?;
        let origin = format!("{}:{target}@{digest}", self.url);
        match artifact {
            Artifact::Ferry {
                manifest,
                signature,
                ..
            } => {
                let manifest = self.read_layer(
                    &registry,
                    &manifest.digest,
                    policy.limits.max_manifest_bytes,
                )?;
                let signature = match signature {
                    Some(l) => Some(
                        String::from_utf8_lossy(&self.read_layer(
                            &registry,
                            &l.digest,
                            policy.limits.max_signature_bytes,
                        )?)
                        .into_owned(),
                    ),
                    None => None,
                };
                Ok(Poll::Found(Found {
                    manifest,
                    signature,
                    cursor: next_cursor,
                    origin: origin.clone(),
                    files: Box::new(LayerFetcher { registry, origin }),
                    refused: Vec::new(),
                }))
            }
            Artifact::Flux { content } => {
                let dir = self.scratch.join(format!("oci-{}", std::process::id()));
                let _ = std::fs::remove_dir_all(&dir);
                let reader = registry.blob(&content.digest).map_err(|e| self.err(e))?;
                let extracted =
                    ferry_bundle::archive::extract_verified(reader, &dir, &policy.limits, |head| {
                        super::verified_listing(head, None, policy)
                    })
                    .map_err(|e| SourceError::File {
                        origin: origin.clone(),
                        reason: e.to_string(),
                    })?;
                Ok(Poll::Found(Found {
                    manifest: extracted.manifest,
                    signature: extracted.signature,
                    cursor: next_cursor,
                    origin: origin.clone(),
                    files: Box::new(ExtractedFiles { dir, origin }),
                    refused: Vec::new(),
                }))
            }
        }
    }
}

/// Downloads file layers by their digest (= the file's sha256 in the bundle manifest).
struct LayerFetcher {
    registry: Arc<Registry>,
    origin: String,
}

impl FileFetcher for LayerFetcher {
    fn fetch(&mut self, entry: &FileEntry) -> Result<Vec<u8>, SourceError> {
        let digest = format!("sha256:{}", entry.sha256);
        let reader = self.registry.blob(&digest).map_err(|e| SourceError::File {
            origin: format!("{}: {}", self.origin, entry.path),
            reason: e.to_string(),
        })?;
        verify::read_verified(entry, reader).map_err(|e| SourceError::File {
            origin: self.origin.clone(),
            reason: e.to_string(),
        })
    }

    fn open_image_blob(
        &mut self,
        sha256: &ferry_bundle::digest::Sha256,
    ) -> Result<Box<dyn std::io::Read + Send + '_>, SourceError> {
        let digest = format!("sha256:{sha256}");
        match self.registry.blob(&digest) {
            Ok(r) => Ok(Box::new(r)),
            Err(e) => Err(SourceError::File {
                origin: format!("{}: image blob {digest}", self.origin),
                reason: e.to_string(),
            }),
        }
    }
}
