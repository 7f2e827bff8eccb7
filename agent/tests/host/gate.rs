//! Host payloads behind their own gate (issue 20): only a sync the configuration marks
//! host-capable may carry a host section, never an unsigned one; the whole revision (fence,
//! allow-list, units, health probes, modes, owners) is checked before the first file is
//! written; a health executable that never exits is killed at its deadline.

use crate::harness::*;
use ferry_agent::store::Store;

/// Host transactions started (one journal row each).
fn journal_rows(h: &Host) -> usize {
    Store::open(&h.env.dir.path().join("state/state.db"))
        .unwrap()
        .host_records(&[])
        .unwrap()
        .len()
}

/// Nothing of a host section reached the host: no file, no journal row, no unit started.
fn nothing_written(h: &Host, out: &str) {
    for t in [
        "/usr/local/bin/k3s",
        "/usr/local/bin/k3s.ferry-new",
        "/etc/rancher/k3s/config.yaml",
        "/etc/rancher/k3s/registries.yaml",
    ] {
        assert!(h.read(t).is_none(), "{t} was written: {out}");
    }
    assert_eq!(journal_rows(h), 0, "{out}");
    assert!(
        !h.env.dir.path().join("units/k3s.service.pid").exists(),
        "a unit was started: {out}"
    );
}

fn k3s_file(content: &[u8]) -> Vec<(&'static str, Vec<u8>, HostFile)> {
    vec![(
        "host/k3s",
        content.to_vec(),
        file("host/k3s", "/usr/local/bin/k3s", 0o755, None),
    )]
}

/// The stand-in k3s unit, restarted when the k3s binary changes.
fn k3s_only_unit() -> HostUnit {
    let mut u = k3s_unit();
    u.files = vec!["/usr/local/bin/k3s".into()];
    u
}

/// `sync --once` under a kill-after bound that only catches a hang.
fn sync_bounded(h: &Host) -> (i32, String) {
    let o = Command::new("timeout")
        .args(["-s", "KILL", "120", AGENT, "--config"])
        .arg(&h.env.config)
        .args(["sync", "--once"])
        .output()
        .unwrap();
    // `timeout -s KILL` kills its own process group too: no exit code means the pass hung.
    let code = o.status.code().unwrap_or(-1);
    assert!(![-1, 124, 137].contains(&code), "the pass hung past 120 s");
    let out = format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    );
    (code, out)
}

#[test]
fn a_tenant_sync_with_a_host_section_is_refused_and_nothing_is_written() {
    let h = Host::with_sync(
        "timeout: 5s\nnamespaces: [team-a]\nimpersonate: {user: tenant-a, groups: [tenants]}",
    );
    h.standard(1, "v1.31.5+k3s1");
    let (code, out) = h.env.sync();
    assert_eq!(code, 1, "{out}");
    assert!(out.contains("sync app is not host-capable"), "{out}");
    nothing_written(&h, &out);
    let events = h.events();
    assert!(
        events.contains("refused") && events.contains("not host-capable"),
        "{events}"
    );
    let status = String::from_utf8_lossy(&h.env.agent(&["status"]).stdout).into_owned();
    assert!(status.contains("not host-capable"), "{status}");
    // Refused whole: the revision never counted as verified.
    let state = Store::open(&h.env.dir.path().join("state/state.db"))
        .unwrap()
        .sync_state("app")
        .unwrap();
    assert_eq!(state.highest_revision, None, "{status}");
}

#[test]
fn a_fence_refused_revision_never_writes_its_host_files() {
    // Host-capable, but fenced: the bundle's Namespace `host` is outside the fence.
    let h = Host::with_sync("timeout: 5s\nhost: {enabled: true}\nnamespaces: [team-a]");
    h.standard(1, "v1.31.5+k3s1");
    let (code, out) = h.env.sync();
    assert_eq!(code, 1, "{out}");
    assert!(out.contains("outside the sync's namespace fence"), "{out}");
    nothing_written(&h, &out);
}

#[test]
fn insecure_skip_signature_with_host_payloads_is_refused_at_config_load() {
    let h = Host::with_sync("timeout: 5s\nhost: {enabled: true}\ninsecureSkipSignature: true");
    let o = h.env.agent(&["check-config"]);
    let out = String::from_utf8_lossy(&o.stderr).into_owned() + &String::from_utf8_lossy(&o.stdout);
    assert_ne!(o.status.code(), Some(0), "{out}");
    assert!(
        out.contains(
            "sync \"app\": a host-capable sync (host.enabled) cannot set insecureSkipSignature"
        ),
        "{out}"
    );
    h.standard(1, "v1.31.5+k3s1");
    let (code, out) = h.env.sync();
    assert_ne!(code, 0, "{out}");
    assert!(out.contains("cannot set insecureSkipSignature"), "{out}");
    assert!(h.read("/usr/local/bin/k3s").is_none(), "{out}");
}

