//! The Git source's one-request no-change probe, as data: the protocol-v2 `ls-refs` request
//! body and a parser of its reply (gitprotocol-v2(5), pkt-line framing from
//! gitprotocol-common(5)). Pure: bytes in, refs or a named error out; the HTTP shell is
//! [`super::git_http::probe`].
//!
//! The reply comes from outside and is treated as hostile: it is read up to a bound
//! ([`read_bounded`]), every length field is checked (four hex digits, 4..=65520 or one of
//! the special packets 0000 flush, 0001 delim, 0002 response-end), object ids must be 40 hex
//! digits, ref names printable UTF-8, nothing may follow the final flush, and `ERR` text is
//! bounded and escaped ([`ferry_bundle::text`]) before it reaches a message.

use std::io::Read;

/// Largest pkt-line, its four length digits included (git's `LARGE_PACKET_MAX`).
pub const MAX_PKT_LEN: usize = 65520;
/// Largest payload of one pkt-line.
pub const MAX_PKT_DATA: usize = MAX_PKT_LEN - 4;
/// Most bytes of an `ls-refs` reply read: ~9,000 peeled tags (one ref is ~50 bytes, a
/// peeled tag ~110); a longer reply is refused and not read further.
pub const MAX_REPLY_BYTES: u64 = 1024 * 1024;
/// Bound of a server's `ERR` text or of a bad line shown in an error.
const SHOWN_MAX: usize = 200;

