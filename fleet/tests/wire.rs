//! Heartbeats and events on the wire: the agent's own sender (`ferry_agent::fleet::flush`)
//! against a real `ferry-fleet` process, through a counting TCP proxy on loopback.
//! - heartbeats and events to one host share one kept connection;
//! - a connection dropped on the way (NAT, middlebox: `CountingProxy::cut`) or closed by the
//!   receiver at its idle limit is reopened with a *resumed* TLS handshake (the receiver counts
//!   resumed handshakes from rustls' `handshake_kind`), with a token and with mutual TLS, and a
//!   resumed mTLS session still binds the device id;
//! - the idle limits fit a 15-minute heartbeat: interval < the agent's idle < the receiver's.
//!
//! Bytes per message are figures, not assertions: `ferry-bench` (idle day) publishes them.

mod common;

use common::*;
use ferry_agent::config::AgentConfig;
use ferry_agent::fleet::{self, SyncReport, FLEET_TARGET};
use ferry_agent::store::Store;
use ferry_tests::tcp_count::CountingProxy;
use std::time::Duration;

#[derive(Clone, Copy)]
enum Cred {
    Token,
    Certificate,
}

/// An agent's outbox delivering heartbeats and events to `r` through `proxy`.
struct Sender {
    _dir: tempfile::TempDir,
    cfg: AgentConfig,
    store: Store,
}

impl Sender {
    fn new(r: &Receiver, proxy: &CountingProxy, cred: Cred) -> Sender {
        let dir = tempfile::tempdir().unwrap();
        let token = dir.path().join("token");
        std::fs::write(&token, r.token("edge-1")).unwrap();
        let creds = match cred {
            Cred::Token => format!("tokenFile: {}", token.display()),
            Cred::Certificate => format!(
                "clientCert: {}, clientKey: {}",
                r.path("devices/edge-1.pem").display(),
                r.path("devices/edge-1-key.pem").display()
            ),
        };
        let url = proxy.url_through(&r.url);
        let url = url.trim_end_matches('/');
        let text = format!(
            "device: {{id: edge-1}}\nstateDir: {state}\n\
fleet: {{url: \"{url}/api/heartbeat\", interval: 15m, caFile: {ca}, {creds}}}\n\
notifications:\n- {{name: fleet-events, url: \"{url}/api/events\", format: json, caFile: {ca}, {creds}}}\n\
syncs:\n- name: apps\n  source: {{type: directory, path: drop}}\n",
            state = dir.path().join("state").display(),
            ca = r.path("ca.pem").display(),
        );
        let cfg_path = dir.path().join("agent.yaml");
        std::fs::write(&cfg_path, &text).unwrap();
        let cfg = AgentConfig::parse(&cfg_path, &text).unwrap();
        std::fs::create_dir_all(dir.path().join("state")).unwrap();
        let store = Store::open(&dir.path().join("state/state.db")).unwrap();
        Sender {
            _dir: dir,
            cfg,
            store,
        }
    }

    fn token_file(&self) -> std::path::PathBuf {
        self._dir.path().join("token")
    }

    /// Queues the agent's own heartbeat (as `device`) and, with `event`, one event.
    fn queue(&self, device: &str, event: bool) {
        let report = SyncReport {
            name: "apps".into(),
            ..Default::default()
        };
        let hb = fleet::heartbeat(
            device,
            &Default::default(),
            Duration::from_secs(60),
            0,
            &[report],
            0,
        );
        self.store
            .enqueue(FLEET_TARGET, &hb.to_string(), 100)
            .unwrap();
        if event {
            let ev = fleet::event_payload(
                ferry_agent::config::WebhookFormat::Json,
                device,
                "apps",
                "applied",
                "revision 1 applied",
                0,
            );
            self.store
                .enqueue("webhook:fleet-events", &ev.to_string(), 100)
                .unwrap();
        }
    }

    /// Delivers the outbox; returns (delivered, failed targets).
    fn flush(&self) -> (usize, Vec<String>) {
        fleet::flush(&self.store, &self.cfg).unwrap()
    }
}

#[test]
fn heartbeats_and_events_to_one_host_share_one_connection() {
    for cred in [Cred::Token, Cred::Certificate] {
        let r = Receiver::start(&["edge-1"], StoreKind::Sqlite);
        let proxy = CountingProxy::for_url(&r.url).unwrap();
        let s = Sender::new(&r, &proxy, cred);
        for round in 0..3 {
            s.queue("edge-1", true);
            assert_eq!(s.flush(), (2, vec![]), "round {round}");
        }
        assert_eq!(proxy.count().connections, 1, "6 messages, 2 endpoints");
        assert_eq!(r.metric("ferry_fleet_heartbeats_total"), 3.0);
        assert_eq!(r.metric("ferry_fleet_events_total"), 3.0);
        // The compact heartbeat (no null fields) is what the receiver stored.
        let (_, dev) = r.get("/api/devices/edge-1");
        let v: serde_json::Value = serde_json::from_str(&dev).unwrap();
        assert_eq!(v["device"]["intervalSeconds"], 900, "{dev}");
    }
}

