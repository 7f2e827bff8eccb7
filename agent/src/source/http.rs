//! The HTTP(S) source. Two layouts:
//!
//! * **exploded** (`url` ends with `/`): `bundle.yaml` is polled with `If-None-Match` /
//!   `If-Modified-Since` (a no-change poll is one request answered 304); then
//!   `bundle.yaml.minisig`; content comes from `blobs/sha256/<hex>`, and only blobs the cache
//!   lacks are downloaded (a one-file change downloads one blob).
//! * **archive** (`url` of a `.bundle`): one conditional GET; the archive is streamed through
//!   the bounded extractor.
//!
//! Every body is size-limited while it streams; connect and stalled-transfer timeouts apply.

use super::{FileFetcher, Found, Poll, Source, SourceError};
use crate::outbound::{Endpoint, EndpointTls};
use ferry_bundle::archive;
use ferry_bundle::manifest::FileEntry;
use ferry_bundle::verify::{self, VerifyPolicy};
use serde::{Deserialize, Serialize};
use std::path::PathBuf;
use std::time::Duration;

/// What the last successful poll saw (stored as the source cursor).
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
struct Cursor {
    /// The URL the validators belong to (a changed URL is a new source).
    #[serde(default)]
    url: String,
    etag: Option<String>,
    last_modified: Option<String>,
    /// sha256 of the manifest (or archive), for servers without validators.
    digest: String,
}

pub struct HttpSource {
    url: String,
    signature_url: Option<String>,
    endpoint: Result<Endpoint, String>,
    scratch: PathBuf,
}

impl HttpSource {
    pub fn new(
        url: String,
        signature_url: Option<String>,
        tls: &EndpointTls,
        timeout: Duration,
        scratch: PathBuf,
    ) -> Self {
        let endpoint =
            Endpoint::kept_alive(tls, timeout, super::KEEP_IDLE).map_err(|e| e.to_string());
        HttpSource {
            url,
            signature_url,
            endpoint,
            scratch,
        }
    }

    fn is_archive(&self) -> bool {
        !self.url.ends_with('/')
    }

    fn endpoint(&self) -> Result<&Endpoint, SourceError> {
        self.endpoint.as_ref().map_err(|e| SourceError::File {
            origin: self.url.clone(),
            reason: e.clone(),
        })
    }

    /// A conditional GET; None when the server answered 304.
    fn get(
        &self,
        url: &str,
        cursor: Option<&Cursor>,
    ) -> Result<Option<(ureq::http::Response<ureq::Body>, Cursor)>, SourceError> {
        let mut headers = Vec::new();
        if let Some(c) = cursor {
            if let Some(e) = &c.etag {
                headers.push(("If-None-Match", e.clone()));
            }
            if let Some(m) = &c.last_modified {
                headers.push(("If-Modified-Since", m.clone()));
            }
        }
        let resp = self
            .endpoint()?
            .get(url, &headers)
            .map_err(|e| SourceError::Unreachable {
                source_name: self.describe(),
                reason: e.to_string(),
            })?;
        let status = resp.status().as_u16();
        match status {
            304 => Ok(None),
            200 => {
                let h = |n: &str| {
                    resp.headers()
                        .get(n)
                        .and_then(|v| v.to_str().ok())
                        .map(str::to_string)
                };
                let next = Cursor {
                    url: self.url.clone(),
                    etag: h("etag"),
                    last_modified: h("last-modified"),
                    digest: String::new(),
                };
                Ok(Some((resp, next)))
            }
            s if s >= 500 || s == 429 => Err(SourceError::Unreachable {
                source_name: self.describe(),
                reason: format!("{url}: HTTP {s}"),
            }),
            s => Err(SourceError::File {
                origin: url.to_string(),
                reason: format!("HTTP {s}"),
            }),
        }
    }

    fn read_limited(
        &self,
        url: &str,
        resp: ureq::http::Response<ureq::Body>,
        max: u64,
    ) -> Result<Vec<u8>, SourceError> {
        let mut body = resp.into_body();
        body.with_config()
            .limit(max)
            .read_to_vec()
            .map_err(|e| match e {
                ureq::Error::BodyExceedsLimit(_) => SourceError::File {
                    origin: url.to_string(),
                    reason: format!("body larger than the limit of {max} bytes"),
                },
                e => SourceError::Unreachable {
                    source_name: self.describe(),
                    reason: format!("{url}: {e}"),
                },
            })
    }

    fn poll_exploded(
        &mut self,
        cursor: Option<Cursor>,
        policy: &VerifyPolicy,
    ) -> Result<Poll, SourceError> {
        let manifest_url = format!("{}{}", self.url, ferry_bundle::MANIFEST_FILE);
        let Some((resp, mut next)) = self.get(&manifest_url, cursor.as_ref())? else {
            return Ok(Poll::Unchanged);
        };
        let manifest = self.read_limited(&manifest_url, resp, policy.limits.max_manifest_bytes)?;
        next.digest = ferry_bundle::digest::sha256_hex(&manifest);
        if cursor.as_ref().is_some_and(|c| c.digest == next.digest) {
            return Ok(Poll::Unchanged);
        }
        let sig_url = self
            .signature_url
            .clone()
            .unwrap_or_else(|| format!("{}{}", self.url, ferry_bundle::SIGNATURE_FILE));
        let signature = match self.get(&sig_url, None)? {
            Some((resp, _)) => Some(
                String::from_utf8_lossy(&self.read_limited(
                    &sig_url,
                    resp,
                    policy.limits.max_signature_bytes,
                )?)
                .into_owned(),
            ),
            None => None,
        };
        let fetcher = BlobFetcher {
            base: self.url.clone(),
            endpoint: self.endpoint()?.clone(),
            source: self.describe(),
        };
        Ok(Poll::Found(Found {
            manifest,
            signature,
            cursor: serde_json::to_string(&next).unwrap_or_default(),
            origin: manifest_url,
            files: Box::new(fetcher),
            refused: Vec::new(),
        }))
    }

