//! What a follower verified and cached for a takeover, per sync, in the state store (one row:
//! `<revision> <digest> <cursor>`): the new leader applies it from there, and the node's relay
//! offers it to the leader when it is newer than what this node applied (a USB drop on a
//! follower reaches the leader this way; the leader verifies it itself).

use crate::store::{Store, StoreError};

fn key(sync: &str) -> String {
    format!("site_cached|{sync}")
}

/// A revision a follower verified and cached.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cached {
    pub revision: u64,
    pub digest: String,
    pub cursor: String,
}

/// The cached revision of `sync`, if any (an unreadable row counts as none).
pub fn get(store: &Store, sync: &str) -> Option<Cached> {
    let v = store.kv_get(&key(sync)).ok().flatten()?;
    let mut it = v.splitn(3, ' ');
    Some(Cached {
        revision: it.next()?.parse().ok()?,
        digest: it.next()?.to_string(),
        cursor: it.next().unwrap_or_default().to_string(),
    })
}

/// Records what was verified and cached.
pub fn put(store: &Store, sync: &str, c: &Cached) -> Result<(), StoreError> {
    store.kv_set(
        &key(sync),
        &format!("{} {} {}", c.revision, c.digest, c.cursor),
    )
}

/// The digest a relay serves for `sync`: the applied revision's, or a newer cached one's.
pub fn served_digest(store: &Store, sync: &str) -> Option<String> {
    let good = store.sync_state(sync).ok().and_then(|s| s.good);
    match (good, get(store, sync)) {
        (Some(g), Some(c)) if c.revision > g.revision => Some(c.digest),
        (Some(g), _) => Some(g.digest),
        (None, Some(c)) => Some(c.digest),
        (None, None) => None,
    }
}
