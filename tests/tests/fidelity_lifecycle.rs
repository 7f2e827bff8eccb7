//! Lifecycle, controllers and errors (issue 11 items 6-8) checked through the real `kubectl`.
//!
//! Every check takes a [`Cluster`]: against kube-sim the test owns the simulated clock and
//! moves it (`Cluster::pass`); against the real control plane (`ferry_tests::control_plane`,
//! `real_server_lifecycle`) the real controllers run on their own and the checks wait with
//! `kubectl wait`. No check sleeps on the wall clock. Checks that need a fault or a compaction
//! only kube-sim can inject say so and are skipped on a real cluster.

mod fidelity_lifecycle {
    pub mod cluster;
    pub mod deletion;
    pub mod errors;
    pub mod jobs;
    pub mod workloads;
}

use ferry_tests::kube_sim::{ClockMode, Faults, KubeSim, SimConfig, SimOptions, ThrottleBody};
use fidelity_lifecycle::cluster::{cond, deployment, ns_yaml, Cluster, PAUSE};
use fidelity_lifecycle::deletion::*;
use fidelity_lifecycle::errors::*;
use fidelity_lifecycle::jobs::*;
use fidelity_lifecycle::workloads::*;
use std::time::Duration;

// Entry points

fn manual_sim() -> KubeSim {
    KubeSim::start(SimOptions {
        port: 0,
        config: SimConfig {
            clock: ClockMode::Manual,
            ..SimConfig::default()
        },
    })
    .unwrap()
}

macro_rules! on_sim {
    ($($name:ident => $check:ident),* $(,)?) => {$(
        #[test]
        fn $name() {
            let sim = manual_sim();
            $check(&Cluster::sim(&sim));
        }
    )*};
}

on_sim! {
    sim_finalizer_holds_deletion => check_finalizer_holds_deletion,
    sim_namespace_terminating => check_namespace_terminating,
    sim_immortal_namespaces => check_immortal_namespaces,
    sim_propagation_policies => check_propagation_policies,
    sim_crd_deletion_removes_custom_resources => check_crd_deletion_removes_custom_resources,
    sim_deployment_statuses => check_deployment_statuses,
    sim_scale_and_autoscaler => check_scale_and_autoscaler,
    sim_status_subresource => check_status_subresource,
    sim_statefulset_and_daemonset => check_statefulset_and_daemonset,
    sim_jobs_and_ttl => check_jobs_and_ttl,
    sim_pvc_waits_for_first_consumer => check_pvc_waits_for_first_consumer,
    sim_helm_controller => check_helm_controller,
    sim_metadata_only_lists => check_metadata_only_lists,
    sim_continue_tokens_expire => check_continue_tokens_expire,
    sim_delete_preconditions => check_delete_preconditions,
}

/// 429 with Retry-After (client-go retries it) and k3s's 503 while its apiserver starts.
#[test]
fn sim_throttling_and_not_ready() {
    let mut sim = manual_sim();
    let c = Cluster::sim(&sim);
    c.ok(&["get", "namespaces"]);
    for body in [ThrottleBody::PriorityAndFairness, ThrottleBody::Status] {
        sim.clear_log();
        sim.set_faults(Faults {
            throttle_next: 2,
            retry_after_secs: 0,
            throttle_body: body,
            ..Faults::default()
        });
        let out = c.ok(&["get", "configmaps", "-n", "default", "-o", "name"]);
        assert!(out.is_empty() || out.contains("configmap/"), "{out}");
        let codes: Vec<u16> = sim.log().iter().map(|e| e.status).collect();
        assert_eq!(
            &codes[..3],
            &[429, 429, 200],
            "client-go retried after Retry-After: {codes:?}"
        );
    }
    drop(c);
    sim.restart_not_ready(true, 50).unwrap();
    let c = Cluster::sim(&sim);
    let err = c.fails(&["get", "--raw", "/api/v1/namespaces/default/configmaps"]);
    assert!(
        err.contains("ServiceUnavailable") && err.contains("apiserver not ready"),
        "{err}"
    );
    let err = c.fails(&["get", "configmaps", "-n", "default"]);
    assert!(
        err.contains("the server is currently unable to handle the request"),
        "{err}"
    );
    sim.set_faults(Faults::default());
    c.ok(&["get", "configmaps", "-n", "default"]);
}

