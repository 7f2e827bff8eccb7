//! A clean shutdown of the leader (SIGTERM, as systemd stops it): the Lease is released and a
//! follower takes over at once, on kube-sim and on the real control plane.

use crate::harness::{configmaps, Api, Site};
use crate::scenarios as s;

/// SIGTERM of the leader releases the Lease (no holder): a follower takes over on its next
/// try, long before the lease (7.5 steps) would have run out.
pub fn released_on_sigterm(api: Api) {
    let mut site = Site::new(api, "release");
    site.env.publish(1, &configmaps(&site.ns, 1, "1"));
    site.start_all();
    site.ticks_until("a leader applied revision 1", 30, || s::all_at(&site, 1, 1));
    let leader = s::leader_index(&site);
    let status = site.term(leader);
    assert!(status.success(), "{status:?}\n{}", site.logs());
    assert!(
        site.log(leader).contains("site lease released on shutdown"),
        "{}",
        site.logs()
    );
    let old = site.nodes[leader].id.clone();
    let steps = site.ticks_until("another node leads", 2, || {
        s::holder(&site).is_some_and(|h| !h.is_empty() && h != old)
    });
    assert!(steps <= 2);
    s::check_terms(&site);
}
