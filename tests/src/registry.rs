//! Debian's `docker-registry` (CNCF distribution) on loopback, over TLS with a generated CA,
//! optionally with htpasswd (bcrypt) basic auth. Started by the tests themselves.

use crate::kube_sim::Pki;
use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// The path prefix of the requests [`TestRegistry::requests`] sends to mark the log.
const MARK: &str = "/v2/ferry-log-mark-";

pub struct TestRegistry {
    /// `host:port`.
    pub host: String,
    child: Child,
    dir: tempfile::TempDir,
    /// Requests the registry logged: (method, uri).
    log: std::sync::Arc<std::sync::Mutex<Vec<(String, String)>>>,
}

impl TestRegistry {
    /// Starts the registry; with `user`, requires that user (password `password`).
    pub fn start(user: Option<(&str, &str)>) -> anyhow::Result<Self> {
        let dir = tempfile::tempdir()?;
        let pki = Pki::generate()?;
        std::fs::write(dir.path().join("ca.pem"), &pki.ca_pem)?;
        std::fs::write(dir.path().join("server.pem"), &pki.server_cert_pem)?;
        std::fs::write(dir.path().join("server-key.pem"), &pki.server_key_pem)?;
        let mut auth = String::new();
        if let Some((u, p)) = user {
            let out = Command::new("htpasswd")
                .args(["-Bbn", u, p])
                .output()
                .map_err(|e| anyhow::anyhow!("htpasswd (apache2-utils): {e}"))?;
            anyhow::ensure!(out.status.success(), "htpasswd failed");
            std::fs::write(dir.path().join("htpasswd"), &out.stdout)?;
            auth = format!(
                "auth:\n  htpasswd:\n    realm: ferry-test\n    path: {}\n",
                dir.path().join("htpasswd").display()
            );
        }
        let config = format!(
            "version: 0.1\nlog:\n  level: info\nstorage:\n  filesystem:\n    rootdirectory: {}\n  delete:\n    enabled: true\nhttp:\n  addr: 127.0.0.1:0\n  tls:\n    certificate: {}\n    key: {}\n{auth}",
            dir.path().join("data").display(),
            dir.path().join("server.pem").display(),
            dir.path().join("server-key.pem").display(),
        );
        std::fs::write(dir.path().join("config.yml"), config)?;
        let mut child = Command::new("docker-registry")
            .arg("serve")
            .arg(dir.path().join("config.yml"))
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .map_err(|e| {
                anyhow::anyhow!("docker-registry (Debian package docker-registry): {e}")
            })?;
        let stderr = child
            .stderr
            .take()
            .ok_or_else(|| anyhow::anyhow!("no stderr"))?;
        let (tx, rx) = std::sync::mpsc::channel();
        let log = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
        let log_w = log.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                if line.contains("response completed") {
                    let field = |name: &str| {
                        line.split(&format!("{name}="))
                            .nth(1)
                            .map(|v| {
                                v.trim_start_matches('"')
                                    .split(['"', ' '])
                                    .next()
                                    .unwrap_or_default()
                                    .to_string()
                            })
                            .unwrap_or_default()
                    };
                    log_w
                        .lock()
                        .unwrap_or_else(|e| e.into_inner())
                        .push((field("http.request.method"), field("http.request.uri")));
                }
                if let Some(pos) = line.find("listening on ") {
                    let addr: String = line[pos + 13..]
                        .chars()
                        .take_while(|c| !c.is_whitespace() && !matches!(c, '"' | ','))
                        .collect();
                    let _ = tx.send(addr);
                }
            }
        });
        let deadline = Instant::now() + Duration::from_secs(20);
        let host = loop {
            if let Ok(a) = rx.recv_timeout(Duration::from_millis(100)) {
                break a.replace("[::]", "127.0.0.1");
            }
            anyhow::ensure!(
                Instant::now() < deadline,
                "docker-registry did not report its address"
            );
        };
        Ok(TestRegistry {
            host,
            child,
            dir,
            log,
        })
    }

    /// Requests completed so far, as (method, uri). The registry logs a request after it
    /// answered it, so this first sends a mark request of its own and waits (bounded) until
    /// the registry logged it: every request answered before it is in the log by then. Marks
    /// are left out of the answer.
    pub fn requests(&self) -> Vec<(String, String)> {
        self.await_mark();
        self.log
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .iter()
            .filter(|(_, uri)| !uri.starts_with(MARK))
            .cloned()
            .collect()
    }

    pub fn clear_requests(&self) {
        self.await_mark();
        self.log.lock().unwrap_or_else(|e| e.into_inner()).clear();
    }

    /// Sends `GET /v2/ferry-log-mark-<n>/tags/list` (an unknown repository: 404, or 401 with
    /// auth) and waits until the registry's log shows it.
    fn await_mark(&self) {
        static NEXT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
        let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        let uri = format!("{MARK}{n}/tags/list");
        let ca = std::fs::read_to_string(self.ca_file()).expect("the registry's CA");
        let agent = crate::client::agent_with(&ca, None);
        let _ = agent.get(format!("https://{}{uri}", self.host)).call();
        let deadline = Instant::now() + Duration::from_secs(20);
        while !self
            .log
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .iter()
            .any(|(_, u)| *u == uri)
        {
            assert!(
                Instant::now() < deadline,
                "docker-registry never logged {uri}"
            );
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    /// Stops the registry process (its files stay until the value is dropped).
    pub fn stop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    pub fn ca_file(&self) -> PathBuf {
        self.dir.path().join("ca.pem")
    }

    /// `oci://host:port/<repo>`.
    pub fn url(&self, repo: &str) -> String {
        format!("oci://{}/{repo}", self.host)
    }
}

impl Drop for TestRegistry {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