    fn poll_archive(
        &mut self,
        cursor: Option<Cursor>,
        policy: &VerifyPolicy,
    ) -> Result<Poll, SourceError> {
        let url = self.url.clone();
        let Some((resp, next)) = self.get(&url, cursor.as_ref())? else {
            return Ok(Poll::Unchanged);
        };
        let dir = self.scratch.join(format!("http-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        // A detached signature is fetched first: the archive is unpacked only after its head
        // verified, and the head may carry no signature of its own.
        let detached = match &self.signature_url {
            Some(sig_url) => match self.get(sig_url, None)? {
                Some((sig_resp, _)) => Some(
                    String::from_utf8_lossy(&self.read_limited(
                        sig_url,
                        sig_resp,
                        policy.limits.max_signature_bytes,
                    )?)
                    .into_owned(),
                ),
                None => None,
            },
            None => None,
        };
        let reader = resp.into_body().into_with_config().limit(u64::MAX).reader();
        let extracted = archive::extract_verified(reader, &dir, &policy.limits, |head| {
            super::verified_listing(head, detached.as_deref(), policy)
        })
        .map_err(|e| match e {
            archive::ArchiveError::Corrupt(reason)
                if reason.contains("connection") || reason.contains("timed out") =>
            {
                SourceError::Unreachable {
                    source_name: self.describe(),
                    reason: format!("{url}: {reason}"),
                }
            }
            e => SourceError::File {
                origin: url.clone(),
                reason: e.to_string(),
            },
        })?;
        let signature = extracted.signature.clone().or(detached);
        let digest = ferry_bundle::digest::sha256_hex(&extracted.manifest);
        if cursor.as_ref().is_some_and(|c| c.digest == digest) {
            return Ok(Poll::Unchanged);
        }
        let next = Cursor { digest, ..next };
        Ok(Poll::Found(Found {
            manifest: extracted.manifest,
            signature,
            cursor: serde_json::to_string(&next).unwrap_or_default(),
            origin: url,
            files: Box::new(super::ExtractedFiles {
                dir,
                origin: self.url.clone(),
            }),
            refused: Vec::new(),
        }))
    }
}

impl Source for HttpSource {
    fn describe(&self) -> String {
        format!("http {}", self.url)
    }

    fn poll(&mut self, cursor: Option<&str>, policy: &VerifyPolicy) -> Result<Poll, SourceError> {
        let cursor: Option<Cursor> = cursor
            .and_then(|c| serde_json::from_str::<Cursor>(c).ok())
            .filter(|c| c.url == self.url);
        if self.is_archive() {
            self.poll_archive(cursor, policy)
        } else {
            self.poll_exploded(cursor, policy)
        }
    }
}

/// Downloads blobs of the exploded layout, each bounded by its manifest size.
struct BlobFetcher {
    base: String,
    endpoint: Endpoint,
    source: String,
}

impl FileFetcher for BlobFetcher {
    fn fetch(&mut self, entry: &FileEntry) -> Result<Vec<u8>, SourceError> {
        let url = format!(
            "{}{}",
            self.base,
            ferry_bundle::layout::blob_rel(&entry.sha256)
        );
        let resp = self
            .endpoint
            .get(&url, &[])
            .map_err(|e| SourceError::Unreachable {
                source_name: self.source.clone(),
                reason: e.to_string(),
            })?;
        let status = resp.status().as_u16();
        if status != 200 {
            return Err(SourceError::File {
                origin: url,
                reason: format!("HTTP {status} for {}", entry.path),
            });
        }
        let reader = resp.into_body().into_with_config().limit(u64::MAX).reader();
        verify::read_verified(entry, reader).map_err(|e| match e {
            verify::VerifyError::Read { reason, .. } => SourceError::Unreachable {
                source_name: self.source.clone(),
                reason: format!("{url}: {reason}"),
            },
            e => SourceError::File {
                origin: url,
                reason: e.to_string(),
            },
        })
    }

    fn open_image_blob(
        &mut self,
        sha256: &ferry_bundle::digest::Sha256,
    ) -> Result<Box<dyn std::io::Read + Send + '_>, SourceError> {
        let url = format!(
            "{}{}",
            self.base,
            ferry_bundle::layout::blob_rel(sha256.as_str())
        );
        let resp = self
            .endpoint
            .get(&url, &[])
            .map_err(|e| SourceError::Unreachable {
                source_name: self.source.clone(),
                reason: e.to_string(),
            })?;
        let status = resp.status().as_u16();
        if status != 200 {
            return Err(SourceError::File {
                origin: url,
                reason: format!("HTTP {status} for image blob"),
            });
        }
        Ok(Box::new(
            resp.into_body().into_with_config().limit(u64::MAX).reader(),
        ))
    }
}
