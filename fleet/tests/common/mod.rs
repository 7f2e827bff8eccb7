//! Test harness: a real `ferry-fleet` process over TLS with a trial PKI (`dev-setup`), a clock
//! file the test moves, and HTTPS clients (token or device certificate) built with ferry's own
//! TLS client settings.

#![allow(dead_code)]

pub mod agents;
pub mod chromium;
pub mod hydra;
pub mod web;

use ferry_fleet::pgtest::TestPostgres;
use std::io::BufRead;
use std::net::TcpStream;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::Duration;

pub enum StoreKind {
    Sqlite,
    Postgres,
    /// A PostgreSQL server another receiver may share (the test keeps it).
    PostgresAt(String),
}

pub struct Receiver {
    /// The receiver's "now" at start (the real time, so agent and receiver times agree).
    pub t0: i64,
    pub dir: tempfile::TempDir,
    child: Child,
    pub url: String,
    pg: Option<TestPostgres>,
    /// An operator API token (`ferry-fleet token add tests --role operator`) for [`Self::get`].
    pub api_token: String,
}

impl Receiver {
    pub fn start(devices: &[&str], store: StoreKind) -> Self {
        Self::start_with(devices, store, "")
    }

    /// Like [`Receiver::start`], with more lines for `fleet.yaml` (e.g. `idleTimeout: 1s`).
    pub fn start_with(devices: &[&str], store: StoreKind, extra_config: &str) -> Self {
        Self::start_on(devices, store, extra_config, 0)
    }

    /// Like [`Receiver::start_with`], listening on `port` of 127.0.0.1 (0: any free port).
    pub fn start_on(devices: &[&str], store: StoreKind, extra_config: &str, port: u16) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let mut args = vec!["dev-setup".to_string(), dir.path().display().to_string()];
        for d in devices {
            args.push("--device".into());
            args.push(d.to_string());
        }
        args.extend(["--listen".into(), format!("127.0.0.1:{port}")]);
        let out = Command::new(env!("CARGO_BIN_EXE_ferry-fleet"))
            .args(&args)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let (pg, pg_url) = match store {
            StoreKind::Sqlite => (None, None),
            StoreKind::Postgres => {
                let pg = TestPostgres::start().unwrap();
                let url = pg.url();
                (Some(pg), Some(url))
            }
            StoreKind::PostgresAt(url) => (None, Some(url)),
        };
        let cfg = dir.path().join("fleet.yaml");
        let mut text = std::fs::read_to_string(&cfg).unwrap();
        if let Some(url) = &pg_url {
            text = text.replace("  sqlite: fleet.db", &format!("  postgres: \"{url}\""));
        }
        text.push_str("clockFile: clock\nmaxBodyBytes: 65536\n");
        text.push_str(extra_config);
        std::fs::write(&cfg, text).unwrap();
        let t0 = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_secs() as i64;
        std::fs::write(dir.path().join("clock"), t0.to_string()).unwrap();
        // One token name per receiver: several receivers may share one database.
        static RECEIVERS: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
        let n = RECEIVERS.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let name = format!("tests-{}-{n}", std::process::id());
        let api_token = fleet_cli(&cfg, &["token", "add", &name, "--role", "operator"], "");
        let mut child = Command::new(env!("CARGO_BIN_EXE_ferry-fleet"))
            .args(["run", "--config"])
            .arg(&cfg)
            .stdout(Stdio::piped())
            .stderr(if std::env::var("FLEET_DEBUG").is_ok() {
                Stdio::inherit()
            } else {
                // Kept for tests that read the receiver's log ([`Receiver::log`]).
                Stdio::from(std::fs::File::create(dir.path().join("receiver.log")).unwrap())
            })
            .spawn()
            .unwrap();
        let mut line = String::new();
        std::io::BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        let url = line
            .trim()
            .strip_prefix("listening on ")
            .unwrap_or_else(|| panic!("no address: {line:?}"))
            .to_string();
        Receiver {
            t0,
            dir,
            child,
            url,
            pg,
            api_token,
        }
    }

    /// `ferry-fleet user add NAME --role ROLE` with `password` on standard input.
    pub fn add_user(&self, name: &str, role: &str, password: &str) {
        fleet_cli(
            &self.path("fleet.yaml"),
            &["user", "add", name, "--role", role],
            &format!("{password}\n"),
        );
    }

    /// A client that shows redirects instead of following them (for sign-in flows).
    pub fn raw_client(&self) -> ureq::Agent {
        let ca = std::fs::read(self.path("ca.pem")).unwrap();
        let tls =
            ferry_bundle::tls::client_config(ferry_bundle::tls::Roots::Pem(&ca), None).unwrap();
        ureq::Agent::config_builder()
            .tls_config(tls)
            .http_status_as_error(false)
            .max_redirects(0)
            .save_redirect_history(false)
            .build()
            .new_agent()
    }

    /// A line of the receiver process's `/proc/PID/status` (`VmRSS`, `VmHWM`) in KiB.
    pub fn memory_kib(&self, field: &str) -> u64 {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.child.id())).unwrap();
        status
            .lines()
            .find_map(|l| l.strip_prefix(field)?.strip_prefix(':'))
            .and_then(|v| v.trim().trim_end_matches(" kB").parse().ok())
            .unwrap_or_else(|| panic!("no {field} in {status}"))
    }

    /// The receiver's process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// What the receiver logged so far (empty with `FLEET_DEBUG`, which shows it instead).
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.path("receiver.log")).unwrap_or_default()
    }

    pub fn path(&self, p: &str) -> PathBuf {
        self.dir.path().join(p)
    }

    pub fn set_clock(&self, t: i64) {
        std::fs::write(self.path("clock"), t.to_string()).unwrap();
    }

    pub fn token(&self, device: &str) -> String {
        std::fs::read_to_string(self.path(&format!("devices/{device}.token"))).unwrap()
    }

    /// A client trusting the trial CA, presenting `cert`'s device certificate if given.
    pub fn client(&self, cert: Option<&str>) -> ureq::Agent {
        let ca = std::fs::read(self.path("ca.pem")).unwrap();
        let client = cert.map(|d| {
            (
                std::fs::read(self.path(&format!("devices/{d}.pem"))).unwrap(),
                std::fs::read(self.path(&format!("devices/{d}-key.pem"))).unwrap(),
            )
        });
        let tls = ferry_bundle::tls::client_config(
            ferry_bundle::tls::Roots::Pem(&ca),
            client.as_ref().map(|(c, k)| (c.as_slice(), k.as_slice())),
        )
        .unwrap();
        ureq::Agent::config_builder()
            .tls_config(tls)
            .http_status_as_error(false)
            .build()
            .new_agent()
    }

    /// POSTs `body` to `path`; returns (status, body).
    pub fn post(
        &self,
        path: &str,
        body: &str,
        token: Option<&str>,
        cert: Option<&str>,
    ) -> Result<(u16, String), ureq::Error> {
        let mut req = self
            .client(cert)
            .post(&format!("{}{path}", self.url))
            .header("Content-Type", "application/json");
        if let Some(t) = token {
            req = req.header("Authorization", &format!("Bearer {t}"));
        }
        let mut resp = req.send(body)?;
        Ok((
            resp.status().as_u16(),
            resp.body_mut().read_to_string().unwrap_or_default(),
        ))
    }

    pub fn get(&self, path: &str) -> (u16, String) {
        let mut resp = self
            .client(None)
            .get(&format!("{}{path}", self.url))
            .header("Authorization", &format!("Bearer {}", self.api_token))
            .call()
            .unwrap();
        (
            resp.status().as_u16(),
            resp.body_mut().read_to_string().unwrap(),
        )
    }

    /// `/metrics` with the scraper's token from `dev-setup` (`metrics.token`).
    pub fn metrics_text(&self) -> String {
        let token = std::fs::read_to_string(self.path("metrics.token")).unwrap();
        let mut resp = self
            .client(None)
            .get(&format!("{}/metrics", self.url))
            .header("Authorization", &format!("Bearer {token}"))
            .call()
            .unwrap();
        assert_eq!(resp.status().as_u16(), 200);
        resp.body_mut().read_to_string().unwrap()
    }

    /// A metric's value from `/metrics` (this request's own handshake included).
    pub fn metric(&self, series: &str) -> f64 {
        let text = self.metrics_text();
        text.lines()
            .find_map(|l| l.strip_prefix(series).and_then(|v| v.trim().parse().ok()))
            .unwrap_or_else(|| panic!("no {series} in {text}"))
    }
}

