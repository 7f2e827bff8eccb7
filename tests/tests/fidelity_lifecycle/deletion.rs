//! Item 6: graceful deletion.

use super::cluster::{cond, deployment, ns_yaml, Cluster, PAUSE};
use serde_json::Value;
use std::time::Duration;

// Item 6: graceful deletion

/// An object with a finalizer stays, marked, until the finalizer is removed by a patch.
pub fn check_finalizer_holds_deletion(c: &Cluster) {
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
pub fn check_namespace_terminating(c: &Cluster) {
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
    // `kubectl get ns` prints the server's columns: NAME STATUS AGE.
    let table = c.ok(&["get", "namespace", "doomed"]);
    let header: Vec<&str> = table
        .lines()
        .next()
        .unwrap_or_default()
        .split_whitespace()
        .collect();
    assert_eq!(header, ["NAME", "STATUS", "AGE"], "{table}");
    assert!(
        table
            .lines()
            .nth(1)
            .unwrap_or_default()
            .split_whitespace()
            .take(2)
            .eq(["doomed", "Terminating"]),
        "{table}"
    );
    let all = c.ok(&["get", "ns"]);
    assert!(
        all.lines()
            .any(|l| l.starts_with("default ") && l.contains(" Active ")),
        "{all}"
    );
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
        let p = c.files().join("new.yaml");
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
pub fn check_immortal_namespaces(c: &Cluster) {
    let err = c.fails(&["delete", "namespace", "kube-public", "--wait=false"]);
    assert!(err.contains("this namespace may not be deleted"), "{err}");
}

/// propagationPolicy: Orphan keeps the ReplicaSet (without its ownerReference), Background
/// and Foreground take it along.
pub fn check_propagation_policies(c: &Cluster) {
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
pub fn check_crd_deletion_removes_custom_resources(c: &Cluster) {
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
    let p = c.files().join("g2.yaml");
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
