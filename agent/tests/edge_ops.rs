//! Edge operations end to end: heartbeat and notifications over TLS with a client certificate
//! and token (queued while the endpoint is down), metrics, the status ConfigMap, dependsOn,
//! the namespace fence with impersonation, and rollout waves.

mod common;

use common::*;
use ferry_tests::recorder::RecordingServer;
use std::io::{Read, Write};

fn fleet_config(rec: &RecordingServer, extra: &str) -> String {
    format!(
        "fleet:\n  url: {}/heartbeat\n  interval: 1m\n  caFile: {}\n  clientCert: {}\n  clientKey: {}\n  tokenFile: {}\nnotifications:\n  - name: slack\n    url: {}/slack\n    format: slack\n    events: [applied, rolled-back]\n    caFile: {}\n  - name: raw\n    url: {}/events\n    caFile: {}\n{extra}",
        rec.url,
        rec.file("ca.pem").display(),
        rec.file("client.pem").display(),
        rec.file("client-key.pem").display(),
        rec.file("token").display(),
        rec.url,
        rec.file("ca.pem").display(),
        rec.url,
        rec.file("ca.pem").display(),
    )
}

#[test]
fn heartbeat_and_notifications_over_tls_with_client_cert_and_token() {
    let env = Env::new();
    let rec = RecordingServer::start().unwrap();
    env.write_config_full(&fleet_config(&rec, ""), "timeout: 5s");
    env.publish(1, &[("a.yaml", cm("a", "default", "1"))]);
    let (code, out) = env.sync();
    assert_eq!(code, 0, "{out}");
    let hb = rec
        .received()
        .into_iter()
        .find(|r| r.path == "/heartbeat")
        .expect("a heartbeat");
    assert!(hb.client_cert, "heartbeat sent with the client certificate");
    assert_eq!(
        hb.header("Authorization"),
        Some("Bearer fleet-secret-token")
    );
    let body: serde_json::Value = serde_json::from_slice(&hb.body).unwrap();
    assert_eq!(body["schema"], "ferry.dev/heartbeat/v1");
    assert_eq!(body["device"]["id"], "edge-1");
    assert_eq!(body["syncs"][0]["revision"], 1);
    assert_eq!(body["syncs"][0]["health"], "healthy");
    assert_eq!(body["syncs"][0]["sourceReachable"], true);
    let slack = rec.json_bodies("/slack");
    assert_eq!(slack.len(), 1);
    assert!(slack[0]["text"]
        .as_str()
        .unwrap()
        .starts_with("ferry edge-1 / app: applied: revision 1 applied"));
    let raw = rec.json_bodies("/events");
    assert_eq!(raw[0]["schema"], "ferry.dev/event/v1");
    assert_eq!(raw[0]["kind"], "applied");
    // The token never appears in the agent's output.
    assert!(!out.contains("fleet-secret-token"));
}

#[test]
fn offline_messages_wait_in_a_bounded_outbox_and_arrive_in_order() {
    let env = Env::new();
    let rec = RecordingServer::start().unwrap();
    env.write_config_full(&fleet_config(&rec, "outboxLimit: 6"), "timeout: 5s");
    rec.set_down(true);
    for rev in 1..=3 {
        env.publish(rev, &[("a.yaml", cm("a", "default", &rev.to_string()))]);
        assert_eq!(env.sync().0, 0);
    }
    assert!(rec.received().is_empty());
    let metrics = String::from_utf8_lossy(&env.agent(&["metrics"]).stdout).into_owned();
    let m = ferry_agent::metrics::parse(&metrics).unwrap();
    assert_eq!(m["ferry_outbox_entries"], 6.0, "bounded at 6");
    // 3 heartbeats + 3 slack + 3 raw events were queued; the 3 oldest were dropped.
    assert_eq!(m["ferry_outbox_dropped_total"], 3.0);
    rec.set_down(false);
    assert_eq!(env.sync().0, 0);
    let raw: Vec<String> = rec
        .json_bodies("/events")
        .iter()
        .map(|e| e["message"].as_str().unwrap().to_string())
        .collect();
    assert!(raw.len() >= 2);
    assert!(
        raw[0].contains("revision 2") && raw[1].contains("revision 3"),
        "in order: {raw:?}"
    );
    // The last heartbeat was built before it was queued (and pushed one more message out).
    let hbs = rec.json_bodies("/heartbeat");
    assert_eq!(hbs.last().unwrap()["outbox"]["dropped"], 3);
    let m = ferry_agent::metrics::parse(&String::from_utf8_lossy(&env.agent(&["metrics"]).stdout))
        .unwrap();
    assert_eq!(m["ferry_outbox_entries"], 0.0);
    assert_eq!(m["ferry_outbox_dropped_total"], 4.0);
}

