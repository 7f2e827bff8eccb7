//! Apply and Update ownership on real schema types, with the `fieldsV1` the real server writes.

use super::managers::{self, top_level};
use super::*;
use crate::kube_sim::schema::{self, TypeRef};
use serde_json::{json, Value};

fn deployment() -> TypeRef {
    schema::k8s()
        .type_of("apps", "v1", "Deployment")
        .expect("typed")
}

fn w(manager: &str) -> Writer<'_> {
    Writer {
        manager,
        api_version: "apps/v1",
        subresource: "",
        time: "2026-01-01T00:00:00Z",
    }
}

fn deploy(containers: Value) -> Value {
    json!({"apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": {"name": "web", "namespace": "default", "labels": {"app": "web"}},
        "spec": {"replicas": 2, "selector": {"matchLabels": {"app": "web"}},
            "template": {"metadata": {"labels": {"app": "web"}}, "spec": {"containers": containers}}}})
}

fn sidecar(containers: Value) -> Value {
    json!({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "web", "namespace": "default"},
        "spec": {"template": {"spec": {"containers": containers}}}})
}

#[test]
fn apply_records_fields_v1_like_the_real_server() {
    let t = deployment();
    let typed = Typed {
        types: &schema::k8s().types,
        root: &t,
    };
    let cfg = deploy(json!([{"name": "web", "image": "nginx", "ports": [{"containerPort": 80}]}]));
    let status = top_level(&["status"]);
    let (obj, ms) = managers::apply(&typed, &json!({}), &cfg, &[], &w("ferry"), false, &status)
        .expect("applies");
    assert_eq!(obj, cfg);
    assert_eq!(ms.len(), 1);
    assert_eq!(
        ms[0].fields.to_fields_v1(),
        json!({"f:metadata": {"f:labels": {"f:app": {}}},
            "f:spec": {"f:replicas": {}, "f:selector": {}, "f:template": {
                "f:metadata": {"f:labels": {"f:app": {}}},
                "f:spec": {"f:containers": {"k:{\"name\":\"web\"}": {".": {}, "f:image": {}, "f:name": {},
                    "f:ports": {"k:{\"containerPort\":80,\"protocol\":\"TCP\"}": {".": {}, "f:containerPort": {}}}}}}}}})
    );
}

#[test]
fn two_appliers_share_a_list_and_prune_only_their_items() {
    let t = deployment();
    let typed = Typed {
        types: &schema::k8s().types,
        root: &t,
    };
    let none = FieldSet::new();
    let a1 = deploy(json!([{"name": "web", "image": "nginx"}]));
    let (obj, ms) =
        managers::apply(&typed, &json!({}), &a1, &[], &w("a"), false, &none).expect("a");
    let b = sidecar(json!([{"name": "log", "image": "busybox"}]));
    let (obj, ms) =
        managers::apply(&typed, &obj, &b, &ms, &w("b"), false, &none).expect("b: no conflict");
    let names: Vec<&str> = obj["spec"]["template"]["spec"]["containers"]
        .as_array()
        .expect("list")
        .iter()
        .filter_map(|c| c["name"].as_str())
        .collect();
    assert_eq!(names, ["web", "log"]);
    // b changes a's image: a conflict naming a and the item path.
    let b2 =
        sidecar(json!([{"name": "log", "image": "busybox"}, {"name": "web", "image": "nginx:2"}]));
    let err = managers::apply(&typed, &obj, &b2, &ms, &w("b"), false, &none).expect_err("conflict");
    let ApplyError::Conflicts(c) = err else {
        panic!("conflicts expected")
    };
    assert_eq!(
        managers::conflict_message(&c),
        "Apply failed with 1 conflict: conflict with \"a\": .spec.template.spec.containers[name=\"web\"].image"
    );
    // a drops its container while b still applies its own: only a's goes.
    let a2 = deploy(json!([{"name": "api", "image": "api"}]));
    let (obj, ms) = managers::apply(&typed, &obj, &a2, &ms, &w("a"), false, &none).expect("a2");
    let names: Vec<&str> = obj["spec"]["template"]["spec"]["containers"]
        .as_array()
        .expect("list")
        .iter()
        .filter_map(|c| c["name"].as_str())
        .collect();
    assert_eq!(names, ["log", "api"]);
    // An item both apply stays when one of them drops it.
    let b3 = sidecar(json!([{"name": "log", "image": "busybox"}, {"name": "api", "image": "api"}]));
    let (obj, ms) =
        managers::apply(&typed, &obj, &b3, &ms, &w("b"), false, &none).expect("b3 shares");
    let a3 = deploy(json!([{"name": "other", "image": "x"}]));
    let (obj, _) = managers::apply(&typed, &obj, &a3, &ms, &w("a"), false, &none).expect("a3");
    let names: Vec<&str> = obj["spec"]["template"]["spec"]["containers"]
        .as_array()
        .expect("list")
        .iter()
        .filter_map(|c| c["name"].as_str())
        .collect();
    assert_eq!(names, ["log", "api", "other"]);
}

