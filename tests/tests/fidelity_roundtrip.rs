//! Typed round trip and validation, proven through the real `kubectl`: defaulting, canonical
//! quantities, Go `omitempty`, Secret `stringData`, Service cluster IPs, Namespace defaults,
//! no-op applies, `fieldValidation`, immutable fields, dry runs, generation. Each check takes a
//! cluster, so `real_server_roundtrip` runs the very same checks against the real
//! kube-apiserver (`ferry_tests::control_plane`).

mod roundtrip_support;

use ferry_tests::kube_sim::{ClockMode, KubeSim, SimConfig, SimOptions};
use roundtrip_support::defaults::*;
use roundtrip_support::validation::*;
use roundtrip_support::Cluster;

/// A named check.
type Check = (&'static str, fn(&Cluster));

const CHECKS: &[Check] = &[
    ("deployment_round_trip", check_deployment_round_trip),
    ("client_side_apply", check_client_side_apply),
    ("secret_string_data", check_secret_string_data),
    ("service_cluster_ip", check_service_cluster_ip),
    ("namespace_defaults", check_namespace_defaults),
    ("field_validation", check_field_validation),
    ("immutable_fields", check_immutable_fields),
    ("dry_run", check_dry_run),
    ("job", check_job),
    ("decode_errors", check_decode_errors),
    ("custom_resources", check_custom_resources),
    ("generation_and_replace", check_generation_and_replace),
    ("storage_and_rbac_defaults", check_storage_and_rbac_defaults),
];

/// The checks are about the write path: the simulated controllers stay still (a manual clock
/// nobody moves), so a controller's status write never lands between two reads.
fn on_sim(check: fn(&Cluster)) {
    on_sim_with(check, ClockMode::Manual);
}

/// For checks that need a controller (a CRD becoming Established): the clock moves with every
/// request.
fn on_moving_sim(check: fn(&Cluster)) {
    on_sim_with(check, ClockMode::default());
}

fn on_sim_with(check: fn(&Cluster), clock: ClockMode) {
    let sim = KubeSim::start(SimOptions {
        config: SimConfig {
            clock,
            ..SimConfig::default()
        },
        ..SimOptions::default()
    })
    .expect("kube-sim starts");
    check(&Cluster::new(&sim.kubeconfig_path(), false));
}

#[test]
fn deployment_round_trip() {
    on_sim(check_deployment_round_trip);
}

#[test]
fn client_side_apply() {
    on_sim(check_client_side_apply);
}

#[test]
fn secret_string_data() {
    on_sim(check_secret_string_data);
}

#[test]
fn service_cluster_ip() {
    on_sim(check_service_cluster_ip);
}

#[test]
fn namespace_defaults() {
    on_sim(check_namespace_defaults);
}

#[test]
fn field_validation() {
    on_sim(check_field_validation);
}

#[test]
fn immutable_fields() {
    on_sim(check_immutable_fields);
}

#[test]
fn dry_run() {
    on_sim(check_dry_run);
}

#[test]
fn job() {
    on_sim(check_job);
}

#[test]
fn decode_errors() {
    on_sim(check_decode_errors);
}

#[test]
fn custom_resources() {
    on_moving_sim(check_custom_resources);
}

#[test]
fn generation_and_replace() {
    on_sim(check_generation_and_replace);
}

#[test]
fn storage_and_rbac_defaults() {
    on_sim(check_storage_and_rbac_defaults);
}

/// The same checks against the real kube-apiserver (`ferry_tests::control_plane`).
#[test]
fn real_server_roundtrip() {
    let c = Cluster::real();
    let mut failed = Vec::new();
    for (name, check) in CHECKS {
        eprintln!("fidelity check: {name}");
        if std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| check(&c))).is_err() {
            failed.push(*name);
        }
    }
    assert!(
        failed.is_empty(),
        "checks that differ on the real server: {failed:?}"
    );
}
