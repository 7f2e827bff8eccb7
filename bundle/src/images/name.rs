//! Container image names as Kubernetes manifests and k3s write them (`nginx:1.25`,
//! `ghcr.io/org/app@sha256:..`), normalized the way containerd does: a first component with a
//! `.` or `:` (or `localhost`) is a registry, otherwise `docker.io` (and one-component names get
//! `library/`). Bounded and pure.

use std::fmt;
use thiserror::Error;

/// Longest image name accepted (the distribution spec bounds repository names at 255).
pub const MAX_IMAGE_NAME: usize = 512;
/// Docker Hub's canonical registry name (what containerd sends as `?ns=`).
pub const DOCKER_HUB: &str = "docker.io";

#[derive(Debug, Error, PartialEq, Eq)]
pub enum ImageNameError {
    #[error("invalid image name {name:?}: {reason}")]
    Invalid { name: String, reason: &'static str },
}

/// A fully qualified image reference.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ImageName {
    /// `host[:port]`, e.g. `docker.io`, `127.0.0.1:5000`.
    pub registry: String,
    /// `a/b/c`, lowercase.
    pub repository: String,
    pub tag: Option<String>,
    /// `sha256:<hex>`.
    pub digest: Option<String>,
}

fn bounded(name: &str) -> String {
    name.chars().take(80).collect()
}

pub(crate) fn is_component(c: &str) -> bool {
    !c.is_empty()
        && c.len() <= 128
        && c.bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b"._-".contains(&b))
        && c.as_bytes()[0].is_ascii_alphanumeric()
}

fn is_tag(t: &str) -> bool {
    !t.is_empty()
        && t.len() <= 128
        && t.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"._-".contains(&b))
        && t.as_bytes()[0] != b'.'
        && t.as_bytes()[0] != b'-'
}

pub(crate) fn is_registry(r: &str) -> bool {
    !r.is_empty()
        && r.len() <= 255
        && r.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b".-:[]".contains(&b))
}

/// True for `sha256:<64 lowercase hex>`.
pub fn is_digest(d: &str) -> bool {
    d.strip_prefix("sha256:")
        .is_some_and(crate::digest::is_sha256_hex)
}

impl ImageName {
    /// Parses and normalizes `name`.
    pub fn parse(name: &str) -> Result<Self, ImageNameError> {
        let bad = |reason| ImageNameError::Invalid {
            name: bounded(name),
            reason,
        };
        if name.len() > MAX_IMAGE_NAME {
            return Err(bad("too long"));
        }
        let (rest, digest) = match name.split_once('@') {
            Some((r, d)) if is_digest(d) => (r, Some(d.to_string())),
            Some(_) => return Err(bad("digest is not sha256:<64 lowercase hex>")),
            None => (name, None),
        };
        let (first, after) = rest.split_once('/').unwrap_or(("", rest));
        let has_registry = !first.is_empty()
            && (first.contains('.') || first.contains(':') || first == "localhost");
        let (registry, path) = if has_registry {
            (first.to_string(), after.to_string())
        } else {
            (DOCKER_HUB.to_string(), rest.to_string())
        };
        if !is_registry(&registry) {
            return Err(bad("bad registry host"));
        }
        let (repository, tag) = match path.rsplit_once(':') {
            Some((r, t)) if !t.contains('/') => (r.to_string(), Some(t.to_string())),
            _ => (path.clone(), None),
        };
        if let Some(t) = &tag {
            if !is_tag(t) {
                return Err(bad("bad tag"));
            }
        }
        let repository = if registry == DOCKER_HUB && !repository.contains('/') {
            format!("library/{repository}")
        } else {
            repository
        };
        if repository.len() > 255 || !repository.split('/').all(is_component) {
            return Err(bad("bad repository (lowercase components of [a-z0-9._-])"));
        }
        let tag = match (&tag, &digest) {
            (None, None) => Some("latest".to_string()),
            _ => tag,
        };
        Ok(ImageName {
            registry,
            repository,
            tag,
            digest,
        })
    }

    /// `registry/repository` without tag or digest.
    pub fn locator(&self) -> String {
        format!("{}/{}", self.registry, self.repository)
    }

    /// The tag, else the digest: what to ask a registry for.
    pub fn target(&self) -> String {
        self.digest
            .clone()
            .or_else(|| self.tag.clone())
            .unwrap_or_else(|| "latest".into())
    }
}

impl fmt::Display for ImageName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.locator())?;
        if let Some(t) = &self.tag {
            write!(f, ":{t}")?;
        }
        if let Some(d) = &self.digest {
            write!(f, "@{d}")?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normalizes_like_containerd() {
        let n = ImageName::parse("nginx").unwrap();
        assert_eq!(n.to_string(), "docker.io/library/nginx:latest");
        let n = ImageName::parse("rancher/klipper:v1").unwrap();
        assert_eq!(n.to_string(), "docker.io/rancher/klipper:v1");
        let n = ImageName::parse("127.0.0.1:5000/demo/app:1.0").unwrap();
        assert_eq!(
            (n.registry.as_str(), n.repository.as_str()),
            ("127.0.0.1:5000", "demo/app")
        );
        let d = format!("sha256:{}", "a".repeat(64));
        let n = ImageName::parse(&format!("ghcr.io/o/app@{d}")).unwrap();
        assert_eq!((n.tag.clone(), n.target()), (None, d.clone()));
        assert_eq!(
            ImageName::parse("localhost/x:1").unwrap().registry,
            "localhost"
        );
        for bad in [
            "",
            "App:1",
            "a@md5:1",
            "reg.io/a:b/c",
            "a:-x",
            &"a".repeat(600),
        ] {
            assert!(ImageName::parse(bad).is_err(), "{bad}");
        }
    }
}
