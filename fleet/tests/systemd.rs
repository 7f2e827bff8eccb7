//! ferry-fleet's systemd unit: `systemd-analyze verify` is clean, `systemd-analyze security
//! --offline=true` rates it OK (exposure at most 2.0), and its file limit is above the
//! receiver's default connection limit (one descriptor per kept agent connection).

const UNIT: &str = include_str!("../../systemd/ferry-fleet.service");

fn unit_with_binary(dir: &std::path::Path) -> std::path::PathBuf {
    ferry_tests::systemd_unit::with_binary(
        dir,
        "ferry-fleet.service",
        UNIT,
        "/usr/bin/ferry-fleet",
        env!("CARGO_BIN_EXE_ferry-fleet"),
    )
}

#[test]
fn unit_verifies_and_is_hardened() {
    let dir = tempfile::tempdir().unwrap();
    ferry_tests::systemd_unit::assert_verifies_and_is_hardened(&unit_with_binary(dir.path()), 2.0);
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
