//! More host rollout scenarios: a stop record a peer wrote that does not parse, a node killed
//! in the middle of its turn, and a drain (see [`crate::rollout`] for the setup).

use crate::harness::{Api, Site};
use crate::rollout::{host_holder, k3s, k3s_on, prepare, publish, rollout_requests, stop_units};
use crate::scenarios::check_terms;

/// A stop record a peer wrote that does not parse stops every revision: nothing is
/// installed anywhere, and every node reports it, bounded.
pub fn a_malformed_stop_record_stops_every_revision(api: Api) {
    let mut site = Site::new(api, "rbad");
    prepare(&site, "");
    let lease = site.nodes[0].config.with_file_name("host-lease.yaml");
    let junk = "x".repeat(900);
    std::fs::write(
        &lease,
        format!("apiVersion: coordination.k8s.io/v1\nkind: Lease\nmetadata:\n  name: ferry-rbad-host\n  namespace: kube-system\n  annotations:\n    ferry.dev/host-stopped.app: \"9 node-x {junk}\\nforged line\"\nspec: {{}}\n"),
    )
    .unwrap();
    let o = site.kubectl(&["create", "--validate=false", "-f", lease.to_str().unwrap()]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    publish(&site, 1, "v1");
    site.start_all();
    site.ticks_until("every node reported the malformed stop", 60, || {
        (0..3).all(|i| site.log(i).contains("malformed stop record"))
    });
    for i in 0..3 {
        site.more_passes(i, 1);
        assert_eq!(
            k3s_on(&site, i),
            k3s("v0"),
            "{} installed",
            site.nodes[i].id
        );
        assert!(
            !site.log(i).contains("forged line"),
            "unbounded text reached the log"
        );
    }
    check_terms(&site);
}

/// node-1 dies (kill -9 at the fault point right after its unit restart) in its turn: the
/// others wait out its claim (`leaseDuration` after they saw it), then take their turns;
/// started again, node-1 rolls back the interrupted install, checks and releases its stale
/// turn, and upgrades in a turn of its own.
pub fn a_node_killed_in_its_turn_blocks_the_others_only_for_its_lease(api: Api) {
    let mut site = Site::new(api, "rkill");
    prepare(&site, "");
    publish(&site, 1, "v1");
    site.start(0, &[("FERRY_FAULT", "host-after-restart")]);
    site.ticks_until("node-1 died in its turn", 60, || {
        site.log(0)
            .contains("fault point host-after-restart reached")
    });
    site.nodes[0].child.take().unwrap().wait().unwrap();
    let id0 = site.nodes[0].id.clone();
    assert_eq!(host_holder(&site), id0);
    let killed_at = site.now_ms();
    site.start(1, &[]);
    site.start(2, &[]);
    site.ticks_until("another node took the turn", 60, || {
        let h = host_holder(&site);
        !h.is_empty() && h != id0
    });
    let waited = site.now_ms() - killed_at;
    eprintln!("FIGURE a turn taken over after kill -9 of its holder: {waited} ms on the test clock (leaseDuration 60000)");
    assert!(waited >= 60_000, "taken after {waited} ms");
    site.ticks_until("nodes 2 and 3 upgraded", 60, || {
        (1..3).all(|i| k3s_on(&site, i) == k3s("v1")) && host_holder(&site).is_empty()
    });
    // node-1's files are still the half-done turn's; started again, it recovers and upgrades.
    site.start(0, &[]);
    site.ticks_until("node-1 upgraded in a turn of its own", 60, || {
        k3s_on(&site, 0) == k3s("v1")
            && host_holder(&site).is_empty()
            && site.log(0).contains("host-applied")
    });
    assert!(site.log(0).contains("host-interrupted"), "{}", site.log(0));
    check_terms(&site);
    stop_units(&site);
}

/// With `drain: true` (real control plane only: kube-sim has no eviction API) each node's
/// pods are evicted in its turn, after the cordon and before the restart.
pub fn a_drain_evicts_each_nodes_pods_in_its_turn(api: Api) {
    let mut site = Site::new(api, "rdrain");
    prepare(&site, ", cordon: true, drain: true");
    for n in &site.nodes {
        let pod = n.config.with_file_name("pod.yaml");
        std::fs::write(&pod, format!("apiVersion: v1\nkind: Pod\nmetadata:\n  name: {0}\n  namespace: default\nspec:\n  nodeName: {0}\n  containers:\n  - name: main\n    image: registry.invalid/app:1\n", n.id)).unwrap();
        let o = site.kubectl(&["create", "-f", pod.to_str().unwrap()]);
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    }
    publish(&site, 1, "v1");
    site.start_all();
    site.ticks_until("every node drained and upgraded", 120, || {
        (0..3).all(|i| k3s_on(&site, i) == k3s("v1")) && host_holder(&site).is_empty()
    });
    for n in &site.nodes {
        assert!(
            site.obj("", "Pod", "default", &n.id).is_none(),
            "{}'s pod is still there",
            n.id
        );
        let evictions = rollout_requests(&site, &n.id)
            .iter()
            .filter(|e| e.path.ends_with("/eviction") && e.status < 300)
            .count();
        assert_eq!(evictions, 1, "{}: evictions", n.id);
    }
    check_terms(&site);
    stop_units(&site);
}
