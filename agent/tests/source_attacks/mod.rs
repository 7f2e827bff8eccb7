//! Hostile servers for the issue-20 source attacks (`hostile_sources_oci`, `hostile_sources_git`),
//! and the device they attack: the real `ferry-agent sync --once` under the unit's memory limit
//! (`RLIMIT_DATA` = `MemoryMax=128M`, as `hostile_drop_bounds` does), revision 1 applied first,
//! and the checks after each attack (exit 0/1, the named error, bounded output, revision 1
//! still applied, `state.db` `integrity_check` = ok).

#![allow(dead_code)]

pub mod git;

use crate::common::*;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::path::PathBuf;
use std::process::Command;
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// The unit's `MemoryMax=128M`.
pub const MEMORY_MAX: u64 = 128 << 20;

/// One request as a hostile server saw it.
#[derive(Debug, Clone)]
pub struct Seen {
    pub method: String,
    /// Path with the query string.
    pub target: String,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Seen {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
    pub fn path(&self) -> &str {
        self.target.split('?').next().unwrap_or_default()
    }
}

/// How a body is sent.
pub enum Body {
    Bytes(Vec<u8>),
    /// One byte every 200 ms (a slow-trickle answer that defeats per-read timeouts).
    Trickle(Vec<u8>),
    /// Written by a function, closed by the end of the connection (no `Content-Length`).
    Stream(Box<Writer>),
}

/// Writes a streamed body.
pub type Writer = dyn FnOnce(&mut dyn Write) -> std::io::Result<()> + Send;

pub struct Reply {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Body,
}

impl Reply {
    pub fn new(status: u16, content_type: &str, body: Vec<u8>) -> Self {
        Reply {
            status,
            headers: vec![("Content-Type".into(), content_type.into())],
            body: Body::Bytes(body),
        }
    }
    pub fn header(mut self, k: &str, v: &str) -> Self {
        self.headers.push((k.into(), v.into()));
        self
    }
}

type Handler = dyn Fn(&Seen) -> Reply + Send + Sync;

/// An HTTP/1.1 server (TLS with our CA, or plain) answering every request with `handler`, one
/// request per connection; every request is recorded.
pub struct HostileHttp {
    pub port: u16,
    pub tls: bool,
    pub seen: Arc<Mutex<Vec<Seen>>>,
    handler: Arc<Mutex<Arc<Handler>>>,
    pki_dir: tempfile::TempDir,
}

impl HostileHttp {
    pub fn start(tls: bool) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let pki = ferry_tests::kube_sim::Pki::generate().unwrap();
        let pki_dir = tempfile::tempdir().unwrap();
        std::fs::write(pki_dir.path().join("ca.pem"), &pki.ca_pem).unwrap();
        let config = pki.server_config().unwrap();
        let seen = Arc::new(Mutex::new(Vec::new()));
        let handler: Arc<Mutex<Arc<Handler>>> = Arc::new(Mutex::new(Arc::new(|_: &Seen| {
            Reply::new(404, "text/plain", b"not found".to_vec())
        })));
        let (s, h) = (seen.clone(), handler.clone());
        std::thread::spawn(move || {
            for sock in listener.incoming() {
                let Ok(sock) = sock else { continue };
                let (s, h, config) = (s.clone(), h.clone(), config.clone());
                std::thread::spawn(move || {
                    let _ = sock.set_read_timeout(Some(Duration::from_secs(30)));
                    if tls {
                        let conn = rustls::ServerConnection::new(config).unwrap();
                        let mut stream = rustls::StreamOwned::new(conn, sock);
                        let _ = serve_one(&mut stream, &s, &h);
                        stream.conn.send_close_notify();
                        let _ = stream.flush();
                    } else {
                        let mut sock = sock;
                        let _ = serve_one(&mut sock, &s, &h);
                    }
                });
            }
        });
        HostileHttp {
            port,
            tls,
            seen,
            handler,
            pki_dir,
        }
    }

    pub fn base(&self) -> String {
        let scheme = if self.tls { "https" } else { "http" };
        format!("{scheme}://127.0.0.1:{}", self.port)
    }

    pub fn ca_file(&self) -> PathBuf {
        self.pki_dir.path().join("ca.pem")
    }

    pub fn set(&self, handler: impl Fn(&Seen) -> Reply + Send + Sync + 'static) {
        *self.handler.lock().unwrap() = Arc::new(handler);
    }

    pub fn requests(&self) -> Vec<Seen> {
        self.seen.lock().unwrap().clone()
    }
}

