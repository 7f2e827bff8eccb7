//! The HTTP(S) source against a real HTTPS file server on loopback: exploded layout with delta
//! downloads, archives, conditional requests, auth from files, hostile bodies, outages, and
//! an air-gapped relay (`ferry-agent serve`) feeding a second agent.

mod common;

use common::*;
use ferry_tests::kube_sim::http::Delivery;
use ferry_tests::static_server::StaticServer;

fn web(env: &Env) -> (std::path::PathBuf, StaticServer) {
    let root = env.dir.path().join("www");
    std::fs::create_dir_all(&root).unwrap();
    let server = StaticServer::start(&root).unwrap();
    (root, server)
}

fn http_source(server: &StaticServer, path: &str, extra: &str) -> String {
    format!(
        "{{type: http, url: \"{}{path}\", caFile: {}{extra}}}",
        server.url,
        server.ca_file().display()
    )
}

fn three_files(rev: u64, changed: &str) -> Vec<(&'static str, String)> {
    let a_value = if changed == "a" {
        rev.to_string()
    } else {
        "1".to_string()
    };
    vec![
        ("a.yaml", cm("a", "default", &a_value)),
        ("b.yaml", cm("b", "default", "1")),
        ("c.yaml", cm("c", "default", "1")),
    ]
}

#[test]
fn exploded_layout_delta_updates_and_304_polls() {
    let env = Env::new();
    let (root, server) = web(&env);
    Env::explode(&env.stage(1, &three_files(1, "")), &root.join("app"));
    env.write_config_source("", &http_source(&server, "app/", ""), "timeout: 5s", "");
    let (code, out) = env.sync();
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("revision 1 applied: 3 created"), "{out}");
    let blobs = |log: &[ferry_tests::static_server::Served]| {
        log.iter()
            .filter(|r| r.path.contains("/blobs/") && r.status == 200)
            .count()
    };
    assert_eq!(blobs(&server.log()), 3);
    // No change: one conditional request, answered 304, and no Kubernetes writes.
    server.clear_log();
    env.sim.clear_log();
    let (code, out) = env.sync();
    assert_eq!(code, 0, "{out}");
    let log = server.log();
    assert_eq!(log.len(), 1, "{log:?}");
    assert_eq!(
        (log[0].path.as_str(), log[0].status),
        ("/app/bundle.yaml", 304)
    );
    assert!(env.sim.writes().is_empty());
    // One file changed: one blob downloaded.
    server.clear_log();
    Env::explode(&env.stage(2, &three_files(2, "a")), &root.join("app"));
    let (code, out) = env.sync();
    assert_eq!(code, 0, "{out}");
    assert!(
        out.contains("revision 2 applied: 0 created, 1 configured, 2 unchanged"),
        "{out}"
    );
    assert_eq!(blobs(&server.log()), 1, "{:?}", server.log());
    assert_eq!(
        env.obj("", "ConfigMap", "default", "a").unwrap()["data"]["value"],
        "2"
    );
}

#[test]
fn archive_over_https_with_basic_and_bearer_auth() {
    let env = Env::new();
    let (root, server) = web(&env);
    Env::archive(&env.stage(1, &Env::example(APP)), &root.join("app.bundle"));
    std::fs::write(env.dir.path().join("basic"), "edge:s3cret\n").unwrap();
    server.require_authorization(Some("Basic ZWRnZTpzM2NyZXQ="));
    // Without credentials: a clear error naming the URL, nothing applied.
    env.write_config_source(
        "",
        &http_source(&server, "app.bundle", ""),
        "timeout: 5s",
        "",
    );
    let (code, out) = env.sync();
    assert_eq!(code, 1);
    assert!(out.contains("app.bundle: HTTP 401"), "{out}");
    let basic = format!(
        ", basicAuthFile: {}",
        env.dir.path().join("basic").display()
    );
    env.write_config_source(
        "",
        &http_source(&server, "app.bundle", &basic),
        "timeout: 5s",
        "",
    );
    let (code, out) = env.sync();
    assert_eq!(code, 0, "{out}");
    assert!(env.obj("apps", "Deployment", "demo", "web").is_some());
    server.clear_log();
    assert_eq!(env.sync().0, 0);
    assert_eq!(
        server.log().iter().map(|r| r.status).collect::<Vec<_>>(),
        [304]
    );
    // Bearer token from a file.
    std::fs::write(env.dir.path().join("token"), "t0ken\n").unwrap();
    server.require_authorization(Some("Bearer t0ken"));
    let bearer = format!(", tokenFile: {}", env.dir.path().join("token").display());
    env.write_config_source(
        "",
        &http_source(&server, "app.bundle", &bearer),
        "timeout: 5s",
        "",
    );
    Env::archive(
        &env.stage(2, &[("a.yaml", cm("a", "default", "2"))]),
        &root.join("app.bundle"),
    );
    let (code, out) = env.sync();
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("revision 2 applied"), "{out}");
    assert!(!out.contains("t0ken") && !out.contains("s3cret"));
}

