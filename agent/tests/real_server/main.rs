//! ferry end to end on the real control plane (`tests/control-plane`: kube-apiserver and
//! kube-controller-manager v1.37.2 over etcd, a node stand-in for the kubelet): the real
//! `ferry-agent` binary syncs the corpus and the k3s examples healthy through the real
//! controllers and writes nothing on a pass without change; drift, other managers, the HPA's
//! `/scale`, immutable fields, finalizers, rollback, prune and tenancy against real
//! authorization; API Priority and Fairness 429s and an apiserver killed mid-sync on control
//! planes of their own.
//!
//! Requests are counted from the apiserver's own audit log (one event per request, the
//! `ferry-agent/...` user agent picked out), so the figures are what the server saw. Every ferry
//! run of this binary holds [`PASSES`], so each pass's count is its own.

#[path = "../common/mod.rs"]
mod common;
#[path = "../server_support/mod.rs"]
mod server_support;

mod corpus;
mod faults;
mod health;
mod kill;
mod lifecycle;
mod ownership;
mod secrets;

use common::*;
use ferry_tests::control_plane::{self, ControlPlane};
use server_support::Server;
use std::path::PathBuf;
use std::sync::{Mutex, OnceLock};
use std::time::{Duration, Instant};

/// Audit policy: one Metadata event per request when it completes; the controllers' own
/// traffic (service accounts, the controller-manager, the apiserver) is left out.
const AUDIT_POLICY: &str = "apiVersion: audit.k8s.io/v1\nkind: Policy\nomitStages: [RequestReceived, ResponseStarted]\nrules:\n- level: None\n  userGroups: [system:serviceaccounts, system:nodes]\n- level: None\n  users: [system:kube-controller-manager, system:apiserver, system:kube-scheduler]\n- level: Metadata\n";

/// A control plane with an audit log.
pub struct Audited {
    pub cp: ControlPlane,
    pub audit: PathBuf,
    /// Holds the audit policy and log; removed when a dedicated control plane's test ends.
    _dir: tempfile::TempDir,
}

/// Starts a control plane of its own with audit logging and `args`.
pub fn audited(args: &[&str]) -> Audited {
    let dir = tempfile::Builder::new()
        .prefix("ferry-audit-")
        .tempdir()
        .unwrap();
    let policy = dir.path().join("policy.yaml");
    std::fs::write(&policy, AUDIT_POLICY).unwrap();
    let audit = dir.path().join("audit.log");
    let mut all = vec![
        format!("--audit-policy-file={}", policy.display()),
        format!("--audit-log-path={}", audit.display()),
    ];
    all.extend(args.iter().map(|a| a.to_string()));
    let all: Vec<&str> = all.iter().map(String::as_str).collect();
    let cp = control_plane::start(&all).unwrap_or_else(|e| panic!("control plane: {e}"));
    eprintln!("control plane ready in {:.1}s", cp.start_seconds);
    Audited {
        cp,
        audit,
        _dir: dir,
    }
}

static SHARED: OnceLock<Audited> = OnceLock::new();

/// The control plane of this test binary.
pub fn shared() -> &'static Audited {
    SHARED.get_or_init(|| audited(&[]))
}

/// Held by every ferry run of this binary, so a pass's audit events are its own.
static PASSES: Mutex<()> = Mutex::new(());

/// What the server saw of one ferry pass.
#[derive(Debug, Default, Clone)]
pub struct Count {
    pub requests: usize,
    /// `VERB uri` of each write (dry runs excluded).
    pub write_uris: Vec<String>,
    pub writes: usize,
    pub dry_runs: usize,
    /// The URI of each dry-run apply.
    pub dry_run_uris: Vec<String>,
    /// The URI of each GET of a single object.
    pub get_uris: Vec<String>,
    pub throttled: usize,
    pub seconds: f64,
}

/// A test's agent on a real control plane.
pub struct Real<'a> {
    pub env: Env,
    pub at: &'a Audited,
    pub server: Server<'a>,
}

impl<'a> Real<'a> {
    /// A fresh agent on `at`, with `extra` lines in its sync.
    pub fn new(at: &'a Audited, extra: &str) -> Self {
        let env = Env::new();
        let server = Server::real(&at.cp);
        server.config(&env, extra);
        Real { env, at, server }
    }

    pub fn config(&self, extra: &str) {
        self.server.config(&self.env, extra);
    }

