//! Other managers' list items, the scale subresource, immutable fields and re-creation,
//! Terminating namespaces: the real `ferry-agent` against kube-sim's server-side apply.

mod common;

use common::*;

fn deployment_with(name: &str, ns: &str, image: &str, selector: &str, annotations: &str) -> String {
    format!("apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: {name}\n  namespace: {ns}\n  annotations: {{{annotations}}}\nspec:\n  replicas: 1\n  selector:\n    matchLabels: {{app: {selector}}}\n  template:\n    metadata:\n      labels: {{app: {selector}}}\n    spec:\n      containers:\n      - name: main\n        image: {image}\n        env:\n        - {{name: MODE, value: edge}}\n")
}

fn kubectl_ok(env: &Env, args: &[&str]) {
    let o = env.kubectl(args);
    assert!(
        o.status.success(),
        "kubectl {args:?}: {}",
        String::from_utf8_lossy(&o.stderr)
    );
}

#[test]
fn a_second_managers_container_and_env_var_are_left_alone() {
    let env = Env::new();
    env.publish(
        1,
        &[
            ("ns.yaml", namespace("shop")),
            (
                "d.yaml",
                deployment_with("web", "shop", "nginx:1.27", "web", ""),
            ),
        ],
    );
    assert_eq!(env.sync().0, 0);
    // An injector adds a sidecar and an env var to ferry's container, as its own manager.
    let injected = "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: web\n  namespace: shop\nspec:\n  selector:\n    matchLabels: {app: web}\n  template:\n    metadata:\n      labels: {app: web}\n    spec:\n      containers:\n      - name: main\n        env:\n        - {name: INJECTED, value: \"1\"}\n      - name: sidecar\n        image: envoy:1.31\n";
    let path = env.dir.path().join("inject.yaml");
    std::fs::write(&path, injected).unwrap();
    kubectl_ok(
        &env,
        &[
            "apply",
            "--server-side",
            "--field-manager=injector",
            "-f",
            path.to_str().unwrap(),
        ],
    );
    env.sim.clear_log();
    for _ in 0..2 {
        let (code, out) = env.sync();
        assert_eq!(code, 0, "{out}");
    }
    assert_eq!(env.sim.writes().len(), 0, "{:?}", env.sim.writes());
    let live = env.obj("apps", "Deployment", "shop", "web").unwrap();
    let containers = live["spec"]["template"]["spec"]["containers"]
        .as_array()
        .unwrap()
        .clone();
    assert!(
        containers.iter().any(|c| c["name"] == "sidecar"),
        "{containers:?}"
    );
    let main = containers.iter().find(|c| c["name"] == "main").unwrap();
    let env_names: Vec<&str> = main["env"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|e| e["name"].as_str())
        .collect();
    assert!(
        env_names.contains(&"INJECTED") && env_names.contains(&"MODE"),
        "{env_names:?}"
    );
}

#[test]
fn an_immutable_field_fails_clearly_then_recreate_with_the_annotation() {
    let env = Env::new();
    env.write_config("timeout: 5s");
    env.publish(
        1,
        &[
            ("ns.yaml", namespace("shop")),
            (
                "d.yaml",
                deployment_with("web", "shop", "nginx:1.27", "web", ""),
            ),
        ],
    );
    assert_eq!(env.sync().0, 0);
    let uid = env.obj("apps", "Deployment", "shop", "web").unwrap()["metadata"]["uid"].clone();
    // A new selector: the server refuses the change (spec.selector is immutable).
    env.publish(
        2,
        &[
            ("ns.yaml", namespace("shop")),
            (
                "d.yaml",
                deployment_with("web", "shop", "nginx:1.27", "web2", ""),
            ),
        ],
    );
    let (code, out) = env.sync();
    assert_eq!(code, 1, "{out}");
    assert!(
        out.contains("Deployment.apps/shop/web")
            && out.contains("field spec.selector is immutable")
            && out.contains("ferry.dev/recreate: on-immutable"),
        "{out}"
    );
    // Opt in on the object: deleted, awaited, created again with the new selector.
    env.publish(
        3,
        &[
            ("ns.yaml", namespace("shop")),
            (
                "d.yaml",
                deployment_with(
                    "web",
                    "shop",
                    "nginx:1.27",
                    "web2",
                    "ferry.dev/recreate: on-immutable",
                ),
            ),
        ],
    );
    let (code, out) = env.sync();
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("revision 3 applied"), "{out}");
    let live = env.obj("apps", "Deployment", "shop", "web").unwrap();
    assert_eq!(live["spec"]["selector"]["matchLabels"]["app"], "web2");
    assert_ne!(live["metadata"]["uid"], uid, "a new object");
    let deletes = env
        .sim
        .writes()
        .iter()
        .filter(|w| w.method == "DELETE" && w.path.ends_with("/deployments/web"))
        .count();
    assert_eq!(deletes, 1);
}

#[test]
fn replicas_set_through_the_scale_subresource_are_not_forced_back() {
    let env = Env::new();
    env.publish(
        1,
        &[
            ("ns.yaml", namespace("shop")),
            (
                "d.yaml",
                deployment_with("web", "shop", "nginx:1.27", "web", ""),
            ),
        ],
    );
    assert_eq!(env.sync().0, 0);
    kubectl_ok(
        &env,
        &["scale", "deployment", "web", "-n", "shop", "--replicas=3"],
    );
    env.sim.clear_log();
    let mut outs = String::new();
    for _ in 0..3 {
        let (code, out) = env.sync();
        assert_eq!(code, 0, "{out}");
        outs.push_str(&out);
    }
    assert_eq!(
        env.sim.writes().len(),
        0,
        "{:?}\n{outs}\n{}",
        env.sim.writes(),
        env.obj("apps", "Deployment", "shop", "web").unwrap()
    );
    assert_eq!(
        env.obj("apps", "Deployment", "shop", "web").unwrap()["spec"]["replicas"],
        3
    );
    let events = String::from_utf8_lossy(&env.agent(&["events"]).stdout).into_owned();
    assert_eq!(
        events.matches("set through the scale subresource").count(),
        1,
        "{events}"
    );
}

