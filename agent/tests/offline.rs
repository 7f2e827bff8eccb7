//! Offline behavior with a real network cut (an nftables rule dropping the source's packets):
//! the last good revision stays enforced, status says since when the source is unreachable,
//! partial downloads never reach the cache, and the daemon resumes by itself.

mod common;

use common::*;
use ferry_tests::kube_sim::http::Delivery;
use ferry_tests::static_server::StaticServer;
use std::process::Command;
use std::time::{Duration, Instant};

/// An nftables table that drops loopback traffic to one port; removed on drop.
struct NetworkCut {
    table: String,
}

impl NetworkCut {
    fn new(port: u16) -> Self {
        let table = format!("ferry_cut_{}_{port}", std::process::id());
        let script = format!(
            "add table inet {table}\nadd chain inet {table} out {{ type filter hook output priority 0 ; }}\nadd rule inet {table} out ip daddr 127.0.0.1 tcp dport {port} drop\n"
        );
        let mut child = Command::new("nft")
            .args(["-f", "-"])
            .stdin(std::process::Stdio::piped())
            .spawn()
            .expect("nft (Debian package nftables)");
        use std::io::Write;
        child
            .stdin
            .take()
            .unwrap()
            .write_all(script.as_bytes())
            .unwrap();
        assert!(child.wait().unwrap().success(), "nft rule");
        NetworkCut { table }
    }
}

impl Drop for NetworkCut {
    fn drop(&mut self) {
        let _ = Command::new("nft")
            .args(["delete", "table", "inet", &self.table])
            .status();
    }
}

fn port_of(server: &StaticServer) -> u16 {
    server
        .url
        .trim_end_matches('/')
        .rsplit(':')
        .next()
        .unwrap()
        .parse()
        .unwrap()
}

fn setup() -> (Env, std::path::PathBuf, StaticServer) {
    let env = Env::new();
    let root = env.dir.path().join("www");
    std::fs::create_dir_all(&root).unwrap();
    let server = StaticServer::start(&root).unwrap();
    Env::explode(
        &env.stage(
            1,
            &[
                ("a.yaml", cm("a", "default", "1")),
                ("b.yaml", cm("b", "default", "1")),
            ],
        ),
        &root.join("app"),
    );
    let source = format!(
        "{{type: http, url: \"{}app/\", caFile: {}, connectTimeout: 1s, readTimeout: 1s}}",
        server.url,
        server.ca_file().display()
    );
    env.write_config_source("", &source, "timeout: 5s", "");
    (env, root, server)
}

fn status(env: &Env) -> serde_json::Value {
    serde_json::from_slice::<serde_json::Value>(&env.agent(&["status", "--output", "json"]).stdout)
        .unwrap()[0]
        .clone()
}

#[test]
fn a_network_cut_keeps_the_last_good_revision_enforced_and_sync_recovers() {
    let (env, root, server) = setup();
    assert_eq!(env.sync().0, 0);
    Env::explode(
        &env.stage(
            2,
            &[
                ("a.yaml", cm("a", "default", "2")),
                ("b.yaml", cm("b", "default", "1")),
            ],
        ),
        &root.join("app"),
    );
    let cut = NetworkCut::new(port_of(&server));
    // Someone deletes an object while the device is cut off: it comes back from the cache.
    env.sim.with_state(|s| {
        let rt = s.rt_by_kind("", "ConfigMap").unwrap();
        s.delete(&rt, "default", "b", false).unwrap();
    });
    let (code, out) = env.sync();
    assert_eq!(code, 1, "{out}");
    assert!(out.contains("is unreachable"), "{out}");
    assert!(
        env.obj("", "ConfigMap", "default", "b").is_some(),
        "drift corrected while offline"
    );
    let since = status(&env)["sourceUnreachableSince"].clone();
    assert!(since.is_string());
    // A later pass, an hour later on the agent's clock: the first failure time stays.
    let later = (std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
        + 3600)
        .to_string();
    let o = env.agent_env(&["sync", "--once"], &[("FERRY_TEST_CLOCK", &later)]);
    assert_eq!(o.status.code(), Some(1), "{o:?}");
    assert_eq!(
        status(&env)["sourceUnreachableSince"],
        since,
        "the first failure time is kept"
    );
    assert_eq!(
        env.obj("", "ConfigMap", "default", "a").unwrap()["data"]["value"],
        "1"
    );
    drop(cut);
    let (code, out) = env.sync();
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("revision 2 applied"), "{out}");
    assert!(status(&env)["sourceUnreachableSince"].is_null());
}

