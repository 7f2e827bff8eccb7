//! The PostgreSQL store, for fleets that outgrow one machine: the same tables as the SQLite
//! store. One writer task owns a connection and commits whatever is queued as one transaction
//! (grouped commit) before answering; reads go over a second connection (pipelined).

use super::schema::{ddl, Dialect, MAX_GROUP};
use super::{
    change_columns, change_from_columns, changes_between, Change, DeviceDetail, DeviceRow, Record,
    Store, StoreError, StoredEvent,
};
use crate::model::{DeviceReport, EventReport, SyncHealth, SyncReport};
use std::collections::BTreeMap;
use tokio::sync::{mpsc, oneshot};
use tokio_postgres::{Client, NoTls};

use super::pg_rows::*;

enum Job {
    Write(Vec<Record>, oneshot::Sender<Result<(), StoreError>>),
    Prune(i64, oneshot::Sender<Result<u64, StoreError>>),
}

/// The PostgreSQL store.
pub struct PgStore {
    jobs: mpsc::UnboundedSender<Job>,
    reader: Client,
}

/// A PostgreSQL error; data exceptions (class 22, e.g. a NUL in text), integrity violations
/// (23) and program limits (54) are permanent: [`StoreError::Refused`].
fn pg(e: tokio_postgres::Error) -> StoreError {
    let mut s = e.to_string();
    if let Some(db) = e.as_db_error() {
        s = format!("{s}: {}", db.message());
        if ["22", "23", "54"].contains(&&db.code().code()[..2]) {
            return StoreError::Refused(s);
        }
    }
    StoreError::Postgres(s)
}

async fn connect(url: &str) -> Result<Client, StoreError> {
    let (client, conn) = tokio_postgres::connect(url, NoTls).await.map_err(pg)?;
    tokio::spawn(async move {
        if let Err(e) = conn.await {
            tracing::error!("postgres connection: {e}");
        }
    });
    Ok(client)
}

impl PgStore {
    /// Connects (a libpq-style URL or key=value string), creates the tables, starts the writer.
    pub async fn connect(url: &str) -> Result<Self, StoreError> {
        let writer = connect(url).await?;
        writer
            .batch_execute(&ddl(Dialect::Postgres))
            .await
            .map_err(pg)?;
        for m in super::schema::migrations(Dialect::Postgres) {
            writer.batch_execute(&m).await.map_err(pg)?;
        }
        let reader = connect(url).await?;
        let (tx, rx) = mpsc::unbounded_channel();
        tokio::spawn(writer_loop(writer, rx));
        Ok(PgStore { jobs: tx, reader })
    }
}

async fn writer_loop(mut client: Client, mut rx: mpsc::UnboundedReceiver<Job>) {
    while let Some(first) = rx.recv().await {
        let mut writes = Vec::new();
        let mut prunes = Vec::new();
        let mut queued = 0;
        let mut next = Some(first);
        while let Some(job) = next.take() {
            match job {
                Job::Write(r, reply) => {
                    queued += r.len();
                    writes.push((r, reply));
                }
                Job::Prune(b, reply) => prunes.push((b, reply)),
            }
            if queued < MAX_GROUP {
                next = rx.try_recv().ok();
            }
        }
        if !writes.is_empty() {
            // As `commit_isolated`: the group, then each request alone if the group failed,
            // so one refused record never fails another device's request.
            let group = commit(&mut client, writes.iter().flat_map(|(r, _)| r.iter())).await;
            if group.is_ok() || writes.len() == 1 {
                for (_, reply) in writes {
                    let _ = reply.send(group.clone());
                }
            } else {
                for (records, reply) in writes {
                    let _ = reply.send(commit(&mut client, records.iter()).await);
                }
            }
        }
        for (before, reply) in prunes {
            let r = async {
                let a = client
                    .execute("DELETE FROM events WHERE received < $1", &[&before])
                    .await?;
                let b = client
                    .execute("DELETE FROM changes WHERE time < $1", &[&before])
                    .await?;
                Ok::<u64, tokio_postgres::Error>(a + b)
            }
            .await
            .map_err(pg);
            let _ = reply.send(r);
        }
    }
}

