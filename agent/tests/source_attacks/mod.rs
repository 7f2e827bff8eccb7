//! Hostile servers for the issue-20 source attacks (`hostile_sources_oci`, `hostile_sources_git`),
//! and the device they attack: the real `ferry-agent sync --once` under the unit's memory limit
//! (`RLIMIT_DATA` = `MemoryMax=128M`, as `hostile_drop_bounds` does), revision 1 applied first,
//! and the checks after each attack (exit 0/1, the named error, bounded output, revision 1
//! still applied, `state.db` `integrity_check` = ok).

#![allow(dead_code)]

use crate::common::*;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
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
    Stream(Box<dyn FnOnce(&mut dyn Write) -> std::io::Result<()> + Send>),
}

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

/// A `git://` server in front of a real `git daemon`: it passes connections through until an
/// attack is set, then answers every connection with it (after reading the request line, and
/// for protocol v2 the command that follows the capability advertisement).
pub struct HostileGitDaemon {
    pub port: u16,
    attack: Arc<Mutex<Option<GitAnswer>>>,
}

/// What a hostile `git://` server answers.
#[derive(Clone, Copy, Debug)]
pub enum GitAnswer {
    /// A protocol-v0 ref advertisement of `n` refs.
    V0Refs(usize),
    /// A protocol-v2 capability advertisement, then an `ls-refs` answer of `n` refs.
    V2LsRefs(usize),
}

fn pkt(out: &mut Vec<u8>, line: &str) {
    out.extend_from_slice(format!("{:04x}{line}", line.len() + 4).as_bytes());
}

/// Writes `n` refs as pkt-lines in chunks (never all in memory), `first` ending the first line.
pub fn write_refs(w: &mut dyn Write, n: usize, first: &str) -> std::io::Result<()> {
    let mut chunk = Vec::with_capacity(1 << 20);
    for i in 0..n {
        let suffix = if i == 0 { first } else { "" };
        pkt(
            &mut chunk,
            &format!("{:040x} refs/heads/b{i}{suffix}\n", i + 1),
        );
        if chunk.len() > (1 << 20) - 128 {
            w.write_all(&chunk)?;
            chunk.clear();
        }
    }
    chunk.extend_from_slice(b"0000");
    w.write_all(&chunk)
}

fn read_pkt(r: &mut impl Read) -> std::io::Result<Option<Vec<u8>>> {
    let mut len = [0u8; 4];
    r.read_exact(&mut len)?;
    let n = usize::from_str_radix(std::str::from_utf8(&len).unwrap_or("0"), 16).unwrap_or(0);
    if n < 4 {
        return Ok(None);
    }
    let mut data = vec![0; n - 4];
    r.read_exact(&mut data)?;
    Ok(Some(data))
}

