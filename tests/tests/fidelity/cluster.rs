//! A cluster reached through the real `kubectl` (kube-sim or a real k3s).

use ferry_tests::kubectl::Kubectl;
use serde_json::Value;
use std::path::Path;
use std::process::Output;

/// A cluster reached through kubectl.
pub struct Cluster {
    kubectl: Kubectl,
    /// False against a real cluster: checks that would change what k3s owns only dry-run.
    pub owned: bool,
}

impl Cluster {
    pub fn new(kubeconfig: &Path, owned: bool) -> Self {
        Cluster {
            kubectl: Kubectl::new(kubeconfig),
            owned,
        }
    }
    pub fn run(&self, args: &[&str]) -> Output {
        self.kubectl.run(args)
    }
    pub fn ok(&self, args: &[&str]) -> String {
        self.kubectl.ok(args)
    }
    pub fn fails(&self, args: &[&str]) -> String {
        self.kubectl.fails(args)
    }
    pub fn file(&self, name: &str, yaml: &str) -> String {
        self.kubectl.file(name, yaml)
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
    pub fn server_minor(&self) -> u32 {
        self.kubectl.server_minor()
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
