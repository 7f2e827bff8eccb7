//! Revisions over time on the real server: a failing revision (its Pods in ImagePullBackOff,
//! reported by the node stand-in) rolled back; prune; a pruned namespace that stays
//! Terminating while one of its objects holds a finalizer; tenancy with the namespace fence
//! and impersonation, judged by the real RBAC authorizer.

use super::*;

fn web(ns: &str, pod_annotations: &str) -> String {
    format!("apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: web\n  namespace: {ns}\nspec:\n  replicas: 1\n  progressDeadlineSeconds: 15\n  selector:\n    matchLabels: {{app: web}}\n  template:\n    metadata:\n      labels: {{app: web}}\n      annotations: {{{pod_annotations}}}\n    spec:\n      containers:\n      - name: main\n        image: nginx:1.27\n")
}

#[test]
fn a_failing_revision_is_rolled_back_and_a_dropped_object_pruned() {
    let real = Real::new(shared(), "timeout: 90s\nfailedRevisionBackoff: 1h");
    let ns = "life-rollback";
    let good = web(ns, "");
    real.env.publish(
        1,
        &[
            ("ns.yaml", namespace(ns)),
            ("d.yaml", good.clone()),
            ("a.yaml", cm("a", ns, "1")),
            ("b.yaml", cm("b", ns, "1")),
        ],
    );
    real.pass("rollback: revision 1");
    let generation = real.get(&["deployment", "web", "-n", ns], "{.metadata.generation}");

    real.env.publish(
        2,
        &[
            ("ns.yaml", namespace(ns)),
            ("d.yaml", web(ns, "ferry.test/fail: ImagePullBackOff")),
            ("a.yaml", cm("a", ns, "2")),
            ("b.yaml", cm("b", ns, "2")),
        ],
    );
    let (code, out, count) = real.sync("rollback: failing revision 2");
    assert_eq!(code, 1, "{out}");
    assert!(out.contains("rolled back to revision 1"), "{out}");
    eprintln!("rollback writes: {:?}", count.write_uris);
    // Revision 1's content is back, and the Deployment is Available again.
    assert_eq!(real.get(&["cm", "a", "-n", ns], "{.data.value}"), "1");
    assert_eq!(
        real.get(
            &["deployment", "web", "-n", ns],
            "{.spec.template.metadata.annotations}"
        ),
        ""
    );
    assert_ne!(
        real.get(&["deployment", "web", "-n", ns], "{.metadata.generation}"),
        generation
    );
    real.wait_for(
        &["deployment", "web", "-n", ns],
        "{.status.conditions[?(@.type==\"Available\")].status}",
        "True",
        Duration::from_secs(60),
    );
    let (out, count) = real.pass("rollback: held");
    assert!(out.contains("held until"), "{out}");
    assert_eq!(count.writes, 0, "{:?}", count.write_uris);

    // Revision 3 drops ConfigMap b: pruned, nothing else written.
    real.env.publish(
        3,
        &[
            ("ns.yaml", namespace(ns)),
            ("d.yaml", good),
            ("a.yaml", cm("a", ns, "1")),
        ],
    );
    let (out, count) = real.pass("prune: revision 3");
    assert!(out.contains("1 deleted"), "{out}");
    assert!(
        count
            .write_uris
            .iter()
            .any(|w| w.starts_with("delete ") && w.contains("/configmaps/b")),
        "{:?}",
        count.write_uris
    );
    assert!(real.server.names(&["cm", "b", "-n", ns]).is_empty());
    real.quiet("prune: after");
}

