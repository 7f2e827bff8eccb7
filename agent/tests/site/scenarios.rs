//! The site scenarios, each run on kube-sim ([`crate::sim`]) and on the real control plane
//! ([`crate::real`]).

use crate::harness::{configmaps, node_of, Api, Site, LEASE_MS, STEP_MS};
use ferry_tests::kube_sim::LogEntry;

/// The holder of the site Lease on the server.
pub fn holder(site: &Site) -> Option<String> {
    site.lease()
        .and_then(|l| l["spec"]["holderIdentity"].as_str().map(String::from))
}

/// The value of ConfigMap `site-<i>`, as a revision number.
pub fn value(site: &Site, i: usize) -> Option<u64> {
    site.obj("", "ConfigMap", &site.ns, &format!("site-{i}"))
        .and_then(|c| c["data"]["value"].as_str().and_then(|v| v.parse().ok()))
}

pub fn all_at(site: &Site, count: usize, rev: u64) -> bool {
    (0..count).all(|i| value(site, i) == Some(rev))
}

pub fn is_lease(e: &LogEntry) -> bool {
    e.path.contains("/leases")
}

/// No two nodes write in one lease term: every write (dry runs aside) comes from the node
/// whose Lease write succeeded last before it, in the server's order. Returns the writes
/// per node outside the Lease.
pub fn check_terms(site: &Site) -> std::collections::BTreeMap<String, usize> {
    let log = site.requests();
    let prefix = format!("{}-", site.name);
    let mut term_holder: Option<&str> = None;
    let mut writes = std::collections::BTreeMap::new();
    for e in log.iter().filter(|e| e.is_write() && e.status < 300) {
        // Writes of others (kubectl making drift) are no node's.
        // Writes of other sites on a shared server are theirs.
        let Some(node) = node_of(&e.user_agent).filter(|n| n.starts_with(&prefix)) else {
            continue;
        };
        // A node's host rollout (its host Lease, its own Node) is not a site write.
        if e.user_agent.contains("(host-rollout)") {
            continue;
        }
        if is_lease(e) {
            term_holder = Some(node);
            continue;
        }
        assert_eq!(
            term_holder,
            Some(node),
            "{node} wrote {} {} in another node's term",
            e.method,
            e.path
        );
        *writes.entry(node.to_string()).or_insert(0) += 1;
    }
    writes
}

/// The leader's index in `site.nodes`.
pub fn leader_index(site: &Site) -> usize {
    let h = holder(site).expect("a holder");
    site.nodes.iter().position(|n| n.id == h).unwrap()
}

pub fn kill_9_of_the_leader_is_taken_over_within_the_lease_from_the_followers_cache(api: Api) {
    let mut site = Site::new(api, "kill9");
    site.env.publish(1, &configmaps(&site.ns, 3, "1"));
    site.start_all();
    site.ticks_until("a leader applies revision 1", 30, || all_at(&site, 3, 1));
    let old = leader_index(&site);
    // The followers verified and cached revision 1; the source goes away for the takeover.
    site.ticks_until("followers cached revision 1", 30, || {
        (0..3)
            .filter(|i| *i != old)
            .all(|i| site.log(i).contains("cached for a takeover"))
    });
    site.env.publish(2, &configmaps(&site.ns, 3, "2"));
    site.ticks_until(
        "followers cached revision 2 and the leader applied it",
        30,
        || {
            all_at(&site, 3, 2)
                && (0..3)
                    .filter(|i| *i != old)
                    .all(|i| site.log(i).contains("revision=2"))
        },
    );
    std::fs::remove_dir_all(site.env.drop_dir()).unwrap();
    site.settle();
    let killed_at = site.now_ms();
    site.kill(old);
    let steps = site.ticks_until("another node holds the lease", 20, || {
        holder(&site).is_some_and(|h| h != site.nodes[old].id)
    });
    let takeover_ms = site.now_ms() - killed_at;
    eprintln!("FIGURE takeover after kill -9: {takeover_ms} ms on the test clock ({steps} steps)");
    // A follower may see the last renewal one retry period late (its read raced the
    // renewal), and tries once per retry period: lease + 2 retry periods at most.
    assert!(
        takeover_ms <= LEASE_MS + 2 * STEP_MS,
        "takeover took {takeover_ms} ms"
    );
    // The new leader's first pass: revision 2 stays (from its cache, no source).
    let new = leader_index(&site);
    let steps = site.more_passes(new, 1);
    eprintln!(
        "FIGURE the new leader's first pass ended {} ms later on the test clock",
        steps as i64 * STEP_MS
    );
    assert!(all_at(&site, 3, 2), "the site went below revision 2");
    let writes = check_terms(&site);
    eprintln!("FIGURE writes per node outside the Lease: {writes:?}");
}

