//! Against the real control plane (kube-apiserver and kube-controller-manager,
//! `ferry_tests::control_plane`, started once for this test binary): the example app bundle,
//! and the drift/ownership/hold/immutable scenarios the kube-sim tests cover (API fault
//! injection is kube-sim only). Each test cleans up by publishing an empty revision.

mod common;

use common::*;
use std::process::Command;

/// An Env whose agent talks to the real cluster, and that cluster's kubeconfig.
fn real_env(timeout: &str, extra: &str) -> (Env, String) {
    let kubeconfig = ferry_tests::control_plane::shared()
        .kubeconfig
        .display()
        .to_string();
    let env = Env::new();
    // Each test ends by publishing an empty revision (`cleanup`): a deletion of everything,
    // which the sync confirms up front.
    env.write_config(&format!(
        "timeout: {timeout}\nallowMassPrune: true\n{extra}"
    ));
    let text = std::fs::read_to_string(&env.config).unwrap().replace(
        &env.sim.kubeconfig_path().display().to_string(),
        &kubeconfig,
    );
    std::fs::write(&env.config, text).unwrap();
    (env, kubeconfig)
}

fn kubectl(kc: &str, args: &[&str]) -> String {
    let o = Command::new("kubectl")
        .arg("--kubeconfig")
        .arg(kc)
        .args(args)
        .output()
        .unwrap();
    assert!(
        o.status.success(),
        "kubectl {args:?}: {}",
        String::from_utf8_lossy(&o.stderr)
    );
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn cleanup(env: &Env, revision: u64) {
    env.publish(revision, &[("empty.yaml", "# nothing\n".to_string())]);
    let (code, out) = env.sync();
    assert_eq!(code, 0, "{out}");
}

#[test]
fn real_cluster_applies_the_example_bundle() {
    let (env, kc) = real_env("3m", "");
    env.publish(1, &Env::example(APP));
    let (code, out) = env.sync();
    assert_eq!(code, 0, "{out}");
    let (code, out) = env.sync();
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("up to date, nothing written"), "{out}");
    let label = kubectl(
        &kc,
        &[
            "get",
            "deployment",
            "web",
            "-n",
            "demo",
            "-o",
            "jsonpath={.metadata.labels.ferry\\.dev/sync}",
        ],
    );
    assert_eq!(label, "app");
    cleanup(&env, 2);
}

#[test]
fn real_cluster_ordinary_manifests_drift_and_other_managers() {
    let (env, kc) = real_env("3m", "driftSweepInterval: 0s");
    let deploy = "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: web\n  namespace: ferry-real\n  creationTimestamp: null\n  annotations: {}\nspec:\n  replicas: 1\n  selector:\n    matchLabels: {app: web}\n  template:\n    metadata:\n      creationTimestamp: null\n      labels: {app: web}\n    spec:\n      containers:\n      - name: main\n        image: nginx:1.27\n        args: []\n        resources:\n          requests: {cpu: 0.5, memory: 64Mi}\n";
    let secret = "apiVersion: v1\nkind: Secret\nmetadata:\n  name: creds\n  namespace: ferry-real\nstringData:\n  password: hunter2\n";
    env.publish(
        1,
        &[
            ("ns.yaml", namespace("ferry-real")),
            ("d.yaml", deploy.into()),
            ("s.yaml", secret.into()),
            ("c.yaml", cm("conf", "ferry-real", "1")),
        ],
    );
    assert_eq!(env.sync().0, 0);
    // Twice more (the second a full dry-run sweep): nothing written.
    for _ in 0..2 {
        let (code, out) = env.sync();
        assert_eq!(code, 0, "{out}");
        assert!(out.contains("up to date, nothing written"), "{out}");
    }
    // A field ferry owns, changed by someone: restored.
    kubectl(
        &kc,
        &[
            "patch",
            "configmap",
            "conf",
            "-n",
            "ferry-real",
            "--type=merge",
            "-p",
            r#"{"data":{"value":"edited"}}"#,
        ],
    );
    let (code, out) = env.sync();
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("drift corrected"), "{out}");
    assert_eq!(
        kubectl(
            &kc,
            &[
                "get",
                "configmap",
                "conf",
                "-n",
                "ferry-real",
                "-o",
                "jsonpath={.data.value}"
            ]
        ),
        "1"
    );
    // Another manager's sidecar and env var, and an autoscaler's replicas: left alone.
    let inject = "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: web\n  namespace: ferry-real\nspec:\n  selector:\n    matchLabels: {app: web}\n  template:\n    metadata:\n      labels: {app: web}\n    spec:\n      containers:\n      - name: main\n        env:\n        - {name: INJECTED, value: \"1\"}\n      - name: sidecar\n        image: busybox:1.36\n        command: [sleep, \"3600\"]\n";
    let path = env.dir.path().join("inject.yaml");
    std::fs::write(&path, inject).unwrap();
    kubectl(
        &kc,
        &[
            "apply",
            "--server-side",
            "--field-manager=injector",
            "-f",
            path.to_str().unwrap(),
        ],
    );
    kubectl(
        &kc,
        &[
            "scale",
            "deployment",
            "web",
            "-n",
            "ferry-real",
            "--replicas=2",
        ],
    );
    for _ in 0..2 {
        let (code, out) = env.sync();
        assert_eq!(code, 0, "{out}");
        assert!(out.contains("nothing written"), "{out}");
    }
    let names = kubectl(
        &kc,
        &[
            "get",
            "deployment",
            "web",
            "-n",
            "ferry-real",
            "-o",
            "jsonpath={.spec.template.spec.containers[*].name} {.spec.replicas}",
        ],
    );
    assert_eq!(names, "main sidecar 2");
    cleanup(&env, 2);
}

