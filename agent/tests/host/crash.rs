//! kill -9 at every step of a host transaction, and the unit with the host drop-in.

use crate::harness::*;

/// kill -9 at each step of a host transaction: right after the kill every target holds the
/// old or the new content (none missing); the restart rolls the interrupted transaction back
/// and applies it again, ending with all new files.
#[test]
fn a_kill_at_every_host_step_leaves_all_old_or_all_new() {
    for point in [
        "host-after-journal",
        "host-staged:1",
        "host-renamed:1",
        "host-staged:2",
        "host-renamed:2",
        "host-after-restart",
    ] {
        let h = Host::new();
        h.standard(1, "v1");
        assert_eq!(h.env.sync().0, 0, "{point}");
        let old: Vec<_> = ["/usr/local/bin/k3s", "/etc/rancher/k3s/config.yaml"]
            .iter()
            .map(|t| h.read(t).unwrap())
            .collect();
        h.standard(2, "v2");
        let (code, out) = h.run(
            Path::new(AGENT),
            &["sync", "--once"],
            &[("FERRY_FAULT", point)],
        );
        assert!(code != 0 && out.contains("fault point"), "{point}: {out}");
        let k3s = h.read("/usr/local/bin/k3s").expect("k3s never missing");
        assert!(k3s == old[0] || k3s == fake_k3s("v2"), "{point}");
        let conf = h
            .read("/etc/rancher/k3s/config.yaml")
            .expect("config never missing");
        assert!(conf == old[1] || conf == h.config_yaml("v2"), "{point}");
        // Recovery alone: every file is old again, and the old k3s answers.
        let (code, out) = h.run(Path::new(AGENT), &["host", "recover"], &[]);
        assert_eq!(code, 0, "{point}: {out}");
        assert!(
            out.contains("1 interrupted host transactions rolled back"),
            "{point}: {out}"
        );
        assert_eq!(h.read("/usr/local/bin/k3s").unwrap(), old[0], "{point}");
        assert_eq!(
            h.read("/etc/rancher/k3s/config.yaml").unwrap(),
            old[1],
            "{point}"
        );
        assert!(h.api_version().contains("v1"), "{point}");
        let (code, out) = h.env.sync();
        assert_eq!(code, 0, "{point}: {out}");
        assert_eq!(
            h.read("/usr/local/bin/k3s").unwrap(),
            fake_k3s("v2"),
            "{point}"
        );
        assert!(h.api_version().contains("v2"), "{point}");
        let ev = h.events();
        assert!(ev.contains("host-interrupted"), "{point}: {ev}");
    }
}

/// kill -9 after the self-update marker is written, before the rename: the running binary is
/// still in place, the next start clears the stale marker, and the next pass switches.
#[test]
fn a_kill_before_the_self_switch_keeps_the_running_binary() {
    let h = Host::new();
    let running = h.path("/usr/bin/ferry-agent");
    std::fs::copy(AGENT, &running).unwrap();
    let old = std::fs::read(&running).unwrap();
    let mut new = old.clone();
    new.extend_from_slice(b"\nferry-test-release crash\n");
    h.publish(
        1,
        vec![(
            "host/ferry-agent",
            new.clone(),
            file(
                "host/ferry-agent",
                "/usr/bin/ferry-agent",
                0o755,
                Some(VERSION),
            ),
        )],
        vec![],
    );
    let (code, out) = h.run(
        &running,
        &["sync", "--once"],
        &[("FERRY_FAULT", "host-before-self-switch")],
    );
    assert!(code != 0 && out.contains("fault point"), "{out}");
    assert_eq!(h.read("/usr/bin/ferry-agent").unwrap(), old);
    assert!(h.env.dir.path().join("state/self-update.pending").exists());
    let (code, out) = h.run(&running, &["sync", "--once"], &[]);
    assert_eq!(code, 75, "{out}");
    assert_eq!(h.read("/usr/bin/ferry-agent").unwrap(), new);
    assert!(h.events().contains("host-interrupted"), "{}", h.events());
}

#[test]
fn the_unit_with_the_host_drop_in_verifies() {
    let dir = tempfile::tempdir().unwrap();
    let root = concat!(env!("CARGO_MANIFEST_DIR"), "/../systemd");
    let unit = std::fs::read_to_string(format!("{root}/ferry-agent.service")).unwrap();
    std::fs::write(
        dir.path().join("ferry-agent.service"),
        unit.replace("/usr/bin/ferry-agent", AGENT),
    )
    .unwrap();
    let dropin =
        std::fs::read_to_string(format!("{root}/ferry-agent.service.d/host-payloads.conf"))
            .unwrap();
    std::fs::create_dir_all(dir.path().join("ferry-agent.service.d")).unwrap();
    std::fs::write(
        dir.path().join("ferry-agent.service.d/host-payloads.conf"),
        // The guard's binary exists only after a first self-update: verify with the agent.
        dropin
            .replace("/usr/bin/ferry-agent.ferry-prev", AGENT)
            .replace("/usr/bin/ferry-agent", AGENT),
    )
    .unwrap();
    let o = Command::new("systemd-analyze")
        .arg("verify")
        .arg(dir.path().join("ferry-agent.service"))
        .output()
        .expect("systemd-analyze");
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(o.status.success() && err.is_empty(), "{err}");
}
