//! The server pushing back: API Priority and Fairness on a control plane of its own with a
//! tiny concurrency budget (`--max-requests-inflight=1 --max-mutating-requests-inflight=1`)
//! and a priority level that rejects (429 with `Retry-After`) instead of queueing, for the
//! identity ferry impersonates, under parallel load from the same identity: ferry retries and
//! the pass succeeds.

use super::*;
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

/// A priority level of one seat that rejects what does not fit, and a flow schema sending
/// user `ferry-apf` to it; the user is a cluster-admin (by a binding, not system:masters,
/// whose requests APF exempts).
const APF: &str = "apiVersion: flowcontrol.apiserver.k8s.io/v1\nkind: PriorityLevelConfiguration\nmetadata: {name: ferry-tiny}\nspec:\n  type: Limited\n  limited:\n    nominalConcurrencyShares: 1\n    lendablePercent: 0\n    limitResponse: {type: Reject}\n---\napiVersion: flowcontrol.apiserver.k8s.io/v1\nkind: FlowSchema\nmetadata: {name: ferry-tiny}\nspec:\n  priorityLevelConfiguration: {name: ferry-tiny}\n  matchingPrecedence: 100\n  distinguisherMethod: {type: ByUser}\n  rules:\n  - subjects:\n    - kind: User\n      user: {name: ferry-apf}\n    resourceRules:\n    - verbs: [\"*\"]\n      apiGroups: [\"*\"]\n      resources: [\"*\"]\n      namespaces: [\"*\"]\n      clusterScope: true\n    nonResourceRules:\n    - verbs: [\"*\"]\n      nonResourceURLs: [\"*\"]\n---\napiVersion: rbac.authorization.k8s.io/v1\nkind: ClusterRoleBinding\nmetadata: {name: ferry-apf}\nroleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: cluster-admin}\nsubjects:\n- {apiGroup: rbac.authorization.k8s.io, kind: User, name: ferry-apf}\n";

#[test]
fn priority_and_fairness_429s_are_retried_and_the_pass_succeeds() {
    let at = audited(&[
        "--max-requests-inflight=1",
        "--max-mutating-requests-inflight=1",
    ]);
    let real = Real::new(&at, "timeout: 2m\nimpersonate: {user: ferry-apf}");
    real.apply_as("admin", APF);
    let ns = "apf";
    let mut files = vec![("ns.yaml".to_string(), namespace(ns))];
    for i in 0..40 {
        files.push((format!("cm-{i}.yaml"), cm(&format!("cm-{i}"), ns, "1")));
    }
    let files: Vec<(&str, String)> = files.iter().map(|(p, t)| (p.as_str(), t.clone())).collect();
    real.env.publish(1, &files);

    // Parallel load from the same identity while ferry syncs.
    let stop = Arc::new(AtomicBool::new(false));
    let load: Vec<_> = (0..3)
        .map(|_| {
            let stop = stop.clone();
            let kc = at.cp.kubeconfig.clone();
            std::thread::spawn(move || {
                let mut n = 0;
                while !stop.load(Ordering::SeqCst) {
                    let _ = Command::new("kubectl")
                        .arg("--kubeconfig")
                        .arg(&kc)
                        .args(["--as=ferry-apf", "get", "configmaps", "-A", "-o", "name"])
                        .stdout(Stdio::null())
                        .stderr(Stdio::null())
                        .status();
                    n += 1;
                }
                n
            })
        })
        .collect();
    let (out, count) = real.pass("apf: first pass under load");
    stop.store(true, Ordering::SeqCst);
    let runs: usize = load.into_iter().map(|h| h.join().unwrap()).sum();
    eprintln!(
        "apf: {runs} kubectl runs beside ferry; {} 429s for ferry",
        count.throttled
    );
    assert!(out.contains("revision 1 applied"), "{out}");
    assert!(count.throttled > 0, "no 429 provoked: {count:?}");
    assert_eq!(
        real.server.names(&["cm", "-n", ns]).len(),
        41,
        "40 and kube-root-ca.crt"
    );
    real.quiet("apf: no-change pass");
}
