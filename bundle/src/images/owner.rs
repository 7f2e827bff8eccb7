//! Which image names a sync may carry: a tag is served by a node's mirror for exactly one
//! sync, the one the agent's configuration gives that name's prefix to (`images.prefixes`,
//! docs/images.md). Checked at verification, so a bundle naming another sync's image (or
//! k3s's) is refused before anything of it is stored or served. Pure.

use super::name::{is_component, is_registry};
use super::ImageEntry;
use std::fmt;
use thiserror::Error;

/// A `registry[/path]` prefix of fully qualified image names, matched by whole components:
/// `registry.example.com/team-a` covers `registry.example.com/team-a/web:1`, not
/// `registry.example.com/team-ab/web:1`.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct ImagePrefix(String);

#[derive(Debug, Error, PartialEq, Eq)]
#[error("image prefix {prefix:?}: {reason}")]
pub struct PrefixError {
    prefix: String,
    reason: &'static str,
}

impl ImagePrefix {
    /// Parses `registry[/component...]` (a trailing `/` is ignored; no tag, no digest).
    pub fn parse(s: &str) -> Result<Self, PrefixError> {
        let bad = |reason| PrefixError {
            prefix: s.chars().take(80).collect(),
            reason,
        };
        let trimmed = s.strip_suffix('/').unwrap_or(s);
        let mut parts = trimmed.split('/');
        let registry = parts.next().unwrap_or_default().to_ascii_lowercase();
        if !is_registry(&registry) || !(registry.contains(['.', ':']) || registry == "localhost") {
            return Err(bad(
                "must begin with a registry host (docker.io/..., registry.example.com:5000/...)",
            ));
        }
        let path: Vec<&str> = parts.collect();
        if !path.iter().all(|c| is_component(c)) {
            return Err(bad(
                "path components are lowercase letters, digits, '.', '_', '-' (no tag or digest)",
            ));
        }
        let mut text = registry;
        for c in path {
            text.push('/');
            text.push_str(c);
        }
        Ok(ImagePrefix(text))
    }

    /// Whether `registry/repository` lies under this prefix.
    pub fn covers(&self, registry: &str, repository: &str) -> bool {
        let full = format!("{}/{repository}", registry.to_ascii_lowercase());
        full == self.0
            || full
                .strip_prefix(&self.0)
                .is_some_and(|rest| rest.starts_with('/'))
    }

    /// Whether one of the two prefixes covers names of the other.
    pub fn overlaps(&self, other: &ImagePrefix) -> bool {
        let under =
            |a: &str, b: &str| a == b || a.strip_prefix(b).is_some_and(|r| r.starts_with('/'));
        under(&self.0, &other.0) || under(&other.0, &self.0)
    }
}

impl<'de> serde::Deserialize<'de> for ImagePrefix {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        ImagePrefix::parse(&s).map_err(serde::de::Error::custom)
    }
}

impl fmt::Display for ImagePrefix {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// The image names one sync may carry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ImagePolicy {
    /// Any name: the only sync of its configuration, without `images.prefixes`
    /// (and `ferry-bundle verify`, which knows no configuration).
    Any,
    /// Names under `own`; `others` are the prefixes other syncs own (to name the owner).
    Prefixes {
        own: Vec<ImagePrefix>,
        others: Vec<(String, ImagePrefix)>,
    },
}

/// Why a bundle's image may not be served for its sync.
#[derive(Debug, Clone, Error, PartialEq, Eq)]
pub enum ImageOwnerError {
    #[error("image {image} belongs to sync {owner} (its images.prefixes has {prefix}); refused")]
    OwnedByAnother {
        image: String,
        owner: String,
        prefix: String,
    },
    #[error("image {image} is outside this sync's images.prefixes ({allowed}); refused")]
    OutsidePrefixes { image: String, allowed: String },
}

