//! Sequences on ConfigMaps, lists, Services and Namespaces.

use super::*;

const CMS: &str = "/api/v1/namespaces/{ns}/configmaps";
const CM: &str = "/api/v1/namespaces/{ns}/configmaps/app";

fn cm(name: &str, ns: &str, data: Value) -> Value {
    json!({"apiVersion": "v1", "kind": "ConfigMap",
           "metadata": {"name": name, "namespace": ns}, "data": data})
}

/// Apply with and without force, dry run, the three patch types, update, create, field
/// validation and delete of one ConfigMap.
pub fn configmap_writes(p: &mut Pair) {
    let ns = p.ns.clone();
    let first = cm("app", &ns, json!({"a": "1", "b": "2"}));
    p.apply("create by apply", CM, "alpha", "", &first);
    p.apply("no-op re-apply", CM, "alpha", "", &first);
    let theirs = cm("app", &ns, json!({"a": "9"}));
    p.apply("conflict without force", CM, "beta", "", &theirs);
    p.apply("force takes the field", CM, "beta", "&force=true", &theirs);
    p.apply(
        "dry-run apply",
        CM,
        "gamma",
        "&dryRun=All",
        &cm("app", &ns, json!({"c": "3"})),
    );
    p.get("dry run left nothing", CM);
    p.apply(
        "alpha drops b",
        CM,
        "alpha",
        "&force=true",
        &cm("app", &ns, json!({"a": "9"})),
    );
    let patch = |p: &mut Pair, step: &str, ct: &str, body: Value| {
        p.send(
            step,
            "PATCH",
            &format!("{CM}?fieldManager=patcher"),
            Some(ct),
            Some(&body),
        )
    };
    patch(p, "merge patch", MERGE, json!({"data": {"d": "4"}}));
    patch(
        p,
        "strategic patch",
        STRATEGIC,
        json!({"metadata": {"labels": {"x": "y"}}, "data": {"e": "5"}}),
    );
    patch(
        p,
        "json patch",
        JSON_PATCH,
        json!([{"op": "replace", "path": "/data/a", "value": "10"}]),
    );
    patch(
        p,
        "failing json patch",
        JSON_PATCH,
        json!([{"op": "test", "path": "/data/a", "value": "no"}]),
    );
    patch(p, "patch with a bad body", MERGE, json!("not an object"));
    p.send(
        "patch without a field manager",
        "PATCH",
        CM,
        Some(MERGE),
        Some(&json!({"data": {"f": "6"}})),
    );
    let mut stale = cm("app", &ns, json!({"z": "1"}));
    stale["metadata"]["resourceVersion"] = json!("1");
    p.send(
        "update with a stale resourceVersion",
        "PUT",
        CM,
        Some(JSON),
        Some(&stale),
    );
    p.send(
        "create an existing name",
        "POST",
        CMS,
        Some(JSON),
        Some(&first),
    );
    let mut unknown = cm("strict", &ns, json!({"a": "1"}));
    unknown["spec"] = json!({"x": 1});
    let strict = format!("{CMS}?fieldValidation=Strict");
    p.send(
        "strict unknown field",
        "POST",
        &strict,
        Some(JSON),
        Some(&unknown),
    );
    unknown["metadata"]["name"] = json!("warned");
    p.send(
        "unknown field warned",
        "POST",
        CMS,
        Some(JSON),
        Some(&unknown),
    );
    p.send(
        "apply of an unknown field",
        "PATCH",
        &format!("{CMS}/warned?fieldManager=alpha"),
        Some(APPLY),
        Some(&unknown),
    );
    p.send(
        "dry-run merge patch",
        "PATCH",
        &format!("{CM}?fieldManager=dry&dryRun=All"),
        Some(MERGE),
        Some(&json!({"data": {"g": "7"}})),
    );
    p.send(
        "dry-run delete",
        "DELETE",
        &format!("{CM}?dryRun=All"),
        None,
        None,
    );
    p.get("get after the writes", CM);
    p.send("delete", "DELETE", CM, None, None);
    p.get("get of a deleted object", CM);
    p.send("delete of a missing object", "DELETE", CM, None, None);
}

