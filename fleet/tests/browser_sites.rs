//! Sites in the fleet view (issue 24), end to end: three real ferry agents form site `line-3`
//! (one kube-sim for the three, each node a `ferry-agent sync --once` with `site:`: one
//! election try against the site Lease, then its heartbeat with the `site` field built by the
//! agent's own code), beside sites whose nodes conflict, whose host rollout stopped at a node,
//! and whose leader went silent. Chromium reads the sites list and a site page, follows a node
//! to its device page and back to its site. Screenshots (FERRY_FLEET_SCREENSHOTS=docs puts
//! them in docs/img).

mod common;
use common::agents::{agent_binary, Auth, Device};
use common::chromium::{shot, Browser};
use common::{Receiver, StoreKind};
use serde_json::{json, Value};

const LINE: [&str; 3] = ["line-3-1", "line-3-2", "line-3-3"];
const OTHERS: [&str; 11] = [
    "press-1", "press-2", "oven-1", "oven-2", "oven-3", "dock-1", "dock-2", "mill-1", "mill-2",
    "yard-1", "yard-2",
];

fn beat(device: &str, site: Value) -> String {
    let health = if device == "yard-2" {
        "failed"
    } else {
        "healthy"
    };
    json!({"schema": "ferry.dev/heartbeat/v1", "device": {"id": device},
        "syncs": [{"name": "apps", "health": health, "revision": 4, "highestVerified": 4}],
        "intervalSeconds": 60, "site": site})
    .to_string()
}