impl Drop for Receiver {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Runs a ferry-fleet command on `cfg` with `stdin`; its standard output, trimmed.
pub fn fleet_cli(cfg: &std::path::Path, args: &[&str], stdin: &str) -> String {
    use std::io::Write;
    let mut child = Command::new(env!("CARGO_BIN_EXE_ferry-fleet"))
        .args(args)
        .arg("--config")
        .arg(cfg)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(stdin.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "ferry-fleet {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap().trim().to_string()
}

/// A heartbeat body.
pub fn heartbeat(device: &str, health: &str, error: Option<&str>) -> String {
    serde_json::json!({"schema": "ferry.dev/heartbeat/v1", "time": "2026-11-22T10:00:00Z",
        "device": {"id": device, "labels": {"site": "lab"}},
        "agent": {"version": "0.1.0", "uptimeSeconds": 5},
        "syncs": [{"name": "apps", "revision": 1, "highestVerified": 1, "health": health, "lastError": error}],
        "outbox": {"dropped": 0}, "intervalSeconds": 60})
    .to_string()
}

/// A TLS connection to the receiver, not yet sending anything.
pub fn tls(
    r: &Receiver,
) -> std::io::Result<rustls::StreamOwned<rustls::ClientConnection, TcpStream>> {
    use rustls::pki_types::{pem::PemObject, CertificateDer};
    let mut roots = rustls::RootCertStore::empty();
    for c in CertificateDer::pem_file_iter(r.path("ca.pem")).unwrap() {
        roots.add(c.unwrap()).unwrap();
    }
    let cfg = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .unwrap()
    .with_root_certificates(roots)
    .with_no_client_auth();
    let addr = r.url.trim_start_matches("https://").trim_end_matches('/');
    let tcp = TcpStream::connect(addr)?;
    tcp.set_read_timeout(Some(Duration::from_secs(60)))?;
    let conn = rustls::ClientConnection::new(Arc::new(cfg), "localhost".try_into().unwrap())
        .map_err(std::io::Error::other)?;
    let mut s = rustls::StreamOwned::new(conn, tcp);
    while s.conn.is_handshaking() {
        s.conn.complete_io(&mut s.sock)?;
    }
    Ok(s)
}
