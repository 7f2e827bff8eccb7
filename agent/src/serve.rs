//! `ferry-agent serve`: this agent's verified cache over HTTP in the exploded layout, so other
//! nodes of an air-gapped site can sync from it (`http` source with `url: http://node:8470/<sync>/`).
//! Only what a sync has applied is served (or, on a node of a site, a newer revision it
//! verified and cached while following): its manifest, signature and the blobs it lists.
//! Trust stays end to end: every node verifies the signature itself, so the relay needs none.
//! Access does not: bundles may carry what only the site's nodes should read (a k3s join
//! token, a Secret), so every request must carry the site credential ([`token`]); without it
//! the answer is `401`, before the store or the cache is looked at.
//!
//! Requests go through the bounded server of [`crate::httpd`]; the request path is matched
//! against `/<sync>/bundle.yaml`, `/<sync>/bundle.yaml.minisig` and
//! `/<sync>/blobs/sha256/<hex>`, where `<hex>` must parse as a [`Sha256`] listed in the applied
//! manifest. Nothing from the request is ever joined into a path.

use crate::httpd::{self, Body, Handler, Method, Request, Response, ServerLimits};
use crate::store::blobs::BlobCache;
use crate::store::Store;
use ferry_bundle::digest::Sha256;
use ferry_bundle::manifest::Manifest;
use serde::Deserialize;
use std::net::TcpListener;
use std::path::PathBuf;
use std::sync::Arc;

pub mod token;

pub use token::{RelayTokens, TokenError};

/// `ferry-agent serve` settings.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ServeConfig {
    /// Address to listen on, e.g. `0.0.0.0:8470`.
    pub listen: String,
    /// The site token(s) neighbours must send (`Authorization: Bearer`); required to serve.
    #[serde(rename = "tokenFile")]
    pub token_file: Option<PathBuf>,
}

/// The cache and store behind the server, and the tokens it accepts.
pub struct Relay {
    pub store: Store,
    pub blobs: BlobCache,
    pub syncs: Vec<String>,
    pub tokens: RelayTokens,
}

/// What a request path names.
#[derive(Debug, PartialEq, Eq)]
enum Resource<'a> {
    Manifest { sync: &'a str },
    Signature { sync: &'a str },
    Blob { sync: &'a str, sha256: Sha256 },
}

/// Matches a request path; anything else (`..`, extra segments, bad digests) is `None`.
fn route(path: &str) -> Option<Resource<'_>> {
    let rest = path.strip_prefix('/')?;
    let segments: Vec<&str> = rest.split('/').collect();
    match segments.as_slice() {
        [sync, "bundle.yaml"] => Some(Resource::Manifest { sync }),
        [sync, "bundle.yaml.minisig"] => Some(Resource::Signature { sync }),
        [sync, "blobs", "sha256", hex] => Some(Resource::Blob {
            sync,
            sha256: Sha256::parse(hex).ok()?,
        }),
        _ => None,
    }
}

impl Relay {
    fn answer(&self, path: &str) -> Response {
        let not_found = || Response::status(404);
        let Some(resource) = route(path) else {
            return not_found();
        };
        let sync = match &resource {
            Resource::Manifest { sync }
            | Resource::Signature { sync }
            | Resource::Blob { sync, .. } => *sync,
        };
        if !self.syncs.iter().any(|s| s == sync) {
            return not_found();
        }
        // The applied revision, or on a site follower a newer one it verified and cached.
        let Some(digest) = crate::site::cache::served_digest(&self.store, sync) else {
            return not_found();
        };
        let Ok(Some((manifest, signature))) = self.store.bundle(&digest) else {
            return not_found();
        };
        let etag = Some(format!("\"{}\"", &digest[..16.min(digest.len())]));
        match resource {
            Resource::Manifest { .. } => Response {
                status: 200,
                content_type: "application/yaml".into(),
                headers: Vec::new(),
                etag,
                body: Body::Bytes(manifest),
            },
            Resource::Signature { .. } => match signature {
                Some(s) => Response {
                    status: 200,
                    content_type: "text/plain".into(),
                    headers: Vec::new(),
                    etag,
                    body: Body::Bytes(s.into_bytes()),
                },
                None => not_found(),
            },
            Resource::Blob { sha256, .. } => {
                // A bundle file or an image blob the applied manifest lists.
                let listed = Manifest::parse(&manifest).is_ok_and(|m| {
                    m.files.iter().any(|f| f.sha256 == sha256.as_str())
                        || m.images.iter().any(|i| i.blob(sha256.as_str()).is_some())
                });
                if !listed {
                    return not_found();
                }
                match self.blobs.open_blob(&sha256) {
                    Ok((file, len)) => Response {
                        status: 200,
                        content_type: "application/octet-stream".into(),
                        headers: Vec::new(),
                        etag: Some(format!("\"{}\"", &sha256.as_str()[..16])),
                        body: Body::File(file, len),
                    },
                    Err(_) => not_found(),
                }
            }
        }
    }
}

impl Handler for Relay {
    fn handle(&self, request: &Request) -> Response {
        if !self.tokens.allows(request.header("authorization")) {
            let mut refused = Response::status(401);
            refused
                .headers
                .push(("WWW-Authenticate", "Bearer realm=\"ferry-relay\"".into()));
            return refused;
        }
        if request.method == Method::Other {
            return Response::status(405);
        }
        let resp = self.answer(&request.path);
        match (&resp.etag, request.header("if-none-match")) {
            (Some(etag), Some(tag)) if resp.status == 200 && tag == etag => Response::status(304),
            _ => resp,
        }
    }
}

/// Serves until the process ends, within the default [`ServerLimits`].
pub fn serve(listener: TcpListener, relay: Arc<Relay>) {
    httpd::serve(listener, ServerLimits::default(), relay);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn routes_only_what_is_served() {
        let hex = ferry_bundle::digest::sha256_hex(b"x");
        assert_eq!(
            route(&format!("/app/blobs/sha256/{hex}")),
            Some(Resource::Blob {
                sync: "app",
                sha256: Sha256::parse(&hex).unwrap()
            })
        );
        assert_eq!(
            route("/app/bundle.yaml"),
            Some(Resource::Manifest { sync: "app" })
        );
        for bad in [
            "/app/blobs/sha256/../../x",
            "/app/blobs/sha256/../../../../dev/zero",
            "/app/blobs/sha256//dev/zero",
            "/app/blobs/sha256/",
            "app/bundle.yaml",
            "/app/x/bundle.yaml",
        ] {
            assert_eq!(route(bad), None, "{bad}");
        }
    }
}
