//! What the server serves, checked against kube-sim and a real k3s alike: names as the
//! registries validate them, discovery and OpenAPI, and the k3s example corpus.

use super::super::cluster::Cluster;
use serde_json::{json, Value};

/// Names as the real registries validate them.
pub fn check_names(c: &Cluster, ns: &str) {
    c.namespace(ns);
    let bad_ns = c.file(
        "bad-ns.yaml",
        "apiVersion: v1\nkind: Namespace\nmetadata:\n  name: a.b\n",
    );
    let err = c.fails(&["create", "-f", &bad_ns]);
    assert!(
        err.contains("metadata.name: Invalid value: \"a.b\": must not contain dots"),
        "{err}"
    );
    let bad_svc = c.file(
        "bad-svc.yaml",
        &format!(
            "apiVersion: v1
kind: Service
metadata:
  name: 1svc
  namespace: {ns}
spec:
  ports:
  - port: 80
"
        ),
    );
    // RelaxedServiceNameValidation (beta in 1.36, GA in 1.37): Service names are DNS-1123
    // labels, so a leading digit is fine and a dot is not.
    c.ok(&["create", "-f", &bad_svc]);
    let dotted = c.file(
        "dot-svc.yaml",
        &std::fs::read_to_string(&bad_svc)
            .unwrap()
            .replace("1svc", "a.svc"),
    );
    let err = c.fails(&["create", "-f", &dotted]);
    assert!(
        err.contains("metadata.name: Invalid value: \"a.svc\": must not contain dots"),
        "{err}"
    );
    let role = format!("apiVersion: rbac.authorization.k8s.io/v1\nkind: Role\nmetadata:\n  name: system:reader\n  namespace: {ns}\nrules:\n- apiGroups: [\"\"]\n  resources: [pods]\n  verbs: [get]\n");
    c.apply("ferry", &role);
    let bad = role.replace("system:reader", "a/b");
    let f = c.file("bad-role.yaml", &bad);
    let err = c.fails(&["create", "-f", &f]);
    assert!(err.contains("may not contain '/'"), "{err}");
}

/// Discovery and OpenAPI carry the built-in kinds k3s serves and their merge strategies.
pub fn check_discovery_and_openapi(c: &Cluster) {
    // kube-sim's schema data and the real control plane are one release.
    assert_eq!(c.server_minor(), 37, "/version minor");
    let out = c.ok(&["api-resources", "--no-headers"]);
    for (name, short) in [
        ("storageclasses", "sc"),
        ("horizontalpodautoscalers", "hpa"),
        ("poddisruptionbudgets", "pdb"),
        ("priorityclasses", "pc"),
    ] {
        assert!(
            out.lines()
                .any(|l| l.starts_with(name) && l.contains(short)),
            "{name} in {out}"
        );
    }
    for name in [
        "runtimeclasses",
        "apiservices",
        "leases",
        "ingressclasses",
        "validatingwebhookconfigurations",
        "endpointslices",
    ] {
        assert!(out.lines().any(|l| l.starts_with(name)), "{name} in {out}");
    }
    let doc: Value = serde_json::from_str(&c.ok(&["get", "--raw", "/openapi/v3/apis/apps/v1"]))
        .expect("openapi json");
    let spec = &doc["components"]["schemas"]["io.k8s.api.core.v1.PodSpec"]["properties"];
    assert_eq!(spec["containers"]["x-kubernetes-list-type"], "map");
    assert_eq!(
        spec["containers"]["x-kubernetes-list-map-keys"],
        json!(["name"])
    );
    assert_eq!(spec["containers"]["x-kubernetes-patch-merge-key"], "name");
    let ports =
        &doc["components"]["schemas"]["io.k8s.api.core.v1.Container"]["properties"]["ports"];
    assert_eq!(
        ports["x-kubernetes-list-map-keys"],
        json!(["containerPort", "protocol"])
    );
    let dep = &doc["components"]["schemas"]["io.k8s.api.apps.v1.Deployment"];
    assert_eq!(
        dep["x-kubernetes-group-version-kind"][0]["kind"],
        "Deployment"
    );
}

const CORPUS: &[&str] = &[
    "coredns.yaml",
    "local-storage.yaml",
    "metrics-server.yaml",
    "rolebindings.yaml",
    "runtimes.yaml",
    "autoscaling-policy.yaml",
];

fn corpus(file: &str) -> String {
    format!("{}/corpus/k3s/{file}", env!("CARGO_MANIFEST_DIR"))
}

/// k3s's bundled manifests apply as they are, and a second apply changes nothing.
pub fn check_k3s_corpus(c: &Cluster) {
    for f in CORPUS {
        let path = corpus(f);
        if !c.owned {
            c.ok(&[
                "apply",
                "--server-side",
                "--dry-run=server",
                "--field-manager",
                "fidelity",
                "-f",
                &path,
            ]);
            continue;
        }
        c.ok(&[
            "apply",
            "--server-side",
            "--field-manager",
            "k3s-deploy",
            "-f",
            &path,
        ]);
        // On the real server the controllers write status meanwhile (a Deployment becoming
        // Available): a re-apply that writes changes the versions every time, a controller only
        // once in a while, so up to three tries.
        let versions = || {
            c.ok(&[
                "get",
                "-f",
                &path,
                "-o",
                "jsonpath={.items[*].metadata.resourceVersion}",
            ])
        };
        let mut tries = 0;
        let (before, after) = loop {
            let before = versions();
            let out = c.ok(&[
                "apply",
                "--server-side",
                "--field-manager",
                "k3s-deploy",
                "-f",
                &path,
            ]);
            assert!(out.contains("serverside-applied"), "{out}");
            let after = versions();
            tries += 1;
            if before == after || tries == 3 {
                break (before, after);
            }
        };
        assert_eq!(before, after, "{f}: re-apply changed objects");
        let diff = c.run(&[
            "diff",
            "--server-side",
            "--field-manager",
            "k3s-deploy",
            "-f",
            &path,
        ]);
        assert_eq!(
            diff.status.code(),
            Some(0),
            "{f}: {}",
            String::from_utf8_lossy(&diff.stdout)
        );
    }
    let sc = c.json(&["get", "storageclass", "local-path"]);
    assert_eq!(sc["provisioner"], "rancher.io/local-path");
    let api = c.json(&["get", "apiservice", "v1beta1.metrics.k8s.io"]);
    assert_eq!(api["spec"]["service"]["name"], "metrics-server");
    let cr = c.json(&["get", "clusterrole", "system:coredns"]);
    assert_eq!(cr["rules"][1]["resources"], json!(["endpointslices"]));
    let svc = c.json(&["get", "service", "kube-dns", "-n", "kube-system"]);
    let ports: Vec<String> = svc["spec"]["ports"]
        .as_array()
        .expect("ports")
        .iter()
        .map(|p| format!("{}/{}", p["port"], p["protocol"].as_str().unwrap_or("")))
        .collect();
    assert_eq!(ports, ["53/UDP", "53/TCP", "9153/TCP"]);
}