/// `limit` and `continue` over a labelled set, and one unfiltered list.
pub fn lists(p: &mut Pair) {
    let ns = p.ns.clone();
    for i in 0..5 {
        let mut c = cm(&format!("page-{i}"), &ns, json!({"i": i.to_string()}));
        c["metadata"]["labels"] = json!({"set": "paged"});
        p.send("create", "POST", CMS, Some(JSON), Some(&c));
    }
    let first = format!("{CMS}?labelSelector=set%3Dpaged&limit=2");
    let mut pages = p.get("first page", &first);
    for n in 2..=4 {
        let tokens = pages.clone().map(|a| a.continue_token.unwrap_or_default());
        if tokens.iter().all(String::is_empty) {
            break;
        }
        let paths = tokens.map(|t| format!("{first}&continue={t}"));
        pages = p.send_each(&format!("page {n}"), "GET", paths);
    }
    p.get(
        "names only",
        &format!("{CMS}?fieldSelector=metadata.name%3Dpage-3"),
    );
    p.get(
        "set-based selector",
        &format!("{CMS}?labelSelector=set%20in%20(paged,other)&limit=10"),
    );
    p.get("unfiltered list", &format!("{CMS}?limit=3"));
    p.get(
        "bad continue token",
        &format!("{CMS}?limit=2&continue=garbage"),
    );
}

/// A Service: apply, change, strategic patch of its ports, the status subresource, delete.
pub fn service(p: &mut Pair) {
    let path = "/api/v1/namespaces/{ns}/services/web";
    let svc = |ports: Value| {
        json!({"apiVersion": "v1", "kind": "Service", "metadata": {"name": "web"},
               "spec": {"type": "LoadBalancer", "selector": {"app": "web"}, "ports": ports}})
    };
    p.apply(
        "create",
        path,
        "alpha",
        "",
        &svc(json!([{"name": "http", "port": 80}])),
    );
    let two =
        json!([{"name": "http", "port": 80}, {"name": "https", "port": 443, "targetPort": 8443}]);
    p.apply("second port", path, "alpha", "", &svc(two));
    p.send(
        "strategic patch of a port",
        "PATCH",
        &format!("{path}?fieldManager=patcher"),
        Some(STRATEGIC),
        Some(&json!({"spec": {"ports": [{"port": 80, "targetPort": 8080}]}})),
    );
    p.get("status", &format!("{path}/status"));
    p.send(
        "status patch",
        "PATCH",
        &format!("{path}/status?fieldManager=lb"),
        Some(MERGE),
        Some(&json!({"status": {"loadBalancer": {"ingress": [{"ip": "192.0.2.1"}]}}})),
    );
    p.apply("apply ignores status", path, "alpha", "", &{
        let mut s = svc(json!([{"name": "http", "port": 80}]));
        s["status"] = json!({"loadBalancer": {}});
        s
    });
    p.apply(
        "dry-run of a new Service",
        "/api/v1/namespaces/{ns}/services/dry",
        "alpha",
        "&dryRun=All",
        &{
            let mut s = svc(json!([{"port": 53, "protocol": "UDP"}]));
            s["metadata"]["name"] = json!("dry");
            s
        },
    );
    p.get(
        "dry-run Service not stored",
        "/api/v1/namespaces/{ns}/services/dry",
    );
    p.send("delete", "DELETE", path, None, None);
    let plain = "/api/v1/namespaces/{ns}/services/plain";
    let mut cluster_ip = svc(json!([{"port": 80}]));
    cluster_ip["metadata"]["name"] = json!("plain");
    cluster_ip["spec"]["type"] = json!("ClusterIP");
    p.apply("ClusterIP Service", plain, "alpha", "", &cluster_ip);
    p.send(
        "load balancer status of a ClusterIP Service",
        "PATCH",
        &format!("{plain}/status?fieldManager=lb"),
        Some(MERGE),
        Some(&json!({"status": {"loadBalancer": {"ingress": [{"ip": "192.0.2.1"}]}}})),
    );
}

/// A Namespace with content: apply, label, delete (Terminating), gone.
pub fn namespace(p: &mut Pair) {
    let name = format!("{}-child", p.ns);
    let path = format!("/api/v1/namespaces/{name}");
    let ns = json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name}});
    p.apply("create by apply", &path, "alpha", "", &ns);
    let mut labelled = ns.clone();
    labelled["metadata"]["labels"] = json!({"team": "a"});
    p.apply("label", &path, "alpha", "", &labelled);
    p.send(
        "content",
        "POST",
        &format!("{path}/configmaps"),
        Some(JSON),
        Some(&cm("inside", &name, json!({"a": "1"}))),
    );
    p.send("delete", "DELETE", &path, None, None);
    p.send("second delete", "DELETE", &path, None, None);
    p.wait("namespace gone", &path, &gone);
    p.get("gone", &path);
    p.send(
        "delete default",
        "DELETE",
        "/api/v1/namespaces/default",
        None,
        None,
    );
}
