//! Checks of the generated schema against facts of the real API.

use super::*;

fn root(group: &str, kind: &str) -> TypeRef {
    let s = k8s();
    let r = s
        .resources
        .iter()
        .find(|r| r.group == group && r.kind == kind)
        .unwrap_or_else(|| panic!("{group}/{kind} served"));
    s.type_of(&r.group, &r.version, kind).expect("typed")
}

fn list_kind(group: &str, kind: &str, path: &str) -> ListKind<'static> {
    let s = k8s();
    let segs: Vec<&str> = path.split('.').collect();
    let t = Box::leak(Box::new(root(group, kind)));
    match s.types.at_path(t, &segs) {
        Some(Resolved::List(l)) => l.kind(),
        other => panic!("{kind}.{path}: not a list: {other:?}"),
    }
}

fn keys(k: &[&str]) -> Vec<String> {
    k.iter().map(|s| s.to_string()).collect()
}

fn assoc(kind: ListKind<'_>) -> Vec<String> {
    match kind {
        ListKind::Associative(k) => k.to_vec(),
        other => panic!("not associative: {other:?}"),
    }
}

#[test]
fn pod_template_lists_merge_like_the_real_schema() {
    let c = "spec.template.spec.containers";
    assert_eq!(assoc(list_kind("apps", "Deployment", c)), keys(&["name"]));
    assert_eq!(
        assoc(list_kind("apps", "Deployment", &format!("{c}.[].ports"))),
        keys(&["containerPort", "protocol"])
    );
    assert_eq!(
        assoc(list_kind("apps", "Deployment", &format!("{c}.[].env"))),
        keys(&["name"])
    );
    assert_eq!(
        list_kind("apps", "Deployment", &format!("{c}.[].args")),
        ListKind::Atomic
    );
    assert_eq!(
        assoc(list_kind(
            "apps",
            "Deployment",
            "spec.template.spec.volumes"
        )),
        keys(&["name"])
    );
    assert_eq!(
        assoc(list_kind(
            "apps",
            "Deployment",
            "spec.template.spec.imagePullSecrets"
        )),
        keys(&["name"])
    );
    assert_eq!(
        list_kind("apps", "Deployment", "spec.template.spec.tolerations"),
        ListKind::Atomic
    );
    assert_eq!(
        assoc(list_kind("", "Service", "spec.ports")),
        keys(&["port", "protocol"])
    );
    assert_eq!(
        list_kind("", "Namespace", "spec.finalizers"),
        ListKind::Atomic
    );
    assert_eq!(
        list_kind("", "ConfigMap", "metadata.finalizers"),
        ListKind::Set
    );
    assert_eq!(
        assoc(list_kind("", "ConfigMap", "metadata.ownerReferences")),
        keys(&["uid"])
    );
    assert_eq!(
        list_kind("rbac.authorization.k8s.io", "ClusterRole", "rules"),
        ListKind::Atomic
    );
}

#[test]
fn maps_are_granular_or_atomic_as_declared() {
    let s = k8s();
    let d = root("apps", "Deployment");
    for path in [
        "metadata.labels",
        "metadata.annotations",
        "spec.template.metadata.labels",
    ] {
        let segs: Vec<&str> = path.split('.').collect();
        match s.types.at_path(&d, &segs) {
            Some(Resolved::Map(m)) => {
                assert!(!m.is_atomic(), "{path} granular");
                assert!(m.element_type.is_some(), "{path} has free keys");
            }
            other => panic!("{path}: {other:?}"),
        }
    }
    // PodSpec.nodeSelector is `+mapType=atomic` in the real types.
    match s
        .types
        .at_path(&d, &["spec", "template", "spec", "nodeSelector"])
    {
        Some(Resolved::Map(m)) => assert!(m.is_atomic(), "nodeSelector is atomic"),
        other => panic!("nodeSelector: {other:?}"),
    }
    match s.types.at_path(&d, &["spec", "selector"]) {
        Some(Resolved::Map(m)) => assert!(m.is_atomic(), "LabelSelector is atomic"),
        other => panic!("selector: {other:?}"),
    }
    match s.types.at_path(&d, &["spec", "replicas"]) {
        Some(Resolved::Scalar(ScalarKind::Numeric)) => {}
        other => panic!("replicas: {other:?}"),
    }
}

