//! Fidelity of schema, discovery and server-side apply, checked through the real `kubectl`.
//! Every check is a function of a cluster (a kubeconfig), so the same checks run against
//! kube-sim and against the real kube-apiserver (`ferry_tests::control_plane`) in the
//! `real_server_*` entry point. Expected `fieldsV1` values are written from
//! structured-merge-diff's encoding rules, not read back from kube-sim.

mod fidelity;

use ferry_tests::kube_sim::{KubeSim, SimOptions};
use fidelity::checks::*;
use fidelity::cluster::Cluster;

fn sim() -> (KubeSim, Cluster) {
    let sim = KubeSim::start(SimOptions::default()).expect("kube-sim starts");
    let c = Cluster::new(&sim.kubeconfig_path(), true);
    (sim, c)
}

#[test]
fn two_managers_share_containers_and_env() {
    let (_s, c) = sim();
    check_two_managers_share_lists(&c, "fid-share");
}

#[test]
fn conflicts_name_manager_and_item_and_force_takes_over() {
    let (_s, c) = sim();
    check_conflict_and_force(&c, "fid-conflict");
}

#[test]
fn items_go_only_with_their_last_applier() {
    let (_s, c) = sim();
    check_removal_by_last_applier(&c, "fid-removal");
}

#[test]
fn update_and_apply_managers_record_real_field_sets() {
    let (_s, c) = sim();
    check_update_and_apply_field_sets(&c, "fid-fieldsets");
}

#[test]
fn strategic_merge_patches_merge_lists_by_key() {
    let (_s, c) = sim();
    check_strategic_patch(&c, "fid-smp");
}

#[test]
fn names_are_validated_per_kind() {
    let (_s, c) = sim();
    check_names(&c, "fid-names");
}

#[test]
fn discovery_and_openapi_come_from_the_real_schema() {
    let (_s, c) = sim();
    check_discovery_and_openapi(&c);
}

#[test]
fn k3s_bundled_manifests_apply_and_reapply_without_changes() {
    let (_s, c) = sim();
    check_k3s_corpus(&c);
}

/// The same checks against the real kube-apiserver (`ferry_tests::control_plane`). Namespaces
/// `fid-*` are created and deleted. The control plane is this binary's own, so the k3s corpus
/// is applied for real (as k3s's deploy controller does on a node), then its APIService is
/// removed again: no metrics-server answers behind it.
#[test]
fn real_server_schema_discovery_and_apply() {
    let c = Cluster::new(&ferry_tests::control_plane::shared().kubeconfig, true);
    let namespaces = [
        "fid-share",
        "fid-conflict",
        "fid-removal",
        "fid-fieldsets",
        "fid-names",
        "fid-smp",
    ];
    check_two_managers_share_lists(&c, namespaces[0]);
    check_conflict_and_force(&c, namespaces[1]);
    check_removal_by_last_applier(&c, namespaces[2]);
    check_update_and_apply_field_sets(&c, namespaces[3]);
    check_names(&c, namespaces[4]);
    check_strategic_patch(&c, namespaces[5]);
    check_discovery_and_openapi(&c);
    check_k3s_corpus(&c);
    c.ok(&["delete", "apiservice", "v1beta1.metrics.k8s.io"]);
    for ns in namespaces {
        let _ = c.run(&["delete", "namespace", ns, "--wait=false"]);
    }
}
