//! A revision that would delete most of what the previous one applied is refused unless it is
//! confirmed: the external-secrets case (`tests/corpus/apps/external-secrets`: 25 CRDs in a
//! nested `deploy/crds/bundle.yaml`, and custom resources), where a bundle built without its
//! CRD file came out empty and syncing it deleted every CRD and with them every custom
//! resource. Refused with a named error before any write, the last good revision stays
//! applied, reported as a refusal (event and last error); with `allowMassPrune: true` in the
//! signed manifest, or on the sync, the deletion goes ahead.
//!
//! The scenario is a function of the server (`server_support::Server`): kube-sim and the real
//! control plane.

mod common;
mod server_support;

use common::*;
use server_support::{corpus_tree, Server};

const CRDS: usize = 25;

fn crds(server: &Server) -> usize {
    server
        .names(&["crd"])
        .iter()
        .filter(|n| n.ends_with("external-secrets.io"))
        .count()
}

fn text(o: &std::process::Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

/// Revision 1 (CRDs and custom resources) applied, then revision 2 (no files, as the bundle
/// built without its CRD file was) refused twice, writing nothing.
fn applied_then_refused(env: &Env, server: &Server) {
    // An upper bound: on the real server the namespace controller empties `secrets-demo` while
    // 25 CRDs go away, which took over 60 s once on a loaded machine.
    server.config(env, "timeout: 180s");
    env.publish(1, &corpus_tree("apps/external-secrets", ""));
    let (code, out) = env.sync();
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("revision 1 applied"), "{out}");
    assert_eq!(crds(server), CRDS);
    assert_eq!(
        server
            .names(&["externalsecrets", "-n", "secrets-demo"])
            .len(),
        1
    );

    env.publish(2, &[]);
    for label in ["refused", "refused again"] {
        server.clear_log();
        let (code, out) = env.sync();
        assert_ne!(code, 0, "{label}: {out}");
        assert!(
            out.contains("revision 2 refused before any write: it would delete 30 of the 30 objects the previous revision applied")
                && out.contains("allowMassPrune"),
            "{label}: {out}"
        );
        if let Some(writes) = server.writes() {
            // Only ferry's own status object may change (it shows the error).
            assert!(
                writes
                    .iter()
                    .all(|w| w.path.ends_with("/configmaps/ferry-status")),
                "{label}: {writes:?}"
            );
        }
        assert_eq!(crds(server), CRDS, "{label}");
        assert_eq!(
            server.names(&["secretstores", "-n", "secrets-demo"]).len(),
            1
        );
    }
    let status = env.agent(&["status", "--output", "json"]);
    let status: serde_json::Value = serde_json::from_slice(&status.stdout).unwrap();
    let app = &status[0];
    assert_eq!(app["revision"], 1, "{app}");
    assert!(
        app["lastError"]
            .as_str()
            .is_some_and(|e| e.contains("refused before any write")),
        "{app}"
    );
    let events = text(&env.agent(&["events", "app"]));
    assert!(
        events.contains("refused") && events.contains("would delete 30"),
        "{events}"
    );
    let history = env.agent(&["history", "app", "--output", "json"]);
    let history: serde_json::Value = serde_json::from_slice(&history.stdout).unwrap();
    assert!(
        history
            .as_array()
            .unwrap()
            .iter()
            .all(|r| r["revision"] == 1),
        "no attempt of revision 2: {history}"
    );
}

/// Everything of revision 1 is gone.
fn all_pruned(server: &Server) {
    assert_eq!(crds(server), 0);
    server.wait_none(
        &["namespace", "secrets-demo"],
        std::time::Duration::from_secs(60),
    );
}

fn check_confirmed_by_the_publisher(env: &Env, server: &Server) {
    applied_then_refused(env, server);
    env.publish_with(&env.drop_dir(), "app", 3, &[], |m| {
        m.allow_mass_prune = true
    });
    let (code, out) = env.sync();
    assert_eq!(code, 0, "{out}");
    assert!(
        out.contains("revision 3 applied") && out.contains("30 deleted"),
        "{out}\n{}",
        text(&env.agent(&["events", "app"]))
    );
    all_pruned(server);
}

fn check_confirmed_by_the_sync(env: &Env, server: &Server) {
    applied_then_refused(env, server);
    server.config(env, "timeout: 180s\nallowMassPrune: true");
    let (code, out) = env.sync();
    assert_eq!(code, 0, "{out}");
    assert!(
        out.contains("revision 2 applied") && out.contains("30 deleted"),
        "{out}\n{}",
        text(&env.agent(&["events", "app"]))
    );
    all_pruned(server);
}

#[test]
fn a_mass_deletion_is_refused_until_the_manifest_confirms_it() {
    let env = Env::new();
    check_confirmed_by_the_publisher(&env, &Server::sim(&env));
}

#[test]
fn a_mass_deletion_is_refused_until_the_sync_allows_it() {
    let env = Env::new();
    check_confirmed_by_the_sync(&env, &Server::sim(&env));
}

/// Both confirmations on the real control plane (one after the other: the CRDs are
/// cluster-scoped, and each scenario ends with them pruned). The real apiextensions server
/// removes the custom resources with their CRD.
#[test]
fn a_mass_deletion_is_refused_until_confirmed_on_the_real_server() {
    let cp = ferry_tests::control_plane::shared();
    let env = Env::new();
    check_confirmed_by_the_publisher(&env, &Server::real(cp));
    let env = Env::new();
    check_confirmed_by_the_sync(&env, &Server::real(cp));
}

/// Dropping a few objects of a large revision is an ordinary prune.
#[test]
fn dropping_a_few_objects_is_an_ordinary_prune() {
    let env = Env::new();
    let server = Server::sim(&env);
    server.config(&env, "timeout: 180s");
    let files = corpus_tree("apps/external-secrets", "");
    env.publish(1, &files);
    assert_eq!(env.sync().0, 0);
    let fewer: Vec<(&str, String)> = files
        .iter()
        .map(|(p, t)| {
            let kept = t
                .split("\n---\n")
                .filter(|d| !d.contains("\nkind: Password\n"))
                .collect::<Vec<_>>()
                .join("\n---\n");
            (*p, kept)
        })
        .collect();
    env.publish(2, &fewer);
    let (code, out) = env.sync();
    assert_eq!(code, 0, "{out}");
    assert!(
        out.contains("revision 2 applied") && out.contains("1 deleted"),
        "{out}"
    );
    assert_eq!(crds(&server), CRDS);
}
