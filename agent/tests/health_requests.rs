//! What waiting for health costs the API server (kube-sim's request log): a write's answer
//! settles the health of kinds no controller reports on (ConfigMap, ServiceAccount, RBAC, a
//! ClusterIP Service, Namespace), and the check's LIST settles those left unwritten, so only
//! objects a controller reports on (Deployments, a LoadBalancer Service) are polled by GET.
//! Staging and health decisions are unchanged: the Namespace is written before what lives in
//! it, and the pass ends when the Deployments are available.

mod common;

use common::*;
use ferry_tests::kube_sim::LogEntry;
use std::collections::BTreeMap;

const NS: &str = "speed";

/// GETs of single objects, by plural.
fn gets(log: &[LogEntry]) -> BTreeMap<String, usize> {
    let mut m = BTreeMap::new();
    for e in log.iter().filter(|e| e.method == "GET") {
        if let Some(p) = object_plural(&e.path) {
            *m.entry(p).or_default() += 1;
        }
    }
    m
}

/// The writes of the app (the agent's status object in kube-system left out).
fn writes(log: &[LogEntry]) -> Vec<&LogEntry> {
    log.iter()
        .filter(|e| e.is_write() && !e.query.contains("dryRun"))
        .filter(|e| e.path.contains(&format!("/namespaces/{NS}")))
        .collect()
}

#[test]
fn only_objects_a_controller_reports_on_are_polled_for_health() {
    let env = Env::new();
    env.write_config("timeout: 30s");
    env.publish(1, &health_mix(NS, "first"));
    let (code, out) = env.sync();
    assert_eq!(code, 0, "{out}");
    let log = env.sim.log();
    let w = writes(&log);
    assert_eq!(w.len(), 29, "one write per object: {w:?}");
    // Staging unchanged: the Namespace is written (and healthy) before anything in it.
    let ns_write = w
        .iter()
        .position(|e| e.path == format!("/api/v1/namespaces/{NS}"));
    assert_eq!(ns_write, Some(0), "{w:?}");
    let g = gets(&log);
    println!("first sync, GETs of single objects: {g:?}");
    for settled in [
        "namespaces",
        "configmaps",
        "serviceaccounts",
        "roles",
        "rolebindings",
    ] {
        assert_eq!(g.get(settled), None, "{settled}: {g:?}");
    }
    // Polled until the controllers report them: both Deployments, and the LoadBalancer
    // Service (its address is a controller's), but not the ClusterIP Service.
    assert!(g.get("deployments").copied().unwrap_or(0) >= 2, "{g:?}");
    let services: Vec<&str> = log
        .iter()
        .filter(|e| e.method == "GET" && object_plural(&e.path).as_deref() == Some("services"))
        .map(|e| e.path.as_str())
        .collect();
    assert!(
        services.iter().all(|p| p.ends_with("/public")),
        "{services:?}"
    );
    assert!(!services.is_empty(), "the LoadBalancer Service is polled");
    // The health decision is unchanged: the pass ended with the Deployments available.
    for d in ["web-0", "web-1"] {
        let live = env.obj("apps", "Deployment", NS, d).unwrap();
        assert_eq!(live["status"]["availableReplicas"], 1, "{d}: {live}");
    }

    // Revision 2 changes one ConfigMap: the others are settled by the check's LIST.
    env.sim.clear_log();
    env.publish(2, &health_mix(NS, "second"));
    let (code, out) = env.sync();
    assert_eq!(code, 0, "{out}");
    let log = env.sim.log();
    let w = writes(&log);
    assert_eq!(w.len(), 1, "{w:?}");
    assert!(w[0].path.ends_with("/configmaps/c0"), "{w:?}");
    let g = gets(&log);
    println!("one ConfigMap changed, GETs of single objects: {g:?}");
    for settled in [
        "namespaces",
        "configmaps",
        "serviceaccounts",
        "roles",
        "rolebindings",
    ] {
        assert_eq!(g.get(settled), None, "{settled}: {g:?}");
    }
    assert!(g.get("deployments").copied().unwrap_or(0) >= 2, "{g:?}");
}
