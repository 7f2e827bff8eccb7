//! kube-sim's behavior at the HTTP level: authentication, discovery, SSA semantics, errors,
//! status simulation, faults and the request log.

use ferry_tests::client::{agent, send, Auth};
use ferry_tests::kube_sim::{ClockMode, Faults, KubeSim, SimConfig, SimOptions};
use serde_json::{json, Value};
use std::time::Duration;

fn sim() -> KubeSim {
    KubeSim::start(SimOptions::default()).unwrap()
}

struct C {
    agent: ureq::Agent,
    base: String,
}

impl C {
    fn new(s: &KubeSim) -> Self {
        C {
            agent: agent(s, Auth::ClientCert),
            base: s.url(),
        }
    }
    fn req(&self, method: &str, path: &str, ct: Option<&str>, body: Option<&str>) -> (u16, Value) {
        let (status, _, text) = send(
            &self.agent,
            method,
            &format!("{}{path}", self.base),
            ct,
            body,
            None,
        )
        .unwrap();
        (
            status,
            serde_json::from_str(&text).unwrap_or(Value::String(text)),
        )
    }
    fn apply(&self, path: &str, manager: &str, body: &Value) -> (u16, Value) {
        self.req(
            "PATCH",
            &format!("{path}?fieldManager={manager}"),
            Some("application/apply-patch+yaml"),
            Some(&body.to_string()),
        )
    }
}

fn cm(name: &str, data: Value) -> Value {
    json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": name, "namespace": "default"}, "data": data})
}

const CM_PATH: &str = "/api/v1/namespaces/default/configmaps";

#[test]
fn authentication_cert_token_none_and_rogue() {
    let s = sim();
    let url = format!("{}/api/v1/namespaces", s.url());
    let (st, _, _) = send(&agent(&s, Auth::ClientCert), "GET", &url, None, None, None).unwrap();
    assert_eq!(st, 200);
    let (st, _, _) = send(
        &agent(&s, Auth::None),
        "GET",
        &url,
        None,
        None,
        Some(&s.token),
    )
    .unwrap();
    assert_eq!(st, 200);
    let (st, _, body) = send(
        &agent(&s, Auth::None),
        "GET",
        &url,
        None,
        None,
        Some("wrong"),
    )
    .unwrap();
    assert_eq!(st, 401, "{body}");
    let (st, _, _) = send(&agent(&s, Auth::None), "GET", &url, None, None, None).unwrap();
    assert_eq!(st, 401);
    // A client certificate from another CA fails the TLS handshake.
    assert!(send(
        &agent(&s, Auth::RogueClientCert),
        "GET",
        &url,
        None,
        None,
        None
    )
    .is_err());
    let (st, _, body) = send(
        &agent(&s, Auth::None),
        "GET",
        &format!("{}/version", s.url()),
        None,
        None,
        None,
    )
    .unwrap();
    assert_eq!(st, 200);
    assert!(body.contains("v1.32"));
}

