//! One test suite, run against both stores: the embedded SQLite store and a real PostgreSQL
//! server started from Debian's packages in a scratch directory.

use ferry_fleet::model::SyncHealth;
use ferry_fleet::model::{parse_event, parse_heartbeat};
use ferry_fleet::pgtest::TestPostgres;
use ferry_fleet::store::{postgres::PgStore, sqlite::SqliteStore, ChangeKind, Record, Store};

fn hb(id: &str, health: &str, rev: u64, extra_sync: bool, error: Option<&str>) -> Record {
    let mut syncs = vec![
        serde_json::json!({"name": "apps", "revision": rev, "highestVerified": rev + 1,
        "health": health, "lastError": error, "driftCorrections": 1, "sourceReachable": false,
        "sourceUnreachableSince": "2026-11-22T10:00:00Z", "futureField": [1,2]}),
    ];
    if extra_sync {
        syncs.push(serde_json::json!({"name": "infra", "revision": 1, "highestVerified": 1, "health": "healthy"}));
    }
    let body = serde_json::json!({"schema": "ferry.dev/heartbeat/v1", "time": "2026-11-22T10:00:00Z",
        "device": {"id": id, "labels": {"site": "berlin", "note": "<b>x</b>"}},
        "agent": {"version": "0.1.0", "uptimeSeconds": 5}, "syncs": syncs,
        "outbox": {"dropped": 3}, "intervalSeconds": 60});
    Record::Heartbeat {
        report: parse_heartbeat(body.to_string().as_bytes()).unwrap(),
        received: 1000 + rev as i64,
    }
}

fn ev(id: &str, kind: &str, received: i64) -> Record {
    let body = serde_json::json!({"schema": "ferry.dev/event/v1", "time": "t", "device": id,
        "sync": "apps", "kind": kind, "message": format!("{kind} on {id}")});
    Record::Event {
        event: parse_event(body.to_string().as_bytes()).unwrap(),
        received,
    }
}

async fn suite<S: Store>(store: S) {
    // Latest state per device and sync.
    store
        .write(vec![hb("edge-1", "healthy", 1, true, None)])
        .await
        .unwrap();
    store
        .write(vec![hb("edge-2", "healthy", 1, false, None)])
        .await
        .unwrap();
    store
        .write(vec![hb(
            "edge-1",
            "failed",
            2,
            false,
            Some("rolled back: boom"),
        )])
        .await
        .unwrap();
    let devices = store.devices().await.unwrap();
    assert_eq!(devices.len(), 2);
    // In write order, each device once with its latest syncs; paged by seq.
    let changed = store.changed_since(-1, 100).await.unwrap();
    let order: Vec<&str> = changed.iter().map(|(_, d)| d.report.id.as_str()).collect();
    assert_eq!(order, ["edge-2", "edge-1"], "edge-1 was written last");
    assert_eq!(changed[1].1, devices[0], "the same row as devices()");
    assert!(changed[0].0 < changed[1].0);
    let after = store.changed_since(changed[0].0, 1).await.unwrap();
    assert_eq!(after.len(), 1);
    assert_eq!(after[0].1.report.id, "edge-1");
    assert!(store
        .changed_since(changed[1].0, 100)
        .await
        .unwrap()
        .is_empty());
    let e1 = &devices[0];
    assert_eq!(e1.report.id, "edge-1");
    assert_eq!((e1.first_seen, e1.last_seen), (1001, 1002));
    assert_eq!(
        e1.report.syncs.len(),
        1,
        "a sync gone from the heartbeat is gone from the store"
    );
    let s = &e1.report.syncs[0];
    assert_eq!(
        (s.revision, s.highest_verified, s.health),
        (Some(2), Some(3), SyncHealth::Failed)
    );
    assert_eq!(s.last_error.as_deref(), Some("rolled back: boom"));
    assert!(!s.source_reachable);
    assert_eq!(e1.report.labels["note"], "<b>x</b>");
    assert_eq!(
        (e1.report.interval_seconds, e1.report.outbox_dropped),
        (Some(60), 3)
    );

    // Health changes: first sight, then only moves.
    let d = store.device("edge-1", 50).await.unwrap().unwrap();
    let apps: Vec<ChangeKind> = d
        .changes
        .iter()
        .filter(|c| c.sync == "apps")
        .map(|c| c.change)
        .collect();
    assert_eq!(
        apps,
        vec![
            ChangeKind::Revision {
                from: Some(1),
                to: Some(2)
            },
            ChangeKind::Health {
                from: Some(SyncHealth::Healthy),
                to: SyncHealth::Failed
            },
            ChangeKind::Health {
                from: None,
                to: SyncHealth::Healthy
            },
        ],
        "newest first"
    );
    store
        .write(vec![hb(
            "edge-1",
            "failed",
            2,
            false,
            Some("rolled back: boom"),
        )])
        .await
        .unwrap();
    let again = store.device("edge-1", 50).await.unwrap().unwrap();
    assert_eq!(
        again.changes.len(),
        d.changes.len(),
        "an unchanged heartbeat records no change"
    );
    assert!(store.device("nope", 50).await.unwrap().is_none());

    // Events, per device and fleet-wide by kind.
    store
        .write(vec![
            ev("edge-1", "rolled-back", 100),
            ev("edge-2", "drift-corrected", 200),
            ev("edge-2", "applied", 300),
        ])
        .await
        .unwrap();
    let recent = store
        .recent_events(&["rolled-back", "drift-corrected"], 10)
        .await
        .unwrap();
    let kinds: Vec<&str> = recent.iter().map(|e| e.event.kind.as_str()).collect();
    assert_eq!(kinds, vec!["drift-corrected", "rolled-back"]);
    let d2 = store.device("edge-2", 50).await.unwrap().unwrap();
    assert_eq!(d2.events.len(), 2);
    assert_eq!(d2.events[0].event.message, "applied on edge-2");

    // Grouped commits: many concurrent writers, every one answered after its commit.
    let writes =
        (0..200).map(|i| store.write(vec![hb(&format!("dev-{i:03}"), "healthy", 1, false, None)]));
    for r in futures_join(writes).await {
        r.unwrap();
    }
    assert_eq!(store.devices().await.unwrap().len(), 202);

    // One device twice in one group (PostgreSQL writes a group as one statement per table):
    // its last report is kept and every change is recorded, in order, with the group's events.
    store
        .write(vec![
            hb("twice", "healthy", 1, true, None),
            ev("twice", "applied", 1001),
            hb("twice", "failed", 2, false, Some("boom")),
        ])
        .await
        .unwrap();
    let t = store.device("twice", 50).await.unwrap().unwrap();
    let syncs: Vec<(&str, SyncHealth)> = t
        .device
        .report
        .syncs
        .iter()
        .map(|s| (s.name.as_str(), s.health))
        .collect();
    assert_eq!(syncs, [("apps", SyncHealth::Failed)]);
    assert_eq!(t.device.last_seen, 1002);
    assert_eq!(t.device.first_seen, 1001);
    let kinds: Vec<ChangeKind> = t.changes.iter().rev().map(|c| c.change).collect();
    assert_eq!(
        kinds,
        [
            ChangeKind::Health {
                from: None,
                to: SyncHealth::Healthy
            },
            ChangeKind::Health {
                from: None,
                to: SyncHealth::Healthy
            },
            ChangeKind::Health {
                from: Some(SyncHealth::Healthy),
                to: SyncHealth::Failed
            },
            ChangeKind::Revision {
                from: Some(1),
                to: Some(2)
            },
        ]
    );
    assert_eq!(t.events.len(), 1);
    assert_eq!(store.devices().await.unwrap().len(), 203);

    // Retention: events and changes received before the cut go; latest state stays.
    let gone = store.prune(250).await.unwrap();
    assert!(gone >= 2, "{gone}");
    let d2 = store.device("edge-2", 50).await.unwrap().unwrap();
    assert_eq!(d2.events.len(), 1);
    assert_eq!(store.devices().await.unwrap().len(), 203);
}

