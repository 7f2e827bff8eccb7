//! The schema, discovery and apply checks, each a function of a cluster so they run against
//! kube-sim and a real k3s alike.

use super::cluster::Cluster;
use serde_json::{json, Value};

mod served;

pub use served::{check_discovery_and_openapi, check_k3s_corpus, check_names};

/// The `fieldsV1` of one manager's entry.
fn fields_of(obj: &Value, manager: &str) -> Value {
    obj["metadata"]["managedFields"]
        .as_array()
        .and_then(|a| a.iter().find(|m| m["manager"] == manager))
        .map(|m| m["fieldsV1"].clone())
        .unwrap_or(Value::Null)
}

fn container_names(obj: &Value) -> Vec<String> {
    obj["spec"]["template"]["spec"]["containers"]
        .as_array()
        .map(|cs| {
            cs.iter()
                .filter_map(|c| c["name"].as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default()
}

fn env_names(obj: &Value, container: &str) -> Vec<String> {
    obj["spec"]["template"]["spec"]["containers"]
        .as_array()
        .and_then(|cs| cs.iter().find(|c| c["name"] == container))
        .and_then(|c| c["env"].as_array())
        .map(|es| {
            es.iter()
                .filter_map(|e| e["name"].as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default()
}

fn deploy_a(ns: &str, env: &str) -> String {
    format!("apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: web\n  namespace: {ns}\nspec:\n  replicas: 1\n  selector:\n    matchLabels: {{app: web}}\n  template:\n    metadata:\n      labels: {{app: web}}\n    spec:\n      containers:\n      - name: web\n        image: nginx:1.27\n        env:\n{env}")
}

fn deploy_b(ns: &str, web: &str) -> String {
    format!("apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: web\n  namespace: {ns}\nspec:\n  template:\n    spec:\n      containers:\n      - name: web\n{web}      - name: log\n        image: busybox:1.36\n")
}

/// Two appliers own different containers and env vars of one Deployment without conflict;
/// their entries are per item (`k:{"name":...}`), exactly as structured-merge-diff encodes them.
pub fn check_two_managers_share_lists(c: &Cluster, ns: &str) {
    c.namespace(ns);
    c.apply("a", &deploy_a(ns, "        - {name: A, value: \"1\"}\n"));
    c.apply(
        "b",
        &deploy_b(ns, "        env:\n        - {name: B, value: \"2\"}\n"),
    );
    let d = c.json(&["get", "deploy", "web", "-n", ns]);
    assert_eq!(container_names(&d), ["web", "log"]);
    assert_eq!(env_names(&d, "web"), ["A", "B"]);
    assert_eq!(
        fields_of(&d, "a"),
        json!({"f:spec": {"f:replicas": {}, "f:selector": {}, "f:template": {
            "f:metadata": {"f:labels": {"f:app": {}}},
            "f:spec": {"f:containers": {"k:{\"name\":\"web\"}": {".": {},
                "f:env": {"k:{\"name\":\"A\"}": {".": {}, "f:name": {}, "f:value": {}}},
                "f:image": {}, "f:name": {}}}}}}})
    );
    assert_eq!(
        fields_of(&d, "b"),
        json!({"f:spec": {"f:template": {"f:spec": {"f:containers": {
            "k:{\"name\":\"log\"}": {".": {}, "f:image": {}, "f:name": {}},
            "k:{\"name\":\"web\"}": {".": {}, "f:env": {"k:{\"name\":\"B\"}": {".": {}, "f:name": {}, "f:value": {}}}, "f:name": {}}}}}}})
    );
}

/// The same field applied with another value conflicts with the real message; forcing takes it.
pub fn check_conflict_and_force(c: &Cluster, ns: &str) {
    c.namespace(ns);
    c.apply("a", &deploy_a(ns, "        - {name: A, value: \"1\"}\n"));
    let web = "        image: nginx:1.28\n";
    let f = c.file("b2.yaml", &deploy_b(ns, web));
    let err = c.fails(&["apply", "--server-side", "--field-manager", "b", "-f", &f]);
    assert!(
        err.contains("Apply failed with 1 conflict: conflict with \"a\": .spec.template.spec.containers[name=\"web\"].image"),
        "{err}"
    );
    c.ok(&[
        "apply",
        "--server-side",
        "--field-manager",
        "b",
        "--force-conflicts",
        "-f",
        &f,
    ]);
    let d = c.json(&["get", "deploy", "web", "-n", ns]);
    assert_eq!(
        d["spec"]["template"]["spec"]["containers"][0]["image"],
        "nginx:1.28"
    );
    let a = fields_of(&d, "a");
    let web_a = &a["f:spec"]["f:template"]["f:spec"]["f:containers"]["k:{\"name\":\"web\"}"];
    assert!(web_a.get("f:image").is_none(), "a lost the image: {a}");
    assert!(web_a.get("f:env").is_some(), "a kept its env: {a}");
}

/// An item dropped by its only applier goes; one another applier also applies stays.
pub fn check_removal_by_last_applier(c: &Cluster, ns: &str) {
    c.namespace(ns);
    c.apply(
        "a",
        &deploy_a(
            ns,
            "        - {name: A, value: \"1\"}\n        - {name: C, value: \"3\"}\n",
        ),
    );
    c.apply(
        "b",
        &deploy_b(ns, "        env:\n        - {name: C, value: \"3\"}\n"),
    );
    c.apply("a", &deploy_a(ns, "        - {name: D, value: \"4\"}\n"));
    let d = c.json(&["get", "deploy", "web", "-n", ns]);
    assert_eq!(env_names(&d, "web"), ["C", "D"], "A removed, C kept for b");
    c.apply("b", &deploy_b(ns, ""));
    let d = c.json(&["get", "deploy", "web", "-n", ns]);
    assert_eq!(
        env_names(&d, "web"),
        ["D"],
        "C removed with its last applier"
    );
    assert_eq!(container_names(&d), ["web", "log"]);
}

/// Update-operation managers (create, label) record what they added, with `.` for maps they
/// created; Apply managers record what they applied.
pub fn check_update_and_apply_field_sets(c: &Cluster, ns: &str) {
    c.namespace(ns);
    // `kubectl create -f` sends JSON (its typed `create configmap` sends protobuf, which
    // kube-sim does not decode).
    let made = c.file(
        "made.yaml",
        &format!(
            "apiVersion: v1
kind: ConfigMap
metadata:
  name: made
  namespace: {ns}
data:
  a: \"1\"
"
        ),
    );
    c.ok(&["create", "-f", &made]);
    c.ok(&["label", "configmap", "made", "-n", ns, "tier=edge"]);
    let cm = c.json(&["get", "configmap", "made", "-n", ns]);
    assert_eq!(
        fields_of(&cm, "kubectl-create"),
        json!({"f:data": {".": {}, "f:a": {}}})
    );
    assert_eq!(
        fields_of(&cm, "kubectl-label"),
        json!({"f:metadata": {"f:labels": {".": {}, "f:tier": {}}}})
    );
    let ops: Vec<&str> = cm["metadata"]["managedFields"]
        .as_array()
        .expect("managedFields")
        .iter()
        .filter_map(|m| m["operation"].as_str())
        .collect();
    assert_eq!(ops, ["Update", "Update"]);
    c.apply("ferry", &format!("apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: applied\n  namespace: {ns}\n  labels: {{app: x}}\ndata:\n  k: v\n"));
    let cm = c.json(&["get", "configmap", "applied", "-n", ns]);
    assert_eq!(
        fields_of(&cm, "ferry"),
        json!({"f:data": {"f:k": {}}, "f:metadata": {"f:labels": {"f:app": {}}}})
    );
    // An apply that changes nothing writes nothing.
    let rv = cm["metadata"]["resourceVersion"].clone();
    c.apply("ferry", &format!("apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: applied\n  namespace: {ns}\n  labels: {{app: x}}\ndata:\n  k: v\n"));
    assert_eq!(
        c.json(&["get", "configmap", "applied", "-n", ns])["metadata"]["resourceVersion"],
        rv
    );
    // `managedFields: [{}]` resets them (the documented way to clear them).
    c.ok(&[
        "patch",
        "configmap",
        "made",
        "-n",
        ns,
        "--type",
        "merge",
        "-p",
        r#"{"metadata":{"managedFields":[{}]}}"#,
    ]);
    let cm = c.json(&["get", "configmap", "made", "-n", ns]);
    assert!(cm["metadata"].get("managedFields").is_none(), "{cm}");
}

/// Strategic merge patches merge lists by their patch merge key (kubectl patch and
/// client-side apply), other lists are replaced; JSON patches address by pointer.
pub fn check_strategic_patch(c: &Cluster, ns: &str) {
    c.namespace(ns);
    c.apply("a", &deploy_a(ns, "        - {name: A, value: \"1\"}\n"));
    c.apply("b", &deploy_b(ns, ""));
    c.ok(&["patch", "deploy", "web", "-n", ns, "--type", "strategic", "-p",
        r#"{"spec":{"template":{"spec":{"containers":[{"name":"web","env":[{"name":"P","value":"9"}],"args":["x"]}]}}}}"#]);
    let d = c.json(&["get", "deploy", "web", "-n", ns]);
    assert_eq!(container_names(&d), ["web", "log"]);
    // apimachinery's order: patch items first, then the server-only ones (real 1.37 server).
    assert_eq!(env_names(&d, "web"), ["P", "A"]);
    c.ok(&[
        "patch",
        "deploy",
        "web",
        "-n",
        ns,
        "--type",
        "strategic",
        "-p",
        r#"{"spec":{"template":{"spec":{"containers":[{"name":"log","$patch":"delete"}]}}}}"#,
    ]);
    let d = c.json(&["get", "deploy", "web", "-n", ns]);
    assert_eq!(container_names(&d), ["web"]);
    // JSON patch (RFC 6902) by pointer.
    c.ok(&["patch", "deploy", "web", "-n", ns, "--type", "json", "-p",
        r#"[{"op":"replace","path":"/spec/template/spec/containers/0/image","value":"nginx:1.29"},{"op":"test","path":"/spec/replicas","value":1}]"#]);
    let d = c.json(&["get", "deploy", "web", "-n", ns]);
    assert_eq!(
        d["spec"]["template"]["spec"]["containers"][0]["image"],
        "nginx:1.29"
    );
    let err = c.fails(&[
        "patch",
        "deploy",
        "web",
        "-n",
        ns,
        "--type",
        "json",
        "-p",
        r#"[{"op":"test","path":"/spec/replicas","value":7}]"#,
    ]);
    assert!(
        err.contains("the server rejected our request due to an error in our request"),
        "{err}"
    );
    // Client-side apply sends strategic patches with $setElementOrder directives.
    let cm = |v: &str| {
        format!("apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: csa\n  namespace: {ns}\nspec:\n  selector:\n    matchLabels: {{app: csa}}\n  template:\n    metadata:\n      labels: {{app: csa}}\n    spec:\n      containers:\n      - name: one\n        image: one:{v}\n      - name: two\n        image: two:{v}\n")
    };
    c.ok(&["apply", "-f", &c.file("csa1.yaml", &cm("1"))]);
    c.ok(&["apply", "-f", &c.file("csa2.yaml", &cm("2"))]);
    let d = c.json(&["get", "deploy", "csa", "-n", ns]);
    assert_eq!(container_names(&d), ["one", "two"]);
    assert_eq!(
        d["spec"]["template"]["spec"]["containers"][1]["image"],
        "two:2"
    );
    assert!(!d.to_string().contains("$setElementOrder"), "{d}");
    // Moving from client-side to server-side apply: another manager conflicts with
    // kubectl-client-side-apply, kubectl itself may take over the fields its last-applied
    // annotation still describes, and keeps that annotation current.
    let f3 = c.file("csa3.yaml", &cm("3"));
    let err = c.fails(&[
        "apply",
        "--server-side",
        "--field-manager",
        "other",
        "-f",
        &f3,
    ]);
    assert!(
        err.contains("Apply failed with 2 conflicts: conflicts with \"kubectl-client-side-apply\" using apps/v1:\n- .spec.template.spec.containers[name=\"one\"].image\n- .spec.template.spec.containers[name=\"two\"].image"),
        "{err}"
    );
    c.ok(&["apply", "--server-side", "-f", &f3]);
    let d = c.json(&["get", "deploy", "csa", "-n", ns]);
    assert_eq!(
        d["spec"]["template"]["spec"]["containers"][0]["image"],
        "one:3"
    );
    let last = d["metadata"]["annotations"]["kubectl.kubernetes.io/last-applied-configuration"]
        .as_str()
        .unwrap_or("");
    assert!(last.contains("one:3"), "{last}");
}