#[test]
fn a_three_node_site_of_real_agents_and_site_states_in_chromium() {
    let mut ids: Vec<&str> = LINE.to_vec();
    ids.extend(OTHERS);
    let r = Receiver::start(&ids, StoreKind::Sqlite);
    let bin = agent_binary();
    let nodes: Vec<Device> = LINE
        .iter()
        .map(|id| Device::new(id, &r, Auth::Token, "{line: '3'}"))
        .collect();
    let cluster = nodes[0].sim.kubeconfig_path();
    for n in &nodes {
        n.join_site("line-3", &cluster);
        n.publish(1, "nginx:1.27");
    }
    // line-3-1 tries first and takes the Lease; the others find it held and follow.
    for n in &nodes {
        let (code, out) = n.sync(&bin);
        assert_eq!(code, 0, "{}: {out}", n.id);
    }

    // The dock's leader was last heard ten minutes ago (every minute is its interval).
    r.set_clock(r.t0 - 600);
    let post = |id: &str, site: Value| {
        let (s, body) = r
            .post("/api/heartbeat", &beat(id, site), Some(&r.token(id)), None)
            .unwrap();
        assert_eq!(s, 200, "{id}: {body}");
    };
    post(
        "dock-1",
        json!({"name": "dock", "leader": "dock-1", "leading": true}),
    );
    r.set_clock(r.t0);
    post("dock-2", json!({"name": "dock", "leader": "dock-1"}));
    post(
        "press-1",
        json!({"name": "press", "leader": "press-1", "leading": true}),
    );
    post(
        "press-2",
        json!({"name": "press", "leader": "press-2", "leading": true}),
    );
    // `hostRollout` as the agent sends it: its node, and what its last rollout step saw.
    let step = |node: &str, last: Value| json!({"lease": "kube-system/ferry-host", "node": node, "last": last});
    let stopped = json!({"sync": "apps", "revision": 5, "state": "stopped", "node": "oven-2",
        "reason": "k3s on oven-2 not Ready after 300s; previous files restored"});
    post(
        "oven-1",
        json!({"name": "oven", "leader": "oven-1", "leading": true, "hostRollout": step("oven-1", stopped.clone())}),
    );
    for id in ["oven-2", "oven-3"] {
        post(
            id,
            json!({"name": "oven", "leader": "oven-1", "hostRollout": step(id, stopped.clone())}),
        );
    }
    let done = json!({"sync": "apps", "revision": 6, "state": "done"});
    let up = json!({"sync": "apps", "revision": 6, "state": "upgrading", "holder": "mill-2"});
    post(
        "mill-1",
        json!({"name": "mill", "leader": "mill-1", "leading": true, "hostRollout": step("mill-1", done)}),
    );
    post(
        "mill-2",
        json!({"name": "mill", "leader": "mill-1", "hostRollout": step("mill-2", up)}),
    );
    post(
        "yard-1",
        json!({"name": "yard", "leader": "yard-1", "leading": true}),
    );
    post("yard-2", json!({"name": "yard", "leader": "yard-1"}));

    let (s, api) = r.get("/api/sites/line-3");
    assert_eq!(s, 200, "{api}");
    let line: Value = serde_json::from_str(&api).unwrap();
    assert_eq!(line["nodes"], 3, "{line}");
    assert_eq!(line["state"]["state"], "healthy", "{line}");
    assert_eq!(
        (
            &line["syncs"][0]["sync"],
            &line["syncs"][0]["node"],
            &line["syncs"][0]["named"]
        ),
        (&json!("apps"), &json!("line-3-1"), &json!(2)),
        "{line}"
    );

    r.add_user("vera", "viewer", "a long test password");
    let b = Browser::start(&r.path("server.pem"));
    b.sign_in(&r.url, "vera", "a long test password");
    b.go(&format!("{}/sites", r.url));
    assert_eq!(b.text("#site-states h2"), "6 sites");
    for t in b
        .text("#site-states .tiles")
        .lines()
        .filter(|l| l.parse::<u32>().is_ok())
    {
        assert_eq!(t, "1", "one site in each state");
    }
    let state = |site: &str| b.text(&format!("tr[data-site=\"{site}\"] [data-site-state]"));
    assert_eq!(state("line-3"), "all healthy");
    assert_eq!(state("press"), "conflict");
    assert_eq!(state("dock"), "leader missing");
    assert_eq!(state("oven"), "rollout stopped");
    assert_eq!(state("mill"), "rollout in progress");
    assert_eq!(state("yard"), "nodes not healthy");
    assert!(b
        .text("tr[data-site=\"mill\"]")
        .contains("in progress at node mill-2"));
    assert!(b
        .text("tr[data-site=\"yard\"]")
        .contains("1 of 2 nodes not healthy"));
    let oven = b.text("tr[data-site=\"oven\"]");
    assert!(oven.contains("stopped at node oven-2"), "{oven}");
    let press = b.text("tr[data-site=\"press\"]");
    assert!(press.contains("conflict: press-1, press-2"), "{press}");
    assert!(b
        .text("tr[data-site=\"line-3\"]")
        .contains("apps: line-3-1 (named by 2 of 2)"));
    shot(&b, "fleet-sites.png", 1280, 680);

    // Figures: a state tile lists its sites; a node count lists the site's devices.
    b.click("a.tile[data-state=\"conflict\"]");
    assert_eq!(b.count("tr[data-site]"), 1);
    b.go(&format!("{}/sites", r.url));
    b.click("tr[data-site=\"line-3\"] a.fig");
    assert!(
        b.current_url().ends_with("/devices?site=line-3"),
        "{}",
        b.current_url()
    );
    assert_eq!(b.count("tr[data-device]"), 3);

    // The site page: who leads, the standbys, each node's last heartbeat, links to devices.
    b.go(&format!("{}/sites", r.url));
    b.click("tr[data-site=\"line-3\"] td:first-child a");
    assert!(b.current_url().ends_with("/sites/line-3"));
    assert_eq!(b.count("#nodes tr[data-role=\"leader\"]"), 1);
    assert_eq!(b.count("#nodes tr[data-role=\"standby\"]"), 2);
    assert!(b
        .text("#nodes tr[data-node=\"line-3-1\"]")
        .contains("leader"));
    assert!(b
        .text("#leaders tr[data-sync=\"apps\"]")
        .contains("line-3-1"));
    assert_eq!(b.text("#site-state"), "all healthy");
    shot(&b, "fleet-site.png", 1280, 640);
    b.click("#nodes tr[data-node=\"line-3-2\"] td:first-child a");
    assert!(b.current_url().ends_with("/devices/line-3-2"));
    assert!(b.text("#site").contains("node of site line-3 · standby"));
    b.click("#site a");
    assert!(b.current_url().ends_with("/sites/line-3"));

    // The oven's page names the node where the rollout stopped, and why.
    b.go(&format!("{}/sites/oven", r.url));
    let st = b.text("#site-state");
    assert!(
        st.contains("rollout of host revision 5 stopped at node oven-2: k3s on oven-2 not Ready"),
        "{st}"
    );
}
