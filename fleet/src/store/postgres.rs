//! The PostgreSQL store, for fleets that outgrow one machine: the same tables as the SQLite
//! store. One writer task owns a connection and commits whatever is queued as one transaction
//! (grouped commit, seven statements whatever its size: [`super::pg_batch`]) before answering;
//! reads go over a second connection (pipelined).

use super::pg_batch::*;
use super::schema::{ddl, Dialect, MAX_GROUP};
use super::{
    change_from_columns, Change, DeviceDetail, DeviceRow, Record, Store, StoreError, StoredEvent,
};
use crate::model::SyncHealth;
use tokio::sync::{mpsc, oneshot};
use tokio_postgres::types::ToSql;
use tokio_postgres::{Client, NoTls, Statement};

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
        let prepared = Prepared::new(&writer).await?;
        tokio::spawn(writer_loop(writer, prepared, rx));
        Ok(PgStore { jobs: tx, reader })
    }
}

/// The writer's statements, prepared once on its connection.
struct Prepared {
    lock: Statement,
    select: Statement,
    devices: Statement,
    delete_syncs: Statement,
    syncs: Statement,
    changes: Statement,
    events: Statement,
    delete_sites: Statement,
    sites: Statement,
}

impl Prepared {
    async fn new(c: &Client) -> Result<Self, StoreError> {
        // A generic plan of `device = ANY($1)` and of the unnest inserts (chosen after five
        // runs) cost PostgreSQL five times the CPU of a plan made for each group's arrays.
        c.batch_execute("SET plan_cache_mode = force_custom_plan")
            .await
            .map_err(pg)?;
        let (delete_sites, sites) = tokio::try_join!(
            c.prepare(super::site_rows::PG_DELETE),
            c.prepare(super::site_rows::PG_INSERT),
        )
        .map_err(pg)?;
        let (lock, select, devices, delete_syncs, syncs, changes, events) = tokio::try_join!(
            c.prepare("SELECT pg_advisory_xact_lock(7243)"),
            c.prepare("SELECT device, name, health, revision FROM syncs WHERE device = ANY($1)"),
            c.prepare(UPSERT_DEVICES),
            c.prepare(DELETE_SYNCS),
            c.prepare(INSERT_SYNCS),
            c.prepare(INSERT_CHANGES),
            c.prepare(INSERT_EVENTS),
        )
        .map_err(pg)?;
        Ok(Prepared {
            lock,
            select,
            devices,
            delete_syncs,
            syncs,
            changes,
            events,
            delete_sites,
            sites,
        })
    }
}

async fn writer_loop(mut client: Client, p: Prepared, mut rx: mpsc::UnboundedReceiver<Job>) {
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
            let group = commit(&mut client, &p, writes.iter().flat_map(|(r, _)| r.iter())).await;
            if group.is_ok() || writes.len() == 1 {
                for (_, reply) in writes {
                    let _ = reply.send(group.clone());
                }
            } else {
                for (records, reply) in writes {
                    let _ = reply.send(commit(&mut client, &p, records.iter()).await);
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

/// Commits a group: one lookup of the stored syncs of its devices, then seven statements that
/// take all of the group's rows as arrays ([`super::pg_batch`]), sent together without waiting
/// for each answer (PostgreSQL runs them in order): four round trips per group in all.
async fn commit<'a>(
    client: &mut Client,
    p: &Prepared,
    records: impl Iterator<Item = &'a Record> + Clone,
) -> Result<(), StoreError> {
    let tx = client.transaction().await.map_err(pg)?;
    let ids: Vec<String> = records
        .clone()
        .filter_map(|r| match r {
            Record::Heartbeat { report, .. } => Some(report.id.clone()),
            Record::Event { .. } => None,
        })
        .collect();
    // Receivers sharing the database commit one at a time, so `seq` values become visible in
    // their order and a reader following `seq` misses no write.
    let by_id: [&(dyn ToSql + Sync); 1] = [&ids];
    let (_, rows) =
        tokio::try_join!(tx.execute(&p.lock, &[]), tx.query(&p.select, &by_id)).map_err(pg)?;
    let mut state = SyncState::new();
    for r in &rows {
        let h: String = r.get(2);
        state.entry(r.get(0)).or_default().insert(
            r.get(1),
            (
                SyncHealth::parse(&h).unwrap_or(SyncHealth::NeverSynced),
                r.get::<_, Option<i64>>(3).map(|x| x as u64),
            ),
        );
    }
    let b = plan(records, state);
    let (d, y, c, e) = (&b.devices, &b.syncs, &b.changes, &b.events);
    let devices: [&(dyn ToSql + Sync); 9] = [
        &d.id,
        &d.labels,
        &d.agent,
        &d.uptime,
        &d.interval,
        &d.reported,
        &d.dropped,
        &d.first,
        &d.now,
    ];
    let device_ids: [&(dyn ToSql + Sync); 1] = [&d.id];
    let syncs: [&(dyn ToSql + Sync); 11] = [
        &y.device,
        &y.name,
        &y.revision,
        &y.verified,
        &y.health,
        &y.error,
        &y.success,
        &y.drift,
        &y.reachable,
        &y.unreachable_since,
        &y.waiting,
    ];
    let changes: [&(dyn ToSql + Sync); 6] = [&c.device, &c.sync, &c.time, &c.kind, &c.from, &c.to];
    let events: [&(dyn ToSql + Sync); 6] = [
        &e.device,
        &e.sync,
        &e.kind,
        &e.message,
        &e.reported,
        &e.received,
    ];
    let m = &b.sites;
    let sites: [&(dyn ToSql + Sync); 7] = [
        &m.device, &m.site, &m.leading, &m.leads, &m.lease, &m.leader, &m.rollout,
    ];
    let done = tokio::join!(
        tx.execute(&p.devices, &devices),
        tx.execute(&p.delete_syncs, &device_ids),
        tx.execute(&p.syncs, &syncs),
        tx.execute(&p.changes, &changes),
        tx.execute(&p.events, &events),
        tx.execute(&p.delete_sites, &device_ids),
        tx.execute(&p.sites, &sites),
    );
    root_cause([done.0, done.1, done.2, done.3, done.4, done.5, done.6])?;
    tx.commit().await.map_err(pg)
}

/// The error that failed a pipelined transaction: the statements after a failed one all answer
/// "current transaction is aborted" (25P02), and any of them may be seen first, so the cause is
/// the first error that is not that one (a refused record stays a refusal, never a transient
/// store error that would fail the whole group again).
fn root_cause<const N: usize>(
    results: [Result<u64, tokio_postgres::Error>; N],
) -> Result<(), StoreError> {
    let aborted = |e: &tokio_postgres::Error| {
        e.code() == Some(&tokio_postgres::error::SqlState::IN_FAILED_SQL_TRANSACTION)
    };
    let errors: Vec<tokio_postgres::Error> = results.into_iter().filter_map(Result::err).collect();
    let cause = errors.iter().position(|e| !aborted(e)).unwrap_or(0);
    match errors.into_iter().nth(cause) {
        Some(e) => Err(pg(e)),
        None => Ok(()),
    }
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
