//! Lifecycle, controllers and errors (issue 11 items 6-8) checked through the real `kubectl`.
//!
//! Every check takes a [`Cluster`]: against kube-sim the test owns the simulated clock and
//! moves it (`Cluster::pass`); against a real k3s (`FERRY_REAL_KUBECONFIG`, the `#[ignore]`d
//! `real_cluster_lifecycle`) the real controllers run on their own and the checks wait with
//! `kubectl wait`. No check sleeps on the wall clock. Checks that need a fault or a compaction
//! only kube-sim can inject say so and are skipped on a real cluster.

use ferry_tests::kube_sim::{ClockMode, Faults, KubeSim, SimConfig, SimOptions, ThrottleBody};
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::Duration;

/// A cluster reached through a kubeconfig, and who moves its time.
struct Cluster<'a> {
    kubeconfig: PathBuf,
    sim: Option<&'a KubeSim>,
    cache: tempfile::TempDir,
    files: tempfile::TempDir,
}

impl<'a> Cluster<'a> {
    fn sim(sim: &'a KubeSim) -> Self {
        Self::new(sim.kubeconfig_path(), Some(sim))
    }

    fn new(kubeconfig: PathBuf, sim: Option<&'a KubeSim>) -> Self {
        Cluster {
            kubeconfig,
            sim,
            cache: tempfile::tempdir().unwrap(),
            files: tempfile::tempdir().unwrap(),
        }
    }

    fn run(&self, args: &[&str]) -> Output {
        Command::new("kubectl")
            .arg("--kubeconfig")
            .arg(&self.kubeconfig)
            .arg("--cache-dir")
            .arg(self.cache.path())
            .args(args)
            .output()
            .expect("kubectl must be installed")
    }

    fn ok(&self, args: &[&str]) -> String {
        let o = self.run(args);
        assert!(
            o.status.success(),
            "kubectl {args:?} failed: {}",
            String::from_utf8_lossy(&o.stderr)
        );
        String::from_utf8_lossy(&o.stdout).into_owned()
    }

    fn fails(&self, args: &[&str]) -> String {
        let o = self.run(args);
        assert!(
            !o.status.success(),
            "kubectl {args:?} should fail: {}",
            String::from_utf8_lossy(&o.stdout)
        );
        String::from_utf8_lossy(&o.stderr).into_owned()
    }

    fn json(&self, args: &[&str]) -> Value {
        let mut all = args.to_vec();
        all.extend(["-o", "json"]);
        serde_json::from_str(&self.ok(&all)).unwrap()
    }

