//! Jobs that delete themselves once finished (`ttlSecondsAfterFinished: 0`, ingress-nginx's
//! admission Jobs, `tests/corpus/apps/ingress-nginx-admission`), synced by the real
//! `ferry-agent`: the first sync is healthy although the Jobs vanish as they complete, the
//! finished Jobs are recorded per object and revision, a pass without change writes nothing and
//! creates no Job, and a revision that changes one Job runs that Job (only) again.
//!
//! The scenario is a function of the server (`server_support::Server`): kube-sim here, with
//! its TTL-after-finished controller, and the real control plane.

mod common;
mod server_support;

use common::*;
use ferry_agent::engine::jobs::JobEnd;
use server_support::{corpus_tree, store, Server};
use std::time::Duration;

const NS: &str = "ingress-nginx";
const CREATE: &str = "ingress-nginx-admission-create";
const PATCH: &str = "ingress-nginx-admission-patch";

/// `sync --once`; must succeed.
fn pass(env: &Env, server: &Server, label: &str) -> String {
    server.clear_log();
    let (code, out) = env.sync();
    assert_eq!(code, 0, "{label}: {out}");
    out
}

/// The actions of the newest attempt in history, by object (`Job/ns/name` style ids).
fn last_actions(env: &Env) -> Vec<(String, String)> {
    let o = env.agent(&["history", "app", "--limit", "1", "--output", "json"]);
    let rows: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    let changes: serde_json::Value =
        serde_json::from_str(rows[0]["changes"].as_str().unwrap()).unwrap();
    changes["changes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| {
            let id = &c["id"];
            (
                format!(
                    "{}/{}",
                    id["kind"].as_str().unwrap(),
                    id["name"].as_str().unwrap()
                ),
                c["action"].as_str().unwrap().to_string(),
            )
        })
        .collect()
}

fn action<'a>(actions: &'a [(String, String)], id: &str) -> &'a str {
    actions
        .iter()
        .find(|(i, _)| i == id)
        .map(|(_, a)| a.as_str())
        .unwrap_or_else(|| panic!("{id} not in {actions:?}"))
}

/// Writes to Jobs in kube-sim's log since the last clear (None on a real server).
fn job_writes(server: &Server) -> Option<Vec<String>> {
    server.writes().map(|w| {
        w.iter()
            .filter(|e| e.path.contains("/jobs"))
            .map(|e| format!("{} {}", e.method, e.path))
            .collect()
    })
}

/// The finished Jobs the agent recorded: (name, revision, how it ended), by name.
fn finished(env: &Env) -> Vec<(String, u64, JobEnd)> {
    store(env)
        .finished_jobs("app")
        .unwrap()
        .into_values()
        .map(|j| (j.id.name, j.revision, j.end))
        .collect()
}

fn check_ttl_jobs(env: &Env, server: &Server) {
    server.config(env, "timeout: 30s\ndriftSweepInterval: 0s");
    let files = corpus_tree("apps/ingress-nginx-admission", "ingress-nginx/");
    env.publish(1, &files);

    // First sync: applied and healthy, although the Jobs are deleted as they complete.
    let out = pass(env, server, "first sync");
    assert!(out.contains("revision 1 applied"), "{out}");
    let actions = last_actions(env);
    assert_eq!(action(&actions, &format!("Job/{CREATE}")), "created");
    assert_eq!(action(&actions, &format!("Job/{PATCH}")), "created");
    server.wait_none(&["jobs", "-n", NS], Duration::from_secs(60));
    let done = finished(env);
    assert_eq!(done.len(), 2, "{done:?}");
    assert!(done.iter().all(|(_, rev, _)| *rev == 1), "{done:?}");

    // No change (the sweep interval 0 makes it a full dry-run sweep): nothing written, no
    // Job created again.
    let out = pass(env, server, "no-change pass");
    assert!(
        out.contains("revision 1 up to date, nothing written"),
        "{out}"
    );
    if let Some(writes) = server.writes() {
        assert!(writes.is_empty(), "{writes:?}");
    }
    assert!(server.names(&["jobs", "-n", NS]).is_empty());

    // A revision that changes one Job runs that Job again; the other stays done.
    let changed: Vec<(&str, String)> = files
        .iter()
        .map(|(p, t)| {
            let t = match *p {
                "ingress-nginx/jobs.yaml" => t.replace(
                    "--patch-failure-policy=Fail",
                    "--patch-failure-policy=Ignore",
                ),
                _ => t.clone(),
            };
            (*p, t)
        })
        .collect();
    env.publish(2, &changed);
    let out = pass(env, server, "revision 2");
    assert!(out.contains("revision 2 applied"), "{out}");
    let actions = last_actions(env);
    assert_ne!(action(&actions, &format!("Job/{PATCH}")), "unchanged");
    assert_eq!(action(&actions, &format!("Job/{CREATE}")), "unchanged");
    if let Some(writes) = job_writes(server) {
        assert_eq!(writes.len(), 1, "one Job written: {writes:?}");
        assert!(writes[0].starts_with("PATCH") && writes[0].ends_with(PATCH));
    }
    server.wait_none(&["jobs", "-n", NS], Duration::from_secs(60));
    let done = finished(env);
    assert_eq!(
        done.iter()
            .map(|(n, r, _)| (n.as_str(), *r))
            .collect::<Vec<_>>(),
        [(CREATE, 1), (PATCH, 2)]
    );

    // And the next pass leaves both alone.
    let out = pass(env, server, "after revision 2");
    assert!(
        out.contains("revision 2 up to date, nothing written"),
        "{out}"
    );
    if let Some(writes) = server.writes() {
        assert!(writes.is_empty(), "{writes:?}");
    }
}

#[test]
fn jobs_deleted_after_they_finish_run_once_per_content() {
    let env = Env::new();
    check_ttl_jobs(&env, &Server::sim(&env));
}

/// The same scenario on the real control plane: the real job and ttl-after-finished
/// controllers (the node stand-in completes the Pods).
#[test]
fn jobs_deleted_after_they_finish_run_once_per_content_on_the_real_server() {
    let env = Env::new();
    check_ttl_jobs(&env, &Server::real(ferry_tests::control_plane::shared()));
}

/// A sync that does not wait learns of the finished Jobs on its next drift check.
#[test]
fn a_sync_that_does_not_wait_records_the_jobs_on_its_next_pass() {
    let env = Env::new();
    let server = Server::sim(&env);
    server.config(&env, "timeout: 30s\nwait: false");
    env.publish(
        1,
        &corpus_tree("apps/ingress-nginx-admission", "ingress-nginx/"),
    );
    let out = pass(&env, &server, "first sync");
    assert!(out.contains("revision 1 applied"), "{out}");
    server.wait_none(&["jobs", "-n", NS], Duration::from_secs(60));
    let out = pass(&env, &server, "drift check");
    assert!(
        out.contains("revision 1 up to date, nothing written"),
        "{out}"
    );
    assert_eq!(job_writes(&server), Some(Vec::new()));
    let done = finished(&env);
    assert_eq!(done.len(), 2, "{done:?}");
    assert!(
        done.iter()
            .all(|(_, _, end)| *end == JobEnd::DeletedAfterFinish),
        "{done:?}"
    );
}
