//! The sign-in tables in the fleet's own database (SQLite or PostgreSQL, one schema for both,
//! created beside the device tables) and a tiny SQL runner over either: statements use `$1..`
//! placeholders (SQLite takes them as numbered parameters) and only text and integer values.
//! Sign-in traffic is small (one session read per page), so this keeps its own connection:
//! one SQLite connection behind a mutex on the blocking pool, or one PostgreSQL client.

use crate::config::StoreConfig;
use crate::store::schema::Dialect;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use thiserror::Error;

#[derive(Debug, Error)]
pub enum DbError {
    #[error("sqlite {path}: {reason}")]
    Sqlite { path: String, reason: String },
    #[error("postgres: {0}")]
    Postgres(String),
    #[error("{0} already exists")]
    Exists(String),
    #[error("no {0}")]
    Missing(String),
    #[error("stored row unreadable: {0}")]
    Corrupt(String),
}

/// Schema version of the sign-in tables (`fleet_schema` row `signin`).
pub const VERSION: i64 = 1;

/// The sign-in tables (idempotent; recorded in `fleet_schema`).
pub fn ddl(d: Dialect) -> String {
    let int = match d {
        Dialect::Sqlite => "INTEGER",
        Dialect::Postgres => "BIGINT",
    };
    format!(
        "
CREATE TABLE IF NOT EXISTS fleet_schema(part TEXT PRIMARY KEY, version {int} NOT NULL);
CREATE TABLE IF NOT EXISTS users(name TEXT PRIMARY KEY, role TEXT NOT NULL,
  password_hash TEXT NOT NULL, created {int} NOT NULL);
CREATE TABLE IF NOT EXISTS sessions(id_hash TEXT PRIMARY KEY, user_name TEXT NOT NULL,
  role TEXT NOT NULL, created {int} NOT NULL, last_used {int} NOT NULL);
CREATE INDEX IF NOT EXISTS sessions_user ON sessions(user_name);
CREATE TABLE IF NOT EXISTS api_tokens(name TEXT PRIMARY KEY, role TEXT NOT NULL,
  token_hash TEXT NOT NULL UNIQUE, created {int} NOT NULL);
CREATE TABLE IF NOT EXISTS retired(device TEXT PRIMARY KEY, time {int} NOT NULL,
  by_user TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS oidc_pending(state_hash TEXT PRIMARY KEY, verifier TEXT NOT NULL,
  nonce TEXT NOT NULL, return_to TEXT NOT NULL, expires {int} NOT NULL);
INSERT INTO fleet_schema(part, version) VALUES ('signin', {VERSION})
  ON CONFLICT(part) DO NOTHING;
"
    )
}

/// A value bound to or read from a statement.
#[derive(Debug, Clone, PartialEq)]
pub enum Val {
    T(String),
    I(i64),
    Null,
}

impl Val {
    pub fn text(&self) -> Result<&str, DbError> {
        match self {
            Val::T(s) => Ok(s),
            v => Err(DbError::Corrupt(format!("expected text, got {v:?}"))),
        }
    }
    pub fn int(&self) -> Result<i64, DbError> {
        match self {
            Val::I(i) => Ok(*i),
            v => Err(DbError::Corrupt(format!("expected an integer, got {v:?}"))),
        }
    }
}

impl From<&str> for Val {
    fn from(s: &str) -> Self {
        Val::T(s.to_string())
    }
}
impl From<String> for Val {
    fn from(s: String) -> Self {
        Val::T(s)
    }
}
impl From<i64> for Val {
    fn from(i: i64) -> Self {
        Val::I(i)
    }
}

/// A statement and its parameters.
pub type Stmt = (&'static str, Vec<Val>);

/// The connection the sign-in tables are reached through.
#[derive(Clone)]
pub enum Db {
    Sqlite {
        path: PathBuf,
        conn: Arc<Mutex<rusqlite::Connection>>,
    },
    Postgres(Arc<tokio::sync::Mutex<tokio_postgres::Client>>),
}

fn lite(path: &Path) -> impl Fn(rusqlite::Error) -> DbError + '_ {
    move |e| DbError::Sqlite {
        path: path.display().to_string(),
        reason: e.to_string(),
    }
}

fn pg(e: tokio_postgres::Error) -> DbError {
    match e.as_db_error() {
        Some(db) => DbError::Postgres(format!("{e}: {}", db.message())),
        None => DbError::Postgres(e.to_string()),
    }
}

impl Db {
    /// Opens the store's database and creates the sign-in tables.
    pub async fn open(store: &StoreConfig) -> Result<Db, DbError> {
        match store {
            StoreConfig::Sqlite(path) => {
                let c = rusqlite::Connection::open(path).map_err(lite(path))?;
                c.execute_batch(
                    "PRAGMA journal_mode=WAL; PRAGMA synchronous=FULL; PRAGMA busy_timeout=10000;",
                )
                .map_err(lite(path))?;
                c.execute_batch(&ddl(Dialect::Sqlite)).map_err(lite(path))?;
                Ok(Db::Sqlite {
                    path: path.clone(),
                    conn: Arc::new(Mutex::new(c)),
                })
            }
            StoreConfig::Postgres(url) => {
                let (client, conn) = tokio_postgres::connect(url, tokio_postgres::NoTls)
                    .await
                    .map_err(pg)?;
                tokio::spawn(async move {
                    if let Err(e) = conn.await {
                        tracing::error!("postgres (sign-in): {e}");
                    }
                });
                client
                    .batch_execute(&ddl(Dialect::Postgres))
                    .await
                    .map_err(pg)?;
                Ok(Db::Postgres(Arc::new(tokio::sync::Mutex::new(client))))
            }
        }
    }

    /// Runs the statements in one transaction; returns the rows each changed.
    pub async fn exec(&self, stmts: Vec<Stmt>) -> Result<Vec<u64>, DbError> {
        match self {
            Db::Sqlite { path, conn } => {
                let (path, conn) = (path.clone(), conn.clone());
                blocking(move || {
                    let e = lite(&path);
                    let mut c = conn.lock().map_err(|_| DbError::Corrupt("lock".into()))?;
                    let tx = c.transaction().map_err(&e)?;
                    let mut counts = Vec::new();
                    for (sql, params) in &stmts {
                        let n = tx
                            .execute(sql, rusqlite::params_from_iter(params.iter().map(to_lite)))
                            .map_err(&e)?;
                        counts.push(n as u64);
                    }
                    tx.commit().map_err(&e)?;
                    Ok(counts)
                })
                .await
            }
            Db::Postgres(client) => {
                let mut client = client.lock().await;
                let tx = client.transaction().await.map_err(pg)?;
                let mut counts = Vec::new();
                for (sql, params) in &stmts {
                    let owned: Vec<Box<dyn tokio_postgres::types::ToSql + Sync + Send>> =
                        params.iter().map(to_pg).collect();
                    let refs: Vec<&(dyn tokio_postgres::types::ToSql + Sync)> =
                        owned.iter().map(|b| b.as_ref() as _).collect();
                    counts.push(tx.execute(*sql, &refs).await.map_err(pg)?);
                }
                tx.commit().await.map_err(pg)?;
                Ok(counts)
            }
        }
    }

    /// Runs a query; each row as its values (integers as [`Val::I`], text as [`Val::T`]).
    pub async fn query(
        &self,
        sql: &'static str,
        params: Vec<Val>,
    ) -> Result<Vec<Vec<Val>>, DbError> {
        match self {
            Db::Sqlite { path, conn } => {
                let (path, conn) = (path.clone(), conn.clone());
                blocking(move || {
                    let e = lite(&path);
                    let c = conn.lock().map_err(|_| DbError::Corrupt("lock".into()))?;
                    let mut q = c.prepare_cached(sql).map_err(&e)?;
                    let n = q.column_count();
                    let rows = q
                        .query_map(
                            rusqlite::params_from_iter(params.iter().map(to_lite)),
                            |r| {
                                (0..n)
                                    .map(|i| {
                                        Ok(match r.get_ref(i)? {
                                            rusqlite::types::ValueRef::Integer(v) => Val::I(v),
                                            rusqlite::types::ValueRef::Text(t) => {
                                                Val::T(String::from_utf8_lossy(t).into_owned())
                                            }
                                            _ => Val::Null,
                                        })
                                    })
                                    .collect::<rusqlite::Result<Vec<Val>>>()
                            },
                        )
                        .map_err(&e)?
                        .collect::<Result<Vec<_>, _>>()
                        .map_err(&e)?;
                    Ok(rows)
                })
                .await
            }
            Db::Postgres(client) => {
                let client = client.lock().await;
                let owned: Vec<Box<dyn tokio_postgres::types::ToSql + Sync + Send>> =
                    params.iter().map(to_pg).collect();
                let refs: Vec<&(dyn tokio_postgres::types::ToSql + Sync)> =
                    owned.iter().map(|b| b.as_ref() as _).collect();
                let rows = client.query(sql, &refs).await.map_err(pg)?;
                rows.iter()
                    .map(|r| {
                        (0..r.len())
                            .map(|i| {
                                if *r.columns()[i].type_() == tokio_postgres::types::Type::INT8 {
                                    r.try_get::<_, Option<i64>>(i)
                                        .map(|v| v.map(Val::I).unwrap_or(Val::Null))
                                } else {
                                    r.try_get::<_, Option<String>>(i)
                                        .map(|v| v.map(Val::T).unwrap_or(Val::Null))
                                }
                                .map_err(pg)
                            })
                            .collect()
                    })
                    .collect()
            }
        }
    }
}

async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, DbError> + Send + 'static,
) -> Result<T, DbError> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| DbError::Corrupt(format!("sqlite task: {e}")))?
}

fn to_lite(v: &Val) -> rusqlite::types::Value {
    match v {
        Val::T(s) => rusqlite::types::Value::Text(s.clone()),
        Val::I(i) => rusqlite::types::Value::Integer(*i),
        Val::Null => rusqlite::types::Value::Null,
    }
}

fn to_pg(v: &Val) -> Box<dyn tokio_postgres::types::ToSql + Sync + Send> {
    match v {
        Val::T(s) => Box::new(s.clone()),
        Val::I(i) => Box::new(*i),
        Val::Null => Box::new(None::<String>),
    }
}