#[test]
fn a_dropped_connection_resumes_the_tls_session() {
    for cred in [Cred::Token, Cred::Certificate] {
        let r = Receiver::start(&["edge-1", "edge-2"], StoreKind::Sqlite);
        let proxy = CountingProxy::for_url(&r.url).unwrap();
        let s = Sender::new(&r, &proxy, cred);
        s.queue("edge-1", true);
        assert_eq!(s.flush(), (2, vec![]));
        assert_eq!(r.metric("ferry_fleet_tls_resumed_total"), 0.0);
        for drop in 1..=2 {
            proxy.cut();
            s.queue("edge-1", true);
            assert_eq!(s.flush(), (2, vec![]), "after drop {drop}");
            assert_eq!(proxy.count().connections, 1 + drop);
            assert_eq!(
                r.metric("ferry_fleet_tls_resumed_total"),
                drop as f64,
                "the reconnect after drop {drop} resumed the session"
            );
        }
        if let Cred::Certificate = cred {
            // A resumed mutual-TLS session still carries the device certificate: it binds
            // edge-1, so a heartbeat claiming edge-2 is refused.
            proxy.cut();
            s.queue("edge-2", false);
            assert_eq!(s.flush(), (0, vec![FLEET_TARGET.to_string()]));
            assert_eq!(r.metric("ferry_fleet_tls_resumed_total"), 3.0);
            assert_eq!(r.metric("ferry_fleet_rejected_total{code=\"403\"}"), 1.0);
        }
    }
}

#[test]
fn a_failed_delivery_keeps_the_tls_session() {
    let r = Receiver::start(&["edge-1"], StoreKind::Sqlite);
    let proxy = CountingProxy::for_url(&r.url).unwrap();
    let s = Sender::new(&r, &proxy, Cred::Certificate);
    s.queue("edge-1", true);
    assert_eq!(s.flush(), (2, vec![]));
    // An outage: the connection drops and the next attempt cannot connect.
    proxy.cut();
    proxy.set_refusing(true);
    s.queue("edge-1", false);
    let (delivered, failed) = s.flush();
    assert_eq!(delivered, 0);
    assert!(failed.contains(&FLEET_TARGET.to_string()), "{failed:?}");
    // Back: the kept messages go out over a resumed session, not a full handshake.
    proxy.set_refusing(false);
    assert_eq!(s.flush(), (1, vec![]));
    assert_eq!(proxy.count().connections, 2);
    assert_eq!(r.metric("ferry_fleet_tls_resumed_total"), 1.0);
}

#[test]
fn the_receiver_closes_idle_connections_at_its_limit_and_the_agent_resumes() {
    let r = Receiver::start_with(&["edge-1"], StoreKind::Sqlite, "idleTimeout: 1s\n");
    let proxy = CountingProxy::for_url(&r.url).unwrap();
    let s = Sender::new(&r, &proxy, Cred::Token);
    s.queue("edge-1", true);
    assert_eq!(s.flush(), (2, vec![]));
    // The receiver (not the proxy, not the agent) ends the idle connection.
    assert!(
        proxy.wait_ended(1, Duration::from_secs(60)),
        "the receiver closes a connection idle past idleTimeout"
    );
    s.queue("edge-1", true);
    assert_eq!(s.flush(), (2, vec![]));
    assert_eq!(proxy.count().connections, 2);
    assert_eq!(r.metric("ferry_fleet_tls_resumed_total"), 1.0);
}

#[test]
fn a_changed_credential_file_rebuilds_the_endpoint() {
    let r = Receiver::start(&["edge-1"], StoreKind::Sqlite);
    let proxy = CountingProxy::for_url(&r.url).unwrap();
    let s = Sender::new(&r, &proxy, Cred::Token);
    s.queue("edge-1", false);
    assert_eq!(s.flush(), (1, vec![]));
    // A rotated (here: wrong) token is read at the next delivery; the old one is not reused.
    std::fs::write(s.token_file(), "not-the-token").unwrap();
    s.queue("edge-1", false);
    assert_eq!(s.flush(), (0, vec![FLEET_TARGET.to_string()]));
    assert_eq!(r.metric("ferry_fleet_rejected_total{code=\"401\"}"), 1.0);
    std::fs::write(s.token_file(), r.token("edge-1")).unwrap();
    assert_eq!(s.flush(), (1, vec![]), "the kept heartbeat is delivered");
    assert_eq!(r.metric("ferry_fleet_heartbeats_total"), 2.0);
}

#[test]
fn idle_limits_fit_a_fifteen_minute_heartbeat() {
    let heartbeat = Duration::from_secs(15 * 60);
    let agent_idle = ferry_agent::endpoints::keep_idle(Some(heartbeat));
    assert!(agent_idle > heartbeat);
    // The receiver keeps a connection longer than the agent does, so the agent (which knows
    // when it will send next) is the one that lets an unused connection go.
    assert!(ferry_fleet::config::DEFAULT_IDLE_TIMEOUT > agent_idle);
    let cfg = ferry_fleet::config::FleetConfig::parse(
        std::path::Path::new("fleet.yaml"),
        "listen: 127.0.0.1:0\ntls: {cert: a, key: b}\ntokens: t\nstore: {sqlite: f}\n",
    )
    .unwrap();
    assert_eq!(cfg.idle_timeout, ferry_fleet::config::DEFAULT_IDLE_TIMEOUT);
}