    fn exists(&self, args: &[&str]) -> bool {
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

    fn apply(&self, name: &str, yaml: &str) -> String {
        let p = self.files.path().join(name);
        std::fs::write(&p, yaml).unwrap();
        self.ok(&["apply", "--server-side", "-f", &p.to_string_lossy()])
    }

    /// Lets time pass: kube-sim's clock moves by `d` and its controllers settle; a real
    /// cluster's controllers run on their own (the next `wait` polls for the outcome).
    fn pass(&self, d: Duration) {
        if let Some(sim) = self.sim {
            sim.advance(d);
        }
    }

    /// `kubectl wait` for a condition (or `delete`) on `what`, after letting `d` pass.
    fn wait(&self, d: Duration, what: &[&str], condition: &str) {
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

    fn is_sim(&self) -> bool {
        self.sim.is_some()
    }

    /// A raw GET with our own Accept header (kubectl cannot set one), using the kubeconfig's
    /// client certificate: (status, content type, body).
    fn raw_get(&self, path: &str, accept: &str) -> (u16, String, Value) {
        let kc: Value =
            serde_yaml::from_str(&std::fs::read_to_string(&self.kubeconfig).unwrap()).unwrap();
        let server = kc["clusters"][0]["cluster"]["server"].as_str().unwrap();
        let user = &kc["users"][0]["user"];
        let dir = self.files.path();
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

fn cond<'v>(obj: &'v Value, kind: &str) -> &'v Value {
    obj["status"]["conditions"]
        .as_array()
        .and_then(|c| c.iter().find(|c| c["type"] == kind))
        .unwrap_or(&Value::Null)
}

fn ns_yaml(name: &str) -> String {
    format!("apiVersion: v1\nkind: Namespace\nmetadata:\n  name: {name}\n")
}

fn deployment(ns: &str, name: &str, image: &str, extra_spec: &str) -> String {
    format!("apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: {name}\n  namespace: {ns}\nspec:\n  replicas: 1\n{extra_spec}  selector:\n    matchLabels: {{app: {name}}}\n  template:\n    metadata:\n      labels: {{app: {name}}}\n    spec:\n      containers:\n      - name: main\n        image: {image}\n")
}

const PAUSE: &str = "registry.k8s.io/pause:3.10";
const PAUSE_OLD: &str = "registry.k8s.io/pause:3.9";
/// An image that never becomes ready on a real cluster (and carries kube-sim's marker).
const NEVER_READY: &str = "registry.invalid/never-ready:1";

// ---------------------------------------------------------------------------------------
// Item 6: graceful deletion

/// An object with a finalizer stays, marked, until the finalizer is removed by a patch.
fn check_finalizer_holds_deletion(c: &Cluster) {
    c.apply("ns.yaml", &ns_yaml("fin"));
    c.apply("cm.yaml", "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: held\n  namespace: fin\n  finalizers: [example.com/hold]\ndata: {a: b}\n");
    let out = c.ok(&["delete", "configmap", "held", "-n", "fin", "--wait=false"]);
    assert!(out.contains("configmap \"held\" deleted"), "{out}");
    let held = c.json(&["get", "configmap", "held", "-n", "fin"]);
    assert!(held["metadata"]["deletionTimestamp"].is_string(), "{held}");
    assert_eq!(held["metadata"]["deletionGracePeriodSeconds"], 0);
    // No new finalizer once deletion started.
    let err = c.fails(&[
        "patch",
        "configmap",
        "held",
        "-n",
        "fin",
        "--type=merge",
        "-p",
        r#"{"metadata":{"finalizers":["example.com/hold","example.com/more"]}}"#,
    ]);
    assert!(
        err.contains("no new finalizers can be added if the object is being deleted"),
        "{err}"
    );
    c.ok(&[
        "patch",
        "configmap",
        "held",
        "-n",
        "fin",
        "--type=merge",
        "-p",
        r#"{"metadata":{"finalizers":null}}"#,
    ]);
    assert!(!c.exists(&["configmap", "held", "-n", "fin"]));
    c.ok(&["delete", "namespace", "fin", "--wait=false"]);
}

/// A Terminating namespace: phase, conditions, 403 for new content, gone once empty.
fn check_namespace_terminating(c: &Cluster) {
    c.apply("ns.yaml", &ns_yaml("doomed"));
    c.apply("cm.yaml", "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: sticky\n  namespace: doomed\n  finalizers: [example.com/hold]\n");
    let ns = c.json(&["get", "namespace", "doomed"]);
    assert_eq!(ns["spec"]["finalizers"], serde_json::json!(["kubernetes"]));
    assert_eq!(ns["status"]["phase"], "Active");
    c.ok(&["delete", "namespace", "doomed", "--wait=false"]);
    c.pass(Duration::from_secs(5));
    let ns = c.json(&["get", "namespace", "doomed"]);
    assert_eq!(ns["status"]["phase"], "Terminating", "{ns}");
    assert!(ns["metadata"]["deletionTimestamp"].is_string());
    let phase = c.ok(&[
        "get",
        "namespace",
        "doomed",
        "-o",
        "jsonpath={.status.phase}",
    ]);
    assert_eq!(phase, "Terminating");
    if c.is_sim() {
        // On a real node the namespace controller's timing decides when these show.
        assert_eq!(
            cond(&ns, "NamespaceFinalizersRemaining")["status"],
            "True",
            "{ns}"
        );
        assert_eq!(
            cond(&ns, "NamespaceFinalizersRemaining")["message"],
            "Some finalizers are remaining: example.com/hold in 1 resource instances"
        );
        assert_eq!(
            cond(&ns, "NamespaceDeletionDiscoveryFailure")["reason"],
            "ResourcesDiscovered"
        );
    }
    let err = c.fails(&["create", "-n", "doomed", "-f", &{
        let p = c.files.path().join("new.yaml");
        std::fs::write(
            &p,
            "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: late\n  namespace: doomed\n",
        )
        .unwrap();
        p.to_string_lossy().into_owned()
    }]);
    assert!(
        err.contains("Forbidden") || err.contains("forbidden"),
        "{err}"
    );
    assert!(
        err.contains(
            "unable to create new content in namespace doomed because it is being terminated"
        ),
        "{err}"
    );
    c.ok(&[
        "patch",
        "configmap",
        "sticky",
        "-n",
        "doomed",
        "--type=merge",
        "-p",
        r#"{"metadata":{"finalizers":null}}"#,
    ]);
    c.wait(
        Duration::from_secs(5),
        &["namespace/doomed"],
        "--for=delete",
    );
    assert!(!c.exists(&["namespace", "doomed"]));
}

/// The NamespaceLifecycle admission keeps `default`, `kube-system` and `kube-public`.
fn check_immortal_namespaces(c: &Cluster) {
    let err = c.fails(&["delete", "namespace", "kube-public", "--wait=false"]);
    assert!(err.contains("this namespace may not be deleted"), "{err}");
}

/// propagationPolicy: Orphan keeps the ReplicaSet (without its ownerReference), Background
/// and Foreground take it along.
fn check_propagation_policies(c: &Cluster) {
    c.apply("ns.yaml", &ns_yaml("prop"));
    for name in ["orphaned", "background", "foreground"] {
        c.apply(
            &format!("{name}.yaml"),
            &deployment("prop", name, PAUSE, ""),
        );
    }
    for name in ["orphaned", "background", "foreground"] {
        c.wait(
            Duration::from_secs(10),
            &["-n", "prop", &format!("deployment/{name}")],
            "--for=condition=Available",
        );
    }
    let rs_of = |name: &str| -> Vec<Value> {
        c.json(&[
            "get",
            "replicasets",
            "-n",
            "prop",
            "-l",
            &format!("app={name}"),
        ])["items"]
            .as_array()
            .unwrap()
            .clone()
    };
    let rs = rs_of("orphaned");
    assert_eq!(rs.len(), 1);
    assert_eq!(
        rs[0]["metadata"]["ownerReferences"][0]["kind"],
        "Deployment"
    );
    assert_eq!(
        rs[0]["metadata"]["ownerReferences"][0]["blockOwnerDeletion"],
        true
    );
    c.ok(&[
        "delete",
        "deployment",
        "orphaned",
        "-n",
        "prop",
        "--cascade=orphan",
        "--wait=false",
    ]);
    c.ok(&[
        "delete",
        "deployment",
        "background",
        "-n",
        "prop",
        "--wait=false",
    ]);
    c.ok(&[
        "delete",
        "deployment",
        "foreground",
        "-n",
        "prop",
        "--cascade=foreground",
        "--wait=false",
    ]);
    if c.is_sim() {
        // Until the garbage collector ran, the foreground owner waits with its finalizer.
        let fg = c.json(&["get", "deployment", "foreground", "-n", "prop"]);
        assert_eq!(
            fg["metadata"]["finalizers"],
            serde_json::json!(["foregroundDeletion"]),
            "{fg}"
        );
        assert!(fg["metadata"]["deletionTimestamp"].is_string());
    }
    c.wait(
        Duration::from_secs(5),
        &["-n", "prop", "deployment/orphaned"],
        "--for=delete",
    );
    c.wait(
        Duration::from_secs(5),
        &["-n", "prop", "deployment/foreground"],
        "--for=delete",
    );
    let orphans = rs_of("orphaned");
    assert_eq!(orphans.len(), 1, "the orphaned ReplicaSet stays");
    assert!(
        orphans[0]["metadata"]["ownerReferences"].is_null(),
        "{}",
        orphans[0]
    );
    c.pass(Duration::from_secs(5));
    c.ok(&[
        "wait",
        "--for=delete",
        "--timeout=60s",
        "-n",
        "prop",
        "-l",
        "app=background",
        "replicasets",
    ]);
    c.ok(&[
        "wait",
        "--for=delete",
        "--timeout=60s",
        "-n",
        "prop",
        "-l",
        "app=foreground",
        "replicasets",
    ]);
    c.ok(&["delete", "namespace", "prop", "--wait=false"]);
}

const CRD: &str = "apiVersion: apiextensions.k8s.io/v1\nkind: CustomResourceDefinition\nmetadata:\n  name: gadgets.fidelity.ferry.dev\nspec:\n  group: fidelity.ferry.dev\n  scope: Namespaced\n  names: {plural: gadgets, singular: gadget, kind: Gadget}\n  versions:\n  - name: v1\n    served: true\n    storage: true\n    schema:\n      openAPIV3Schema:\n        type: object\n        x-kubernetes-preserve-unknown-fields: true\n";

/// Deleting a CRD: Terminating with the cleanup finalizer while its custom resources go.
fn check_crd_deletion_removes_custom_resources(c: &Cluster) {
    c.apply("crd.yaml", CRD);
    c.wait(
        Duration::from_secs(5),
        &["crd/gadgets.fidelity.ferry.dev"],
        "--for=condition=Established",
    );
    c.apply("g.yaml", "apiVersion: fidelity.ferry.dev/v1\nkind: Gadget\nmetadata:\n  name: g1\n  namespace: default\n  finalizers: [example.com/hold]\n");
    c.ok(&[
        "delete",
        "crd",
        "gadgets.fidelity.ferry.dev",
        "--wait=false",
    ]);
    c.pass(Duration::from_secs(2));
    let crd = c.json(&["get", "crd", "gadgets.fidelity.ferry.dev"]);
    assert!(crd["metadata"]["deletionTimestamp"].is_string());
    assert_eq!(
        crd["metadata"]["finalizers"],
        serde_json::json!(["customresourcecleanup.apiextensions.k8s.io"])
    );
    assert_eq!(cond(&crd, "Terminating")["status"], "True", "{crd}");
    assert_eq!(
        cond(&crd, "Terminating")["reason"],
        "InstanceDeletionInProgress"
    );
    let g = c.json(&["get", "gadgets.fidelity.ferry.dev", "g1", "-n", "default"]);
    assert!(
        g["metadata"]["deletionTimestamp"].is_string(),
        "the finalizer deletes instances: {g}"
    );
    let p = c.files.path().join("g2.yaml");
    std::fs::write(&p, "apiVersion: fidelity.ferry.dev/v1\nkind: Gadget\nmetadata:\n  name: g2\n  namespace: default\n").unwrap();
    let err = c.fails(&["create", "-f", &p.to_string_lossy()]);
    assert!(
        err.contains("create not allowed while custom resource definition is terminating"),
        "{err}"
    );
    c.ok(&[
        "patch",
        "gadgets.fidelity.ferry.dev",
        "g1",
        "-n",
        "default",
        "--type=merge",
        "-p",
        r#"{"metadata":{"finalizers":null}}"#,
    ]);
    c.wait(
        Duration::from_secs(5),
        &["crd/gadgets.fidelity.ferry.dev"],
        "--for=delete",
    );
}

// ---------------------------------------------------------------------------------------
// Item 7: controllers on a clock the test controls

/// A Deployment's statuses from creation to available, through an update, and a rollout
/// that never becomes ready running into its progress deadline.
fn check_deployment_statuses(c: &Cluster) {
    c.apply("ns.yaml", &ns_yaml("roll"));
    c.apply(
        "d.yaml",
        &deployment("roll", "web", PAUSE_OLD, "  progressDeadlineSeconds: 30\n"),
    );
    if c.is_sim() {
        c.pass(Duration::ZERO);
        let d = c.json(&["get", "deployment", "web", "-n", "roll"]);
        assert_eq!(d["status"]["observedGeneration"], 1);
        assert_eq!(
            cond(&d, "Progressing")["reason"],
            "NewReplicaSetCreated",
            "{d}"
        );
        assert_eq!(cond(&d, "Available")["status"], "False");
        assert_eq!(
            cond(&d, "Available")["reason"],
            "MinimumReplicasUnavailable"
        );
        assert_eq!(d["status"]["unavailableReplicas"], 1, "{d}");
    }
    c.wait(
        Duration::from_secs(5),
        &["-n", "roll", "deployment/web"],
        "--for=condition=Available",
    );
    let d = c.json(&["get", "deployment", "web", "-n", "roll"]);
    for f in [
        "replicas",
        "updatedReplicas",
        "readyReplicas",
        "availableReplicas",
    ] {
        assert_eq!(d["status"][f], 1, "{f}: {d}");
    }
    assert!(d["status"]["unavailableReplicas"].is_null());
    assert_eq!(
        d["metadata"]["annotations"]["deployment.kubernetes.io/revision"],
        "1"
    );
    c.wait(Duration::ZERO, &["-n", "roll", "deployment/web"], "--for=jsonpath={.status.conditions[?(@.type==\"Progressing\")].reason}=NewReplicaSetAvailable");
    c.ok(&[
        "set",
        "image",
        "deployment/web",
        "-n",
        "roll",
        &format!("main={PAUSE}"),
    ]);
    if c.is_sim() {
        c.pass(Duration::ZERO);
        let d = c.json(&["get", "deployment", "web", "-n", "roll"]);
        assert_eq!(d["status"]["observedGeneration"], 2);
        assert_eq!(
            cond(&d, "Available")["status"],
            "True",
            "the old ReplicaSet still serves: {d}"
        );
    }
    c.wait(
        Duration::from_secs(5),
        &["-n", "roll", "deployment/web"],
        "--for=jsonpath={.status.updatedReplicas}=1",
    );
    c.wait(Duration::from_secs(5), &["-n", "roll", "deployment/web"], "--for=jsonpath={.status.conditions[?(@.type==\"Progressing\")].reason}=NewReplicaSetAvailable");
    let d = c.json(&["get", "deployment", "web", "-n", "roll"]);
    assert_eq!(
        d["metadata"]["annotations"]["deployment.kubernetes.io/revision"],
        "2"
    );
    let rs = c.json(&["get", "replicasets", "-n", "roll", "-l", "app=web"]);
    let mut sizes: Vec<i64> = rs["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["spec"]["replicas"].as_i64().unwrap())
        .collect();
    sizes.sort();
    assert_eq!(
        sizes,
        vec![0, 1],
        "the old ReplicaSet is scaled to zero and kept"
    );
    // A rollout that never becomes ready exceeds its deadline.
    c.ok(&[
        "set",
        "image",
        "deployment/web",
        "-n",
        "roll",
        &format!("main={NEVER_READY}"),
    ]);
    c.wait(Duration::from_secs(40), &["-n", "roll", "deployment/web"], "--for=jsonpath={.status.conditions[?(@.type==\"Progressing\")].reason}=ProgressDeadlineExceeded");
    let d = c.json(&["get", "deployment", "web", "-n", "roll"]);
    assert_eq!(cond(&d, "Progressing")["status"], "False");
    assert_eq!(
        cond(&d, "Available")["status"],
        "True",
        "the previous pods still serve"
    );
    c.ok(&["delete", "namespace", "roll", "--wait=false"]);
}

/// `kubectl scale` writes spec.replicas through `/scale`; an HPA owns replicas the same way.
fn check_scale_and_autoscaler(c: &Cluster) {
    c.apply("ns.yaml", &ns_yaml("scale"));
    c.apply("d.yaml", &deployment("scale", "web", PAUSE, ""));
    c.ok(&["scale", "deployment", "web", "-n", "scale", "--replicas=3"]);
    let d = c.json(&[
        "get",
        "deployment",
        "web",
        "-n",
        "scale",
        "--show-managed-fields",
    ]);
    assert_eq!(d["spec"]["replicas"], 3);
    let mf = d["metadata"]["managedFields"].as_array().unwrap();
    let scale_entry = mf
        .iter()
        .find(|m| m["subresource"] == "scale")
        .unwrap_or_else(|| panic!("{mf:?}"));
    assert_eq!(scale_entry["operation"], "Update");
    assert_eq!(
        scale_entry["fieldsV1"],
        serde_json::json!({"f:spec": {"f:replicas": {}}})
    );
    let scale: Value = serde_json::from_str(&c.ok(&[
        "get",
        "--raw",
        "/apis/apps/v1/namespaces/scale/deployments/web/scale",
    ]))
    .unwrap();
    assert_eq!(scale["kind"], "Scale");
    assert_eq!(scale["apiVersion"], "autoscaling/v1");
    assert_eq!(scale["spec"]["replicas"], 3);
    assert_eq!(scale["status"]["selector"], "app=web");
    c.ok(&[
        "patch",
        "deployment",
        "web",
        "-n",
        "scale",
        "--subresource=scale",
        "--type=merge",
        "-p",
        r#"{"spec":{"replicas":1}}"#,
    ]);
    c.apply("hpa.yaml", "apiVersion: autoscaling/v2\nkind: HorizontalPodAutoscaler\nmetadata:\n  name: web\n  namespace: scale\nspec:\n  scaleTargetRef: {apiVersion: apps/v1, kind: Deployment, name: web}\n  minReplicas: 2\n  maxReplicas: 4\n  metrics:\n  - type: Resource\n    resource:\n      name: cpu\n      target: {type: Utilization, averageUtilization: 80}\n");
    c.wait(
        Duration::from_secs(5),
        &["-n", "scale", "deployment/web"],
        "--for=jsonpath={.spec.replicas}=2",
    );
    let d = c.json(&[
        "get",
        "deployment",
        "web",
        "-n",
        "scale",
        "--show-managed-fields",
    ]);
    let mf = d["metadata"]["managedFields"].as_array().unwrap();
    let owner = mf
        .iter()
        .find(|m| m["subresource"] == "scale" && m["fieldsV1"]["f:spec"]["f:replicas"].is_object())
        .unwrap();
    assert_ne!(
        owner["manager"], "kubectl",
        "the autoscaler owns replicas now: {mf:?}"
    );
    c.ok(&["delete", "namespace", "scale", "--wait=false"]);
}

/// `/status` takes only status; the main resource ignores status.
fn check_status_subresource(c: &Cluster) {
    c.apply("ns.yaml", &ns_yaml("stat"));
    c.apply("d.yaml", &deployment("stat", "web", PAUSE, ""));
    let patched: Value = serde_json::from_str(&c.ok(&["patch", "deployment", "web", "-n", "stat", "--subresource=status", "--type=merge", "-o", "json", "--show-managed-fields",
        "-p", r#"{"spec":{"replicas":5},"status":{"conditions":[{"type":"Audited","status":"True","reason":"Fidelity","message":"set through /status"}]}}"#])).unwrap();
    assert_eq!(
        patched["spec"]["replicas"], 1,
        "spec is not written through /status"
    );
    assert_eq!(cond(&patched, "Audited")["reason"], "Fidelity", "{patched}");
    let mf = patched["metadata"]["managedFields"].as_array().unwrap();
    assert!(
        mf.iter()
            .any(|m| m["manager"] == "kubectl-patch" && m["subresource"] == "status"),
        "{mf:?}"
    );
    let main: Value = serde_json::from_str(&c.ok(&[
        "patch",
        "deployment",
        "web",
        "-n",
        "stat",
        "--type=merge",
        "-o",
        "json",
        "-p",
        r#"{"status":{"replicas":7}}"#,
    ]))
    .unwrap();
    assert_ne!(
        main["status"]["replicas"], 7,
        "status is not written through the main resource"
    );
    c.ok(&["delete", "namespace", "stat", "--wait=false"]);
}

/// StatefulSet partition and OnDelete; DaemonSet on the one node.
fn check_statefulset_and_daemonset(c: &Cluster) {
    c.apply("ns.yaml", &ns_yaml("sts"));
    let sts = |name: &str, image: &str, strategy: &str| {
        format!("apiVersion: apps/v1\nkind: StatefulSet\nmetadata:\n  name: {name}\n  namespace: sts\nspec:\n  replicas: 2\n  serviceName: {name}\n  updateStrategy:\n{strategy}  selector:\n    matchLabels: {{app: {name}}}\n  template:\n    metadata:\n      labels: {{app: {name}}}\n    spec:\n      containers:\n      - name: main\n        image: {image}\n")
    };
    let part = "    type: RollingUpdate\n    rollingUpdate: {partition: 1}\n";
    let ondel = "    type: OnDelete\n";
    c.apply("p.yaml", &sts("part", PAUSE_OLD, part));
    c.apply("o.yaml", &sts("ondel", PAUSE_OLD, ondel));
    for n in ["part", "ondel"] {
        c.wait(
            Duration::from_secs(5),
            &["-n", "sts", &format!("statefulset/{n}")],
            "--for=jsonpath={.status.readyReplicas}=2",
        );
    }
    c.apply("p.yaml", &sts("part", PAUSE, part));
    c.apply("o.yaml", &sts("ondel", PAUSE, ondel));
    c.wait(
        Duration::from_secs(10),
        &["-n", "sts", "statefulset/part"],
        "--for=jsonpath={.status.updatedReplicas}=1",
    );
    c.wait(
        Duration::from_secs(10),
        &["-n", "sts", "statefulset/part"],
        "--for=jsonpath={.status.readyReplicas}=2",
    );
    let s = c.json(&["get", "statefulset", "part", "-n", "sts"]);
    assert_ne!(
        s["status"]["currentRevision"], s["status"]["updateRevision"],
        "{s}"
    );
    assert_eq!(s["status"]["currentReplicas"], 1);
    let p0 = c.json(&["get", "pod", "part-0", "-n", "sts"]);
    assert_eq!(
        p0["metadata"]["labels"]["controller-revision-hash"], s["status"]["currentRevision"],
        "below the partition: old revision"
    );
    let p1 = c.json(&["get", "pod", "part-1", "-n", "sts"]);
    assert_eq!(
        p1["metadata"]["labels"]["controller-revision-hash"],
        s["status"]["updateRevision"]
    );
    // OnDelete: nothing changes until a pod is deleted.
    c.pass(Duration::from_secs(10));
    let o = c.json(&["get", "statefulset", "ondel", "-n", "sts"]);
    assert!(
        o["status"]["updatedReplicas"].is_null() || o["status"]["updatedReplicas"] == 0,
        "{o}"
    );
    c.ok(&["delete", "pod", "ondel-1", "-n", "sts", "--wait=false"]);
    c.wait(
        Duration::from_secs(10),
        &["-n", "sts", "statefulset/ondel"],
        "--for=jsonpath={.status.updatedReplicas}=1",
    );
    c.apply("ds.yaml", &format!("apiVersion: apps/v1\nkind: DaemonSet\nmetadata:\n  name: agent\n  namespace: sts\nspec:\n  selector:\n    matchLabels: {{app: agent}}\n  template:\n    metadata:\n      labels: {{app: agent}}\n    spec:\n      containers:\n      - name: main\n        image: {PAUSE}\n"));
    c.wait(
        Duration::from_secs(5),
        &["-n", "sts", "daemonset/agent"],
        "--for=jsonpath={.status.numberReady}=1",
    );
    let ds = c.json(&["get", "daemonset", "agent", "-n", "sts"]);
    assert_eq!(ds["status"]["desiredNumberScheduled"], 1);
    assert_eq!(ds["status"]["updatedNumberScheduled"], 1);
    c.ok(&["delete", "namespace", "sts", "--wait=false"]);
}

/// Jobs: conditions, times, failure after backoffLimit, and the TTL controller.
fn check_jobs_and_ttl(c: &Cluster) {
    c.apply("ns.yaml", &ns_yaml("jobs"));
    let job = |name: &str, command: &str, extra: &str| {
        format!("apiVersion: batch/v1\nkind: Job\nmetadata:\n  name: {name}\n  namespace: jobs\nspec:\n  backoffLimit: 1\n{extra}  template:\n    spec:\n      restartPolicy: Never\n      containers:\n      - name: main\n        image: busybox:1.36\n        command: [sh, -c, \"{command}\"]\n")
    };
    c.apply(
        "ok.yaml",
        &job("ok", "true", "  ttlSecondsAfterFinished: 60\n"),
    );
    c.apply("ko.yaml", &job("ko", "echo job-fails; exit 1", ""));
    c.wait(
        Duration::from_secs(5),
        &["-n", "jobs", "job/ok"],
        "--for=condition=Complete",
    );
    let ok = c.json(&["get", "job", "ok", "-n", "jobs"]);
    assert_eq!(ok["status"]["succeeded"], 1);
    assert!(
        ok["status"]["startTime"].is_string() && ok["status"]["completionTime"].is_string(),
        "{ok}"
    );
    assert_eq!(cond(&ok, "SuccessCriteriaMet")["status"], "True", "{ok}");
    assert_eq!(cond(&ok, "Complete")["reason"], "CompletionsReached");
    c.wait(
        Duration::from_secs(10),
        &["-n", "jobs", "job/ko"],
        "--for=condition=Failed",
    );
    let ko = c.json(&["get", "job", "ko", "-n", "jobs"]);
    assert_eq!(ko["status"]["failed"], 2, "{ko}");
    assert_eq!(cond(&ko, "Failed")["reason"], "BackoffLimitExceeded");
    assert_eq!(cond(&ko, "FailureTarget")["status"], "True");
    if c.is_sim() {
        c.pass(Duration::from_secs(20));
        assert!(c.exists(&["job", "ok", "-n", "jobs"]), "not before the TTL");
    }
    c.wait(
        Duration::from_secs(40),
        &["-n", "jobs", "job/ok"],
        "--for=delete",
    );
    c.ok(&["delete", "namespace", "jobs", "--wait=false"]);
}

/// k3s's local-path class: a claim waits for its first consumer, then binds.
fn check_pvc_waits_for_first_consumer(c: &Cluster) {
    c.apply("ns.yaml", &ns_yaml("vol"));
    c.apply("pvc.yaml", "apiVersion: v1\nkind: PersistentVolumeClaim\nmetadata:\n  name: data\n  namespace: vol\nspec:\n  accessModes: [ReadWriteOnce]\n  resources:\n    requests: {storage: 1Gi}\n");
    c.pass(Duration::from_secs(5));
    let pvc = c.json(&["get", "pvc", "data", "-n", "vol"]);
    assert_eq!(
        pvc["spec"]["storageClassName"], "local-path",
        "the default class: {pvc}"
    );
    assert_eq!(pvc["status"]["phase"], "Pending");
    c.apply("pod.yaml", &format!("apiVersion: v1\nkind: Pod\nmetadata:\n  name: user\n  namespace: vol\nspec:\n  containers:\n  - name: main\n    image: {PAUSE}\n    volumeMounts: [{{name: d, mountPath: /data}}]\n  volumes:\n  - name: d\n    persistentVolumeClaim: {{claimName: data}}\n"));
    c.wait(
        Duration::from_secs(5),
        &["-n", "vol", "pvc/data"],
        "--for=jsonpath={.status.phase}=Bound",
    );
    let pvc = c.json(&["get", "pvc", "data", "-n", "vol"]);
    assert!(pvc["spec"]["volumeName"]
        .as_str()
        .unwrap()
        .starts_with("pvc-"));
    assert_eq!(
        pvc["metadata"]["annotations"]["volume.kubernetes.io/selected-node"].is_string(),
        true
    );
    c.wait(
        Duration::from_secs(5),
        &["-n", "vol", "pod/user"],
        "--for=condition=Ready",
    );
    c.ok(&["delete", "namespace", "vol", "--wait=false"]);
}

/// The helm-controller (kube-sim only: a real run needs a reachable chart).
fn check_helm_controller(c: &Cluster) {
    let chart = |values: &str, name: &str| {
        format!("apiVersion: helm.cattle.io/v1\nkind: HelmChart\nmetadata:\n  name: {name}\n  namespace: kube-system\nspec:\n  chart: {name}\n  repo: https://charts.example.invalid\n  backOffLimit: 1\n  valuesContent: \"{values}\"\n")
    };
    c.apply("hc.yaml", &chart("a: 1", "hello"));
    c.pass(Duration::ZERO);
    let job = c.json(&["get", "job", "helm-install-hello", "-n", "kube-system"]);
    let first_hash = job["spec"]["template"]["metadata"]["annotations"]
        ["helmcharts.helm.cattle.io/configHash"]
        .clone();
    assert!(first_hash.as_str().unwrap().starts_with("SHA256="), "{job}");
    assert_eq!(
        job["spec"]["suspend"], false,
        "resumed once the job controller saw it"
    );
    c.wait(
        Duration::from_secs(5),
        &["-n", "kube-system", "job/helm-install-hello"],
        "--for=condition=Complete",
    );
    let hc = c.json(&["get", "helmchart", "hello", "-n", "kube-system"]);
    assert_eq!(hc["status"]["jobName"], "helm-install-hello");
    assert_eq!(cond(&hc, "JobCreated")["status"], "True");
    assert_eq!(cond(&hc, "Failed")["status"], "False");
    assert_eq!(
        hc["metadata"]["finalizers"],
        serde_json::json!(["wrangler.cattle.io/on-helm-chart-remove"])
    );
    let old_uid = job["metadata"]["uid"].clone();
    c.apply("hc.yaml", &chart("a: 2", "hello"));
    c.pass(Duration::ZERO);
    let job = c.json(&["get", "job", "helm-install-hello", "-n", "kube-system"]);
    assert_ne!(
        job["metadata"]["uid"], old_uid,
        "a chart change replaces the Job"
    );
    assert_ne!(
        job["spec"]["template"]["metadata"]["annotations"]["helmcharts.helm.cattle.io/configHash"],
        first_hash
    );
    c.apply("bad.yaml", &chart("a: 1", "job-fails"));
    c.wait(
        Duration::from_secs(30),
        &["-n", "kube-system", "helmchart/job-fails"],
        "--for=condition=Failed",
    );
    let bad = c.json(&["get", "helmchart", "job-fails", "-n", "kube-system"]);
    assert_eq!(cond(&bad, "Failed")["reason"], "Job failed");
    c.ok(&[
        "delete",
        "helmchart",
        "hello",
        "-n",
        "kube-system",
        "--wait=false",
    ]);
    c.pass(Duration::ZERO);
    assert!(
        c.exists(&["job", "helm-delete-hello", "-n", "kube-system"]),
        "uninstall runs first"
    );
    c.wait(
        Duration::from_secs(10),
        &["-n", "kube-system", "helmchart/hello"],
        "--for=delete",
    );
}

// ---------------------------------------------------------------------------------------
// Item 8: errors and lists

/// Metadata-only lists and objects, as a controller's metadata informer asks for them.
fn check_metadata_only_lists(c: &Cluster) {
    c.apply("ns.yaml", &ns_yaml("meta"));
    c.apply("cm.yaml", "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: one\n  namespace: meta\n  labels: {k: v}\ndata: {big: value}\n");
    let (code, ct, list) = c.raw_get(
        "/api/v1/namespaces/meta/configmaps",
        "application/json;as=PartialObjectMetadataList;g=meta.k8s.io;v=v1,application/json",
    );
    assert_eq!(code, 200, "{list}");
    assert!(ct.contains("as=PartialObjectMetadataList"), "{ct}");
    assert_eq!(list["kind"], "PartialObjectMetadataList");
    assert_eq!(list["apiVersion"], "meta.k8s.io/v1");
    let item = &list["items"][0];
    assert_eq!(item["kind"], "PartialObjectMetadata");
    assert_eq!(item["apiVersion"], "meta.k8s.io/v1");
    assert_eq!(item["metadata"]["labels"]["k"], "v");
    assert!(item.get("data").is_none(), "{item}");
    let (code, _, one) = c.raw_get(
        "/api/v1/namespaces/meta/configmaps/one",
        "application/json;as=PartialObjectMetadata;g=meta.k8s.io;v=v1,application/json",
    );
    assert_eq!(code, 200);
    assert_eq!(one["kind"], "PartialObjectMetadata");
    assert!(one.get("data").is_none());
    c.ok(&["delete", "namespace", "meta", "--wait=false"]);
}

/// `continue` tokens page through a list; after a compaction they answer 410 Expired with
/// the real message (kube-sim only: a real cluster compacts on its own schedule).
fn check_continue_tokens_expire(c: &Cluster) {
    c.apply("ns.yaml", &ns_yaml("pages"));
    for i in 0..3 {
        c.apply(
            &format!("c{i}.yaml"),
            &format!(
                "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: c{i}\n  namespace: pages\n"
            ),
        );
    }
    let page: Value = serde_json::from_str(&c.ok(&[
        "get",
        "--raw",
        "/api/v1/namespaces/pages/configmaps?limit=1",
    ]))
    .unwrap();
    let token = page["metadata"]["continue"].as_str().unwrap().to_string();
    assert_eq!(page["metadata"]["remainingItemCount"], 2);
    let next: Value = serde_json::from_str(&c.ok(&[
        "get",
        "--raw",
        &format!("/api/v1/namespaces/pages/configmaps?limit=1&continue={token}"),
    ]))
    .unwrap();
    assert_eq!(next["items"][0]["metadata"]["name"], "c1");
    // kubectl follows the tokens itself.
    let names = c.ok(&[
        "get",
        "configmaps",
        "-n",
        "pages",
        "--chunk-size=1",
        "-o",
        "name",
    ]);
    assert!(
        names.contains("configmap/c0") && names.contains("configmap/c2"),
        "{names}"
    );
    if let Some(sim) = c.sim {
        sim.compact();
        let err = c.fails(&[
            "get",
            "--raw",
            &format!("/api/v1/namespaces/pages/configmaps?limit=1&continue={token}"),
        ]);
        assert!(
            err.contains(
                "The provided continue parameter is too old to display a consistent list result"
            ),
            "{err}"
        );
        assert!(err.contains("Expired"), "{err}");
    }
    c.ok(&["delete", "namespace", "pages", "--wait=false"]);
}

/// Preconditions on DELETE: a wrong uid answers 409 (kubectl sends them with `delete --raw`).
fn check_delete_preconditions(c: &Cluster) {
    c.apply("ns.yaml", &ns_yaml("pre"));
    c.apply(
        "cm.yaml",
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: guarded\n  namespace: pre\n",
    );
    let p = c.files.path().join("opts.json");
    std::fs::write(&p, r#"{"kind":"DeleteOptions","apiVersion":"v1","preconditions":{"uid":"00000000-0000-0000-0000-000000000000"}}"#).unwrap();
    let err = c.fails(&[
        "delete",
        "--raw",
        "/api/v1/namespaces/pre/configmaps/guarded",
        "-f",
        &p.to_string_lossy(),
    ]);
    assert!(
        err.contains(
            "Precondition failed: UID in precondition: 00000000-0000-0000-0000-000000000000"
        ),
        "{err}"
    );
    let uid = c.ok(&[
        "get",
        "configmap",
        "guarded",
        "-n",
        "pre",
        "-o",
        "jsonpath={.metadata.uid}",
    ]);
    std::fs::write(
        &p,
        format!(
            r#"{{"kind":"DeleteOptions","apiVersion":"v1","preconditions":{{"uid":"{uid}"}}}}"#
        ),
    )
    .unwrap();
    let out = c.ok(&[
        "delete",
        "--raw",
        "/api/v1/namespaces/pre/configmaps/guarded",
        "-f",
        &p.to_string_lossy(),
    ]);
    let status: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(
        status["kind"], "Status",
        "a ConfigMap delete answers a Status: {status}"
    );
    assert_eq!(status["status"], "Success");
    assert_eq!(status["details"]["kind"], "configmaps");
    assert_eq!(status["details"]["uid"], uid.as_str());
    c.ok(&["delete", "namespace", "pre", "--wait=false"]);
}

// ---------------------------------------------------------------------------------------
// Entry points

fn manual_sim() -> KubeSim {
    KubeSim::start(SimOptions {
        port: 0,
        config: SimConfig {
            clock: ClockMode::Manual,
            ..SimConfig::default()
        },
    })
    .unwrap()
}

macro_rules! on_sim {
    ($($name:ident => $check:ident),* $(,)?) => {$(
        #[test]
        fn $name() {
            let sim = manual_sim();
            $check(&Cluster::sim(&sim));
        }
    )*};
}

on_sim! {
    sim_finalizer_holds_deletion => check_finalizer_holds_deletion,
    sim_namespace_terminating => check_namespace_terminating,
    sim_immortal_namespaces => check_immortal_namespaces,
    sim_propagation_policies => check_propagation_policies,
    sim_crd_deletion_removes_custom_resources => check_crd_deletion_removes_custom_resources,
    sim_deployment_statuses => check_deployment_statuses,
    sim_scale_and_autoscaler => check_scale_and_autoscaler,
    sim_status_subresource => check_status_subresource,
    sim_statefulset_and_daemonset => check_statefulset_and_daemonset,
    sim_jobs_and_ttl => check_jobs_and_ttl,
    sim_pvc_waits_for_first_consumer => check_pvc_waits_for_first_consumer,
    sim_helm_controller => check_helm_controller,
    sim_metadata_only_lists => check_metadata_only_lists,
    sim_continue_tokens_expire => check_continue_tokens_expire,
    sim_delete_preconditions => check_delete_preconditions,
}

/// 429 with Retry-After (client-go retries it) and k3s's 503 while its apiserver starts.
#[test]
fn sim_throttling_and_not_ready() {
    let mut sim = manual_sim();
    let c = Cluster::sim(&sim);
    c.ok(&["get", "namespaces"]);
    for body in [ThrottleBody::PriorityAndFairness, ThrottleBody::Status] {
        sim.clear_log();
        sim.set_faults(Faults {
            throttle_next: 2,
            retry_after_secs: 0,
            throttle_body: body,
            ..Faults::default()
        });
        let out = c.ok(&["get", "configmaps", "-n", "default", "-o", "name"]);
        assert!(out.is_empty() || out.contains("configmap/"), "{out}");
        let codes: Vec<u16> = sim.log().iter().map(|e| e.status).collect();
        assert_eq!(
            &codes[..3],
            &[429, 429, 200],
            "client-go retried after Retry-After: {codes:?}"
        );
    }
    drop(c);
    sim.restart_not_ready(true, 50).unwrap();
    let c = Cluster::sim(&sim);
    let err = c.fails(&["get", "--raw", "/api/v1/namespaces/default/configmaps"]);
    assert!(
        err.contains("ServiceUnavailable") && err.contains("apiserver not ready"),
        "{err}"
    );
    let err = c.fails(&["get", "configmaps", "-n", "default"]);
    assert!(
        err.contains("the server is currently unable to handle the request"),
        "{err}"
    );
    sim.set_faults(Faults::default());
    c.ok(&["get", "configmaps", "-n", "default"]);
}

/// Direct checks of the PerRequest clock (the agent tests' mode): a client that polls sees a
/// Deployment progress one step per request, without the test moving the clock.
#[test]
fn sim_per_request_clock_progresses_while_polling() {
    let sim = KubeSim::start(SimOptions::default()).unwrap();
    let c = Cluster::sim(&sim);
    c.apply("ns.yaml", &ns_yaml("poll"));
    c.apply("d.yaml", &deployment("poll", "web", PAUSE, ""));
    let mut reasons = Vec::new();
    for _ in 0..20 {
        let d = c.json(&["get", "deployment", "web", "-n", "poll"]);
        let r = cond(&d, "Progressing")["reason"]
            .as_str()
            .unwrap_or("")
            .to_string();
        if reasons.last() != Some(&r) {
            reasons.push(r.clone());
        }
        if r == "NewReplicaSetAvailable" {
            break;
        }
    }
    assert_eq!(
        reasons.last().map(String::as_str),
        Some("NewReplicaSetAvailable"),
        "{reasons:?}"
    );
}

/// The same checks against a real k3s: `FERRY_REAL_KUBECONFIG=/etc/rancher/k3s/k3s.yaml
/// cargo test -p ferry-tests --test fidelity_lifecycle -- --ignored`.
#[test]
#[ignore]
fn real_cluster_lifecycle() {
    let path = std::env::var("FERRY_REAL_KUBECONFIG").expect("set FERRY_REAL_KUBECONFIG");
    let c = Cluster::new(Path::new(&path).to_path_buf(), None);
    let checks: &[(&str, fn(&Cluster))] = &[
        ("finalizer_holds_deletion", check_finalizer_holds_deletion),
        ("namespace_terminating", check_namespace_terminating),
        ("immortal_namespaces", check_immortal_namespaces),
        ("propagation_policies", check_propagation_policies),
        (
            "crd_deletion_removes_custom_resources",
            check_crd_deletion_removes_custom_resources,
        ),
        ("deployment_statuses", check_deployment_statuses),
        ("scale_and_autoscaler", check_scale_and_autoscaler),
        ("status_subresource", check_status_subresource),
        ("statefulset_and_daemonset", check_statefulset_and_daemonset),
        ("jobs_and_ttl", check_jobs_and_ttl),
        (
            "pvc_waits_for_first_consumer",
            check_pvc_waits_for_first_consumer,
        ),
        ("metadata_only_lists", check_metadata_only_lists),
        ("continue_tokens_expire", check_continue_tokens_expire),
        ("delete_preconditions", check_delete_preconditions),
    ];
    let mut failed = Vec::new();
    for (name, check) in checks {
        if std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| check(&c))).is_err() {
            failed.push(*name);
        }
    }
    println!(
        "lifecycle fidelity on a real cluster: {} of {} checks hold",
        checks.len() - failed.len(),
        checks.len()
    );
    assert!(
        failed.is_empty(),
        "differences from kube-sim's expectations: {failed:?}"
    );
}
