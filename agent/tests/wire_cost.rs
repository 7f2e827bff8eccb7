//! What an idle agent costs on the wire: no-change polls of the HTTPS, OCI and Git sources
//! through a counting TCP proxy. A source keeps its client (and so its pooled connection and
//! its TLS session cache) for the life of the process: N polls open one TCP connection
//! (git:// excepted: git daemon serves one request per connection).
//! (Bytes per poll are printed for docs/performance.md; the benchmark publishes them.)

mod common;

use common::*;
use ferry_agent::config::SourceConfig;
use ferry_agent::source::{self, Poll};
use ferry_tests::tcp_count::CountingProxy;

const POLLS: u64 = 10;

/// Polls once (finding the bundle), then `POLLS` times with the cursor; returns the wire
/// count of the no-change polls alone and the connections opened in all.
fn idle_polls(kind: &str, source_yaml: &str, proxy: &CountingProxy) -> (u64, u64) {
    // A YAML document (a text starting with `{` would be read as JSON).
    let cfg: SourceConfig = ferry_bundle::yaml::from_str_bounded(
        "source",
        &format!("---\n{source_yaml}"),
        &ferry_bundle::yaml::Budget::small(),
    )
    .unwrap();
    let scratch = tempfile::tempdir().unwrap();
    let mut src = source::from_config(&cfg, scratch.path(), scratch.path());
    let policy = unsigned_policy();
    let cursor = match src.poll(None, &policy).unwrap() {
        Poll::Found(f) => f.cursor,
        Poll::Unchanged => panic!("{kind}: first poll finds the bundle"),
    };
    let before = proxy.count();
    for _ in 0..POLLS {
        assert!(matches!(
            src.poll(Some(&cursor), &policy).unwrap(),
            Poll::Unchanged
        ));
    }
    let after = proxy.count();
    let per_poll = (after.bytes() - before.bytes()) / POLLS;
    println!(
        "{kind}: {per_poll} bytes per no-change poll ({} up, {} down), {} connection(s) for {} polls",
        (after.bytes_up - before.bytes_up) / POLLS,
        (after.bytes_down - before.bytes_down) / POLLS,
        after.connections,
        POLLS + 1
    );
    (per_poll, after.connections)
}

#[test]
fn https_exploded_polls_reuse_one_connection() {
    let env = Env::new();
    let web = tempfile::tempdir().unwrap();
    Env::explode(
        &env.stage(1, &[("a.yaml", cm("a", "default", "1"))]),
        web.path(),
    );
    let server = ferry_tests::static_server::StaticServer::start(web.path()).unwrap();
    let proxy = CountingProxy::for_url(&server.url).unwrap();
    let yaml = format!(
        "{{type: http, url: \"{}\", caFile: {}}}",
        proxy.url_through(&server.url),
        server.ca_file().display()
    );
    let (_, connections) = idle_polls("https exploded", &yaml, &proxy);
    assert_eq!(connections, 1);
}

#[test]
fn oci_polls_reuse_one_connection() {
    let env = Env::new();
    let reg = ferry_tests::registry::TestRegistry::start(None).unwrap();
    let plain = env.stage(1, &[("a.yaml", cm("a", "default", "1"))]);
    let bytes = std::fs::read(plain.join("bundle.yaml")).unwrap();
    let m = ferry_bundle::Manifest::parse(&bytes).unwrap();
    let sig = std::fs::read_to_string(plain.join("bundle.yaml.minisig")).unwrap();
    let conn = ferry_bundle::registry::Connection {
        ca_pem: Some(std::fs::read(reg.ca_file()).unwrap()),
        ..Default::default()
    };
    let r = ferry_bundle::registry::Registry::new(
        ferry_bundle::oci::Reference::parse(&reg.url("ferry/app")).unwrap(),
        &conn,
    )
    .unwrap();
    ferry_bundle::registry::push_bundle(
        &r,
        &plain,
        &m,
        &bytes,
        &sig,
        "stable",
        ferry_bundle::registry::PushFormat::Ferry,
    )
    .unwrap();
    let url = reg.url("ferry/app");
    let proxy = CountingProxy::for_url(&url).unwrap();
    let yaml = format!(
        "{{type: oci, url: \"{}\", tag: stable, caFile: {}}}",
        proxy.url_through(&url),
        reg.ca_file().display()
    );
    let (_, connections) = idle_polls("oci", &yaml, &proxy);
    assert_eq!(connections, 1);
}

#[test]
fn git_https_polls_reuse_one_connection() {
    let env = Env::new();
    let repo = ferry_tests::git_server::GitRepo::new().unwrap();
    repo.commit_dir(
        "bundles/app",
        &env.stage(1, &[("a.yaml", cm("a", "default", "1"))]),
        "r1",
    )
    .unwrap();
    let http = ferry_tests::git_server::GitHttp::start(repo.root.path(), None).unwrap();
    let url = http.url("fleet.git");
    let proxy = CountingProxy::for_url(&url).unwrap();
    let yaml = format!(
        "{{type: git, url: \"{}\", branch: main, path: bundles/app, caFile: {}}}",
        proxy.url_through(&url),
        http.ca_file().display()
    );
    let (_, connections) = idle_polls("git https", &yaml, &proxy);
    assert_eq!(connections, 1);
}

#[test]
fn git_daemon_polls_open_one_connection_each() {
    // git:// serves one request per TCP connection (git daemon ends it): a no-change poll is
    // gix's protocol-v2 handshake and ls-refs on a new connection every time.
    let env = Env::new();
    let repo = ferry_tests::git_server::GitRepo::new().unwrap();
    repo.commit_dir(
        "bundles/app",
        &env.stage(1, &[("a.yaml", cm("a", "default", "1"))]),
        "r1",
    )
    .unwrap();
    let daemon = ferry_tests::git_server::GitDaemon::start(repo.root.path()).unwrap();
    let url = daemon.url("fleet.git");
    let proxy = CountingProxy::for_url(&url).unwrap();
    let yaml = format!(
        "{{type: git, url: \"{}\", branch: main, path: bundles/app}}",
        proxy.url_through(&url)
    );
    let (_, connections) = idle_polls("git daemon", &yaml, &proxy);
    assert_eq!(connections, POLLS + 1);
}