/// A namespace whose ConfigMap holds a finalizer, then dropped: the real namespace controller
/// keeps the namespace Terminating until the finalizer goes. ferry waits for it (bounded by
/// `timeout`), then applies the revision without counting the objects as deleted and says so
/// (`prune-incomplete`, naming the finalizer); later passes write nothing, and the namespace
/// goes once the finalizer is removed.
#[test]
fn a_pruned_namespace_terminating_behind_a_finalizer() {
    let real = Real::new(shared(), "timeout: 20s");
    let ns = "life-finalizer";
    let held = format!("apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: held\n  namespace: {ns}\n  finalizers: [ferry.test/hold]\ndata: {{v: \"1\"}}\n");
    real.env
        .publish(1, &[("ns.yaml", namespace(ns)), ("held.yaml", held)]);
    real.pass("finalizer: revision 1");
    real.env
        .publish(2, &[("other.yaml", cm("other", "default", "1"))]);
    let (out, count) = real.pass("finalizer: revision 2 prunes the namespace");
    assert!(
        out.contains("revision 2 applied: 1 created") && out.contains("0 deleted"),
        "{out}"
    );
    let deletes: Vec<_> = count
        .write_uris
        .iter()
        .filter(|w| w.starts_with("delete "))
        .collect();
    assert_eq!(deletes.len(), 2, "{deletes:?}");
    assert_eq!(
        real.get(&["namespace", ns], "{.status.phase}"),
        "Terminating"
    );
    assert_ne!(
        real.get(&["cm", "held", "-n", ns], "{.metadata.deletionTimestamp}"),
        ""
    );
    let events = String::from_utf8_lossy(&real.env.agent(&["events", "app"]).stdout).into_owned();
    assert!(
        events.contains("prune-incomplete") && events.contains("ferry.test/hold"),
        "{events}"
    );
    real.quiet("finalizer: next pass");
    real.kubectl(&[
        "patch",
        "cm",
        "held",
        "-n",
        ns,
        "--type=merge",
        "-p",
        r#"{"metadata":{"finalizers":null}}"#,
    ]);
    real.server
        .wait_none(&["namespace", ns], Duration::from_secs(60));
    real.quiet("finalizer: after the namespace went");
}

/// tenant-a may manage ConfigMaps in team-a (a Role and RoleBinding), nothing in team-b.
/// ferry impersonates tenant-a: team-a is applied; team-b, inside ferry's fence, is refused
/// by the real authorizer with the server's 403; team-c is refused by the fence before any
/// write.
#[test]
fn tenancy_fence_and_impersonation_against_real_rbac() {
    let at = shared();
    for ns in ["team-a", "team-b"] {
        let _ = at.cp.kubectl_run(&["create", "namespace", ns]);
    }
    let rbac = "apiVersion: rbac.authorization.k8s.io/v1\nkind: Role\nmetadata: {name: tenant, namespace: team-a}\nrules:\n- apiGroups: [\"\"]\n  resources: [configmaps]\n  verbs: [get, list, watch, create, update, patch, delete]\n---\napiVersion: rbac.authorization.k8s.io/v1\nkind: RoleBinding\nmetadata: {name: tenant, namespace: team-a}\nroleRef: {apiGroup: rbac.authorization.k8s.io, kind: Role, name: tenant}\nsubjects:\n- {apiGroup: rbac.authorization.k8s.io, kind: User, name: tenant-a}\n";
    let real = Real::new(
        at,
        "timeout: 30s\nnamespaces: [team-a, team-b]\nimpersonate: {user: tenant-a, groups: [tenants]}\nfailedRevisionBackoff: 1h",
    );
    real.apply_as("admin", rbac);
    real.env
        .publish(1, &[("a.yaml", cm("conf", "team-a", "1"))]);
    let (out, _) = real.pass("tenancy: inside");
    assert!(out.contains("revision 1 applied"), "{out}");
    real.quiet("tenancy: no change");

    real.env.publish(
        2,
        &[
            ("a.yaml", cm("conf", "team-a", "1")),
            ("b.yaml", cm("conf", "team-b", "1")),
        ],
    );
    let (code, out, _) = real.sync("tenancy: team-b");
    assert_ne!(code, 0, "{out}");
    assert!(
        out.contains("forbidden") && out.contains("tenant-a") && out.contains("team-b"),
        "{out}"
    );
    assert!(real
        .server
        .names(&["cm", "conf", "-n", "team-b"])
        .is_empty());

    real.env.publish(
        3,
        &[
            ("a.yaml", cm("conf", "team-a", "1")),
            ("c.yaml", cm("conf", "team-c", "1")),
        ],
    );
    let (code, out, count) = real.sync("tenancy: team-c");
    assert_ne!(code, 0, "{out}");
    assert!(out.contains("outside the sync's namespace fence"), "{out}");
    assert!(
        count.write_uris.iter().all(|w| w.contains("ferry-status")),
        "{:?}",
        count.write_uris
    );
}
