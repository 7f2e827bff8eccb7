//! Errors as Status objects, list selectors and pagination.

use super::helpers::*;
use serde_json::json;
#[test]
fn errors_are_status_objects() {
    let s = sim();
    let c = C::new(&s);
    let (st, body) = c.get(&format!("{CM_PATH}/nope"));
    assert_eq!(
        (st, body["kind"].as_str(), body["reason"].as_str()),
        (404, Some("Status"), Some("NotFound"))
    );
    let (st, body) = c.apply("/api/v1/namespaces/missing/configmaps/x", "ferry", &json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "x", "namespace": "missing"}}));
    assert_eq!(st, 404);
    assert_eq!(body["message"], "namespaces \"missing\" not found");
    let (st, _) = c.post(CM_PATH, &cm("dup", json!({})));
    assert_eq!(st, 201);
    let (st, body) = c.post(CM_PATH, &cm("dup", json!({})));
    assert_eq!((st, body["reason"].as_str()), (409, Some("AlreadyExists")));
    let (st, body) = c.apply(
        &format!("{CM_PATH}/Bad_Name"),
        "ferry",
        &cm("Bad_Name", json!({})),
    );
    assert_eq!((st, body["reason"].as_str()), (422, Some("Invalid")));
    let bad_deploy = json!({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "d", "namespace": "default"}, "spec": {}});
    let (st, body) = c.apply(
        "/apis/apps/v1/namespaces/default/deployments/d",
        "ferry",
        &bad_deploy,
    );
    assert_eq!(st, 422);
    assert!(
        body["message"]
            .as_str()
            .unwrap()
            .contains("spec.selector: Required value"),
        "{body}"
    );
    let (st, _) = c.req(
        "POST",
        CM_PATH,
        Some("application/vnd.kubernetes.protobuf"),
        Some("x"),
    );
    assert_eq!(st, 415);
    // JSON patch is served (an empty one changes nothing); unknown patch types are 415.
    let (st, _) = c.patch(
        &format!("{CM_PATH}/dup"),
        "application/json-patch+json",
        "[]",
    );
    assert_eq!(st, 200);
    let (st, _) = c.patch(&format!("{CM_PATH}/dup"), "text/plain", "x");
    assert_eq!(st, 415);
    let (st, _) = c.req("POST", CM_PATH, Some("application/json"), Some("{not json"));
    assert_eq!(st, 400);
    let (st, body) = c.patch(
        &format!("{CM_PATH}/dup"),
        APPLY,
        &cm("dup", json!({})).to_string(),
    );
    assert_eq!(st, 422, "apply without fieldManager: {body}");
    let (st, _) = c.apply(
        &format!("{CM_PATH}/x"),
        "ferry",
        &json!({"apiVersion": "apps/v1", "kind": "ConfigMap", "metadata": {"name": "x"}}),
    );
    assert_eq!(st, 400);
}

#[test]
fn list_selectors_and_pagination() {
    let s = sim();
    let c = C::new(&s);
    for i in 0..5 {
        let mut o = cm(&format!("c{i}"), json!({}));
        o["metadata"]["labels"] = json!({"parity": if i % 2 == 0 { "even" } else { "odd" }});
        assert_eq!(c.apply(&format!("{CM_PATH}/c{i}"), "ferry", &o).0, 201);
    }
    let (_, l) = c.get(&format!("{CM_PATH}?labelSelector=parity%3Deven"));
    assert_eq!(l["kind"], "ConfigMapList");
    assert_eq!(l["items"].as_array().unwrap().len(), 3);
    let (_, l) = c.get(&format!("{CM_PATH}?fieldSelector=metadata.name%3Dc3"));
    assert_eq!(l["items"][0]["metadata"]["name"], "c3");
    let (_, p1) = c.get(&format!("{CM_PATH}?limit=2"));
    assert_eq!(p1["items"].as_array().unwrap().len(), 2);
    let token = p1["metadata"]["continue"].as_str().unwrap().to_string();
    let (_, p2) = c.get(&format!("{CM_PATH}?limit=10&continue={token}"));
    assert_eq!(p2["items"].as_array().unwrap().len(), 3);
    assert!(p2["metadata"].get("continue").is_none());
    let (_, all) = c.get("/api/v1/configmaps");
    assert_eq!(all["items"].as_array().unwrap().len(), 5);
}
