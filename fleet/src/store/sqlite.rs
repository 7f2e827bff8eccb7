//! The embedded store: SQLite in WAL mode with `synchronous=FULL`. One writer thread owns the
//! write connection and commits whatever is queued as one transaction (grouped commit), then
//! answers every waiting request: a reply means the data is on disk. Reads use a small pool of
//! read connections on the blocking pool, so they never wait for the writer.

use super::schema::{ddl, Dialect, MAX_GROUP};
pub(super) use super::sqlite_rows::err;
use super::{
    change_columns, change_from_columns, changes_between, commit_isolated, Change, DeviceDetail,
    DeviceRow, Record, Store, StoreError, StoredEvent,
};
use crate::model::{DeviceReport, EventReport, SyncHealth};
use rusqlite::{params, Connection, OptionalExtension};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::{mpsc, Arc, Mutex};
use tokio::sync::oneshot;

use super::sqlite_rows::*;

type WriteReply = oneshot::Sender<Result<(), StoreError>>;
/// A change row as read: device, sync, time, kind, from, to.
type ChangeColumns = (String, String, i64, String, Option<String>, Option<String>);

enum Job {
    Write(Vec<Record>, oneshot::Sender<Result<(), StoreError>>),
    Prune(i64, oneshot::Sender<Result<u64, StoreError>>),
}

/// The SQLite store.
pub struct SqliteStore {
    path: PathBuf,
    jobs: Mutex<mpsc::Sender<Job>>,
    readers: Arc<Mutex<Vec<Connection>>>,
}

fn open(path: &Path) -> Result<Connection, StoreError> {
    let c = Connection::open(path).map_err(err(path))?;
    c.execute_batch("PRAGMA journal_mode=WAL; PRAGMA synchronous=FULL; PRAGMA busy_timeout=10000;")
        .map_err(err(path))?;
    Ok(c)
}

impl SqliteStore {
    /// Opens (creating) the database and starts its writer thread.
    pub fn open(path: &Path) -> Result<Self, StoreError> {
        let writer = open(path)?;
        writer
            .execute_batch(&ddl(Dialect::Sqlite))
            .map_err(err(path))?;
        for (i, m) in super::schema::migrations(Dialect::Sqlite)
            .iter()
            .enumerate()
        {
            match writer.execute_batch(m) {
                Err(e) if i > 0 => return Err(err(path)(e)),
                _ => {}
            }
        }
        let (tx, rx) = mpsc::channel();
        let p = path.to_path_buf();
        std::thread::Builder::new()
            .name("sqlite-writer".into())
            .spawn(move || writer_loop(writer, &p, rx))
            .map_err(|e| StoreError::Sqlite {
                path: path.display().to_string(),
                reason: format!("cannot start the writer: {e}"),
            })?;
        Ok(SqliteStore {
            path: path.to_path_buf(),
            jobs: Mutex::new(tx),
            readers: Arc::new(Mutex::new(Vec::new())),
        })
    }

    fn send(&self, job: Job) -> Result<(), StoreError> {
        let tx = self.jobs.lock().map_err(|_| StoreError::WriterGone)?;
        tx.send(job).map_err(|_| StoreError::WriterGone)
    }

    /// Runs `f` on a pooled read connection on the blocking pool.
    async fn read<T: Send + 'static>(
        &self,
        f: impl FnOnce(&Connection, &Path) -> Result<T, StoreError> + Send + 'static,
    ) -> Result<T, StoreError> {
        let pool = self.readers.clone();
        let path = self.path.clone();
        tokio::task::spawn_blocking(move || {
            let taken = pool.lock().ok().and_then(|mut p| p.pop());
            let conn = match taken {
                Some(c) => c,
                None => open(&path)?,
            };
            let out = f(&conn, &path);
            if let Ok(mut p) = pool.lock() {
                if p.len() < 8 {
                    p.push(conn);
                }
            }
            out
        })
        .await
        .map_err(|e| StoreError::Sqlite {
            path: self.path.display().to_string(),
            reason: format!("read task: {e}"),
        })?
    }
}

fn writer_loop(mut conn: Connection, path: &Path, rx: mpsc::Receiver<Job>) {
    while let Ok(first) = rx.recv() {
        let mut writes: Vec<(Vec<Record>, WriteReply)> = Vec::new();
        let mut prunes = Vec::new();
        let mut queued = 0;
        let mut next = Some(first);
        while let Some(job) = next.take() {
            match job {
                Job::Write(r, reply) => {
                    queued += r.len();
                    writes.push((r, reply));
                }
                Job::Prune(before, reply) => prunes.push((before, reply)),
            }
            if queued < MAX_GROUP {
                next = rx.try_recv().ok();
            }
        }
        if !writes.is_empty() {
            let results = commit_isolated(writes, |records| commit(&mut conn, path, records));
            for (reply, result) in results {
                let _ = reply.send(result);
            }
        }
        for (before, reply) in prunes {
            let _ = reply.send(prune(&conn, path, before));
        }
    }
}

