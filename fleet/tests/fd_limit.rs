//! Issue 23: at the file limit the receiver logged `accept: Too many open files` every 50 ms.
//! A real receiver whose RLIMIT_NOFILE is lowered (`prlimit --pid`) is filled with idle TLS
//! connections; clients that send garbage then queue behind them, and each one that gets
//! through (an accept that worked between two that failed) used to start a new log line. The
//! log is bounded per minute of the receiver's clock, and it serves again once connections
//! close.

mod common;
use common::{tls, Receiver, StoreKind};
use std::collections::BTreeSet;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

type Tls = rustls::StreamOwned<rustls::ClientConnection, TcpStream>;

fn fds(pid: u32) -> BTreeSet<u32> {
    std::fs::read_dir(format!("/proc/{pid}/fd"))
        .unwrap()
        .filter_map(|e| e.ok()?.file_name().to_str()?.parse().ok())
        .collect()
}

/// Every descriptor below the limit is taken: the next accept fails with EMFILE.
fn exhausted(pid: u32, limit: u32) -> bool {
    let open = fds(pid);
    (0..limit).all(|n| open.contains(&n))
}

fn wait_for(what: &str, mut ok: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(60);
    while !ok() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn accept_lines(r: &Receiver) -> Vec<String> {
    r.log()
        .lines()
        .filter(|l| l.contains("accept:"))
        .map(str::to_string)
        .collect()
}

/// A client that sends bytes that are no TLS: once accepted, the receiver drops it at once.
fn garbage(addr: &str) -> TcpStream {
    let mut s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(90))).unwrap();
    s.write_all(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n").unwrap();
    s
}

/// Fills the receiver's descriptors with idle TLS connections.
fn fill(r: &Receiver, limit: u32, held: &mut Vec<Tls>) {
    for _ in 0..limit {
        if exhausted(r.pid(), limit) {
            return;
        }
        held.push(tls(r).unwrap());
    }
    wait_for("the receiver's descriptors to run out", || {
        exhausted(r.pid(), limit)
    });
}

#[test]
fn at_the_file_limit_accept_errors_are_logged_once_a_minute_and_service_resumes() {
    let r = Receiver::start_with(&[], StoreKind::Sqlite, "maxConnectionsPerAddress: 1000\n");
    assert_eq!(r.get("/api/overview").0, 200);
    let limit = fds(r.pid()).last().unwrap() + 1 + 24;
    let st = std::process::Command::new("prlimit")
        .arg(format!("--pid={}", r.pid()))
        .arg(format!("--nofile={limit}:{limit}"))
        .status()
        .unwrap();
    assert!(st.success());
    let addr = r.url.trim_start_matches("https://").to_string();

    let mut held = Vec::new();
    fill(&r, limit, &mut held);
    // Queued behind the full table: the first accept of them fails.
    let mut queued: Vec<TcpStream> = (0..12).map(|_| garbage(&addr)).collect();
    wait_for("the first accept error in the log", || {
        !accept_lines(&r).is_empty()
    });
    // One descriptor comes free: each queued client is accepted in turn (and dropped for its
    // garbage), with failed accepts in between while the previous one is still open.
    held.remove(0);
    for s in &mut queued {
        let mut rest = Vec::new();
        let _ = s.read_to_end(&mut rest);
    }
    let lines = accept_lines(&r);
    assert_eq!(
        lines.len(),
        1,
        "one line per minute of the receiver's clock: {lines:#?}"
    );

    // A minute later the next failure is logged again, with what was left out.
    r.set_clock(r.t0 + 61);
    fill(&r, limit, &mut held);
    let _late = garbage(&addr);
    wait_for("a second accept error line", || accept_lines(&r).len() == 2);
    assert!(
        accept_lines(&r)[1].contains("more accept errors since the last message"),
        "{:?}",
        accept_lines(&r)
    );

    // Connections close: the receiver serves again.
    held.clear();
    drop(_late);
    let mut status = 0;
    wait_for("the receiver to answer again", || {
        status = r
            .post("/api/heartbeat", "{}", None, None)
            .map_or(0, |(s, _)| s);
        status == 401
    });
    assert!(r.metric("ferry_fleet_accept_errors_total") >= 2.0);
}
