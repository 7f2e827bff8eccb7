//! The hooks against the real 1.37 schema.

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
    let t = Target {
        rt: &rt,
        namespace: "default",
        name: "web",
        crd_schema: None,
    };
    let mut obj = deployment();
    let warnings = decode_body(&t, &mut obj, WriteVerb::Create, FieldValidation::Warn).unwrap();
    assert!(warnings.is_empty());
    assert_eq!(obj["spec"]["replicas"], json!(2));
    assert!(obj["metadata"].get("creationTimestamp").is_none());
    normalize(&t, &mut obj, None, &Cluster::default()).unwrap();
    let c = &obj["spec"]["template"]["spec"]["containers"][0];
    assert!(c.get("args").is_none(), "{c}");
    assert_eq!(c["resources"], json!({"limits": {"cpu": "500m"}}));
    // 1.37's `omitzero`: the template's zero creationTimestamp is not written.
    assert!(obj["spec"]["template"]["metadata"]
        .get("creationTimestamp")
        .is_none());
    assert_eq!(obj["status"], json!({}));
    assert_eq!(
        obj["spec"]["template"]["spec"]["volumes"][0]["configMap"],
        json!({"name": "cfg", "defaultMode": 420})
    );
    let again = obj.clone();
    normalize(&t, &mut obj, None, &Cluster::default()).unwrap();
    assert_eq!(obj, again, "normalizing is idempotent");
}

#[test]
fn unknown_fields_follow_field_validation() {
    let rt = resource("apps", "v1", "Deployment");
    let t = Target {
        rt: &rt,
        namespace: "default",
        name: "web",
        crd_schema: None,
    };
    let with_unknown = || {
        let mut d = deployment();
        d["spec"]["foo"] = json!(1);
        d["spec"]["template"]["spec"]["containers"][0]["bar"] = json!("x");
        d
    };
    let mut d = with_unknown();
    let w = decode_body(&t, &mut d, WriteVerb::Create, FieldValidation::Warn).unwrap();
    assert_eq!(
        w,
        vec![
            r#"unknown field "spec.foo""#.to_string(),
            r#"unknown field "spec.template.spec.containers[0].bar""#.into()
        ]
    );
    assert!(d["spec"].get("foo").is_none());
    let mut d = with_unknown();
    assert!(
        decode_body(&t, &mut d, WriteVerb::Update, FieldValidation::Ignore)
            .unwrap()
            .is_empty()
    );
    let mut d = with_unknown();
    let e = decode_body(&t, &mut d, WriteVerb::Create, FieldValidation::Strict).unwrap_err();
    assert_eq!((e.code, e.reason), (400, "BadRequest"));
    assert_eq!(
        e.message,
        r#"Deployment in version "v1" cannot be handled as a Deployment: strict decoding error: unknown field "spec.foo", unknown field "spec.template.spec.containers[0].bar""#
    );
    let mut d = with_unknown();
    let e = decode_body(&t, &mut d, WriteVerb::Apply, FieldValidation::Strict).unwrap_err();
    assert_eq!(e.code, 500);
    assert_eq!(e.message, "failed to create typed patch object (default/web; apps/v1, Kind=Deployment): errors:\n  .spec.foo: field not declared in schema\n  .spec.template.spec.containers[name=\"web\"].bar: field not declared in schema");
}

#[test]
fn type_errors_are_worded_like_go() {
    let rt = resource("apps", "v1", "Deployment");
    let t = Target {
        rt: &rt,
        namespace: "default",
        name: "web",
        crd_schema: None,
    };
    let mut d = deployment();
    d["spec"]["replicas"] = json!(2.5);
    let e = decode_body(&t, &mut d, WriteVerb::Create, FieldValidation::Warn).unwrap_err();
    assert_eq!(
        e.message,
        r#"Deployment in version "v1" cannot be handled as a Deployment: json: cannot unmarshal number 2.5 into Go struct field DeploymentSpec.spec.replicas of type int32"#
    );
    let mut d = deployment();
    d["spec"]["replicas"] = json!("2");
    let e = decode_body(&t, &mut d, WriteVerb::Create, FieldValidation::Warn).unwrap_err();
    assert_eq!(
        e.message,
        r#"Deployment in version "v1" cannot be handled as a Deployment: json: cannot unmarshal string into Go struct field DeploymentSpec.spec.replicas of type int32"#
    );
    let mut d = deployment();
    d["spec"]["template"]["spec"]["containers"][0]["resources"]["limits"]["cpu"] = json!("half");
    let e = decode_body(&t, &mut d, WriteVerb::Create, FieldValidation::Warn).unwrap_err();
    assert!(e.message.ends_with("cannot be handled as a Deployment: quantities must match the regular expression '^([+-]?[0-9.]+)([eEinumkKMGTP]*[-+]?[0-9]*)$'"), "{}", e.message);
}

