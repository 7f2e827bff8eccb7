//! The bundle as an OCI artifact, and the pure parts of talking to a registry (references,
//! manifests, tag selection by semver range, auth challenges). No IO: the agent pulls and
//! `ferry-bundle push` pushes with their own HTTP clients.
//!
//! A ferry artifact is an OCI image manifest with `artifactType`
//! [`FERRY_ARTIFACT_TYPE`], the empty config, and layers: the manifest
//! ([`MANIFEST_MEDIA_TYPE`]), its signature ([`SIGNATURE_MEDIA_TYPE`]) and one layer per
//! content file ([`FILE_MEDIA_TYPE`], title = path). A file's layer digest is its sha256 in
//! the bundle manifest, so devices fetch only files they do not have.
//!
//! Artifacts made by `flux push artifact` (config [`FLUX_CONFIG_MEDIA_TYPE`], one
//! [`FLUX_CONTENT_MEDIA_TYPE`] layer: a tar+gzip of a directory) are read too: the directory
//! must be a signed ferry bundle (`bundle.yaml`, `bundle.yaml.minisig`, files).

use serde_json::{json, Value};
use std::collections::BTreeMap;
use thiserror::Error;

pub const OCI_MANIFEST_MEDIA_TYPE: &str = "application/vnd.oci.image.manifest.v1+json";
pub const FERRY_ARTIFACT_TYPE: &str = "application/vnd.ferry.bundle.v1";
pub const MANIFEST_MEDIA_TYPE: &str = "application/vnd.ferry.bundle.manifest.v1+yaml";
pub const SIGNATURE_MEDIA_TYPE: &str = "application/vnd.ferry.bundle.signature.v1";
pub const FILE_MEDIA_TYPE: &str = "application/vnd.ferry.bundle.file.v1";
/// A container image blob the bundle carries (its digest is listed in the signed image map).
pub const IMAGE_BLOB_MEDIA_TYPE: &str = "application/vnd.ferry.bundle.image-blob.v1";
pub const EMPTY_CONFIG_MEDIA_TYPE: &str = "application/vnd.oci.empty.v1+json";
pub const FLUX_CONFIG_MEDIA_TYPE: &str = "application/vnd.cncf.flux.config.v1+json";
pub const FLUX_CONTENT_MEDIA_TYPE: &str = "application/vnd.cncf.flux.content.v1.tar+gzip";
/// The annotation that names a layer's file.
pub const TITLE: &str = "org.opencontainers.image.title";
/// The empty JSON config blob (`{}`).
pub const EMPTY_CONFIG: &[u8] = b"{}";

#[derive(Debug, Error, PartialEq, Eq)]
pub enum OciError {
    #[error(
        "invalid OCI reference {0:?} (expected oci://host[:port]/repository[:tag|@sha256:digest])"
    )]
    BadReference(String),
    #[error("OCI manifest is not valid JSON: {0}")]
    BadManifest(String),
    #[error("OCI artifact is neither a ferry bundle nor a flux artifact (artifactType {artifact_type:?}, config {config:?})")]
    UnknownArtifact {
        artifact_type: String,
        config: String,
    },
    #[error("OCI artifact lacks its {0} layer")]
    MissingLayer(&'static str),
    #[error("bad semver range {range:?}: {reason}")]
    BadRange { range: String, reason: String },
    #[error("no tag matches {range:?} (tags: {tags})")]
    NoMatchingTag { range: String, tags: String },
}

/// `oci://host:port/repo/name[:tag|@digest]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reference {
    pub registry: String,
    pub repository: String,
    pub tag: Option<String>,
    pub digest: Option<String>,
}

