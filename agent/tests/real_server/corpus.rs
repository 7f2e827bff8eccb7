//! The corpus groups and the k3s examples sync healthy on the real control plane (Deployments
//! Available through the real deployment and replicaset controllers and the node stand-in), then
//! a pass without change and a full dry-run sweep write nothing.

use super::*;
use server_support::corpus_tree;

/// First pass applies (one write per object and the status object at most), then the cheap
/// pass and a full sweep (every object dry-run) write nothing. Returns the three counts.
fn healthy_then_quiet(real: &Real, files: &[(&str, String)], label: &str) -> [Count; 3] {
    let n = objects(files);
    real.env.publish(1, files);
    let (out, first) = real.pass(&format!("{label}: first pass ({n} objects)"));
    assert!(out.contains("revision 1 applied"), "{out}");
    assert!(
        first.writes <= n + 1,
        "{label}: {} writes for {n} objects",
        first.writes
    );
    let second = real.quiet(&format!("{label}: no-change pass"));
    real.config("timeout: 3m\ndriftSweepInterval: 0s");
    let sweep = real.quiet(&format!("{label}: sweep pass"));
    assert!(sweep.dry_runs >= n - 1, "{label}: {sweep:?}");
    [first, second, sweep]
}

fn available(real: &Real, ns: &str, name: &str) {
    assert_eq!(
        real.get(
            &["deployment", name, "-n", ns],
            "{.status.conditions[?(@.type==\"Available\")].status}"
        ),
        "True",
        "Deployment {ns}/{name}"
    );
}

/// k3s's own bundled manifests as they are (coredns, local-path, metrics-server, RBAC,
/// RuntimeClasses) with a claim, into kube-system as k3s has them. The metrics APIService is
/// left out here (its backend cannot run without a kubelet, and the failing discovery of
/// metrics.k8s.io would reach every other test's kubectl): it has a control plane of its own in
/// [`an_apiservice_whose_backend_is_unreachable`].
#[test]
fn k3s_bundled_manifests_sync_healthy_then_without_writes() {
    let at = shared();
    let real = Real::new(at, "timeout: 3m");
    let drop_apiservice = |t: &str| {
        t.split("\n---\n")
            .filter(|d| !d.contains("kind: APIService"))
            .collect::<Vec<_>>()
            .join("\n---\n")
    };
    let mut files = corpus_files("k3s", "k3s/", drop_apiservice);
    files.extend(corpus_files("apps/storage", "storage/", str::to_string));
    healthy_then_quiet(&real, &files, "k3s");
    for name in ["coredns", "local-path-provisioner", "metrics-server"] {
        available(&real, "kube-system", name);
    }
    assert_eq!(
        real.get(&["pvc", "cache", "-n", "kube-system"], "{.status.phase}"),
        "Pending"
    );
    assert_eq!(
        real.get(
            &["service", "kube-dns", "-n", "kube-system"],
            "{.spec.clusterIP}"
        ),
        "10.43.0.10"
    );
}

#[test]
fn a_chart_rendered_by_helm_template_syncs_healthy_then_without_writes() {
    let real = Real::new(shared(), "timeout: 3m");
    healthy_then_quiet(
        &real,
        &corpus_files("apps/chart", "", str::to_string),
        "chart",
    );
    available(&real, "relay", "edge-relay");
    assert_eq!(
        real.get(
            &["deployment", "edge-relay", "-n", "relay"],
            "{.status.readyReplicas}"
        ),
        "2"
    );
}

#[test]
fn the_example_app_and_crd_sync_healthy_then_without_writes() {
    let real = Real::new(shared(), "timeout: 3m");
    let mut files: Vec<(&str, String)> = Env::example(APP)
        .into_iter()
        .map(|(p, t)| (&*Box::leak(format!("app/{p}").into_boxed_str()), t))
        .collect();
    files.extend(corpus_tree("../../k3s-examples/crd", "crd/"));
    healthy_then_quiet(&real, &files, "examples");
    available(&real, "demo", "web");
}

/// k3s's metrics-server manifest with its APIService, on a control plane of its own: the
/// aggregator cannot reach the backend (no kubelet runs metrics-server), so the APIService stays
/// Available=False and discovery of metrics.k8s.io fails. ferry's pass still succeeds (it
/// does not judge an APIService by its Available condition) and the next one writes nothing.
#[test]
fn an_apiservice_whose_backend_is_unreachable() {
    let at = audited(&[]);
    let real = Real::new(&at, "timeout: 1m");
    let files = corpus_files("k3s", "k3s/", str::to_string)
        .into_iter()
        .filter(|(p, _)| p.ends_with("metrics-server.yaml"))
        .collect::<Vec<_>>();
    real.env.publish(1, &files);
    let (out, _) = real.pass("apiservice: first pass");
    assert!(out.contains("revision 1 applied"), "{out}");
    let available = real.get(
        &["apiservice", "v1beta1.metrics.k8s.io"],
        "{.status.conditions[?(@.type==\"Available\")].status}",
    );
    assert_eq!(available, "False", "no backend can answer");
    real.quiet("apiservice: no-change pass");
    real.config("timeout: 1m\ndriftSweepInterval: 0s");
    real.quiet("apiservice: sweep");
}
