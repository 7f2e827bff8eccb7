//! The mirror's request handling as a pure function: (method, request target, image map) ->
//! what to answer. No IO and no path built from request text: a blob is named by a parsed
//! [`BlobDigest`] and looked up in the signed map; the IO shell ([`super::server`]) opens the
//! cache file of that digest.
//!
//! Routes (what containerd uses through a mirror): `HEAD/GET /v2/<name>/manifests/<digest|tag>`
//! and `HEAD/GET /v2/<name>/blobs/<digest>`, with `?ns=<registry>` telling registries apart.
//! Tags are answered only from the signed map and only with `ns`; everything else is 404.

use super::map::ImageMap;
use ferry_bundle::images::is_manifest_type;

/// Longest request target considered (longer ones are 404 without parsing).
pub const MAX_TARGET: usize = 2048;

/// A `sha256:<hex>` digest from a request, parsed (never used as text in a path).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BlobDigest(ferry_bundle::digest::Sha256);

impl BlobDigest {
    pub fn parse(s: &str) -> Option<Self> {
        let hex = s.strip_prefix("sha256:")?;
        ferry_bundle::digest::Sha256::parse(hex)
            .ok()
            .map(BlobDigest)
    }
    /// The lowercase hex.
    pub fn hex(&self) -> &str {
        self.0.as_str()
    }
    /// The digest as the blob cache names it.
    pub fn sha256(&self) -> &ferry_bundle::digest::Sha256 {
        &self.0
    }
}

/// The request methods the mirror answers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Method {
    Get,
    Head,
}

/// What is served.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Manifest,
    Blob,
}

/// The answer, described.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MirrorAnswer {
    /// Serve the cached blob `digest` (the shell checks it is in the cache and has `size`).
    Serve {
        method: Method,
        kind: Kind,
        digest: BlobDigest,
        media_type: String,
        size: u64,
    },
    NotFound,
    MethodNotAllowed,
}

/// Decodes `%XX` escapes of a query value (invalid escapes make the value unusable).
fn percent_decode(s: &str) -> Option<String> {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'%' => {
                let hex = std::str::from_utf8(b.get(i + 1..i + 3)?).ok()?;
                out.push(u8::from_str_radix(hex, 16).ok()?);
                i += 3;
            }
            b'+' => {
                out.push(b' ');
                i += 1;
            }
            c => {
                out.push(c);
                i += 1;
            }
        }
    }
    String::from_utf8(out).ok()
}

/// The `ns` query parameter, if present.
fn namespace(query: &str) -> Option<String> {
    query
        .split('&')
        .find_map(|kv| kv.strip_prefix("ns="))
        .and_then(percent_decode)
}

/// Answers one request.
pub fn answer(method: &str, target: &str, map: &ImageMap) -> MirrorAnswer {
    let method = match method {
        "GET" => Method::Get,
        "HEAD" => Method::Head,
        _ => return MirrorAnswer::MethodNotAllowed,
    };
    if target.len() > MAX_TARGET {
        return MirrorAnswer::NotFound;
    }
    let (path, query) = target.split_once('?').unwrap_or((target, ""));
    let ns = namespace(query);
    let Some(rest) = path.strip_prefix("/v2/") else {
        return MirrorAnswer::NotFound;
    };
    let (name, kind, reference) = match (rest.rfind("/manifests/"), rest.rfind("/blobs/")) {
        (Some(i), _) => (&rest[..i], Kind::Manifest, &rest[i + 11..]),
        (None, Some(i)) => (&rest[..i], Kind::Blob, &rest[i + 7..]),
        _ => return MirrorAnswer::NotFound,
    };
    if name.is_empty() || reference.is_empty() || reference.contains('/') {
        return MirrorAnswer::NotFound;
    }
    let digest = BlobDigest::parse(reference);
    // Without `ns` only digests are answered (they name content, not a registry's tag).
    let candidates = map.images.iter().filter(|i| {
        i.name.repository == name
            && match &ns {
                Some(ns) => i.name.registry == *ns,
                None => digest.is_some(),
            }
    });
    for img in candidates {
        let blob = match (&digest, kind) {
            (Some(d), _) => img.entry.blob(d.hex()),
            (None, Kind::Manifest) if img.name.tag.as_deref() == Some(reference) => img.entry.top(),
            (None, _) => None,
        };
        let Some(blob) = blob else { continue };
        if kind == Kind::Manifest && !is_manifest_type(&blob.media_type) {
            continue;
        }
        let Some(digest) = BlobDigest::parse(&format!("sha256:{}", blob.sha256)) else {
            continue;
        };
        return MirrorAnswer::Serve {
            method,
            kind,
            digest,
            media_type: blob.media_type.clone(),
            size: blob.size,
        };
    }
    MirrorAnswer::NotFound
}

