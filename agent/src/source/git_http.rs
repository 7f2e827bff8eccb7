//! gix's blocking HTTP transport on ureq + rustls, so Git over HTTPS needs neither curl nor
//! reqwest/tokio. Requests are sent when the caller starts reading the response; a POST body
//! is buffered first (ferry only fetches, so bodies are small want/have negotiations).
//! [`probe`] is the one-request no-change poll: a stateless protocol-v2 `ls-refs` POST.

use super::git_bounds::{Budget, Capped, Phase};
use super::git_probe::{self, ProbeError, ReadError, RemoteRef};
use gix_transport::client::blocking_io::http::{GetResponse, Http, PostBodyDataKind, PostResponse};
use std::io::{BufRead, Cursor, Read, Write};
use std::sync::{Arc, Mutex};

fn gix_err(e: impl std::error::Error + Send + Sync + 'static) -> gix_error::Error {
    gix_error::Error::from_error(e)
}

/// The HTTP client gix drives. Each answer is bounded by what it is: a ref advertisement (GET
/// `info/refs`, an `ls-refs` POST) by [`super::git_bounds::MAX_REFS_BYTES`], a fetch answer
/// (a POST of `command=fetch` or `want` lines) by the source's `maxPackBytes`.
pub struct UreqHttp {
    agent: ureq::Agent,
    /// `Authorization` value from ferry's config (basic or bearer), never logged.
    authorization: Option<String>,
    max_pack: u64,
}

/// Whether a POST body asks for a pack (protocol v2 `command=fetch`, v0/v1 `want` lines).
fn asks_for_pack(body: &[u8]) -> bool {
    let payload = body.get(4..).unwrap_or_default();
    payload.starts_with(b"command=fetch") || payload.starts_with(b"want ")
}

impl UreqHttp {
    pub fn new(agent: ureq::Agent, authorization: Option<String>, max_pack: u64) -> Self {
        UreqHttp {
            agent,
            authorization,
            max_pack,
        }
    }

    fn request(
        &self,
        method: &str,
        url: &str,
        headers: Vec<String>,
        body: Option<Vec<u8>>,
    ) -> std::io::Result<(Vec<u8>, Box<dyn Read + Send>)> {
        let mut b = ureq::http::Request::builder().method(method).uri(url);
        for h in &headers {
            if let Some((k, v)) = h.split_once(':') {
                b = b.header(k.trim(), v.trim());
            }
        }
        if let Some(a) = &self.authorization {
            b = b.header("Authorization", a);
        }
        let phase = match &body {
            Some(data) if asks_for_pack(data) => Phase::Pack,
            _ => Phase::Refs,
        };
        let budget = Budget::new(self.max_pack, None);
        budget.enter(phase);
        let https = crate::outbound::is_https(url);
        let resp = {
            use ureq::RequestExt;
            let sent = match body {
                Some(data) => b
                    .body(data)
                    .map_err(std::io::Error::other)?
                    .with_agent(&self.agent)
                    .configure()
                    .https_only(https)
                    .run(),
                None => b
                    .body(())
                    .map_err(std::io::Error::other)?
                    .with_agent(&self.agent)
                    .configure()
                    .https_only(https)
                    .run(),
            };
            sent.map_err(|e| std::io::Error::other(crate::outbound::transport_reason(e)))?
        };
        let status = resp.status().as_u16();
        if status == 401 || status == 403 {
            return Err(std::io::Error::new(
                std::io::ErrorKind::PermissionDenied,
                format!("{url}: HTTP {status} (check basicAuthFile/tokenFile)"),
            ));
        }
        if status >= 400 {
            let kind = if status >= 500 {
                std::io::ErrorKind::ConnectionAborted
            } else {
                std::io::ErrorKind::Other
            };
            return Err(std::io::Error::new(kind, format!("{url}: HTTP {status}")));
        }
        let mut head = Vec::new();
        for (k, v) in resp.headers() {
            head.extend_from_slice(k.as_str().as_bytes());
            head.push(b':');
            head.extend_from_slice(v.as_bytes());
            head.push(b'\n');
        }
        let body = resp.into_body().into_with_config().limit(u64::MAX).reader();
        Ok((head, Box::new(Capped::new(body, budget))))
    }
}

/// A sent request: the response headers as lines, and the body.
type Sent = (Cursor<Vec<u8>>, Box<dyn Read + Send>);

/// A response shared by the lazy header and body readers of one POST.
struct Pending {
    http: (ureq::Agent, Option<String>, u64),
    url: String,
    headers: Vec<String>,
    body: Arc<Mutex<Vec<u8>>>,
    response: Option<std::io::Result<Sent>>,
}

