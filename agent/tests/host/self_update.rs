//! ferry-agent replaces itself; a new binary that exits or fails its self-check is replaced
//! by the previous one (the guard run as systemd's ExecStartPre).

use crate::harness::*;

/// A copy of the agent binary with a different digest (a "new release").
fn new_agent_binary(tag: &str) -> Vec<u8> {
    let mut b = std::fs::read(AGENT).unwrap();
    b.extend_from_slice(format!("\nferry-test-release {tag}\n").as_bytes());
    b
}

/// Installs the current agent at the test root's /usr/bin/ferry-agent (the "running" binary).
fn install_running_agent(h: &Host) -> PathBuf {
    let p = h.path("/usr/bin/ferry-agent");
    std::fs::copy(AGENT, &p).unwrap();
    p
}

/// What systemd does on each start: the previous binary's guard (ExecStartPre), then the unit.
fn systemd_start(h: &Host) -> (i32, String) {
    let prev = h.path("/usr/bin/ferry-agent.ferry-prev");
    let mut out = String::new();
    if prev.exists() {
        let (_, o) = h.run(&prev, &["host", "guard"], &[]);
        out += &o;
    }
    let (code, o) = h.run(&h.path("/usr/bin/ferry-agent"), &["sync", "--once"], &[]);
    (code, out + &o)
}

#[test]
fn ferry_agent_replaces_itself_and_a_broken_new_binary_is_rolled_back() {
    let h = Host::new();
    let running = install_running_agent(&h);
    let old = std::fs::read(&running).unwrap();
    let new = new_agent_binary("good");
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
    let (code, out) = h.run(&running, &["sync", "--once"], &[]);
    assert_eq!(code, 75, "the agent exits for its restart: {out}");
    assert_eq!(h.read("/usr/bin/ferry-agent").unwrap(), new);
    assert_eq!(h.read("/usr/bin/ferry-agent.ferry-prev").unwrap(), old);
    assert!(h.env.dir.path().join("state/self-update.pending").exists());
    // systemd starts the new binary: it confirms itself and clears the marker.
    let (code, out) = systemd_start(&h);
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("start 1 of 3"), "{out}");
    assert!(!h.env.dir.path().join("state/self-update.pending").exists());
    assert!(
        h.events().contains("self-update-confirmed"),
        "{}",
        h.events()
    );

    // Revision 2: a binary that exits 1 at once. Three starts fail; the guard restores.
    let broken = b"#!/bin/sh\nexit 1\n".to_vec();
    h.publish(
        2,
        vec![(
            "host/ferry-agent",
            broken.clone(),
            file(
                "host/ferry-agent",
                "/usr/bin/ferry-agent",
                0o755,
                Some(VERSION),
            ),
        )],
        vec![],
    );
    let (code, out) = h.run(&h.path("/usr/bin/ferry-agent"), &["sync", "--once"], &[]);
    assert_eq!(code, 75, "{out}");
    assert_eq!(h.read("/usr/bin/ferry-agent").unwrap(), broken);
    let mut codes = Vec::new();
    for _ in 0..4 {
        let (code, out) = systemd_start(&h);
        codes.push(code);
        if code == 0 {
            assert!(out.contains("rolled back"), "{out}");
            break;
        }
    }
    assert_eq!(
        codes,
        [1, 1, 1, 0],
        "three failed starts, then the previous binary runs"
    );
    assert_eq!(h.read("/usr/bin/ferry-agent").unwrap(), new);
    assert!(
        h.events().contains("self-update-rolled-back"),
        "{}",
        h.events()
    );
    // The next pass leaves the previous binary in place; status names the rollback.
    let (code, out) = systemd_start(&h);
    assert_eq!(code, 0, "{out}");
    assert_eq!(h.read("/usr/bin/ferry-agent").unwrap(), new);
    let status = String::from_utf8_lossy(&h.env.agent(&["status"]).stdout).into_owned();
    assert!(status.contains("did not confirm itself"), "{status}");
}

#[test]
fn a_new_binary_failing_its_self_check_is_rolled_back() {
    let h = Host::new();
    let running = install_running_agent(&h);
    let new = new_agent_binary("needs-keys");
    h.publish(
        1,
        vec![(
            "host/ferry-agent",
            new,
            file(
                "host/ferry-agent",
                "/usr/bin/ferry-agent",
                0o755,
                Some(VERSION),
            ),
        )],
        vec![],
    );
    let (code, out) = h.run(&running, &["sync", "--once"], &[]);
    assert_eq!(code, 75, "{out}");
    // The trusted keys vanish: the new binary's self-check fails at every start.
    let keys = h.env.dir.path().join("keys");
    std::fs::rename(&keys, h.env.dir.path().join("keys.away")).unwrap();
    let mut last = String::new();
    for _ in 0..4 {
        let (code, out) = systemd_start(&h);
        last = out;
        if last.contains("previous binary restored") {
            break;
        }
        assert_ne!(code, 0, "{last}");
        assert!(last.contains("failed its self-check"), "{last}");
    }
    assert!(last.contains("previous binary restored"), "{last}");
    assert_eq!(
        h.read("/usr/bin/ferry-agent").unwrap(),
        std::fs::read(AGENT).unwrap()
    );
}
