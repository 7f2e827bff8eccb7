//! Host payloads end to end with the real `ferry-agent` binary: a signed bundle upgrades a
//! stand-in k3s (a script that serves `/readyz` on the port its `config.yaml` names, started by
//! the process supervisor) and ferry-agent itself on a test root; a broken k3s and a broken
//! agent are rolled back; hostile host sections are refused with named errors; kill -9 at every
//! step leaves all old or all new files.

mod common;

use common::*;
use ferry_bundle::host::{Arch, HealthCheck, HostFile, HostSection, HostUnit};
use std::path::{Path, PathBuf};
use std::process::Command;

const EXAMPLE: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../k3s-examples/host");
const AGENT: &str = env!("CARGO_BIN_EXE_ferry-agent");
const VERSION: &str = env!("CARGO_PKG_VERSION");

/// A stand-in k3s: `server` serves /readyz and /version (python3 http.server) on the
/// `https-listen-port` of `$HOST_ROOT/etc/rancher/k3s/config.yaml` (plain HTTP);
/// `kubectl get --raw PATH` asks it. `version` is what /version reports.
fn fake_k3s(version: &str) -> Vec<u8> {
    format!(
        r#"#!/bin/sh
port=$(sed -n 's/^https-listen-port: *//p' "$HOST_ROOT/etc/rancher/k3s/config.yaml")
case "$1" in
server) exec python3 -c '
import http.server, sys
port, ver = int(sys.argv[1]), sys.argv[2]
class H(http.server.BaseHTTPRequestHandler):
    def do_GET(s):
        body = {{"/readyz": b"ok", "/version": ("{{\"gitVersion\":\"%s\"}}" % ver).encode()}}.get(s.path)
        s.send_response(200 if body else 404); s.end_headers(); s.wfile.write(body or b"")
    def log_message(*a): pass
http.server.HTTPServer(("127.0.0.1", port), H).serve_forever()
' "$port" "{version}" ;;
kubectl) exec python3 -c '
import sys, urllib.request
print(urllib.request.urlopen("http://127.0.0.1:%s%s" % (sys.argv[1], sys.argv[2]), timeout=2).read().decode())
' "$port" "$4" ;;
*) exit 2 ;;
esac
"#
    )
    .into_bytes()
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

struct Host {
    env: Env,
    root: PathBuf,
    port: u16,
}

impl Drop for Host {
    fn drop(&mut self) {
        // Stop the stand-in k3s the supervisor started.
        if let Ok(pid) = std::fs::read_to_string(self.env.dir.path().join("units/k3s.service.pid"))
        {
            let _ = Command::new("kill").arg("-9").arg(pid.trim()).status();
        }
    }
}

fn file(source: &str, target: &str, mode: u32, version: Option<&str>) -> HostFile {
    HostFile {
        source: source.into(),
        target: target.into(),
        mode,
        uid: 0,
        gid: 0,
        arch: Arch::Any,
        version: version.map(String::from),
        allow_downgrade: false,
    }
}

fn k3s_unit() -> HostUnit {
    HostUnit {
        name: "k3s.service".into(),
        files: vec![
            "/usr/local/bin/k3s".into(),
            "/etc/rancher/k3s/config.yaml".into(),
        ],
        health: HealthCheck {
            command: vec![
                "/usr/local/bin/k3s".into(),
                "kubectl".into(),
                "get".into(),
                "--raw".into(),
                "/readyz".into(),
            ],
            http: None,
            timeout_seconds: 20,
        },
    }
}

impl Host {
    fn new() -> Self {
        let env = Env::new();
        let root = env.dir.path().join("root");
        std::fs::create_dir_all(root.join("usr/bin")).unwrap();
        let h = Host {
            port: free_port(),
            root,
            env,
        };
        h.env.write_config_full(
            &format!(
                "limits: {{maxFileBytes: 536870912, maxTotalBytes: 1073741824}}\nhost:\n  enabled: true\n  root: {}\n  allow: [/usr/bin/ferry-agent, /usr/local/bin/k3s, /etc/rancher/k3s/]\n  units:\n    type: process\n    stateDir: {}\n    units:\n      k3s.service: [/usr/local/bin/k3s, server]\n",
                h.root.display(),
                h.env.dir.path().join("units").display()
            ),
            "timeout: 5s",
        );
        h
    }

    fn config_yaml(&self, tag: &str) -> Vec<u8> {
        let text = std::fs::read_to_string(format!("{EXAMPLE}/bundle/host/config.yaml")).unwrap();
        format!("# {tag}\n{text}")
            .replace(
                "https-listen-port: 6443",
                &format!("https-listen-port: {}", self.port),
            )
            .into_bytes()
    }

    /// Publishes revision `rev` with host `files` ((bundle path, content, HostFile)).
    fn publish(&self, rev: u64, files: Vec<(&str, Vec<u8>, HostFile)>, units: Vec<HostUnit>) {
        let ns = namespace("host");
        let mut content: Vec<(&str, &[u8])> = vec![("ns.yaml", ns.as_bytes())];
        for (p, c, _) in &files {
            content.push((p, c));
        }
        let host = HostSection {
            files: files.iter().map(|(_, _, f)| f.clone()).collect(),
            units,
        };
        self.env
            .publish_raw(&self.env.drop_dir(), "app", rev, &content, |m| {
                m.host = Some(host)
            });
    }