#[test]
fn real_cluster_failed_revision_is_held_and_immutable_fields_recreate() {
    let (env, kc) = real_env("45s", "failedRevisionBackoff: 1h");
    let d = |image: &str, app: &str, ann: &str| {
        format!("apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: web\n  namespace: ferry-real2\n  annotations: {{{ann}}}\nspec:\n  progressDeadlineSeconds: 30\n  selector:\n    matchLabels: {{app: {app}}}\n  template:\n    metadata:\n      labels: {{app: {app}}}\n    spec:\n      containers:\n      - name: main\n        image: {image}\n")
    };
    env.publish(
        1,
        &[
            ("ns.yaml", namespace("ferry-real2")),
            ("d.yaml", d("nginx:1.27", "web", "")),
        ],
    );
    assert_eq!(env.sync().0, 0);
    env.publish(
        2,
        &[
            ("ns.yaml", namespace("ferry-real2")),
            ("d.yaml", d("registry.invalid/none:0", "web", "")),
        ],
    );
    let (code, out) = env.sync();
    assert_eq!(code, 1, "{out}");
    assert!(out.contains("rolled back to revision 1"), "{out}");
    let (code, out) = env.sync();
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("held until"), "{out}");
    env.publish(
        3,
        &[
            ("ns.yaml", namespace("ferry-real2")),
            ("d.yaml", d("nginx:1.27", "web2", "")),
        ],
    );
    let (code, out) = env.sync();
    assert_eq!(code, 1, "{out}");
    assert!(out.contains("field spec.selector is immutable"), "{out}");
    env.publish(
        4,
        &[
            ("ns.yaml", namespace("ferry-real2")),
            (
                "d.yaml",
                d("nginx:1.27", "web2", "ferry.dev/recreate: on-immutable"),
            ),
        ],
    );
    let (code, out) = env.sync();
    assert_eq!(code, 0, "{out}");
    assert_eq!(
        kubectl(
            &kc,
            &[
                "get",
                "deployment",
                "web",
                "-n",
                "ferry-real2",
                "-o",
                "jsonpath={.spec.selector.matchLabels.app}"
            ]
        ),
        "web2"
    );
    cleanup(&env, 5);
}