#[test]
fn force_takes_ownership_and_update_records_dot_entries() {
    let t = deployment();
    let typed = Typed {
        types: &schema::k8s().types,
        root: &t,
    };
    let none = FieldSet::new();
    let cfg = deploy(json!([{"name": "web", "image": "nginx"}]));
    let zero = schema::zero_object(&schema::k8s().types, &t);
    // `omitzero` (1.37): a zero creationTimestamp is not encoded.
    assert!(zero["spec"]["template"]["metadata"]
        .get("creationTimestamp")
        .is_none());
    let ms =
        managers::update(&typed, &zero, &cfg, &[], &w("kubectl-create"), &none).expect("create");
    let fv = ms[0].fields.to_fields_v1();
    assert_eq!(fv["f:metadata"]["f:labels"], json!({".": {}, "f:app": {}}));
    assert_eq!(
        fv["f:spec"]["f:template"]["f:spec"]["f:containers"]["k:{\"name\":\"web\"}"]
            [".".to_string()],
        json!({})
    );
    assert!(fv["f:spec"]["f:template"]["f:spec"].get(".").is_none());
    let mut scaled = cfg.clone();
    scaled["spec"]["replicas"] = json!(5);
    let err = managers::apply(&typed, &cfg, &scaled, &ms, &w("ferry"), false, &none)
        .expect_err("conflict");
    let ApplyError::Conflicts(c) = err else {
        panic!("conflicts expected")
    };
    assert_eq!(
        managers::conflict_message(&c),
        "Apply failed with 1 conflict: conflict with \"kubectl-create\" using apps/v1: .spec.replicas"
    );
    let (obj, ms) =
        managers::apply(&typed, &cfg, &scaled, &ms, &w("ferry"), true, &none).expect("forced");
    assert_eq!(obj["spec"]["replicas"], json!(5));
    let create = ms
        .iter()
        .find(|m| m.manager == "kubectl-create")
        .expect("kept");
    assert!(!create.fields.to_fields_v1()["f:spec"]
        .as_object()
        .is_some_and(|m| m.contains_key("f:replicas")));
}

#[test]
fn custom_resources_merge_by_their_crd_schema() {
    let schema = json!({"type": "object", "properties": {"spec": {"type": "object", "properties": {
        "routes": {"type": "array", "x-kubernetes-list-type": "map", "x-kubernetes-list-map-keys": ["host"],
            "items": {"type": "object", "properties": {"host": {"type": "string"}, "port": {"type": "integer"}}}},
        "tags": {"type": "array", "items": {"type": "string"}},
        "extra": {"type": "object", "x-kubernetes-preserve-unknown-fields": true}}}}});
    let root = schema::crd::root_type(Some(&schema));
    let typed = Typed {
        types: &schema::k8s().types,
        root: &root,
    };
    let none = FieldSet::new();
    let cr = |routes: Value, tags: Value| {
        json!({"apiVersion": "x.io/v1", "kind": "Route", "metadata": {"name": "r", "labels": {"a": "b"}},
        "spec": {"routes": routes, "tags": tags}})
    };
    let cw = |m| Writer {
        manager: m,
        api_version: "x.io/v1",
        subresource: "",
        time: "t",
    };
    let (obj, ms) = managers::apply(
        &typed,
        &json!({}),
        &cr(json!([{"host": "a", "port": 1}]), json!(["x"])),
        &[],
        &cw("a"),
        false,
        &none,
    )
    .expect("a");
    assert_eq!(
        ms[0].fields.to_fields_v1(),
        json!({"f:metadata": {"f:labels": {"f:a": {}}}, "f:spec": {"f:routes": {"k:{\"host\":\"a\"}": {".": {}, "f:host": {}, "f:port": {}}}, "f:tags": {}}})
    );
    let (obj, _) = managers::apply(
        &typed,
        &obj,
        &json!({"apiVersion": "x.io/v1", "kind": "Route", "metadata": {"name": "r"},
        "spec": {"routes": [{"host": "b", "port": 2}]}}),
        &ms,
        &cw("b"),
        false,
        &none,
    )
    .expect("b shares the map list");
    assert_eq!(obj["spec"]["routes"].as_array().map(Vec::len), Some(2));
    // Without a schema everything is deduced: maps granular with every key a member (so `.`
    // entries), lists atomic.
    let deduced = schema::crd::root_type(None);
    let typed = Typed {
        types: &schema::k8s().types,
        root: &deduced,
    };
    let set = typed
        .to_field_set(&json!({"spec": {"a": {"b": 1}, "l": [1, 2]}}))
        .expect("set");
    assert_eq!(
        set.to_fields_v1(),
        json!({"f:spec": {".": {}, "f:a": {".": {}, "f:b": {}}, "f:l": {}}})
    );
}

#[test]
fn more_than_ten_update_managers_fold_into_ancient_changes() {
    let t = schema::k8s().type_of("", "v1", "ConfigMap").expect("typed");
    let typed = Typed {
        types: &schema::k8s().types,
        root: &t,
    };
    let none = FieldSet::new();
    let mut live =
        json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c"}, "data": {}});
    let mut ms = Vec::new();
    for i in 0..12 {
        let mut new = live.clone();
        new["data"][format!("k{i}")] = json!("v");
        let time = format!("2026-01-01T00:00:{i:02}Z");
        let w = Writer {
            manager: &format!("m{i:02}"),
            api_version: "v1",
            subresource: "",
            time: &time,
        };
        ms = managers::update(&typed, &live, &new, &ms, &w, &none).expect("update");
        live = new;
    }
    let names: Vec<&str> = ms.iter().map(|m| m.manager.as_str()).collect();
    assert_eq!(ms.len(), 10, "{names:?}");
    let ancient = ms
        .iter()
        .find(|m| m.manager == "ancient-changes")
        .expect("bucket");
    assert_eq!(
        ancient.fields.to_fields_v1(),
        json!({"f:data": {"f:k0": {}, "f:k1": {}, "f:k2": {}}})
    );
    assert!(!names.contains(&"m00") && !names.contains(&"m02") && names.contains(&"m03"));
}