    fn standard(&self, rev: u64, k3s_version: &str) {
        let registries = std::fs::read(format!("{EXAMPLE}/bundle/host/registries.yaml")).unwrap();
        self.publish(
            rev,
            vec![
                (
                    "host/k3s",
                    fake_k3s(k3s_version),
                    file("host/k3s", "/usr/local/bin/k3s", 0o755, None),
                ),
                (
                    "host/config.yaml",
                    self.config_yaml(k3s_version),
                    file(
                        "host/config.yaml",
                        "/etc/rancher/k3s/config.yaml",
                        0o600,
                        None,
                    ),
                ),
                (
                    "host/registries.yaml",
                    registries,
                    file(
                        "host/registries.yaml",
                        "/etc/rancher/k3s/registries.yaml",
                        0o600,
                        None,
                    ),
                ),
            ],
            vec![k3s_unit()],
        );
    }

    fn path(&self, target: &str) -> PathBuf {
        self.root.join(target.trim_start_matches('/'))
    }

    fn read(&self, target: &str) -> Option<Vec<u8>> {
        std::fs::read(self.path(target)).ok()
    }

    fn api_version(&self) -> String {
        let o = Command::new(self.path("/usr/local/bin/k3s"))
            .args(["kubectl", "get", "--raw", "/version"])
            .env("HOST_ROOT", &self.root)
            .output()
            .unwrap();
        String::from_utf8_lossy(&o.stdout).trim().to_string()
    }

    fn run(&self, exe: &Path, args: &[&str], env: &[(&str, &str)]) -> (i32, String) {
        let mut c = Command::new(exe);
        c.arg("--config").arg(&self.env.config).args(args);
        for (k, v) in env {
            c.env(k, v);
        }
        let o = c.output().unwrap();
        (
            o.status.code().unwrap_or(-1),
            format!(
                "{}{}",
                String::from_utf8_lossy(&o.stdout),
                String::from_utf8_lossy(&o.stderr)
            ),
        )
    }

    fn events(&self) -> String {
        String::from_utf8_lossy(&self.env.agent(&["events", "--limit", "50"]).stdout).into_owned()
    }
}

#[test]
fn a_signed_bundle_upgrades_k3s_and_its_config_and_a_broken_k3s_is_rolled_back() {
    let h = Host::new();
    h.standard(1, "v1.31.5+k3s1");
    let (code, out) = h.env.sync();
    assert_eq!(code, 0, "{out}");
    assert!(
        h.api_version().contains("v1.31.5+k3s1"),
        "{}",
        h.api_version()
    );
    assert_eq!(
        h.read("/etc/rancher/k3s/registries.yaml").unwrap(),
        std::fs::read(format!("{EXAMPLE}/bundle/host/registries.yaml")).unwrap()
    );
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(h.path("/etc/rancher/k3s/config.yaml"))
        .unwrap()
        .permissions()
        .mode();
    assert_eq!(mode & 0o7777, 0o600);
    // The host files are not cluster manifests: only the namespace was applied.
    assert!(h.env.obj("", "Namespace", "", "host").is_some());

    // Revision 2: a new k3s; the API answers with the new version, the old one is kept.
    h.standard(2, "v1.32.3+k3s1");
    let (code, out) = h.env.sync();
    assert_eq!(code, 0, "{out}");
    assert!(
        h.api_version().contains("v1.32.3+k3s1"),
        "{}",
        h.api_version()
    );
    assert_eq!(
        h.read("/usr/local/bin/k3s.ferry-prev").unwrap(),
        fake_k3s("v1.31.5+k3s1")
    );

    // Revision 3: a k3s that never comes up; health fails, v1.32.3 is restored and restarted.
    let broken = b"#!/bin/sh\nexit 1\n".to_vec();
    let mut unit = k3s_unit();
    unit.health.timeout_seconds = 3;
    h.publish(
        3,
        vec![
            (
                "host/k3s",
                broken,
                file("host/k3s", "/usr/local/bin/k3s", 0o755, None),
            ),
            (
                "host/config.yaml",
                h.config_yaml("broken"),
                file(
                    "host/config.yaml",
                    "/etc/rancher/k3s/config.yaml",
                    0o600,
                    None,
                ),
            ),
        ],
        vec![unit],
    );
    let (code, out) = h.env.sync();
    assert_eq!(code, 1, "{out}");
    assert!(
        out.contains("rolled back") && out.contains("k3s.service not healthy"),
        "{out}"
    );
    assert_eq!(
        h.read("/usr/local/bin/k3s").unwrap(),
        fake_k3s("v1.32.3+k3s1")
    );
    assert!(
        h.api_version().contains("v1.32.3+k3s1"),
        "{}",
        h.api_version()
    );
    let events = h.events();
    assert!(
        events.contains("host-rolled-back") && events.contains("host-applied"),
        "{events}"
    );
}

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

