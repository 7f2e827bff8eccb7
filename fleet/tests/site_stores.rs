//! Site membership in both stores (issue 24): the `site_members` table each store adds by a
//! migration keeps every device's latest claim (site, lead, the holder it read, a host
//! rollout), replaced by each heartbeat, dropped with a heartbeat that names no site, read back
//! by every read path (`devices`, `device`, `changed_since`), and on a database made before
//! the table existed. Run on SQLite and on a real PostgreSQL.

use ferry_fleet::model::parse_heartbeat;
use ferry_fleet::pgtest::TestPostgres;
use ferry_fleet::site::model::RolloutState;
use ferry_fleet::store::{postgres::PgStore, sqlite::SqliteStore, Record, Store};
use serde_json::{json, Value};

fn hb(id: &str, site: Value, received: i64) -> Record {
    let mut body = json!({"schema": "ferry.dev/heartbeat/v1", "device": {"id": id},
        "syncs": [{"name": "apps", "health": "healthy", "revision": 2}]});
    if !site.is_null() {
        body["site"] = site;
    }
    Record::Heartbeat {
        report: parse_heartbeat(body.to_string().as_bytes()).unwrap(),
        received,
    }
}

async fn suite<S: Store>(store: S) {
    let rollout = json!({"lease": "kube-system/ferry-line-3-host", "node": "n-2",
        "last": {"sync": "apps", "revision": 7, "state": "stopped", "node": "n-2", "reason": "k3s not Ready"}});
    store
        .write(vec![
            hb("n-1", json!({"name": "line-3", "leader": "n-1", "leading": true, "lease": "kube-system/ferry-line-3"}), 10),
            hb("n-2", json!({"name": "line-3", "leader": "n-1", "hostRollout": rollout}), 10),
            hb("lone", Value::Null, 10),
        ])
        .await
        .unwrap();
    let devices = store.devices().await.unwrap();
    let site = |id: &str| {
        devices
            .iter()
            .find(|d| d.report.id == id)
            .unwrap()
            .report
            .site
            .clone()
    };
    let lead = site("n-1").unwrap();
    assert_eq!(
        (
            lead.name.as_str(),
            lead.leading,
            lead.leads.clone(),
            lead.lease.as_deref()
        ),
        (
            "line-3",
            true,
            vec!["apps".to_string()],
            Some("kube-system/ferry-line-3")
        )
    );
    let standby = site("n-2").unwrap();
    assert!(!standby.leading && standby.leads.is_empty());
    let r = standby.host_rollout.unwrap();
    assert_eq!(
        (r.state, r.revision, r.node.as_deref(), r.reason.as_deref()),
        (
            RolloutState::Stopped,
            Some(7),
            Some("n-2"),
            Some("k3s not Ready")
        )
    );
    assert_eq!(site("lone"), None);
    // The same through the other read paths.
    let one = store.device("n-2", 10).await.unwrap().unwrap();
    assert_eq!(one.device.report.site, site("n-2"));
    let changed = store.changed_since(-1, 100).await.unwrap();
    assert_eq!(changed.len(), devices.len());
    for (_, d) in &changed {
        assert_eq!(d.report.site, site(&d.report.id), "{}", d.report.id);
    }
    // A takeover: the claims move; a device leaving the site leaves no row behind.
    store
        .write(vec![
            hb(
                "n-2",
                json!({"name": "line-3", "leader": "n-2", "leading": true}),
                20,
            ),
            hb("n-1", Value::Null, 20),
        ])
        .await
        .unwrap();
    let devices = store.devices().await.unwrap();
    let n2 = devices.iter().find(|d| d.report.id == "n-2").unwrap();
    let n2_site = n2.report.site.as_ref().unwrap();
    assert!(n2_site.leading && n2_site.host_rollout.is_none());
    assert!(devices
        .iter()
        .find(|d| d.report.id == "n-1")
        .unwrap()
        .report
        .site
        .is_none());
    let after = store
        .changed_since(changed[changed.len() - 1].0, 100)
        .await
        .unwrap();
    let n1 = after.iter().find(|(_, d)| d.report.id == "n-1").unwrap();
    assert!(n1.1.report.site.is_none());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_keeps_site_membership_and_migrates_an_older_database() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("fleet.db");
    // A database of the release before sites: the tables without site_members, one device.
    {
        let c = rusqlite::Connection::open(&path).unwrap();
        c.execute_batch(&ferry_fleet::store::schema::ddl(
            ferry_fleet::store::schema::Dialect::Sqlite,
        ))
        .unwrap();
        c.execute(
            "INSERT INTO devices(id, labels, agent_version, uptime_seconds, reported_time,
               outbox_dropped, first_seen, last_seen) VALUES ('old', '{}', '0.1', 1, '', 0, 1, 1)",
            [],
        )
        .unwrap();
    }
    let store = SqliteStore::open(&path).unwrap();
    let old = store.devices().await.unwrap();
    assert_eq!((old.len(), old[0].report.site.clone()), (1, None));
    suite(store).await;
    let reopened = SqliteStore::open(&path).unwrap();
    assert_eq!(reopened.devices().await.unwrap().len(), 4);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_keeps_site_membership_and_migrates_an_older_database() {
    let pg = tokio::task::spawn_blocking(TestPostgres::start)
        .await
        .unwrap()
        .unwrap();
    {
        let (c, conn) = tokio_postgres::connect(&pg.url(), tokio_postgres::NoTls)
            .await
            .unwrap();
        tokio::spawn(conn);
        c.batch_execute(&ferry_fleet::store::schema::ddl(
            ferry_fleet::store::schema::Dialect::Postgres,
        ))
        .await
        .unwrap();
        c.batch_execute(
            "INSERT INTO devices(id, labels, agent_version, uptime_seconds, reported_time,
               outbox_dropped, first_seen, last_seen) VALUES ('old', '{}', '0.1', 1, '', 0, 1, 1)",
        )
        .await
        .unwrap();
    }
    let store = PgStore::connect(&pg.url()).await.unwrap();
    assert_eq!(store.devices().await.unwrap().len(), 1);
    suite(store).await;
    let reopened = PgStore::connect(&pg.url()).await.unwrap();
    assert_eq!(reopened.devices().await.unwrap().len(), 4);
}
