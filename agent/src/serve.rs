//! `ferry-agent serve`: this agent's verified cache over HTTP in the exploded layout, so other
//! nodes of an air-gapped site can sync from it (`http` source with `url: http://node:8470/<sync>/`).
//! Only what a sync has applied is served: its manifest, signature and the blobs it lists.
//! Trust stays end to end: every node verifies the signature itself, so the relay needs none.

use crate::store::blobs::BlobCache;
use crate::store::Store;
use ferry_bundle::manifest::Manifest;
use std::io::{BufRead, BufReader, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::Arc;

/// What a request resolves to.
enum Answer {
    Body {
        content_type: &'static str,
        body: Vec<u8>,
        etag: String,
    },
    /// An image blob, streamed from the cache (never read whole).
    File {
        path: std::path::PathBuf,
        size: u64,
        etag: String,
    },
    NotModified,
    NotFound,
}

/// The cache and store behind the server.
pub struct Relay {
    pub store: Store,
    pub blobs: BlobCache,
    pub syncs: Vec<String>,
}

impl Relay {
    fn answer(&self, path: &str, if_none_match: Option<&str>) -> Answer {
        let mut parts = path.trim_start_matches('/').splitn(2, '/');
        let (Some(sync), Some(rest)) = (parts.next(), parts.next()) else {
            return Answer::NotFound;
        };
        if !self.syncs.iter().any(|s| s == sync) {
            return Answer::NotFound;
        }
        let Ok(Some((_, _, digest))) = self.store.sync_state(sync).map(|s| s.good) else {
            return Answer::NotFound;
        };
        let Ok(Some((manifest, signature))) = self.store.bundle(&digest) else {
            return Answer::NotFound;
        };
        let etag = format!("\"{}\"", &digest[..16]);
        let answer = match rest {
            "bundle.yaml" => Answer::Body {
                content_type: "application/yaml",
                body: manifest,
                etag,
            },
            "bundle.yaml.minisig" => match signature {
                Some(s) => Answer::Body {
                    content_type: "text/plain",
                    body: s.into_bytes(),
                    etag,
                },
                None => Answer::NotFound,
            },
            blob => {
                let Some(sha) = blob.strip_prefix("blobs/sha256/") else {
                    return Answer::NotFound;
                };
                let parsed = Manifest::parse(&manifest).ok();
                let listed = parsed
                    .as_ref()
                    .is_some_and(|m| m.files.iter().any(|f| f.sha256 == sha));
                let image_blob = parsed
                    .as_ref()
                    .and_then(|m| m.images.iter().find_map(|i| i.blob(sha)).cloned());
                if let (false, Some(b)) = (listed, image_blob) {
                    return match self.blobs.has(&b.sha256) {
                        true => Answer::File {
                            path: self.blobs.path(&b.sha256),
                            size: b.size,
                            etag: format!("\"{}\"", &b.sha256[..16]),
                        },
                        false => Answer::NotFound,
                    };
                }
                match (listed, self.blobs.read(sha)) {
                    (true, Ok(body)) => Answer::Body {
                        content_type: "application/octet-stream",
                        body,
                        etag: format!("\"{}\"", &sha[..16]),
                    },
                    _ => Answer::NotFound,
                }
            }
        };
        match (&answer, if_none_match) {
            (Answer::Body { etag, .. }, Some(tag)) if tag == etag => Answer::NotModified,
            _ => answer,
        }
    }

    fn handle(&self, stream: TcpStream) -> std::io::Result<()> {
        let mut reader = BufReader::new(stream.try_clone()?);
        let mut line = String::new();
        reader.read_line(&mut line)?;
        let mut parts = line.split_whitespace();
        let (method, path) = (
            parts.next().unwrap_or_default().to_string(),
            parts.next().unwrap_or_default().to_string(),
        );
        let mut if_none_match = None;
        loop {
            let mut h = String::new();
            if reader.read_line(&mut h)? == 0 || h.trim().is_empty() {
                break;
            }
            if let Some((k, v)) = h.split_once(':') {
                if k.trim().eq_ignore_ascii_case("if-none-match") {
                    if_none_match = Some(v.trim().to_string());
                }
            }
        }
        let mut out = stream;
        if method != "GET" && method != "HEAD" {
            return write!(
                out,
                "HTTP/1.1 405 Method Not Allowed\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
            );
        }
        match self.answer(&path, if_none_match.as_deref()) {
            Answer::Body {
                content_type,
                body,
                etag,
            } => {
                write!(out, "HTTP/1.1 200 OK\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\nETag: {etag}\r\nConnection: close\r\n\r\n", body.len())?;
                if method == "GET" {
                    out.write_all(&body)?;
                }
                Ok(())
            }
            Answer::File { path, size, etag } => {
                let file = crate::images::fetch::open_regular(&path)?;
                write!(out, "HTTP/1.1 200 OK\r\nContent-Type: application/octet-stream\r\nContent-Length: {size}\r\nETag: {etag}\r\nConnection: close\r\n\r\n")?;
                if method == "GET" {
                    std::io::copy(&mut std::io::Read::take(file, size), &mut out)?;
                }
                Ok(())
            }
            Answer::NotModified => write!(
                out,
                "HTTP/1.1 304 Not Modified\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
            ),
            Answer::NotFound => write!(
                out,
                "HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
            ),
        }
    }
}

/// Serves until the process ends (one short-lived thread per connection).
pub fn serve(listener: TcpListener, relay: Arc<Relay>) {
    for conn in listener.incoming() {
        let Ok(conn) = conn else { continue };
        let relay = relay.clone();
        std::thread::spawn(move || {
            let _ = conn.set_read_timeout(Some(std::time::Duration::from_secs(30)));
            if let Err(e) = relay.handle(conn) {
                tracing::debug!("serve: {e}");
            }
        });
    }
}