impl ImagePolicy {
    /// Whether `entry` may be served for this sync (entries whose name does not parse are
    /// refused by the manifest check before).
    pub fn allows(&self, registry: &str, repository: &str) -> bool {
        match self {
            ImagePolicy::Any => true,
            ImagePolicy::Prefixes { own, .. } => own.iter().any(|p| p.covers(registry, repository)),
        }
    }

    /// Checks every entry of a manifest's image map.
    pub fn check(&self, images: &[ImageEntry]) -> Result<(), ImageOwnerError> {
        let ImagePolicy::Prefixes { own, others } = self else {
            return Ok(());
        };
        for entry in images {
            let Ok(name) = entry.image_name() else {
                continue;
            };
            if self.allows(&name.registry, &name.repository) {
                continue;
            }
            let image = entry.name.chars().take(200).collect();
            if let Some((owner, prefix)) = others
                .iter()
                .find(|(_, p)| p.covers(&name.registry, &name.repository))
            {
                return Err(ImageOwnerError::OwnedByAnother {
                    image,
                    owner: owner.clone(),
                    prefix: prefix.to_string(),
                });
            }
            let allowed = match own.is_empty() {
                true => "none: with several syncs each must list its own".to_string(),
                false => own
                    .iter()
                    .map(|p| p.0.as_str())
                    .collect::<Vec<_>>()
                    .join(", "),
            };
            return Err(ImageOwnerError::OutsidePrefixes { image, allowed });
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(s: &str) -> ImagePrefix {
        ImagePrefix::parse(s).unwrap()
    }

    fn entry(name: &str) -> ImageEntry {
        ImageEntry {
            name: name.into(),
            digest: format!("sha256:{}", "1".repeat(64)),
            platforms: Vec::new(),
            blobs: Vec::new(),
        }
    }

    #[test]
    fn prefixes_match_whole_components() {
        let team = p("registry.example.com:5000/team-a/");
        assert_eq!(team.to_string(), "registry.example.com:5000/team-a");
        assert!(team.covers("registry.example.com:5000", "team-a/web"));
        assert!(team.covers("Registry.Example.com:5000", "team-a/x/y"));
        assert!(!team.covers("registry.example.com:5000", "team-ab/web"));
        assert!(!team.covers("registry.example.com", "team-a/web"));
        assert!(p("docker.io").covers("docker.io", "library/nginx"));
        assert!(p("docker.io/rancher").overlaps(&p("docker.io")));
        assert!(!p("docker.io/rancher").overlaps(&p("docker.io/ranch")));
        for bad in [
            "nginx",
            "team-a/web",
            "docker.io/App",
            "docker.io/a:1",
            "",
            "docker.io//a",
        ] {
            assert!(ImagePrefix::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn an_image_of_another_sync_or_outside_the_prefixes_is_refused_by_name() {
        let tenant = ImagePolicy::Prefixes {
            own: vec![p("127.0.0.1:5000/team-a")],
            others: vec![("infra".into(), p("127.0.0.1:5000/demo"))],
        };
        assert_eq!(
            tenant.check(&[entry("127.0.0.1:5000/team-a/web:1")]),
            Ok(())
        );
        let e = tenant
            .check(&[entry("127.0.0.1:5000/demo/app:1.0")])
            .unwrap_err();
        assert!(matches!(&e, ImageOwnerError::OwnedByAnother { owner, .. } if owner == "infra"));
        assert!(e.to_string().contains("belongs to sync infra"), "{e}");
        let e = tenant
            .check(&[entry("docker.io/rancher/mirrored-coredns-coredns:1.12.0")])
            .unwrap_err();
        assert!(
            e.to_string()
                .contains("outside this sync's images.prefixes (127.0.0.1:5000/team-a)"),
            "{e}"
        );
        let none = ImagePolicy::Prefixes {
            own: vec![],
            others: vec![],
        };
        assert!(none.check(&[entry("docker.io/library/nginx:1")]).is_err());
        assert_eq!(none.check(&[]), Ok(()));
        assert_eq!(
            ImagePolicy::Any.check(&[entry("docker.io/library/nginx:1")]),
            Ok(())
        );
    }
}