/// One statement of a grouped commit, with owned parameters.
enum Op {
    Device(DeviceReport, String, i64),
    DeleteSyncs(String),
    Change(
        String,
        String,
        i64,
        &'static str,
        Option<String>,
        Option<String>,
    ),
    Sync(String, SyncReport),
    Event(EventReport, i64),
    DeleteSite(String),
    /// Device, membership, its `leads` and `host_rollout` columns.
    Site(
        String,
        Box<crate::site::model::SiteMembership>,
        String,
        Option<String>,
    ),
}

const UPSERT_DEVICE: &str =
    "INSERT INTO devices(id, labels, agent_version, uptime_seconds, interval_seconds,
    reported_time, outbox_dropped, first_seen, last_seen, seq)
    VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$8,nextval('device_seq'))
  ON CONFLICT(id) DO UPDATE SET labels=excluded.labels, agent_version=excluded.agent_version,
    uptime_seconds=excluded.uptime_seconds, interval_seconds=excluded.interval_seconds,
    reported_time=excluded.reported_time, outbox_dropped=excluded.outbox_dropped,
    last_seen=excluded.last_seen, seq=excluded.seq";
const DELETE_SYNCS: &str = "DELETE FROM syncs WHERE device=$1";
const INSERT_CHANGE: &str =
    "INSERT INTO changes(device, sync, time, kind, from_value, to_value) VALUES ($1,$2,$3,$4,$5,$6)";
const INSERT_SYNC: &str = "INSERT INTO syncs(device, name, revision, highest_verified, health,
    last_error, last_success, drift_corrections, source_reachable, source_unreachable_since, waiting)
  VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9,$10,$11)";
const INSERT_EVENT: &str = "INSERT INTO events(device, sync, kind, message, reported_time, received) VALUES ($1,$2,$3,$4,$5,$6)";

/// Turns records into statements; changes are computed against the stored state of the
/// batch's devices, folded through the batch in order (pure apart from the lookup result).
fn plan<'a>(
    records: impl Iterator<Item = &'a Record>,
    mut state: BTreeMap<(String, String), (SyncHealth, Option<u64>)>,
) -> Vec<Op> {
    let mut ops = Vec::new();
    for r in records {
        match r {
            Record::Heartbeat { report, received } => {
                let labels = serde_json::to_string(&report.labels).unwrap_or_else(|_| "{}".into());
                ops.push(Op::Device(report.clone(), labels, *received));
                ops.push(Op::DeleteSyncs(report.id.clone()));
                let old: BTreeMap<String, (SyncHealth, Option<u64>)> = state
                    .iter()
                    .filter(|((d, _), _)| d == &report.id)
                    .map(|((_, n), v)| (n.clone(), *v))
                    .collect();
                state.retain(|(d, _), _| d != &report.id);
                for s in &report.syncs {
                    for c in changes_between(old.get(&s.name).copied(), (s.health, s.revision)) {
                        let (kind, from, to) = change_columns(&c);
                        ops.push(Op::Change(
                            report.id.clone(),
                            s.name.clone(),
                            *received,
                            kind,
                            from,
                            to,
                        ));
                    }
                    state.insert((report.id.clone(), s.name.clone()), (s.health, s.revision));
                    ops.push(Op::Sync(report.id.clone(), s.clone()));
                }
                ops.push(Op::DeleteSite(report.id.clone()));
                if let Some(site) = &report.site {
                    let (leads, rollout) = super::site_rows::encode(site);
                    ops.push(Op::Site(report.id.clone(), site.clone(), leads, rollout));
                }
            }
            Record::Event { event, received } => ops.push(Op::Event(event.clone(), *received)),
        }
    }
    ops
}

