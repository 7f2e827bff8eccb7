//! Issue 23: no device can lie to or starve the fleet. Each test is one attack from the issue,
//! played against a real `ferry-fleet` process over TLS (PostgreSQL where the attack was found
//! there): numbers beyond every range, a device claiming the newest revision, made-up sync
//! names, lookalike ids, NUL characters, an event flood, slow clients, many connections.

mod common;
use common::{heartbeat, tls, Receiver, StoreKind};
use serde_json::{json, Value};
use std::io::{Read, Write};
use std::sync::Arc;
use std::time::{Duration, Instant};

fn with(device: &str, f: impl FnOnce(&mut Value)) -> String {
    let mut v: Value = serde_json::from_str(&heartbeat(device, "healthy", None)).unwrap();
    f(&mut v);
    v.to_string()
}

fn json_of(r: &Receiver, path: &str) -> Value {
    let (s, body) = r.get(path);
    assert_eq!(s, 200, "{path}: {body}");
    serde_json::from_str(&body).unwrap()
}

/// Series lines (not comments) in `/metrics`.
fn series(r: &Receiver) -> usize {
    r.metrics_text()
        .lines()
        .filter(|l| !l.starts_with('#'))
        .count()
}

#[test]
fn numbers_beyond_every_range_neither_break_nor_freeze_the_views() {
    let r = Receiver::start(&["edge-1", "liar"], StoreKind::Sqlite);
    let max = u64::MAX;
    let hb = with("liar", |v| {
        v["intervalSeconds"] = json!(max);
        v["outbox"]["dropped"] = json!(max);
        v["agent"]["uptimeSeconds"] = json!(max);
        v["syncs"][0]["driftCorrections"] = json!(max);
    });
    let liar = r.token("liar");
    assert_eq!(
        r.post("/api/heartbeat", &hb, Some(&liar), None).unwrap().0,
        200
    );
    let other = with("edge-1", |v| v["outbox"]["dropped"] = json!(5));
    let t1 = r.token("edge-1");
    assert_eq!(
        r.post("/api/heartbeat", &other, Some(&t1), None).unwrap().0,
        200
    );
    for page in [
        "/",
        "/devices",
        "/devices/liar",
        "/api/overview",
        "/api/devices",
    ] {
        assert_eq!(r.get(page).0, 200, "{page}");
    }
    r.metrics_text();
    assert_eq!(
        json_of(&r, "/api/overview")["outboxDroppedTotal"],
        json!(i64::MAX),
        "saturated, not wrapped"
    );
    // The interval is cut to a day: six silent days (plus grace) and the liar is offline.
    r.set_clock(r.t0 + 6 * 86_400 + 31);
    assert_eq!(json_of(&r, "/api/devices/liar")["status"], "offline");
    // A revision beyond what can be stored is refused, naming the field.
    let rev = with("liar", |v| v["syncs"][0]["revision"] = json!(max));
    let (s, b) = r.post("/api/heartbeat", &rev, Some(&liar), None).unwrap();
    assert_eq!(s, 422, "{b}");
    assert!(
        b.contains("syncs[0].revision: must be at most 9223372036854775807"),
        "{b}"
    );
}

#[test]
fn one_device_cannot_move_the_newest_revision_or_add_series() {
    let ids = ["edge-1", "edge-2", "edge-3", "liar"];
    let r = Receiver::start(&ids, StoreKind::Sqlite);
    for id in &ids[..3] {
        let hb = with(id, |v| {
            v["syncs"][0]["revision"] = json!(3);
            v["syncs"][0]["highestVerified"] = json!(3);
        });
        assert_eq!(
            r.post("/api/heartbeat", &hb, Some(&r.token(id)), None)
                .unwrap()
                .0,
            200
        );
    }
    let before = series(&r);
    let hb = with("liar", |v| {
        v["syncs"][0]["highestVerified"] = json!(i64::MAX);
        for i in 1..32 {
            v["syncs"].as_array_mut().unwrap().push(
                json!({"name": format!("made-up-{i}"), "health": "healthy", "highestVerified": 9}),
            );
        }
    });
    let liar = r.token("liar");
    assert_eq!(
        r.post("/api/heartbeat", &hb, Some(&liar), None).unwrap().0,
        200
    );
    let o = json_of(&r, "/api/overview");
    assert_eq!(o["syncs"].as_array().unwrap().len(), 1, "{o}");
    assert_eq!(o["syncs"][0]["target"], 3);
    assert_eq!(o["syncs"][0]["applied"], 3);
    assert_eq!(
        r.metric("ferry_fleet_sync_target_revision{sync=\"apps\"}"),
        3.0
    );
    assert_eq!(series(&r), before, "one device's sync names add no series");
    // More than 32 syncs per device: refused.
    let hb = with("liar", |v| {
        for i in 1..33 {
            v["syncs"]
                .as_array_mut()
                .unwrap()
                .push(json!({"name": format!("s{i}"), "health": "healthy"}));
        }
    });
    let (s, b) = r.post("/api/heartbeat", &hb, Some(&liar), None).unwrap();
    assert_eq!((s, b.contains("syncs: at most 32")), (422, true), "{b}");
}

