//! kube-sim: an in-memory Kubernetes API server that behaves like k3s's for everything ferry
//! uses, and that `kubectl` accepts. See `docs/kube-sim.md` for what it does and does not do.
//!
//! ```no_run
//! let sim = ferry_tests::kube_sim::KubeSim::start(Default::default()).unwrap();
//! println!("{}", sim.kubeconfig_path().display());
//! ```

mod api;
pub mod clock;
pub mod controllers;
pub mod deletion;
mod discovery;
mod errors;
pub mod faults;
pub mod fields;
pub mod http;
mod lists;
mod openapi;
mod rbac;
mod resources;
pub mod roundtrip;
pub mod schema;
pub mod selectors;
pub mod store;
pub mod subresources;
mod tables;
mod tls;
mod validate;

pub use clock::ClockMode;
pub use faults::ThrottleBody;
pub use store::SimConfig;
pub use tls::Pki;

use base64::Engine;
use serde_json::Value;
use std::net::{SocketAddr, TcpListener};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use store::State;

/// Faults a test can switch on; all off by default.
#[derive(Debug, Clone)]
pub struct Faults {
    /// Delay before every request is handled.
    pub latency: Duration,
    /// Share (0..1) of requests answered with `error_status`.
    pub error_ratio: f64,
    /// Share (0..1) of requests whose connection is closed without an answer.
    pub drop_ratio: f64,
    /// The next N requests get `error_status`.
    pub fail_next: u32,
    /// The next N requests have their connection dropped.
    pub drop_next: u32,
    pub error_status: u16,
    /// Seed of the deterministic generator behind the ratios.
    pub seed: u64,
    /// The next N requests get 429 with `Retry-After: retry_after_secs`.
    pub throttle_next: u32,
    pub retry_after_secs: u32,
    /// What the 429 body looks like (APF text, or a Status).
    pub throttle_body: ThrottleBody,
    /// The next N requests get k3s's 503 "apiserver not ready" (set by `restart_not_ready`).
    pub not_ready_next: u32,
    /// The next N requests that carry a `continue` token find the store compacted past it
    /// (as if etcd compacted between two pages): 410 Expired.
    pub expire_continue_next: u32,
}

impl Default for Faults {
    fn default() -> Self {
        Faults {
            latency: Duration::ZERO,
            error_ratio: 0.0,
            drop_ratio: 0.0,
            fail_next: 0,
            drop_next: 0,
            error_status: 503,
            seed: 0x9E37_79B9_7F4A_7C15,
            throttle_next: 0,
            retry_after_secs: 1,
            throttle_body: ThrottleBody::default(),
            not_ready_next: 0,
            expire_continue_next: 0,
        }
    }
}

impl Faults {
    /// A deterministic pseudo-random number in 0..1 (xorshift), so fault runs repeat.
    fn roll(&mut self) -> f64 {
        let mut x = self.seed;
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        self.seed = x;
        (x >> 11) as f64 / (1u64 << 53) as f64
    }
}

/// One request as the log records it.
#[derive(Debug, Clone)]
pub struct LogEntry {
    pub method: String,
    pub path: String,
    pub query: String,
    pub content_type: String,
    pub status: u16,
    pub user: String,
    /// The client's User-Agent (ferry-agent names its node there on a site).
    pub user_agent: String,
}

impl LogEntry {
    /// True for verbs that change state (dry runs excluded).
    pub fn is_write(&self) -> bool {
        matches!(self.method.as_str(), "POST" | "PUT" | "PATCH" | "DELETE")
            && !self.query.contains("dryRun=All")
    }
}

/// Shared state behind the HTTP handler.
pub struct Inner {
    pub(crate) state: Mutex<State>,
    pub(crate) log: Mutex<Vec<LogEntry>>,
    pub(crate) faults: Mutex<Faults>,
    pub(crate) token: String,
}

/// Options for [`KubeSim::start`].
#[derive(Debug, Clone, Default)]
pub struct SimOptions {
    /// Port to bind on 127.0.0.1; 0 picks a free one.
    pub port: u16,
    pub config: SimConfig,
}

/// A running kube-sim.
pub struct KubeSim {
    pub addr: SocketAddr,
    pub pki: Pki,
    pub token: String,
    inner: Arc<Inner>,
    stop: Arc<AtomicBool>,
    serving: Option<http::Serving>,
    dir: tempfile::TempDir,
}

impl KubeSim {
    /// Generates certificates, binds 127.0.0.1:`port` and serves in background threads.
    pub fn start(opts: SimOptions) -> anyhow::Result<KubeSim> {
        let pki = Pki::generate()?;
        let token = hex::encode(sha2::Sha256::digest_bytes(pki.client_key_pem.as_bytes()))[..40]
            .to_string();
        let inner = Arc::new(Inner {
            state: Mutex::new(State::new(opts.config.clone())),
            log: Mutex::new(Vec::new()),
            faults: Mutex::new(Faults::default()),
            token: token.clone(),
        });
        let listener = TcpListener::bind(("127.0.0.1", opts.port))?;
        let addr = listener.local_addr()?;
        let stop = Arc::new(AtomicBool::new(false));
        let serving = http::serve(
            listener,
            pki.server_config()?,
            Arc::new(api::Api(inner.clone())),
            stop.clone(),
        );
        let sim = KubeSim {
            addr,
            pki,
            token,
            inner,
            stop,
            serving: Some(serving),
            dir: tempfile::tempdir()?,
        };
        sim.write_kubeconfig(&sim.kubeconfig_path(), false)?;
        sim.write_kubeconfig(&sim.token_kubeconfig_path(), true)?;
        Ok(sim)
    }