impl Pending {
    fn ensure_sent(&mut self) -> std::io::Result<&mut Sent> {
        if self.response.is_none() {
            let body = std::mem::take(&mut *self.body.lock().unwrap_or_else(|e| e.into_inner()));
            let client = UreqHttp::new(self.http.0.clone(), self.http.1.clone(), self.http.2);
            self.response = Some(
                client
                    .request(
                        "POST",
                        &self.url,
                        std::mem::take(&mut self.headers),
                        Some(body),
                    )
                    .map(|(h, b)| (Cursor::new(h), b)),
            );
        }
        match self.response.as_mut() {
            Some(Ok(r)) => Ok(r),
            Some(Err(e)) => Err(std::io::Error::new(e.kind(), e.to_string())),
            None => Err(std::io::Error::other("request not sent")),
        }
    }
}

/// Buffers what gix writes as the POST body.
pub struct PostBody(Arc<Mutex<Vec<u8>>>);

impl Write for PostBody {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// Which part of a lazy response a reader yields.
#[derive(Clone, Copy)]
enum Part {
    Headers,
    Body,
}

/// A `BufRead` over a response that is sent on first read.
pub struct Lazy {
    pending: Option<Arc<Mutex<Pending>>>,
    ready: Option<Box<dyn Read + Send>>,
    part: Part,
    buf: Vec<u8>,
    pos: usize,
    len: usize,
}

impl Lazy {
    fn ready(reader: Box<dyn Read + Send>) -> Self {
        Lazy {
            pending: None,
            ready: Some(reader),
            part: Part::Body,
            buf: vec![0; 64 * 1024],
            pos: 0,
            len: 0,
        }
    }
    fn pending(p: Arc<Mutex<Pending>>, part: Part) -> Self {
        Lazy {
            pending: Some(p),
            ready: None,
            part,
            buf: vec![0; 64 * 1024],
            pos: 0,
            len: 0,
        }
    }
    fn read_more(&mut self) -> std::io::Result<usize> {
        if let Some(r) = self.ready.as_mut() {
            return r.read(&mut self.buf);
        }
        let Some(p) = &self.pending else { return Ok(0) };
        let mut p = p.lock().unwrap_or_else(|e| e.into_inner());
        let (head, body) = p.ensure_sent()?;
        match self.part {
            Part::Headers => head.read(&mut self.buf),
            Part::Body => body.read(&mut self.buf),
        }
    }
}

/// Most bytes of a response body read (and dropped) when gix stops reading before its end.
const DRAIN_MAX: u64 = 256 * 1024;

impl Drop for Lazy {
    /// gix stops reading a response at the protocol's flush packet; ureq returns a connection
    /// to its pool only once the body is read to its end. Reading the (small) rest lets the
    /// next request, and the next poll, reuse the connection instead of opening a new one.
    fn drop(&mut self) {
        if !matches!(self.part, Part::Body) {
            return;
        }
        if let Some(r) = self.ready.as_mut() {
            let _ = std::io::copy(&mut r.take(DRAIN_MAX), &mut std::io::sink());
        } else if let Some(p) = &self.pending {
            let mut p = p.lock().unwrap_or_else(|e| e.into_inner());
            if let Some(Ok((_, body))) = p.response.as_mut() {
                let _ = std::io::copy(&mut body.take(DRAIN_MAX), &mut std::io::sink());
            }
        }
    }
}

impl Read for Lazy {
    fn read(&mut self, out: &mut [u8]) -> std::io::Result<usize> {
        let available = self.fill_buf()?;
        let n = available.len().min(out.len());
        out[..n].copy_from_slice(&available[..n]);
        self.consume(n);
        Ok(n)
    }
}

impl BufRead for Lazy {
    fn fill_buf(&mut self) -> std::io::Result<&[u8]> {
        if self.pos >= self.len {
            self.len = self.read_more()?;
            self.pos = 0;
        }
        Ok(&self.buf[self.pos..self.len])
    }
    fn consume(&mut self, amt: usize) {
        self.pos = (self.pos + amt).min(self.len);
    }
}

impl Http for UreqHttp {
    type Headers = Lazy;
    type ResponseBody = Lazy;
    type PostBody = PostBody;

    fn get(
        &mut self,
        url: &str,
        _base_url: &str,
        headers: impl IntoIterator<Item = impl AsRef<str>>,
    ) -> gix_error::Result<GetResponse<Lazy, Lazy>> {
        let headers = headers
            .into_iter()
            .map(|h| h.as_ref().to_string())
            .collect();
        let (head, body) = self.request("GET", url, headers, None).map_err(gix_err)?;
        Ok(GetResponse {
            headers: Lazy::ready(Box::new(Cursor::new(head))),
            body: Lazy::ready(body),
        })
    }