    /// One `sync --once` (exit code, output) and what the server saw of it.
    pub fn sync(&self, label: &str) -> (i32, String, Count) {
        let _one = PASSES.lock().unwrap_or_else(|e| e.into_inner());
        let from = std::fs::metadata(&self.at.audit).map_or(0, |m| m.len());
        let started = Instant::now();
        let (code, out) = self.env.sync();
        let mut count = audit_count(&self.at.audit, from);
        count.seconds = started.elapsed().as_secs_f64();
        eprintln!(
            "{label}: exit {code}, {:.1}s, {} requests, {} writes, {} dry runs, {} throttled",
            count.seconds, count.requests, count.writes, count.dry_runs, count.throttled
        );
        if count.dry_runs < 4 {
            for u in &count.dry_run_uris {
                eprintln!("  dry run: {u}");
            }
        }
        (code, out, count)
    }

    /// A pass that must succeed.
    pub fn pass(&self, label: &str) -> (String, Count) {
        let (code, out, count) = self.sync(label);
        assert_eq!(code, 0, "{label}: {out}");
        (out, count)
    }

    /// A pass that must find the revision up to date and write nothing.
    pub fn quiet(&self, label: &str) -> Count {
        let (out, count) = self.pass(label);
        assert!(
            out.contains("up to date, nothing written"),
            "{label}: {out}"
        );
        assert_eq!(count.writes, 0, "{label}: {:?}", count.write_uris);
        count
    }

    pub fn kubectl(&self, args: &[&str]) -> String {
        self.at.cp.kubectl(args)
    }

    /// `kubectl get -o jsonpath=..`.
    pub fn get(&self, what: &[&str], path: &str) -> String {
        let mut args = vec!["get"];
        args.extend_from_slice(what);
        let p = format!("jsonpath={path}");
        args.extend_from_slice(&["-o", &p]);
        self.kubectl(&args)
    }

    /// Polls `get(what, path)` until it equals `want`, for at most `within`.
    pub fn wait_for(&self, what: &[&str], path: &str, want: &str, within: Duration) {
        let deadline = Instant::now() + within;
        loop {
            let have = self.get(what, path);
            if have == want {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "{what:?} {path}: {have:?}, not {want:?} after {within:?}"
            );
            std::thread::sleep(Duration::from_millis(200));
        }
    }

    /// Applies `yaml` with kubectl (server-side, as `manager`).
    pub fn apply_as(&self, manager: &str, yaml: &str) {
        let path = self.env.dir.path().join(format!("{manager}.yaml"));
        std::fs::write(&path, yaml).unwrap();
        self.kubectl(&[
            "apply",
            "--server-side",
            &format!("--field-manager={manager}"),
            "-f",
            path.to_str().unwrap(),
        ]);
    }
}

/// The ferry requests in the audit log after byte `from`.
pub fn audit_count(path: &std::path::Path, from: u64) -> Count {
    let text = std::fs::read(path).unwrap_or_default();
    let text = String::from_utf8_lossy(&text[(from as usize).min(text.len())..]).into_owned();
    let mut c = Count::default();
    for line in text.lines() {
        let Ok(e) = serde_json::from_str::<serde_json::Value>(line) else {
            continue;
        };
        if !e["userAgent"]
            .as_str()
            .is_some_and(|u| u.starts_with("ferry-agent/"))
        {
            continue;
        }
        c.requests += 1;
        let uri = e["requestURI"].as_str().unwrap_or("");
        let verb = e["verb"].as_str().unwrap_or("");
        let dry = uri.contains("dryRun=All");
        if dry {
            c.dry_runs += 1;
            c.dry_run_uris.push(uri.to_string());
        } else if matches!(
            verb,
            "create" | "update" | "patch" | "delete" | "deletecollection"
        ) {
            c.writes += 1;
            c.write_uris.push(format!("{verb} {uri}"));
        }
        if verb == "get" {
            c.get_uris.push(uri.to_string());
        }
        if e["responseStatus"]["code"] == 429 {
            c.throttled += 1;
        }
    }
    c
}

/// Objects in a set of manifests (documents with a `kind`).
pub fn objects(files: &[(&str, String)]) -> usize {
    files
        .iter()
        .map(|(_, t)| t.matches("\nkind: ").count() + usize::from(t.starts_with("kind: ")))
        .sum()
}