#[test]
fn discovery_legacy_aggregated_and_openapi() {
    let s = sim();
    let a = agent(&s, Auth::ClientCert);
    let get = |path: &str, accept: Option<&str>| {
        let mut r = ureq::http::Request::builder().uri(format!("{}{path}", s.url()));
        if let Some(acc) = accept {
            r = r.header("Accept", acc);
        }
        let mut resp = a.run(r.body(()).unwrap()).unwrap();
        let ct = resp
            .headers()
            .get("content-type")
            .unwrap()
            .to_str()
            .unwrap()
            .to_string();
        (
            ct,
            serde_json::from_str::<Value>(&resp.body_mut().read_to_string().unwrap()).unwrap(),
        )
    };
    let (_, groups) = get("/apis", None);
    assert_eq!(groups["kind"], "APIGroupList");
    assert!(
        groups["groups"]
            .as_array()
            .unwrap()
            .iter()
            .any(|g| g["name"] == "helm.cattle.io"),
        "HelmChart CRD pre-installed"
    );
    let (ct, agg) = get(
        "/apis",
        Some(
            "application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList,application/json",
        ),
    );
    assert_eq!(
        ct,
        "application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList"
    );
    assert_eq!(agg["kind"], "APIGroupDiscoveryList");
    let (_, core) = get("/api/v1", None);
    let ns = core["resources"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["name"] == "namespaces")
        .unwrap()
        .clone();
    assert_eq!(ns["namespaced"], false);
    let (_, root) = get("/openapi/v3", None);
    let url = root["paths"]["apis/apps/v1"]["serverRelativeURL"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(url.contains("?hash="));
    let (_, doc) = get(&url, None);
    let patch = &doc["paths"]["/apis/apps/v1/namespaces/{namespace}/deployments/{name}"]["patch"];
    assert_eq!(
        patch["x-kubernetes-group-version-kind"]["kind"],
        "Deployment"
    );
    assert!(patch["parameters"]
        .as_array()
        .unwrap()
        .iter()
        .any(|p| p["name"] == "fieldValidation"));
}

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
    let (st, _) = c.req(
        "PATCH",
        &format!("{path}?fieldManager=ferry&dryRun=All"),
        Some("application/apply-patch+yaml"),
        Some(&cm("app", json!({"z": "9"})).to_string()),
    );
    assert_eq!(st, 200);
    assert!(s.object("", "ConfigMap", "default", "app").unwrap()["data"]
        .get("z")
        .is_none());
    // YAML bodies are accepted too.
    let yaml = "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: app\n  namespace: default\ndata:\n  c: \"4\"\n";
    let (st, obj) = c.req(
        "PATCH",
        &format!("{path}?fieldManager=ferry"),
        Some("application/apply-patch+yaml"),
        Some(yaml),
    );
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
fn errors_are_status_objects() {
    let s = sim();
    let c = C::new(&s);
    let (st, body) = c.req("GET", &format!("{CM_PATH}/nope"), None, None);
    assert_eq!(
        (st, body["kind"].as_str(), body["reason"].as_str()),
        (404, Some("Status"), Some("NotFound"))
    );
    let (st, body) = c.apply("/api/v1/namespaces/missing/configmaps/x", "ferry", &json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "x", "namespace": "missing"}}));
    assert_eq!(st, 404);
    assert_eq!(body["message"], "namespaces \"missing\" not found");
    let (st, _) = c.req(
        "POST",
        CM_PATH,
        Some("application/json"),
        Some(&cm("dup", json!({})).to_string()),
    );
    assert_eq!(st, 201);
    let (st, body) = c.req(
        "POST",
        CM_PATH,
        Some("application/json"),
        Some(&cm("dup", json!({})).to_string()),
    );
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
    let (st, _) = c.req(
        "PATCH",
        &format!("{CM_PATH}/dup"),
        Some("application/json-patch+json"),
        Some("[]"),
    );
    assert_eq!(st, 200);
    let (st, _) = c.req(
        "PATCH",
        &format!("{CM_PATH}/dup"),
        Some("text/plain"),
        Some("x"),
    );
    assert_eq!(st, 415);
    let (st, _) = c.req("POST", CM_PATH, Some("application/json"), Some("{not json"));
    assert_eq!(st, 400);
    let (st, body) = c.req(
        "PATCH",
        &format!("{CM_PATH}/dup"),
        Some("application/apply-patch+yaml"),
        Some(&cm("dup", json!({})).to_string()),
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
    let (_, l) = c.req(
        "GET",
        &format!("{CM_PATH}?labelSelector=parity%3Deven"),
        None,
        None,
    );
    assert_eq!(l["kind"], "ConfigMapList");
    assert_eq!(l["items"].as_array().unwrap().len(), 3);
    let (_, l) = c.req(
        "GET",
        &format!("{CM_PATH}?fieldSelector=metadata.name%3Dc3"),
        None,
        None,
    );
    assert_eq!(l["items"][0]["metadata"]["name"], "c3");
    let (_, p1) = c.req("GET", &format!("{CM_PATH}?limit=2"), None, None);
    assert_eq!(p1["items"].as_array().unwrap().len(), 2);
    let token = p1["metadata"]["continue"].as_str().unwrap().to_string();
    let (_, p2) = c.req(
        "GET",
        &format!("{CM_PATH}?limit=10&continue={token}"),
        None,
        None,
    );
    assert_eq!(p2["items"].as_array().unwrap().len(), 3);
    assert!(p2["metadata"].get("continue").is_none());
    let (_, all) = c.req("GET", "/api/v1/configmaps", None, None);
    assert_eq!(all["items"].as_array().unwrap().len(), 5);
}

