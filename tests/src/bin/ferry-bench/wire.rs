//! The idle wire cost of each source kind, measured through a counting TCP proxy.

use super::{measure, sim, Bench, PollWire};
use anyhow::Result;
use ferry_tests::registry::TestRegistry;
use ferry_tests::static_server::StaticServer;
use ferry_tests::tcp_count::CountingProxy;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// Bytes on the wire of idle polls through a counting proxy: one cold poll (a new process:
/// TCP and a full TLS handshake) and `KEPT` polls of a running agent polling every second
/// (kept connection). `requests` counts what the server has seen; `per_poll` requests make
/// one poll.
pub(super) fn wire_rows(
    b: &mut Bench,
    kind: &str,
    cfg: &Path,
    proxy: &CountingProxy,
    requests: &dyn Fn() -> usize,
    per_poll: usize,
) -> Result<()> {
    const KEPT: usize = 10;
    measure(b.agent(cfg).args(["sync", "--once"]))?;
    let before = proxy.count();
    measure(b.agent(cfg).args(["sync", "--once"]))?;
    let cold = proxy.count().bytes() - before.bytes();
    let text = std::fs::read_to_string(cfg)?.replace("interval: 1m", "interval: 1s");
    std::fs::write(cfg, text)?;
    let mut daemon = b.agent(cfg).arg("run").stderr(Stdio::null()).spawn()?;
    let wait_for = |n: usize| -> Result<()> {
        let deadline = Instant::now() + Duration::from_secs(120);
        while requests() < n {
            anyhow::ensure!(Instant::now() < deadline, "{kind}: polls did not arrive");
            std::thread::sleep(Duration::from_millis(50));
        }
        Ok(())
    };
    let start = requests();
    let waited = wait_for(start + per_poll).and_then(|_| {
        let first = proxy.count();
        let seen = requests();
        wait_for(seen + KEPT * per_poll).map(|_| (first, proxy.count()))
    });
    let _ = daemon.kill();
    let _ = daemon.wait();
    let (first, last) = waited?;
    let kept = (last.bytes() - first.bytes()) / KEPT as u64;
    b.polls.push(PollWire {
        kind: kind.to_string(),
        kept,
    });
    b.row(
        &format!("idle wire cost, {kind}"),
        format!(
            "{kept} B/poll kept ({:.2} MB/day at 1-minute polls), {cold} B cold ({:.2} MB/day if every poll reconnected)",
            kept as f64 * 1440.0 / 1e6,
            cold as f64 * 1440.0 / 1e6
        ),
        &format!(
            "{} new connection(s) for {KEPT} kept polls; counting proxy on loopback",
            last.connections - first.connections
        ),
    );
    Ok(())
}

/// The idle wire cost of the HTTPS and OCI sources (`FERRY_BENCH_ONLY=wire` runs only this
/// and [`super::wire_git`], e.g. with `FERRY_BENCH_BIN=target/debug`: bytes do not depend on
/// the build).
pub fn wire(b: &mut Bench, bundle_dir: &Path) -> Result<()> {
    let www = b.dir.path().join("wire-www");
    let o = Command::new(b.bundle_bin())
        .arg("publish")
        .arg(bundle_dir)
        .arg("--out")
        .arg(www.join("bench"))
        .output()?;
    anyhow::ensure!(
        o.status.success(),
        "publish: {}",
        String::from_utf8_lossy(&o.stderr)
    );
    let server = StaticServer::start(&www)?;
    let proxy = CountingProxy::for_url(&server.url)?;
    let s = sim()?;
    let cfg = b.config(
        "wire-http",
        &s,
        &format!(
            "{{type: http, url: \"{}bench/\", caFile: {}}}",
            proxy.url_through(&server.url),
            server.ca_file().display()
        ),
    )?;
    wire_rows(b, "HTTPS exploded", &cfg, &proxy, &|| server.log().len(), 1)?;

    let reg = TestRegistry::start(None)?;
    let o = Command::new(b.bundle_bin())
        .arg("push")
        .arg(bundle_dir)
        .arg(format!("{}:stable", reg.url("bench")))
        .arg("--ca-file")
        .arg(reg.ca_file())
        .output()?;
    anyhow::ensure!(
        o.status.success(),
        "push: {}",
        String::from_utf8_lossy(&o.stderr)
    );
    let url = reg.url("bench");
    let proxy = CountingProxy::for_url(&url)?;
    let cfg = b.config(
        "wire-oci",
        &s,
        &format!(
            "{{type: oci, url: \"{}\", tag: stable, caFile: {}}}",
            proxy.url_through(&url),
            reg.ca_file().display()
        ),
    )?;
    wire_rows(b, "OCI", &cfg, &proxy, &|| reg.requests().len(), 1)?;
    Ok(())
}
