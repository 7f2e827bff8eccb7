//! kube-sim checked with a client we did not write: the real `kubectl` binary.

use ferry_tests::kube_sim::{KubeSim, SimOptions};

/// kube-sim with the real kubectl pointed at it.
struct Kubectl {
    /// Kept for the lifetime of the checks (dropping it stops the server).
    _sim: KubeSim,
    kubectl: ferry_tests::kubectl::Kubectl,
}

impl Kubectl {
    fn new() -> Self {
        let sim = KubeSim::start(SimOptions::default()).unwrap();
        let kubectl = ferry_tests::kubectl::Kubectl::new(&sim.kubeconfig_path());
        Kubectl { _sim: sim, kubectl }
    }
    fn ok(&self, args: &[&str]) -> String {
        self.kubectl.ok(args)
    }
    fn fails(&self, args: &[&str]) -> String {
        self.kubectl.fails(args)
    }
    fn file(&self, name: &str, yaml: &str) -> String {
        self.kubectl.file(name, yaml)
    }
}

const NS: &str = "apiVersion: v1\nkind: Namespace\nmetadata:\n  name: shop\n";
const CM: &str = "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: settings\n  namespace: shop\ndata:\n  color: blue\n";
const DEPLOY: &str = "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: web\n  namespace: shop\nspec:\n  replicas: 2\n  selector:\n    matchLabels: {app: web}\n  template:\n    metadata:\n      labels: {app: web}\n    spec:\n      containers:\n      - name: web\n        image: nginx:1.27\n";

#[test]
fn server_side_apply_get_and_delete() {
    let k = Kubectl::new();
    let f = k.file("all.yaml", &format!("{NS}---\n{DEPLOY}---\n{CM}"));
    let out = k.ok(&["apply", "--server-side", "-f", &f]);
    assert!(out.contains("namespace/shop serverside-applied"), "{out}");
    assert!(
        out.contains("deployment.apps/web serverside-applied"),
        "{out}"
    );
    assert!(
        out.contains("configmap/settings serverside-applied"),
        "{out}"
    );
    assert_eq!(
        k.ok(&[
            "get",
            "configmap",
            "settings",
            "-n",
            "shop",
            "-o",
            "jsonpath={.data.color}"
        ]),
        "blue"
    );
    let names = k.ok(&["get", "deploy", "-n", "shop", "-o", "name"]);
    assert_eq!(names.trim(), "deployment.apps/web");
    let mf = k.ok(&[
        "get",
        "cm",
        "settings",
        "-n",
        "shop",
        "-o",
        "jsonpath={.metadata.managedFields[0].manager}/{.metadata.managedFields[0].operation}",
    ]);
    assert_eq!(mf, "kubectl/Apply");
    // The same apply again changes nothing, not even the resourceVersion.
    let rv = k.ok(&[
        "get",
        "cm",
        "settings",
        "-n",
        "shop",
        "-o",
        "jsonpath={.metadata.resourceVersion}",
    ]);
    k.ok(&["apply", "--server-side", "-f", &f]);
    assert_eq!(
        rv,
        k.ok(&[
            "get",
            "cm",
            "settings",
            "-n",
            "shop",
            "-o",
            "jsonpath={.metadata.resourceVersion}"
        ])
    );
    let out = k.ok(&["delete", "configmap", "settings", "-n", "shop"]);
    assert!(out.contains("configmap \"settings\" deleted"), "{out}");
    let err = k.fails(&["get", "configmap", "settings", "-n", "shop"]);
    assert!(
        err.contains("NotFound") && err.contains("configmaps \"settings\" not found"),
        "{err}"
    );
}

#[test]
fn second_manager_conflicts_until_forced() {
    let k = Kubectl::new();
    k.ok(&[
        "apply",
        "--server-side",
        "-f",
        &k.file("a.yaml", &format!("{NS}---\n{CM}")),
    ]);
    let other = k.file("b.yaml", &CM.replace("blue", "red"));
    let err = k.fails(&[
        "apply",
        "--server-side",
        "--field-manager",
        "other",
        "-f",
        &other,
    ]);
    assert!(
        err.contains("Apply failed with 1 conflict: conflict with \"kubectl\": .data.color"),
        "{err}"
    );
    assert_eq!(
        k.ok(&[
            "get",
            "cm",
            "settings",
            "-n",
            "shop",
            "-o",
            "jsonpath={.data.color}"
        ]),
        "blue"
    );
    k.ok(&[
        "apply",
        "--server-side",
        "--field-manager",
        "other",
        "--force-conflicts",
        "-f",
        &other,
    ]);
    assert_eq!(
        k.ok(&[
            "get",
            "cm",
            "settings",
            "-n",
            "shop",
            "-o",
            "jsonpath={.data.color}"
        ]),
        "red"
    );
    let managers = k.ok(&[
        "get",
        "cm",
        "settings",
        "-n",
        "shop",
        "-o",
        "jsonpath={.metadata.managedFields[*].manager}",
    ]);
    assert_eq!(managers, "other", "the forced manager took the only field");
}

