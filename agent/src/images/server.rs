//! The mirror's IO shell: a minimal bounded HTTP/1.1 server on std::net (until the shared
//! bounded server lands it can mount [`super::mirror::answer`] instead). Bounds: request head at
//! most 16 KiB and 64 header lines, at most `max_connections` at once (more are answered 503),
//! read and write timeouts, one request per connection. Blobs stream from the cache file; index
//! and manifest blobs (at most 4 MiB) are re-hashed before they are sent, so a cache file that
//! changed on disk is refused (500) instead of reaching containerd.

use super::map::ImageMap;
use super::mirror::{self, Kind, Method, MirrorAnswer};
use crate::store::blobs::BlobCache;
use std::collections::BTreeMap;
use std::io::{self, BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// Longest request head read.
pub const MAX_HEAD: usize = 16 * 1024;
/// Most header lines read.
pub const MAX_HEADERS: usize = 64;

/// What the mirror served (for tests, metrics and benchmarks).
#[derive(Debug, Default)]
pub struct MirrorStats {
    pub requests: AtomicU64,
    pub not_found: AtomicU64,
    pub refused: AtomicU64,
    pub bytes: AtomicU64,
    /// GET requests per served digest (hex).
    pub gets: Mutex<BTreeMap<String, u64>>,
}

impl MirrorStats {
    /// GETs of `sha256` so far.
    pub fn gets_of(&self, sha256: &str) -> u64 {
        self.gets
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(sha256)
            .copied()
            .unwrap_or(0)
    }
}

/// Where the map comes from: the store (daemon) or a fixed map.
pub type MapFn = Arc<dyn Fn() -> Arc<ImageMap> + Send + Sync>;

/// The mirror: cache, map and counters.
pub struct Mirror {
    pub cache: BlobCache,
    pub map: MapFn,
    pub stats: Arc<MirrorStats>,
    pub max_connections: usize,
    pub timeout: Duration,
    active: AtomicUsize,
}

impl Mirror {
    pub fn new(cache: BlobCache, map: MapFn) -> Self {
        Mirror {
            cache,
            map,
            stats: Arc::new(MirrorStats::default()),
            max_connections: 64,
            timeout: Duration::from_secs(30),
            active: AtomicUsize::new(0),
        }
    }
}

/// A parsed request head.
struct Head {
    method: String,
    target: String,
}

/// Reads the request line and headers within the bounds; None for a malformed head.
fn read_head(reader: &mut impl BufRead) -> io::Result<Option<Head>> {
    let mut limited = reader.take(MAX_HEAD as u64);
    let mut line = String::new();
    limited.read_line(&mut line)?;
    let mut parts = line.split_whitespace();
    let (Some(method), Some(target), Some(version)) = (parts.next(), parts.next(), parts.next())
    else {
        return Ok(None);
    };
    if !version.starts_with("HTTP/1.") {
        return Ok(None);
    }
    let head = Head {
        method: method.to_string(),
        target: target.to_string(),
    };
    for _ in 0..MAX_HEADERS {
        let mut h = String::new();
        if limited.read_line(&mut h)? == 0 {
            return Ok(None);
        }
        if h.trim().is_empty() {
            return Ok(Some(head));
        }
    }
    Ok(None)
}

fn status_only(out: &mut TcpStream, status: &str) -> io::Result<()> {
    write!(
        out,
        "HTTP/1.1 {status}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
    )
}

impl Mirror {
    fn handle(&self, stream: TcpStream) -> io::Result<()> {
        stream.set_read_timeout(Some(self.timeout))?;
        stream.set_write_timeout(Some(self.timeout))?;
        let mut reader = BufReader::new(stream.try_clone()?);
        let mut out = stream;
        let Some(head) = read_head(&mut reader)? else {
            return status_only(&mut out, "400 Bad Request");
        };
        self.stats.requests.fetch_add(1, Ordering::Relaxed);
        let map = (self.map)();
        match mirror::answer(&head.method, &head.target, &map) {
            MirrorAnswer::MethodNotAllowed => status_only(&mut out, "405 Method Not Allowed"),
            MirrorAnswer::NotFound => {
                self.stats.not_found.fetch_add(1, Ordering::Relaxed);
                status_only(&mut out, "404 Not Found")
            }
            MirrorAnswer::Serve {
                method,
                kind,
                digest,
                media_type,
                size,
            } => {
                let path = self.cache.path(digest.hex());
                let Ok(file) = super::fetch::open_regular(&path) else {
                    self.stats.not_found.fetch_add(1, Ordering::Relaxed);
                    return status_only(&mut out, "404 Not Found");
                };
                if file.metadata().map(|m| m.len()).ok() != Some(size) {
                    self.stats.refused.fetch_add(1, Ordering::Relaxed);
                    return status_only(&mut out, "500 Internal Server Error");
                }
                let small = match kind {
                    Kind::Manifest => {
                        let mut buf = Vec::new();
                        file.take(size + 1).read_to_end(&mut buf)?;
                        if ferry_bundle::digest::sha256_hex(&buf) != digest.hex() {
                            self.stats.refused.fetch_add(1, Ordering::Relaxed);
                            return status_only(&mut out, "500 Internal Server Error");
                        }
                        Some(buf)
                    }
                    Kind::Blob => None,
                };
                write!(
                    out,
                    "HTTP/1.1 200 OK\r\nContent-Type: {media_type}\r\nDocker-Content-Digest: sha256:{}\r\nContent-Length: {size}\r\nConnection: close\r\n\r\n",
                    digest.hex()
                )?;
                if method == Method::Head {
                    return Ok(());
                }
                *self
                    .stats
                    .gets
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .entry(digest.hex().to_string())
                    .or_default() += 1;
                let sent = match small {
                    Some(buf) => out.write_all(&buf).map(|_| size)?,
                    None => {
                        let file = super::fetch::open_regular(&path)?;
                        io::copy(&mut file.take(size), &mut out)?
                    }
                };
                self.stats.bytes.fetch_add(sent, Ordering::Relaxed);
                out.flush()
            }
        }
    }
}

/// Frees a connection slot when the connection's thread ends.
struct Slot<'a>(&'a AtomicUsize);

impl Drop for Slot<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::SeqCst);
    }
}

/// Serves until the process ends (one short-lived thread per connection, capped).
pub fn serve(listener: TcpListener, mirror: Arc<Mirror>) {
    for conn in listener.incoming() {
        let Ok(mut conn) = conn else { continue };
        if mirror.active.fetch_add(1, Ordering::SeqCst) >= mirror.max_connections {
            mirror.active.fetch_sub(1, Ordering::SeqCst);
            let _ = conn.set_write_timeout(Some(Duration::from_secs(1)));
            let _ = status_only(&mut conn, "503 Service Unavailable");
            continue;
        }
        let mirror = mirror.clone();
        std::thread::spawn(move || {
            let _slot = Slot(&mirror.active);
            if let Err(e) = mirror.handle(conn) {
                tracing::debug!("image mirror: {e}");
            }
        });
    }
}
