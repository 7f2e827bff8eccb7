//! The hooks against the real 1.32 schema.

use super::*;
use crate::kube_sim::resources;

fn resource(group: &str, version: &str, kind: &str) -> ResourceType {
    resources::builtins()
        .into_iter()
        .find(|r| r.group == group && r.version == version && r.kind == kind)
        .expect("a built-in kind")
}

fn deployment() -> Value {
    json!({"apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": {"name": "web", "namespace": "default", "creationTimestamp": null},
        "spec": {"replicas": 2.0, "selector": {"matchLabels": {"app": "web"}},
            "template": {"metadata": {"labels": {"app": "web"}, "creationTimestamp": null},
                "spec": {"containers": [{"name": "web", "image": "nginx:1.27", "args": [],
                    "resources": {"limits": {"cpu": 0.5}}}],
                    "volumes": [{"name": "cfg", "configMap": {"name": "cfg", "defaultMode": 420}}]}}}})
}

#[test]
fn a_deployment_round_trips_like_the_real_server() {
    let rt = resource("apps", "v1", "Deployment");
    let t = Target { rt: &rt, namespace: "default", name: "web", crd_schema: None };
    let mut obj = deployment();
    let warnings = decode_body(&t, &mut obj, WriteVerb::Create, FieldValidation::Warn).unwrap();
    assert!(warnings.is_empty());
    assert_eq!(obj["spec"]["replicas"], json!(2));
    assert!(obj["metadata"].get("creationTimestamp").is_none());
    normalize(&t, &mut obj, None, &Cluster::default()).unwrap();
    let c = &obj["spec"]["template"]["spec"]["containers"][0];
    assert!(c.get("args").is_none(), "{c}");
    assert_eq!(c["resources"], json!({"limits": {"cpu": "500m"}}));
    assert_eq!(obj["spec"]["template"]["metadata"]["creationTimestamp"], Value::Null);
    assert!(obj["spec"]["template"]["metadata"].get("creationTimestamp").is_some());
    assert_eq!(obj["status"], json!({}));
    assert_eq!(obj["spec"]["template"]["spec"]["volumes"][0]["configMap"], json!({"name": "cfg", "defaultMode": 420}));
    let again = obj.clone();
    normalize(&t, &mut obj, None, &Cluster::default()).unwrap();
    assert_eq!(obj, again, "normalizing is idempotent");
}

#[test]
fn unknown_fields_follow_field_validation() {
    let rt = resource("apps", "v1", "Deployment");
    let t = Target { rt: &rt, namespace: "default", name: "web", crd_schema: None };
    let with_unknown = || {
        let mut d = deployment();
        d["spec"]["foo"] = json!(1);
        d["spec"]["template"]["spec"]["containers"][0]["bar"] = json!("x");
        d
    };
    let mut d = with_unknown();
    let w = decode_body(&t, &mut d, WriteVerb::Create, FieldValidation::Warn).unwrap();
    assert_eq!(w, vec![r#"unknown field "spec.foo""#.to_string(), r#"unknown field "spec.template.spec.containers[0].bar""#.into()]);
    assert!(d["spec"].get("foo").is_none());
    let mut d = with_unknown();
    assert!(decode_body(&t, &mut d, WriteVerb::Update, FieldValidation::Ignore).unwrap().is_empty());
    let mut d = with_unknown();
    let e = decode_body(&t, &mut d, WriteVerb::Create, FieldValidation::Strict).unwrap_err();
    assert_eq!((e.code, e.reason), (400, "BadRequest"));
    assert_eq!(e.message, r#"Deployment in version "v1" cannot be handled as a Deployment: strict decoding error: unknown field "spec.foo", unknown field "spec.template.spec.containers[0].bar""#);
    let mut d = with_unknown();
    let e = decode_body(&t, &mut d, WriteVerb::Apply, FieldValidation::Strict).unwrap_err();
    assert_eq!(e.code, 500);
    assert_eq!(e.message, "failed to create typed patch object (default/web; apps/v1, Kind=Deployment): errors:\n  .spec.foo: field not declared in schema\n  .spec.template.spec.containers[name=\"web\"].bar: field not declared in schema");
}

#[test]
fn type_errors_are_worded_like_go() {
    let rt = resource("apps", "v1", "Deployment");
    let t = Target { rt: &rt, namespace: "default", name: "web", crd_schema: None };
    let mut d = deployment();
    d["spec"]["replicas"] = json!(2.5);
    let e = decode_body(&t, &mut d, WriteVerb::Create, FieldValidation::Warn).unwrap_err();
    assert_eq!(e.message, r#"Deployment in version "v1" cannot be handled as a Deployment: json: cannot unmarshal number 2.5 into Go struct field DeploymentSpec.spec.replicas of type int32"#);
    let mut d = deployment();
    d["spec"]["replicas"] = json!("2");
    let e = decode_body(&t, &mut d, WriteVerb::Create, FieldValidation::Warn).unwrap_err();
    assert_eq!(e.message, r#"Deployment in version "v1" cannot be handled as a Deployment: json: cannot unmarshal string into Go struct field DeploymentSpec.spec.replicas of type int32"#);
    let mut d = deployment();
    d["spec"]["template"]["spec"]["containers"][0]["resources"]["limits"]["cpu"] = json!("half");
    let e = decode_body(&t, &mut d, WriteVerb::Create, FieldValidation::Warn).unwrap_err();
    assert!(e.message.ends_with("cannot be handled as a Deployment: quantities must match the regular expression '^([+-]?[0-9.]+)([eEinumkKMGTP]*[-+]?[0-9]*)$'"), "{}", e.message);
}

#[test]
fn immutable_fields_answer_422() {
    let rt = resource("apps", "v1", "Deployment");
    let t = Target { rt: &rt, namespace: "default", name: "web", crd_schema: None };
    let old = deployment();
    let mut new = deployment();
    new["spec"]["selector"] = json!({"matchLabels": {"app": "web2"}});
    let e = validate(&t, &new, Some(&old)).unwrap_err();
    assert_eq!(e.code, 422);
    assert_eq!(e.message, r#"Deployment.apps "web" is invalid: spec.selector: Invalid value: v1.LabelSelector{MatchLabels:map[string]string{"app":"web2"}, MatchExpressions:[]v1.LabelSelectorRequirement(nil)}: field is immutable"#);
    let cm_rt = resource("", "v1", "ConfigMap");
    let t = Target { rt: &cm_rt, namespace: "default", name: "c", crd_schema: None };
    let old = json!({"immutable": true, "data": {"a": "1"}});
    let e = validate(&t, &json!({"data": {"a": "2"}}), Some(&old)).unwrap_err();
    assert_eq!(e.message, r#"ConfigMap "c" is invalid: [immutable: Forbidden: field is immutable when `immutable` is set, data: Forbidden: field is immutable when `immutable` is set]"#);
}
