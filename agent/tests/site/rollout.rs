//! Rolling host upgrades over three nodes, each with its own test root and a stand-in "k3s"
//! (a script run by the process supervisor as unit `k3s.service`), and a Node object per node
//! (created by the test; its `Ready` condition is what the test sets). Revision 1 ships k3s
//! v1 over the v0 every root starts with. Run on kube-sim and the real control plane.

use crate::harness::{Api, Site, STEP_MS};
use crate::scenarios::{check_terms, holder};
use ferry_bundle::host::{Arch, HealthCheck, HostFile, HostSection, HostUnit};
use ferry_tests::kube_sim::LogEntry;
use std::path::PathBuf;

const K3S: &str = "/usr/local/bin/k3s";
const READY_TIMEOUT_MS: i64 = 20_000;

pub fn k3s(version: &str) -> Vec<u8> {
    format!("#!/bin/sh\n# stand-in k3s {version}\nexec sleep 3600\n").into_bytes()
}

fn root(site: &Site, i: usize) -> PathBuf {
    site.nodes[i].config.with_file_name("root")
}

/// Node `i`'s k3s as it is on disk.
pub fn k3s_on(site: &Site, i: usize) -> Vec<u8> {
    std::fs::read(root(site, i).join(K3S.trim_start_matches('/'))).unwrap_or_default()
}

/// Makes every node host-capable (test root with k3s v0, process supervisor) with a short
/// host rollout (plus the `hostRollout` keys `extra`, e.g. `cordon: true`), and registers
/// its Node, Ready.
pub fn prepare(site: &Site, extra: &str) {
    for i in 0..site.nodes.len() {
        let dir = site.nodes[i].config.parent().unwrap().to_path_buf();
        let root = root(site, i);
        std::fs::create_dir_all(root.join("usr/local/bin")).unwrap();
        std::fs::create_dir_all(root.join("etc/rancher/k3s")).unwrap();
        let bin = root.join(K3S.trim_start_matches('/'));
        std::fs::write(&bin, k3s("v0")).unwrap();
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&bin, std::fs::Permissions::from_mode(0o755)).unwrap();
        site.add_config(
            i,
            &format!(
                "host:\n  enabled: true\n  root: {}\n  allow: [{K3S}]\n  allowUnits: [k3s.service]\n  healthExecutables: [{K3S}]\n  units:\n    type: process\n    stateDir: {}\n    units:\n      k3s.service: [{K3S}, server]",
                root.display(),
                dir.join("units").display()
            ),
        );
        let path = &site.nodes[i].config;
        let text = std::fs::read_to_string(path).unwrap().replace(
            "    timeout: 30s\n",
            "    timeout: 30s\n    host: {enabled: true}\n",
        );
        let text = text.replace(
            &format!("site:\n  name: {}\n", site.name),
            &format!(
                "site:\n  name: {}\n  hostRollout: {{readyTimeout: {}s, leaseDuration: 60s, pollInterval: 2s{extra}}}\n",
                site.name,
                READY_TIMEOUT_MS / 1000
            ),
        );
        std::fs::write(path, text).unwrap();
        let node = dir.join("node.yaml");
        let id = &site.nodes[i].id;
        std::fs::write(&node, format!("apiVersion: v1\nkind: Node\nmetadata:\n  name: {id}\n  labels: {{ferry.test/site: {}}}\n", site.name)).unwrap();
        let o = site.kubectl(&["create", "--validate=false", "-f", node.to_str().unwrap()]);
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        set_ready(site, i, true);
    }
}