fn serve_one<S: Read + Write>(
    stream: &mut S,
    seen: &Mutex<Vec<Seen>>,
    handler: &Mutex<Arc<Handler>>,
) -> std::io::Result<()> {
    let mut reader = BufReader::new(&mut *stream);
    let mut line = String::new();
    reader.read_line(&mut line)?;
    let mut parts = line.split_whitespace();
    let method = parts.next().unwrap_or_default().to_string();
    let target = parts.next().unwrap_or_default().to_string();
    let mut headers = Vec::new();
    loop {
        let mut h = String::new();
        reader.read_line(&mut h)?;
        let h = h.trim_end();
        if h.is_empty() {
            break;
        }
        if let Some((k, v)) = h.split_once(':') {
            headers.push((k.trim().to_string(), v.trim().to_string()));
        }
    }
    let len = headers
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case("content-length"))
        .and_then(|(_, v)| v.parse::<usize>().ok())
        .unwrap_or(0);
    let mut body = vec![0; len];
    reader.read_exact(&mut body)?;
    let req = Seen {
        method,
        target,
        headers,
        body,
    };
    seen.lock().unwrap().push(req.clone());
    let h = handler.lock().unwrap().clone();
    let reply = h(&req);
    let mut head = format!("HTTP/1.1 {} X\r\nConnection: close\r\n", reply.status);
    for (k, v) in &reply.headers {
        head.push_str(&format!("{k}: {v}\r\n"));
    }
    match reply.body {
        Body::Bytes(b) => {
            head.push_str(&format!("Content-Length: {}\r\n\r\n", b.len()));
            stream.write_all(head.as_bytes())?;
            if req.method != "HEAD" {
                stream.write_all(&b)?;
            }
        }
        Body::Trickle(b) => {
            head.push_str(&format!("Content-Length: {}\r\n\r\n", b.len()));
            stream.write_all(head.as_bytes())?;
            for byte in b {
                stream.write_all(&[byte])?;
                stream.flush()?;
                std::thread::sleep(Duration::from_millis(200));
            }
        }
        Body::Stream(f) => {
            head.push_str("\r\n");
            stream.write_all(head.as_bytes())?;
            f(stream)?;
        }
    }
    stream.flush()
}

/// A device with the attacked source configured and revision 1 applied from it.
pub struct Device {
    pub env: Env,
}

impl Device {
    /// A device whose sync `app` uses `source` (a YAML flow mapping), `extra` lines in the sync.
    pub fn new(source: &str) -> Self {
        let env = Env::new();
        env.write_config_source("", source, "timeout: 5s", "");
        Device { env }
    }

    /// Syncs once and checks that revision `revision` was applied.
    pub fn applied(&self, revision: u64) {
        let (code, out) = self.sync();
        assert_eq!(code, 0, "{out}");
        assert_eq!(
            self.env.obj("", "ConfigMap", "default", "a").unwrap()["data"]["value"],
            revision.to_string(),
            "{out}"
        );
    }

    /// `sync --once` under the memory limit; a hang is killed after `deadline` seconds (137).
    /// Its peak RSS is printed (`cargo test -- --nocapture` shows it).
    pub fn sync_within(&self, deadline: u64) -> (i32, String) {
        let o = Command::new("timeout")
            .args(["--signal=KILL", &deadline.to_string(), "/usr/bin/time"])
            .args(["-f", "peak RSS %M KiB", "prlimit"])
            .arg(format!("--data={MEMORY_MAX}"))
            .arg(env!("CARGO_BIN_EXE_ferry-agent"))
            .arg("--config")
            .arg(&self.env.config)
            .args(["sync", "--once"])
            .output()
            .unwrap();
        (
            o.status.code().unwrap_or(-1),
            format!(
                "{}{}",
                String::from_utf8_lossy(&o.stdout),
                String::from_utf8_lossy(&o.stderr)
            ),
        )
    }

    pub fn sync(&self) -> (i32, String) {
        self.sync_within(300)
    }

    pub fn state(&self) -> PathBuf {
        self.env.dir.path().join("state")
    }

    pub fn integrity(&self) -> String {
        let c = rusqlite::Connection::open(self.state().join("state.db")).unwrap();
        c.query_row("PRAGMA integrity_check", [], |r| r.get::<_, String>(0))
            .unwrap()
    }

    /// Bytes under the state directory.
    pub fn state_bytes(&self) -> u64 {
        let mut total = 0;
        let mut stack = vec![self.state()];
        while let Some(dir) = stack.pop() {
            for e in std::fs::read_dir(&dir).unwrap() {
                let e = e.unwrap();
                let m = e.metadata().unwrap();
                if m.is_dir() {
                    stack.push(e.path());
                } else {
                    total += m.len();
                }
            }
        }
        total
    }

    /// Syncs once (killed after `deadline` s) and checks the outcome of an attack: the agent
    /// finished (no abort under the memory limit, no hang) with `expect` in its output, the
    /// output is bounded, revision 1 is still applied and `state.db` is intact. Returns the
    /// output.
    pub fn attack(&self, what: &str, expect: &str, deadline: u64) -> String {
        let (code, out) = self.sync_within(deadline);
        eprintln!(
            "{what}: {}",
            out.lines()
                .rfind(|l| l.starts_with("peak RSS"))
                .unwrap_or("no peak RSS")
        );
        let shown = ferry_bundle::text::bounded(&out, 4096);
        assert!(
            code == 0 || code == 1,
            "{what}: the agent did not finish (exit {code}): {shown}"
        );
        assert!(
            out.contains(expect),
            "{what}: expected {expect:?} in: {shown}"
        );
        assert!(
            out.len() < 64 * 1024,
            "{what}: {} bytes of output",
            out.len()
        );
        assert_eq!(
            self.env.obj("", "ConfigMap", "default", "a").unwrap()["data"]["value"],
            "1",
            "{what}: the last good revision must stay applied: {shown}"
        );
        assert_eq!(self.integrity(), "ok", "{what}");
        out
    }
}

/// The files of revision `revision` of the test bundle (one ConfigMap `a`).
pub fn files(revision: u64) -> Vec<(&'static str, String)> {
    vec![("a.yaml", cm("a", "default", &revision.to_string()))]
}