impl Reference {
    pub fn parse(s: &str) -> Result<Self, OciError> {
        let bad = || OciError::BadReference(s.to_string());
        let rest = s.strip_prefix("oci://").ok_or_else(bad)?;
        let (registry, path) = rest.split_once('/').ok_or_else(bad)?;
        let (path, digest) = match path.split_once('@') {
            Some((p, d)) if d.starts_with("sha256:") && crate::digest::is_sha256_hex(&d[7..]) => {
                (p, Some(d.to_string()))
            }
            Some(_) => return Err(bad()),
            None => (path, None),
        };
        let (repository, tag) = match path.rsplit_once(':') {
            Some((r, t)) if !t.contains('/') => (r, Some(t.to_string())),
            _ => (path, None),
        };
        let repo_ok = !repository.is_empty()
            && repository.split('/').all(|c| {
                !c.is_empty()
                    && c.bytes().all(|b| {
                        b.is_ascii_lowercase() || b.is_ascii_digit() || b"._-".contains(&b)
                    })
            });
        if registry.is_empty() || !repo_ok {
            return Err(bad());
        }
        Ok(Reference {
            registry: registry.to_string(),
            repository: repository.to_string(),
            tag,
            digest,
        })
    }

    /// The tag or digest to ask the registry for.
    pub fn target(&self) -> String {
        self.digest
            .clone()
            .or_else(|| self.tag.clone())
            .unwrap_or_else(|| "latest".into())
    }
}

/// One layer as the pusher describes it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Layer {
    pub media_type: String,
    /// `sha256:<hex>`.
    pub digest: String,
    pub size: u64,
    pub title: String,
}

fn descriptor(media_type: &str, digest: &str, size: u64, title: Option<&str>) -> Value {
    let mut d = json!({"mediaType": media_type, "digest": digest, "size": size});
    if let Some(t) = title {
        d["annotations"] = json!({TITLE: t});
    }
    d
}

/// The layers of a ferry artifact for a signed bundle.
pub fn ferry_layers(
    manifest: &crate::Manifest,
    manifest_bytes: &[u8],
    signature: &str,
) -> Vec<Layer> {
    let mut layers = vec![
        Layer {
            media_type: MANIFEST_MEDIA_TYPE.into(),
            digest: format!("sha256:{}", crate::digest::sha256_hex(manifest_bytes)),
            size: manifest_bytes.len() as u64,
            title: crate::MANIFEST_FILE.into(),
        },
        Layer {
            media_type: SIGNATURE_MEDIA_TYPE.into(),
            digest: format!("sha256:{}", crate::digest::sha256_hex(signature.as_bytes())),
            size: signature.len() as u64,
            title: crate::SIGNATURE_FILE.into(),
        },
    ];
    // Identical files (same digest) are one layer.
    let mut seen = std::collections::BTreeSet::new();
    for f in &manifest.files {
        if seen.insert(f.sha256.clone()) {
            layers.push(Layer {
                media_type: FILE_MEDIA_TYPE.into(),
                digest: format!("sha256:{}", f.sha256),
                size: f.size,
                title: f.path.clone(),
            });
        }
    }
    layers
}

/// The image manifest JSON for `layers` with the given config.
pub fn image_manifest(
    artifact_type: Option<&str>,
    config_media_type: &str,
    config: &[u8],
    layers: &[Layer],
    annotations: &BTreeMap<String, String>,
) -> Vec<u8> {
    let mut m = json!({
        "schemaVersion": 2,
        "mediaType": OCI_MANIFEST_MEDIA_TYPE,
        "config": descriptor(config_media_type, &format!("sha256:{}", crate::digest::sha256_hex(config)), config.len() as u64, None),
        "layers": layers.iter().map(|l| descriptor(&l.media_type, &l.digest, l.size, Some(&l.title))).collect::<Vec<_>>(),
    });
    if let Some(t) = artifact_type {
        m["artifactType"] = json!(t);
    }
    if !annotations.is_empty() {
        m["annotations"] = json!(annotations);
    }
    serde_json::to_vec(&m).unwrap_or_default()
}

/// What a pulled artifact holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Artifact {
    /// A ferry artifact: digests of the manifest and signature layers, and the file layers.
    Ferry {
        manifest: Layer,
        signature: Option<Layer>,
        files: Vec<Layer>,
    },
    /// A flux artifact: the tar+gzip content layer.
    Flux { content: Layer },
}

pub use crate::oci_wire::parse_artifact;

