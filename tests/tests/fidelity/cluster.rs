//! A cluster reached through the real `kubectl` (kube-sim or a real k3s).

use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// A cluster reached through kubectl.
pub struct Cluster {
    kubeconfig: PathBuf,
    cache: tempfile::TempDir,
    files: tempfile::TempDir,
    /// False against a real cluster: checks that would change what k3s owns only dry-run.
    pub owned: bool,
}

impl Cluster {
    pub fn new(kubeconfig: &Path, owned: bool) -> Self {
        Cluster {
            kubeconfig: kubeconfig.to_path_buf(),
            cache: tempfile::tempdir().expect("tempdir"),
            files: tempfile::tempdir().expect("tempdir"),
            owned,
        }
    }
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
    pub fn ok(&self, args: &[&str]) -> String {
        let o = self.run(args);
        assert!(
            o.status.success(),
            "kubectl {args:?} failed: {}",
            String::from_utf8_lossy(&o.stderr)
        );
        String::from_utf8_lossy(&o.stdout).into_owned()
    }
    pub fn fails(&self, args: &[&str]) -> String {
        let o = self.run(args);
        assert!(
            !o.status.success(),
            "kubectl {args:?} should fail: {}",
            String::from_utf8_lossy(&o.stdout)
        );
        String::from_utf8_lossy(&o.stderr).into_owned()
    }
    pub fn file(&self, name: &str, yaml: &str) -> String {
        let p = self.files.path().join(name);
        std::fs::write(&p, yaml).expect("write");
        p.to_string_lossy().into_owned()
    }
    pub fn json(&self, args: &[&str]) -> Value {
        let mut a = args.to_vec();
        a.extend(["-o", "json", "--show-managed-fields"]);
        serde_json::from_str(&self.ok(&a)).expect("kubectl -o json")
    }
    pub fn apply(&self, manager: &str, yaml: &str) -> String {
        let f = self.file(&format!("{manager}.yaml"), yaml);
        self.ok(&[
            "apply",
            "--server-side",
            "--field-manager",
            manager,
            "-f",
            &f,
        ])
    }
    pub fn namespace(&self, name: &str) {
        self.ok(&[
            "apply",
            "--server-side",
            "-f",
            &self.file(
                "ns.yaml",
                &format!("apiVersion: v1\nkind: Namespace\nmetadata:\n  name: {name}\n"),
            ),
        ]);
    }
}