/// Sets node `i`'s Node `Ready` condition.
pub fn set_ready(site: &Site, i: usize, ready: bool) {
    let (status, reason) = match ready {
        true => ("True", "KubeletReady"),
        false => ("False", "KubeletNotReady"),
    };
    let patch = format!(
        r#"{{"status":{{"conditions":[{{"type":"Ready","status":"{status}","reason":"{reason}","message":"set by the test"}}]}}}}"#
    );
    let id = site.nodes[i].id.clone();
    let o = site.kubectl(&[
        "patch",
        "node",
        &id,
        "--subresource=status",
        "--type=merge",
        "-p",
        &patch,
    ]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
}

/// Publishes revision `rev`: a namespace, and k3s `version` for every node.
pub fn publish(site: &Site, rev: u64, version: &str) {
    let ns = crate::common::namespace(&site.ns);
    let bin = k3s(version);
    let files: Vec<(&str, &[u8])> = vec![("ns.yaml", ns.as_bytes()), ("host/k3s", &bin)];
    let host = HostSection {
        files: vec![HostFile {
            source: "host/k3s".into(),
            target: K3S.into(),
            mode: 0o755,
            uid: 0,
            gid: 0,
            arch: Arch::Any,
            version: None,
            allow_downgrade: false,
            sops: false,
        }],
        units: vec![HostUnit {
            name: "k3s.service".into(),
            files: vec![K3S.into()],
            health: HealthCheck {
                command: vec![],
                http: None,
                file: None,
                timeout_seconds: 10,
            },
        }],
    };
    site.env
        .publish_raw(&site.env.drop_dir(), "app", rev, &files, |m| {
            m.host = Some(host)
        });
}

/// The host Lease as the server has it.
pub fn host_lease(site: &Site) -> Option<serde_json::Value> {
    site.obj(
        "coordination.k8s.io",
        "Lease",
        "kube-system",
        &format!("ferry-{}-host", site.name),
    )
}

pub fn host_holder(site: &Site) -> String {
    host_lease(site)
        .and_then(|l| l["spec"]["holderIdentity"].as_str().map(String::from))
        .unwrap_or_default()
}

pub fn rollout_requests(site: &Site, node: &str) -> Vec<LogEntry> {
    site.requests()
        .into_iter()
        .filter(|e| {
            e.user_agent.contains("(host-rollout)")
                && crate::harness::node_of(&e.user_agent) == Some(node)
        })
        .collect()
}

pub fn stop_units(site: &Site) {
    for n in &site.nodes {
        let pid = n.config.with_file_name("units").join("k3s.service.pid");
        if let Ok(pid) = std::fs::read_to_string(pid) {
            let _ = std::process::Command::new("kill")
                .args(["-9", pid.trim()])
                .status();
        }
    }
}

/// All three nodes upgrade, one at a time, each cordoned during its turn: the server's order
/// of requests shows each node's turn (its host Lease writes, its Node's cordon, reads and
/// uncordon) inside one span, no two spans overlapping.
pub fn three_nodes_upgrade_one_at_a_time(api: Api) {
    let mut site = Site::new(api, "roll");
    prepare(&site, ", cordon: true");
    publish(&site, 1, "v1");
    site.start_all();
    let start = site.now_ms();
    let mut holders: Vec<String> = Vec::new();
    site.ticks_until(
        "every node runs k3s v1 and the host Lease is free",
        120,
        || {
            let h = host_holder(&site);
            if !h.is_empty() && holders.last() != Some(&h) {
                holders.push(h.clone());
            }
            (0..3).all(|i| k3s_on(&site, i) == k3s("v1")) && h.is_empty()
        },
    );
    let took = site.now_ms() - start;
    eprintln!("FIGURE three-node host rollout: {took} ms on the test clock ({} steps of {STEP_MS} ms); holders seen in order: {holders:?}", took / STEP_MS);
    // The turns, in the server's order: a node's first host-Lease write opens its span, its
    // last one closes it; nobody else writes the host Lease or reads that node's Node inside.
    let log = site.requests();
    let host_path = format!("/leases/ferry-{}-host", site.name);
    let mut spans = Vec::new();
    for n in &site.nodes {
        let mine = |e: &LogEntry| {
            e.user_agent.contains("(host-rollout)")
                && crate::harness::node_of(&e.user_agent) == Some(n.id.as_str())
        };
        let writes: Vec<usize> = (0..log.len())
            .filter(|&k| {
                mine(&log[k])
                    && log[k].is_write()
                    && log[k].status < 300
                    && (log[k].path.ends_with(&host_path) || log[k].path.ends_with("/leases"))
            })
            .collect();
        assert!(
            writes.len() >= 2,
            "{}: {} host Lease writes",
            n.id,
            writes.len()
        );
        let (a, b) = (writes[0], *writes.last().unwrap());
        let reads = (0..log.len())
            .filter(|&k| mine(&log[k]) && log[k].path.ends_with(&format!("/nodes/{}", n.id)))
            .collect::<Vec<_>>();
        assert!(
            reads.iter().all(|k| *k > a && *k < b),
            "{}: a Node request outside its turn",
            n.id
        );
        // Cordoned before the restart, uncordoned after it, inside the turn.
        let patches = reads
            .iter()
            .filter(|k| log[**k].method == "PATCH" && log[**k].status < 300)
            .count();
        assert_eq!(patches, 2, "{}: cordon and uncordon", n.id);
        let node = site.obj("", "Node", "", &n.id).unwrap();
        assert_ne!(
            node["spec"]["unschedulable"], true,
            "{} left cordoned",
            n.id
        );
        let cost = rollout_requests(&site, &n.id);
        eprintln!(
            "FIGURE host rollout requests of {}: {} ({} writes: {:?})",
            n.id,
            cost.len(),
            cost.iter().filter(|e| e.is_write()).count(),
            cost.iter()
                .map(|e| format!("{} {}", e.method, e.path.rsplit('/').next().unwrap_or("")))
                .collect::<Vec<_>>()
        );
        spans.push((a, b, n.id.clone()));
    }
    spans.sort();
    for w in spans.windows(2) {
        assert!(w[0].1 < w[1].0, "turns overlap: {w:?}");
    }
    assert!(holders.len() <= 3, "a node took two turns: {holders:?}");
    // Not one request once done: every node's files match.
    site.settle();
    let at = site.requests().len();
    site.more_passes(0, 2);
    let after: Vec<String> = site.requests()[at..]
        .iter()
        // This site's nodes only (the scenarios share one control plane).
        .filter(|e| {
            e.user_agent.contains("(host-rollout)")
                && crate::harness::node_of(&e.user_agent).is_some_and(|n| n.starts_with("roll-"))
        })
        .map(|e| format!("{} {} {}", e.user_agent, e.method, e.path))
        .collect();
    assert!(
        after.is_empty(),
        "host rollout requests after the rollout: {after:?}"
    );
    check_terms(&site);
    stop_units(&site);
}

/// node-1 upgrades and passes; the next node's Node stays NotReady: it restores its k3s v0
/// and stops the rollout on the host Lease; the third is never touched (k3s v0, no unit
/// started, no host Lease write) and reports the stop.
pub fn a_node_that_fails_its_check_stops_the_rollout_and_the_third_is_not_touched(api: Api) {
    let mut site = Site::new(api, "rstop");
    prepare(&site, "");
    let fleet = ferry_tests::recorder::RecordingServer::start().unwrap();
    for i in 0..3 {
        site.add_config(
            i,
            &format!(
                "fleet:\n  url: {}/heartbeat\n  interval: 1s\n  caFile: {}",
                fleet.url,
                fleet.file("ca.pem").display()
            ),
        );
    }
    publish(&site, 1, "v1");
    // node-1 alone first (it leads and goes first); the others' Nodes are NotReady.
    set_ready(&site, 1, false);
    set_ready(&site, 2, false);
    site.start(0, &[]);
    site.ticks_until("node-1 upgraded and released the host Lease", 60, || {
        k3s_on(&site, 0) == k3s("v1")
            && host_lease(&site).is_some()
            && host_holder(&site).is_empty()
    });
    assert_eq!(holder(&site).as_deref(), Some(site.nodes[0].id.as_str()));
    site.start(1, &[]);
    site.start(2, &[]);
    let key = "ferry.dev/host-stopped.app";
    let stop = |s: &Site| {
        host_lease(s).and_then(|l| l["metadata"]["annotations"][key].as_str().map(String::from))
    };
    let from = site.now_ms();
    site.ticks_until("the rollout stopped", 60, || stop(&site).is_some());
    let record = stop(&site).unwrap();
    let failed = (1..3)
        .find(|i| record.starts_with(&format!("1 {} ", site.nodes[*i].id)))
        .unwrap_or_else(|| panic!("stop record {record:?}"));
    let other = 3 - failed;
    let other_id = site.nodes[other].id.clone();
    eprintln!(
        "FIGURE stopped after {} ms on the test clock: {record}",
        site.now_ms() - from
    );
    assert!(
        record.contains("not Ready") && record.contains("previous host files restored"),
        "{record}"
    );
    assert!(site.now_ms() - from >= READY_TIMEOUT_MS);
    // The failed node has its previous k3s back; the third node's k3s was never touched.
    assert_eq!(k3s_on(&site, failed), k3s("v0"));
    site.ticks_until("the third node reported the stop", 30, || {
        site.log(other).contains("host-rollout-stopped")
    });
    // ferry-fleet hears it from the third node's heartbeat: stopped at the failed node.
    let failed_id = site.nodes[failed].id.clone();
    site.ticks_until(
        "the third node's heartbeat says where the rollout stopped",
        30,
        || {
            fleet.json_bodies("/heartbeat").iter().rev().any(|b| {
                let last = &b["site"]["hostRollout"]["last"];
                b["device"]["id"] == other_id.as_str()
                    && last["state"] == "stopped"
                    && last["node"] == failed_id.as_str()
                    && last["revision"] == 1
            })
        },
    );
    site.more_passes(other, 2);
    assert_eq!(k3s_on(&site, other), k3s("v0"));
    assert!(!site.nodes[other]
        .config
        .with_file_name("units")
        .join("k3s.service.pid")
        .exists());
    // It may have raced the failed node for the turn (a write refused with 409): nothing
    // it sent changed anything.
    let other_writes: Vec<String> = rollout_requests(&site, &other_id)
        .iter()
        .filter(|e| e.is_write())
        .map(|e| format!("{} {} {}", e.method, e.path, e.status))
        .collect();
    eprintln!("FIGURE host rollout writes of the untouched node: {other_writes:?}");
    assert!(
        other_writes.iter().all(|w| w.ends_with(" 409")),
        "{other_id} wrote: {other_writes:?}"
    );
    assert!(
        site.log(failed).contains("host-rolled-back"),
        "{}",
        site.log(failed)
    );
    // A newer revision starts a new rollout: with the Nodes fixed, every node gets k3s v2.
    set_ready(&site, 1, true);
    set_ready(&site, 2, true);
    publish(&site, 2, "v2");
    site.ticks_until("revision 2 rolled through every node", 120, || {
        (0..3).all(|i| k3s_on(&site, i) == k3s("v2")) && host_holder(&site).is_empty()
    });
    check_terms(&site);
    stop_units(&site);
}
