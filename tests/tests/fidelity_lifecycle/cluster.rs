//! The cluster a fidelity check runs against (kube-sim with a clock the test moves, or a real
//! k3s), reached through `kubectl` and a kubeconfig.

use ferry_tests::kube_sim::KubeSim;
use ferry_tests::kubectl::Kubectl;
use serde_json::Value;
use std::path::PathBuf;
use std::process::{Command, Output};
use std::time::Duration;

/// A cluster reached through a kubeconfig, and who moves its time.
pub struct Cluster<'a> {
    pub kubectl: Kubectl,
    pub sim: Option<&'a KubeSim>,
}

impl<'a> Cluster<'a> {
    pub fn sim(sim: &'a KubeSim) -> Self {
        Self::new(sim.kubeconfig_path(), Some(sim))
    }

    pub fn new(kubeconfig: PathBuf, sim: Option<&'a KubeSim>) -> Self {
        Cluster {
            kubectl: Kubectl::new(&kubeconfig),
            sim,
        }
    }

    /// The scratch directory manifests are written to.
    pub fn files(&self) -> &std::path::Path {
        self.kubectl.files()
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

    pub fn json(&self, args: &[&str]) -> Value {
        let mut all = args.to_vec();
        all.extend(["-o", "json"]);
        serde_json::from_str(&self.ok(&all)).unwrap()
    }

    pub fn exists(&self, args: &[&str]) -> bool {
        let mut all = vec!["get"];
        all.extend(args);
        let o = self.run(&all);
        if !o.status.success() {
            let err = String::from_utf8_lossy(&o.stderr);
            assert!(
                err.contains("NotFound") || err.contains("not found"),
                "{err}"
            );
        }
        o.status.success()
    }

    pub fn apply(&self, name: &str, yaml: &str) -> String {
        let p = self.kubectl.file(name, yaml);
        self.ok(&["apply", "--server-side", "-f", &p])
    }

    /// Lets time pass: kube-sim's clock moves by `d` and its controllers settle; a real
    /// cluster's controllers run on their own (the next `wait` polls for the outcome).
    pub fn pass(&self, d: Duration) {
        if let Some(sim) = self.sim {
            sim.advance(d);
        }
    }

    /// `kubectl wait` for a condition (or `delete`) on `what`, after letting `d` pass.
    pub fn wait(&self, d: Duration, what: &[&str], condition: &str) {
        self.pass(d);
        // kube-sim: the state must hold now (a timeout of zero checks once).
        let timeout = if self.sim.is_some() {
            "--timeout=0s"
        } else {
            "--timeout=300s"
        };
        let mut args = vec!["wait", timeout, condition];
        args.extend(what);
        self.ok(&args);
    }

    pub fn is_sim(&self) -> bool {
        self.sim.is_some()
    }

    /// A raw GET with our own Accept header (kubectl cannot set one), using the kubeconfig's
    /// client certificate: (status, content type, body).
    pub fn raw_get(&self, path: &str, accept: &str) -> (u16, String, Value) {
        let kc: Value = ferry_bundle::yaml::value_from_str(
            "kubeconfig",
            &std::fs::read_to_string(self.kubectl.kubeconfig()).unwrap(),
            &ferry_bundle::yaml::Budget::small(),
        )
        .unwrap();
        let server = kc["clusters"][0]["cluster"]["server"].as_str().unwrap();
        let user = &kc["users"][0]["user"];
        let dir = self.kubectl.files();
        let write = |name: &str, b64: &Value| {
            use base64::Engine;
            let bytes = base64::engine::general_purpose::STANDARD
                .decode(b64.as_str().unwrap())
                .unwrap();
            std::fs::write(dir.join(name), bytes).unwrap();
            dir.join(name)
        };
        let ca = write(
            "ca.pem",
            &kc["clusters"][0]["cluster"]["certificate-authority-data"],
        );
        let cert = write("cert.pem", &user["client-certificate-data"]);
        let key = write("key.pem", &user["client-key-data"]);
        let out = Command::new("curl")
            .args([
                "-sS",
                "--max-time",
                "20",
                "-o",
                "-",
                "-w",
                "\n%{http_code} %{content_type}",
            ])
            .arg("--cacert")
            .arg(&ca)
            .arg("--cert")
            .arg(&cert)
            .arg("--key")
            .arg(&key)
            .args(["-H", &format!("Accept: {accept}")])
            .arg(format!("{server}{path}"))
            .output()
            .unwrap();
        let text = String::from_utf8_lossy(&out.stdout).into_owned();
        let (body, tail) = text.rsplit_once('\n').unwrap();
        let (code, ct) = tail.split_once(' ').unwrap_or((tail, ""));
        (
            code.parse().unwrap(),
            ct.to_string(),
            serde_json::from_str(body).unwrap_or(Value::Null),
        )
    }
}

pub fn cond<'v>(obj: &'v Value, kind: &str) -> &'v Value {
    obj["status"]["conditions"]
        .as_array()
        .and_then(|c| c.iter().find(|c| c["type"] == kind))
        .unwrap_or(&Value::Null)
}

pub fn ns_yaml(name: &str) -> String {
    format!("apiVersion: v1\nkind: Namespace\nmetadata:\n  name: {name}\n")
}

pub fn deployment(ns: &str, name: &str, image: &str, extra_spec: &str) -> String {
    format!("apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: {name}\n  namespace: {ns}\nspec:\n  replicas: 1\n{extra_spec}  selector:\n    matchLabels: {{app: {name}}}\n  template:\n    metadata:\n      labels: {{app: {name}}}\n    spec:\n      containers:\n      - name: main\n        image: {image}\n")
}

pub const PAUSE: &str = "registry.k8s.io/pause:3.10";
pub const PAUSE_OLD: &str = "registry.k8s.io/pause:3.9";
/// An image that never becomes ready on a real cluster (and carries kube-sim's marker).
pub const NEVER_READY: &str = "registry.invalid/never-ready:1";