/// The highest tag that is a semver version matching `range` (Cargo syntax: `>=1.2, <2`,
/// `^1.2`, `~1.2.3`, `1.*`). A leading `v` in tags is accepted.
pub fn select_tag(tags: &[String], range: &str) -> Result<String, OciError> {
    let req = semver::VersionReq::parse(range).map_err(|e| OciError::BadRange {
        range: range.into(),
        reason: e.to_string(),
    })?;
    tags.iter()
        .filter_map(|t| {
            semver::Version::parse(t.strip_prefix('v').unwrap_or(t))
                .ok()
                .filter(|v| req.matches(v))
                .map(|v| (v, t))
        })
        .max_by(|a, b| a.0.cmp(&b.0))
        .map(|(_, t)| t.clone())
        .ok_or_else(|| OciError::NoMatchingTag {
            range: range.into(),
            tags: tags.join(", "),
        })
}

pub use crate::oci_auth::{
    docker_config_credentials, origin, parse_challenge, realm_use, Challenge,
};

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn references() {
        let r = Reference::parse("oci://127.0.0.1:5000/ferry/app:1.2.0").unwrap();
        assert_eq!(
            (r.registry.as_str(), r.repository.as_str(), r.tag.as_deref()),
            ("127.0.0.1:5000", "ferry/app", Some("1.2.0"))
        );
        let d = format!("sha256:{}", "a".repeat(64));
        let r = Reference::parse(&format!("oci://reg.example.com/app@{d}")).unwrap();
        assert_eq!(r.target(), d);
        assert_eq!(
            Reference::parse("oci://reg/app").unwrap().target(),
            "latest"
        );
        for bad in [
            "reg/app",
            "oci://reg",
            "oci://reg/App",
            "oci://reg/app@md5:x",
        ] {
            assert!(Reference::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn semver_selection() {
        let tags: Vec<String> = ["1.0.0", "v1.4.2", "1.10.0", "2.0.0", "latest", "1.5.0-rc.1"]
            .iter()
            .map(|s| s.to_string())
            .collect();
        assert_eq!(select_tag(&tags, ">=1.0.0, <2.0.0").unwrap(), "1.10.0");
        assert_eq!(select_tag(&tags, "~1.4").unwrap(), "v1.4.2");
        assert_eq!(select_tag(&tags, "*").unwrap(), "2.0.0");
        assert!(matches!(
            select_tag(&tags, ">=3"),
            Err(OciError::NoMatchingTag { .. })
        ));
        assert!(matches!(
            select_tag(&tags, "not a range"),
            Err(OciError::BadRange { .. })
        ));
    }

    #[test]
    fn ferry_artifact_round_trip() {
        let files = vec![crate::FileEntry {
            path: "a.yaml".into(),
            size: 1,
            sha256: crate::digest::sha256_hex(b"a"),
        }];
        let m = crate::Manifest::new(
            "app",
            1,
            crate::manifest::Timestamp(0),
            std::time::Duration::from_secs(1),
            files,
        );
        let bytes = m.to_yaml().into_bytes();
        let layers = ferry_layers(&m, &bytes, "sig");
        let doc = image_manifest(
            Some(FERRY_ARTIFACT_TYPE),
            EMPTY_CONFIG_MEDIA_TYPE,
            EMPTY_CONFIG,
            &layers,
            &BTreeMap::new(),
        );
        match parse_artifact(&doc).unwrap() {
            Artifact::Ferry {
                manifest,
                signature,
                files,
            } => {
                assert_eq!(manifest.title, "bundle.yaml");
                assert!(signature.is_some());
                assert_eq!(
                    files[0].digest,
                    format!("sha256:{}", crate::digest::sha256_hex(b"a"))
                );
            }
            other => panic!("{other:?}"),
        }
        let flux = image_manifest(
            None,
            FLUX_CONFIG_MEDIA_TYPE,
            b"{}",
            &[Layer {
                media_type: FLUX_CONTENT_MEDIA_TYPE.into(),
                digest: "sha256:x".into(),
                size: 1,
                title: String::new(),
            }],
            &BTreeMap::new(),
        );
        assert!(matches!(
            parse_artifact(&flux).unwrap(),
            Artifact::Flux { .. }
        ));
        assert!(matches!(
            parse_artifact(br#"{"layers": []}"#),
            Err(OciError::UnknownArtifact { .. })
        ));
    }
}