#[test]
fn never_ready_workloads_and_jobs() {
    let s = KubeSim::start(SimOptions {
        port: 0,
        config: SimConfig {
            ready_delay: Duration::from_secs(2),
            clock: ClockMode::Manual,
            ..SimConfig::default()
        },
    })
    .unwrap();
    let c = C::new(&s);
    let d = |name: &str, image: &str| {
        json!({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": name, "namespace": "default"},
        "spec": {"selector": {"matchLabels": {"a": name}}, "template": {"metadata": {"labels": {"a": name}}, "spec": {"containers": [{"name": "c", "image": image}]}}}})
    };
    c.apply(
        "/apis/apps/v1/namespaces/default/deployments/good",
        "ferry",
        &d("good", "nginx"),
    );
    c.apply(
        "/apis/apps/v1/namespaces/default/deployments/bad",
        "ferry",
        &d("bad", "nginx:never-ready"),
    );
    let job = |name: &str, image: &str| {
        json!({"apiVersion": "batch/v1", "kind": "Job", "metadata": {"name": name, "namespace": "default"},
        "spec": {"template": {"spec": {"restartPolicy": "Never", "containers": [{"name": "c", "image": image}]}}}})
    };
    c.apply(
        "/apis/batch/v1/namespaces/default/jobs/ok",
        "ferry",
        &job("ok", "busybox"),
    );
    c.apply(
        "/apis/batch/v1/namespaces/default/jobs/ko",
        "ferry",
        &job("ko", "busybox:job-fails"),
    );
    let cond = |obj: &Value, kind: &str| {
        obj["status"]["conditions"]
            .as_array()
            .and_then(|c| c.iter().find(|c| c["type"] == kind).cloned())
            .unwrap_or_default()
    };
    s.settle();
    let good = s.object("apps", "Deployment", "default", "good").unwrap();
    assert_eq!(
        cond(&good, "Available")["status"],
        "False",
        "not ready before the clock moves"
    );
    s.advance(Duration::from_secs(2));
    let good = s.object("apps", "Deployment", "default", "good").unwrap();
    assert_eq!(good["status"]["readyReplicas"], 1);
    assert_eq!(good["status"]["observedGeneration"], 1);
    let bad = s.object("apps", "Deployment", "default", "bad").unwrap();
    assert!(bad["status"]["readyReplicas"].is_null());
    assert_eq!(cond(&bad, "Available")["status"], "False");
    // The failing Job retries backoffLimit (6) times, each pod failing after ready_delay.
    for _ in 0..8 {
        s.advance(Duration::from_secs(2));
    }
    let ok = s.object("batch", "Job", "default", "ok").unwrap();
    assert_eq!(cond(&ok, "Complete")["status"], "True", "{ok}");
    assert_eq!(cond(&ok, "SuccessCriteriaMet")["status"], "True");
    let ko = s.object("batch", "Job", "default", "ko").unwrap();
    assert_eq!(
        cond(&ko, "Failed")["reason"],
        "BackoffLimitExceeded",
        "{ko}"
    );
    assert_eq!(ko["status"]["failed"], 7);
}

#[test]
fn helmchart_gets_an_install_job_and_namespace_delete_cascades() {
    let s = sim();
    let c = C::new(&s);
    let hc = json!({"apiVersion": "helm.cattle.io/v1", "kind": "HelmChart", "metadata": {"name": "hello", "namespace": "kube-system"}, "spec": {"chartContent": "H4sI"}});
    assert_eq!(
        c.apply(
            "/apis/helm.cattle.io/v1/namespaces/kube-system/helmcharts/hello",
            "ferry",
            &hc
        )
        .0,
        201
    );
    s.settle();
    assert!(s
        .object("batch", "Job", "kube-system", "helm-install-hello")
        .is_some());
    c.apply(
        "/api/v1/namespaces/gone",
        "ferry",
        &json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "gone"}}),
    );
    c.apply("/api/v1/namespaces/gone/configmaps/x", "ferry", &json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "x", "namespace": "gone"}}));
    assert_eq!(
        c.req("DELETE", "/api/v1/namespaces/gone", None, None).0,
        200
    );
    s.settle();
    assert!(s.object("", "ConfigMap", "gone", "x").is_none());
    assert!(s.object("", "Namespace", "", "gone").is_none());
}