#[test]
fn creating_into_a_terminating_namespace_fails_clearly_without_rollback() {
    let env = Env::new();
    // The agent waits the namespace out for up to 5 minutes, on a manual clock
    // (`FERRY_TEST_CLOCK`): each poll's sleep moves it forward at once.
    env.write_config("timeout: 5m");
    env.publish(1, &[("a.yaml", cm("a", "default", "1"))]);
    assert_eq!(env.sync().0, 0);
    // A namespace stays Terminating while content it holds waits for a finalizer (a
    // Namespace's own spec.finalizers only change through its finalize subresource).
    // (kubectl's imperative `create namespace` sends protobuf, which kube-sim does not serve.)
    let held = env.dir.path().join("held.yaml");
    std::fs::write(
        &held,
        "apiVersion: v1\nkind: Namespace\nmetadata:\n  name: doomed\n---\napiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: held\n  namespace: doomed\n  finalizers: [example.com/hold]\n",
    )
    .unwrap();
    kubectl_ok(&env, &["apply", "-f", held.to_str().unwrap()]);
    kubectl_ok(&env, &["delete", "namespace", "doomed", "--wait=false"]);
    env.publish(
        2,
        &[
            ("a.yaml", cm("a", "default", "2")),
            ("b.yaml", cm("b", "doomed", "1")),
        ],
    );
    let o = env.agent_env(&["sync", "--once"], &[("FERRY_TEST_CLOCK", "1900000000")]);
    let (code, out) = (
        o.status.code().unwrap_or(-1),
        format!(
            "{}{}",
            String::from_utf8_lossy(&o.stdout),
            String::from_utf8_lossy(&o.stderr)
        ),
    );
    assert_eq!(code, 1, "{out}");
    assert!(
        out.contains("namespace doomed is being terminated") && out.contains("300s"),
        "{out}"
    );
    assert!(!out.contains("rolled back"), "{out}");
}

#[test]
fn a_helm_chart_is_as_healthy_as_the_job_created_for_it() {
    let env = Env::new();
    let chart = |version: &str| {
        format!("apiVersion: helm.cattle.io/v1\nkind: HelmChart\nmetadata:\n  name: podinfo\n  namespace: kube-system\nspec:\n  repo: https://stefanprodan.github.io/podinfo\n  chart: podinfo\n  version: {version}\n  targetNamespace: default\n")
    };
    env.publish(1, &[("chart.yaml", chart("6.7.0"))]);
    let (code, out) = env.sync();
    assert_eq!(code, 0, "{out}");
    let job = env
        .obj("batch", "Job", "kube-system", "helm-install-podinfo")
        .expect("the install job ran");
    assert!(
        job["status"]["conditions"].to_string().contains("Complete"),
        "{job}"
    );
    env.publish(2, &[("chart.yaml", chart("6.7.1"))]);
    let (code, out) = env.sync();
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("revision 2 applied"), "{out}");
}

#[test]
fn an_object_whose_kind_is_no_longer_served_is_reported_not_counted_as_deleted() {
    let env = Env::new();
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/../k3s-examples/crd");
    // The CRD belongs to someone else; ferry applies only the custom resource.
    kubectl_ok(&env, &["apply", "-f", &format!("{dir}/crd.yaml")]);
    let wait = env.kubectl(&[
        "wait",
        "--for=condition=Established",
        "crd/sensors.edge.example.com",
        "--timeout=10s",
    ]);
    assert!(
        wait.status.success(),
        "{}",
        String::from_utf8_lossy(&wait.stderr)
    );
    let sensor = std::fs::read_to_string(format!("{dir}/sensor.yaml")).unwrap();
    env.publish(
        1,
        &[
            ("sensor.yaml", sensor),
            ("c.yaml", cm("keep", "default", "1")),
        ],
    );
    let (code, out) = env.sync();
    assert_eq!(code, 0, "{out}");
    // The CRD goes away (and its objects with it); the next revision drops the sensor.
    kubectl_ok(&env, &["delete", "crd", "sensors.edge.example.com"]);
    env.publish(2, &[("c.yaml", cm("keep", "default", "1"))]);
    let (code, out) = env.sync();
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("0 deleted"), "not counted as deleted: {out}");
    let events = String::from_utf8_lossy(&env.agent(&["events"]).stdout).into_owned();
    assert!(
        events.contains("prune-incomplete")
            && events.contains("no longer serves edge.example.com/v1 Sensor"),
        "{events}"
    );
}

#[test]
fn a_sync_with_recreate_on_immutable_recreates_an_immutable_configmap() {
    let env = Env::new();
    env.write_config("timeout: 5s\nrecreate: on-immutable");
    let frozen = |v: &str| {
        format!("apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: frozen\n  namespace: default\nimmutable: true\ndata:\n  value: \"{v}\"\n")
    };
    env.publish(1, &[("c.yaml", frozen("1"))]);
    assert_eq!(env.sync().0, 0);
    env.publish(2, &[("c.yaml", frozen("2"))]);
    let (code, out) = env.sync();
    assert_eq!(code, 0, "{out}");
    assert_eq!(
        env.obj("", "ConfigMap", "default", "frozen").unwrap()["data"]["value"],
        "2"
    );
}
