//! Item 8: errors and lists.

use super::cluster::{ns_yaml, Cluster};
use serde_json::Value;

// Item 8: errors and lists

/// Metadata-only lists and objects, as a controller's metadata informer asks for them.
pub fn check_metadata_only_lists(c: &Cluster) {
    c.apply("ns.yaml", &ns_yaml("meta"));
    c.apply("cm.yaml", "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: one\n  namespace: meta\n  labels: {k: v}\ndata: {big: value}\n");
    let (code, ct, list) = c.raw_get(
        "/api/v1/namespaces/meta/configmaps",
        "application/json;as=PartialObjectMetadataList;g=meta.k8s.io;v=v1,application/json",
    );
    assert_eq!(code, 200, "{list}");
    // kube-apiserver 1.37 labels the answer plain `application/json` (kube-sim adds `as=...`).
    assert!(ct.starts_with("application/json"), "{ct}");
    assert_eq!(list["kind"], "PartialObjectMetadataList");
    assert_eq!(list["apiVersion"], "meta.k8s.io/v1");
    // A real namespace also holds `kube-root-ca.crt`.
    let item = list["items"]
        .as_array()
        .and_then(|items| items.iter().find(|i| i["metadata"]["name"] == "one"))
        .unwrap_or(&Value::Null);
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
/// the real message (kube-sim only: a real cluster compacts on its own schedule). Secrets, as
/// every real namespace also holds the `kube-root-ca.crt` ConfigMap.
pub fn check_continue_tokens_expire(c: &Cluster) {
    c.apply("ns.yaml", &ns_yaml("pages"));
    for i in 0..3 {
        c.apply(
            &format!("c{i}.yaml"),
            &format!("apiVersion: v1\nkind: Secret\nmetadata:\n  name: c{i}\n  namespace: pages\n"),
        );
    }
    let page: Value =
        serde_json::from_str(&c.ok(&["get", "--raw", "/api/v1/namespaces/pages/secrets?limit=1"]))
            .unwrap();
    let token = page["metadata"]["continue"].as_str().unwrap().to_string();
    assert_eq!(page["metadata"]["remainingItemCount"], 2);
    let next: Value = serde_json::from_str(&c.ok(&[
        "get",
        "--raw",
        &format!("/api/v1/namespaces/pages/secrets?limit=1&continue={token}"),
    ]))
    .unwrap();
    assert_eq!(next["items"][0]["metadata"]["name"], "c1");
    // kubectl follows the tokens itself.
    let names = c.ok(&[
        "get",
        "secrets",
        "-n",
        "pages",
        "--chunk-size=1",
        "-o",
        "name",
    ]);
    assert!(
        names.contains("secret/c0") && names.contains("secret/c2"),
        "{names}"
    );
    if let Some(sim) = c.sim {
        sim.compact();
        let err = c.fails(&[
            "get",
            "--raw",
            &format!("/api/v1/namespaces/pages/secrets?limit=1&continue={token}"),
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
pub fn check_delete_preconditions(c: &Cluster) {
    c.apply("ns.yaml", &ns_yaml("pre"));
    c.apply(
        "cm.yaml",
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: guarded\n  namespace: pre\n",
    );
    let p = c.files().join("opts.json");
    std::fs::write(&p, r#"{"kind":"DeleteOptions","apiVersion":"v1","preconditions":{"uid":"00000000-0000-0000-0000-000000000000"}}"#).unwrap();
    let err = c.fails(&[
        "delete",
        "--raw",
        "/api/v1/namespaces/pre/configmaps/guarded",
        "-f",
        &p.to_string_lossy(),
    ]);
    assert!(
        err.contains("Operation cannot be fulfilled on ConfigMap \"guarded\": the UID in the precondition (00000000-0000-0000-0000-000000000000) does not match the UID in record"),
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
