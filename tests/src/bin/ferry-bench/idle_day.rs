//! What an idle agent costs per day on the wire: heartbeats and events to a real `ferry-fleet`
//! through a counting TCP proxy (kept connection, reconnect with a resumed TLS session, new
//! process with a full handshake; with a token and with mutual TLS), then per source kind the
//! day's total: the no-change poll measured by the wire section of this run x 1440 plus a
//! heartbeat x 96 (1-minute polls, 15-minute heartbeats), against the 1 MB budget.

use super::{measure, sim, Bench, PollWire};
use anyhow::{Context, Result};
use ferry_tests::kube_sim::KubeSim;
use ferry_tests::tcp_count::CountingProxy;
use std::io::BufRead;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const BUDGET: f64 = 1e6;
const POLLS_PER_DAY: f64 = 1440.0;
const HEARTBEATS_PER_DAY: f64 = 96.0;
/// Messages measured per figure.
const N: u64 = 5;
/// Event flushes measured per figure (each deletes another of the bundle's ConfigMaps cm-0..).
const EVENT_FLUSHES: u64 = 4;

/// A `ferry-fleet` process with a trial PKI (`dev-setup`).
struct Fleet {
    dir: tempfile::TempDir,
    child: Child,
    url: String,
    client: ureq::Agent,
}

impl Fleet {
    fn start(bin: &Path) -> Result<Fleet> {
        let dir = tempfile::tempdir()?;
        let o = Command::new(bin.join("ferry-fleet"))
            .arg("dev-setup")
            .arg(dir.path())
            .args(["--device", "bench", "--listen", "127.0.0.1:0"])
            .output()?;
        anyhow::ensure!(
            o.status.success(),
            "dev-setup: {}",
            String::from_utf8_lossy(&o.stderr)
        );
        let mut child = Command::new(bin.join("ferry-fleet"))
            .args(["run", "--config"])
            .arg(dir.path().join("fleet.yaml"))
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()?;
        let mut line = String::new();
        std::io::BufReader::new(child.stdout.take().context("stdout")?).read_line(&mut line)?;
        let url = line
            .trim()
            .strip_prefix("listening on ")
            .context("no address")?
            .to_string();
        let ca = std::fs::read(dir.path().join("ca.pem"))?;
        let tls = ferry_bundle::tls::client_config(ferry_bundle::tls::Roots::Pem(&ca), None)
            .map_err(anyhow::Error::msg)?;
        let client = ureq::Agent::config_builder()
            .tls_config(tls)
            .build()
            .new_agent();
        Ok(Fleet {
            dir,
            child,
            url,
            client,
        })
    }

    fn path(&self, p: &str) -> PathBuf {
        self.dir.path().join(p)
    }

    /// A counter from `/metrics` (asked directly, not through the proxy).
    fn metric(&self, series: &str) -> Result<u64> {
        let token = std::fs::read_to_string(self.path("metrics.token"))?;
        let text = self
            .client
            .get(&format!("{}/metrics", self.url))
            .header("Authorization", &format!("Bearer {token}"))
            .call()?
            .body_mut()
            .read_to_string()?;
        text.lines()
            .find_map(|l| l.strip_prefix(series).and_then(|v| v.trim().parse().ok()))
            .with_context(|| format!("no {series}"))
    }

    fn wait(&self, series: &str, n: u64) -> Result<()> {
        let deadline = Instant::now() + Duration::from_secs(60);
        while self.metric(series)? < n {
            anyhow::ensure!(Instant::now() < deadline, "{series} did not reach {n}");
            std::thread::sleep(Duration::from_millis(20));
        }
        Ok(())
    }
}

impl Drop for Fleet {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Bytes of one message: on a kept connection, on a reconnect that resumed its TLS session,
/// and from a new process (TCP + full handshake).
struct MessageWire {
    kept: u64,
    resumed: u64,
    cold: u64,
}

/// The agent's side: its cluster, its drop directory (holding the bundle), the receiver.
struct Setup<'a> {
    sim: &'a KubeSim,
    drop: &'a Path,
    fleet: &'a Fleet,
}

