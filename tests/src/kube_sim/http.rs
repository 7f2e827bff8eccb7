//! A small HTTP/1.1 server over rustls: one thread per connection, keep-alive, Content-Length
//! and chunked request bodies, and hooks for fault injection (latency, 5xx, dropped
//! connections).

use rustls::{ServerConfig, ServerConnection, StreamOwned};
use std::io::{self, BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::thread;
use std::time::Duration;

/// One parsed request.
#[derive(Debug, Clone)]
pub struct Request {
    pub method: String,
    /// Path without the query string.
    pub path: String,
    pub query: Vec<(String, String)>,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
    /// True when the TLS client presented a certificate our CA signed.
    pub client_cert: bool,
}

impl Request {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
    pub fn query(&self, name: &str) -> Option<&str> {
        self.query
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }
}

/// A response to write.
#[derive(Debug, Clone)]
pub struct Response {
    pub status: u16,
    pub content_type: String,
    pub body: Vec<u8>,
    /// Extra headers (ETag, Last-Modified, WWW-Authenticate, ...).
    pub headers: Vec<(String, String)>,
    /// How the body is delivered.
    pub delivery: Delivery,
}

/// Body delivery modes, for hostile-server tests.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Delivery {
    #[default]
    Normal,
    /// Announce a huge Content-Length and send zeros until the client gives up.
    Endless,
    /// Announce the full length, send half the body, then close the connection.
    Truncated,
    /// Announce the full length, send half the body, then send nothing more (a source that
    /// vanished mid-download without closing the connection).
    Stall,
}

impl Response {
    pub fn new(status: u16, content_type: &str, body: Vec<u8>) -> Self {
        Response {
            status,
            content_type: content_type.into(),
            body,
            headers: Vec::new(),
            delivery: Delivery::Normal,
        }
    }
    pub fn json(status: u16, value: &serde_json::Value) -> Self {
        Self::new(
            status,
            "application/json",
            serde_json::to_vec(value).unwrap_or_default(),
        )
    }
}

/// What the fault injector decides for one request.
pub enum Fault {
    None,
    /// Close the connection without answering.
    Drop,
}

/// The application behind the server.
pub trait Handler: Send + Sync + 'static {
    fn handle(&self, req: Request) -> Response;
    /// Called before each request; may sleep (latency) or ask to drop the connection.
    fn fault(&self, req: &Request) -> Fault;
}

/// A server started by [`serve`].
pub struct Serving {
    accept: thread::JoinHandle<()>,
    live: Arc<AtomicUsize>,
}

impl Serving {
    /// After `stop` was set: waits until the accept loop has returned (its port is free again)
    /// and every connection has been closed (each notices `stop` within its read timeout).
    pub fn join(self) {
        let _ = self.accept.join();
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        while self.live.load(Ordering::SeqCst) > 0 && std::time::Instant::now() < deadline {
            thread::sleep(Duration::from_millis(5));
        }
    }
}

/// Counts a connection thread as live until it returns (or panics).
struct Live(Arc<AtomicUsize>);

impl Drop for Live {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::SeqCst);
    }
}

/// Accepts connections until `stop` is set.
pub fn serve(
    listener: TcpListener,
    tls: Arc<ServerConfig>,
    handler: Arc<dyn Handler>,
    stop: Arc<AtomicBool>,
) -> Serving {
    listener.set_nonblocking(true).ok();
    let live = Arc::new(AtomicUsize::new(0));
    let counted = live.clone();
    let accept = thread::spawn(move || {
        while !stop.load(Ordering::SeqCst) {
            match listener.accept() {
                Ok((sock, _)) => {
                    let (tls, handler, stop) = (tls.clone(), handler.clone(), stop.clone());
                    counted.fetch_add(1, Ordering::SeqCst);
                    let guard = Live(counted.clone());
                    thread::spawn(move || {
                        let _guard = guard;
                        let _ = connection(sock, tls, handler, stop);
                    });
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                    thread::sleep(Duration::from_millis(5))
                }
                Err(_) => thread::sleep(Duration::from_millis(5)),
            }
        }
    });
    Serving { accept, live }
}