    fn post(
        &mut self,
        url: &str,
        _base_url: &str,
        headers: impl IntoIterator<Item = impl AsRef<str>>,
        _body: PostBodyDataKind,
    ) -> gix_error::Result<PostResponse<Lazy, Lazy, PostBody>> {
        let buffer = Arc::new(Mutex::new(Vec::new()));
        let pending = Arc::new(Mutex::new(Pending {
            http: (
                self.agent.clone(),
                self.authorization.clone(),
                self.max_pack,
            ),
            url: url.to_string(),
            headers: headers
                .into_iter()
                .map(|h| h.as_ref().to_string())
                .collect(),
            body: buffer.clone(),
            response: None,
        }));
        Ok(PostResponse {
            post_body: PostBody(buffer),
            headers: Lazy::pending(pending.clone(), Part::Headers),
            body: Lazy::pending(pending, Part::Body),
        })
    }

    fn configure(&mut self, _config: &dyn std::any::Any) -> gix_error::Result {
        Ok(())
    }
}

/// What a probe learned.
#[derive(Debug)]
pub enum ProbeAnswer {
    /// The refs under the prefix (none when nothing matched).
    Refs(Vec<RemoteRef>),
    /// Not a stateless protocol-v2 answer (why, bounded): the server needs the full flow.
    NotUnderstood(String),
}

/// The `Content-Type` of an upload-pack result (gitprotocol-http(5)).
const RESULT_TYPE: &str = "application/x-git-upload-pack-result";

/// Asks for the refs under `prefix` with one POST to `<url>/git-upload-pack`: smart-HTTP
/// servers run `upload-pack --stateless-rpc`, which serves a protocol-v2 command without the
/// capability advertisement (GET `info/refs`) first. Headers are the two git's server needs
/// (`Content-Type`, `Git-Protocol`); ureq adds `Host` and `Content-Length`, and neither
/// `Accept` (git's own client sends `Accept: <result type>`; a server insisting on it answers
/// something else, and the source falls back) nor `User-Agent` (optional in HTTP; 31 bytes a
/// poll, 45 KB a day at 1-minute polls: the full flow, used for fetches, still sends one). The reply is read to its end within
/// [`git_probe::MAX_REPLY_BYTES`], so the connection stays pooled for the next poll.
/// Errors: 401/403 and 5xx as the full flow reports them, transport errors, and a reply past
/// the bound or a server's `ERR` ([`ProbeError`]).
pub fn probe(
    agent: &ureq::Agent,
    authorization: Option<&str>,
    url: &str,
    prefix: &str,
    peel: git_probe::Peel,
) -> std::io::Result<ProbeAnswer> {
    let body = git_probe::ls_refs_request(prefix, peel).map_err(std::io::Error::other)?;
    let url = format!("{}/git-upload-pack", url.trim_end_matches('/'));
    let mut request = ureq::http::Request::post(&url)
        .header("Content-Type", "application/x-git-upload-pack-request")
        .header("Git-Protocol", "version=2");
    if let Some(a) = authorization {
        request = request.header("Authorization", a);
    }
    let response = {
        use ureq::RequestExt;
        request
            .body(body)
            .map_err(std::io::Error::other)?
            .with_agent(agent)
            .configure()
            .accept(ureq::config::AutoHeaderValue::None)
            .https_only(crate::outbound::is_https(&url))
            .run()
            .map_err(|e| std::io::Error::other(crate::outbound::transport_reason(e)))?
    };
    let status = response.status().as_u16();
    if status == 401 || status == 403 {
        return Err(std::io::Error::new(
            std::io::ErrorKind::PermissionDenied,
            format!("{url}: HTTP {status} (check basicAuthFile/tokenFile)"),
        ));
    }
    if status >= 500 {
        return Err(std::io::Error::new(
            std::io::ErrorKind::ConnectionAborted,
            format!("{url}: HTTP {status}"),
        ));
    }
    let content_type = response
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .map(|v| v.trim().to_ascii_lowercase());
    let mut reader = response
        .into_body()
        .into_with_config()
        .limit(u64::MAX)
        .reader();
    let refused = if status != 200 {
        Some(format!("HTTP {status}"))
    } else if content_type.as_deref() != Some(RESULT_TYPE) {
        Some(format!(
            "Content-Type {}",
            ferry_bundle::text::bounded(content_type.as_deref().unwrap_or("(none)"), 100)
        ))
    } else {
        None
    };
    if let Some(why) = refused {
        // Read a short answer to its end (the connection stays pooled); drop a long one.
        let _ = git_probe::read_bounded(&mut reader, DRAIN_MAX);
        return Ok(ProbeAnswer::NotUnderstood(why));
    }
    let reply = match git_probe::read_bounded(&mut reader, git_probe::MAX_REPLY_BYTES) {
        Ok(reply) => reply,
        Err(ReadError::Io(e)) => return Err(e),
        Err(ReadError::Reply(e)) => return Err(std::io::Error::other(e)),
    };
    match git_probe::parse_ls_refs(&reply) {
        Ok(refs) => Ok(ProbeAnswer::Refs(refs)),
        Err(e) if e.is_not_understood() => Ok(ProbeAnswer::NotUnderstood(e.to_string())),
        Err(e) => Err(std::io::Error::other::<ProbeError>(e)),
    }
}