/// Direct checks of the PerRequest clock (the agent tests' mode): a client that polls sees a
/// Deployment progress one step per request, without the test moving the clock.
#[test]
fn sim_per_request_clock_progresses_while_polling() {
    let sim = KubeSim::start(SimOptions::default()).unwrap();
    let c = Cluster::sim(&sim);
    c.apply("ns.yaml", &ns_yaml("poll"));
    c.apply("d.yaml", &deployment("poll", "web", PAUSE, ""));
    let mut reasons = Vec::new();
    for _ in 0..20 {
        let d = c.json(&["get", "deployment", "web", "-n", "poll"]);
        let r = cond(&d, "Progressing")["reason"]
            .as_str()
            .unwrap_or("")
            .to_string();
        if reasons.last() != Some(&r) {
            reasons.push(r.clone());
        }
        if r == "NewReplicaSetAvailable" {
            break;
        }
    }
    assert_eq!(
        reasons.last().map(String::as_str),
        Some("NewReplicaSetAvailable"),
        "{reasons:?}"
    );
}

/// One fidelity check.
type Check = fn(&Cluster);

/// The same checks against the real kube-apiserver and kube-controller-manager
/// (`ferry_tests::control_plane`).
#[test]
fn real_server_lifecycle() {
    let c = Cluster::new(
        ferry_tests::control_plane::shared().kubeconfig.clone(),
        None,
    );
    let checks: &[(&str, Check)] = &[
        ("finalizer_holds_deletion", check_finalizer_holds_deletion),
        ("namespace_terminating", check_namespace_terminating),
        ("immortal_namespaces", check_immortal_namespaces),
        ("propagation_policies", check_propagation_policies),
        (
            "crd_deletion_removes_custom_resources",
            check_crd_deletion_removes_custom_resources,
        ),
        ("deployment_statuses", check_deployment_statuses),
        ("scale_and_autoscaler", check_scale_and_autoscaler),
        ("status_subresource", check_status_subresource),
        ("statefulset_and_daemonset", check_statefulset_and_daemonset),
        ("jobs_and_ttl", check_jobs_and_ttl),
        // Not here: pvc_waits_for_first_consumer needs k3s's local-path StorageClass and
        // provisioner, which the control plane does not run (docs/kube-sim.md).
        ("metadata_only_lists", check_metadata_only_lists),
        ("continue_tokens_expire", check_continue_tokens_expire),
        ("delete_preconditions", check_delete_preconditions),
    ];
    let mut failed = Vec::new();
    for (name, check) in checks {
        if std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| check(&c))).is_err() {
            failed.push(*name);
        }
    }
    println!(
        "lifecycle fidelity on a real cluster: {} of {} checks hold",
        checks.len() - failed.len(),
        checks.len()
    );
    assert!(
        failed.is_empty(),
        "differences from kube-sim's expectations: {failed:?}"
    );
}

/// k3s's helm-controller on the real control plane (a control plane of its own, started with
/// `--helm-controller`): HelmCharts get their real install Job, status, replacement and
/// uninstall.
#[test]
fn real_server_helm_controller() {
    let cp = ferry_tests::control_plane::start_with(&[], &["--helm-controller"])
        .unwrap_or_else(|e| panic!("control plane with the helm-controller: {e}"));
    check_helm_controller(&Cluster::new(cp.kubeconfig.clone(), None));
}

/// Once everything has settled, an idle pass changes nothing (no controller rewrites a status
/// it already wrote), so `resourceVersion`s stay put while the clock moves.
#[test]
fn sim_controllers_go_quiet() {
    let sim = manual_sim();
    let c = Cluster::sim(&sim);
    c.apply("ns.yaml", &ns_yaml("quiet"));
    c.apply("d.yaml", &deployment("quiet", "web", PAUSE, ""));
    c.apply("all.yaml", &format!("apiVersion: autoscaling/v2\nkind: HorizontalPodAutoscaler\nmetadata:\n  name: web\n  namespace: quiet\nspec:\n  scaleTargetRef: {{apiVersion: apps/v1, kind: Deployment, name: web}}\n  minReplicas: 2\n  maxReplicas: 3\n---\napiVersion: batch/v1\nkind: Job\nmetadata:\n  name: once\n  namespace: quiet\nspec:\n  template:\n    spec:\n      restartPolicy: Never\n      containers: [{{name: main, image: {PAUSE}}}]\n---\napiVersion: v1\nkind: PersistentVolumeClaim\nmetadata:\n  name: data\n  namespace: quiet\nspec:\n  accessModes: [ReadWriteOnce]\n  resources: {{requests: {{storage: 1Gi}}}}\n---\napiVersion: helm.cattle.io/v1\nkind: HelmChart\nmetadata:\n  name: quiet\n  namespace: kube-system\nspec:\n  chart: quiet\n"));
    sim.advance(Duration::from_secs(120));
    let rv = sim.with_state(|s| s.rv);
    sim.advance(Duration::from_secs(30));
    assert!(!sim.step(), "an idle pass wrote something");
    assert_eq!(
        sim.with_state(|s| s.rv),
        rv,
        "nothing changed while the clock moved"
    );
}