/// The k3s corpus moved aside so it cannot take over the node's own add-ons (k3s already runs
/// them from its manifests directory, and the cleanup prunes what ferry applied): namespace
/// `ferry-k3s` for `kube-system`, `ferry-k3s` names for cluster-scoped objects, no fixed
/// cluster IP, the StorageClass not the default, and no APIService (its name is fixed by the
/// group and version it serves, so a second one would replace the node's metrics API).
fn relocated_k3s(text: &str) -> String {
    let mut out = text
        .replace(
            "metrics-server:system:auth-delegator",
            "ferry-k3s:auth-delegator",
        )
        .replace("system:coredns", "ferry-k3s:coredns")
        .replace("system:metrics-server", "ferry-k3s:metrics-server")
        .replace(
            "system:aggregated-metrics-reader",
            "ferry-k3s:aggregated-metrics-reader",
        )
        .replace("local-path-provisioner-role", "ferry-k3s-local-path-role")
        .replace("local-path-provisioner-bind", "ferry-k3s-local-path-bind")
        .replace(
            "name: kube-apiserver-kubelet-admin",
            "name: ferry-k3s-kubelet-admin",
        )
        .replace("name: local-path\n", "name: ferry-k3s-local-path\n")
        .replace(
            "storageClassName: local-path",
            "storageClassName: ferry-k3s-local-path",
        )
        .replace("is-default-class: \"true\"", "is-default-class: \"false\"")
        .replace("kube-system", "ferry-k3s");
    if out.contains("kind: RuntimeClass") {
        out = out.replace(
            "kind: RuntimeClass\nmetadata:\n  name: ",
            "kind: RuntimeClass\nmetadata:\n  name: ferry-k3s-",
        );
    }
    let docs: Vec<&str> = out
        .split("\n---\n")
        .filter(|d| !d.contains("kind: APIService"))
        .collect();
    docs.join("\n---\n")
        .lines()
        .filter(|l| !l.trim_start().starts_with("clusterIP"))
        .map(|l| format!("{l}\n"))
        .collect()
}

fn writes_nothing_twice(env: &Env) {
    for _ in 0..2 {
        let (code, out) = env.sync();
        assert_eq!(code, 0, "{out}");
        assert!(out.contains("up to date, nothing written"), "{out}");
    }
}

#[test]
fn real_cluster_k3s_bundled_manifests_sync_healthy_then_without_writes() {
    let (env, kc) = real_env("4m", "driftSweepInterval: 0s");
    let mut files = vec![("ns.yaml", namespace("ferry-k3s"))];
    files.extend(corpus_files("k3s", "k3s/", relocated_k3s));
    files.extend(corpus_files("apps/storage", "storage/", relocated_k3s));
    env.publish(1, &files);
    let (code, out) = env.sync();
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("revision 1 applied"), "{out}");
    assert_eq!(
        kubectl(
            &kc,
            &[
                "get",
                "pvc",
                "cache",
                "-n",
                "ferry-k3s",
                "-o",
                "jsonpath={.status.phase}"
            ]
        ),
        "Pending"
    );
    writes_nothing_twice(&env);
    cleanup(&env, 2);
}

#[test]
fn real_cluster_podinfo_with_its_autoscaler_leaves_replicas_to_the_hpa() {
    let (env, kc) = real_env("3m", "");
    env.publish(1, &corpus_files("apps/podinfo", "", str::to_string));
    let (code, out) = env.sync();
    assert_eq!(code, 0, "{out}");
    // The autoscaler raises replicas to its minimum (2) through the scale subresource.
    kubectl(
        &kc,
        &[
            "wait",
            "deployment/podinfo",
            "-n",
            "podinfo",
            "--for=jsonpath={.spec.replicas}=2",
            "--timeout=180s",
        ],
    );
    for _ in 0..3 {
        let (code, out) = env.sync();
        assert_eq!(code, 0, "{out}");
        assert!(out.contains("nothing written"), "{out}");
    }
    assert_eq!(
        kubectl(
            &kc,
            &[
                "get",
                "deployment",
                "podinfo",
                "-n",
                "podinfo",
                "-o",
                "jsonpath={.spec.replicas}"
            ]
        ),
        "2"
    );
    let events = String::from_utf8_lossy(&env.agent(&["events"]).stdout).into_owned();
    assert_eq!(
        events
            .lines()
            .filter(|l| l.contains("field .spec.replicas is owned by manager"))
            .count(),
        1,
        "{events}"
    );
    cleanup(&env, 2);
}

#[test]
fn real_cluster_a_chart_rendered_by_helm_template_syncs_untouched() {
    let (env, kc) = real_env("3m", "driftSweepInterval: 0s");
    env.publish(1, &corpus_files("apps/chart", "", str::to_string));
    let (code, out) = env.sync();
    assert_eq!(code, 0, "{out}");
    writes_nothing_twice(&env);
    assert_eq!(
        kubectl(
            &kc,
            &[
                "get",
                "pdb",
                "edge-relay",
                "-n",
                "relay",
                "-o",
                "jsonpath={.spec.minAvailable}"
            ]
        ),
        "1"
    );
    let script = kubectl(
        &kc,
        &[
            "get",
            "configmap",
            "edge-relay-scripts",
            "-n",
            "relay",
            "-o",
            "jsonpath={.data.entrypoint\\.sh}",
        ],
    );
    assert!(script.contains("(home ${HOME})"), "{script}");
    cleanup(&env, 2);
}