/// Why a probe reply was refused.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ProbeError {
    #[error(
        "the ls-refs reply is larger than the limit (more than {max} bytes); not read further"
    )]
    TooLarge { max: u64 },
    #[error("pkt-line length {field:?} is {why}")]
    BadLength { field: String, why: &'static str },
    #[error("the reply ends inside a pkt-line or before its flush packet")]
    Truncated,
    #[error("{count} bytes follow the reply's flush packet")]
    TrailingBytes { count: usize },
    #[error("unexpected {what} in an ls-refs reply")]
    Unexpected { what: &'static str },
    #[error("not a protocol-v2 ls-refs reply: {what}")]
    NotV2 { what: &'static str },
    #[error("bad ref line ({why}): {line}")]
    BadLine { why: &'static str, line: String },
    #[error("the server said: {text}")]
    Server { text: String },
    #[error("ref prefix {prefix} cannot be sent ({why})")]
    BadPrefix { prefix: String, why: &'static str },
}

impl ProbeError {
    /// The reply is not an answer the probe understands (a server or proxy that does not
    /// speak stateless protocol v2): fall back to the full flow. The rest are errors: a reply
    /// past the bound, a server's own `ERR`, a request that cannot be framed.
    pub fn is_not_understood(&self) -> bool {
        !matches!(
            self,
            ProbeError::TooLarge { .. } | ProbeError::Server { .. } | ProbeError::BadPrefix { .. }
        )
    }
}

/// A 40-hex-digit SHA-1 object id, lowercase.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Oid(String);

impl Oid {
    pub fn parse(text: &[u8]) -> Option<Oid> {
        (text.len() == 40 && text.iter().all(u8::is_ascii_hexdigit))
            .then(|| Oid(String::from_utf8_lossy(text).to_ascii_lowercase()))
    }
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// One ref of the reply.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RemoteRef {
    pub name: String,
    /// What the ref points at (a tag object for an annotated tag).
    pub target: Oid,
    /// The commit an annotated tag points at (`peeled:` attribute).
    pub peeled: Option<Oid>,
}

impl RemoteRef {
    /// The commit: the peeled object of an annotated tag, else the target.
    pub fn commit(&self) -> &Oid {
        self.peeled.as_ref().unwrap_or(&self.target)
    }
}

/// One pkt-line data payload, framed.
fn encode_pkt(out: &mut Vec<u8>, data: &[u8]) {
    out.extend_from_slice(format!("{:04x}", data.len() + 4).as_bytes());
    out.extend_from_slice(data);
}

/// Which objects `ls-refs` should report for a ref.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Peel {
    /// Branches: the ref's own object.
    No,
    /// Tags: also the commit an annotated tag points at (`peel`, answered as `peeled:`).
    Yes,
}

/// The body of a stateless `ls-refs` POST for the refs under `prefix`: `command=ls-refs`,
/// delim, [`peel`], `ref-prefix <prefix>`, flush. No capability lines: `object-format` is
/// left out (the server then assumes SHA-1, the only format ferry's gix build reads; a
/// SHA-256 repository refuses and the source falls back) and so is `agent`, to keep each
/// poll small.
pub fn ls_refs_request(prefix: &str, peel: Peel) -> Result<Vec<u8>, ProbeError> {
    let refuse = |why| ProbeError::BadPrefix {
        prefix: ferry_bundle::text::bounded(prefix, SHOWN_MAX),
        why,
    };
    let arg = format!("ref-prefix {prefix}\n");
    if arg.len() > MAX_PKT_DATA {
        return Err(refuse("longer than one pkt-line"));
    }
    if prefix.chars().any(char::is_control) {
        return Err(refuse("control characters"));
    }
    let mut out = Vec::with_capacity(64 + prefix.len());
    encode_pkt(&mut out, b"command=ls-refs\n");
    out.extend_from_slice(b"0001");
    if peel == Peel::Yes {
        encode_pkt(&mut out, b"peel\n");
    }
    encode_pkt(&mut out, arg.as_bytes());
    out.extend_from_slice(b"0000");
    Ok(out)
}

/// Reads a whole reply, refusing one longer than `max` bytes (at most `max + 1` are read).
pub fn read_bounded(reader: &mut impl Read, max: u64) -> Result<Vec<u8>, ReadError> {
    let mut out = Vec::new();
    reader
        .take(max.saturating_add(1))
        .read_to_end(&mut out)
        .map_err(ReadError::Io)?;
    if out.len() as u64 > max {
        return Err(ReadError::Reply(ProbeError::TooLarge { max }));
    }
    Ok(out)
}

/// Reading a reply failed: the connection, or the bound.
#[derive(Debug, thiserror::Error)]
pub enum ReadError {
    #[error("reading the ls-refs reply: {0}")]
    Io(std::io::Error),
    #[error(transparent)]
    Reply(ProbeError),
}

/// A framed packet.
enum Packet<'a> {
    Flush,
    Delim,
    ResponseEnd,
    Data(&'a [u8]),
}

/// The packet at the start of `buf` and the bytes it takes; `None` at the end of `buf`.
fn next_packet(buf: &[u8]) -> Result<Option<(Packet<'_>, usize)>, ProbeError> {
    if buf.is_empty() {
        return Ok(None);
    }
    let field = buf.get(..4).ok_or(ProbeError::Truncated)?;
    let bad = |why| ProbeError::BadLength {
        field: ferry_bundle::text::bounded(&String::from_utf8_lossy(field), 40),
        why,
    };
    if !field.iter().all(u8::is_ascii_hexdigit) {
        return Err(bad("not hex"));
    }
    let text = std::str::from_utf8(field).map_err(|_| bad("not hex"))?;
    let len = usize::from_str_radix(text, 16).map_err(|_| bad("not hex"))?;
    match len {
        0 => Ok(Some((Packet::Flush, 4))),
        1 => Ok(Some((Packet::Delim, 4))),
        2 => Ok(Some((Packet::ResponseEnd, 4))),
        4..=MAX_PKT_LEN => {
            let data = buf.get(4..len).ok_or(ProbeError::Truncated)?;
            Ok(Some((Packet::Data(data), len)))
        }
        _ => Err(bad("out of range (4..=65520 or 0000/0001/0002)")),
    }
}

/// Parses an `ls-refs` reply: ref lines, then one flush packet ending the reply.
pub fn parse_ls_refs(reply: &[u8]) -> Result<Vec<RemoteRef>, ProbeError> {
    if reply.is_empty() {
        return Err(ProbeError::NotV2 {
            what: "an empty reply",
        });
    }
    let mut refs = Vec::new();
    let mut at = 0;
    loop {
        let Some((packet, used)) = next_packet(&reply[at..])? else {
            return Err(ProbeError::Truncated);
        };
        at += used;
        match packet {
            Packet::Flush => break,
            Packet::Delim => {
                return Err(ProbeError::Unexpected {
                    what: "delim packet",
                })
            }
            Packet::ResponseEnd => {
                return Err(ProbeError::Unexpected {
                    what: "response-end packet",
                })
            }
            Packet::Data(data) => refs.push(parse_line(data)?),
        }
    }
    match reply.len() - at {
        0 => Ok(refs),
        count => Err(ProbeError::TrailingBytes { count }),
    }
}

/// One `<oid> SP <refname> *(SP <attribute>) [LF]` line.
fn parse_line(data: &[u8]) -> Result<RemoteRef, ProbeError> {
    let line = data.strip_suffix(b"\n").unwrap_or(data);
    if let Some(text) = line.strip_prefix(b"ERR ") {
        return Err(ProbeError::Server {
            text: ferry_bundle::text::bounded(&String::from_utf8_lossy(text), SHOWN_MAX),
        });
    }
    if line.contains(&0) {
        return Err(ProbeError::NotV2 {
            what: "a protocol v0/v1 ref advertisement (capabilities after NUL)",
        });
    }
    if line.starts_with(b"# service=") {
        return Err(ProbeError::NotV2 {
            what: "a smart-HTTP service announcement",
        });
    }
    if line.starts_with(b"version ") {
        return Err(ProbeError::NotV2 {
            what: "a capability advertisement",
        });
    }
    let bad = |why| ProbeError::BadLine {
        why,
        line: ferry_bundle::text::bounded(&String::from_utf8_lossy(line), SHOWN_MAX),
    };
    let text = std::str::from_utf8(line).map_err(|_| bad("not UTF-8"))?;
    if text.chars().any(char::is_control) {
        return Err(bad("control characters"));
    }
    let mut words = text.split(' ');
    let target = words
        .next()
        .and_then(|w| Oid::parse(w.as_bytes()))
        .ok_or_else(|| bad("object id is not 40 hex digits"))?;
    let name = words
        .next()
        .filter(|n| !n.is_empty())
        .ok_or_else(|| bad("no ref name"))?
        .to_string();
    let mut peeled = None;
    for attribute in words {
        if let Some(oid) = attribute.strip_prefix("peeled:") {
            peeled =
                Some(Oid::parse(oid.as_bytes()).ok_or_else(|| bad("peeled id is not 40 hex"))?);
        }
    }
    Ok(RemoteRef {
        name,
        target,
        peeled,
    })
}

#[cfg(test)]
#[path = "git_probe_tests.rs"]
mod tests;