/// Commits a group: one lookup of the stored syncs, then every statement pipelined on the
/// connection (sent without waiting for each answer; PostgreSQL runs them in order).
async fn commit<'a>(
    client: &mut Client,
    records: impl Iterator<Item = &'a Record> + Clone,
) -> Result<(), StoreError> {
    let tx = client.transaction().await.map_err(pg)?;
    // Receivers sharing the database commit one at a time, so `seq` values become visible in
    // their order and a reader following `seq` misses no write.
    tx.execute("SELECT pg_advisory_xact_lock(7243)", &[])
        .await
        .map_err(pg)?;
    let ids: Vec<String> = records
        .clone()
        .filter_map(|r| match r {
            Record::Heartbeat { report, .. } => Some(report.id.clone()),
            Record::Event { .. } => None,
        })
        .collect();
    let rows = tx
        .query(
            "SELECT device, name, health, revision FROM syncs WHERE device = ANY($1)",
            &[&ids],
        )
        .await
        .map_err(pg)?;
    let state = rows
        .iter()
        .map(|r| {
            let h: String = r.get(2);
            (
                (r.get::<_, String>(0), r.get::<_, String>(1)),
                (
                    SyncHealth::parse(&h).unwrap_or(SyncHealth::NeverSynced),
                    r.get::<_, Option<i64>>(3).map(|x| x as u64),
                ),
            )
        })
        .collect();
    let ops = plan(records, state);
    let (delete_site, insert_site) = (
        super::site_rows::delete("$1"),
        super::site_rows::insert(["$1", "$2", "$3", "$4", "$5", "$6", "$7"]),
    );
    let (up, del, ch, sy, ev, ds, si) = tokio::try_join!(
        tx.prepare(UPSERT_DEVICE),
        tx.prepare(DELETE_SYNCS),
        tx.prepare(INSERT_CHANGE),
        tx.prepare(INSERT_SYNC),
        tx.prepare(INSERT_EVENT),
        tx.prepare(&delete_site),
        tx.prepare(&insert_site)
    )
    .map_err(pg)?;
    let statements = ops.iter().map(|op| {
        let tx = &tx;
        let (up, del, ch, sy, ev, ds, si) = (&up, &del, &ch, &sy, &ev, &ds, &si);
        async move {
            match op {
                Op::Device(r, labels, now) => {
                    tx.execute(
                        up,
                        &[
                            &r.id,
                            labels,
                            &r.agent_version,
                            &(r.uptime_seconds as i64),
                            &opt_i64(r.interval_seconds),
                            &r.reported_time,
                            &(r.outbox_dropped as i64),
                            now,
                        ],
                    )
                    .await
                }
                Op::DeleteSyncs(id) => tx.execute(del, &[id]).await,
                Op::DeleteSite(id) => tx.execute(ds, &[id]).await,
                Op::Site(d, s, leads, rollout) => {
                    tx.execute(
                        si,
                        &[d, &s.name, &s.leading, leads, &s.lease, &s.leader, rollout],
                    )
                    .await
                }
                Op::Change(d, s, t, k, f, to) => tx.execute(ch, &[d, s, t, k, f, to]).await,
                Op::Sync(d, s) => {
                    tx.execute(
                        sy,
                        &[
                            d,
                            &s.name,
                            &opt_i64(s.revision),
                            &opt_i64(s.highest_verified),
                            &s.health.as_str(),
                            &s.last_error,
                            &s.last_success,
                            &(s.drift_corrections as i64),
                            &s.source_reachable,
                            &s.source_unreachable_since,
                            &s.waiting,
                        ],
                    )
                    .await
                }
                Op::Event(e, now) => {
                    tx.execute(
                        ev,
                        &[
                            &e.device,
                            &e.sync,
                            &e.kind,
                            &e.message,
                            &e.reported_time,
                            now,
                        ],
                    )
                    .await
                }
            }
        }
    });
    for r in futures_util::future::join_all(statements).await {
        r.map_err(pg)?;
    }
    tx.commit().await.map_err(pg)
}

impl Store for PgStore {
    async fn write(&self, records: Vec<Record>) -> Result<(), StoreError> {
        let (tx, rx) = oneshot::channel();
        self.jobs
            .send(Job::Write(records, tx))
            .map_err(|_| StoreError::WriterGone)?;
        rx.await.map_err(|_| StoreError::WriterGone)?
    }

