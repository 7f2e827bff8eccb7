//! ferry-fleet's systemd unit: `systemd-analyze verify` is clean, `systemd-analyze security
//! --offline=true` rates it OK (exposure at most 2.0), and its file limit is above the
//! receiver's default connection limit (one descriptor per kept agent connection).

use std::process::Command;

const UNIT: &str = include_str!("../../systemd/ferry-fleet.service");

fn unit_with_binary(dir: &std::path::Path) -> std::path::PathBuf {
    let p = dir.join("ferry-fleet.service");
    std::fs::write(
        &p,
        UNIT.replace("/usr/bin/ferry-fleet", env!("CARGO_BIN_EXE_ferry-fleet")),
    )
    .unwrap();
    p
}

#[test]
fn unit_verifies_and_is_hardened() {
    let dir = tempfile::tempdir().unwrap();
    let unit = unit_with_binary(dir.path());
    let o = Command::new("systemd-analyze")
        .arg("verify")
        .arg(&unit)
        .output()
        .expect("systemd-analyze (package systemd)");
    assert!(
        o.status.success() && o.stderr.is_empty(),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    let o = Command::new("systemd-analyze")
        .args(["security", "--offline=true"])
        .arg(&unit)
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&o.stdout);
    let line = text
        .lines()
        .find(|l| l.contains("Overall exposure level"))
        .expect("exposure line");
    let score: f64 = line
        .split(':')
        .nth(1)
        .and_then(|s| s.split_whitespace().next())
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("{line}"));
    assert!(score <= 2.0, "exposure {score} > 2.0: {line}");
}

#[test]
fn file_limit_covers_the_default_connection_limit() {
    let nofile: usize = UNIT
        .lines()
        .find_map(|l| l.strip_prefix("LimitNOFILE="))
        .expect("LimitNOFILE")
        .parse()
        .unwrap();
    let cfg = ferry_fleet::config::FleetConfig::parse(
        std::path::Path::new("/etc/ferry-fleet/fleet.yaml"),
        "listen: 0.0.0.0:8443\ntls: {cert: s.pem, key: k.pem}\ntokens: tokens\nstore: {sqlite: /var/lib/ferry-fleet/fleet.db}\n",
    )
    .unwrap();
    assert!(
        nofile >= cfg.max_connections + 1024,
        "LimitNOFILE={nofile} leaves no room above maxConnections={}",
        cfg.max_connections
    );
    assert!(UNIT.contains("StateDirectory=ferry-fleet"));
}
