//! The test root, the stand-in k3s and bundle publishing shared by the host tests.

#![allow(dead_code)]

pub use crate::common::*;
pub use ferry_bundle::host::{Arch, HealthCheck, HostFile, HostSection, HostUnit};
pub use std::path::{Path, PathBuf};
pub use std::process::Command;

pub const EXAMPLE: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../k3s-examples/host");
pub const AGENT: &str = env!("CARGO_BIN_EXE_ferry-agent");
pub const VERSION: &str = env!("CARGO_PKG_VERSION");

/// A stand-in k3s: `server` serves /readyz and /version (python3 http.server) on the
/// `https-listen-port` of `$HOST_ROOT/etc/rancher/k3s/config.yaml` (plain HTTP);
/// `kubectl get --raw PATH` asks it. `version` is what /version reports.
pub fn fake_k3s(version: &str) -> Vec<u8> {
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

pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

pub struct Host {
    pub env: Env,
    pub root: PathBuf,
    pub port: u16,
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

pub fn file(source: &str, target: &str, mode: u32, version: Option<&str>) -> HostFile {
    HostFile {
        source: source.into(),
        target: target.into(),
        mode,
        uid: 0,
        gid: 0,
        arch: Arch::Any,
        version: version.map(String::from),
        allow_downgrade: false,
        sops: false,
    }
}

pub fn k3s_unit() -> HostUnit {
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
            file: None,
            timeout_seconds: 20,
        },
    }
}

/// The sync lines of the standard host-capable sync.
pub const HOST_SYNC: &str = "timeout: 5s\nhost: {enabled: true}";

impl Host {
    /// A test root and an agent whose sync `app` is host-capable.
    pub fn new() -> Self {
        Self::with_sync(HOST_SYNC)
    }

    /// A test root and an agent whose sync `app` has the lines `sync` (host-capable or not).
    pub fn with_sync(sync: &str) -> Self {
        let env = Env::new();
        let root = env.dir.path().join("root");
        std::fs::create_dir_all(root.join("usr/bin")).unwrap();
        let h = Host {
            port: free_port(),
            root,
            env,
        };
        h.env.write_config_full(&h.host_config(), sync);
        h
    }

    /// The agent's `host` section (and limits) for this test root.
    pub fn host_config(&self) -> String {
        format!(
            "limits: {{maxFileBytes: 536870912, maxTotalBytes: 1073741824}}\nhost:\n  enabled: true\n  root: {}\n  allow: [/usr/bin/ferry-agent, /usr/local/bin/k3s, /etc/rancher/k3s/]\n  allowUnits: [k3s.service]\n  healthExecutables: [/usr/local/bin/k3s]\n  units:\n    type: process\n    stateDir: {}\n    units:\n      k3s.service: [/usr/local/bin/k3s, server]\n",
            self.root.display(),
            self.env.dir.path().join("units").display()
        )
    }

    pub fn config_yaml(&self, tag: &str) -> Vec<u8> {
        let text = std::fs::read_to_string(format!("{EXAMPLE}/bundle/host/config.yaml")).unwrap();
        format!("# {tag}\n{text}")
            .replace(
                "https-listen-port: 6443",
                &format!("https-listen-port: {}", self.port),
            )
            .into_bytes()
    }

    /// Publishes revision `rev` with host `files` ((bundle path, content, HostFile)).
    pub fn publish(&self, rev: u64, files: Vec<(&str, Vec<u8>, HostFile)>, units: Vec<HostUnit>) {
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

    pub fn standard(&self, rev: u64, k3s_version: &str) {
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

    /// Publishes revision `rev` with a k3s that exits at once (health gives up after
    /// `health_timeout` seconds) and a config.yaml tagged "broken".
    pub fn publish_broken_k3s(&self, rev: u64, health_timeout: u64) {
        let mut unit = k3s_unit();
        unit.health.timeout_seconds = health_timeout;
        self.publish(
            rev,
            vec![
                (
                    "host/k3s",
                    b"#!/bin/sh\nexit 1\n".to_vec(),
                    file("host/k3s", "/usr/local/bin/k3s", 0o755, None),
                ),
                (
                    "host/config.yaml",
                    self.config_yaml("broken"),
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
    }

    pub fn path(&self, target: &str) -> PathBuf {
        self.root.join(target.trim_start_matches('/'))
    }

    pub fn read(&self, target: &str) -> Option<Vec<u8>> {
        std::fs::read(self.path(target)).ok()
    }

    pub fn api_version(&self) -> String {
        let o = Command::new(self.path("/usr/local/bin/k3s"))
            .args(["kubectl", "get", "--raw", "/version"])
            .env("HOST_ROOT", &self.root)
            .output()
            .unwrap();
        String::from_utf8_lossy(&o.stdout).trim().to_string()
    }

    pub fn run(&self, exe: &Path, args: &[&str], env: &[(&str, &str)]) -> (i32, String) {
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

    pub fn events(&self) -> String {
        String::from_utf8_lossy(&self.env.agent(&["events", "--limit", "50"]).stdout).into_owned()
    }
}
