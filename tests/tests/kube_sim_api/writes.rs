//! Writes: server-side apply, generation, update with resourceVersion and delete.

use super::helpers::*;
use serde_json::json;
#[test]
fn ssa_versions_generation_and_removal_of_dropped_fields() {
    let s = sim();
    let c = C::new(&s);
    let path = format!("{CM_PATH}/app");
    let (st, obj) = c.apply(&path, "ferry", &cm("app", json!({"a": "1", "b": "2"})));
    assert_eq!(st, 201, "{obj}");
    let rv1 = obj["metadata"]["resourceVersion"].clone();
    assert!(obj["metadata"]["uid"].as_str().unwrap().len() >= 32);
    assert!(obj["metadata"]["creationTimestamp"].is_string());
    // Same apply: 200, nothing changes.
    let (st, obj) = c.apply(&path, "ferry", &cm("app", json!({"a": "1", "b": "2"})));
    assert_eq!(st, 200);
    assert_eq!(obj["metadata"]["resourceVersion"], rv1);
    // Another manager co-owns "a" with the same value (no conflict), then ferry drops a and b.
    let (st, _) = c.apply(&path, "other", &cm("app", json!({"a": "1"})));
    assert_eq!(st, 200);
    let (_, obj) = c.apply(&path, "ferry", &cm("app", json!({"c": "3"})));
    assert_eq!(
        obj["data"],
        json!({"a": "1", "c": "3"}),
        "b removed, a kept because 'other' owns it"
    );
    assert_ne!(obj["metadata"]["resourceVersion"], rv1);
    // dryRun changes nothing.
    let (st, _) = c.patch(
        &format!("{path}?fieldManager=ferry&dryRun=All"),
        APPLY,
        &cm("app", json!({"z": "9"})).to_string(),
    );
    assert_eq!(st, 200);
    assert!(s.object("", "ConfigMap", "default", "app").unwrap()["data"]
        .get("z")
        .is_none());
    // YAML bodies are accepted too.
    let yaml = "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: app\n  namespace: default\ndata:\n  c: \"4\"\n";
    let (st, obj) = c.patch(&format!("{path}?fieldManager=ferry"), APPLY, yaml);
    assert_eq!(st, 200, "{obj}");
    assert_eq!(obj["data"]["c"], "4");
}

#[test]
fn generation_bumps_on_spec_not_on_labels() {
    let s = sim();
    let c = C::new(&s);
    let d = |replicas: i64, label: &str| {
        json!({"apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": {"name": "w", "namespace": "default", "labels": {"l": label}},
        "spec": {"replicas": replicas, "selector": {"matchLabels": {"app": "w"}},
                 "template": {"metadata": {"labels": {"app": "w"}}, "spec": {"containers": [{"name": "w", "image": "nginx"}]}}}})
    };
    let path = "/apis/apps/v1/namespaces/default/deployments/w";
    assert_eq!(
        c.apply(path, "ferry", &d(1, "x")).1["metadata"]["generation"],
        1
    );
    assert_eq!(
        c.apply(path, "ferry", &d(1, "y")).1["metadata"]["generation"],
        1
    );
    assert_eq!(
        c.apply(path, "ferry", &d(2, "y")).1["metadata"]["generation"],
        2
    );
}

#[test]
fn update_checks_resource_version_and_delete_accepts_propagation() {
    let s = sim();
    let c = C::new(&s);
    let (_, created) = c.post(CM_PATH, &cm("u", json!({"a": "1"})));
    let mut obj = created.clone();
    obj["data"]["a"] = json!("2");
    let (st, updated) = c.put(&format!("{CM_PATH}/u"), &obj);
    assert_eq!(st, 200, "{updated}");
    assert_eq!(updated["data"]["a"], "2");
    assert_ne!(
        updated["metadata"]["resourceVersion"],
        created["metadata"]["resourceVersion"]
    );
    // A write based on the old resourceVersion is refused.
    let (st, body) = c.put(&format!("{CM_PATH}/u"), &obj);
    assert_eq!((st, body["reason"].as_str()), (409, Some("Conflict")));
    let (st, _) = c.delete(&format!("{CM_PATH}/u?propagationPolicy=Foreground"));
    assert_eq!(st, 200);
    let (st, _) = c.delete(&format!("{CM_PATH}/u"));
    assert_eq!(st, 404);
}