fn connection(
    sock: TcpStream,
    tls: Arc<ServerConfig>,
    handler: Arc<dyn Handler>,
    stop: Arc<AtomicBool>,
) -> io::Result<()> {
    sock.set_nonblocking(false)?;
    sock.set_nodelay(true)?;
    sock.set_read_timeout(Some(Duration::from_millis(200)))?;
    let conn = ServerConnection::new(tls).map_err(io::Error::other)?;
    let mut stream = StreamOwned::new(conn, sock);
    // Finish the handshake so we know about the client certificate.
    while stream.conn.is_handshaking() {
        if stop.load(Ordering::SeqCst) {
            return Ok(());
        }
        match stream.conn.complete_io(&mut stream.sock) {
            Ok(_) => {}
            Err(e) if is_timeout(&e) => continue,
            Err(e) => return Err(e),
        }
    }
    let client_cert = stream
        .conn
        .peer_certificates()
        .is_some_and(|c| !c.is_empty());
    let mut reader = BufReader::new(stream);
    loop {
        let req = match read_request(&mut reader, client_cert, &stop)? {
            Some(r) => r,
            None => return Ok(()),
        };
        if stop.load(Ordering::SeqCst) {
            return Ok(());
        }
        if let Fault::Drop = handler.fault(&req) {
            let s = reader.get_mut();
            let _ = s.sock.shutdown(std::net::Shutdown::Both);
            return Ok(());
        }
        let head_only = req.method == "HEAD";
        let resp = handler.handle(req);
        let s = reader.get_mut();
        let length = match resp.delivery {
            Delivery::Endless => 1u64 << 40,
            _ => resp.body.len() as u64,
        };
        let mut head = format!(
            "HTTP/1.1 {} {}\r\nContent-Type: {}\r\nContent-Length: {length}\r\nCache-Control: no-cache, private\r\n",
            resp.status,
            reason(resp.status),
            resp.content_type,
        );
        for (k, v) in &resp.headers {
            head.push_str(&format!("{k}: {v}\r\n"));
        }
        head.push_str("\r\n");
        s.write_all(head.as_bytes())?;
        if head_only {
            s.flush()?;
            continue;
        }
        match resp.delivery {
            Delivery::Normal => s.write_all(&resp.body)?,
            Delivery::Truncated => {
                s.write_all(&resp.body[..resp.body.len() / 2])?;
                s.flush()?;
                let _ = s.sock.shutdown(std::net::Shutdown::Both);
                return Ok(());
            }
            Delivery::Stall => {
                s.write_all(&resp.body[..resp.body.len() / 2])?;
                s.flush()?;
                while !stop.load(Ordering::SeqCst) {
                    thread::sleep(Duration::from_millis(50));
                }
                return Ok(());
            }
            Delivery::Endless => {
                let zeros = vec![0u8; 64 * 1024];
                loop {
                    if stop.load(Ordering::SeqCst) {
                        return Ok(());
                    }
                    s.write_all(&zeros)?;
                }
            }
        }
        s.flush()?;
    }
}

fn is_timeout(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
    )
}

/// Reads one line, retrying read timeouts (used to notice `stop`) until data or EOF.
fn read_line<R: BufRead>(r: &mut R, stop: &AtomicBool) -> io::Result<Option<String>> {
    let mut line = Vec::new();
    loop {
        match r.read_until(b'\n', &mut line) {
            Ok(0) => {
                return Ok(if line.is_empty() {
                    None
                } else {
                    Some(String::from_utf8_lossy(&line).into_owned())
                })
            }
            Ok(_) if line.ends_with(b"\n") => {
                return Ok(Some(String::from_utf8_lossy(&line).into_owned()))
            }
            Ok(_) => continue,
            Err(e) if is_timeout(&e) => {
                if stop.load(Ordering::SeqCst) {
                    return Ok(None);
                }
            }
            Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => return Ok(None),
            Err(e) => return Err(e),
        }
    }
}