#[test]
fn go_facts_say_pointer_omitempty_and_scalar() {
    let s = k8s();
    let d = root("apps", "Deployment");
    let replicas = s.types.field_at(&d, &["spec", "replicas"]).expect("field");
    let go = replicas.go.as_ref().expect("go facts");
    assert!(go.ptr && go.omitempty && go.is_integer());
    assert_eq!(go.scalar.as_deref(), Some("int32"));
    let args = s
        .types
        .field_at(
            &d,
            &["spec", "template", "spec", "containers", "[]", "args"],
        )
        .expect("args");
    let go = args.go.as_ref().expect("go facts");
    assert!(go.omitempty && !go.ptr && go.shape == GoShape::List);
    let svc = root("", "Service");
    let port = s
        .types
        .field_at(&svc, &["spec", "ports", "[]", "port"])
        .expect("port");
    assert!(!port.go.as_ref().expect("go").omitempty);
    let tp = s
        .types
        .field_at(&svc, &["spec", "ports", "[]", "targetPort"])
        .expect("targetPort");
    assert_eq!(
        tp.go.as_ref().and_then(|g| g.scalar.as_deref()),
        Some("IntOrString")
    );
    let dep = s
        .types
        .field_at(
            &d,
            &[
                "spec",
                "template",
                "spec",
                "containers",
                "[]",
                "resources",
                "limits",
            ],
        )
        .expect("limits");
    assert_eq!(dep.go.as_ref().map(|g| g.shape), Some(GoShape::Map));
    let mode = s
        .types
        .field_at(
            &d,
            &[
                "spec",
                "template",
                "spec",
                "volumes",
                "[]",
                "configMap",
                "defaultMode",
            ],
        )
        .expect("defaultMode");
    assert!(mode.go.as_ref().is_some_and(|g| g.ptr && g.is_integer()));
}

#[test]
fn every_k3s_group_is_served_with_real_names_and_scopes() {
    let s = k8s();
    assert_eq!(s.kubernetes_version, "1.37.2");
    assert_eq!(s.major_minor(), ("1", "37"));
    let expect = [
        ("", "v1", "namespaces", false, &["ns"][..]),
        ("", "v1", "services", true, &["svc"][..]),
        ("apps", "v1", "deployments", true, &["deploy"][..]),
        (
            "autoscaling",
            "v2",
            "horizontalpodautoscalers",
            true,
            &["hpa"][..],
        ),
        ("policy", "v1", "poddisruptionbudgets", true, &["pdb"][..]),
        ("storage.k8s.io", "v1", "storageclasses", false, &["sc"][..]),
        ("node.k8s.io", "v1", "runtimeclasses", false, &[][..]),
        (
            "apiregistration.k8s.io",
            "v1",
            "apiservices",
            false,
            &[][..],
        ),
        ("networking.k8s.io", "v1", "ingresses", true, &["ing"][..]),
        (
            "scheduling.k8s.io",
            "v1",
            "priorityclasses",
            false,
            &["pc"][..],
        ),
        ("coordination.k8s.io", "v1", "leases", true, &[][..]),
        (
            "rbac.authorization.k8s.io",
            "v1",
            "clusterroles",
            false,
            &[][..],
        ),
        (
            "admissionregistration.k8s.io",
            "v1",
            "validatingwebhookconfigurations",
            false,
            &[][..],
        ),
        (
            "apiextensions.k8s.io",
            "v1",
            "customresourcedefinitions",
            false,
            &["crd", "crds"][..],
        ),
    ];
    for (g, v, plural, namespaced, short) in expect {
        let r = s
            .resource_by_plural(g, v, plural)
            .unwrap_or_else(|| panic!("{g}/{v} {plural} served"));
        assert_eq!(r.namespaced, namespaced, "{plural} scope");
        assert_eq!(r.short_names, keys(short), "{plural} shortNames");
        assert!(
            r.type_name
                .as_deref()
                .is_some_and(|t| s.types.get(t).is_some()),
            "{plural} typed"
        );
    }
    let deploy = s
        .resource_by_gvk("apps", "v1", "Deployment")
        .expect("deployments");
    assert_eq!(deploy.subresources, keys(&["status", "scale"]));
    assert_eq!(deploy.categories, keys(&["all"]));
    assert!(s.resource_by_plural("policy", "v1", "evictions").is_none());
    let apisvc = root("apiregistration.k8s.io", "APIService");
    assert_eq!(
        assoc(match s.types.at_path(&apisvc, &["status", "conditions"]) {
            Some(Resolved::List(l)) => l.kind(),
            other => panic!("{other:?}"),
        }),
        keys(&["type"])
    );
}