impl HostileGitDaemon {
    /// In front of the real daemon on `upstream`.
    pub fn start(upstream: u16) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let attack: Arc<Mutex<Option<GitAnswer>>> = Arc::new(Mutex::new(None));
        let a = attack.clone();
        std::thread::spawn(move || {
            for sock in listener.incoming() {
                let Ok(sock) = sock else { continue };
                let current = *a.lock().unwrap();
                std::thread::spawn(move || {
                    let _ = match current {
                        Some(answer) => Self::answer(sock, answer),
                        None => Self::pass(sock, upstream),
                    };
                });
            }
        });
        HostileGitDaemon { port, attack }
    }

    pub fn set(&self, answer: Option<GitAnswer>) {
        *self.attack.lock().unwrap() = answer;
    }

    fn pass(sock: TcpStream, upstream: u16) -> std::io::Result<()> {
        let up = TcpStream::connect(("127.0.0.1", upstream))?;
        let (mut a, mut b) = (sock.try_clone()?, up.try_clone()?);
        let t = std::thread::spawn(move || {
            let _ = std::io::copy(&mut a, &mut b);
            let _ = b.shutdown(std::net::Shutdown::Write);
        });
        let (mut up, mut sock) = (up, sock);
        let _ = std::io::copy(&mut up, &mut sock);
        let _ = sock.shutdown(std::net::Shutdown::Write);
        let _ = t.join();
        Ok(())
    }

    fn answer(mut sock: TcpStream, answer: GitAnswer) -> std::io::Result<()> {
        sock.set_read_timeout(Some(Duration::from_secs(30)))?;
        read_pkt(&mut sock)?; // git-upload-pack /repo\0host=..\0\0version=2\0
        match answer {
            GitAnswer::V0Refs(n) => {
                let mut w = std::io::BufWriter::new(&mut sock);
                write_refs(&mut w, n, "\0multi_ack side-band-64k ofs-delta shallow")?;
                w.flush()
            }
            GitAnswer::V2LsRefs(n) => {
                let mut caps = Vec::new();
                for l in ["version 2\n", "ls-refs\n", "fetch=shallow\n"] {
                    pkt(&mut caps, l);
                }
                caps.extend_from_slice(b"0000");
                sock.write_all(&caps)?;
                // The ls-refs command: its capabilities to the delimiter, its arguments to
                // the flush.
                while read_pkt(&mut sock)?.is_some() {}
                while read_pkt(&mut sock)?.is_some() {}
                let mut w = std::io::BufWriter::new(&mut sock);
                write_refs(&mut w, n, "")?;
                w.flush()
            }
        }
    }

    pub fn url(&self) -> String {
        format!("git://127.0.0.1:{}/fleet.git", self.port)
    }
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
    pub fn sync_within(&self, deadline: u64) -> (i32, String) {
        let o = Command::new("timeout")
            .args(["--signal=KILL", &deadline.to_string(), "prlimit"])
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

/// Answers a smart-HTTP request by running the real `git http-backend` (CGI) over the
/// repositories under `root` (the URL path is `/<repo>/...`).
pub fn git_cgi(root: &std::path::Path, req: &Seen) -> Reply {
    let exec = Command::new("git")
        .arg("--exec-path")
        .output()
        .unwrap()
        .stdout;
    let backend = PathBuf::from(String::from_utf8_lossy(&exec).trim()).join("git-http-backend");
    let (path, query) = req.target.split_once('?').unwrap_or((&req.target, ""));
    let mut cmd = Command::new(backend);
    cmd.env_clear()
        .env("GIT_PROJECT_ROOT", root)
        .env("GIT_HTTP_EXPORT_ALL", "1")
        .env("REQUEST_METHOD", &req.method)
        .env("PATH_INFO", path)
        .env("QUERY_STRING", query)
        .env(
            "CONTENT_TYPE",
            req.header("Content-Type").unwrap_or_default(),
        )
        .env("CONTENT_LENGTH", req.body.len().to_string())
        .env(
            "GIT_PROTOCOL",
            req.header("Git-Protocol").unwrap_or_default(),
        )
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped());
    let mut child = cmd.spawn().unwrap();
    let mut stdin = child.stdin.take().unwrap();
    let body = req.body.clone();
    let writer = std::thread::spawn(move || {
        let _ = stdin.write_all(&body);
    });
    let out = child.wait_with_output().unwrap().stdout;
    let _ = writer.join();
    let split = out
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .map(|p| (p, 4))
        .or_else(|| out.windows(2).position(|w| w == b"\n\n").map(|p| (p, 2)))
        .unwrap_or((out.len(), 0));
    let head = String::from_utf8_lossy(&out[..split.0]).into_owned();
    let mut reply = Reply::new(200, "text/plain", out[split.0 + split.1..].to_vec());
    reply.headers.clear();
    for line in head.lines() {
        if let Some((k, v)) = line.split_once(':') {
            if k.eq_ignore_ascii_case("Status") {
                reply.status = v.trim()[..3].parse().unwrap_or(500);
            } else {
                reply.headers.push((k.trim().into(), v.trim().into()));
            }
        }
    }
    reply
}