#[cfg(test)]
mod tests {
    use super::*;
    use ferry_bundle::images::{ImageBlob, ImageEntry, OCI_INDEX, OCI_MANIFEST};

    fn map() -> (ImageMap, String, String, String) {
        let idx = "1".repeat(64);
        let man = "2".repeat(64);
        let layer = "3".repeat(64);
        let entry = ImageEntry {
            name: "127.0.0.1:5000/demo/app:1.0".into(),
            digest: format!("sha256:{idx}"),
            platforms: vec!["linux/arm64".into()],
            blobs: vec![
                ImageBlob {
                    media_type: OCI_INDEX.into(),
                    size: 10,
                    sha256: idx.clone(),
                },
                ImageBlob {
                    media_type: OCI_MANIFEST.into(),
                    size: 20,
                    sha256: man.clone(),
                },
                ImageBlob {
                    media_type: "application/vnd.oci.image.layer.v1.tar+gzip".into(),
                    size: 30,
                    sha256: layer.clone(),
                },
            ],
        };
        (ImageMap::new([entry]), idx, man, layer)
    }

    #[test]
    fn answers_tags_digests_and_blobs_from_the_signed_map_only() {
        let (m, idx, man, layer) = map();
        let ns = "?ns=127.0.0.1%3A5000";
        let served = |a: MirrorAnswer| match a {
            MirrorAnswer::Serve { digest, .. } => Some(digest.hex().to_string()),
            _ => None,
        };
        assert_eq!(
            served(answer(
                "GET",
                &format!("/v2/demo/app/manifests/1.0{ns}"),
                &m
            )),
            Some(idx.clone())
        );
        assert_eq!(
            served(answer(
                "HEAD",
                &format!("/v2/demo/app/manifests/sha256:{man}{ns}"),
                &m
            )),
            Some(man.clone())
        );
        assert_eq!(
            served(answer(
                "GET",
                &format!("/v2/demo/app/blobs/sha256:{layer}{ns}"),
                &m
            )),
            Some(layer.clone())
        );
        // A digest needs no ns; a tag does.
        assert_eq!(
            served(answer(
                "GET",
                &format!("/v2/demo/app/manifests/sha256:{man}"),
                &m
            )),
            Some(man)
        );
        assert_eq!(
            answer("GET", "/v2/demo/app/manifests/1.0", &m),
            MirrorAnswer::NotFound
        );
        // Other registry, other tag, other repository, a layer asked as manifest, unlisted digest.
        for t in [
            "/v2/demo/app/manifests/1.0?ns=docker.io".to_string(),
            format!("/v2/demo/app/manifests/2.0{ns}"),
            format!("/v2/demo/other/manifests/1.0{ns}"),
            format!("/v2/demo/app/manifests/sha256:{layer}{ns}"),
            format!("/v2/demo/app/blobs/sha256:{}{ns}", "4".repeat(64)),
            format!("/v2/demo/app/blobs/../../etc/passwd{ns}"),
            "/v2/".to_string(),
            "/".to_string(),
        ] {
            assert_eq!(answer("GET", &t, &m), MirrorAnswer::NotFound, "{t}");
        }
        assert_eq!(
            answer("PUT", "/v2/demo/app/manifests/1.0", &m),
            MirrorAnswer::MethodNotAllowed
        );
        assert_eq!(
            answer("GET", &format!("/v2/{}", "a".repeat(3000)), &m),
            MirrorAnswer::NotFound
        );
        assert_eq!(BlobDigest::parse("sha256:ABC"), None);
        assert_eq!(percent_decode("%zz"), None);
    }
}