/// What 1.37.2 serves beyond 1.32, as the real server's discovery lists it.
#[test]
fn the_1_37_resources_verbs_and_omitzero_are_there() {
    let s = k8s();
    assert_eq!(s.resources.len(), 72, "kube-apiserver v1.37.2 serves 72");
    for (g, plural, short) in [
        ("resource.k8s.io", "resourceclaims", &[][..]),
        ("resource.k8s.io", "deviceclasses", &[][..]),
        (
            "storagemigration.k8s.io",
            "storageversionmigrations",
            &[][..],
        ),
        ("networking.k8s.io", "servicecidrs", &[][..]),
        ("networking.k8s.io", "ipaddresses", &["ip"][..]),
        ("storage.k8s.io", "volumeattributesclasses", &["vac"][..]),
        ("certificates.k8s.io", "clustertrustbundles", &[][..]),
    ] {
        let r = s
            .resource_by_plural(g, "v1", plural)
            .unwrap_or_else(|| panic!("{g} {plural} served"));
        assert_eq!(r.short_names, keys(short), "{plural}");
    }
    let mutating = s
        .resource_by_plural(
            "admissionregistration.k8s.io",
            "v1",
            "mutatingadmissionpolicies",
        )
        .expect("mutatingadmissionpolicies");
    assert_eq!(mutating.categories, keys(&["api-extensions"]));
    let verbs = |plural| &s.resource_by_plural("", "v1", plural).expect(plural).verbs;
    assert_eq!(verbs("componentstatuses"), &keys(&["get", "list"]));
    assert!(verbs("services").contains(&"deletecollection".to_string()));
    assert_eq!(verbs("bindings"), &keys(&["create"]));
    // Storage version hashes as the real server's discovery lists them: events.k8s.io/v1
    // Events are stored as core v1 Events; resources without storage have none.
    let hash = |g, v, plural| {
        s.resource_by_plural(g, v, plural)
            .and_then(|r| r.storage_version_hash.as_deref())
    };
    assert_eq!(
        hash("events.k8s.io", "v1", "events"),
        hash("", "v1", "events")
    );
    assert_eq!(hash("apps", "v1", "deployments"), Some("8aSe+NMegvE="));
    assert_eq!(hash("", "v1", "componentstatuses"), None);
    assert_eq!(hash("authentication.k8s.io", "v1", "tokenreviews"), None);
    let d = root("apps", "Deployment");
    let stamp = s
        .types
        .field_at(&d, &["spec", "template", "metadata", "creationTimestamp"])
        .and_then(|f| f.go.as_ref())
        .expect("creationTimestamp");
    assert!(stamp.omitzero && stamp.omitempty);
    assert!(s
        .types
        .field_at(&d, &["status", "terminatingReplicas"])
        .is_some());
}