fn commit(conn: &mut Connection, path: &Path, records: Vec<&Record>) -> Result<(), StoreError> {
    let tx = conn.transaction().map_err(err(path))?;
    for r in records {
        match r {
            Record::Heartbeat { report, received } => put_heartbeat(&tx, report, *received),
            Record::Event { event, received } => put_event(&tx, event, *received),
        }
        .map_err(refused_or(path))?;
    }
    tx.commit().map_err(err(path))
}

/// Data errors (constraint, too big, type mismatch, a value SQLite cannot take) are permanent.
fn refused_or(path: &Path) -> impl Fn(rusqlite::Error) -> StoreError + '_ {
    move |e| match &e {
        rusqlite::Error::SqliteFailure(f, _)
            if matches!(
                f.code,
                rusqlite::ErrorCode::ConstraintViolation
                    | rusqlite::ErrorCode::TooBig
                    | rusqlite::ErrorCode::TypeMismatch
            ) =>
        {
            StoreError::Refused(e.to_string())
        }
        rusqlite::Error::ToSqlConversionFailure(_) => StoreError::Refused(e.to_string()),
        _ => err(path)(e),
    }
}

fn put_heartbeat(tx: &Connection, r: &DeviceReport, now: i64) -> rusqlite::Result<()> {
    let labels = serde_json::to_string(&r.labels).unwrap_or_else(|_| "{}".into());
    tx.prepare_cached(
        "INSERT INTO devices(id, labels, agent_version, uptime_seconds, interval_seconds,
           reported_time, outbox_dropped, first_seen, last_seen, seq) VALUES (?1,?2,?3,?4,?5,?6,?7,?8,?8,
           (SELECT coalesce(max(seq), 0) + 1 FROM devices))
         ON CONFLICT(id) DO UPDATE SET labels=excluded.labels, agent_version=excluded.agent_version,
           uptime_seconds=excluded.uptime_seconds, interval_seconds=excluded.interval_seconds,
           reported_time=excluded.reported_time, outbox_dropped=excluded.outbox_dropped,
           last_seen=excluded.last_seen, seq=excluded.seq",
    )?
    .execute(params![
        r.id,
        labels,
        r.agent_version,
        r.uptime_seconds as i64,
        r.interval_seconds.map(|i| i as i64),
        r.reported_time,
        r.outbox_dropped as i64,
        now
    ])?;
    let mut old: BTreeMap<String, (String, Option<i64>)> = BTreeMap::new();
    {
        let mut q =
            tx.prepare_cached("SELECT name, health, revision FROM syncs WHERE device=?1")?;
        let rows = q.query_map([&r.id], |row| Ok((row.get(0)?, (row.get(1)?, row.get(2)?))))?;
        for row in rows {
            let (k, v) = row?;
            old.insert(k, v);
        }
    }
    // Syncs the device no longer reports go; the others are updated in place (an upsert
    // touches each row and its index entry once, a delete and insert twice).
    for name in old.keys() {
        if !r.syncs.iter().any(|s| &s.name == name) {
            tx.prepare_cached("DELETE FROM syncs WHERE device=?1 AND name=?2")?
                .execute([&r.id, name])?;
        }
    }
    for s in &r.syncs {
        let prev = old.get(&s.name).map(|(h, rev)| {
            (
                SyncHealth::parse(h).unwrap_or(SyncHealth::NeverSynced),
                rev.map(|x| x as u64),
            )
        });
        for c in changes_between(prev, (s.health, s.revision)) {
            let (kind, from, to) = change_columns(&c);
            tx.prepare_cached(
                "INSERT INTO changes(device, sync, time, kind, from_value, to_value) VALUES (?1,?2,?3,?4,?5,?6)",
            )?
            .execute(params![r.id, s.name, now, kind, from, to])?;
        }
        tx.prepare_cached(
            "INSERT INTO syncs(device, name, revision, highest_verified, health, last_error,
               last_success, drift_corrections, source_reachable, source_unreachable_since, waiting)
             VALUES (?1,?2,?3,?4,?5,?6,?7,?8,?9,?10,?11)
             ON CONFLICT(device, name) DO UPDATE SET revision=excluded.revision,
               highest_verified=excluded.highest_verified, health=excluded.health,
               last_error=excluded.last_error, last_success=excluded.last_success,
               drift_corrections=excluded.drift_corrections,
               source_reachable=excluded.source_reachable,
               source_unreachable_since=excluded.source_unreachable_since,
               waiting=excluded.waiting",
        )?
        .execute(params![
            r.id,
            s.name,
            s.revision.map(|x| x as i64),
            s.highest_verified.map(|x| x as i64),
            s.health.as_str(),
            s.last_error,
            s.last_success,
            s.drift_corrections as i64,
            s.source_reachable,
            s.source_unreachable_since,
            s.waiting
        ])?;
    }
    put_site(tx, r)
}