/// An agent config: a directory source (no wire cost of its own), heartbeats every
/// `interval` and events, both to the receiver through `proxy`, with `creds`.
fn agent_config(
    b: &Bench,
    name: &str,
    at: &Setup,
    proxy: &CountingProxy,
    creds: &str,
    interval: &str,
) -> Result<PathBuf> {
    let fleet = at.fleet;
    let cfg = b.config(
        name,
        at.sim,
        &format!("{{type: directory, path: {}}}", at.drop.display()),
    )?;
    let url = proxy.url_through(&fleet.url);
    let url = url.trim_end_matches('/');
    let ca = fleet.path("ca.pem");
    let mut text = std::fs::read_to_string(&cfg)?;
    text.push_str(&format!(
        "fleet: {{url: \"{url}/api/heartbeat\", interval: {interval}, caFile: {ca}, {creds}}}\n\
notifications:\n- {{name: fleet, url: \"{url}/api/events\", format: json, caFile: {ca}, {creds}}}\n",
        ca = ca.display()
    ));
    std::fs::write(&cfg, text)?;
    Ok(cfg)
}

/// Heartbeats: `N` on a kept connection, `N` each after the proxy cut the connection (a
/// resumed handshake), and one from `sync --once` (a new process).
fn heartbeat_wire(b: &Bench, at: &Setup, creds: &str, name: &str) -> Result<MessageWire> {
    let fleet = at.fleet;
    let proxy = CountingProxy::for_url(&fleet.url)?;
    let cfg = agent_config(b, name, at, &proxy, creds, "1s")?;
    measure(b.agent(&cfg).args(["sync", "--once"]))?;
    let series = "ferry_fleet_heartbeats_total";
    let before = proxy.count();
    let hb = fleet.metric(series)?;
    measure(b.agent(&cfg).args(["sync", "--once"]))?;
    fleet.wait(series, hb + 1)?;
    let cold = proxy.count().bytes() - before.bytes();
    let mut daemon = b
        .agent(&cfg)
        .arg("run")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()?;
    let run = || -> Result<(u64, u64, u64)> {
        let start = fleet.metric(series)?;
        fleet.wait(series, start + 1)?;
        let (first, seen) = (proxy.count(), fleet.metric(series)?);
        fleet.wait(series, seen + N)?;
        let kept = (proxy.count().bytes() - first.bytes()) / N;
        let (mut resumed, resumed_before) = (0, fleet.metric("ferry_fleet_tls_resumed_total")?);
        for _ in 0..N {
            let seen = fleet.metric(series)?;
            proxy.cut();
            let at_cut = proxy.count();
            fleet.wait(series, seen + 1)?;
            resumed += proxy.count().bytes() - at_cut.bytes();
        }
        let resumptions = fleet.metric("ferry_fleet_tls_resumed_total")? - resumed_before;
        Ok((kept, resumed / N, resumptions))
    };
    let result = run();
    let _ = daemon.kill();
    let _ = daemon.wait();
    let (kept, resumed, resumptions) = result?;
    anyhow::ensure!(
        resumptions >= N,
        "{name}: {resumptions} of {N} reconnects resumed"
    );
    Ok(MessageWire {
        kept,
        resumed,
        cold,
    })
}

/// Event flushes: an object deleted behind the agent's back is put back by the next pass,
/// whose events (drift detected, corrected) go out in one flush: `N` flushes on a kept
/// connection, as many after the proxy cut the connection. Returns (kept, resumed, events per
/// flush); heartbeats are hourly here so that only events travel.
fn event_wire(b: &Bench, at: &Setup, creds: &str) -> Result<(u64, u64, f64)> {
    let (sim, fleet) = (at.sim, at.fleet);
    let proxy = CountingProxy::for_url(&fleet.url)?;
    let cfg = agent_config(b, "ev", at, &proxy, creds, "1h")?;
    let text = std::fs::read_to_string(&cfg)?.replace("interval: 1m", "interval: 1s");
    std::fs::write(&cfg, text)?;
    measure(b.agent(&cfg).args(["sync", "--once"]))?;
    let series = "ferry_fleet_events_total";
    let mut daemon = b
        .agent(&cfg)
        .arg("run")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()?;
    let hb = fleet.metric("ferry_fleet_heartbeats_total")?;
    // A different object each time: a repeat of the newest event is coalesced, not sent.
    let deleted = std::cell::Cell::new(0);
    let delete = || {
        let k = deleted.replace(deleted.get() + 1);
        sim.with_state(|s| {
            if let Some(rt) = s.rt_by_kind("", "ConfigMap") {
                let _ = s.delete(&rt, &format!("bench-{}", k % 10), &format!("cm-{k}"), false);
            }
        })
    };
    let flush = |cut: bool| -> Result<(u64, u64)> {
        let (seen, before) = (fleet.metric(series)?, proxy.count());
        if cut {
            proxy.cut();
        }
        delete();
        fleet.wait(series, seen + 1)?;
        // The pass's events go out in one flush; let it finish (the second event, if any).
        let deadline = Instant::now() + Duration::from_secs(2);
        while fleet.metric(series)? < seen + 2 && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(20));
        }
        Ok((
            proxy.count().bytes() - before.bytes(),
            fleet.metric(series)? - seen,
        ))
    };
    let run = || -> Result<(u64, u64, u64)> {
        fleet.wait("ferry_fleet_heartbeats_total", hb + 1)?;
        flush(false)?;
        let (mut kept, mut resumed, mut events) = (0, 0, 0);
        for _ in 0..EVENT_FLUSHES {
            let (bytes, n) = flush(false)?;
            kept += bytes;
            events += n;
        }
        for _ in 0..EVENT_FLUSHES {
            resumed += flush(true)?.0;
        }
        Ok((kept / EVENT_FLUSHES, resumed / EVENT_FLUSHES, events))
    };
    let result = run();
    let _ = daemon.kill();
    let _ = daemon.wait();
    let (kept, resumed, events) = result?;
    Ok((kept, resumed, events as f64 / EVENT_FLUSHES as f64))
}