#[test]
fn endless_and_truncated_bodies_never_reach_the_cache() {
    let env = Env::new();
    let (root, server) = web(&env);
    Env::explode(&env.stage(1, &three_files(1, "")), &root.join("app"));
    env.write_config_source("", &http_source(&server, "app/", ""), "timeout: 5s", "");
    assert_eq!(env.sync().0, 0);
    let plain = env.stage(2, &three_files(2, "a"));
    Env::explode(&plain, &root.join("app"));
    let sha = ferry_bundle::digest::sha256_hex(cm("a", "default", "2").as_bytes());
    server.hostile(&format!("/app/blobs/sha256/{sha}"), Delivery::Endless);
    let (code, out) = env.sync();
    assert_eq!(code, 1, "{out}");
    assert!(
        out.contains("a.yaml has"),
        "the error names the file: {out}"
    );
    let cached = env.dir.path().join("state/blobs").join(&sha);
    assert!(!cached.exists());
    server.hostile(&format!("/app/blobs/sha256/{sha}"), Delivery::Truncated);
    let (code, out) = env.sync();
    assert_eq!(code, 1, "{out}");
    assert!(
        !cached.exists(),
        "a partial download never reaches the cache"
    );
    let leftovers: Vec<_> = std::fs::read_dir(env.dir.path().join("state/blobs"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.contains("partial"))
        .collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");
    assert_eq!(
        env.obj("", "ConfigMap", "default", "a").unwrap()["data"]["value"],
        "1",
        "last good stays"
    );
    server.hostile(&format!("/app/blobs/sha256/{sha}"), Delivery::Normal);
    let (code, out) = env.sync();
    assert_eq!(code, 0, "{out}");
    assert_eq!(
        env.obj("", "ConfigMap", "default", "a").unwrap()["data"]["value"],
        "2"
    );
}

#[test]
fn an_unreachable_source_keeps_the_last_good_revision_enforced() {
    let env = Env::new();
    let (root, server) = web(&env);
    Env::explode(&env.stage(1, &three_files(1, "")), &root.join("app"));
    env.write_config_source("", &http_source(&server, "app/", ""), "timeout: 5s", "");
    assert_eq!(env.sync().0, 0);
    server.set_down(true);
    // Someone deletes an object while the source is away: drift correction still works.
    assert!(env
        .kubectl(&["delete", "configmap", "b", "-n", "default"])
        .status
        .success());
    let (code, out) = env.sync();
    assert_eq!(code, 1, "{out}");
    assert!(out.contains("is unreachable"), "{out}");
    assert!(
        env.obj("", "ConfigMap", "default", "b").is_some(),
        "re-created from the cache"
    );
    let status: serde_json::Value =
        serde_json::from_slice(&env.agent(&["status", "--output", "json"]).stdout).unwrap();
    assert!(status[0]["sourceUnreachableSince"].is_string(), "{status}");
    assert!(String::from_utf8_lossy(&env.agent(&["status"]).stdout)
        .contains("source unreachable since"));
    server.set_down(false);
    let (code, out) = env.sync();
    assert_eq!(code, 0, "{out}");
    let status: serde_json::Value =
        serde_json::from_slice(&env.agent(&["status", "--output", "json"]).stdout).unwrap();
    assert!(status[0]["sourceUnreachableSince"].is_null());
}

/// Runs `ferry-agent serve` for `env` on a free port (with a site token: [`Env::relay_token`]).
fn relay(env: &Env) -> (std::process::Child, u16) {
    env.relay_token();
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let child = std::process::Command::new(env!("CARGO_BIN_EXE_ferry-agent"))
        .arg("--config")
        .arg(&env.config)
        .args(["serve", &format!("127.0.0.1:{port}")])
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    (child, port)
}

#[test]
fn a_neighbour_syncs_from_this_agents_verified_cache() {
    // Node A gets its bundle from a USB drop.
    let a = Env::new();
    a.publish(1, &Env::example(APP));
    assert_eq!(a.sync().0, 0);
    let (mut relay, port) = relay(&a);
    // Node B trusts the same publisher key (not node A) and syncs over plain HTTP from A,
    // with the site token.
    let b = Env::new();
    std::fs::copy(
        a.dir.path().join("keys/publisher.pub"),
        b.dir.path().join("keys/publisher.pub"),
    )
    .unwrap();
    b.write_config_source(
        "",
        &format!(
            "{{type: http, url: \"http://127.0.0.1:{port}/app/\", tokenFile: {}}}",
            a.dir.path().join("relay-token").display()
        ),
        "timeout: 5s",
        "",
    );
    let mut result = (1, String::new());
    for _ in 0..50 {
        result = b.sync();
        if result.0 == 0 {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    relay.kill().unwrap();
    relay.wait().unwrap();
    assert_eq!(result.0, 0, "{}", result.1);
    assert!(
        result.1.contains("revision 1 applied: 4 created"),
        "{}",
        result.1
    );
    assert_eq!(
        b.obj("", "ConfigMap", "demo", "web-config").unwrap()["data"]["DEVICE_ID"],
        "edge-1"
    );
}

#[test]
fn a_relay_cannot_forge_bundles() {
    // A node that trusts a different key refuses what the relay serves.
    let a = Env::new();
    a.publish(1, &[("a.yaml", cm("a", "default", "1"))]);
    assert_eq!(a.sync().0, 0);
    let (mut relay, port) = relay(&a);
    let b = Env::new();
    b.write_config_source(
        "",
        &format!(
            "{{type: http, url: \"http://127.0.0.1:{port}/app/\", tokenFile: {}}}",
            a.dir.path().join("relay-token").display()
        ),
        "timeout: 5s",
        "",
    );
    let mut result = (0, String::new());
    for _ in 0..50 {
        result = b.sync();
        if result.1.contains("refused") {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    relay.kill().unwrap();
    relay.wait().unwrap();
    assert_eq!(result.0, 1);
    assert!(result.1.contains("which is not trusted"), "{}", result.1);
    assert!(b.obj("", "ConfigMap", "default", "a").is_none());
}