fn read_exact_retry<R: Read>(r: &mut R, buf: &mut [u8], stop: &AtomicBool) -> io::Result<()> {
    let mut off = 0;
    while off < buf.len() {
        match r.read(&mut buf[off..]) {
            Ok(0) => return Err(io::ErrorKind::UnexpectedEof.into()),
            Ok(n) => off += n,
            Err(e) if is_timeout(&e) && !stop.load(Ordering::SeqCst) => continue,
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

fn read_request<R: BufRead>(
    r: &mut R,
    client_cert: bool,
    stop: &AtomicBool,
) -> io::Result<Option<Request>> {
    let line = match read_line(r, stop)? {
        Some(l) => l,
        None => return Ok(None),
    };
    let mut parts = line.split_whitespace();
    let (method, target) = match (parts.next(), parts.next()) {
        (Some(m), Some(t)) => (m.to_string(), t.to_string()),
        _ => return Ok(None),
    };
    let mut headers = Vec::new();
    loop {
        let h = read_line(r, stop)?.ok_or(io::ErrorKind::UnexpectedEof)?;
        let h = h.trim_end();
        if h.is_empty() {
            break;
        }
        if let Some((k, v)) = h.split_once(':') {
            headers.push((k.trim().to_string(), v.trim().to_string()));
        }
    }
    let get = |n: &str| {
        headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(n))
            .map(|(_, v)| v.clone())
    };
    let mut body = Vec::new();
    if get("Transfer-Encoding").is_some_and(|v| v.eq_ignore_ascii_case("chunked")) {
        loop {
            let size_line = read_line(r, stop)?.ok_or(io::ErrorKind::UnexpectedEof)?;
            let size = usize::from_str_radix(size_line.trim().split(';').next().unwrap_or("0"), 16)
                .map_err(io::Error::other)?;
            if size == 0 {
                let _ = read_line(r, stop)?;
                break;
            }
            let start = body.len();
            body.resize(start + size, 0);
            read_exact_retry(r, &mut body[start..], stop)?;
            let _ = read_line(r, stop)?;
        }
    } else if let Some(len) = get("Content-Length").and_then(|v| v.parse::<usize>().ok()) {
        body.resize(len, 0);
        read_exact_retry(r, &mut body, stop)?;
    }
    let (path, query) = match target.split_once('?') {
        Some((p, q)) => (p.to_string(), parse_query(q)),
        None => (target.clone(), Vec::new()),
    };
    Ok(Some(Request {
        method,
        path: percent_decode(&path),
        query,
        headers,
        body,
        client_cert,
    }))
}

/// Parses `a=b&c=d` with percent-decoding.
pub fn parse_query(q: &str) -> Vec<(String, String)> {
    q.split('&')
        .filter(|s| !s.is_empty())
        .map(|kv| {
            let (k, v) = kv.split_once('=').unwrap_or((kv, ""));
            (percent_decode(k), percent_decode(&v.replace('+', " ")))
        })
        .collect()
}

fn percent_decode(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' && i + 2 < b.len() {
            if let Ok(v) = u8::from_str_radix(&s[i + 1..i + 3], 16) {
                out.push(v);
                i += 3;
                continue;
            }
        }
        out.push(b[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn reason(status: u16) -> &'static str {
    match status {
        200 => "OK",
        201 => "Created",
        202 => "Accepted",
        304 => "Not Modified",
        400 => "Bad Request",
        401 => "Unauthorized",
        403 => "Forbidden",
        404 => "Not Found",
        405 => "Method Not Allowed",
        406 => "Not Acceptable",
        409 => "Conflict",
        415 => "Unsupported Media Type",
        422 => "Unprocessable Entity",
        500 => "Internal Server Error",
        503 => "Service Unavailable",
        _ => "Status",
    }
}
