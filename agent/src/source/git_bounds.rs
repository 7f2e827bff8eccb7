//! Bounds on what a Git server sends, counted while it arrives: a ref advertisement (protocol
//! v0's, or a v2 `ls-refs` answer) within [`MAX_REFS_BYTES`], a pack within the source's
//! `maxPackBytes` (so neither memory nor the state directory grows past them), and over
//! `git://` a deadline for the whole connection (HTTPS has ureq's per-request deadline).
//! Without them, 3 million refs took 384 MB and a 1 GiB pack grew the state directory to
//! ~1 GB (issue 20). gix reads through [`Capped`]; the phase is set by the caller (refs
//! first, the pack once the refs are known) or, over HTTPS, by the kind of request.

use std::io::{ErrorKind, Read};
use std::net::{TcpStream, ToSocketAddrs};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// Largest ref advertisement read: the probe's bound ([`super::git_probe::MAX_REPLY_BYTES`],
/// ~9,000 peeled tags or ~14,000 branches), for every way refs arrive.
pub const MAX_REFS_BYTES: u64 = super::git_probe::MAX_REPLY_BYTES;

/// Room for trees, commits and other directories beside the bundle in the default pack bound.
const PACK_SLACK: u64 = 16 * 1024 * 1024;

/// The largest single object gix may inflate (`gitoxide.objects.allocLimit`): the largest file
/// a bundle may hold, at least 4 MiB (trees, commits). A pack entry declaring more (a 512 MiB
/// `bundle.yaml` of zeros is half a megabyte in a pack) is refused before it is allocated.
pub fn alloc_limit(limits: &ferry_bundle::Limits) -> u64 {
    limits
        .max_file_bytes
        .max(limits.max_manifest_bytes)
        .max(limits.max_signature_bytes)
        .max(4 * 1024 * 1024)
}

/// The default `maxPackBytes`: what the bundle limits allow (files, manifest, signature) plus
/// [`PACK_SLACK`].
pub fn default_max_pack(limits: &ferry_bundle::Limits) -> u64 {
    limits
        .max_total_bytes
        .saturating_add(limits.max_manifest_bytes)
        .saturating_add(limits.max_signature_bytes)
        .saturating_add(PACK_SLACK)
}

/// What a Git server is sending.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Phase {
    /// A ref advertisement or an `ls-refs` answer.
    Refs,
    /// A fetch answer (the pack).
    Pack,
}

/// The bytes one connection (or one HTTP response) may still deliver, and its deadline.
#[derive(Debug)]
pub struct Budget {
    state: Mutex<State>,
    max_pack: u64,
}

#[derive(Debug)]
struct State {
    phase: Phase,
    used: u64,
    deadline: Option<(Instant, Duration)>,
}

impl Budget {
    /// Starting with refs; `timeout` (if any) counts from now.
    pub fn new(max_pack: u64, timeout: Option<Duration>) -> Arc<Self> {
        Arc::new(Budget {
            state: Mutex::new(State {
                phase: Phase::Refs,
                used: 0,
                deadline: timeout.map(|t| (Instant::now() + t, t)),
            }),
            max_pack,
        })
    }

    /// From now on the server sends `phase` (its count starts at zero).
    pub fn enter(&self, phase: Phase) {
        let mut s = self.state.lock().unwrap_or_else(|e| e.into_inner());
        s.phase = phase;
        s.used = 0;
    }

    fn max(&self, phase: Phase) -> u64 {
        match phase {
            Phase::Refs => MAX_REFS_BYTES,
            Phase::Pack => self.max_pack,
        }
    }

    /// Time left before the deadline (None: no deadline); an error once it passed.
    pub fn remaining(&self) -> std::io::Result<Option<Duration>> {
        let s = self.state.lock().unwrap_or_else(|e| e.into_inner());
        match s.deadline {
            None => Ok(None),
            Some((at, total)) => match at.checked_duration_since(Instant::now()) {
                Some(left) if !left.is_zero() => Ok(Some(left)),
                _ => Err(std::io::Error::new(
                    std::io::ErrorKind::TimedOut,
                    format!("timed out: the Git server took longer than {total:?} (timeout)"),
                )),
            },
        }
    }

