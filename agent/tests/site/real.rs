//! The site scenarios on the real control plane (kube-apiserver v1.37.2 with an audit log that counts each
//! node's requests by User-Agent; one control plane for this binary, a Lease and namespace per
//! scenario).

use crate::harness::Api;
use crate::scenarios as s;
use std::path::Path;
use std::sync::OnceLock;

#[test]
fn kill_9_of_the_leader_is_taken_over_within_the_lease_from_the_followers_cache() {
    s::kill_9_of_the_leader_is_taken_over_within_the_lease_from_the_followers_cache(real());
}

#[test]
fn a_leader_paused_past_its_lease_writes_nothing_after_it_resumes() {
    s::a_leader_paused_past_its_lease_writes_nothing_after_it_resumes(real());
}

#[test]
fn a_leader_that_loses_power_mid_apply_is_replaced_and_the_site_stays_at_or_above_its_last_good_revision(
) {
    s::a_leader_that_loses_power_mid_apply_is_replaced_and_the_site_stays_at_or_above_its_last_good_revision(real());
}

#[test]
fn a_new_leader_with_an_older_local_copy_continues_from_the_sites_revision_never_below_it() {
    s::a_new_leader_with_an_older_local_copy_continues_from_the_sites_revision_never_below_it(
        real(),
    );
}

/// One Metadata audit event per completed request; the controllers' traffic left out.
const AUDIT_POLICY: &str = "apiVersion: audit.k8s.io/v1\nkind: Policy\nomitStages: [RequestReceived, ResponseStarted]\nrules:\n- level: None\n  userGroups: [system:serviceaccounts, system:nodes]\n- level: None\n  users: [system:kube-controller-manager, system:apiserver, system:kube-scheduler]\n- level: Metadata\n";

struct Audited {
    cp: ferry_tests::control_plane::ControlPlane,
    audit: std::path::PathBuf,
    _dir: tempfile::TempDir,
}

static CP: OnceLock<Audited> = OnceLock::new();

/// The control plane of this binary, with its audit log.
fn real() -> Api {
    let a = CP.get_or_init(|| {
        let dir = tempfile::Builder::new()
            .prefix("ferry-site-audit-")
            .tempdir()
            .unwrap();
        let policy = dir.path().join("policy.yaml");
        std::fs::write(&policy, AUDIT_POLICY).unwrap();
        let audit = dir.path().join("audit.log");
        let args = [
            format!("--audit-policy-file={}", policy.display()),
            format!("--audit-log-path={}", audit.display()),
        ];
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let cp = ferry_tests::control_plane::start(&args)
            .unwrap_or_else(|e| panic!("control plane: {e}"));
        Audited {
            cp,
            audit,
            _dir: dir,
        }
    });
    Api::Real {
        kubeconfig: Path::new(&a.cp.kubeconfig),
        audit: Path::new(&a.audit),
    }
}

#[test]
fn an_idle_site_costs_one_lease_request_per_retry_period_per_node() {
    s::idle_cost(real());
}

#[test]
fn a_leader_cut_off_the_api_server_stops_writing_and_is_replaced() {
    s::partition(real());
}

#[test]
fn a_leader_paused_in_the_middle_of_an_apply_writes_no_further_object_after_it_resumes() {
    s::paused_mid_apply(real());
}

#[test]
fn a_drop_on_a_follower_reaches_the_leader_through_its_relay() {
    crate::drops::drop_on_a_follower_reaches_the_leader(real());
}

#[test]
fn a_leader_shut_down_cleanly_releases_the_lease_and_a_follower_takes_over_at_once() {
    crate::shutdown::released_on_sigterm(real());
}

#[test]
fn three_nodes_upgrade_their_host_payloads_one_at_a_time() {
    crate::rollout::three_nodes_upgrade_one_at_a_time(real());
}

#[test]
fn a_node_that_fails_its_host_check_stops_the_rollout_and_the_third_is_not_touched() {
    crate::rollout::a_node_that_fails_its_check_stops_the_rollout_and_the_third_is_not_touched(
        real(),
    );
}

#[test]
fn a_malformed_host_stop_record_stops_every_revision() {
    crate::rollout_cases::a_malformed_stop_record_stops_every_revision(real());
}

#[test]
fn a_node_killed_in_its_host_turn_blocks_the_others_only_for_its_lease() {
    crate::rollout_cases::a_node_killed_in_its_turn_blocks_the_others_only_for_its_lease(real());
}

#[test]
fn a_drain_evicts_each_nodes_pods_in_its_host_turn() {
    crate::rollout_cases::a_drain_evicts_each_nodes_pods_in_its_turn(real());
}
