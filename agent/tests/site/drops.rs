//! Drops across the nodes of a site: a USB stick on a follower reaches the leader through the
//! follower's relay; the leader verifies and applies it itself.

use crate::harness::{configmaps, node_of, Api, Site};
use crate::scenarios::{all_at, check_terms, holder, leader_index};

/// Every node has a stick of its own (a directory source) and a relay; revision 2 is put on a
/// follower's stick only. The follower verifies and caches it and its relay offers it; the
/// leader, whose own stick holds revision 1 only, fetches it from the relay and applies it.
pub fn drop_on_a_follower_reaches_the_leader(api: Api) {
    let mut site = Site::new(api, "usb");
    let drops = site.relays();
    for d in &drops {
        site.env
            .publish_with(d, "app", 1, &configmaps(&site.ns, 1, "1"), |_| {});
    }
    site.start_all();
    site.ticks_until("revision 1 applied", 30, || all_at(&site, 1, 1));
    let leader = leader_index(&site);
    let leader_id = site.nodes[leader].id.clone();
    let follower = (leader + 1) % site.nodes.len();
    site.env.publish_with(
        &drops[follower],
        "app",
        2,
        &configmaps(&site.ns, 1, "2"),
        |_| {},
    );
    site.ticks_until("the leader applied the follower's revision 2", 40, || {
        all_at(&site, 1, 2)
    });
    assert_eq!(holder(&site), Some(leader_id.clone()), "leadership moved");
    assert!(
        site.log(leader).contains("offers a newer revision"),
        "{}",
        site.log(leader)
    );
    assert!(!drops[leader].join("app-2").exists());
    // The write of revision 2 came from the leader.
    let path = format!("/namespaces/{}/configmaps/site-0", site.ns);
    let writers: Vec<String> = site
        .requests()
        .iter()
        .filter(|e| e.is_write() && e.path.contains(&path))
        .filter_map(|e| node_of(&e.user_agent).map(String::from))
        .collect();
    assert!(writers.iter().all(|w| *w == leader_id), "{writers:?}");
    check_terms(&site);
}