fn refused(h: &Host, rev: u64, files: Vec<(&str, Vec<u8>, HostFile)>, want: &str) {
    h.publish(rev, files, vec![]);
    let (code, out) = h.env.sync();
    assert_eq!(code, 1, "{want}: {out}");
    assert!(out.contains(want), "{want}: {out}");
}

#[test]
fn hostile_host_sections_are_refused_with_named_errors() {
    let h = Host::new();
    let data = b"payload\n".to_vec();
    // Outside the allow-list.
    refused(
        &h,
        1,
        vec![(
            "host/x",
            data.clone(),
            file("host/x", "/etc/shadow", 0o600, None),
        )],
        "/etc/shadow is not on this device's allow-list",
    );
    assert!(h.read("/etc/shadow").is_none());
    // A `..` target never gets past the manifest check.
    refused(
        &h,
        2,
        vec![(
            "host/x",
            data.clone(),
            file("host/x", "/etc/rancher/k3s/../../shadow", 0o600, None),
        )],
        "has a '..' component",
    );
    // A parent directory swapped for a symlink (to a directory outside the allow-list).
    let outside = h.env.dir.path().join("outside");
    std::fs::create_dir_all(&outside).unwrap();
    std::fs::create_dir_all(h.path("/etc/rancher")).unwrap();
    std::os::unix::fs::symlink(&outside, h.path("/etc/rancher/k3s")).unwrap();
    refused(
        &h,
        3,
        vec![(
            "host/x",
            data.clone(),
            file("host/x", "/etc/rancher/k3s/config.yaml", 0o600, None),
        )],
        "a parent directory is a symlink",
    );
    assert_eq!(
        std::fs::read_dir(&outside).unwrap().count(),
        0,
        "nothing written through the link"
    );
    std::fs::remove_file(h.path("/etc/rancher/k3s")).unwrap();
    std::fs::create_dir(h.path("/etc/rancher/k3s")).unwrap();
    // The target itself a symlink.
    std::os::unix::fs::symlink("/etc/passwd", h.path("/etc/rancher/k3s/config.yaml")).unwrap();
    refused(
        &h,
        4,
        vec![(
            "host/x",
            data.clone(),
            file("host/x", "/etc/rancher/k3s/config.yaml", 0o600, None),
        )],
        "is a symlink; ferry never writes through one",
    );
    std::fs::remove_file(h.path("/etc/rancher/k3s/config.yaml")).unwrap();
    // A special file (fifo) as the target.
    let fifo = h.path("/etc/rancher/k3s/registries.yaml");
    assert!(Command::new("mkfifo")
        .arg(&fifo)
        .status()
        .unwrap()
        .success());
    refused(
        &h,
        5,
        vec![(
            "host/x",
            data.clone(),
            file("host/x", "/etc/rancher/k3s/registries.yaml", 0o600, None),
        )],
        "is a directory or special file",
    );
    // An ELF binary for another architecture.
    let mut elf = std::fs::read(AGENT).unwrap()[..64].to_vec();
    let other: u16 = if std::env::consts::ARCH == "aarch64" {
        62
    } else {
        183
    };
    elf[18..20].copy_from_slice(&other.to_le_bytes());
    refused(
        &h,
        6,
        vec![(
            "host/k3s",
            elf,
            file("host/k3s", "/usr/local/bin/k3s", 0o755, None),
        )],
        "ELF header",
    );
    // Declared for another architecture only: nothing for this device, nothing installed.
    let mut arm = file("host/k3s", "/usr/local/bin/k3s", 0o755, None);
    arm.arch = if std::env::consts::ARCH == "aarch64" {
        Arch::X86_64
    } else {
        Arch::Aarch64
    };
    h.publish(7, vec![("host/k3s", data.clone(), arm)], vec![]);
    let (code, out) = h.env.sync();
    assert_eq!(code, 0, "{out}");
    assert!(h.read("/usr/local/bin/k3s").is_none());
    // A ferry-agent below the running version.
    refused(
        &h,
        8,
        vec![(
            "host/a",
            data.clone(),
            file("host/a", "/usr/bin/ferry-agent", 0o755, Some("0.0.1")),
        )],
        "downgrade refused",
    );
    assert!(h.read("/usr/bin/ferry-agent").is_none());
    let journal = h.events();
    assert!(!journal.contains("host-applied"), "{journal}");
}

#[test]
fn host_payloads_are_refused_unless_enabled() {
    let env = Env::new();
    env.publish_raw(&env.drop_dir(), "app", 1, &[("host/x", b"x")], |m| {
        m.host = Some(HostSection {
            files: vec![file("host/x", "/usr/local/bin/k3s", 0o755, None)],
            units: vec![],
        })
    });
    let (code, out) = env.sync();
    assert_eq!(code, 1, "{out}");
    assert!(out.contains("host payloads are not enabled"), "{out}");
}

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