    /// Counts `n` more bytes; an error once the phase's bound is passed.
    fn charge(&self, n: usize) -> std::io::Result<()> {
        let mut s = self.state.lock().unwrap_or_else(|e| e.into_inner());
        s.used = s.used.saturating_add(n as u64);
        let max = self.max(s.phase);
        if s.used <= max {
            return Ok(());
        }
        let what = match s.phase {
            Phase::Refs => format!("ref advertisement larger than {max} bytes"),
            Phase::Pack => format!("pack larger than {max} bytes (maxPackBytes)"),
        };
        Err(std::io::Error::new(
            std::io::ErrorKind::InvalidData,
            format!("{what}: not read further"),
        ))
    }
}

/// A reader charged to a [`Budget`]; before each read it checks the deadline and, through
/// `before_read`, lets the caller shorten the socket's read timeout to what is left.
pub struct Capped<R> {
    inner: R,
    budget: Arc<Budget>,
    before_read: fn(&R, Duration),
}

impl<R: Read> Capped<R> {
    pub fn new(inner: R, budget: Arc<Budget>) -> Self {
        Capped {
            inner,
            budget,
            before_read: |_, _| {},
        }
    }

    /// Like [`Capped::new`], calling `before_read` with the time left before each read.
    pub fn with_deadline(inner: R, budget: Arc<Budget>, before_read: fn(&R, Duration)) -> Self {
        Capped {
            inner,
            budget,
            before_read,
        }
    }
}

impl<R: Read> Read for Capped<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        if let Some(left) = self.budget.remaining()? {
            (self.before_read)(&self.inner, left);
        }
        let n = match self.inner.read(buf) {
            Ok(n) => n,
            // A socket read timeout: past the deadline, or no byte within `readTimeout`.
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {
                self.budget.remaining()?;
                return Err(std::io::Error::new(
                    ErrorKind::TimedOut,
                    "timed out: the Git server sent nothing within readTimeout",
                ));
            }
            Err(e) => return Err(e),
        };
        self.budget.charge(n)?;
        Ok(n)
    }
}

/// A `git://` connection whose answers are charged to a [`Budget`].
pub type DaemonConnection =
    gix_transport::client::git::blocking_io::Connection<Capped<TcpStream>, TcpStream>;

/// Shortens a socket's read timeout to the time left before the deadline.
fn shorten(s: &TcpStream, left: Duration) {
    let current = s.read_timeout().ok().flatten();
    if current.is_none_or(|c| left < c) {
        let _ = s.set_read_timeout(Some(left));
    }
}

/// Connects to the `git://` daemon of `url` (gix's own connection has no read timeout and no
/// bound): `connect` to connect, `read` per read, the budget's deadline for the whole.
pub fn connect_daemon(
    url: &gix::Url,
    connect: Duration,
    read: Duration,
    budget: Arc<Budget>,
) -> std::io::Result<DaemonConnection> {
    let host = url
        .host()
        .ok_or_else(|| std::io::Error::other("git:// URL without a host"))?;
    let port = url.port;
    let addr = (host, port.unwrap_or(9418))
        .to_socket_addrs()?
        .next()
        .ok_or_else(|| std::io::Error::other(format!("cannot resolve {host}")))?;
    let stream = TcpStream::connect_timeout(&addr, connect)?;
    stream.set_read_timeout(Some(read))?;
    stream.set_write_timeout(Some(read))?;
    let write = stream.try_clone()?;
    Ok(gix_transport::client::git::blocking_io::Connection::new(
        Capped::with_deadline(stream, budget, shorten),
        write,
        gix_transport::Protocol::V2,
        url.path.clone(),
        Some((host.to_string(), port)),
        gix_transport::client::git::ConnectMode::Daemon,
        false,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_phase_has_its_bound() {
        let budget = Budget::new(100, None);
        let mut r = Capped::new(std::io::repeat(b'x'), budget.clone());
        let mut sink = Vec::new();
        let e = (&mut r)
            .take(MAX_REFS_BYTES + 10)
            .read_to_end(&mut sink)
            .unwrap_err();
        assert!(
            e.to_string()
                .contains("ref advertisement larger than 1048576"),
            "{e}"
        );
        budget.enter(Phase::Pack);
        let mut buf = [0u8; 64];
        r.read_exact(&mut buf).unwrap();
        let e = r.read_exact(&mut buf).unwrap_err();
        assert!(e.to_string().contains("pack larger than 100 bytes"), "{e}");
    }

    #[test]
    fn a_passed_deadline_stops_reading() {
        let budget = Budget::new(100, Some(Duration::ZERO));
        let mut r = Capped::new(std::io::repeat(b'x'), budget);
        let e = r.read(&mut [0u8; 4]).unwrap_err();
        assert_eq!(e.kind(), std::io::ErrorKind::TimedOut);
    }
}