pub fn a_leader_paused_past_its_lease_writes_nothing_after_it_resumes(api: Api) {
    let mut site = Site::new(api, "paused");
    site.env.publish(1, &configmaps(&site.ns, 2, "1"));
    site.start_all();
    site.ticks_until("revision 1 applied", 30, || all_at(&site, 2, 1));
    let old = leader_index(&site);
    let old_id = site.nodes[old].id.clone();
    site.settle();
    site.stop(old);
    // Paused well past its lease: another node takes over and applies revision 2.
    let paused_at = site.now_ms();
    site.ticks_until("another node leads", 20, || {
        holder(&site).is_some_and(|h| h != old_id)
    });
    site.env.publish(2, &configmaps(&site.ns, 2, "2"));
    site.ticks_until("the new leader applied revision 2", 30, || {
        all_at(&site, 2, 2)
    });
    assert!(site.now_ms() - paused_at > LEASE_MS);
    let at_cont = site.requests().len();
    site.cont(old);
    // The resumed node runs its passes and election tries; then drift: the old leader would
    // correct it if it believed it still led.
    site.kubectl(&[
        "patch",
        "configmap",
        "site-0",
        "-n",
        &site.ns,
        "--type=merge",
        "-p",
        r#"{"data":{"value":"9"}}"#,
    ]);
    site.ticks_until(
        "the resumed node follows and the leader corrects the drift",
        30,
        || value(&site, 0) == Some(2) && site.log(old).contains("site-following"),
    );
    site.more_passes(old, 2);
    let after: Vec<LogEntry> = site.requests()[at_cont..].to_vec();
    let from_old = after
        .iter()
        .filter(|e| e.is_write() && node_of(&e.user_agent) == Some(old_id.as_str()))
        .count();
    let lease_reads = after
        .iter()
        .filter(|e| is_lease(e) && node_of(&e.user_agent) == Some(old_id.as_str()))
        .count();
    assert_eq!(from_old, 0, "the resumed node wrote");
    assert!(lease_reads > 0, "the resumed node never tried the lease");
    check_terms(&site);
}

pub fn a_leader_that_loses_power_mid_apply_is_replaced_and_the_site_stays_at_or_above_its_last_good_revision(
    api: Api,
) {
    let mut site = Site::new(api, "power");
    site.env.publish(1, &configmaps(&site.ns, 3, "1"));
    // node-1 alone first: it leads, applies revision 1 (3 objects), and dies at the third
    // object of revision 2 (the 6th object it applies).
    site.start(0, &[("FERRY_FAULT", "apply-object:6")]);
    site.ticks_until("node-1 applied revision 1", 30, || all_at(&site, 3, 1));
    assert_eq!(holder(&site).as_deref(), Some(site.nodes[0].id.as_str()));
    site.start(1, &[]);
    site.start(2, &[]);
    site.ticks_until("followers cached revision 1", 30, || {
        (1..3).all(|i| site.log(i).contains("cached for a takeover"))
    });
    site.env.publish(2, &configmaps(&site.ns, 3, "2"));
    let mut seen = [1u64; 3];
    let pid = site.pid(0);
    site.ticks_until("node-1 died mid-apply", 30, || {
        // A zombie (not reaped yet) or gone.
        std::fs::read_to_string(format!("/proc/{pid}/stat"))
            .map(|s| {
                s.rsplit(')')
                    .next()
                    .unwrap_or("")
                    .trim_start()
                    .starts_with('Z')
            })
            .unwrap_or(true)
    });
    site.nodes[0].child.take().unwrap().wait().unwrap();
    assert!(site.log(0).contains("fault point apply-object reached"));
    site.ticks_until("another node finished revision 2", 30, || {
        for (i, s) in seen.iter_mut().enumerate() {
            let v = value(&site, i).unwrap_or(0);
            assert!(v >= *s, "site-{i} went from {s} to {v}");
            *s = v;
        }
        all_at(&site, 3, 2) && holder(&site).is_some_and(|h| h != site.nodes[0].id)
    });
    // Power back: node-1 recovers its interrupted attempt and follows; it writes nothing.
    let at_restart = site.requests().len();
    site.start(0, &[]);
    site.ticks_until("node-1 follows", 30, || {
        site.log(0).contains("site-following")
    });
    site.more_passes(0, 2);
    let after = &site.requests()[at_restart..];
    assert!(!after.iter().any(|e| e.is_write()
        && !is_lease(e)
        && node_of(&e.user_agent) == Some(site.nodes[0].id.as_str())));
    assert!(all_at(&site, 3, 2));
    check_terms(&site);
}