    pub fn url(&self) -> String {
        format!("https://{}", self.addr)
    }

    /// A kubeconfig with CA and client certificate (the k3s layout).
    pub fn kubeconfig_path(&self) -> PathBuf {
        self.dir.path().join("k3s.yaml")
    }

    /// A kubeconfig with CA and bearer token.
    pub fn token_kubeconfig_path(&self) -> PathBuf {
        self.dir.path().join("token.yaml")
    }

    /// Writes a kubeconfig like `/etc/rancher/k3s/k3s.yaml` (or with a token instead of a
    /// client certificate).
    pub fn write_kubeconfig(&self, path: &Path, with_token: bool) -> anyhow::Result<()> {
        let b64 = |s: &str| base64::engine::general_purpose::STANDARD.encode(s);
        let user = if with_token {
            format!("    token: {}\n", self.token)
        } else {
            format!(
                "    client-certificate-data: {}\n    client-key-data: {}\n",
                b64(&self.pki.client_cert_pem),
                b64(&self.pki.client_key_pem)
            )
        };
        let text = format!(
            "apiVersion: v1\nclusters:\n- cluster:\n    certificate-authority-data: {}\n    server: {}\n  name: default\ncontexts:\n- context:\n    cluster: default\n    user: default\n  name: default\ncurrent-context: default\nkind: Config\npreferences: {{}}\nusers:\n- name: default\n  user:\n{user}",
            b64(&self.pki.ca_pem),
            self.url()
        );
        std::fs::write(path, text)?;
        Ok(())
    }

    /// Every request served so far.
    pub fn log(&self) -> Vec<LogEntry> {
        self.inner
            .log
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    pub fn clear_log(&self) {
        self.inner
            .log
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clear();
    }

    /// Requests that changed (or tried to change) state.
    pub fn writes(&self) -> Vec<LogEntry> {
        self.log().into_iter().filter(LogEntry::is_write).collect()
    }

    pub fn set_faults(&self, faults: Faults) {
        *self.inner.faults.lock().unwrap_or_else(|e| e.into_inner()) = faults;
    }

    /// Runs `f` on the state, for assertions and direct edits (controllers do not move).
    pub fn with_state<R>(&self, f: impl FnOnce(&mut State) -> R) -> R {
        let mut s = self.inner.state.lock().unwrap_or_else(|e| e.into_inner());
        f(&mut s)
    }

    /// Switches how the clock moves (per request, or only when the test says so).
    pub fn set_clock_mode(&self, mode: ClockMode) {
        self.with_state(|s| s.config.clock = mode);
    }

    /// One pass of every controller at the current simulated time; true if anything changed.
    pub fn step(&self) -> bool {
        self.with_state(|s| s.controller_pass())
    }

    /// Controller passes until nothing changes; returns the number of passes.
    pub fn settle(&self) -> usize {
        self.with_state(|s| s.settle())
    }

    /// Moves the simulated clock forward and lets the controllers settle.
    pub fn advance(&self, by: Duration) -> usize {
        self.with_state(|s| s.advance(by))
    }

    /// Compacts the store: every `continue` token issued so far expires (410 Expired).
    pub fn compact(&self) {
        self.with_state(State::compact);
    }

    /// Like [`KubeSim::restart`], but the server comes back answering the first `requests`
    /// requests with k3s's 503 "apiserver not ready" (its apiserver still starting), where
    /// `restart` alone refuses connections while it is down.
    pub fn restart_not_ready(&mut self, keep_state: bool, requests: u32) -> anyhow::Result<()> {
        self.restart(keep_state)?;
        self.inner
            .faults
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .not_ready_next = requests;
        Ok(())
    }

    /// The object as the API would return it, if it exists.
    pub fn object(&self, group: &str, kind: &str, namespace: &str, name: &str) -> Option<Value> {
        self.with_state(|s| {
            let rt = s.rt_by_kind(group, kind)?;
            s.get(&rt, namespace, name).ok()
        })
    }

    /// Stops serving, then serves again on the same port; with `keep_state == false` the
    /// cluster comes back empty (as a k3s whose datastore was lost).
    pub fn restart(&mut self, keep_state: bool) -> anyhow::Result<()> {
        self.stop.store(true, Ordering::SeqCst);
        if let Some(serving) = self.serving.take() {
            serving.join();
        }
        if !keep_state {
            self.inner
                .state
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .wipe();
        }
        let listener = TcpListener::bind(self.addr)?;
        self.stop = Arc::new(AtomicBool::new(false));
        self.serving = Some(http::serve(
            listener,
            self.pki.server_config()?,
            Arc::new(api::Api(self.inner.clone())),
            self.stop.clone(),
        ));
        Ok(())
    }
}

impl Drop for KubeSim {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
    }
}

trait DigestBytes {
    fn digest_bytes(data: &[u8]) -> Vec<u8>;
}

impl DigestBytes for sha2::Sha256 {
    fn digest_bytes(data: &[u8]) -> Vec<u8> {
        use sha2::Digest;
        sha2::Sha256::digest(data).to_vec()
    }
}
