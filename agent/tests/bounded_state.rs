//! Bounded state end to end: an error that repeats on every pass is one event row with a count
//! and one webhook notification; strict substitution is a per-sync choice.

mod common;

use common::*;

fn outbox_len(env: &Env) -> i64 {
    let db = rusqlite::Connection::open(env.dir.path().join("state/state.db")).unwrap();
    db.query_row(
        "SELECT COUNT(*) FROM outbox WHERE target LIKE 'webhook:%'",
        [],
        |r| r.get(0),
    )
    .unwrap()
}

#[test]
fn a_repeated_error_is_one_event_and_one_notification() {
    let env = Env::new();
    // The webhook is unreachable on purpose: notifications stay in the outbox, countable.
    env.write_config_full(
        "notifications:\n  - {name: ops, url: \"http://127.0.0.1:9/hook\"}",
        "timeout: 5s",
    );
    env.publish(1, &[("a.yaml", cm("Bad_Name", "default", "1"))]);
    for _ in 0..4 {
        let (code, out) = env.sync();
        assert_eq!(code, 1, "{out}");
    }
    let events = String::from_utf8_lossy(&env.agent(&["events"]).stdout).into_owned();
    let failed: Vec<&str> = events
        .lines()
        .filter(|l| l.contains("invalid name"))
        .collect();
    assert_eq!(failed.len(), 1, "{events}");
    assert!(failed[0].contains("(x4, last "), "{events}");
    assert_eq!(outbox_len(&env), 1, "{events}");
}

const SCRIPT: &str = "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: setup\ndata:\n  site: \"${SITE}\"\n  run: |\n    mkdir -p ${absolutePath}\n";

#[test]
fn undefined_variables_are_left_alone_unless_the_sync_is_strict() {
    let env = Env::new();
    env.publish(1, &[("a.yaml", SCRIPT.to_string())]);
    let (code, out) = env.sync();
    assert_eq!(code, 0, "{out}");
    let cm = env.obj("", "ConfigMap", "default", "setup").unwrap();
    assert_eq!(cm["data"]["site"], "lab");
    assert_eq!(cm["data"]["run"], "mkdir -p ${absolutePath}\n");
    env.write_config("timeout: 5s\nstrictSubstitution: true");
    env.publish(2, &[("a.yaml", SCRIPT.replace("site:", "site2:"))]);
    let (code, out) = env.sync();
    assert_eq!(code, 1, "{out}");
    assert!(
        out.contains("a.yaml#0: undefined variable ${absolutePath}"),
        "{out}"
    );
}
