//! What the fidelity checks share: a cluster reached through the real `kubectl` with a
//! kubeconfig (kube-sim's, or the real control plane's: `ferry_tests::control_plane`), one
//! namespace per check, and JSON reads of what the server stored.

#![allow(dead_code)]

pub mod defaults;
pub mod validation;

use ferry_tests::kubectl::Kubectl;
use serde_json::Value;
use std::path::Path;
use std::process::Output;

/// A cluster the checks talk to through kubectl.
pub struct Cluster {
    kubectl: Kubectl,
    /// True for a real cluster: checks clean up after themselves.
    pub real: bool,
}

/// The result of one kubectl run.
pub struct Run {
    pub ok: bool,
    pub stdout: String,
    pub stderr: String,
}

impl From<Output> for Run {
    fn from(o: Output) -> Self {
        Run {
            ok: o.status.success(),
            stdout: String::from_utf8_lossy(&o.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&o.stderr).into_owned(),
        }
    }
}

impl Cluster {
    pub fn new(kubeconfig: &Path, real: bool) -> Self {
        Cluster {
            kubectl: Kubectl::new(kubeconfig),
            real,
        }
    }

    /// The real control plane of this test binary (kube-apiserver, started on first use).
    pub fn real() -> Self {
        Cluster::new(&ferry_tests::control_plane::shared().kubeconfig, true)
    }

    pub fn run(&self, args: &[&str]) -> Run {
        self.kubectl.run(args).into()
    }

    /// Runs kubectl and expects success; returns the run (stdout and warnings on stderr).
    pub fn ok(&self, args: &[&str]) -> Run {
        let r = self.run(args);
        assert!(r.ok, "kubectl {args:?} failed: {}", r.stderr);
        r
    }

    /// Runs kubectl and expects failure; returns stderr.
    pub fn fails(&self, args: &[&str]) -> String {
        let r = self.run(args);
        assert!(!r.ok, "kubectl {args:?} should fail: {}", r.stdout);
        r.stderr
    }

    /// Writes a manifest and returns its path.
    pub fn file(&self, name: &str, yaml: &str) -> String {
        self.kubectl.file(name, yaml)
    }

    /// `kubectl apply --server-side` of a manifest text.
    pub fn apply(&self, name: &str, yaml: &str) -> Run {
        let f = self.file(name, yaml);
        self.ok(&["apply", "--server-side", "-f", &f])
    }

    /// The stored object, as `kubectl get -o json` shows it.
    pub fn get(&self, kind: &str, ns: &str, name: &str) -> Value {
        let mut args = vec!["get", kind, name, "-o", "json"];
        if !ns.is_empty() {
            args.extend(["-n", ns]);
        }
        let out = self.ok(&args).stdout;
        serde_json::from_str(&out).expect("kubectl -o json prints JSON")
    }

    /// A Deployment once its rollout is over: on a real cluster the controllers write its status
    /// (and so its `resourceVersion`) meanwhile; kube-sim's clock does not move by itself.
    pub fn settled_deployment(&self, ns: &str, name: &str) -> Value {
        if self.real {
            let what = format!("deployment/{name}");
            self.ok(&["rollout", "status", &what, "-n", ns, "--timeout=120s"]);
        }
        self.get("deployment", ns, name)
    }

    /// Whether the object exists.
    pub fn exists(&self, kind: &str, ns: &str, name: &str) -> bool {
        self.run(&["get", kind, name, "-n", ns]).ok
    }

    /// A fresh namespace for one check (removed first if a previous real run left it).
    pub fn namespace(&self, name: &str) -> String {
        if self.real {
            self.run(&[
                "delete",
                "namespace",
                name,
                "--wait=true",
                "--ignore-not-found",
            ]);
        }
        self.apply(
            &format!("{name}.yaml"),
            &format!("apiVersion: v1\nkind: Namespace\nmetadata:\n  name: {name}\n"),
        );
        name.to_string()
    }

    /// Removes what a check created on a real cluster.
    pub fn done(&self, ns: &str) {
        if self.real {
            self.run(&[
                "delete",
                "namespace",
                ns,
                "--wait=false",
                "--ignore-not-found",
            ]);
        }
    }
}

/// `metadata.resourceVersion` of an object read back.
pub fn rv(obj: &Value) -> String {
    obj["metadata"]["resourceVersion"]
        .as_str()
        .unwrap_or_default()
        .to_string()
}
