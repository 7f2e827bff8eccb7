//! The real Kubernetes control plane for tests: `tests/control-plane` (kube-apiserver and
//! kube-controller-manager from k8s.io/kubernetes, embedded etcd, a node stand-in; see
//! docs/kube-sim.md), started once per test binary by [`shared`] and stopped when the test
//! binary exits (the child exits when its standard input closes). A missing binary or a start
//! that does not finish within [`START_BOUND`] fails the test loudly; nothing is skipped.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{ChildStdin, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc;
use std::sync::{Mutex, OnceLock};
use std::time::{Duration, Instant};

/// The longest a start may take (a cold start on a loaded 2-core machine takes ~10 s).
pub const START_BOUND: Duration = Duration::from_secs(180);

/// How long [`ControlPlane::namespace`] waits for the namespace's default ServiceAccount.
const NAMESPACE_BOUND: Duration = Duration::from_secs(60);

/// One running control plane.
pub struct ControlPlane {
    /// Admin kubeconfig (client certificate in group system:masters, inline data).
    pub kubeconfig: PathBuf,
    /// `https://127.0.0.1:PORT`.
    pub server: String,
    /// The state directory (certificates, etcd data, logs); removed by the child on exit.
    pub dir: PathBuf,
    /// Seconds from spawn to ready, as the child measured them.
    pub start_seconds: f64,
    /// The child's process id.
    pub pid: u32,
    /// Held open for the life of the test binary: its closing stops the child.
    _stdin: Mutex<ChildStdin>,
}

/// Where `tests/run` (or `tests/control-plane/build`) puts the binary.
pub fn binary_path() -> PathBuf {
    if let Some(p) = std::env::var_os("FERRY_CONTROL_PLANE_BIN") {
        return PathBuf::from(p);
    }
    Path::new(env!("CARGO_MANIFEST_DIR")).join("control-plane/bin/ferry-control-plane")
}

static SHARED: OnceLock<Result<ControlPlane, String>> = OnceLock::new();

/// The control plane of this test binary, started on first use. Panics (never skips) when it
/// cannot start.
pub fn shared() -> &'static ControlPlane {
    match SHARED.get_or_init(|| start(&[])) {
        Ok(cp) => cp,
        Err(e) => panic!("the real control plane did not start: {e}"),
    }
}

/// Starts a control plane of its own (e.g. with extra kube-apiserver flags); it lives until
/// the test binary exits.
pub fn start(apiserver_args: &[&str]) -> Result<ControlPlane, String> {
    start_with(apiserver_args, &[])
}

/// [`start`] with flags of the binary itself (e.g. `--helm-controller`).
pub fn start_with(apiserver_args: &[&str], flags: &[&str]) -> Result<ControlPlane, String> {
    let bin = binary_path();
    if !bin.is_file() {
        return Err(format!(
            "{} is missing: build it with tests/control-plane/build (tests/run does)",
            bin.display()
        ));
    }
    let dir = tempfile::Builder::new()
        .prefix("ferry-control-plane-")
        .tempdir()
        .map_err(|e| e.to_string())?
        .keep();
    let stderr_path = dir.join("stderr.log");
    let stderr = std::fs::File::create(&stderr_path).map_err(|e| e.to_string())?;
    let mut cmd = Command::new(&bin);
    cmd.arg("--dir")
        .arg(&dir)
        .arg("--exit-on-stdin-eof")
        .arg("--remove-dir-on-exit");
    for a in apiserver_args {
        cmd.arg(format!("--apiserver-arg={a}"));
    }
    cmd.args(flags);
    let mut child = cmd
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(stderr)
        .spawn()
        .map_err(|e| format!("spawning {}: {e}", bin.display()))?;
    let stdin = child.stdin.take().ok_or("no stdin pipe")?;
    let stdout = child.stdout.take().ok_or("no stdout pipe")?;
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if line.starts_with("ready ") {
                let _ = tx.send(line);
            }
        }
    });
    let started = Instant::now();
    let line = match rx.recv_timeout(START_BOUND) {
        Ok(line) => line,
        Err(_) => {
            let _ = child.kill();
            let _ = child.wait();
            return Err(format!(
                "no ready line within {:?} ({:?} elapsed); stderr: {}; log tail: {}",
                START_BOUND,
                started.elapsed(),
                tail(&stderr_path),
                tail(&dir.join("control-plane.log"))
            ));
        }
    };
    let field = |k: &str| {
        line.split_whitespace()
            .find_map(|w| w.strip_prefix(k))
            .map(str::to_string)
            .ok_or_else(|| format!("ready line without {k}: {line}"))
    };
    let pid = child.id();
    // The child is reaped by nobody: it exits when the test binary (and so its stdin) is gone.
    std::mem::forget(child);
    Ok(ControlPlane {
        kubeconfig: PathBuf::from(field("kubeconfig=")?),
        server: field("server=")?,
        start_seconds: field("seconds=")?.parse().unwrap_or(0.0),
        dir,
        pid,
        _stdin: Mutex::new(stdin),
    })
}

/// The last 2000 bytes of a log file.
fn tail(path: &Path) -> String {
    let text = std::fs::read(path).unwrap_or_default();
    String::from_utf8_lossy(&text[text.len().saturating_sub(2000)..]).into_owned()
}

static NAMESPACES: AtomicUsize = AtomicUsize::new(0);

impl ControlPlane {
    /// A unique, fresh namespace `<prefix>-<pid>-<n>` whose default ServiceAccount exists (so
    /// Pods can be admitted in it).
    pub fn namespace(&self, prefix: &str) -> String {
        let name = format!(
            "{prefix}-{}-{}",
            std::process::id(),
            NAMESPACES.fetch_add(1, Ordering::SeqCst)
        );
        self.kubectl(&["create", "namespace", &name]);
        let deadline = Instant::now() + NAMESPACE_BOUND;
        while !self
            .kubectl_run(&["get", "serviceaccount", "default", "-n", &name])
            .status
            .success()
        {
            assert!(
                Instant::now() < deadline,
                "ServiceAccount {name}/default not created within {NAMESPACE_BOUND:?}"
            );
            std::thread::sleep(Duration::from_millis(100));
        }
        name
    }

    /// Runs kubectl as the admin and expects success; returns stdout.
    pub fn kubectl(&self, args: &[&str]) -> String {
        let o = self.kubectl_run(args);
        assert!(
            o.status.success(),
            "kubectl {args:?}: {}",
            String::from_utf8_lossy(&o.stderr)
        );
        String::from_utf8_lossy(&o.stdout).into_owned()
    }

    /// Runs kubectl as the admin, whatever the outcome.
    pub fn kubectl_run(&self, args: &[&str]) -> std::process::Output {
        Command::new("kubectl")
            .arg("--kubeconfig")
            .arg(&self.kubeconfig)
            .arg("--cache-dir")
            .arg(self.dir.join("kubectl-cache"))
            .args(args)
            .output()
            .expect("kubectl must be installed (tests/run installs it)")
    }

    /// Resident memory of the control plane process, in KiB, from /proc (None if unknown).
    pub fn rss_kib(&self) -> Option<u64> {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.pid)).ok()?;
        status
            .lines()
            .find_map(|l| l.strip_prefix("VmRSS:"))
            .and_then(|v| v.split_whitespace().next()?.parse().ok())
    }
}