#[test]
fn crd_then_custom_resource() {
    let k = Kubectl::new();
    let root = concat!(env!("CARGO_MANIFEST_DIR"), "/../k3s-examples/crd/");
    k.ok(&["apply", "--server-side", "-f", &format!("{root}crd.yaml")]);
    k.ok(&[
        "wait",
        "--for=condition=Established",
        "crd/sensors.edge.example.com",
        "--timeout=10s",
    ]);
    let out = k.ok(&[
        "apply",
        "--server-side",
        "-f",
        &format!("{root}sensor.yaml"),
    ]);
    assert!(
        out.contains("sensor.edge.example.com/temperature serverside-applied"),
        "{out}"
    );
    assert_eq!(
        k.ok(&[
            "get",
            "sensors",
            "-n",
            "default",
            "-o",
            "jsonpath={.items[0].spec.bus}"
        ]),
        "i2c-1"
    );
    let resources = k.ok(&[
        "api-resources",
        "--api-group",
        "edge.example.com",
        "-o",
        "name",
    ]);
    assert_eq!(resources.trim(), "sensors.edge.example.com");
    k.ok(&["delete", "crd", "sensors.edge.example.com"]);
    let err = k.fails(&["get", "sensors", "-n", "default"]);
    // With a warm discovery cache kubectl still tries the list and gets a 404; cold, it
    // reports an unknown type. Both mean the resource is no longer served.
    assert!(
        err.contains("doesn't have a resource type \"sensors\"")
            || err.contains("could not find the requested resource"),
        "{err}"
    );
}

#[test]
fn object_in_missing_namespace_is_not_found() {
    let k = Kubectl::new();
    let err = k.fails(&["apply", "--server-side", "-f", &k.file("cm.yaml", CM)]);
    assert!(
        err.contains("NotFound") || err.contains("not found"),
        "{err}"
    );
    assert!(err.contains("namespaces \"shop\" not found"), "{err}");
}

#[test]
fn invalid_name_is_unprocessable() {
    let k = Kubectl::new();
    let bad = k.file(
        "bad.yaml",
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: Bad_Name\n  namespace: default\n",
    );
    let err = k.fails(&["apply", "--server-side", "-f", &bad]);
    assert!(
        err.contains("is invalid") && err.contains("RFC 1123"),
        "{err}"
    );
}

#[test]
fn workloads_become_ready_and_wait_succeeds() {
    let k = Kubectl::new();
    k.ok(&[
        "apply",
        "--server-side",
        "-f",
        &k.file("d.yaml", &format!("{NS}---\n{DEPLOY}")),
    ]);
    k.ok(&[
        "wait",
        "--for=condition=Available",
        "deployment/web",
        "-n",
        "shop",
        "--timeout=10s",
    ]);
    assert_eq!(
        k.ok(&[
            "get",
            "deploy",
            "web",
            "-n",
            "shop",
            "-o",
            "jsonpath={.status.readyReplicas}"
        ]),
        "2"
    );
}

#[test]
fn merge_patch_and_label_through_kubectl() {
    let k = Kubectl::new();
    k.ok(&[
        "apply",
        "--server-side",
        "-f",
        &k.file("d.yaml", &format!("{NS}---\n{DEPLOY}")),
    ]);
    k.ok(&[
        "patch",
        "deployment",
        "web",
        "-n",
        "shop",
        "--type",
        "merge",
        "-p",
        r#"{"spec":{"replicas":5}}"#,
    ]);
    assert_eq!(
        k.ok(&[
            "get",
            "deploy",
            "web",
            "-n",
            "shop",
            "-o",
            "jsonpath={.spec.replicas} {.metadata.generation}"
        ]),
        "5 2"
    );
    k.ok(&["label", "namespace", "shop", "team=edge"]);
    assert_eq!(
        k.ok(&["get", "ns", "-l", "team=edge", "-o", "name"]).trim(),
        "namespace/shop"
    );
}
