//! Checks of `fieldValidation`, decoding errors, immutable fields, custom resources and
//! generation, each a function of a cluster.

use super::defaults::deployment;
use super::Cluster;
use serde_json::json;

fn with_unknown_field(ns: &str) -> String {
    format!("apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: typo\n  namespace: {ns}\ndata:\n  a: b\nspecs:\n  foo: 1\n")
}

/// kubectl's default `--validate=strict` gets a 400 naming the field; `warn` a warning and
/// the field dropped; `false` nothing; server-side apply refuses undeclared fields.
pub fn check_field_validation(c: &Cluster) {
    let ns = c.namespace("fid-fv");
    let f = c.file("cm.yaml", &with_unknown_field(&ns));
    let err = c.fails(&["create", "-f", &f]);
    assert!(err.contains(r#"ConfigMap in version "v1" cannot be handled as a ConfigMap: strict decoding error: unknown field "specs""#), "{err}");
    let warned = c.ok(&["create", "--validate=warn", "-f", &f]);
    assert!(
        warned.stderr.contains(r#"Warning: unknown field "specs""#),
        "{}",
        warned.stderr
    );
    assert!(c.get("configmap", &ns, "typo").get("specs").is_none());
    c.ok(&["delete", "configmap", "typo", "-n", &ns]);
    // Without the parameter (a raw POST) the server's default is Warn.
    let body = serde_json::json!({"apiVersion": "v1", "kind": "ConfigMap",
        "metadata": {"name": "raw", "namespace": ns}, "specs": {"foo": 1}});
    let raw = c.file("raw.json", &body.to_string());
    let path = format!("/api/v1/namespaces/{ns}/configmaps");
    let posted = c.ok(&["create", "--raw", &path, "-f", &raw]);
    assert!(
        posted.stderr.contains(r#"unknown field "specs""#),
        "{}",
        posted.stderr
    );
    assert!(!c
        .get("configmap", &ns, "raw")
        .as_object()
        .is_some_and(|o| o.contains_key("specs")));
    let silent = c.ok(&["create", "--validate=false", "-f", &f]);
    assert!(!silent.stderr.contains("Warning"), "{}", silent.stderr);
    let err = c.fails(&["apply", "--server-side", "-f", &f]);
    assert!(err.contains(&format!("failed to create typed patch object ({ns}/typo; /v1, Kind=ConfigMap): .specs: field not declared in schema")), "{err}");
    c.done(&ns);
}

/// Immutable fields answer 422 with the real messages.
pub fn check_immutable_fields(c: &Cluster) {
    let ns = c.namespace("fid-immutable");
    c.apply("d.yaml", &deployment(&ns, "web"));
    let f = c.file("d2.yaml", &deployment(&ns, "web2"));
    let err = c.fails(&["apply", "--server-side", "-f", &f]);
    // Invalid values print as JSON (1.37; Go literals up to 1.32).
    assert!(
        err.contains(
            r#"spec.selector: Invalid value: {"matchLabels":{"app":"web2"}}: field is immutable"#
        ),
        "{err}"
    );
    let cm = |v: &str| {
        format!("apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: frozen\n  namespace: {ns}\nimmutable: true\ndata:\n  a: \"{v}\"\n")
    };
    c.apply("cm.yaml", &cm("1"));
    let f = c.file("cm2.yaml", &cm("2"));
    let err = c.fails(&["apply", "--server-side", "-f", &f]);
    assert!(
        err.contains("data: Forbidden: field is immutable when `immutable` is set"),
        "{err}"
    );
    let sts = |size: &str| {
        format!("apiVersion: apps/v1\nkind: StatefulSet\nmetadata:\n  name: db\n  namespace: {ns}\nspec:\n  serviceName: db\n  selector:\n    matchLabels: {{app: db}}\n  template:\n    metadata:\n      labels: {{app: db}}\n    spec:\n      containers:\n      - name: db\n        image: postgres:16\n  volumeClaimTemplates:\n  - metadata:\n      name: data\n    spec:\n      accessModes: [ReadWriteOnce]\n      resources:\n        requests:\n          storage: {size}\n")
    };
    c.apply("sts.yaml", &sts("1Gi"));
    let s = c.get("statefulset", &ns, "db");
    assert_eq!(
        s["spec"]["volumeClaimTemplates"][0]["spec"]["volumeMode"],
        "Filesystem"
    );
    assert_eq!(s["spec"]["podManagementPolicy"], "OrderedReady");
    // MaxUnavailableStatefulSet is on by default after 1.32: `maxUnavailable: 1` is defaulted.
    assert_eq!(
        s["spec"]["updateStrategy"],
        json!({"type": "RollingUpdate", "rollingUpdate": {"partition": 0, "maxUnavailable": 1}})
    );
    let f = c.file("sts2.yaml", &sts("2Gi"));
    let err = c.fails(&["apply", "--server-side", "-f", &f]);
    // 1.37 names the claim templates as an immutable field of their own (1.32 refused the
    // whole spec: "spec: Forbidden: updates to statefulset spec for fields other than ...").
    assert!(
        err.contains(r#"spec.volumeClaimTemplates: Invalid value: [{"name":"data""#),
        "{err}"
    );
    c.done(&ns);
}

/// Values Go cannot decode into the typed object answer 400 as the JSON decoder words them.
pub fn check_decode_errors(c: &Cluster) {
    let ns = c.namespace("fid-decode");
    let half = deployment(&ns, "web").replace("replicas: 2.0", "replicas: 2.5");
    let f = c.file("half.yaml", &half);
    let err = c.fails(&["create", "-f", &f]);
    assert!(err.contains(r#"Deployment in version "v1" cannot be handled as a Deployment: json: cannot unmarshal number 2.5 into Go struct field DeploymentSpec.spec.replicas of type int32"#), "{err}");
    let quoted = deployment(&ns, "web").replace("replicas: 2.0", "replicas: \"2\"");
    let f = c.file("quoted.yaml", &quoted);
    let err = c.fails(&["apply", "--server-side", "-f", &f]);
    assert!(
        err.contains(".spec.replicas: expected numeric (int or float), got string"),
        "{err}"
    );
    let bad_cpu = deployment(&ns, "web").replace("cpu: 0.5", "cpu: lots");
    let f = c.file("cpu.yaml", &bad_cpu);
    let err = c.fails(&["create", "-f", &f]);
    assert!(err.contains("quantities must match the regular expression '^([+-]?[0-9.]+)([eEinumkKMGTP]*[-+]?[0-9]*)$'"), "{err}");
    let number = format!("apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: numbers\n  namespace: {ns}\ndata:\n  port: 8080\n");
    let f = c.file("cm.yaml", &number);
    let err = c.fails(&["create", "-f", &f]);
    assert!(
        err.contains(
            "json: cannot unmarshal number into Go struct field ConfigMap.data of type string"
        ),
        "{err}"
    );
    c.done(&ns);
}

const CRD: &str = r#"apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata:
  name: widgets.fid.example.com
spec:
  group: fid.example.com
  scope: Namespaced
  names: {plural: widgets, singular: widget, kind: Widget}
  versions:
  - name: v1
    served: true
    storage: true
    schema:
      openAPIV3Schema:
        type: object
        properties:
          spec:
            type: object
            required: [size]
            properties:
              size: {type: integer}
              mode: {type: string, enum: [fast, slow], default: slow}
              extra: {type: object, x-kubernetes-preserve-unknown-fields: true}
"#;

fn widget(ns: &str, spec: &str) -> String {
    format!("apiVersion: fid.example.com/v1\nkind: Widget\nmetadata:\n  name: w\n  namespace: {ns}\nspec:\n{spec}")
}

/// Custom resources: unknown fields pruned (kept under preserve-unknown-fields), defaults
/// from the schema, type errors 422, generation moving on spec changes.
pub fn check_custom_resources(c: &Cluster) {
    let ns = c.namespace("fid-cr");
    c.apply("crd.yaml", CRD);
    c.ok(&[
        "wait",
        "--for=condition=Established",
        "crd/widgets.fid.example.com",
        "--timeout=60s",
    ]);
    let f = c.file(
        "w.yaml",
        &widget(
            &ns,
            "  size: 3\n  colour: red\n  extra: {anything: [1, 2]}\n",
        ),
    );
    let err = c.fails(&["create", "-f", &f]);
    assert!(
        err.contains(r#"strict decoding error: unknown field "spec.colour""#),
        "{err}"
    );
    let err = c.fails(&["apply", "--server-side", "-f", &f]);
    assert!(
        err.contains(".spec.colour: field not declared in schema"),
        "{err}"
    );
    let warned = c.ok(&["create", "--validate=warn", "-f", &f]);
    assert!(
        warned
            .stderr
            .contains(r#"Warning: unknown field "spec.colour""#),
        "{}",
        warned.stderr
    );
    let w = c.get("widget", &ns, "w");
    assert_eq!(
        w["spec"],
        json!({"size": 3, "mode": "slow", "extra": {"anything": [1, 2]}})
    );
    assert_eq!(w["metadata"]["generation"], 1);
    let f = c.file("bad.yaml", &widget(&ns, "  size: big\n"));
    let err = c.fails(&["apply", "--server-side", "--force-conflicts", "-f", &f]);
    // structured-merge-diff refuses the typed patch first (500), as for built-in kinds.
    assert!(
        err.contains(".spec.size: expected numeric (int or float), got string"),
        "{err}"
    );
    c.ok(&["delete", "widget", "w", "-n", &ns]);
    c.ok(&["delete", "crd", "widgets.fid.example.com"]);
    c.done(&ns);
}

/// ConfigMaps have no generation, 1.37's HPAs and PodTemplates have one (moved by their spec
/// or template only); `kubectl replace` (PUT) without the cluster IP keeps the allocated one.
pub fn check_generation_and_replace(c: &Cluster) {
    let ns = c.namespace("fid-gen");
    let cm = |v: &str| {
        format!("apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: plain\n  namespace: {ns}\ndata:\n  a: \"{v}\"\n")
    };
    c.apply("cm.yaml", &cm("1"));
    c.apply("cm.yaml", &cm("2"));
    let got = c.get("configmap", &ns, "plain");
    assert!(got["metadata"].get("generation").is_none(), "{got}");
    let hpa = |max: u32, label: &str| {
        format!("apiVersion: autoscaling/v2\nkind: HorizontalPodAutoscaler\nmetadata:\n  name: web\n  namespace: {ns}\n  labels: {{tier: {label}}}\nspec:\n  scaleTargetRef: {{apiVersion: apps/v1, kind: Deployment, name: web}}\n  minReplicas: 1\n  maxReplicas: {max}\n")
    };
    c.apply("hpa.yaml", &hpa(3, "a"));
    assert_eq!(c.get("hpa", &ns, "web")["metadata"]["generation"], 1);
    c.apply("hpa.yaml", &hpa(3, "b"));
    assert_eq!(c.get("hpa", &ns, "web")["metadata"]["generation"], 1);
    c.apply("hpa.yaml", &hpa(4, "b"));
    assert_eq!(c.get("hpa", &ns, "web")["metadata"]["generation"], 2);
    let template = format!("apiVersion: v1\nkind: PodTemplate\nmetadata:\n  name: t\n  namespace: {ns}\ntemplate:\n  spec:\n    containers: [{{name: c, image: busybox}}]\n");
    c.apply("pt.yaml", &template);
    assert_eq!(c.get("podtemplate", &ns, "t")["metadata"]["generation"], 1);
    let svc = format!("apiVersion: v1\nkind: Service\nmetadata:\n  name: web\n  namespace: {ns}\nspec:\n  ports:\n  - port: 80\n");
    let f = c.file("svc.yaml", &svc);
    c.ok(&["create", "-f", &f]);
    let ip = c.get("service", &ns, "web")["spec"]["clusterIP"].clone();
    c.ok(&["replace", "-f", &f]);
    assert_eq!(c.get("service", &ns, "web")["spec"]["clusterIP"], ip);
    c.done(&ns);
}