#[test]
fn lookalike_and_dot_ids_are_refused() {
    let r = Receiver::start(&["edge-1"], StoreKind::Sqlite);
    let t = r.token("edge-1");
    for id in [
        "edge\u{200B}-1",
        "edge-1\u{202E}",
        "\u{435}dge-1",
        ".",
        "..",
        &"e".repeat(254),
    ] {
        let hb = with(id, |_| {});
        let (s, b) = r.post("/api/heartbeat", &hb, Some(&t), None).unwrap();
        assert_eq!(s, 422, "{id:?}: {b}");
        assert!(b.contains("device.id"), "{b}");
        let ev = json!({"schema": "ferry.dev/event/v1", "device": id, "sync": "apps", "kind": "applied"});
        assert_eq!(
            r.post("/api/events", &ev.to_string(), Some(&t), None)
                .unwrap()
                .0,
            422
        );
    }
}

#[test]
fn a_nul_in_one_message_fails_nobody_on_postgres() {
    let mut ids: Vec<String> = (0..12).map(|i| format!("edge-{i}")).collect();
    ids.push("bad".into());
    let refs: Vec<&str> = ids.iter().map(String::as_str).collect();
    let r = Arc::new(Receiver::start(&refs, StoreKind::Postgres));
    let threads: Vec<_> = ids
        .iter()
        .map(|id| {
            let (r, id) = (r.clone(), id.clone());
            std::thread::spawn(move || {
                let token = r.token(&id);
                let mut codes = Vec::new();
                for round in 0..5 {
                    let hb = if id == "bad" {
                        with(&id, |v| {
                            v["syncs"][0]["lastError"] = json!(format!("boom\u{0}{round}\u{202E}"));
                            v["device"]["labels"]["note"] = json!("a\u{0}b");
                        })
                    } else {
                        with(&id, |_| {})
                    };
                    codes.push(r.post("/api/heartbeat", &hb, Some(&token), None).unwrap().0);
                    let ev = json!({"schema": "ferry.dev/event/v1", "device": id, "sync": "apps",
                        "kind": "failed", "message": "x\u{0}y"});
                    codes.push(
                        r.post("/api/events", &ev.to_string(), Some(&token), None)
                            .unwrap()
                            .0,
                    );
                }
                (id, codes)
            })
        })
        .collect();
    for t in threads {
        let (id, codes) = t.join().unwrap();
        assert!(codes.iter().all(|c| *c == 200), "{id}: {codes:?}");
    }
    let d = json_of(&r, "/api/devices/bad");
    assert_eq!(
        d["device"]["syncs"][0]["lastError"],
        "boom\u{FFFD}4\u{FFFD}"
    );
    assert_eq!(d["device"]["labels"]["note"], "a\u{FFFD}b");
    assert_eq!(d["events"][0]["message"], "x\u{FFFD}y");
}

fn post_event(r: &Receiver, device: &str, kind: &str) -> (u16, Option<String>) {
    let ev = json!({"schema": "ferry.dev/event/v1", "device": device, "sync": "apps",
        "kind": kind, "message": format!("{kind} on {device}")});
    let resp = r
        .client(None)
        .post(&format!("{}/api/events", r.url))
        .header("Authorization", &format!("Bearer {}", r.token(device)))
        .send(ev.to_string())
        .unwrap();
    let retry = resp
        .headers()
        .get("retry-after")
        .map(|v| v.to_str().unwrap().to_string());
    (resp.status().as_u16(), retry)
}