#[test]
fn metrics_textfile_and_localhost_endpoint() {
    let env = Env::new();
    let textfile = env.dir.path().join("ferry.prom");
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    env.write_config_full(
        &format!(
            "metrics:\n  textfile: {}\n  listen: 127.0.0.1:{port}",
            textfile.display()
        ),
        "timeout: 5s",
    );
    env.publish(1, &Env::example(APP));
    assert_eq!(env.sync().0, 0);
    let m = ferry_agent::metrics::parse(&std::fs::read_to_string(&textfile).unwrap()).unwrap();
    assert_eq!(m["ferry_sync_revision{sync=\"app\"}"], 1.0);
    assert_eq!(m["ferry_sync_healthy{sync=\"app\"}"], 1.0);
    assert_eq!(
        m["ferry_apply_objects_total{sync=\"app\",action=\"created\"}"],
        4.0
    );
    assert!(m["ferry_sync_last_success_timestamp_seconds{sync=\"app\"}"] > 1.7e9);
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_ferry-agent"))
        .arg("--config")
        .arg(&env.config)
        .arg("run")
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let mut body = String::new();
    for _ in 0..100 {
        if let Ok(mut s) = std::net::TcpStream::connect(("127.0.0.1", port)) {
            s.write_all(b"GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n")
                .unwrap();
            s.read_to_string(&mut body).unwrap();
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    child.kill().unwrap();
    child.wait().unwrap();
    assert!(body.starts_with("HTTP/1.1 200"), "{body}");
    let served = ferry_agent::metrics::parse(body.split("\r\n\r\n").nth(1).unwrap()).unwrap();
    assert_eq!(served["ferry_sync_revision{sync=\"app\"}"], 1.0);
}

#[test]
fn status_configmap_is_written_when_it_changes() {
    let env = Env::new();
    env.publish(1, &[("a.yaml", cm("a", "default", "1"))]);
    assert_eq!(env.sync().0, 0);
    let cm = env
        .obj("", "ConfigMap", "kube-system", "ferry-status")
        .expect("status object");
    assert_eq!(cm["data"]["device"], "edge-1");
    let syncs: serde_json::Value =
        serde_json::from_str(cm["data"]["syncs.json"].as_str().unwrap()).unwrap();
    assert_eq!(syncs[0]["revision"], 1);
    assert_eq!(syncs[0]["health"], "healthy");
    env.sim.clear_log();
    assert_eq!(env.sync().0, 0);
    assert!(
        env.sim.writes().is_empty(),
        "unchanged status is not rewritten"
    );
}

#[test]
fn depends_on_holds_dependents_until_the_dependency_is_healthy() {
    let env = Env::new();
    let infra_drop = env.dir.path().join("infra-drop");
    std::fs::create_dir_all(&infra_drop).unwrap();
    let tail = format!("  - name: infra\n    source: {{type: directory, path: {}}}\n    interval: 1s\n    timeout: 1s\n", infra_drop.display());
    env.write_config_tail("", "dependsOn: [infra]", &tail);
    env.publish(1, &[("a.yaml", cm("app-cm", "default", "1"))]);
    // infra has no bundle yet: app is blocked.
    let (code, out) = env.sync();
    assert_eq!(code, 1, "infra fails: {out}");
    assert!(
        out.contains("app: blocked: depends on infra (not applied yet)"),
        "{out}"
    );
    assert!(env.obj("", "ConfigMap", "default", "app-cm").is_none());
    env.publish_with(
        &infra_drop,
        "infra",
        1,
        &[("ns.yaml", namespace("infra"))],
        |_| {},
    );
    let (code, out) = env.sync();
    // Syncs run in config order: app is still blocked in this pass, infra applies.
    assert_eq!(code, 0, "{out}");
    let (code, out) = env.sync();
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("app: revision 1 applied"), "{out}");
    // A failing dependency holds the dependents again.
    env.publish_with(
        &infra_drop,
        "infra",
        2,
        &[
            ("ns.yaml", namespace("infra")),
            ("d.yaml", deployment("broken", "infra", "x:never-ready")),
        ],
        |_| {},
    );
    let (code, out) = env.sync();
    assert_eq!(code, 1, "{out}");
    assert!(out.contains("infra: revision 2 FAILED"), "{out}");
    env.publish(2, &[("a.yaml", cm("app-cm", "default", "2"))]);
    let (_, out) = env.sync();
    assert!(
        out.contains("app: blocked: depends on infra (last"),
        "{out}"
    );
    assert_eq!(
        env.obj("", "ConfigMap", "default", "app-cm").unwrap()["data"]["value"],
        "1"
    );
}

#[test]
fn namespace_fence_and_impersonation() {
    let env = Env::new();
    // The cluster admin prepares the tenant: namespaces and a RoleBinding for tenant-a in team-a.
    env.sim.with_state(|s| {
        let rt = s.rt_by_kind("", "Namespace").unwrap();
        for ns in ["team-a", "team-b"] {
            let _ = s.create(&rt, "", serde_json::json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": ns}}), "test", false);
        }
        let rb = s.rt_by_kind("rbac.authorization.k8s.io", "RoleBinding").unwrap();
        s.create(&rb, "team-a", serde_json::json!({"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "RoleBinding",
            "metadata": {"name": "tenant-a", "namespace": "team-a"},
            "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "edit"},
            "subjects": [{"kind": "User", "name": "tenant-a"}]}), "test", false).unwrap();
    });
    env.write_config("timeout: 5s\nnamespaces: [team-a, team-b]\nimpersonate: {user: tenant-a}");
    env.publish(1, &[("a.yaml", cm("x", "team-a", "1"))]);
    let (code, out) = env.sync();
    assert_eq!(code, 0, "{out}");
    assert!(env
        .sim
        .log()
        .iter()
        .any(|e| e.is_write() && e.path.contains("/namespaces/team-a/configmaps/x")));
    // Outside the fence: refused before any write.
    env.sim.clear_log();
    env.publish(
        2,
        &[
            ("a.yaml", cm("x", "team-a", "2")),
            ("b.yaml", cm("y", "other", "2")),
        ],
    );
    let (code, out) = env.sync();
    assert_eq!(code, 1, "{out}");
    assert!(
        out.contains("ConfigMap/other/y is outside the sync's namespace fence"),
        "{out}"
    );
    assert!(
        env.sim.writes().iter().all(|w| !w.path.contains("/other/")),
        "nothing written outside the fence"
    );
    env.publish(3, &[("ns.yaml", namespace("sneaky"))]);
    let (code, out) = env.sync();
    assert_eq!(code, 1);
    assert!(out.contains("Namespace/sneaky is outside"), "{out}");
    // RBAC and Secrets outside the fence: a cluster-wide binding, a Secret in kube-system.
    let crb = "apiVersion: rbac.authorization.k8s.io/v1\nkind: ClusterRoleBinding\nmetadata:\n  name: take-over\nroleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: cluster-admin}\nsubjects: [{kind: User, name: tenant-a}]\n";
    env.publish(5, &[("crb.yaml", crb.to_string())]);
    let (code, out) = env.sync();
    assert_eq!(code, 1);
    assert!(
        out.contains("ClusterRoleBinding.rbac.authorization.k8s.io/take-over is outside"),
        "{out}"
    );
    let secret = "apiVersion: v1\nkind: Secret\nmetadata:\n  name: stolen\n  namespace: kube-system\nstringData: {k: v}\n";
    env.publish(6, &[("s.yaml", secret.to_string())]);
    let (code, out) = env.sync();
    assert_eq!(code, 1);
    assert!(
        out.contains("Secret/kube-system/stolen is outside"),
        "{out}"
    );
    assert!(env
        .obj(
            "rbac.authorization.k8s.io",
            "ClusterRoleBinding",
            "",
            "take-over"
        )
        .is_none());
    assert!(env.obj("", "Secret", "kube-system", "stolen").is_none());
    // Inside the fence but without RBAC for the impersonated user: the API server says no
    // (to the drift check's LIST, before any write is tried).
    env.publish(7, &[("b.yaml", cm("z", "team-b", "7"))]);
    let (code, out) = env.sync();
    assert_eq!(code, 1, "{out}");
    assert!(
        out.contains("forbidden: User \"tenant-a\" cannot list resource \"configmaps\""),
        "{out}"
    );
    assert!(env.obj("", "ConfigMap", "team-b", "z").is_none());
}

#[test]
fn rollout_waves() {
    let env = Env::new();
    env.publish(1, &[("a.yaml", cm("a", "default", "1"))]);
    assert_eq!(env.sync().0, 0);
    env.publish_with(
        &env.drop_dir(),
        "app",
        2,
        &[("a.yaml", cm("a", "default", "2"))],
        |m| m.rollout = Some(ferry_bundle::Rollout { percent: Some(0) }),
    );
    let (code, out) = env.sync();
    assert_eq!(code, 0, "{out}");
    assert!(
        out.contains("waiting for wave: revision 2 is rolling out to 0% of devices"),
        "{out}"
    );
    assert_eq!(
        env.obj("", "ConfigMap", "default", "a").unwrap()["data"]["value"],
        "1"
    );
    let status = String::from_utf8_lossy(&env.agent(&["status"]).stdout).into_owned();
    assert!(status.contains("waiting for wave"), "{status}");
    env.publish_with(
        &env.drop_dir(),
        "app",
        3,
        &[("a.yaml", cm("a", "default", "3"))],
        |m| m.rollout = Some(ferry_bundle::Rollout { percent: Some(100) }),
    );
    let (code, out) = env.sync();
    assert_eq!(code, 0, "{out}");
    assert_eq!(
        env.obj("", "ConfigMap", "default", "a").unwrap()["data"]["value"],
        "3"
    );
}