#[test]
fn a_download_that_stalls_midway_never_reaches_the_cache() {
    let (env, root, server) = setup();
    assert_eq!(env.sync().0, 0);
    Env::explode(
        &env.stage(
            2,
            &[
                ("a.yaml", cm("a", "default", "2")),
                ("b.yaml", cm("b", "default", "1")),
            ],
        ),
        &root.join("app"),
    );
    let sha = ferry_bundle::digest::sha256_hex(cm("a", "default", "2").as_bytes());
    server.hostile(&format!("/app/blobs/sha256/{sha}"), Delivery::Stall);
    let (code, out) = env.sync();
    assert_eq!(code, 1, "{out}");
    assert!(
        out.contains("is unreachable"),
        "a stalled transfer is an outage: {out}"
    );
    let blobs: Vec<String> = std::fs::read_dir(env.dir.path().join("state/blobs"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert!(!blobs.iter().any(|b| b.contains(&sha)), "{blobs:?}");
    server.hostile(&format!("/app/blobs/sha256/{sha}"), Delivery::Normal);
    assert_eq!(env.sync().0, 0);
    assert_eq!(
        env.obj("", "ConfigMap", "default", "a").unwrap()["data"]["value"],
        "2"
    );
}

#[test]
fn the_daemon_resumes_by_itself_when_the_source_returns() {
    let (env, root, server) = setup();
    assert_eq!(env.sync().0, 0);
    let cut = NetworkCut::new(port_of(&server));
    let mut daemon = Command::new(env!("CARGO_BIN_EXE_ferry-agent"))
        .arg("--config")
        .arg(&env.config)
        .arg("run")
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    Env::explode(
        &env.stage(
            2,
            &[
                ("a.yaml", cm("a", "default", "2")),
                ("b.yaml", cm("b", "default", "1")),
            ],
        ),
        &root.join("app"),
    );
    // Wait until the daemon has made a pass that found the source cut off, then check that it
    // applied nothing new.
    let deadline = Instant::now() + Duration::from_secs(60);
    while status(&env)["sourceUnreachableSince"].is_null() {
        assert!(
            Instant::now() < deadline,
            "no pass found the source unreachable"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    assert_eq!(
        env.obj("", "ConfigMap", "default", "a").unwrap()["data"]["value"],
        "1",
        "nothing new while cut off"
    );
    drop(cut);
    let deadline = Instant::now() + Duration::from_secs(30);
    let mut value = String::new();
    while Instant::now() < deadline {
        value = env.obj("", "ConfigMap", "default", "a").unwrap()["data"]["value"]
            .as_str()
            .unwrap()
            .to_string();
        if value == "2" {
            break;
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    daemon.kill().unwrap();
    daemon.wait().unwrap();
    assert_eq!(
        value, "2",
        "the daemon picked up revision 2 after the cut ended"
    );
}

/// A tmpfs of `size` mounted over `dir` (the blob cache), unmounted on drop.
struct SmallDisk(std::path::PathBuf);

impl SmallDisk {
    fn mount(dir: &std::path::Path, size: &str) -> Self {
        std::fs::create_dir_all(dir).unwrap();
        let ok = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
            .arg(dir)
            .status()
            .unwrap()
            .success();
        assert!(ok, "mount tmpfs (needs root, as in CI)");
        SmallDisk(dir.to_path_buf())
    }
}

impl Drop for SmallDisk {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg(&self.0).status();
    }
}

#[test]
fn a_full_cache_disk_is_a_clear_error_and_the_last_good_stays() {
    let env = Env::new();
    env.write_config("timeout: 5s");
    let blobs = env.dir.path().join("state/blobs");
    let _disk = SmallDisk::mount(&blobs, "64k");
    env.publish(1, &[("a.yaml", cm("a", "default", "1"))]);
    assert_eq!(env.sync().0, 0);
    let big = format!("apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: big\n  namespace: default\ndata:\n  blob: \"{}\"\n", "x".repeat(200_000));
    env.publish(2, &[("a.yaml", cm("a", "default", "2")), ("big.yaml", big)]);
    let (code, out) = env.sync();
    assert_eq!(code, 1, "{out}");
    assert!(
        out.contains("blob cache") && out.contains("No space left on device"),
        "{out}"
    );
    assert_eq!(
        env.obj("", "ConfigMap", "default", "a").unwrap()["data"]["value"],
        "1"
    );
    let leftovers: Vec<String> = std::fs::read_dir(&blobs)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.contains("partial"))
        .collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");
}
