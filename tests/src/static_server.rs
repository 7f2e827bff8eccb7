//! A real HTTPS file server for source tests: serves a directory with `ETag` and
//! `Last-Modified`, answers conditional requests with 304, can require basic or bearer auth,
//! and can misbehave on chosen paths (endless or truncated bodies) or go down (503).

use crate::kube_sim::http::{self, Delivery, Fault, Handler, Request, Response};
use crate::kube_sim::Pki;
use std::collections::BTreeMap;
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

/// One request as served.
#[derive(Debug, Clone)]
pub struct Served {
    pub method: String,
    pub path: String,
    pub status: u16,
    pub bytes: usize,
}

#[derive(Default)]
struct State {
    root: PathBuf,
    log: Mutex<Vec<Served>>,
    authorization: Mutex<Option<String>>,
    hostile: Mutex<BTreeMap<String, Delivery>>,
    down: AtomicBool,
}

struct Files(Arc<State>);

impl Handler for Files {
    fn fault(&self, _req: &Request) -> Fault {
        Fault::None
    }

    fn handle(&self, req: Request) -> Response {
        let resp = self.respond(&req);
        let served = Served {
            method: req.method.clone(),
            path: req.path.clone(),
            status: resp.status,
            bytes: resp.body.len(),
        };
        self.0
            .log
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(served);
        resp
    }
}

impl Files {
    fn respond(&self, req: &Request) -> Response {
        if self.0.down.load(Ordering::SeqCst) {
            return Response::new(503, "text/plain", b"down".to_vec());
        }
        if let Some(want) = self
            .0
            .authorization
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .as_ref()
        {
            if req.header("Authorization") != Some(want.as_str()) {
                let mut r = Response::new(401, "text/plain", b"unauthorized".to_vec());
                r.headers
                    .push(("WWW-Authenticate".into(), "Basic realm=\"ferry\"".into()));
                return r;
            }
        }
        let rel = req.path.trim_start_matches('/');
        if rel.split('/').any(|c| c == "..") {
            return Response::new(400, "text/plain", Vec::new());
        }
        let path = self.0.root.join(rel);
        let Ok(body) = std::fs::read(&path) else {
            return Response::new(404, "text/plain", b"not found".to_vec());
        };
        let etag = format!(
            "\"{}\"",
            &hex::encode(<sha2::Sha256 as sha2::Digest>::digest(&body))[..16]
        );
        let mtime = std::fs::metadata(&path)
            .and_then(|m| m.modified())
            .unwrap_or(std::time::UNIX_EPOCH);
        let last_modified = httpdate::fmt_http_date(mtime);
        let not_modified = match (req.header("If-None-Match"), req.header("If-Modified-Since")) {
            (Some(tag), _) => tag == etag,
            (None, Some(since)) => httpdate::parse_http_date(since).is_ok_and(|s| {
                s >= mtime
                    - std::time::Duration::from_nanos(
                        mtime
                            .duration_since(std::time::UNIX_EPOCH)
                            .map(|d| d.subsec_nanos() as u64)
                            .unwrap_or(0),
                    )
            }),
            (None, None) => false,
        };
        let mut resp = if not_modified {
            Response::new(304, "text/plain", Vec::new())
        } else {
            Response::new(200, "application/octet-stream", body)
        };
        resp.headers.push(("ETag".into(), etag));
        resp.headers.push(("Last-Modified".into(), last_modified));
        if let Some(d) = self
            .0
            .hostile
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(&req.path)
        {
            resp.delivery = *d;
        }
        resp
    }
}

/// A running file server.
pub struct StaticServer {
    /// Base URL, ending in `/`.
    pub url: String,
    pub pki: Pki,
    state: Arc<State>,
    stop: Arc<AtomicBool>,
    files: tempfile::TempDir,
}

impl StaticServer {
    /// Serves `root` over HTTPS on a free loopback port.
    pub fn start(root: &Path) -> anyhow::Result<Self> {
        let pki = Pki::generate()?;
        let listener = TcpListener::bind("127.0.0.1:0")?;
        let url = format!("https://127.0.0.1:{}/", listener.local_addr()?.port());
        let state = Arc::new(State {
            root: root.to_path_buf(),
            ..State::default()
        });
        let stop = Arc::new(AtomicBool::new(false));
        http::serve(
            listener,
            pki.server_config()?,
            Arc::new(Files(state.clone())),
            stop.clone(),
        );
        let files = tempfile::tempdir()?;
        std::fs::write(files.path().join("ca.pem"), &pki.ca_pem)?;
        Ok(StaticServer {
            url,
            pki,
            state,
            stop,
            files,
        })
    }

    /// The CA file clients must trust.
    pub fn ca_file(&self) -> PathBuf {
        self.files.path().join("ca.pem")
    }

    /// Requires this exact `Authorization` header from now on.
    pub fn require_authorization(&self, value: Option<&str>) {
        *self
            .state
            .authorization
            .lock()
            .unwrap_or_else(|e| e.into_inner()) = value.map(str::to_string);
    }

    /// Makes `path` (e.g. `/blobs/sha256/...`) misbehave.
    pub fn hostile(&self, path: &str, delivery: Delivery) {
        self.state
            .hostile
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(path.to_string(), delivery);
    }

    pub fn set_down(&self, down: bool) {
        self.state.down.store(down, Ordering::SeqCst);
    }

    pub fn log(&self) -> Vec<Served> {
        self.state
            .log
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    pub fn clear_log(&self) {
        self.state
            .log
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clear();
    }
}

impl Drop for StaticServer {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
    }
}
