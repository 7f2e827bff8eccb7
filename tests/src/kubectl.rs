//! The real `kubectl`, run against one kubeconfig with a private cache directory (so runs do
//! not share discovery caches) and a scratch directory for manifests: the client the fidelity
//! checks drive kube-sim or a real k3s with.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// kubectl bound to one kubeconfig.
pub struct Kubectl {
    kubeconfig: PathBuf,
    cache: tempfile::TempDir,
    files: tempfile::TempDir,
}

impl Kubectl {
    pub fn new(kubeconfig: &Path) -> Self {
        Kubectl {
            kubeconfig: kubeconfig.to_path_buf(),
            cache: tempfile::tempdir().expect("temp dir"),
            files: tempfile::tempdir().expect("temp dir"),
        }
    }

    pub fn kubeconfig(&self) -> &Path {
        &self.kubeconfig
    }

    /// The scratch directory manifests are written to.
    pub fn files(&self) -> &Path {
        self.files.path()
    }

    /// Runs kubectl with `args`, whatever the outcome.
    pub fn run(&self, args: &[&str]) -> Output {
        Command::new("kubectl")
            .arg("--kubeconfig")
            .arg(&self.kubeconfig)
            .arg("--cache-dir")
            .arg(self.cache.path())
            .args(args)
            .output()
            .expect("kubectl must be installed (tests/run installs it)")
    }

    /// Runs kubectl, expects success and returns stdout.
    pub fn ok(&self, args: &[&str]) -> String {
        let o = self.run(args);
        assert!(
            o.status.success(),
            "kubectl {args:?} failed: {}",
            String::from_utf8_lossy(&o.stderr)
        );
        String::from_utf8_lossy(&o.stdout).into_owned()
    }

    /// Runs kubectl, expects failure and returns stderr.
    pub fn fails(&self, args: &[&str]) -> String {
        let o = self.run(args);
        assert!(
            !o.status.success(),
            "kubectl {args:?} should fail: {}",
            String::from_utf8_lossy(&o.stdout)
        );
        String::from_utf8_lossy(&o.stderr).into_owned()
    }

    /// Writes a manifest into the scratch directory and returns its path.
    pub fn file(&self, name: &str, yaml: &str) -> String {
        let p = self.files.path().join(name);
        std::fs::write(&p, yaml).expect("write manifest");
        p.to_string_lossy().into_owned()
    }

    /// The server's Kubernetes minor version (`/version`): kube-sim and the real control plane
    /// both serve 1.37.
    pub fn server_minor(&self) -> u32 {
        let v: serde_json::Value =
            serde_json::from_str(&self.ok(&["get", "--raw", "/version"])).expect("/version JSON");
        v["minor"]
            .as_str()
            .and_then(|m| m.trim_end_matches('+').parse().ok())
            .expect("/version has a numeric minor")
    }
}
