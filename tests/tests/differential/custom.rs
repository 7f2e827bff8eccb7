//! A CRD with status and scale subresources and its custom resources.

use super::*;

const CRD: &str = "/apis/apiextensions.k8s.io/v1/customresourcedefinitions/widgets.diff.ferry.dev";
const CR: &str = "/apis/diff.ferry.dev/v1/namespaces/{ns}/widgets/w1";

fn crd() -> Value {
    let int = json!({"type": "integer"});
    json!({"apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition",
        "metadata": {"name": "widgets.diff.ferry.dev"},
        "spec": {"group": "diff.ferry.dev", "scope": "Namespaced",
            "names": {"plural": "widgets", "singular": "widget", "kind": "Widget",
                      "listKind": "WidgetList", "shortNames": ["wg"]},
            "versions": [{"name": "v1", "served": true, "storage": true,
                "subresources": {"status": {}, "scale": {
                    "specReplicasPath": ".spec.replicas", "statusReplicasPath": ".status.replicas"}},
                "schema": {"openAPIV3Schema": {"type": "object", "properties": {
                    "spec": {"type": "object", "properties": {
                        "size": int, "replicas": int,
                        "color": {"type": "string", "default": "blue"},
                        "ports": {"type": "array", "x-kubernetes-list-type": "map",
                            "x-kubernetes-list-map-keys": ["name"],
                            "items": {"type": "object", "required": ["name"], "properties": {
                                "name": {"type": "string"}, "port": int}}}}},
                    "status": {"type": "object", "properties": {"replicas": int,
                        "phase": {"type": "string"}}}}}}}]}})
}

fn widget(spec: Value) -> Value {
    json!({"apiVersion": "diff.ferry.dev/v1", "kind": "Widget", "metadata": {"name": "w1"},
           "spec": spec})
}

fn established(a: &Answer) -> bool {
    a.body["status"]["conditions"].as_array().is_some_and(|c| {
        c.iter()
            .any(|c| c["type"] == "Established" && c["status"] == "True")
    })
}

/// CRD created, its resources written through every verb and subresource, CRD deleted.
pub fn crd_and_custom_resources(p: &mut Pair) {
    p.apply("create CRD", CRD, "alpha", "", &crd());
    p.wait("established", CRD, &established);
    // The discovery and OpenAPI of a new group settle on their own on the real server.
    p.wait(
        "served",
        "/apis/diff.ferry.dev/v1/namespaces/{ns}/widgets",
        &|a| a.status == 200,
    );
    p.get("CRD", CRD);
    let spec = json!({"size": 1, "replicas": 2, "ports": [{"name": "a", "port": 1}]});
    p.apply("create CR", CR, "alpha", "", &widget(spec.clone()));
    p.apply("no-op re-apply", CR, "alpha", "", &widget(spec));
    p.apply(
        "second manager owns another item",
        CR,
        "beta",
        "",
        &widget(json!({"ports": [{"name": "b", "port": 2}]})),
    );
    p.apply("conflict", CR, "beta", "", &widget(json!({"size": 5})));
    p.apply(
        "mistyped scalar",
        CR,
        "alpha",
        "",
        &widget(json!({"size": "big"})),
    );
    p.apply(
        "unknown field pruned",
        CR,
        "gamma",
        "&dryRun=All",
        &widget(json!({"nope": 1})),
    );
    let patch = |p: &mut Pair, step: &str, path: &str, ct: &str, body: Value| {
        p.send(
            step,
            "PATCH",
            &format!("{path}?fieldManager=patcher"),
            Some(ct),
            Some(&body),
        )
    };
    patch(
        p,
        "strategic patch refused",
        CR,
        STRATEGIC,
        json!({"spec": {"size": 3}}),
    );
    patch(p, "merge patch", CR, MERGE, json!({"spec": {"size": 3}}));
    patch(
        p,
        "merge patch of a wrong type",
        CR,
        MERGE,
        json!({"spec": {"size": "x"}}),
    );
    patch(
        p,
        "json patch",
        CR,
        JSON_PATCH,
        json!([{"op": "add", "path": "/spec/color", "value": "red"}]),
    );
    let status = format!("{CR}/status");
    patch(
        p,
        "status patch",
        &status,
        MERGE,
        json!({"status": {"replicas": 2, "phase": "Up"}}),
    );
    p.get("status", &status);
    p.get("scale", &format!("{CR}/scale"));
    patch(
        p,
        "scale patch",
        &format!("{CR}/scale"),
        MERGE,
        json!({"spec": {"replicas": 4}}),
    );
    p.get("after the writes", CR);
    p.get(
        "list",
        "/apis/diff.ferry.dev/v1/namespaces/{ns}/widgets?limit=1",
    );
    p.send("delete CRD", "DELETE", CRD, None, None);
    p.wait("CRD gone", CRD, &gone);
    p.get("CR gone with it", CR);
}