fn row_for(b: &mut Bench, what: &str, w: &MessageWire, note: &str) {
    b.row(
        what,
        format!(
            "{} B kept, {} B reconnect with TLS resumption, {} B cold",
            w.kept, w.resumed, w.cold
        ),
        note,
    );
}

/// Heartbeat and event figures, then the per-day table against the budget.
pub fn idle_day(b: &mut Bench, bundle_dir: &Path) -> Result<()> {
    if !b.bin.join("ferry-fleet").exists() {
        b.row(
            "idle day",
            "ferry-fleet not built".into(),
            "cross/bench builds it",
        );
        return Ok(());
    }
    let fleet = Fleet::start(&b.bin)?;
    let s = sim()?;
    let drop = b.dir.path().join("idle-day-drop");
    std::fs::create_dir_all(&drop)?;
    let o = Command::new("cp")
        .arg("-r")
        .arg(bundle_dir)
        .arg(drop.join("bench"))
        .output()?;
    anyhow::ensure!(
        o.status.success(),
        "copy the bundle: {}",
        String::from_utf8_lossy(&o.stderr)
    );
    let token = format!("tokenFile: {}", fleet.path("devices/bench.token").display());
    let cert = format!(
        "clientCert: {}, clientKey: {}",
        fleet.path("devices/bench.pem").display(),
        fleet.path("devices/bench-key.pem").display()
    );
    let at = Setup {
        sim: &s,
        drop: &drop,
        fleet: &fleet,
    };
    let by_token = heartbeat_wire(b, &at, &token, "hb-token")?;
    row_for(
        b,
        "heartbeat on the wire, token",
        &by_token,
        "ferry-fleet via counting proxy; 1 sync, no labels",
    );
    let by_cert = heartbeat_wire(b, &at, &cert, "hb-mtls")?;
    row_for(
        b,
        "heartbeat on the wire, mutual TLS",
        &by_cert,
        "client certificate sent on full handshakes only",
    );
    let (kept, resumed, per_flush) = event_wire(b, &at, &token)?;
    b.row(
        "event flush on the wire, token",
        format!("{kept} B kept, {resumed} B reconnect with TLS resumption"),
        &format!("{per_flush:.1} events per flush (the pass's drift event), one connection with heartbeats"),
    );
    let hb = by_token.kept.max(by_cert.kept);
    let hb_resumed = by_token.resumed.max(by_cert.resumed);
    let polls: Vec<PollWire> = b.polls.clone();
    for p in polls {
        let day = p.kept as f64 * POLLS_PER_DAY + hb as f64 * HEARTBEATS_PER_DAY;
        let worst = p.kept as f64 * POLLS_PER_DAY + hb_resumed as f64 * HEARTBEATS_PER_DAY;
        let verdict = |x: f64| if x < BUDGET { "within" } else { "OVER" };
        b.row(
            &format!("idle day, {}", p.kind),
            format!(
                "{:.2} MB/day kept ({} budget), {:.2} MB/day if every heartbeat reconnects ({} budget)",
                day / 1e6,
                verdict(day),
                worst / 1e6,
                verdict(worst)
            ),
            &format!("{} B/poll x 1440 + {hb} B (or {hb_resumed} B resumed) x 96 heartbeats; budget < 1 MB", p.kept),
        );
    }
    Ok(())
}
