//! One small, bounded HTTP/1.1 server for everything the agent serves: the relay
//! (`ferry-agent serve`), the metrics endpoint and the image mirror ([`crate::images::server`]).
//!
//! Every limit is explicit ([`ServerLimits`]): a cap on concurrent connections (the next one is
//! answered `503` and closed), a longest request line (`414`), a byte and count budget for
//! headers (`431`), a deadline for the whole request head and read/write timeouts, so neither
//! a slow client nor an endless line holds a thread or memory. One request per connection
//! (`Connection: close`). Handlers get the request target as text and must not join it into
//! a path: they match it against what they serve (e.g. parse a [`ferry_bundle::digest::Sha256`]).

use std::borrow::Cow;
use std::fs::File;
use std::io::{self, BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// The bounds one server enforces.
#[derive(Debug, Clone, Copy)]
pub struct ServerLimits {
    /// Connections handled at once; more are answered `503` and closed.
    pub max_connections: usize,
    /// Longest request line (`GET /path HTTP/1.1`), in bytes.
    pub max_request_line: usize,
    /// Most bytes of all header lines together.
    pub max_header_bytes: usize,
    /// Most header lines.
    pub max_headers: usize,
    /// The whole request head (line and headers) must arrive within this.
    pub head_deadline: Duration,
    /// Each write of the answer must progress within this.
    pub write_timeout: Duration,
}

impl Default for ServerLimits {
    fn default() -> Self {
        ServerLimits {
            max_connections: 32,
            max_request_line: 4096,
            max_header_bytes: 16 * 1024,
            max_headers: 64,
            head_deadline: Duration::from_secs(10),
            write_timeout: Duration::from_secs(30),
        }
    }
}

/// The request methods a handler is told apart; anything else is `Other`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Method {
    Get,
    Head,
    Other,
}

/// A parsed request head.
#[derive(Debug, Clone)]
pub struct Request {
    pub method: Method,
    /// The request target's path (query removed), as sent: never a file system path.
    pub path: String,
    /// The raw query (after `?`, without it; empty when none), e.g. the mirror's `ns=`.
    pub query: String,
    headers: Vec<(String, String)>,
}

impl Request {
    /// The first header named `name` (case-insensitive).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

/// A response body: bytes in memory or a file streamed from disk.
pub enum Body {
    Bytes(Vec<u8>),
    File(File, u64),
}

/// A response.
pub struct Response {
    pub status: u16,
    pub content_type: Cow<'static, str>,
    pub etag: Option<String>,
    /// Further headers (e.g. the mirror's `Docker-Content-Digest`); values must not hold CR/LF.
    pub headers: Vec<(&'static str, String)>,
    pub body: Body,
}

impl Response {
    pub fn status(status: u16) -> Self {
        Response {
            status,
            content_type: Cow::Borrowed("text/plain"),
            etag: None,
            headers: Vec::new(),
            body: Body::Bytes(Vec::new()),
        }
    }
}

/// What a server answers requests with.
pub trait Handler: Send + Sync + 'static {
    fn handle(&self, request: &Request) -> Response;
}

/// Why a request head was refused (each becomes a status code).
#[derive(Debug, PartialEq, Eq)]
enum HeadError {
    LineTooLong,
    HeadersTooLarge,
    Malformed,
    /// Timed out or closed: nothing is answered.
    Gone,
}

fn reason(status: u16) -> &'static str {
    match status {
        200 => "OK",
        304 => "Not Modified",
        400 => "Bad Request",
        404 => "Not Found",
        405 => "Method Not Allowed",
        414 => "URI Too Long",
        431 => "Request Header Fields Too Large",
        503 => "Service Unavailable",
        _ => "Error",
    }
}

/// Reads one line of at most `max` bytes before `deadline`.
fn read_line(
    reader: &mut BufReader<TcpStream>,
    max: usize,
    deadline: Instant,
    too_long: HeadError,
) -> Result<String, HeadError> {
    let left = deadline
        .checked_duration_since(Instant::now())
        .filter(|d| !d.is_zero())
        .ok_or(HeadError::Gone)?;
    reader
        .get_ref()
        .set_read_timeout(Some(left))
        .map_err(|_| HeadError::Gone)?;
    let mut line = Vec::new();
    let n = reader
        .by_ref()
        .take(max as u64 + 1)
        .read_until(b'\n', &mut line)
        .map_err(|_| HeadError::Gone)?;
    if n == 0 {
        return Err(HeadError::Gone);
    }
    if !line.ends_with(b"\n") {
        return Err(if line.len() > max {
            too_long
        } else {
            HeadError::Gone
        });
    }
    String::from_utf8(line)
        .map(|l| l.trim_end_matches(['\r', '\n']).to_string())
        .map_err(|_| HeadError::Malformed)
}