pub fn a_new_leader_with_an_older_local_copy_continues_from_the_sites_revision_never_below_it(
    api: Api,
) {
    let mut site = Site::new(api, "older");
    site.env.publish(1, &configmaps(&site.ns, 2, "1"));
    site.start(0, &[]);
    site.ticks_until("node-1 applied revision 1", 30, || all_at(&site, 2, 1));
    site.settle();
    site.kill(0);
    // node-2 takes over, and applies revision 2 while node-1 is down.
    site.start(1, &[]);
    site.ticks_until("node-2 leads", 20, || {
        holder(&site).as_deref() == Some(site.nodes[1].id.as_str())
    });
    let r2 = site.env.publish(2, &configmaps(&site.ns, 2, "2"));
    // The Lease records the site's applied revision once the pass is done.
    site.ticks_until("node-2 applied revision 2 and recorded it", 30, || {
        all_at(&site, 2, 2)
            && site.lease().is_some_and(|l| {
                l["metadata"]["annotations"]["ferry.dev/applied.app"]
                    .as_str()
                    .is_some_and(|v| v.starts_with("2 "))
            })
    });
    // The drop loses revision 2 (a stale stick), node-2 dies, node-1 comes back with its
    // local copy of revision 1 and takes over.
    std::fs::remove_dir_all(&r2).unwrap();
    site.settle();
    site.kill(1);
    let at = site.requests().len();
    site.start(0, &[]);
    site.ticks_until("node-1 leads again", 20, || {
        holder(&site).as_deref() == Some(site.nodes[0].id.as_str())
    });
    // Drift that enforcing the local revision 1 would "correct" back to 1.
    site.kubectl(&[
        "patch",
        "configmap",
        "site-1",
        "-n",
        &site.ns,
        "--type=merge",
        "-p",
        r#"{"data":{"value":"9"}}"#,
    ]);
    site.more_passes(0, 2);
    assert_eq!(
        value(&site, 0),
        Some(2),
        "the site went back to revision 1\n{}",
        site.logs()
    );
    let rolled_back = site.requests()[at..].iter().any(|e| {
        e.is_write()
            && e.path.contains("/configmaps/site-")
            && node_of(&e.user_agent) == Some(site.nodes[0].id.as_str())
    });
    assert!(!rolled_back, "node-1 wrote its older revision");
    // Revision 2 offered again: node-1 applies it.
    site.env.publish(2, &configmaps(&site.ns, 2, "2"));
    site.ticks_until("node-1 applied revision 2", 30, || all_at(&site, 2, 2));
    check_terms(&site);
}

/// What leadership costs an idle site per minute of the test clock: Lease requests per node
/// (goal: one renewal per retry period on the leader, one read per period on a follower),
/// and the followers' other API requests (none: they poll the source, not the cluster).
pub fn idle_cost(api: Api) {
    let mut site = Site::new(api, "idle");
    site.env.publish(1, &configmaps(&site.ns, 1, "1"));
    site.start_all();
    site.ticks_until("revision 1 applied", 30, || all_at(&site, 1, 1));
    let leader = leader_index(&site);
    site.more_passes(leader, 1);
    site.settle();
    let from = site.requests().len();
    let steps = 60_000 / STEP_MS;
    for _ in 0..steps {
        site.tick();
    }
    site.settle();
    let log = site.requests();
    for (i, n) in site.nodes.iter().enumerate() {
        let mine: Vec<_> = log[from..]
            .iter()
            .filter(|e| node_of(&e.user_agent) == Some(n.id.as_str()))
            .collect();
        let lease = mine.iter().filter(|e| is_lease(e)).count();
        let lease_writes = mine.iter().filter(|e| is_lease(e) && e.is_write()).count();
        let other = mine.len() - lease;
        let role = if i == leader { "leader" } else { "follower" };
        eprintln!(
            "FIGURE idle minute, {role} {}: {lease} Lease requests ({lease_writes} writes), {other} other API requests",
            n.id
        );
        assert!(
            lease as i64 <= steps + 1,
            "{}: {lease} Lease requests",
            n.id
        );
        if i != leader {
            assert_eq!(lease_writes, 0, "a follower wrote the Lease");
            assert_eq!(other, 0, "a follower made API requests besides the Lease");
        }
    }
}

