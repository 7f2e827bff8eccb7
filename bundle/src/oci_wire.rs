//! What a registry answers, parsed within a memory budget: typed structs that keep only the
//! fields ferry reads (everything else is skipped by serde without being built into a tree),
//! and arrays counted while they parse, refused past their bound instead of grown. The caller
//! caps the bytes before parsing (the registry client reads every body with a limit).
//!
//! Before this, a 4 MiB tag list or image manifest of `[{"a":0},...]` parsed into a
//! `serde_json::Value` tree took ~400 MB (issue 20).

use crate::oci::{
    Artifact, Layer, OciError, FERRY_ARTIFACT_TYPE, FILE_MEDIA_TYPE, FLUX_CONFIG_MEDIA_TYPE,
    FLUX_CONTENT_MEDIA_TYPE, MANIFEST_MEDIA_TYPE, SIGNATURE_MEDIA_TYPE,
};
use serde::de::{self, Deserializer, SeqAccess, Visitor};
use serde::Deserialize;
use std::fmt;
use std::marker::PhantomData;

/// Most tags a tag list may hold (a semver source compares them all).
pub const MAX_TAGS: usize = 10_000;
/// Most layers an artifact's image manifest may list (a ferry artifact has one per distinct
/// content file, `limits.maxFiles` = 4096 by default, plus image blobs).
pub const MAX_LAYERS: usize = 20_000;
/// Most error entries read from an error answer (the first one's message is shown).
const MAX_ERRORS: usize = 16;

/// A JSON array of at most `N` items, refused (not cut) when longer.
pub struct Bounded<T, const N: usize>(pub Vec<T>);

impl<'de, T: Deserialize<'de>, const N: usize> Deserialize<'de> for Bounded<T, N> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V<T, const N: usize>(PhantomData<T>);
        impl<'de, T: Deserialize<'de>, const N: usize> Visitor<'de> for V<T, N> {
            type Value = Bounded<T, N>;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                write!(f, "an array of at most {N} items")
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
                let mut out = Vec::new();
                while let Some(item) = seq.next_element()? {
                    if out.len() == N {
                        return Err(de::Error::custom(format!("more than {N} items")));
                    }
                    out.push(item);
                }
                Ok(Bounded(out))
            }
        }
        d.deserialize_seq(V::<T, N>(PhantomData))
    }
}

/// `GET /v2/<name>/tags/list`.
#[derive(Deserialize)]
struct TagList {
    #[serde(default)]
    tags: Option<Bounded<String, MAX_TAGS>>,
}

/// The tags of a tag list (`null` or absent is none).
pub fn parse_tags(bytes: &[u8]) -> Result<Vec<String>, String> {
    let list: TagList = serde_json::from_slice(bytes).map_err(|e| format!("tags: {e}"))?;
    Ok(list.tags.map(|t| t.0).unwrap_or_default())
}

/// A token service's answer (`token`, or OAuth's `access_token`).
#[derive(Deserialize)]
struct TokenAnswer {
    #[serde(default)]
    token: Option<String>,
    #[serde(default)]
    access_token: Option<String>,
}

/// The bearer token of a token service's answer, None when it holds none.
pub fn parse_token(bytes: &[u8]) -> Result<Option<String>, String> {
    let t: TokenAnswer = serde_json::from_slice(bytes).map_err(|e| e.to_string())?;
    Ok(t.token.or(t.access_token))
}

#[derive(Deserialize)]
struct ErrorEntry {
    #[serde(default)]
    message: Option<String>,
}

#[derive(Deserialize)]
struct ErrorAnswer {
    #[serde(default)]
    errors: Option<Bounded<ErrorEntry, MAX_ERRORS>>,
}

/// The first `errors[].message` of a registry's error answer, if it has one.
pub fn parse_error_message(bytes: &[u8]) -> Option<String> {
    let e: ErrorAnswer = serde_json::from_slice(bytes).ok()?;
    e.errors?.0.into_iter().find_map(|e| e.message)
}

/// The `org.opencontainers.image.title` annotation; other annotations are skipped.
#[derive(Deserialize, Default)]
struct Annotations {
    #[serde(default, rename = "org.opencontainers.image.title")]
    title: Option<String>,
}

/// An OCI descriptor, only the fields ferry reads.
#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase")]
struct Descriptor {
    #[serde(default)]
    media_type: Option<String>,
    #[serde(default)]
    digest: Option<String>,
    #[serde(default)]
    size: Option<u64>,
    #[serde(default)]
    annotations: Option<Annotations>,
}

impl From<Descriptor> for Layer {
    fn from(d: Descriptor) -> Self {
        Layer {
            media_type: d.media_type.unwrap_or_default(),
            digest: d.digest.unwrap_or_default(),
            size: d.size.unwrap_or(0),
            title: d.annotations.and_then(|a| a.title).unwrap_or_default(),
        }
    }
}

