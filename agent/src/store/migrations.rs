//! Schema migrations by `PRAGMA user_version`: each step runs once, in a transaction.

use super::StoreError;
use rusqlite::Connection;

const STEPS: &[&str] = &[
    // 1: the initial schema.
    "CREATE TABLE syncs (
        name TEXT PRIMARY KEY,
        suspended INTEGER NOT NULL DEFAULT 0,
        highest_revision INTEGER,
        good_attempt INTEGER,
        last_error TEXT,
        cursor TEXT,
        unreachable_since INTEGER,
        last_attempt INTEGER,
        last_success INTEGER,
        waiting TEXT
     );
     CREATE TABLE revisions (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        sync TEXT NOT NULL,
        revision INTEGER NOT NULL,
        digest TEXT NOT NULL,
        kind TEXT NOT NULL,
        state TEXT NOT NULL,
        started INTEGER NOT NULL,
        finished INTEGER,
        error TEXT,
        changes TEXT,
        source_ref TEXT
     );
     CREATE INDEX revisions_sync ON revisions(sync, id);
     CREATE TABLE inventory (
        attempt INTEGER NOT NULL REFERENCES revisions(id) ON DELETE CASCADE,
        object TEXT NOT NULL,
        api_version TEXT NOT NULL,
        hash TEXT NOT NULL
     );
     CREATE INDEX inventory_attempt ON inventory(attempt);
     CREATE TABLE bundles (
        digest TEXT PRIMARY KEY,
        sync TEXT NOT NULL,
        revision INTEGER NOT NULL,
        manifest BLOB NOT NULL,
        signature TEXT,
        stored INTEGER NOT NULL
     );
     CREATE TABLE events (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        time INTEGER NOT NULL,
        sync TEXT NOT NULL,
        kind TEXT NOT NULL,
        message TEXT NOT NULL
     );",
    // 2: the outbox (heartbeats, notifications), counters for metrics, small key/values.
    "CREATE TABLE outbox (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        target TEXT NOT NULL,
        body TEXT NOT NULL,
        created INTEGER NOT NULL,
        attempts INTEGER NOT NULL DEFAULT 0
     );
     CREATE TABLE counters (name TEXT PRIMARY KEY, value INTEGER NOT NULL);
     CREATE TABLE kv (key TEXT PRIMARY KEY, value TEXT NOT NULL);",
    // 3: what the server said of each applied object (drift decided by the server), and
    // revisions held back after they failed and were rolled back.
    "CREATE TABLE live_objects (
        sync TEXT NOT NULL,
        object TEXT NOT NULL,
        uid TEXT NOT NULL,
        resource_version TEXT NOT NULL,
        fields_digest TEXT NOT NULL,
        applied_hash TEXT NOT NULL,
        PRIMARY KEY (sync, object)
     );
     CREATE TABLE held_revisions (
        sync TEXT PRIMARY KEY,
        revision INTEGER NOT NULL,
        digest TEXT NOT NULL,
        failures INTEGER NOT NULL,
        until INTEGER NOT NULL,
        error TEXT NOT NULL
     );",
    // 4: coalesced events (a repeat bumps `count` and `last_seen` on one row) and an index for
    // pruning by sync and age.
    "ALTER TABLE events ADD COLUMN count INTEGER NOT NULL DEFAULT 1;
     ALTER TABLE events ADD COLUMN last_seen INTEGER;
     UPDATE events SET last_seen = time;
     CREATE INDEX events_sync ON events(sync, id);",
    // 5: the host payload journal (written before the first rename, see host/mod.rs).
    "CREATE TABLE host_journal (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        sync TEXT NOT NULL,
        revision INTEGER NOT NULL,
        state TEXT NOT NULL,
        plan TEXT NOT NULL,
        started INTEGER NOT NULL,
        finished INTEGER,
        error TEXT
     );
     CREATE INDEX host_journal_state ON host_journal(state);",
    // 6: Jobs that finished, one per object: the content that ran (a Job deleted after it
    // finished is not created again for the same content).
    "CREATE TABLE finished_jobs (
        sync TEXT NOT NULL,
        object TEXT NOT NULL,
        applied_hash TEXT NOT NULL,
        revision INTEGER NOT NULL,
        ended TEXT NOT NULL,
        time INTEGER NOT NULL,
        PRIMARY KEY (sync, object)
     );",
];

/// Brings the database to the newest schema.
pub fn migrate(conn: &Connection) -> Result<(), StoreError> {
    let version: i64 = conn.query_row("PRAGMA user_version", [], |r| r.get(0))?;
    let supported = STEPS.len() as i64;
    if version > supported {
        return Err(StoreError::TooNew {
            found: version,
            supported,
        });
    }
    for (i, step) in STEPS.iter().enumerate().skip(version as usize) {
        let tx = conn.unchecked_transaction()?;
        tx.execute_batch(step)?;
        tx.pragma_update(None, "user_version", (i + 1) as i64)?;
        tx.commit()?;
    }
    Ok(())
}
