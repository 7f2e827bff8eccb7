//! The systemd unit (checked by systemd-analyze), the notify protocol (READY, STATUS,
//! WATCHDOG) against a real datagram socket, and logs (JSON on request, secrets never logged).

mod common;

use common::*;
use std::os::unix::net::UnixDatagram;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

#[test]
fn unit_verifies_and_is_hardened() {
    let dir = tempfile::tempdir().unwrap();
    let unit = ferry_tests::systemd_unit::with_binary(
        dir.path(),
        "ferry-agent.service",
        include_str!("../../systemd/ferry-agent.service"),
        "/usr/bin/ferry-agent",
        env!("CARGO_BIN_EXE_ferry-agent"),
    );
    ferry_tests::systemd_unit::assert_verifies_and_is_hardened(&unit, 2.0);
}

#[test]
fn daemon_notifies_ready_status_and_watchdog() {
    let env = Env::new();
    env.publish(1, &[("a.yaml", cm("a", "default", "1"))]);
    let sock_path = env.dir.path().join("notify.sock");
    let sock = UnixDatagram::bind(&sock_path).unwrap();
    sock.set_read_timeout(Some(Duration::from_millis(200)))
        .unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_ferry-agent"))
        .arg("--config")
        .arg(&env.config)
        .arg("run")
        .env("NOTIFY_SOCKET", &sock_path)
        .env("WATCHDOG_USEC", "300000")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(20);
    let (mut ready, mut status, mut watchdog) = (false, false, false);
    let mut buf = [0u8; 4096];
    while Instant::now() < deadline && !(ready && status && watchdog) {
        if let Ok(n) = sock.recv(&mut buf) {
            let msg = String::from_utf8_lossy(&buf[..n]).into_owned();
            ready |= msg.contains("READY=1");
            status |= msg.contains("STATUS=app r1");
            watchdog |= msg.contains("WATCHDOG=1");
        }
    }
    child.kill().unwrap();
    child.wait().unwrap();
    assert!(
        ready && status && watchdog,
        "ready={ready} status={status} watchdog={watchdog}"
    );
}

#[test]
fn json_logs_and_no_secrets_at_trace_level() {
    let env = Env::new();
    // Use the bearer-token kubeconfig: the token must never appear in any output.
    let text = std::fs::read_to_string(&env.config).unwrap().replace(
        &env.sim.kubeconfig_path().display().to_string(),
        &env.sim.token_kubeconfig_path().display().to_string(),
    );
    std::fs::write(&env.config, text).unwrap();
    env.publish(1, &Env::example(APP));
    let o = env.agent_env(
        &["--log-format", "json", "sync", "--once"],
        &[("FERRY_LOG", "trace")],
    );
    let stdout = String::from_utf8_lossy(&o.stdout);
    let stderr = String::from_utf8_lossy(&o.stderr);
    assert!(o.status.success(), "{stdout}{stderr}");
    assert!(
        !stdout.contains(&env.sim.token) && !stderr.contains(&env.sim.token),
        "token leaked"
    );
    let lines: Vec<&str> = stderr.lines().filter(|l| !l.trim().is_empty()).collect();
    assert!(!lines.is_empty(), "trace level logs something");
    for l in lines {
        let v: serde_json::Value =
            serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON ({e}): {l}"));
        assert!(v["level"].is_string());
    }
    // The token kubeconfig really authenticated (the objects exist).
    assert!(env.obj("apps", "Deployment", "demo", "web").is_some());
}

#[test]
fn a_stuck_sync_pass_stops_the_watchdog_keepalives() {
    let env = Env::new();
    let sock_path = env.dir.path().join("notify.sock");
    let sock = UnixDatagram::bind(&sock_path).unwrap();
    sock.set_read_timeout(Some(Duration::from_millis(100)))
        .unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_ferry-agent"))
        .arg("--config")
        .arg(&env.config)
        .arg("run")
        .env("NOTIFY_SOCKET", &sock_path)
        .env("WATCHDOG_USEC", "200000")
        .env("FERRY_WATCHDOG_STUCK_AFTER", "1s")
        .env("FERRY_FAULT", "poll:hang")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let start = Instant::now();
    let mut last_watchdog = None;
    let mut buf = [0u8; 4096];
    while start.elapsed() < Duration::from_secs(6) {
        if let Ok(n) = sock.recv(&mut buf) {
            if String::from_utf8_lossy(&buf[..n]).contains("WATCHDOG=1") {
                last_watchdog = Some(start.elapsed());
            }
        }
    }
    child.kill().unwrap();
    child.wait().unwrap();
    let last = last_watchdog.expect("keep-alives while the pass was young");
    assert!(
        last < Duration::from_secs(4),
        "keep-alives stopped once the pass was stuck (last at {last:?})"
    );
}

/// Passes the daemon has counted in its metrics textfile (0 before the first is written).
fn passes(textfile: &std::path::Path) -> u64 {
    let text = std::fs::read_to_string(textfile).unwrap_or_default();
    let m = ferry_agent::metrics::parse(&text).unwrap_or_default();
    m.get("ferry_sync_passes_total{sync=\"app\"}")
        .copied()
        .unwrap_or(0.0) as u64
}

/// Runs the daemon with `FERRY_LOG=<directives>` until its metrics count two finished passes
/// (the first pass's closing log line is written before the second pass is counted), and
/// returns its stderr lines.
fn daemon_log(env: &Env, directives: &str) -> Vec<String> {
    // The counter lives in the state (it survives restarts); the textfile shows the last count.
    let textfile = env.dir.path().join("ferry.prom");
    env.write_config_full(
        &format!("metrics: {{textfile: {}}}", textfile.display()),
        "timeout: 5s",
    );
    let mut child = Command::new(env!("CARGO_BIN_EXE_ferry-agent"))
        .arg("--config")
        .arg(&env.config)
        .arg("run")
        .env("FERRY_LOG", directives)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let stderr = child.stderr.take().unwrap();
    let reader = std::thread::spawn(move || {
        use std::io::BufRead;
        std::io::BufReader::new(stderr)
            .lines()
            .map_while(Result::ok)
            .collect::<Vec<_>>()
    });
    let before = passes(&textfile);
    let deadline = Instant::now() + Duration::from_secs(60);
    while passes(&textfile) < before + 2 && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(50));
    }
    let counted = passes(&textfile) - before;
    child.kill().unwrap();
    child.wait().unwrap();
    let lines = reader.join().unwrap();
    assert!(
        counted >= 2,
        "FERRY_LOG={directives}: {counted} passes counted: {lines:?}"
    );
    lines
}

#[test]
fn a_debug_directive_prints_debug_lines_and_passes_are_counted() {
    let env = Env::new();
    env.publish(1, &Env::example(APP));
    for directives in ["debug", "warn,ferry_agent=debug"] {
        let lines = daemon_log(&env, directives);
        assert!(
            lines
                .iter()
                .any(|l| l.contains("DEBUG") && l.contains("sync pass done")),
            "FERRY_LOG={directives}: {lines:?}"
        );
    }
    // A warn cap still hides the daemon's info and debug lines.
    let lines = daemon_log(&env, "warn");
    assert!(
        !lines
            .iter()
            .any(|l| l.contains("DEBUG") || l.contains("INFO")),
        "{lines:?}"
    );
}