/// The layers ferry reads, kept while the array parses: the first of each single kind and the
/// file layers; the rest are counted, not kept.
#[derive(Default)]
struct Layers {
    manifest: Option<Layer>,
    signature: Option<Layer>,
    flux: Option<Layer>,
    files: Vec<Layer>,
}

impl<'de> Deserialize<'de> for Layers {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Layers;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                write!(f, "an array of at most {MAX_LAYERS} layers")
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Layers, A::Error> {
                let mut out = Layers::default();
                let mut count = 0usize;
                while let Some(d) = seq.next_element::<Descriptor>()? {
                    count += 1;
                    if count > MAX_LAYERS {
                        return Err(de::Error::custom(format!("more than {MAX_LAYERS} layers")));
                    }
                    let layer = Layer::from(d);
                    let slot = match layer.media_type.as_str() {
                        MANIFEST_MEDIA_TYPE => &mut out.manifest,
                        SIGNATURE_MEDIA_TYPE => &mut out.signature,
                        FLUX_CONTENT_MEDIA_TYPE => &mut out.flux,
                        FILE_MEDIA_TYPE => {
                            out.files.push(layer);
                            continue;
                        }
                        _ => continue,
                    };
                    if slot.is_none() {
                        *slot = Some(layer);
                    }
                }
                Ok(out)
            }
        }
        d.deserialize_seq(V)
    }
}

/// An image manifest, only the fields ferry reads.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct ImageManifest {
    #[serde(default)]
    artifact_type: Option<String>,
    #[serde(default)]
    config: Option<Descriptor>,
    #[serde(default)]
    layers: Option<Layers>,
}

/// Recognizes an artifact from its image manifest.
pub fn parse_artifact(bytes: &[u8]) -> Result<Artifact, OciError> {
    let m: ImageManifest =
        serde_json::from_slice(bytes).map_err(|e| OciError::BadManifest(e.to_string()))?;
    let layers = m.layers.unwrap_or_default();
    let artifact_type = m.artifact_type.unwrap_or_default();
    let config = m.config.and_then(|c| c.media_type).unwrap_or_default();
    if config == FLUX_CONFIG_MEDIA_TYPE {
        return Ok(Artifact::Flux {
            content: layers.flux.ok_or(OciError::MissingLayer("flux content"))?,
        });
    }
    if artifact_type == FERRY_ARTIFACT_TYPE || layers.manifest.is_some() {
        return Ok(Artifact::Ferry {
            manifest: layers
                .manifest
                .ok_or(OciError::MissingLayer("bundle manifest"))?,
            signature: layers.signature,
            files: layers.files,
        });
    }
    Err(OciError::UnknownArtifact {
        artifact_type,
        config,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `{"<key>":[{"a":0},...]}` with `n` items.
    fn objects(key: &str, n: usize) -> Vec<u8> {
        let items = vec![r#"{"a":0}"#; n].join(",");
        format!("{{\"{key}\":[{items}]}}").into_bytes()
    }

    #[test]
    fn tag_lists_are_typed_and_counted() {
        assert_eq!(
            parse_tags(br#"{"name":"a","tags":["1.0.0","x"],"extra":[[[{}]]]}"#).unwrap(),
            ["1.0.0", "x"]
        );
        assert!(parse_tags(br#"{"name":"a","tags":null}"#)
            .unwrap()
            .is_empty());
        let e = parse_tags(&objects("tags", 3)).unwrap_err();
        assert!(e.contains("expected a string"), "{e}");
        let many = format!("{{\"tags\":[{}]}}", vec!["\"t\""; MAX_TAGS + 1].join(","));
        let e = parse_tags(many.as_bytes()).unwrap_err();
        assert!(e.contains("more than 10000 items"), "{e}");
    }

    #[test]
    fn manifests_keep_only_what_is_read_and_count_layers() {
        let e = parse_artifact(&objects("layers", MAX_LAYERS + 1)).unwrap_err();
        assert!(e.to_string().contains("more than 20000 layers"), "{e}");
        // Unknown fields at any depth are skipped, not built.
        let doc = br#"{"x":{"y":[1,2,{"z":[]}]},"artifactType":"application/vnd.ferry.bundle.v1",
            "layers":[{"mediaType":"application/vnd.ferry.bundle.manifest.v1+yaml","digest":"sha256:a","size":3,"annotations":{"k":"v"}}]}"#;
        let Artifact::Ferry { manifest, .. } = parse_artifact(doc).unwrap() else {
            panic!("a ferry artifact")
        };
        assert_eq!((manifest.digest.as_str(), manifest.size), ("sha256:a", 3));
    }

    #[test]
    fn tokens_and_error_messages() {
        assert_eq!(
            parse_token(br#"{"access_token":"b","expires_in":60}"#).unwrap(),
            Some("b".into())
        );
        assert_eq!(parse_token(b"{}").unwrap(), None);
        assert!(parse_token(b"[").is_err());
        assert_eq!(
            parse_error_message(br#"{"errors":[{"code":"X","message":"denied"}]}"#),
            Some("denied".into())
        );
        assert_eq!(parse_error_message(b"not json"), None);
    }
}
