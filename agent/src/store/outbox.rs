//! The outbox (notifications and heartbeats queued for delivery, bounded), the counters behind
//! the metrics, and a small key-value table.

use super::{now, Store, StoreError};
use rusqlite::{params, OptionalExtension};

impl Store {
    /// Queues a message for `target`; beyond `limit` entries the oldest are dropped and
    /// counted in `outbox_dropped`. One transaction.
    pub fn enqueue(&self, target: &str, body: &str, limit: usize) -> Result<(), StoreError> {
        let mut c = self.conn();
        let tx = c.transaction()?;
        tx.execute(
            "INSERT INTO outbox(target, body, created) VALUES (?1, ?2, ?3)",
            params![target, body, now()],
        )?;
        let count: i64 = tx.query_row("SELECT COUNT(*) FROM outbox", [], |r| r.get(0))?;
        let excess = count - limit as i64;
        if excess > 0 {
            tx.execute(
                "DELETE FROM outbox WHERE id IN (SELECT id FROM outbox ORDER BY id LIMIT ?1)",
                [excess],
            )?;
            tx.execute("INSERT INTO counters(name, value) VALUES ('outbox_dropped', ?1) ON CONFLICT(name) DO UPDATE SET value = value + ?1", [excess])?;
        }
        tx.commit()?;
        Ok(())
    }

    /// Queued messages, oldest first.
    pub fn outbox(&self, limit: usize) -> Result<Vec<(i64, String, String)>, StoreError> {
        let c = self.conn();
        let mut st = c.prepare("SELECT id, target, body FROM outbox ORDER BY id LIMIT ?1")?;
        let rows = st.query_map([limit as i64], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    pub fn outbox_done(&self, id: i64) -> Result<(), StoreError> {
        self.conn()
            .execute("DELETE FROM outbox WHERE id=?1", [id])?;
        Ok(())
    }

    /// Removes a message its receiver refused for good, counted in `outbox_refused`. One
    /// transaction.
    pub fn outbox_refused(&self, id: i64) -> Result<(), StoreError> {
        let mut c = self.conn();
        let tx = c.transaction()?;
        tx.execute("DELETE FROM outbox WHERE id=?1", [id])?;
        tx.execute("INSERT INTO counters(name, value) VALUES ('outbox_refused', 1) ON CONFLICT(name) DO UPDATE SET value = value + 1", [])?;
        tx.commit()?;
        Ok(())
    }

    pub fn outbox_failed(&self, id: i64) -> Result<(), StoreError> {
        self.conn().execute(
            "UPDATE outbox SET attempts = attempts + 1 WHERE id=?1",
            [id],
        )?;
        Ok(())
    }

    pub fn outbox_len(&self) -> Result<i64, StoreError> {
        Ok(self
            .conn()
            .query_row("SELECT COUNT(*) FROM outbox", [], |r| r.get(0))?)
    }

    pub fn add_counter(&self, name: &str, by: i64) -> Result<(), StoreError> {
        self.conn().execute("INSERT INTO counters(name, value) VALUES (?1, ?2) ON CONFLICT(name) DO UPDATE SET value = value + ?2", params![name, by])?;
        Ok(())
    }

    /// Every counter, by name.
    pub fn counters(&self) -> Result<Vec<(String, i64)>, StoreError> {
        let c = self.conn();
        let mut st = c.prepare("SELECT name, value FROM counters ORDER BY name")?;
        let rows = st.query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    pub fn kv_get(&self, key: &str) -> Result<Option<String>, StoreError> {
        Ok(self
            .conn()
            .query_row("SELECT value FROM kv WHERE key=?1", [key], |r| r.get(0))
            .optional()?)
    }

    pub fn kv_set(&self, key: &str, value: &str) -> Result<(), StoreError> {
        self.conn().execute(
            "INSERT INTO kv(key, value) VALUES (?1, ?2) ON CONFLICT(key) DO UPDATE SET value=?2",
            params![key, value],
        )?;
        Ok(())
    }
}
