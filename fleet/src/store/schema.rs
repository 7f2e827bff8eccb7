//! The tables both stores keep, written once: the SQL differs between SQLite and PostgreSQL
//! only in column types, which [`Dialect`] names.

/// Most records one grouped commit takes (both stores).
pub const MAX_GROUP: usize = 1000;

/// The database the schema is written for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dialect {
    Sqlite,
    Postgres,
}

impl Dialect {
    /// A 64-bit integer column.
    fn int(self) -> &'static str {
        match self {
            Dialect::Sqlite => "INTEGER",
            Dialect::Postgres => "BIGINT",
        }
    }
    /// An increasing row id.
    fn serial(self) -> &'static str {
        match self {
            Dialect::Sqlite => "INTEGER PRIMARY KEY",
            Dialect::Postgres => "BIGSERIAL PRIMARY KEY",
        }
    }
    /// A boolean column (SQLite stores 0/1).
    fn boolean(self) -> &'static str {
        match self {
            Dialect::Sqlite => "INTEGER",
            Dialect::Postgres => "BOOLEAN",
        }
    }
}

/// The `CREATE TABLE/INDEX IF NOT EXISTS` statements for `dialect`.
pub fn ddl(dialect: Dialect) -> String {
    let (int, serial, boolean) = (dialect.int(), dialect.serial(), dialect.boolean());
    format!(
        "
CREATE TABLE IF NOT EXISTS devices(id TEXT PRIMARY KEY, labels TEXT NOT NULL,
  agent_version TEXT NOT NULL, uptime_seconds {int} NOT NULL, interval_seconds {int},
  reported_time TEXT NOT NULL, outbox_dropped {int} NOT NULL, first_seen {int} NOT NULL,
  last_seen {int} NOT NULL, seq {int} NOT NULL DEFAULT 0);
CREATE TABLE IF NOT EXISTS syncs(device TEXT NOT NULL, name TEXT NOT NULL, revision {int},
  highest_verified {int}, health TEXT NOT NULL, last_error TEXT, last_success TEXT,
  drift_corrections {int} NOT NULL, source_reachable {boolean} NOT NULL,
  source_unreachable_since TEXT, waiting TEXT, PRIMARY KEY(device, name));
CREATE TABLE IF NOT EXISTS changes(id {serial}, device TEXT NOT NULL,
  sync TEXT NOT NULL, time {int} NOT NULL, kind TEXT NOT NULL, from_value TEXT, to_value TEXT);
CREATE INDEX IF NOT EXISTS changes_device ON changes(device, id);
CREATE INDEX IF NOT EXISTS changes_time ON changes(time);
CREATE TABLE IF NOT EXISTS events(id {serial}, device TEXT NOT NULL,
  sync TEXT NOT NULL, kind TEXT NOT NULL, message TEXT NOT NULL, reported_time TEXT NOT NULL,
  received {int} NOT NULL);
CREATE INDEX IF NOT EXISTS events_device ON events(device, id);
CREATE INDEX IF NOT EXISTS events_kind ON events(kind, id);
CREATE INDEX IF NOT EXISTS events_received ON events(received);
"
    )
}

/// Statements run after [`ddl`] (each on its own; an error of the first one, the column that
/// databases made before it already have, is ignored). `seq` orders device rows by their last
/// write, so a receiver can read what others sharing the database wrote
/// ([`crate::store::Store::changed_since`]). Then the site members table
/// ([`super::site_rows`]).
pub fn migrations(dialect: Dialect) -> Vec<String> {
    let first = match dialect {
        Dialect::Sqlite => [
            "ALTER TABLE devices ADD COLUMN seq INTEGER NOT NULL DEFAULT 0",
            "CREATE INDEX IF NOT EXISTS devices_seq ON devices(seq)",
            "SELECT 1",
        ],
        Dialect::Postgres => [
            "ALTER TABLE devices ADD COLUMN IF NOT EXISTS seq BIGINT NOT NULL DEFAULT 0",
            "CREATE INDEX IF NOT EXISTS devices_seq ON devices(seq)",
            "CREATE SEQUENCE IF NOT EXISTS device_seq",
        ],
    };
    let mut all: Vec<String> = first.iter().map(|s| s.to_string()).collect();
    all.extend(super::site_rows::migrations(dialect.boolean()));
    all
}

/// Device rows written after `seq` $1 (at most $2 devices, by seq) with their syncs, in one
/// statement (one snapshot): device columns, `seq`, the sync columns (NULL without syncs), then
/// the site columns from 21 (NULL without a site).
pub fn changed_since(p1: &str, p2: &str) -> String {
    format!(
        "SELECT d.id, d.labels, d.agent_version, d.uptime_seconds, d.interval_seconds,
   d.reported_time, d.outbox_dropped, d.first_seen, d.last_seen, d.seq, s.device, s.name,
   s.revision, s.highest_verified, s.health, s.last_error, s.last_success, s.drift_corrections,
   s.source_reachable, s.source_unreachable_since, s.waiting, {}
 FROM (SELECT * FROM devices WHERE seq > {p1} ORDER BY seq LIMIT {p2}) d
 LEFT JOIN syncs s ON s.device = d.id LEFT JOIN site_members m ON m.device = d.id
 ORDER BY d.seq, s.name",
        super::site_rows::COLUMNS
    )
}

/// Appends `(seq, device, sync)` rows (ordered by seq) to devices, one per seq.
pub(crate) fn fold_changed(
    out: &mut Vec<(i64, super::DeviceRow)>,
    seq: i64,
    device: impl FnOnce() -> super::DeviceRow,
    sync: Option<crate::model::SyncReport>,
) {
    if out.last().is_none_or(|(s, _)| *s != seq) {
        out.push((seq, device()));
    }
    if let (Some(sync), Some((_, d))) = (sync, out.last_mut()) {
        d.report.syncs.push(sync);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_dialects_differ_only_in_column_types() {
        let lite = ddl(Dialect::Sqlite);
        let pg = ddl(Dialect::Postgres);
        assert!(lite.contains("changes(id INTEGER PRIMARY KEY,"));
        assert!(pg.contains("changes(id BIGSERIAL PRIMARY KEY,"));
        assert!(pg.contains("source_reachable BOOLEAN NOT NULL"));
        assert_eq!(
            lite.replace("INTEGER PRIMARY KEY", "#")
                .replace("INTEGER", "int"),
            pg.replace("BIGSERIAL PRIMARY KEY", "#")
                .replace("BIGINT", "int")
                .replace("BOOLEAN", "int")
        );
    }
}