#[test]
fn immutable_fields_answer_422() {
    let rt = resource("apps", "v1", "Deployment");
    let t = Target {
        rt: &rt,
        namespace: "default",
        name: "web",
        crd_schema: None,
    };
    let old = deployment();
    let mut new = deployment();
    new["spec"]["selector"] = json!({"matchLabels": {"app": "web2"}});
    let e = validate(&t, &new, Some(&old)).unwrap_err();
    assert_eq!(e.code, 422);
    assert_eq!(
        e.message,
        r#"Deployment.apps "web" is invalid: spec.selector: Invalid value: {"matchLabels":{"app":"web2"}}: field is immutable"#
    );
    let cm_rt = resource("", "v1", "ConfigMap");
    let t = Target {
        rt: &cm_rt,
        namespace: "default",
        name: "c",
        crd_schema: None,
    };
    let old = json!({"immutable": true, "data": {"a": "1"}});
    let e = validate(&t, &json!({"data": {"a": "2"}}), Some(&old)).unwrap_err();
    assert_eq!(
        e.message,
        r#"ConfigMap "c" is invalid: [immutable: Forbidden: field is immutable when `immutable` is set, data: Forbidden: field is immutable when `immutable` is set]"#
    );
}

#[test]
fn more_immutable_fields() {
    let check = |group: &str, kind: &str, old: Value, new: Value| {
        let rt = resource(group, "v1", kind);
        let t = Target {
            rt: &rt,
            namespace: "default",
            name: "x",
            crd_schema: None,
        };
        validate(&t, &new, Some(&old)).err().map(|e| e.message)
    };
    let pvc = |size: &str, phase: &str| json!({"spec": {"accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": size}}}, "status": {"phase": phase}});
    assert_eq!(
        check(
            "",
            "PersistentVolumeClaim",
            pvc("1Gi", "Pending"),
            pvc("2Gi", "Pending")
        )
        .as_deref(),
        Some(
            r#"PersistentVolumeClaim "x" is invalid: spec: Forbidden: spec is immutable after creation except resources.requests and volumeAttributesClassName for bound claims"#
        )
    );
    assert_eq!(
        check(
            "",
            "PersistentVolumeClaim",
            pvc("1Gi", "Bound"),
            pvc("2Gi", "Bound")
        ),
        None
    );
    assert_eq!(
        check(
            "",
            "PersistentVolumeClaim",
            pvc("2Gi", "Bound"),
            pvc("1Gi", "Bound")
        )
        .as_deref(),
        Some(
            r#"PersistentVolumeClaim "x" is invalid: spec.resources.requests.storage: Forbidden: field can not be less than previous value"#
        )
    );
    assert_eq!(
        check(
            "",
            "Secret",
            json!({"type": "Opaque"}),
            json!({"type": "kubernetes.io/tls"})
        )
        .as_deref(),
        Some(
            r#"Secret "x" is invalid: type: Invalid value: "kubernetes.io/tls": field is immutable"#
        )
    );
    let job = |suspend: bool, node: &str| {
        json!({"spec": {"suspend": suspend, "completions": 1, "parallelism": 1,
        "selector": {"matchLabels": {"a": "b"}},
        "template": {"spec": {"nodeSelector": {"zone": node}, "containers": [{"name": "c", "image": "i"}]}}}})
    };
    assert_eq!(
        check("batch", "Job", job(true, "a"), job(true, "b")),
        None,
        "a suspended Job's scheduling directives may change"
    );
    let err = check("batch", "Job", job(false, "a"), job(false, "b")).unwrap_or_default();
    assert!(
        err.starts_with(r#"Job.batch "x" is invalid: spec.template: Invalid value: "#)
            && err.ends_with("field is immutable"),
        "{err}"
    );
    let svc = |ip: &str| json!({"spec": {"clusterIP": ip, "clusterIPs": [ip]}});
    assert_eq!(
        check("", "Service", svc("10.43.0.5"), svc("10.43.0.6")).as_deref(),
        Some(
            r#"Service "x" is invalid: spec.clusterIPs[0]: Invalid value: ["10.43.0.6"]: may not change once set"#
        )
    );
    let sts = |size: &str, service: &str| {
        json!({"spec": {"serviceName": service, "replicas": 1,
        "volumeClaimTemplates": [{"metadata": {"name": "data"}, "spec": {"resources": {"requests": {"storage": size}}}}]}})
    };
    assert_eq!(
        check("apps", "StatefulSet", sts("1Gi", "db"), sts("1Gi", "db")),
        None
    );
    assert_eq!(
        check("apps", "StatefulSet", sts("1Gi", "db"), sts("2Gi", "db2")).as_deref(),
        Some(
            r#"StatefulSet.apps "x" is invalid: [spec.volumeClaimTemplates: Invalid value: [{"name":"data",...}]: field is immutable, spec.serviceName: Invalid value: "db2": field is immutable]"#
        )
    );
}

