//! Ingest over real TLS against a real `ferry-fleet` process: authentication (tokens and mTLS
//! bound to the device id), the status codes and their JSON bodies, unknown fields, body
//! limits, durability of an answered request, HTML escaping, and the agent's sender keeping
//! one connection per endpoint.

mod common;
use common::{heartbeat, Receiver, StoreKind};

fn error_of(body: &str) -> String {
    let v: serde_json::Value =
        serde_json::from_str(body).unwrap_or_else(|_| panic!("not JSON: {body}"));
    format!(
        "{}: {}",
        v["error"].as_str().unwrap(),
        v["message"].as_str().unwrap()
    )
}

#[test]
fn ingest_checks_credentials_shape_and_size_and_answers_after_commit() {
    let r = Receiver::start(&["edge-1", "edge-2"], StoreKind::Sqlite);
    let t1 = r.token("edge-1");
    let hb = heartbeat("edge-1", "healthy", None);
    let (s, b) = r.post("/api/heartbeat", &hb, None, None).unwrap();
    assert_eq!(
        (s, error_of(&b).as_str()),
        (401, "unauthorized: no client certificate or bearer token")
    );
    let (s, b) = r
        .post("/api/heartbeat", &hb, Some("not-a-token"), None)
        .unwrap();
    assert_eq!(
        (s, error_of(&b).as_str()),
        (401, "unauthorized: unknown bearer token")
    );
    let (s, b) = r
        .post(
            "/api/heartbeat",
            &heartbeat("edge-2", "healthy", None),
            Some(&t1),
            None,
        )
        .unwrap();
    assert_eq!(s, 403, "{b}");
    assert!(error_of(&b).contains("is for device \"edge-1\""), "{b}");
    let (s, b) = r.post("/api/heartbeat", r#"{"schema":"ferry.dev/heartbeat/v1","device":{"id":"edge-1"},"syncs":[{"name":"a","health":"fine"}]}"#, Some(&t1), None).unwrap();
    assert_eq!(s, 422, "{b}");
    assert!(error_of(&b).contains("syncs[0].health"), "{b}");
    let (s, b) = r.post("/api/heartbeat", "{", Some(&t1), None).unwrap();
    assert_eq!(s, 422, "{b}");
    let huge = format!(
        "{{\"schema\":\"ferry.dev/heartbeat/v1\",\"pad\":\"{}\"}}",
        "x".repeat(70_000)
    );
    let (s, b) = r.post("/api/heartbeat", &huge, Some(&t1), None).unwrap();
    assert_eq!(
        (s, error_of(&b).as_str()),
        (413, "too-large: body larger than 65536 bytes")
    );

    // Unknown fields are accepted (the agent only adds fields within v1).
    let mut v: serde_json::Value = serde_json::from_str(&hb).unwrap();
    v["newTopLevel"] = serde_json::json!({"x": 1});
    v["syncs"][0]["newSyncField"] = serde_json::json!(true);
    let (s, b) = r
        .post("/api/heartbeat", &v.to_string(), Some(&t1), None)
        .unwrap();
    assert_eq!((s, b.as_str()), (200, r#"{"ok":true}"#));
    // Answered means committed: another connection to the database file sees it.
    let db = rusqlite_count(&r.path("fleet.db"));
    assert_eq!(db, 1);

    let event = r#"{"schema":"ferry.dev/event/v1","time":"t","device":"edge-1","sync":"apps","kind":"rolled-back","message":"m"}"#;
    assert_eq!(
        r.post("/api/events", event, Some(&t1), None).unwrap().0,
        200
    );
    let other = event.replace("\"edge-1\"", "\"edge-2\"");
    assert_eq!(
        r.post("/api/events", &other, Some(&t1), None).unwrap().0,
        403
    );
    assert_eq!(r.metric("ferry_fleet_rejected_total{code=\"401\"}"), 2.0);
    assert_eq!(r.metric("ferry_fleet_rejected_total{code=\"413\"}"), 1.0);
}

fn rusqlite_count(path: &std::path::Path) -> usize {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        use ferry_fleet::store::Store;
        let s = ferry_fleet::store::sqlite::SqliteStore::open(path).unwrap();
        s.devices().await.unwrap().len()
    })
}

#[test]
fn mutual_tls_binds_the_device_id_to_the_certificate() {
    let r = Receiver::start(&["edge-1", "edge-2"], StoreKind::Sqlite);
    let (s, b) = r
        .post(
            "/api/heartbeat",
            &heartbeat("edge-1", "healthy", None),
            None,
            Some("edge-1"),
        )
        .unwrap();
    assert_eq!(s, 200, "{b}");
    let (s, b) = r
        .post(
            "/api/heartbeat",
            &heartbeat("edge-2", "healthy", None),
            None,
            Some("edge-1"),
        )
        .unwrap();
    assert_eq!(s, 403, "{b}");
    // A certificate from another CA does not get through the handshake.
    let rogue = Receiver::start(&["edge-1"], StoreKind::Sqlite);
    for f in ["edge-1.pem", "edge-1-key.pem"] {
        std::fs::copy(
            rogue.path(&format!("devices/{f}")),
            r.path(&format!("devices/rogue-{f}")),
        )
        .unwrap();
    }
    let err = r.post(
        "/api/heartbeat",
        &heartbeat("edge-1", "healthy", None),
        None,
        Some("rogue-edge-1"),
    );
    assert!(
        err.is_err(),
        "a foreign client certificate must be refused: {err:?}"
    );
}

#[test]
fn device_text_is_escaped_on_every_page() {
    let r = Receiver::start(&["edge-1"], StoreKind::Sqlite);
    let evil = "<script>alert(1)</script><img src=x onerror=alert(2)>";
    let mut v: serde_json::Value =
        serde_json::from_str(&heartbeat("edge-1", "failed", Some(evil))).unwrap();
    v["device"]["labels"]["owner"] = serde_json::json!(evil);
    assert_eq!(
        r.post(
            "/api/heartbeat",
            &v.to_string(),
            Some(&r.token("edge-1")),
            None
        )
        .unwrap()
        .0,
        200
    );
    for page in [
        "/",
        "/devices",
        "/devices/edge-1",
        "/devices?q=%3Cscript%3E",
    ] {
        let (s, html) = r.get(page);
        assert_eq!(s, 200, "{page}");
        assert!(
            !html.contains("<script") && !html.contains("<img"),
            "{page}: {html}"
        );
    }
    assert!(r
        .get("/devices/edge-1")
        .1
        .contains("&lt;script&gt;alert(1)&lt;/script&gt;"));
}

#[test]
fn the_agent_sender_keeps_one_tls_connection_per_endpoint() {
    let r = Receiver::start(&["edge-1"], StoreKind::Sqlite);
    std::fs::write(r.path("agent-token"), r.token("edge-1")).unwrap();
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(dir.path().join("drop")).unwrap();
    let cfg_path = dir.path().join("agent.yaml");
    let text = format!(
        "device: {{id: edge-1}}\nstateDir: {}\nfleet:\n  url: {url}/api/heartbeat\n  interval: 1m\n  caFile: {ca}\n  tokenFile: {tok}\nnotifications:\n  - name: fleet-events\n    url: {url}/api/events\n    format: json\n    caFile: {ca}\n    clientCert: {cert}\n    clientKey: {key}\nsyncs:\n- name: apps\n  source: {{type: directory, path: drop}}\n",
        dir.path().join("state").display(),
        url = r.url,
        ca = r.path("ca.pem").display(),
        tok = r.path("agent-token").display(),
        cert = r.path("devices/edge-1.pem").display(),
        key = r.path("devices/edge-1-key.pem").display(),
    );
    std::fs::write(&cfg_path, &text).unwrap();
    let cfg = ferry_agent::config::AgentConfig::parse(&cfg_path, &text).unwrap();
    std::fs::create_dir_all(dir.path().join("state")).unwrap();
    let store = ferry_agent::store::Store::open(&dir.path().join("state/state.db")).unwrap();
    let before = r.metric("ferry_fleet_tls_handshakes_total");
    let event = r#"{"schema":"ferry.dev/event/v1","time":"t","device":"edge-1","sync":"apps","kind":"applied","message":"m"}"#;
    for round in 0..3 {
        for _ in 0..2 {
            store
                .enqueue(
                    ferry_agent::fleet::FLEET_TARGET,
                    &heartbeat("edge-1", "healthy", None),
                    100,
                )
                .unwrap();
            store.enqueue("webhook:fleet-events", event, 100).unwrap();
        }
        let (delivered, failed) = ferry_agent::fleet::flush(&store, &cfg).unwrap();
        assert_eq!((delivered, failed.len()), (4, 0), "round {round}");
    }
    // 12 messages over 3 flushes: one handshake per endpoint (2), plus this metrics request's own.
    let after = r.metric("ferry_fleet_tls_handshakes_total");
    assert_eq!(after - before, 3.0);
    assert_eq!(r.metric("ferry_fleet_heartbeats_total"), 6.0);
    assert_eq!(r.metric("ferry_fleet_events_total"), 6.0);
    // The heartbeat gained the agent's own interval.
    let (_, dev) = r.get("/api/devices/edge-1");
    let v: serde_json::Value = serde_json::from_str(&dev).unwrap();
    assert_eq!(v["device"]["intervalSeconds"], 60);
}

/// A message ferry-fleet refuses for good (422: it can never be stored) is dropped from the
/// agent's outbox and counted, instead of blocking every later message to that endpoint.
#[test]
fn a_message_the_receiver_refuses_for_good_leaves_the_outbox_and_the_next_one_is_delivered() {
    let r = Receiver::start(&["edge-1"], StoreKind::Sqlite);
    std::fs::write(r.path("agent-token"), r.token("edge-1")).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let cfg_path = dir.path().join("agent.yaml");
    let text = format!(
        "device: {{id: edge-1}}\nstateDir: {}\nnotifications:\n  - name: fleet-events\n    url: {url}/api/events\n    format: json\n    caFile: {ca}\n    tokenFile: {tok}\nsyncs:\n- name: apps\n  source: {{type: directory, path: drop}}\n",
        dir.path().join("state").display(),
        url = r.url,
        ca = r.path("ca.pem").display(),
        tok = r.path("agent-token").display(),
    );
    std::fs::write(&cfg_path, &text).unwrap();
    let cfg = ferry_agent::config::AgentConfig::parse(&cfg_path, &text).unwrap();
    std::fs::create_dir_all(dir.path().join("state")).unwrap();
    let store = ferry_agent::store::Store::open(&dir.path().join("state/state.db")).unwrap();
    // An event kind with a right-to-left override: refused with 422, whatever the retries.
    let bad = "{\"schema\":\"ferry.dev/event/v1\",\"time\":\"t\",\"device\":\"edge-1\",\"sync\":\"apps\",\"kind\":\"applied\u{202e}\",\"message\":\"m\"}";
    let good = r#"{"schema":"ferry.dev/event/v1","time":"t","device":"edge-1","sync":"apps","kind":"applied","message":"m"}"#;
    store.enqueue("webhook:fleet-events", bad, 100).unwrap();
    store.enqueue("webhook:fleet-events", good, 100).unwrap();
    let (delivered, failed) = ferry_agent::fleet::flush(&store, &cfg).unwrap();
    assert_eq!((delivered, failed.len()), (1, 0));
    assert_eq!(store.outbox_len().unwrap(), 0);
    let counters = store.counters().unwrap();
    assert!(
        counters.contains(&("outbox_refused".to_string(), 1)),
        "{counters:?}"
    );
    assert_eq!(r.metric("ferry_fleet_events_total"), 1.0);
}
