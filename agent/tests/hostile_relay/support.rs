//! What the hostile relay tests share: a relay with one applied revision, raw connections
//! (from other loopback addresses too), requests with and without the site token, handlers
//! that hold or answer large, and a bounded poll for connections the server closed.

use crate::common::*;
use ferry_agent::httpd::{self, ServerLimits};
use ferry_agent::serve::{Relay, RelayTokens};
use ferry_agent::store::blobs::BlobCache;
use ferry_agent::store::Store;
use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::Arc;
use std::time::Duration;

/// The site token the relays of these tests accept.
pub const TOKEN: &str = "0123456789abcdef0123456789abcdef-site";

/// An agent with revision 1 applied and its relay served in this process with `limits`.
pub fn relay(limits: ServerLimits) -> (Env, u16) {
    let env = Env::new();
    env.publish(
        1,
        &[
            ("a.yaml", cm("a", "default", "1")),
            ("secret.yaml", SECRET.to_string()),
        ],
    );
    let (code, out) = env.sync();
    assert_eq!(code, 0, "{out}");
    let state = env.dir.path().join("state");
    let relay = Relay {
        store: Store::open(&state.join("state.db")).unwrap(),
        blobs: BlobCache::open(&state.join("blobs")).unwrap(),
        syncs: vec!["app".into()],
        tokens: RelayTokens::parse(TOKEN).unwrap(),
    };
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    httpd::spawn(listener, limits, Arc::new(relay));
    (env, port)
}

pub fn connect(port: u16) -> TcpStream {
    let s = TcpStream::connect(("127.0.0.1", port)).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(60))).unwrap();
    s
}

/// Sends raw request bytes and returns the status line of the answer.
pub fn ask(port: u16, request: &[u8]) -> String {
    let mut s = connect(port);
    let _ = s.write_all(request);
    let mut answer = Vec::new();
    let _ = s.read_to_end(&mut answer);
    String::from_utf8_lossy(&answer)
        .lines()
        .next()
        .unwrap_or_default()
        .to_string()
}

/// A Secret whose value must not reach a reader without the site token.
pub const SECRET: &str = "apiVersion: v1\nkind: Secret\nmetadata: {name: s, namespace: default}\nstringData: {password: hunter2-relay-secret}\n";

pub fn get(port: u16, path: &str) -> String {
    ask(
        port,
        format!("GET {path} HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {TOKEN}\r\n\r\n")
            .as_bytes(),
    )
}

/// A handler that holds every request until released (answering slots, not idle ones).
pub struct Held(
    pub std::sync::Mutex<std::sync::mpsc::Receiver<()>>,
    pub std::sync::mpsc::Sender<()>,
);

impl httpd::Handler for Held {
    fn handle(&self, _: &httpd::Request) -> httpd::Response {
        let _ = self.1.send(());
        let _ = self.0.lock().unwrap().recv();
        httpd::Response::status(200)
    }
}

/// A connection from `src` (another loopback address: a second host on the LAN) to `port`.
pub fn connect_from(src: [u8; 4], port: u16) -> TcpStream {
    use std::os::fd::FromRawFd;
    let addr = |ip: [u8; 4], port: u16| libc::sockaddr_in {
        sin_family: libc::AF_INET as libc::sa_family_t,
        sin_port: port.to_be(),
        sin_addr: libc::in_addr {
            s_addr: u32::from_ne_bytes(ip),
        },
        sin_zero: [0; 8],
    };
    let len = std::mem::size_of::<libc::sockaddr_in>() as libc::socklen_t;
    // SAFETY: a fresh socket, plain sockaddr_in values, and the fd handed to TcpStream once.
    unsafe {
        let fd = libc::socket(libc::AF_INET, libc::SOCK_STREAM | libc::SOCK_CLOEXEC, 0);
        assert!(fd >= 0);
        let local = addr(src, 0);
        assert_eq!(
            libc::bind(fd, &local as *const _ as *const libc::sockaddr, len),
            0
        );
        let remote = addr([127, 0, 0, 1], port);
        assert_eq!(
            libc::connect(fd, &remote as *const _ as *const libc::sockaddr, len),
            0
        );
        let s = TcpStream::from_raw_fd(fd);
        s.set_read_timeout(Some(Duration::from_secs(60))).unwrap();
        s
    }
}

pub fn get_from(src: [u8; 4], port: u16, path: &str) -> String {
    let mut s = connect_from(src, port);
    s.write_all(
        format!("GET {path} HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {TOKEN}\r\n\r\n")
            .as_bytes(),
    )
    .unwrap();
    let mut answer = String::new();
    let _ = s.read_to_string(&mut answer);
    answer.lines().next().unwrap_or_default().to_string()
}

/// How many of `conns` the server has closed (end of file), polled until at least `want` or
/// a deadline.
pub fn closed_by_server(conns: &mut [TcpStream], want: usize) -> usize {
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    let mut closed = vec![false; conns.len()];
    for c in conns.iter() {
        c.set_nonblocking(true).unwrap();
    }
    loop {
        for (c, done) in conns.iter_mut().zip(closed.iter_mut()) {
            let mut buf = [0u8; 64];
            // End of file or a reset: closed (an idle connection is never answered).
            if !*done
                && !matches!(c.read(&mut buf), Err(e) if e.kind() == std::io::ErrorKind::WouldBlock)
            {
                *done = true;
            }
        }
        let n = closed.iter().filter(|d| **d).count();
        if n >= want || std::time::Instant::now() > deadline {
            return n;
        }
        std::thread::yield_now();
    }
}

/// Answers every request with `0` bytes of a fixed size (a large blob).
pub struct Large(pub usize);

impl httpd::Handler for Large {
    fn handle(&self, _: &httpd::Request) -> httpd::Response {
        let mut r = httpd::Response::status(200);
        r.body = httpd::Body::Bytes(vec![0; self.0]);
        r
    }
}