#[test]
fn apply_configurations_get_structured_merge_diff_type_errors() {
    let rt = resource("apps", "v1", "Deployment");
    let t = Target {
        rt: &rt,
        namespace: "default",
        name: "web",
        crd_schema: None,
    };
    let mut d = deployment();
    d["spec"]["replicas"] = json!("2");
    let e = decode_body(&t, &mut d, WriteVerb::Apply, FieldValidation::Strict).unwrap_err();
    assert_eq!(e.code, 500);
    assert_eq!(
        e.message,
        "failed to create typed patch object (default/web; apps/v1, Kind=Deployment): .spec.replicas: expected numeric (int or float), got string"
    );
}

/// Every manifest of the k3s corpus: what the server stores is a fixed point of the round
/// trip (a GET sent back as a PUT decodes and normalizes to itself, without warnings).
#[test]
fn stored_objects_are_fixed_points_of_the_round_trip() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("corpus/k3s");
    let mut checked = 0;
    for entry in std::fs::read_dir(&dir).expect("corpus dir") {
        let path = entry.expect("entry").path();
        if path.extension().and_then(|e| e.to_str()) != Some("yaml") {
            continue;
        }
        let text = std::fs::read_to_string(&path).expect("read corpus");
        let docs = ferry_bundle::yaml::documents(
            &path.display().to_string(),
            &text,
            &ferry_bundle::yaml::Budget::default(),
        )
        .expect("corpus parses");
        for obj in docs {
            let (Some(api_version), Some(kind)) =
                (obj["apiVersion"].as_str(), obj["kind"].as_str())
            else {
                continue;
            };
            let (group, version) = api_version.split_once('/').unwrap_or(("", api_version));
            let Some(rt) = resources::builtins()
                .into_iter()
                .find(|r| r.group == group && r.version == version && r.kind == kind)
            else {
                continue;
            };
            let name = obj["metadata"]["name"]
                .as_str()
                .unwrap_or_default()
                .to_string();
            let t = Target {
                rt: &rt,
                namespace: "kube-system",
                name: &name,
                crd_schema: None,
            };
            let mut stored = obj.clone();
            let w = decode_body(&t, &mut stored, WriteVerb::Create, FieldValidation::Strict)
                .unwrap_or_else(|e| panic!("{kind} {name}: {}", e.message));
            assert!(w.is_empty(), "{kind} {name}: {w:?}");
            stored["metadata"]["uid"] = json!("u-1");
            normalize(&t, &mut stored, None, &Cluster::default()).expect("normalize");
            let mut again = stored.clone();
            let w = decode_body(&t, &mut again, WriteVerb::Update, FieldValidation::Strict)
                .unwrap_or_else(|e| panic!("{kind} {name} again: {}", e.message));
            assert!(w.is_empty(), "{kind} {name}: {w:?}");
            for k in ["creationTimestamp", "generation"] {
                if let Some(v) = stored["metadata"].get(k) {
                    again["metadata"][k] = v.clone();
                }
            }
            normalize(&t, &mut again, Some(&stored), &Cluster::default()).expect("normalize again");
            assert_eq!(again, stored, "{kind} {name} is not a fixed point");
            validate(&t, &again, Some(&stored)).expect("an unchanged object is valid");
            checked += 1;
        }
    }
    assert!(checked >= 30, "only {checked} corpus objects checked");
}

#[test]
fn custom_resources_prune_metadata_as_object_meta() {
    let mut rt = resource("apps", "v1", "Deployment");
    rt.crd = Some("widgets.fid.example.com".into());
    let schema = json!({"type": "object", "properties": {"spec": {"type": "object", "properties": {"size": {"type": "integer"}}}}});
    let t = Target {
        rt: &rt,
        namespace: "default",
        name: "w",
        crd_schema: Some(&schema),
    };
    let mut cr = json!({"apiVersion": "fid.example.com/v1", "kind": "Widget",
        "metadata": {"name": "w", "unknownMeta": 1}, "spec": {"size": 1, "unknown1": 2}});
    let w = decode_body(&t, &mut cr, WriteVerb::Create, FieldValidation::Warn).unwrap();
    assert_eq!(
        w,
        vec![
            r#"unknown field "metadata.unknownMeta""#.to_string(),
            r#"unknown field "spec.unknown1""#.into()
        ]
    );
    assert_eq!(cr["metadata"], json!({"name": "w"}));
}