#[test]
fn crd_resources_are_served_only_after_established() {
    let s = KubeSim::start(SimOptions {
        port: 0,
        config: SimConfig {
            crd_delay: Duration::from_secs(5),
            clock: ClockMode::Manual,
            ..SimConfig::default()
        },
    })
    .unwrap();
    let c = C::new(&s);
    let crd: Value = ferry_bundle::yaml::value_from_str(
        "crd.yaml",
        &std::fs::read_to_string(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../k3s-examples/crd/crd.yaml"
        ))
        .unwrap(),
        &ferry_bundle::yaml::Budget::default(),
    )
    .unwrap();
    assert_eq!(
        c.apply(
            "/apis/apiextensions.k8s.io/v1/customresourcedefinitions/sensors.edge.example.com",
            "ferry",
            &crd
        )
        .0,
        201
    );
    assert_eq!(
        c.req("GET", "/apis/edge.example.com/v1/sensors", None, None)
            .0,
        404
    );
    s.advance(Duration::from_secs(4));
    assert_eq!(
        c.req("GET", "/apis/edge.example.com/v1/sensors", None, None)
            .0,
        404,
        "not before crd_delay"
    );
    s.advance(Duration::from_secs(1));
    let (st, l) = c.req("GET", "/apis/edge.example.com/v1/sensors", None, None);
    assert_eq!(st, 200, "{l}");
    let crd = s
        .object(
            "apiextensions.k8s.io",
            "CustomResourceDefinition",
            "",
            "sensors.edge.example.com",
        )
        .unwrap();
    assert!(crd["status"]["conditions"]
        .as_array()
        .unwrap()
        .iter()
        .any(|c| c["type"] == "Established" && c["status"] == "True"));
}

#[test]
fn faults_and_request_log() {
    let mut s = sim();
    let c = C::new(&s);
    s.clear_log();
    s.set_faults(Faults {
        fail_next: 2,
        ..Faults::default()
    });
    assert_eq!(c.req("GET", CM_PATH, None, None).0, 503);
    assert_eq!(c.req("GET", CM_PATH, None, None).0, 503);
    assert_eq!(c.req("GET", CM_PATH, None, None).0, 200);
    s.set_faults(Faults {
        drop_next: 1,
        ..Faults::default()
    });
    assert!(
        send(
            &c.agent,
            "GET",
            &format!("{}{CM_PATH}", s.url()),
            None,
            None,
            None
        )
        .is_err(),
        "dropped connection"
    );
    s.set_faults(Faults {
        latency: Duration::from_millis(150),
        ..Faults::default()
    });
    let t = std::time::Instant::now();
    c.req("GET", CM_PATH, None, None);
    assert!(t.elapsed() >= Duration::from_millis(150));
    s.set_faults(Faults {
        error_ratio: 0.5,
        ..Faults::default()
    });
    let failures = (0..40)
        .filter(|_| c.req("GET", CM_PATH, None, None).0 == 503)
        .count();
    assert!(
        (8..=32).contains(&failures),
        "about half of 40 failed, got {failures}"
    );
    s.set_faults(Faults::default());
    s.clear_log();
    c.apply(&format!("{CM_PATH}/w"), "ferry", &cm("w", json!({})));
    c.req("GET", &format!("{CM_PATH}/w"), None, None);
    let writes = s.writes();
    assert_eq!(writes.len(), 1);
    assert_eq!(
        (writes[0].method.as_str(), writes[0].content_type.as_str()),
        ("PATCH", "application/apply-patch+yaml")
    );
    // Restart keeping state, then losing it.
    s.restart(true).unwrap();
    let c = C::new(&s);
    assert_eq!(c.req("GET", &format!("{CM_PATH}/w"), None, None).0, 200);
    s.restart(false).unwrap();
    let c = C::new(&s);
    assert_eq!(c.req("GET", &format!("{CM_PATH}/w"), None, None).0, 404);
    assert_eq!(
        c.req("GET", "/api/v1/namespaces/default", None, None).0,
        200,
        "a fresh cluster has its default namespaces"
    );
}