/// The leader loses its path to the API server (its proxy cut): it stops writing at its renew
/// deadline, another node takes over and applies the next revision; healed, the old leader
/// follows and writes nothing.
pub fn partition(api: Api) {
    let mut site = Site::new(api, "cut");
    site.env.publish(1, &configmaps(&site.ns, 2, "1"));
    site.start_all();
    site.ticks_until("revision 1 applied", 30, || all_at(&site, 2, 1));
    let old = leader_index(&site);
    let old_id = site.nodes[old].id.clone();
    site.settle();
    site.nodes[old].proxy.cut();
    site.env.publish(2, &configmaps(&site.ns, 2, "2"));
    site.ticks_until("another node leads and applied revision 2", 40, || {
        holder(&site).is_some_and(|h| h != old_id) && all_at(&site, 2, 2)
    });
    site.ticks_until("the cut-off leader stopped writing", 20, || {
        site.log(old).contains("writes stopped")
    });
    site.nodes[old].proxy.heal();
    let at_heal = site.requests().len();
    site.ticks_until("the healed node follows", 20, || {
        site.log(old).contains("site-following")
    });
    site.more_passes(old, 2);
    let wrote = site.requests()[at_heal..]
        .iter()
        .filter(|e| e.is_write() && !is_lease(e) && node_of(&e.user_agent) == Some(old_id.as_str()))
        .count();
    assert_eq!(wrote, 0, "the healed node wrote");
    assert!(all_at(&site, 2, 2));
    check_terms(&site);
}

/// SIGSTOP of the leader in the middle of an apply (after its first write of a revision),
/// past its lease; another node takes over; SIGCONT: the resumed pass meets the fence in the
/// client before its next write, so not one more object is written by it. On kube-sim every
/// request is slowed (50 ms) so the stop lands inside the apply for sure.
pub fn paused_mid_apply(api: Api) {
    let mut site = Site::new(api, "midstop");
    site.env.publish(1, &configmaps(&site.ns, 1, "1"));
    site.start_all();
    site.ticks_until("revision 1 applied", 30, || all_at(&site, 1, 1));
    let old = leader_index(&site);
    let old_id = site.nodes[old].id.clone();
    if let Api::Sim = api {
        site.env.sim.set_faults(ferry_tests::kube_sim::Faults {
            latency: std::time::Duration::from_millis(50),
            ..Default::default()
        });
    }
    let from = site.requests().len();
    site.env.publish(2, &configmaps(&site.ns, 20, "2"));
    // Stop it at its first write of revision 2 (bounded wait on the wall clock, no ticks).
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    while !site.requests()[from..].iter().any(|e| {
        e.is_write()
            && e.path.contains("/configmaps/site-")
            && node_of(&e.user_agent) == Some(old_id.as_str())
    }) {
        assert!(
            std::time::Instant::now() < deadline,
            "no write of revision 2\n{}",
            site.logs()
        );
        std::thread::sleep(std::time::Duration::from_millis(5));
    }
    site.stop(old);
    if let Api::Sim = api {
        site.env.sim.set_faults(Default::default());
    }
    site.ticks_until("another node leads and applied revision 2", 40, || {
        holder(&site).is_some_and(|h| h != old_id) && all_at(&site, 20, 2)
    });
    // What the server still had in hand from the stopped node is done by now.
    site.settle();
    let at_cont = site.requests().len();
    site.cont(old);
    site.more_passes(old, 2);
    let wrote: Vec<String> = site.requests()[at_cont..]
        .iter()
        .filter(|e| e.is_write() && node_of(&e.user_agent) == Some(old_id.as_str()))
        .map(|e| format!("{} {}", e.method, e.path))
        .collect();
    assert!(wrote.is_empty(), "the resumed node wrote: {wrote:?}");
    if let Api::Sim = api {
        assert!(
            site.log(old).contains("does not hold the site lease"),
            "the resumed pass did not meet the fence\n{}",
            site.log(old)
        );
    }
    assert!(all_at(&site, 20, 2));
    check_terms(&site);
}
