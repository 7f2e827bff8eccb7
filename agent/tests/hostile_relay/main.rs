//! Attacks on the servers the agent runs (the relay of `ferry-agent serve` and the metrics
//! endpoint), through the one bounded server module: request text never becomes a path,
//! request heads are bounded in size and in time (one deadline for the whole head, however it
//! trickles in), connections are capped in all and per client with idle ones as the reserve,
//! and the relay answers only requests that carry the site token.

#[path = "../common/mod.rs"]
mod common;
mod support;

use common::*;
use ferry_agent::httpd::{self, ServerLimits};
use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::Arc;
use std::time::Duration;
use support::*;

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
        ask(
            port,
            format!("POST /app/bundle.yaml HTTP/1.1\r\nAuthorization: Bearer {TOKEN}\r\n\r\n")
                .as_bytes()
        ),
        "HTTP/1.1 405 Method Not Allowed"
    );
}

#[test]
fn connections_beyond_the_cap_are_refused_not_threaded() {
    let limits = ServerLimits {
        max_connections: 4,
        max_per_client: 4,
        head_deadline: Duration::from_secs(120),
        ..Default::default()
    };
    let (release, held) = std::sync::mpsc::channel();
    let (started, entered) = std::sync::mpsc::channel();
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    httpd::spawn(
        listener,
        limits,
        Arc::new(Held(std::sync::Mutex::new(held), started)),
    );
    // Four clients whose requests are being answered hold every slot...
    let busy: Vec<TcpStream> = (0..4)
        .map(|_| {
            let mut s = connect(port);
            s.write_all(b"GET / HTTP/1.1\r\n\r\n").unwrap();
            entered.recv_timeout(Duration::from_secs(30)).unwrap();
            s
        })
        .collect();
    // ...so the fifth is answered 503 at once, without a thread.
    assert_eq!(get(port, "/"), "HTTP/1.1 503 Service Unavailable");
    for _ in &busy {
        release.send(()).unwrap();
    }
    for mut s in busy {
        let mut answer = String::new();
        let _ = s.read_to_string(&mut answer);
        assert!(answer.starts_with("HTTP/1.1 200 OK"), "{answer}");
    }
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

#[test]
fn a_request_head_trickled_byte_by_byte_is_cut_at_the_head_deadline() {
    let limits = ServerLimits {
        head_deadline: Duration::from_millis(500),
        ..Default::default()
    };
    let (_env, port) = relay(limits);
    let head = format!(
        "GET /app/bundle.yaml HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {TOKEN}\r\nX-Pad: {}\r\n\r\n",
        "p".repeat(200)
    );
    let mut s = connect(port);
    s.set_nonblocking(true).unwrap();
    let (mut sent, mut answer) = (0, Vec::new());
    // One byte every 20 ms: each arrives far inside any per-read timeout; the whole head would
    // take ~6 s.
    let cut = loop {
        if sent == head.len() {
            break false;
        }
        match s.write(&head.as_bytes()[sent..sent + 1]) {
            Ok(_) => sent += 1,
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {}
            Err(_) => break true,
        }
        let mut buf = [0u8; 512];
        match s.read(&mut buf) {
            Ok(0) => break true,
            Ok(n) => answer.extend_from_slice(&buf[..n]),
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {}
            Err(_) => break true,
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    if !cut {
        s.set_nonblocking(false).unwrap();
        let _ = s.read_to_end(&mut answer);
    }
    assert!(
        cut && sent < head.len(),
        "the trickled head ({} of {} bytes) was not cut: {}",
        sent,
        head.len(),
        String::from_utf8_lossy(&answer)
    );
    assert!(answer.is_empty(), "{}", String::from_utf8_lossy(&answer));
}

#[test]
fn idle_connections_from_one_address_or_many_leave_room_for_a_neighbour() {
    let limits = ServerLimits {
        head_deadline: Duration::from_secs(120),
        ..Default::default()
    };
    let per_client = limits.max_per_client;
    let (_env, port) = relay(limits);
    // 32 silent connections from one address (the global cap)...
    let mut attacker: Vec<TcpStream> = (0..32).map(|_| connect(port)).collect();
    // ...and a neighbour on another address is served, every time.
    for _ in 0..8 {
        assert_eq!(
            get_from([127, 0, 0, 2], port, "/app/bundle.yaml"),
            "HTTP/1.1 200 OK"
        );
    }
    // The attacker holds at most its per-client share; its other connections were closed.
    let want = 32 - per_client;
    assert_eq!(closed_by_server(&mut attacker, want), want);
    // A request from the attacker's own address is served too (idle ones make room).
    assert_eq!(get(port, "/app/bundle.yaml"), "HTTP/1.1 200 OK");
    drop(attacker);

    // Silent connections from four addresses fill every slot: a fifth address is served.
    let mut many: Vec<TcpStream> = (0..32)
        .map(|i| connect_from([127, 0, 1, 1 + (i % 4) as u8], port))
        .collect();
    for _ in 0..8 {
        assert_eq!(
            get_from([127, 0, 0, 9], port, "/app/bundle.yaml"),
            "HTTP/1.1 200 OK"
        );
    }
    // One of theirs made room (the neighbour's slot is free again after each answer).
    assert!(closed_by_server(&mut many, 1) >= 1);
}

#[test]
fn the_relay_answers_only_requests_with_the_site_token() {
    let (_env, port) = relay(ServerLimits::default());
    let secret = ferry_bundle::digest::sha256_hex(SECRET.as_bytes());
    for path in [
        "/app/bundle.yaml".to_string(),
        "/app/bundle.yaml.minisig".to_string(),
        format!("/app/blobs/sha256/{secret}"),
        "/nothing".to_string(),
    ] {
        for auth in [
            String::new(),
            "Authorization: Bearer wrong-token-wrong-token-wrong-token\r\n".to_string(),
            format!("Authorization: Basic {TOKEN}\r\n"),
            format!("Authorization: Bearer {}\r\n", &TOKEN[..TOKEN.len() - 1]),
        ] {
            let mut s = connect(port);
            s.write_all(format!("GET {path} HTTP/1.1\r\nHost: x\r\n{auth}\r\n").as_bytes())
                .unwrap();
            let mut answer = String::new();
            let _ = s.read_to_string(&mut answer);
            assert!(
                answer.starts_with("HTTP/1.1 401 Unauthorized\r\n")
                    && answer.contains("WWW-Authenticate: Bearer realm=\"ferry-relay\"")
                    && !answer.contains("hunter2"),
                "{path} {auth:?}: {answer}"
            );
        }
    }
    // With the token: the neighbour gets the verified bundle, secrets included (until SOPS).
    let mut s = connect(port);
    s.write_all(
        format!("GET /app/blobs/sha256/{secret} HTTP/1.1\r\nAuthorization: Bearer {TOKEN}\r\n\r\n")
            .as_bytes(),
    )
    .unwrap();
    let mut answer = String::new();
    let _ = s.read_to_string(&mut answer);
    assert!(
        answer.starts_with("HTTP/1.1 200 OK") && answer.contains("hunter2"),
        "{answer}"
    );
}

#[test]
fn the_relay_does_not_start_without_a_private_site_token_and_refuses_neighbours_without_it() {
    let env = Env::new();
    env.publish(1, &[("secret.yaml", SECRET.to_string())]);
    assert_eq!(env.sync().0, 0);
    let serve = |env: &Env| {
        std::process::Command::new(env!("CARGO_BIN_EXE_ferry-agent"))
            .arg("--config")
            .arg(&env.config)
            .args(["serve", "127.0.0.1:0"])
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap()
    };
    // No serve.tokenFile: `serve` does not start.
    let o = serve(&env).wait_with_output().unwrap();
    let text = String::from_utf8_lossy(&o.stderr);
    assert!(
        !o.status.success() && text.contains("serve.tokenFile is required"),
        "{text}"
    );
    // A token file others can read: refused by `serve` and `check-config`.
    let token = env.relay_token();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&token, std::fs::Permissions::from_mode(0o644)).unwrap();
    let o = serve(&env).wait_with_output().unwrap();
    let text = String::from_utf8_lossy(&o.stderr);
    assert!(!o.status.success() && text.contains("mode 0644"), "{text}");
    let o = env.agent(&["check-config"]);
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    );
    assert!(!o.status.success() && text.contains("mode 0644"), "{text}");
    // A private token: the relay runs; a neighbour without the token gets 401 and nothing.
    std::fs::set_permissions(&token, std::fs::Permissions::from_mode(0o600)).unwrap();
    let mut relay = serve(&env);
    let mut line = String::new();
    std::io::BufRead::read_line(
        &mut std::io::BufReader::new(relay.stderr.take().unwrap()),
        &mut line,
    )
    .unwrap();
    let addr = line
        .split("http://")
        .nth(1)
        .and_then(|r| r.split('/').next())
        .unwrap_or_else(|| panic!("relay address in {line:?}"))
        .to_string();
    let neighbour = Env::new();
    neighbour.write_config_source(
        "",
        &format!("{{type: http, url: \"http://{addr}/app/\"}}"),
        "timeout: 5s",
        "",
    );
    let (code, o) = neighbour.sync();
    let _ = relay.kill();
    let _ = relay.wait();
    assert!(code != 0 && o.contains("401"), "{o}");
    assert!(neighbour.obj("", "Secret", "default", "s").is_none());
}

#[test]
fn a_client_that_reads_its_answer_slowly_is_cut_at_the_answer_deadline() {
    const SIZE: usize = 64 << 20;
    // Each write must progress within 2 s (the reader below always lets it), and the whole
    // answer arrive within 2 s + 64 MiB at 64 MiB/s = 3 s.
    let limits = ServerLimits {
        write_timeout: Duration::from_secs(2),
        min_send_rate: 64 << 20,
        ..Default::default()
    };
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    httpd::spawn(listener, limits, Arc::new(Large(SIZE)));
    let mut s = connect(port);
    s.write_all(b"GET /blob HTTP/1.1\r\n\r\n").unwrap();
    // 64 KiB every 10 ms: every write progresses, but the whole answer would take ~10 s
    // (without the answer deadline all of it arrives: checked, 67108954 bytes with the head).
    let mut buf = vec![0u8; 64 << 10];
    let mut read = 0usize;
    loop {
        match s.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => read += n,
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    assert!(read > 0 && read < SIZE, "read {read} of {SIZE} bytes");
}