#[test]
fn one_device_cannot_flood_events_or_push_others_off_the_overview() {
    let r = Receiver::start_with(
        &["flood", "edge-1"],
        StoreKind::Sqlite,
        "eventRate: {burst: 5, perMinute: 6}\n",
    );
    assert_eq!(post_event(&r, "edge-1", "rolled-back").0, 200);
    for _ in 0..5 {
        assert_eq!(post_event(&r, "flood", "rolled-back").0, 200);
    }
    assert_eq!(
        post_event(&r, "flood", "rolled-back"),
        (429, Some("10".into()))
    );
    assert_eq!(
        post_event(&r, "edge-1", "applied").0,
        200,
        "others keep their own rate"
    );
    assert_eq!(r.metric("ferry_fleet_rejected_total{code=\"429\"}"), 1.0);
    let recent = json_of(&r, "/api/overview")["recent"].clone();
    let from: Vec<&str> = recent
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["device"].as_str().unwrap())
        .collect();
    assert_eq!(from, ["flood", "flood", "edge-1"], "at most two per device");
    r.set_clock(r.t0 + 10);
    assert_eq!(
        post_event(&r, "flood", "applied").0,
        200,
        "the bucket refills"
    );
}

/// Everything the server sends until it closes (an error counts as closed).
fn until_closed(s: &mut impl Read) -> String {
    let mut out = Vec::new();
    let _ = s.read_to_end(&mut out);
    String::from_utf8_lossy(&out).to_string()
}

#[test]
fn slow_clients_are_cut_and_connections_per_address_are_bounded() {
    let r = Receiver::start_with(
        &["edge-1"],
        StoreKind::Sqlite,
        "headerTimeout: 1s\nbodyTimeout: 1s\nmaxConnectionsPerAddress: 3\n",
    );
    // Half a request head, then nothing: closed at the header limit, long before idleTimeout
    // (20 minutes); the socket's own read timeout (60 s) would fail the test.
    let mut slow = tls(&r).unwrap();
    slow.write_all(b"POST /api/heartbeat HTTP/1.1\r\nHo")
        .unwrap();
    slow.flush().unwrap();
    let started = Instant::now();
    let _ = until_closed(&mut slow);
    assert!(
        started.elapsed() < Duration::from_secs(50),
        "closed by the receiver"
    );
    drop(slow);
    // A body that stops half way: 408.
    let mut body = tls(&r).unwrap();
    let head = format!(
        "POST /api/heartbeat HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {}\r\nContent-Length: 1000\r\n\r\n{{\"schema\"",
        r.token("edge-1")
    );
    body.write_all(head.as_bytes()).unwrap();
    body.flush().unwrap();
    let answer = until_closed(&mut body);
    assert!(answer.starts_with("HTTP/1.1 408"), "{answer}");
    drop(body);
    // Three idle connections from one address hold its three slots: a fourth is closed at
    // once (no TLS), and a slot is given back when a connection ends.
    let deadline = Instant::now() + Duration::from_secs(30);
    let held: Vec<_> = (0..3)
        .map(|_| loop {
            // The slots of the connections above are given back asynchronously.
            match tls(&r) {
                Ok(s) => break s,
                Err(e) => assert!(Instant::now() < deadline, "{e}"),
            }
        })
        .collect();
    assert!(
        tls(&r).is_err(),
        "a fourth connection from the same address"
    );
    drop(held);
    let deadline = Instant::now() + Duration::from_secs(30);
    while tls(&r).is_err() {
        assert!(Instant::now() < deadline, "slots never given back");
    }
    assert!(r_metric_after_close(&r) >= 1.0);
}

/// `ferry_fleet_connections_refused_total`, once a slot is free for the metrics request.
fn r_metric_after_close(r: &Receiver) -> f64 {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let got = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            r.metric("ferry_fleet_connections_refused_total")
        }));
        match got {
            Ok(v) => return v,
            Err(_) => assert!(Instant::now() < deadline),
        }
    }
}
