//! One small, bounded HTTP/1.1 server for everything the agent serves: the relay
//! (`ferry-agent serve`), the metrics endpoint and the image mirror ([`crate::images::server`]).
//!
//! Every limit is explicit ([`ServerLimits`]): a cap on concurrent connections and on
//! connections per client address, with idle connections as the reserve ([`admission`]: a new
//! connection replaces the one that has waited longest for its request head; only when every
//! slot it could take is answering is it refused with `503`), a longest request line (`414`), a
//! byte and count budget for headers (`431`), one deadline for the whole request head (however
//! the bytes trickle in), and a deadline for each answer (write timeout plus its size at a
//! minimum rate), so neither a slow client, a flood of silent ones nor an endless line holds a
//! thread or memory. One request per connection (`Connection: close`). Handlers get the request
//! target as text and must not join it into a path: they match it against what they serve
//! (e.g. parse a [`ferry_bundle::digest::Sha256`]).

pub mod admission;
mod deadline;

use std::borrow::Cow;
use std::fs::File;
use std::io::{self, BufRead, BufReader, Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use admission::{Admit, ClientKey, Table};
use deadline::{after, DeadlineReader, DeadlineWriter};

/// The bounds one server enforces.
#[derive(Debug, Clone, Copy)]
pub struct ServerLimits {
    /// Connections handled at once (a thread each).
    pub max_connections: usize,
    /// Connections held for one client address (IPv4, or an IPv6 /64).
    pub max_per_client: usize,
    /// Longest request line (`GET /path HTTP/1.1`), in bytes.
    pub max_request_line: usize,
    /// Most bytes of all header lines together.
    pub max_header_bytes: usize,
    /// Most header lines.
    pub max_headers: usize,
    /// The whole request head (line and headers) must arrive within this, however slowly
    /// its bytes trickle in.
    pub head_deadline: Duration,
    /// Each write of the answer must progress within this.
    pub write_timeout: Duration,
    /// The whole answer must be sent within `write_timeout` plus its size at this rate
    /// (bytes per second), so a client that reads slowly cannot hold a slot for long.
    pub min_send_rate: u64,
}

impl Default for ServerLimits {
    fn default() -> Self {
        ServerLimits {
            max_connections: 32,
            max_per_client: 8,
            max_request_line: 4096,
            max_header_bytes: 16 * 1024,
            max_headers: 64,
            head_deadline: Duration::from_secs(10),
            write_timeout: Duration::from_secs(30),
            min_send_rate: 32 * 1024,
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
        401 => "Unauthorized",
        404 => "Not Found",
        405 => "Method Not Allowed",
        414 => "URI Too Long",
        431 => "Request Header Fields Too Large",
        503 => "Service Unavailable",
        _ => "Error",
    }
}

/// Reads one line of at most `max` bytes (before the reader's deadline).
fn read_line(
    reader: &mut BufReader<DeadlineReader>,
    max: usize,
    too_long: HeadError,
) -> Result<String, HeadError> {
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

/// Reads and parses a request head under `limits` (the reader carries the head deadline).
fn read_head(
    reader: &mut BufReader<DeadlineReader>,
    limits: &ServerLimits,
) -> Result<Request, HeadError> {
    let line = read_line(reader, limits.max_request_line, HeadError::LineTooLong)?;
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
        let h = read_line(reader, left, HeadError::HeadersTooLarge)?;
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

/// Writes `resp` within `limits.write_timeout` per write and one deadline for the whole answer.
fn write_response(
    out: &TcpStream,
    limits: &ServerLimits,
    method: Method,
    resp: Response,
) -> io::Result<()> {
    let len = match &resp.body {
        Body::Bytes(b) => b.len() as u64,
        Body::File(_, n) => *n,
    };
    let body_time = Duration::from_secs(len / limits.min_send_rate.max(1));
    let mut out = DeadlineWriter {
        stream: out,
        deadline: after(limits.write_timeout.saturating_add(body_time)),
        write_timeout: limits.write_timeout,
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
        Body::File(f, n) => io::copy(&mut f.take(n), &mut out).map(|_| ()),
    }
}

/// The connections one server holds (closed through their handles when evicted).
type Connections = Mutex<Table<TcpStream>>;

fn lock(table: &Connections) -> std::sync::MutexGuard<'_, Table<TcpStream>> {
    table.lock().unwrap_or_else(|e| e.into_inner())
}

fn handle_connection(
    conn: TcpStream,
    id: u64,
    table: &Connections,
    limits: &ServerLimits,
    handler: &dyn Handler,
) {
    let Ok(read_half) = conn.try_clone() else {
        return;
    };
    let mut reader = BufReader::with_capacity(
        4096,
        DeadlineReader {
            stream: read_half,
            deadline: after(limits.head_deadline),
        },
    );
    let head = read_head(&mut reader, limits);
    // From here the connection is answered, not idle: it is no longer closed for another.
    if !lock(table).answering(id) {
        return;
    }
    let (method, resp, refused) = match head {
        Ok(req) => (req.method, handler.handle(&req), false),
        Err(HeadError::Gone) => return,
        Err(HeadError::LineTooLong) => (Method::Get, Response::status(414), true),
        Err(HeadError::HeadersTooLarge) => (Method::Get, Response::status(431), true),
        Err(HeadError::Malformed) => (Method::Get, Response::status(400), true),
    };
    if let Err(e) = write_response(&conn, limits, method, resp) {
        tracing::debug!("http: {e}");
    }
    if refused {
        // Closing with unread input would reset the connection and could lose the answer:
        // read (a bounded amount, for a bounded time) what the client is still sending.
        let _ = conn.shutdown(Shutdown::Write);
        reader.get_mut().deadline = after(DRAIN_TIME);
        let _ = io::copy(&mut reader.take(DRAIN_MAX), &mut io::sink());
    }
}

/// Most bytes read and dropped after refusing a request head, and for how long.
const DRAIN_MAX: u64 = 2 << 20;
const DRAIN_TIME: Duration = Duration::from_secs(1);

/// Answers `503` on the accepting thread (a small write into a fresh socket's buffer).
fn refuse(mut conn: TcpStream) {
    let _ = conn.set_write_timeout(Some(Duration::from_secs(1)));
    let _ = conn.write_all(
        b"HTTP/1.1 503 Service Unavailable\r\nContent-Type: text/plain\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
    );
}

/// Serves `listener` until the process ends: a thread per connection, within the caps of
/// `limits` (see [`admission`]).
pub fn serve(listener: TcpListener, limits: ServerLimits, handler: Arc<dyn Handler>) {
    let table: Arc<Connections> = Arc::new(Mutex::new(Table::new(
        limits.max_connections,
        limits.max_per_client,
    )));
    for conn in listener.incoming() {
        let Ok(conn) = conn else { continue };
        let (Ok(peer), Ok(handle)) = (conn.peer_addr(), conn.try_clone()) else {
            continue;
        };
        let admitted = lock(&table).admit(ClientKey::of(peer.ip()), handle);
        let id = match admitted {
            Admit::Full => {
                refuse(conn);
                continue;
            }
            Admit::Yes { id, evicted } => {
                if let Some(idle) = evicted {
                    // Wakes its thread's read with end-of-file; it answers nothing.
                    let _ = idle.shutdown(Shutdown::Both);
                }
                id
            }
        };
        let (slots, handler) = (table.clone(), handler.clone());
        let spawned = std::thread::Builder::new()
            .name("http".into())
            .stack_size(512 * 1024)
            .spawn(move || {
                handle_connection(conn, id, &slots, &limits, &*handler);
                lock(&slots).leave(id);
            });
        if spawned.is_err() {
            // The closure (and its release of the slot) never ran.
            lock(&table).leave(id);
            tracing::warn!("http: cannot start a connection thread");
        }
    }
}

/// [`serve`] on a background thread.
pub fn spawn(listener: TcpListener, limits: ServerLimits, handler: Arc<dyn Handler>) {
    std::thread::spawn(move || serve(listener, limits, handler));
}
