//! Attacks on the servers the agent runs (the relay of `ferry-agent serve` and the metrics
//! endpoint), through the one bounded server module: request text never becomes a path,
//! request heads are bounded in size and time, and connections are capped.

mod common;

use common::*;
use ferry_agent::httpd::{self, ServerLimits};
use ferry_agent::serve::Relay;
use ferry_agent::store::blobs::BlobCache;
use ferry_agent::store::Store;
use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::Arc;
use std::time::Duration;

/// An agent with revision 1 applied and its relay served in this process with `limits`.
fn relay(limits: ServerLimits) -> (Env, u16) {
    let env = Env::new();
    env.publish(1, &[("a.yaml", cm("a", "default", "1"))]);
    let (code, out) = env.sync();
    assert_eq!(code, 0, "{out}");
    let state = env.dir.path().join("state");
    let relay = Relay {
        store: Store::open(&state.join("state.db")).unwrap(),
        blobs: BlobCache::open(&state.join("blobs")).unwrap(),
        syncs: vec!["app".into()],
    };
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    httpd::spawn(listener, limits, Arc::new(relay));
    (env, port)
}

fn connect(port: u16) -> TcpStream {
    let s = TcpStream::connect(("127.0.0.1", port)).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(60))).unwrap();
    s
}

/// Sends raw request bytes and returns the status line of the answer.
fn ask(port: u16, request: &[u8]) -> String {
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

fn get(port: u16, path: &str) -> String {
    ask(
        port,
        format!("GET {path} HTTP/1.1\r\nHost: x\r\n\r\n").as_bytes(),
    )
}

#[test]
fn request_text_never_becomes_a_path_in_the_blob_cache() {
    let (env, port) = relay(ServerLimits::default());
    assert_eq!(get(port, "/app/bundle.yaml"), "HTTP/1.1 200 OK");
    let blob = ferry_bundle::digest::sha256_hex(cm("a", "default", "1").as_bytes());
    assert_eq!(
        get(port, &format!("/app/blobs/sha256/{blob}")),
        "HTTP/1.1 200 OK"
    );
    for path in [
        "/app/blobs/sha256/../../x",
        "/app/blobs/sha256/../../state.db",
        "/app/blobs/sha256/../../../../../../../../dev/zero",
        "/app/blobs/sha256//dev/zero",
        "/app/blobs/sha256/%2e%2e%2f%2e%2e%2fstate.db",
    ] {
        assert_eq!(get(port, path), "HTTP/1.1 404 Not Found", "{path}");
    }
    // A listed digest whose cache file was replaced by a symlink to /dev/zero: not followed.
    let cached = env.dir.path().join("state/blobs").join(&blob);
    std::fs::remove_file(&cached).unwrap();
    std::os::unix::fs::symlink("/dev/zero", &cached).unwrap();
    assert_eq!(
        get(port, &format!("/app/blobs/sha256/{blob}")),
        "HTTP/1.1 404 Not Found"
    );
}

#[test]
fn request_lines_and_headers_are_bounded() {
    let (_env, port) = relay(ServerLimits::default());
    let long = format!("GET /{} HTTP/1.1\r\n\r\n", "a".repeat(1 << 20));
    assert_eq!(ask(port, long.as_bytes()), "HTTP/1.1 414 URI Too Long");
    let mut many = String::from("GET /app/bundle.yaml HTTP/1.1\r\n");
    for i in 0..1000 {
        many.push_str(&format!("X-{i}: y\r\n"));
    }
    many.push_str("\r\n");
    assert_eq!(
        ask(port, many.as_bytes()),
        "HTTP/1.1 431 Request Header Fields Too Large"
    );
    let huge_header = format!(
        "GET /app/bundle.yaml HTTP/1.1\r\nX: {}\r\n\r\n",
        "b".repeat(1 << 20)
    );
    assert_eq!(
        ask(port, huge_header.as_bytes()),
        "HTTP/1.1 431 Request Header Fields Too Large"
    );
    assert_eq!(ask(port, b"BREW /pot\r\n\r\n"), "HTTP/1.1 400 Bad Request");
    assert_eq!(
        ask(port, b"POST /app/bundle.yaml HTTP/1.1\r\n\r\n"),
        "HTTP/1.1 405 Method Not Allowed"
    );
}

#[test]
fn connections_beyond_the_cap_are_refused_not_threaded() {
    let limits = ServerLimits {
        max_connections: 4,
        head_deadline: Duration::from_secs(120),
        ..Default::default()
    };
    let (_env, port) = relay(limits);
    // Four silent clients hold every slot...
    let idle: Vec<TcpStream> = (0..4).map(|_| connect(port)).collect();
    // ...so the fifth is answered 503 at once, without a thread.
    assert_eq!(
        get(port, "/app/bundle.yaml"),
        "HTTP/1.1 503 Service Unavailable"
    );
    drop(idle);
}

#[test]
fn a_client_that_never_finishes_its_request_is_cut_off() {
    let limits = ServerLimits {
        head_deadline: Duration::from_millis(200),
        ..Default::default()
    };
    let (_env, port) = relay(limits);
    let mut s = connect(port);
    s.write_all(b"GET /app/bundle.yaml HT").unwrap();
    // The server closes the connection at its deadline without answering.
    let mut answer = Vec::new();
    let n = s.read_to_end(&mut answer).unwrap_or(0);
    assert_eq!(n, 0, "{}", String::from_utf8_lossy(&answer));
}

#[test]
fn the_metrics_endpoint_serves_others_while_one_client_stalls() {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    ferry_agent::metrics::serve(listener, Arc::new(|| "ferry_up 1\n".to_string()));
    let _stalled = connect(port);
    assert_eq!(get(port, "/metrics"), "HTTP/1.1 200 OK");
    let long = format!("GET /{} HTTP/1.1\r\n\r\n", "m".repeat(1 << 20));
    assert_eq!(ask(port, long.as_bytes()), "HTTP/1.1 414 URI Too Long");
}
