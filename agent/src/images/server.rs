//! The mirror's IO shell: [`super::mirror::answer`] (a pure request -> answer function) mounted
//! on the agent's one bounded HTTP server ([`crate::httpd`]), which bounds the request head,
//! concurrent connections and timeouts. Blobs stream from the cache file (opened without
//! following symlinks); index and manifest blobs (at most 4 MiB) are re-hashed before they are
//! sent, so a cache file that changed on disk is refused (500) instead of reaching containerd.

use super::map::ImageMap;
use super::mirror::{self, Kind, MirrorAnswer};
use crate::httpd::{self, Body, Handler, Method, Request, Response, ServerLimits};
use crate::store::blobs::BlobCache;
use std::collections::BTreeMap;
use std::io::Read;
use std::net::TcpListener;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

/// What the mirror served (for tests, metrics and benchmarks).
#[derive(Debug, Default)]
pub struct MirrorStats {
    pub requests: AtomicU64,
    pub not_found: AtomicU64,
    pub refused: AtomicU64,
    /// Bytes of blobs answered to GET requests.
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

/// The mirror: cache, map, counters and the server's limits.
pub struct Mirror {
    pub cache: BlobCache,
    pub map: MapFn,
    pub stats: Arc<MirrorStats>,
    pub limits: ServerLimits,
}

/// The mirror's bounds: containerd fetches a few layers of a few images at once (64
/// connections), every client is local (one address, so the per-client cap is the global one;
/// idle connections are the reserve: a flood of silent local connections is closed in favour
/// of containerd's), and containerd reads from loopback fast (an answer must progress at
/// 256 KiB/s on average).
pub fn mirror_limits() -> ServerLimits {
    ServerLimits {
        max_connections: 64,
        max_per_client: 64,
        min_send_rate: 256 * 1024,
        ..ServerLimits::default()
    }
}

impl Mirror {
    pub fn new(cache: BlobCache, map: MapFn) -> Self {
        Mirror {
            cache,
            map,
            stats: Arc::new(MirrorStats::default()),
            limits: mirror_limits(),
        }
    }

    fn refused(&self) -> Response {
        self.stats.refused.fetch_add(1, Ordering::Relaxed);
        Response::status(500)
    }

    fn not_found(&self) -> Response {
        self.stats.not_found.fetch_add(1, Ordering::Relaxed);
        Response::status(404)
    }
}

impl Handler for Mirror {
    fn handle(&self, request: &Request) -> Response {
        self.stats.requests.fetch_add(1, Ordering::Relaxed);
        let method = match request.method {
            Method::Get => "GET",
            Method::Head => "HEAD",
            Method::Other => return Response::status(405),
        };
        let target = match request.query.is_empty() {
            true => request.path.clone(),
            false => format!("{}?{}", request.path, request.query),
        };
        let map = (self.map)();
        let (kind, digest, media_type, size) = match mirror::answer(method, &target, &map) {
            MirrorAnswer::MethodNotAllowed => return Response::status(405),
            MirrorAnswer::NotFound => return self.not_found(),
            MirrorAnswer::Serve {
                kind,
                digest,
                media_type,
                size,
                ..
            } => (kind, digest, media_type, size),
        };
        let Ok((file, len)) = self.cache.open_blob(digest.sha256()) else {
            return self.not_found();
        };
        if len != size {
            return self.refused();
        }
        let body = match kind {
            Kind::Manifest => {
                let mut buf = Vec::new();
                if file.take(size + 1).read_to_end(&mut buf).is_err()
                    || ferry_bundle::digest::sha256_hex(&buf) != digest.hex()
                {
                    return self.refused();
                }
                Body::Bytes(buf)
            }
            Kind::Blob => Body::File(file, size),
        };
        if request.method == Method::Get {
            *self
                .stats
                .gets
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .entry(digest.hex().to_string())
                .or_default() += 1;
            self.stats.bytes.fetch_add(size, Ordering::Relaxed);
        }
        Response {
            status: 200,
            content_type: media_type.into(),
            etag: None,
            headers: vec![("Docker-Content-Digest", format!("sha256:{}", digest.hex()))],
            body,
        }
    }
}

/// Serves until the process ends, within `mirror.limits`.
pub fn serve(listener: TcpListener, mirror: Arc<Mirror>) {
    let limits = mirror.limits;
    httpd::serve(listener, limits, mirror);
}
