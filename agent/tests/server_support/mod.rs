//! The server an end-to-end scenario runs against, as a kubeconfig: kube-sim (whose request
//! log the scenario may read too) or a real control plane (`sim: None`). Checks of the
//! cluster go through `kubectl`, so the same scenario runs on both.

#![allow(dead_code)]

use super::common::Env;
use ferry_tests::kube_sim::{KubeSim, LogEntry};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::{Duration, Instant};

pub struct Server<'a> {
    pub kubeconfig: PathBuf,
    pub sim: Option<&'a KubeSim>,
}

impl<'a> Server<'a> {
    /// The kube-sim of `env`.
    pub fn sim(env: &'a Env) -> Server<'a> {
        Server {
            kubeconfig: env.sim.kubeconfig_path(),
            sim: Some(&env.sim),
        }
    }

    /// A real control plane (`ferry_tests::control_plane`), by its admin kubeconfig.
    pub fn real(cp: &ferry_tests::control_plane::ControlPlane) -> Server<'a> {
        Server {
            kubeconfig: cp.kubeconfig.clone(),
            sim: None,
        }
    }

    /// Writes `env`'s agent config (`extra` lines in the sync) pointing at this server.
    pub fn config(&self, env: &Env, extra: &str) {
        env.write_config(extra);
        let text = std::fs::read_to_string(&env.config).unwrap().replace(
            &env.sim.kubeconfig_path().display().to_string(),
            &self.kubeconfig.display().to_string(),
        );
        std::fs::write(&env.config, text).unwrap();
    }

    pub fn kubectl(&self, args: &[&str]) -> Output {
        Command::new("kubectl")
            .arg("--kubeconfig")
            .arg(&self.kubeconfig)
            .arg("--cache-dir")
            .arg(self.kubeconfig.with_extension("kubectl-cache"))
            .args(args)
            .output()
            .expect("kubectl must be installed")
    }

    /// `kubectl get -o name` of `what` (e.g. `["jobs", "-n", "ns"]`): the names listed.
    pub fn names(&self, what: &[&str]) -> Vec<String> {
        let mut args = vec!["get"];
        args.extend_from_slice(what);
        args.extend_from_slice(&["-o", "name", "--ignore-not-found"]);
        let o = self.kubectl(&args);
        assert!(
            o.status.success(),
            "kubectl {args:?}: {}",
            String::from_utf8_lossy(&o.stderr)
        );
        String::from_utf8_lossy(&o.stdout)
            .lines()
            .map(str::to_string)
            .collect()
    }

    /// Polls `names(what)` until it is empty, for at most `within`.
    pub fn wait_none(&self, what: &[&str], within: Duration) {
        let deadline = Instant::now() + within;
        loop {
            let left = self.names(what);
            if left.is_empty() {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "still there after {within:?}: {left:?}"
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// Clears kube-sim's request log (no-op on a real server).
    pub fn clear_log(&self) {
        if let Some(s) = self.sim {
            s.clear_log();
        }
    }

    /// The writes kube-sim logged since the last clear (None on a real server).
    pub fn writes(&self) -> Option<Vec<LogEntry>> {
        self.sim.map(|s| s.writes())
    }
}

/// The state database of `env`'s agent.
pub fn store(env: &Env) -> ferry_agent::store::Store {
    ferry_agent::store::Store::open(&env.dir.path().join("state/state.db")).unwrap()
}

/// The files of a corpus directory as bundle files named `<prefix><relative path>`, every
/// file under it (nested directories included).
pub fn corpus_tree(dir: &str, prefix: &str) -> Vec<(&'static str, String)> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../tests/corpus")
        .join(dir);
    let mut out = Vec::new();
    let mut stack = vec![root.clone()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                stack.push(p);
            } else {
                let rel = p.strip_prefix(&root).unwrap().to_string_lossy();
                let path: &'static str = Box::leak(format!("{prefix}{rel}").into_boxed_str());
                out.push((path, std::fs::read_to_string(&p).unwrap()));
            }
        }
    }
    out.sort();
    out
}
