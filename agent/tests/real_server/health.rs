//! Waiting for health on the real server costs GETs only of objects a controller reports on:
//! the write's answer settles ConfigMaps, ServiceAccounts, RBAC, a ClusterIP Service and the
//! Namespace, the check's LIST settles those a later revision leaves unwritten; the
//! Deployments are still polled until the real deployment controller reports them available.

use super::*;

/// The resources of the GETs of single objects in `count`, by plural.
fn gets(count: &Count) -> std::collections::BTreeMap<String, usize> {
    let mut m = std::collections::BTreeMap::new();
    for u in &count.get_uris {
        if let Some(p) = object_plural(u) {
            *m.entry(p).or_default() += 1;
        }
    }
    m
}

#[test]
fn only_objects_a_controller_reports_on_are_polled_for_health() {
    let real = Real::new(shared(), "timeout: 3m");
    let ns = "health-gets";
    real.env.publish(1, &health_mix(ns, "first"));
    let (out, first) = real.pass("health: first sync (29 objects)");
    assert!(out.contains("revision 1 applied"), "{out}");
    // One write per object (and the agent's status object at most).
    let app_writes = |c: &Count| {
        c.write_uris
            .iter()
            .filter(|u| u.contains(&format!("/namespaces/{ns}")))
            .count()
    };
    assert_eq!(app_writes(&first), 29, "{:?}", first.write_uris);
    // The Namespace is written before anything in it (staging unchanged).
    assert!(
        first.write_uris[0].contains(&format!("/api/v1/namespaces/{ns}?")),
        "{:?}",
        first.write_uris
    );
    let g = gets(&first);
    eprintln!("first sync, GETs of single objects: {g:?}");
    for settled in SETTLED_PLURALS {
        assert_eq!(g.get(*settled), None, "{settled}: {g:?}");
    }
    assert!(g.get("deployments").copied().unwrap_or(0) >= 2, "{g:?}");
    let services: Vec<&String> = first
        .get_uris
        .iter()
        .filter(|u| object_plural(u).as_deref() == Some("services"))
        .collect();
    assert!(!services.is_empty(), "the LoadBalancer Service is polled");
    assert!(
        services.iter().all(|u| u.contains("/services/public")),
        "{services:?}"
    );
    for d in ["web-0", "web-1"] {
        assert_eq!(
            real.get(
                &["deployment", d, "-n", ns],
                "{.status.conditions[?(@.type==\"Available\")].status}"
            ),
            "True",
            "{d}"
        );
    }

    real.env.publish(2, &health_mix(ns, "second"));
    let (_, second) = real.pass("health: one ConfigMap changed");
    assert_eq!(app_writes(&second), 1, "{:?}", second.write_uris);
    let g = gets(&second);
    eprintln!("one ConfigMap changed, GETs of single objects: {g:?}");
    for settled in SETTLED_PLURALS {
        assert_eq!(g.get(*settled), None, "{settled}: {g:?}");
    }
    assert!(g.get("deployments").copied().unwrap_or(0) >= 2, "{g:?}");
}