#[test]
fn a_shell_health_command_and_a_unit_off_the_allow_list_are_refused_before_any_write() {
    let h = Host::new();
    let mut shell = k3s_only_unit();
    shell.health.command = vec![
        "/bin/sh".into(),
        "-c".into(),
        "touch \"$HOST_ROOT/pwned\"".into(),
    ];
    h.publish(1, k3s_file(&fake_k3s("v1")), vec![shell]);
    let (code, out) = h.env.sync();
    assert_eq!(code, 1, "{out}");
    assert!(
        out.contains("health command /bin/sh is not on host.healthExecutables"),
        "{out}"
    );
    assert!(!h.root.join("pwned").exists(), "{out}");
    nothing_written(&h, &out);

    let mut other = k3s_only_unit();
    other.name = "reboot.target".into();
    h.publish(2, k3s_file(&fake_k3s("v1")), vec![other]);
    let (code, out) = h.env.sync();
    assert_eq!(code, 1, "{out}");
    assert!(
        out.contains("unit reboot.target is not on host.allowUnits"),
        "{out}"
    );
    nothing_written(&h, &out);

    // A shell can never be allow-listed as a health executable.
    let cfg = h.host_config().replace(
        "healthExecutables: [/usr/local/bin/k3s]",
        "healthExecutables: [/bin/sh]",
    );
    h.env.write_config_full(&cfg, HOST_SYNC);
    let o = h.env.agent(&["check-config"]);
    let out = String::from_utf8_lossy(&o.stderr).into_owned();
    assert_ne!(o.status.code(), Some(0), "{out}");
    assert!(out.contains("/bin/sh is a shell or interpreter"), "{out}");
}

#[test]
fn setuid_sticky_world_writable_modes_and_foreign_owners_are_refused() {
    let h = Host::new();
    let cases: [(u32, u32, &str); 4] = [
        (0o1755, 0, "mode 1755"),
        (0o777, 0, "mode 0777"),
        (0o775, 0, "mode 0775"),
        (0o755, 65534, "owner uid 65534"),
    ];
    for (rev, (mode, uid, want)) in cases.into_iter().enumerate() {
        let mut f = file("host/k3s", "/usr/local/bin/k3s", mode, None);
        f.uid = uid;
        h.publish(
            rev as u64 + 1,
            vec![("host/k3s", fake_k3s("v1"), f)],
            vec![],
        );
        let (code, out) = h.env.sync();
        assert_eq!(code, 1, "{want}: {out}");
        assert!(out.contains(want), "{want}: {out}");
        nothing_written(&h, &out);
    }
}

/// A k3s whose `kubectl` never exits and leaves a grandchild: both pids are written under the
/// root so the test can check they were killed.
fn hanging_health_k3s() -> Vec<u8> {
    br#"#!/bin/sh
case "$1" in
server) exec sleep 1000 ;;
kubectl)
  echo $$ > "$HOST_ROOT/health.pid"
  sleep 1000 &
  echo $! > "$HOST_ROOT/grandchild.pid"
  wait ;;
esac
"#
    .to_vec()
}

/// True while the process named in `pid_file` runs 10 s after the call (SIGKILL is delivered
/// asynchronously: polled, bounded).
fn still_alive(pid_file: &Path) -> bool {
    let pid = std::fs::read_to_string(pid_file).unwrap();
    let until = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while std::time::Instant::now() < until {
        let stat =
            std::fs::read_to_string(format!("/proc/{}/stat", pid.trim())).unwrap_or_default();
        let state = stat
            .rsplit_once(')')
            .and_then(|(_, r)| r.split_whitespace().next().map(String::from));
        if matches!(state.as_deref(), None | Some("Z") | Some("X")) {
            return false;
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    true
}

#[test]
fn a_health_executable_that_never_exits_is_killed_at_its_deadline_and_rolled_back() {
    let h = Host::new();
    h.standard(1, "v1.31.5+k3s1");
    let (code, out) = h.env.sync();
    assert_eq!(code, 0, "{out}");

    let mut unit = k3s_only_unit();
    unit.health.timeout_seconds = 2;
    h.publish(2, k3s_file(&hanging_health_k3s()), vec![unit]);
    let (code, out) = sync_bounded(&h);
    assert_eq!(code, 1, "{out}");
    assert!(
        out.contains("rolled back") && out.contains("killed at its deadline"),
        "{out}"
    );
    // The probe ran and was killed with its process group.
    let (child, grandchild) = (h.root.join("health.pid"), h.root.join("grandchild.pid"));
    assert!(child.exists() && grandchild.exists(), "{out}");
    assert!(
        !still_alive(&child),
        "the health executable survived its deadline"
    );
    assert!(!still_alive(&grandchild), "its child survived the deadline");
    // Revision 1's k3s is back and answers.
    assert_eq!(
        h.read("/usr/local/bin/k3s").unwrap(),
        fake_k3s("v1.31.5+k3s1")
    );
    assert!(
        h.api_version().contains("v1.31.5+k3s1"),
        "{}",
        h.api_version()
    );
}

#[test]
fn check_config_warns_about_allow_listed_directories_others_can_write() {
    use std::os::unix::fs::PermissionsExt;
    let h = Host::new();
    let k3s_dir = h.path("/etc/rancher/k3s");
    std::fs::create_dir_all(&k3s_dir).unwrap();
    let check = || {
        let o = h.env.agent(&["check-config"]);
        let out = String::from_utf8_lossy(&o.stdout).into_owned();
        assert_eq!(
            o.status.code(),
            Some(0),
            "{out}{}",
            String::from_utf8_lossy(&o.stderr)
        );
        out
    };
    assert!(!check().contains("WARNING host.allow"), "{}", check());
    std::fs::set_permissions(&k3s_dir, std::fs::Permissions::from_mode(0o777)).unwrap();
    let out = check();
    assert!(
        out.contains("WARNING host.allow /etc/rancher/k3s/:") && out.contains("writable by others"),
        "{out}"
    );
    // A parent others can write (not sticky) is named too.
    std::fs::set_permissions(&k3s_dir, std::fs::Permissions::from_mode(0o755)).unwrap();
    std::fs::set_permissions(
        h.path("/etc/rancher"),
        std::fs::Permissions::from_mode(0o777),
    )
    .unwrap();
    let out = check();
    assert!(
        out.contains("WARNING host.allow /etc/rancher/k3s/:") && out.contains("/etc/rancher"),
        "{out}"
    );
}