/// Reads and parses a request head under `limits`.
fn read_head(
    reader: &mut BufReader<TcpStream>,
    limits: &ServerLimits,
) -> Result<Request, HeadError> {
    let deadline = Instant::now() + limits.head_deadline;
    let line = read_line(
        reader,
        limits.max_request_line,
        deadline,
        HeadError::LineTooLong,
    )?;
    let mut parts = line.split(' ');
    let (Some(method), Some(target), Some(version), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(HeadError::Malformed);
    };
    if !version.starts_with("HTTP/1.") || !target.starts_with('/') {
        return Err(HeadError::Malformed);
    }
    let method = match method {
        "GET" => Method::Get,
        "HEAD" => Method::Head,
        _ => Method::Other,
    };
    let without_fragment = target.split('#').next().unwrap_or("/");
    let (path, query) = match without_fragment.split_once('?') {
        Some((p, q)) => (p.to_string(), q.to_string()),
        None => (without_fragment.to_string(), String::new()),
    };
    let mut headers = Vec::new();
    let mut header_bytes = 0usize;
    loop {
        let left = limits.max_header_bytes.saturating_sub(header_bytes);
        let h = read_line(reader, left, deadline, HeadError::HeadersTooLarge)?;
        if h.is_empty() {
            break;
        }
        header_bytes += h.len() + 2;
        if headers.len() >= limits.max_headers {
            return Err(HeadError::HeadersTooLarge);
        }
        let (k, v) = h.split_once(':').ok_or(HeadError::Malformed)?;
        headers.push((k.trim().to_string(), v.trim().to_string()));
    }
    Ok(Request {
        method,
        path,
        query,
        headers,
    })
}

fn write_response(out: &mut TcpStream, method: Method, resp: Response) -> io::Result<()> {
    let len = match &resp.body {
        Body::Bytes(b) => b.len() as u64,
        Body::File(_, n) => *n,
    };
    let mut head = format!(
        "HTTP/1.1 {} {}\r\nContent-Type: {}\r\nContent-Length: {len}\r\n",
        resp.status,
        reason(resp.status),
        resp.content_type
    );
    if let Some(etag) = &resp.etag {
        head.push_str(&format!("ETag: {etag}\r\n"));
    }
    for (name, value) in &resp.headers {
        if !value.contains(['\r', '\n']) {
            head.push_str(&format!("{name}: {value}\r\n"));
        }
    }
    head.push_str("Connection: close\r\n\r\n");
    out.write_all(head.as_bytes())?;
    if method == Method::Head {
        return Ok(());
    }
    match resp.body {
        Body::Bytes(b) => out.write_all(&b),
        Body::File(f, n) => io::copy(&mut f.take(n), out).map(|_| ()),
    }
}

fn handle_connection(conn: TcpStream, limits: &ServerLimits, handler: &dyn Handler) {
    let _ = conn.set_write_timeout(Some(limits.write_timeout));
    let Ok(read_half) = conn.try_clone() else {
        return;
    };
    let mut reader = BufReader::with_capacity(4096, read_half);
    let mut out = conn;
    let (method, resp, refused) = match read_head(&mut reader, limits) {
        Ok(req) => (req.method, handler.handle(&req), false),
        Err(HeadError::Gone) => return,
        Err(HeadError::LineTooLong) => (Method::Get, Response::status(414), true),
        Err(HeadError::HeadersTooLarge) => (Method::Get, Response::status(431), true),
        Err(HeadError::Malformed) => (Method::Get, Response::status(400), true),
    };
    if let Err(e) = write_response(&mut out, method, resp) {
        tracing::debug!("http: {e}");
    }
    if refused {
        // Closing with unread input would reset the connection and could lose the answer:
        // read (a bounded amount, for a bounded time) what the client is still sending.
        let _ = out.shutdown(std::net::Shutdown::Write);
        let _ = reader
            .get_ref()
            .set_read_timeout(Some(Duration::from_secs(1)));
        let _ = io::copy(&mut reader.take(DRAIN_MAX), &mut io::sink());
    }
}

/// Most bytes read and dropped after refusing a request head.
const DRAIN_MAX: u64 = 2 << 20;

/// Serves `listener` until the process ends: a thread per connection, at most
/// `limits.max_connections` at once.
pub fn serve(listener: TcpListener, limits: ServerLimits, handler: Arc<dyn Handler>) {
    let active = Arc::new(AtomicUsize::new(0));
    for conn in listener.incoming() {
        let Ok(mut conn) = conn else { continue };
        if active.fetch_add(1, Ordering::SeqCst) >= limits.max_connections {
            active.fetch_sub(1, Ordering::SeqCst);
            let _ = conn.set_write_timeout(Some(Duration::from_secs(1)));
            let _ = write_response(&mut conn, Method::Get, Response::status(503));
            continue;
        }
        let (slot, handler) = (active.clone(), handler.clone());
        let spawned = std::thread::Builder::new()
            .name("http".into())
            .stack_size(512 * 1024)
            .spawn(move || {
                handle_connection(conn, &limits, &*handler);
                slot.fetch_sub(1, Ordering::SeqCst);
            });
        if spawned.is_err() {
            // The closure (and its decrement) never ran.
            active.fetch_sub(1, Ordering::SeqCst);
            tracing::warn!("http: cannot start a connection thread");
        }
    }
}

/// [`serve`] on a background thread.
pub fn spawn(listener: TcpListener, limits: ServerLimits, handler: Arc<dyn Handler>) {
    std::thread::spawn(move || serve(listener, limits, handler));
}