#[test]
fn impersonation_and_simple_rbac() {
    let s = sim();
    let c = C::new(&s);
    let as_user = |user: &str, method: &str, path: &str, body: Option<&Value>| {
        let mut r = ureq::http::Request::builder()
            .method(method)
            .uri(format!("{}{path}", s.url()))
            .header("Impersonate-User", user);
        if body.is_some() {
            r = r.header("Content-Type", "application/apply-patch+yaml");
        }
        let mut resp = c
            .agent
            .run(
                r.body(body.map(|b| b.to_string()).unwrap_or_default())
                    .unwrap(),
            )
            .unwrap();
        (
            resp.status().as_u16(),
            resp.body_mut().read_to_string().unwrap(),
        )
    };
    let (st, body) = as_user("tenant", "GET", CM_PATH, None);
    assert_eq!(st, 403, "{body}");
    assert!(
        body.contains("User \\\"tenant\\\" cannot list resource \\\"configmaps\\\""),
        "{body}"
    );
    let rb = json!({"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "RoleBinding", "metadata": {"name": "t", "namespace": "default"},
        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "edit"}, "subjects": [{"kind": "User", "name": "tenant"}]});
    assert_eq!(
        c.apply(
            "/apis/rbac.authorization.k8s.io/v1/namespaces/default/rolebindings/t",
            "admin",
            &rb
        )
        .0,
        201
    );
    let (st, _) = as_user(
        "tenant",
        "PATCH",
        &format!("{CM_PATH}/x?fieldManager=t"),
        Some(&cm("x", json!({}))),
    );
    assert_eq!(st, 201);
    let (st, _) = as_user(
        "tenant",
        "GET",
        "/api/v1/namespaces/kube-system/configmaps",
        None,
    );
    assert_eq!(st, 403, "no binding in kube-system");
    let (st, _) = as_user("tenant", "GET", "/api/v1/namespaces", None);
    assert_eq!(st, 403, "cluster scope needs a ClusterRoleBinding");
    // A token user is the admin here too and may impersonate; an unauthenticated client may not.
    let (st, _, _) = send(
        &agent(&s, Auth::None),
        "GET",
        &format!("{}/api/v1/namespaces", s.url()),
        None,
        None,
        None,
    )
    .unwrap();
    assert_eq!(st, 401);
}

#[test]
fn update_checks_resource_version_and_delete_accepts_propagation() {
    let s = sim();
    let c = C::new(&s);
    let (_, created) = c.req(
        "POST",
        CM_PATH,
        Some("application/json"),
        Some(&cm("u", json!({"a": "1"})).to_string()),
    );
    let mut obj = created.clone();
    obj["data"]["a"] = json!("2");
    let (st, updated) = c.req(
        "PUT",
        &format!("{CM_PATH}/u"),
        Some("application/json"),
        Some(&obj.to_string()),
    );
    assert_eq!(st, 200, "{updated}");
    assert_eq!(updated["data"]["a"], "2");
    assert_ne!(
        updated["metadata"]["resourceVersion"],
        created["metadata"]["resourceVersion"]
    );
    // A write based on the old resourceVersion is refused.
    let (st, body) = c.req(
        "PUT",
        &format!("{CM_PATH}/u"),
        Some("application/json"),
        Some(&obj.to_string()),
    );
    assert_eq!((st, body["reason"].as_str()), (409, Some("Conflict")));
    let (st, _) = c.req(
        "DELETE",
        &format!("{CM_PATH}/u?propagationPolicy=Foreground"),
        None,
        None,
    );
    assert_eq!(st, 200);
    let (st, _) = c.req("DELETE", &format!("{CM_PATH}/u"), None, None);
    assert_eq!(st, 404);
}