/// Runs the futures concurrently on the current task (no extra crate).
async fn futures_join<F: std::future::Future>(fs: impl Iterator<Item = F>) -> Vec<F::Output> {
    let mut set = Vec::new();
    for f in fs {
        set.push(Box::pin(f));
    }
    let mut out: Vec<Option<F::Output>> = (0..set.len()).map(|_| None).collect();
    std::future::poll_fn(|cx| {
        let mut pending = false;
        for (i, f) in set.iter_mut().enumerate() {
            if out[i].is_none() {
                match f.as_mut().poll(cx) {
                    std::task::Poll::Ready(v) => out[i] = Some(v),
                    std::task::Poll::Pending => pending = true,
                }
            }
        }
        if pending {
            std::task::Poll::Pending
        } else {
            std::task::Poll::Ready(())
        }
    })
    .await;
    out.into_iter().map(|o| o.unwrap()).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_store_passes_the_suite() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("fleet.db");
    suite(SqliteStore::open(&path).unwrap()).await;
    // Durable: a fresh open of the file sees everything.
    let reopened = SqliteStore::open(&path).unwrap();
    assert_eq!(reopened.devices().await.unwrap().len(), 203);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_store_passes_the_suite() {
    let pg = tokio::task::spawn_blocking(TestPostgres::start)
        .await
        .unwrap()
        .unwrap();
    suite(PgStore::connect(&pg.url()).await.unwrap()).await;
    let reopened = PgStore::connect(&pg.url()).await.unwrap();
    assert_eq!(reopened.devices().await.unwrap().len(), 203);
}

/// A record the database refuses (a NUL in text, which ingest never lets through) fails only
/// its own request, as a permanent refusal; the honest requests of the same group commit.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_refusal_of_one_record_fails_no_other_request() {
    let pg = tokio::task::spawn_blocking(TestPostgres::start)
        .await
        .unwrap()
        .unwrap();
    let store = PgStore::connect(&pg.url()).await.unwrap();
    let mut bad = hb("bad", "failed", 1, false, None);
    if let Record::Heartbeat { report, .. } = &mut bad {
        report.syncs[0].last_error = Some("nul \0 here".into());
    }
    let mut records = vec![bad];
    records.extend((0..40).map(|i| hb(&format!("dev-{i:02}"), "healthy", 1, false, None)));
    let results = futures_join(records.into_iter().map(|r| store.write(vec![r]))).await;
    assert!(
        matches!(results[0], Err(ferry_fleet::store::StoreError::Refused(_))),
        "{:?}",
        results[0]
    );
    assert!(results[1..].iter().all(|r| r.is_ok()), "{results:?}");
    assert_eq!(store.devices().await.unwrap().len(), 40);
}