/// Replaces the device's site membership (none when its heartbeat names no site).
fn put_site(tx: &Connection, r: &DeviceReport) -> rusqlite::Result<()> {
    use super::site_rows as rows;
    tx.prepare_cached(&rows::delete("?1"))?.execute([&r.id])?;
    if let Some(s) = &r.site {
        let (leads, rollout) = rows::encode(s);
        tx.prepare_cached(&rows::insert(["?1", "?2", "?3", "?4", "?5", "?6", "?7"]))?
            .execute(params![
                r.id, s.name, s.leading, leads, s.lease, s.leader, rollout
            ])?;
    }
    Ok(())
}

fn put_event(tx: &Connection, e: &EventReport, now: i64) -> rusqlite::Result<()> {
    tx.prepare_cached(
        "INSERT INTO events(device, sync, kind, message, reported_time, received) VALUES (?1,?2,?3,?4,?5,?6)",
    )?
    .execute(params![e.device, e.sync, e.kind, e.message, e.reported_time, now])?;
    Ok(())
}

fn prune(conn: &Connection, path: &Path, before: i64) -> Result<u64, StoreError> {
    let a = conn
        .execute("DELETE FROM events WHERE received < ?1", [before])
        .map_err(err(path))?;
    let b = conn
        .execute("DELETE FROM changes WHERE time < ?1", [before])
        .map_err(err(path))?;
    Ok((a + b) as u64)
}

impl Store for SqliteStore {
    async fn write(&self, records: Vec<Record>) -> Result<(), StoreError> {
        let (tx, rx) = oneshot::channel();
        self.send(Job::Write(records, tx))?;
        rx.await.map_err(|_| StoreError::WriterGone)?
    }

    async fn devices(&self) -> Result<Vec<DeviceRow>, StoreError> {
        self.read(all_devices).await
    }

    async fn changed_since(
        &self,
        seq: i64,
        limit: usize,
    ) -> Result<Vec<(i64, DeviceRow)>, StoreError> {
        self.read(move |c, p| changed_since(c, p, seq, limit)).await
    }

    async fn device(&self, id: &str, limit: usize) -> Result<Option<DeviceDetail>, StoreError> {
        let id = id.to_string();
        self.read(move |c, path| {
            let e = err(path);
            let dev = c
                .query_row(
                    &format!("SELECT {DEVICE_COLUMNS} FROM devices WHERE id=?1"),
                    [&id],
                    device_row,
                )
                .optional()
                .map_err(&e)?;
            let Some(mut device) = dev else {
                return Ok(None);
            };
            device.report.site = c
                .query_row(&super::site_rows::of_device("?1"), [&id], |r| site_at(r, 0))
                .optional()
                .map_err(&e)?
                .flatten();
            let mut q = c
                .prepare(&format!("SELECT {SYNC_COLUMNS} FROM syncs WHERE device=?1 ORDER BY name"))
                .map_err(&e)?;
            device.report.syncs = q
                .query_map([&id], sync_row)
                .map_err(&e)?
                .map(|r| r.map(|(_, s)| s))
                .collect::<Result<_, _>>()
                .map_err(&e)?;
            let mut q = c
                .prepare("SELECT device, sync, time, kind, from_value, to_value FROM changes WHERE device=?1 ORDER BY id DESC LIMIT ?2")
                .map_err(&e)?;
            let raw: Vec<ChangeColumns> = q
                .query_map(params![id, limit as i64], |r| {
                    Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?, r.get(5)?))
                })
                .map_err(&e)?
                .collect::<Result<_, _>>()
                .map_err(&e)?;
            let changes = raw
                .into_iter()
                .map(|(device, sync, time, kind, from, to)| {
                    Ok(Change { device, sync, time, change: change_from_columns(&kind, from, to)? })
                })
                .collect::<Result<_, StoreError>>()?;
            let mut q = c
                .prepare(&format!("SELECT {EVENT_COLUMNS} FROM events WHERE device=?1 ORDER BY id DESC LIMIT ?2"))
                .map_err(&e)?;
            let events = q
                .query_map(params![id, limit as i64], event_row)
                .map_err(&e)?
                .collect::<Result<_, _>>()
                .map_err(&e)?;
            Ok(Some(DeviceDetail { device, changes, events }))
        })
        .await
    }

    async fn recent_events(
        &self,
        kinds: &[&str],
        limit: usize,
    ) -> Result<Vec<StoredEvent>, StoreError> {
        let kinds: Vec<String> = kinds.iter().map(|k| k.to_string()).collect();
        self.read(move |c, path| {
            let e = err(path);
            let marks = vec!["?"; kinds.len()].join(",");
            let mut q = c
                .prepare(&format!(
                    "SELECT {EVENT_COLUMNS} FROM events WHERE kind IN ({marks}) ORDER BY id DESC LIMIT {limit}"
                ))
                .map_err(&e)?;
            let rows = q
                .query_map(rusqlite::params_from_iter(kinds.iter()), event_row)
                .map_err(&e)?
                .collect::<Result<_, _>>()
                .map_err(&e);
            rows
        })
        .await
    }

    async fn prune(&self, before: i64) -> Result<u64, StoreError> {
        let (tx, rx) = oneshot::channel();
        self.send(Job::Prune(before, tx))?;
        rx.await.map_err(|_| StoreError::WriterGone)?
    }
}