    async fn devices(&self) -> Result<Vec<DeviceRow>, StoreError> {
        let q1 = format!("SELECT {DEVICE_COLUMNS} FROM devices ORDER BY id");
        let q2 = format!("SELECT {SYNC_COLUMNS} FROM syncs ORDER BY device, name");
        let (d, s, m) = tokio::try_join!(
            self.reader.query(&q1, &[]),
            self.reader.query(&q2, &[]),
            self.reader.query(super::site_rows::ALL, &[])
        )
        .map_err(pg)?;
        let mut devices: Vec<DeviceRow> = d.iter().map(device_row).collect();
        super::attach_syncs(&mut devices, s.iter().map(sync_row).collect());
        let sites = m
            .iter()
            .filter_map(|r| Some((r.get::<_, String>(0), site_at(r, 1)?)))
            .collect();
        super::site_rows::attach(&mut devices, sites);
        Ok(devices)
    }

    async fn changed_since(
        &self,
        seq: i64,
        limit: usize,
    ) -> Result<Vec<(i64, DeviceRow)>, StoreError> {
        let q = super::schema::changed_since("$1", "$2");
        let rows = self
            .reader
            .query(&q, &[&seq, &(limit as i64)])
            .await
            .map_err(pg)?;
        let mut out = Vec::new();
        for r in &rows {
            let sync = r.get::<_, Option<&str>>(11).map(|_| sync_at(r, 10).1);
            let device = || {
                let mut d = device_row(r);
                d.report.site = site_at(r, 21);
                d
            };
            super::schema::fold_changed(&mut out, r.get(9), device, sync);
        }
        Ok(out)
    }

    async fn device(&self, id: &str, limit: usize) -> Result<Option<DeviceDetail>, StoreError> {
        let c = &self.reader;
        let limit = limit as i64;
        let q1 = format!("SELECT {DEVICE_COLUMNS} FROM devices WHERE id=$1");
        let q2 = format!("SELECT {SYNC_COLUMNS} FROM syncs WHERE device=$1 ORDER BY name");
        let q4 =
            format!("SELECT {EVENT_COLUMNS} FROM events WHERE device=$1 ORDER BY id DESC LIMIT $2");
        let p1: [&(dyn tokio_postgres::types::ToSql + Sync); 1] = [&id];
        let p2: [&(dyn tokio_postgres::types::ToSql + Sync); 2] = [&id, &limit];
        let q5 = super::site_rows::of_device("$1");
        let (d, s, ch, ev, m) = tokio::try_join!(
            c.query_opt(&q1, &p1),
            c.query(&q2, &p1),
            c.query("SELECT device, sync, time, kind, from_value, to_value FROM changes WHERE device=$1 ORDER BY id DESC LIMIT $2", &p2),
            c.query(&q4, &p2),
            c.query_opt(&q5, &p1),
        )
        .map_err(pg)?;
        let Some(d) = d else { return Ok(None) };
        let mut device = device_row(&d);
        device.report.site = m.and_then(|r| site_at(&r, 0));
        device.report.syncs = s.iter().map(|r| sync_row(r).1).collect();
        let changes = ch
            .iter()
            .map(|r| {
                Ok(Change {
                    device: r.get(0),
                    sync: r.get(1),
                    time: r.get(2),
                    change: change_from_columns(r.get::<_, &str>(3), r.get(4), r.get(5))?,
                })
            })
            .collect::<Result<_, StoreError>>()?;
        Ok(Some(DeviceDetail {
            device,
            changes,
            events: ev.iter().map(event_row).collect(),
        }))
    }

    async fn recent_events(
        &self,
        kinds: &[&str],
        limit: usize,
    ) -> Result<Vec<StoredEvent>, StoreError> {
        let kinds: Vec<String> = kinds.iter().map(|k| k.to_string()).collect();
        let q = format!(
            "SELECT {EVENT_COLUMNS} FROM events WHERE kind = ANY($1) ORDER BY id DESC LIMIT $2"
        );
        let rows = self
            .reader
            .query(&q, &[&kinds, &(limit as i64)])
            .await
            .map_err(pg)?;
        Ok(rows.iter().map(event_row).collect())
    }

    async fn prune(&self, before: i64) -> Result<u64, StoreError> {
        let (tx, rx) = oneshot::channel();
        self.jobs
            .send(Job::Prune(before, tx))
            .map_err(|_| StoreError::WriterGone)?;
        rx.await.map_err(|_| StoreError::WriterGone)?
    }
}
