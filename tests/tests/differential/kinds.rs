//! Kinds the 1.37 schema data added or changed (DRA's `resource.k8s.io/v1`, PodTemplates with
//! their 1.37 generation), written by apply and read back.

use super::*;

const CLASS: &str = "/apis/resource.k8s.io/v1/deviceclasses/gpu-{ns}";
const TEMPLATE: &str = "/apis/resource.k8s.io/v1/namespaces/{ns}/resourceclaimtemplates/gpu";
const CLAIM: &str = "/apis/resource.k8s.io/v1/namespaces/{ns}/resourceclaims/gpu";
const POD_TEMPLATE: &str = "/api/v1/namespaces/{ns}/podtemplates/t";

fn class(ns: &str, expression: &str) -> Value {
    json!({"apiVersion": "resource.k8s.io/v1", "kind": "DeviceClass",
        "metadata": {"name": format!("gpu-{ns}")},
        "spec": {"selectors": [{"cel": {"expression": expression}}]}})
}

fn requests(ns: &str) -> Value {
    json!({"devices": {"requests": [{"name": "gpu",
        "exactly": {"deviceClassName": format!("gpu-{ns}"), "count": 1}}]}})
}

/// A DeviceClass, a ResourceClaimTemplate and a ResourceClaim applied, changed and read; a
/// PodTemplate's generation moved by its template only.
pub fn kinds_new_in_1_37(p: &mut Pair) {
    let ns = p.ns.clone();
    p.apply(
        "create device class",
        CLASS,
        "alpha",
        "",
        &class(&ns, "device.driver == \"gpu.example.com\""),
    );
    p.apply(
        "change device class",
        CLASS,
        "alpha",
        "",
        &class(&ns, "device.driver == \"gpu2.example.com\""),
    );
    let template = json!({"apiVersion": "resource.k8s.io/v1", "kind": "ResourceClaimTemplate",
        "metadata": {"name": "gpu"}, "spec": {"spec": requests(&ns)}});
    p.apply("create claim template", TEMPLATE, "alpha", "", &template);
    let claim = json!({"apiVersion": "resource.k8s.io/v1", "kind": "ResourceClaim",
        "metadata": {"name": "gpu"}, "spec": requests(&ns)});
    p.apply("create claim", CLAIM, "alpha", "", &claim);
    p.get("claim", CLAIM);
    let pod_template = |label: &str, image: &str| {
        json!({"apiVersion": "v1", "kind": "PodTemplate",
            "metadata": {"name": "t", "labels": {"tier": label}},
            "template": {"spec": {"containers": [{"name": "c", "image": image}]}}})
    };
    p.apply(
        "create pod template",
        POD_TEMPLATE,
        "alpha",
        "",
        &pod_template("a", "busybox"),
    );
    p.apply(
        "relabel pod template",
        POD_TEMPLATE,
        "alpha",
        "",
        &pod_template("b", "busybox"),
    );
    p.apply(
        "change pod template",
        POD_TEMPLATE,
        "alpha",
        "",
        &pod_template("b", "busybox:2"),
    );
    p.send("delete device class", "DELETE", CLASS, None, None);
}

/// One object of each kind without a controller that writes to it (on either server), applied
/// and read back: the 1.37 defaults, generation and managedFields of each.
pub fn kinds_without_controllers(p: &mut Pair) {
    let ns = p.ns.clone();
    let meta = |name: &str| json!({"name": name, "labels": {"app": "web"}});
    let objects = [
        (
            "networking.k8s.io/v1",
            "Ingress",
            "/apis/networking.k8s.io/v1/namespaces/{ns}/ingresses/web",
            json!({"rules": [{"host": "web.example.com", "http": {"paths": [{"path": "/", "pathType": "Prefix",
                "backend": {"service": {"name": "web", "port": {"number": 80}}}}]}}]}),
        ),
        (
            "networking.k8s.io/v1",
            "NetworkPolicy",
            "/apis/networking.k8s.io/v1/namespaces/{ns}/networkpolicies/web",
            json!({"podSelector": {"matchLabels": {"app": "web"}},
                "ingress": [{"ports": [{"port": 80}]}]}),
        ),
        (
            "batch/v1",
            "CronJob",
            "/apis/batch/v1/namespaces/{ns}/cronjobs/web",
            json!({"schedule": "0 0 1 1 *", "suspend": true, "jobTemplate": {"spec": {"template": {"spec": {
                "restartPolicy": "OnFailure", "containers": [{"name": "c", "image": "busybox"}]}}}}}),
        ),
        (
            "v1",
            "LimitRange",
            "/api/v1/namespaces/{ns}/limitranges/web",
            json!({"limits": [{"type": "Container", "default": {"cpu": "0.5"}}]}),
        ),
        (
            "rbac.authorization.k8s.io/v1",
            "RoleBinding",
            "/apis/rbac.authorization.k8s.io/v1/namespaces/{ns}/rolebindings/web",
            json!(null),
        ),
    ];
    for (api_version, kind, path, spec) in objects {
        let mut body = json!({"apiVersion": api_version, "kind": kind, "metadata": meta("web")});
        if kind == "RoleBinding" {
            body["roleRef"] = json!({"kind": "ClusterRole", "name": "view", "apiGroup": "rbac.authorization.k8s.io"});
            body["subjects"] = json!([{"kind": "User", "name": "jane"}, {"kind": "ServiceAccount", "name": "default", "namespace": ns}]);
        } else {
            body["spec"] = spec;
        }
        p.apply(&format!("create {kind}"), path, "alpha", "", &body);
        p.get(&format!("read {kind}"), path);
    }
    let class = format!("/apis/scheduling.k8s.io/v1/priorityclasses/high-{ns}");
    let pc = |value: u32| {
        json!({"apiVersion": "scheduling.k8s.io/v1", "kind": "PriorityClass",
            "metadata": {"name": format!("high-{ns}")}, "value": value})
    };
    p.apply("create PriorityClass", &class, "alpha", "", &pc(1000));
    p.apply("change PriorityClass value", &class, "alpha", "", &pc(2000));
    p.send("delete PriorityClass", "DELETE", &class, None, None);
}
