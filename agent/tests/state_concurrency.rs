//! Many `ferry-agent` processes on one state directory at once (issue 20, item 1): `sync
//! --once`, `serve`, `status` and `history` started together on a fresh state directory, and
//! readers starting while a writer runs passes. Every process must succeed, the schema must be
//! complete and `PRAGMA integrity_check` ok.

mod common;

use common::*;
use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};

/// How many rounds each test repeats (each on a fresh state directory).
const ROUNDS: usize = 20;

/// The tables the newest schema holds.
const TABLES: &[&str] = &[
    "syncs",
    "revisions",
    "inventory",
    "bundles",
    "events",
    "outbox",
    "counters",
    "kv",
    "live_objects",
    "held_revisions",
    "host_journal",
];

fn spawn(env: &Env, args: &[&str]) -> Child {
    Command::new(env!("CARGO_BIN_EXE_ferry-agent"))
        .arg("--config")
        .arg(&env.config)
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap()
}

/// Waits for a one-shot command; returns (exit code, output).
fn finish(child: Child) -> (i32, String) {
    let o = child.wait_with_output().unwrap();
    (
        o.status.code().unwrap_or(-1),
        format!(
            "{}{}",
            String::from_utf8_lossy(&o.stdout),
            String::from_utf8_lossy(&o.stderr)
        ),
    )
}

/// Waits until `serve` says it serves (its store is open) or exits; then stops it. Returns
/// whether it served, and what it printed.
fn served(mut child: Child) -> (bool, String) {
    let mut err = BufReader::new(child.stderr.take().unwrap());
    let mut text = String::new();
    let mut ok = false;
    let mut line = String::new();
    while err.read_line(&mut line).unwrap_or(0) > 0 {
        text.push_str(&line);
        if line.contains("serving the verified cache") {
            ok = true;
            break;
        }
        line.clear();
    }
    let _ = child.kill();
    let _ = child.wait();
    (ok, text)
}

/// The schema version, the tables present and `integrity_check` of `state.db`.
fn schema(state: &Path) -> (i64, Vec<String>, String) {
    let c = rusqlite::Connection::open(state.join("state.db")).unwrap();
    let version = c
        .query_row("PRAGMA user_version", [], |r| r.get(0))
        .unwrap();
    let tables = c
        .prepare("SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' ORDER BY name")
        .unwrap()
        .query_map([], |r| r.get(0))
        .unwrap()
        .map(|r| r.unwrap())
        .collect();
    let integrity = c
        .query_row("PRAGMA integrity_check", [], |r| r.get(0))
        .unwrap();
    (version, tables, integrity)
}

fn check_schema(state: &Path, round: usize) {
    let (version, tables, integrity) = schema(state);
    assert_eq!(version, 5, "round {round}: schema version");
    for t in TABLES {
        assert!(
            tables.iter().any(|x| x == t),
            "round {round}: table {t} missing: {tables:?}"
        );
    }
    assert_eq!(integrity, "ok", "round {round}");
}

#[test]
fn processes_started_together_on_a_fresh_state_directory_all_succeed() {
    let env = Env::new();
    env.publish(1, &[("a.yaml", cm("a", "default", "1"))]);
    let state = env.dir.path().join("state");
    for round in 0..ROUNDS {
        let _ = std::fs::remove_dir_all(&state);
        // Ten processes, started back to back: two passes, two relays, four `status`, two
        // `history`.
        let mut once = Vec::new();
        let mut relays = Vec::new();
        for i in 0..10 {
            match i % 5 {
                0 => once.push(spawn(&env, &["sync", "--once"])),
                1 => relays.push(spawn(&env, &["serve", "127.0.0.1:0"])),
                2 | 3 => once.push(spawn(&env, &["status"])),
                _ => once.push(spawn(&env, &["history"])),
            }
        }
        for c in once {
            let (code, out) = finish(c);
            assert_eq!(code, 0, "round {round}: {out}");
        }
        for r in relays {
            let (ok, out) = served(r);
            assert!(ok, "round {round}: serve failed: {out}");
        }
        check_schema(&state, round);
        assert_eq!(
            env.obj("", "ConfigMap", "default", "a").unwrap()["data"]["value"],
            "1",
            "round {round}"
        );
    }
}

#[test]
fn readers_start_while_a_writer_runs_passes() {
    let env = Env::new();
    env.publish(1, &[("a.yaml", cm("a", "default", "1"))]);
    let state = env.dir.path().join("state");
    for round in 0..ROUNDS {
        let _ = std::fs::remove_dir_all(&state);
        // The writer: the daemon, passing every second and writing events and attempts.
        let mut writer = spawn(&env, &["run"]);
        let mut readers = Vec::new();
        for i in 0..8 {
            readers.push(spawn(
                &env,
                match i % 4 {
                    0 => &["status"],
                    1 => &["history"],
                    2 => &["events"],
                    _ => &["sync", "--once"],
                },
            ));
        }
        for c in readers {
            let (code, out) = finish(c);
            assert_eq!(code, 0, "round {round}: {out}");
        }
        // The writer is still running (it did not fail on the database).
        if writer.try_wait().unwrap().is_some() {
            panic!("round {round}: the daemon exited: {}", finish(writer).1);
        }
        let _ = writer.kill();
        let _ = writer.wait();
        check_schema(&state, round);
    }
}
