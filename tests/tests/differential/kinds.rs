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
    p.apply("create pod template", POD_TEMPLATE, "alpha", "", &pod_template("a", "busybox"));
    p.apply("relabel pod template", POD_TEMPLATE, "alpha", "", &pod_template("b", "busybox"));
    p.apply(
        "change pod template",
        POD_TEMPLATE,
        "alpha",
        "",
        &pod_template("b", "busybox:2"),
    );
    p.send("delete device class", "DELETE", CLASS, None, None);
}
