//! Verified manifests kept for rollbacks (re-rendered from the blob cache), and retention of
//! history and of those manifests.

use super::{now, Store, StoreError};
use rusqlite::{params, OptionalExtension};

/// A stored manifest and its signature.
pub type StoredBundle = (Vec<u8>, Option<String>);

impl Store {
    /// Keeps a verified manifest (and signature) so rollbacks can re-render from the cache.
    pub fn put_bundle(
        &self,
        digest: &str,
        sync: &str,
        revision: u64,
        manifest: &[u8],
        signature: Option<&str>,
    ) -> Result<(), StoreError> {
        let c = self.conn();
        c.execute(
            "INSERT OR IGNORE INTO bundles(digest, sync, revision, manifest, signature, stored) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
            params![digest, sync, revision as i64, manifest, signature, now()],
        )?;
        Ok(())
    }

    pub fn bundle(&self, digest: &str) -> Result<Option<StoredBundle>, StoreError> {
        let c = self.conn();
        Ok(c.query_row(
            "SELECT manifest, signature FROM bundles WHERE digest=?1",
            [digest],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .optional()?)
    }

    /// Keeps the newest `keep` attempts per sync (and always the good one); returns the bundle
    /// digests still referenced, for the blob cache's garbage collection.
    pub fn apply_retention(&self, keep: usize) -> Result<Vec<String>, StoreError> {
        let mut c = self.conn();
        let tx = c.transaction()?;
        tx.execute(
            "DELETE FROM revisions WHERE id IN (
               SELECT id FROM (SELECT id, sync, ROW_NUMBER() OVER (PARTITION BY sync ORDER BY id DESC) AS n FROM revisions) WHERE n > ?1)
             AND id NOT IN (SELECT good_attempt FROM syncs WHERE good_attempt IS NOT NULL)
             AND state != 'applying'",
            [keep as i64],
        )?;
        tx.execute(
            "DELETE FROM bundles WHERE digest NOT IN (SELECT digest FROM revisions)",
            [],
        )?;
        let digests: Vec<String> = {
            let mut st = tx.prepare("SELECT digest FROM bundles")?;
            let d = st.query_map([], |r| r.get(0))?.collect::<Result<_, _>>()?;
            d
        };
        tx.commit()?;
        Ok(digests)
    }
}
