//! Prune (executor): delete what the last inventory applied and the new revision dropped, in
//! reverse order, and only objects that carry this sync's label (never what ferry does not own).
//! An object counts as deleted once the server no longer has it: finalizers are waited for
//! (bounded, on the client's clock); an object whose kind the cluster no longer serves is
//! reported, not counted.

use super::changeset::{Action, ChangeSet};
use super::object::{InventoryEntry, ObjectId};
use super::{PRUNE_ANNOTATION, SYNC_LABEL};
use crate::kube::{Discovery, KubeClient, KubeError};
use kube::core::params::DeleteParams;
use kube::core::Request;
use std::collections::BTreeSet;
use std::time::Duration;
use thiserror::Error;

/// Why pruning stopped.
#[derive(Debug, Error)]
#[error("prune {id}: {source}")]
pub struct PruneError {
    pub id: ObjectId,
    pub source: KubeError,
}

/// Why a pruned object is not counted as deleted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NotDeleted {
    /// The cluster no longer serves its kind: ferry cannot tell whether it still exists.
    KindNotServed { api_version: String },
    /// Deleted, but finalizers still hold it after the wait.
    StillTerminating { finalizers: String },
}

/// A pruned object that is not (known to be) gone.
#[derive(Debug, Clone)]
pub struct PruneNote {
    pub id: ObjectId,
    pub why: NotDeleted,
}

/// What a prune did.
#[derive(Debug, Default)]
pub struct PruneOutcome {
    pub changes: ChangeSet,
    pub notes: Vec<PruneNote>,
}

/// Deletes `entries` (already in delete order) that still exist and belong to `sync`, waiting
/// up to `timeout` (polling every `poll`) for each to be gone.
pub fn prune(
    client: &KubeClient,
    discovery: &Discovery,
    sync: &str,
    entries: &[InventoryEntry],
    timeout: Duration,
    poll: Duration,
) -> Result<PruneOutcome, PruneError> {
    let mut out = PruneOutcome::default();
    let clock = client.clock();
    let started = clock.now();
    for e in entries {
        let perr = |source| PruneError {
            id: e.id.clone(),
            source,
        };
        let mut info = discovery
            .resolve(client, &e.api_version, &e.id.kind)
            .map_err(perr)?;
        if info.is_none() {
            // Maybe the cache is stale: ask again before concluding the kind is gone.
            discovery.invalidate(&BTreeSet::from([e.api_version.clone()]));
            info = discovery
                .resolve(client, &e.api_version, &e.id.kind)
                .map_err(perr)?;
        }
        let Some(info) = info else {
            out.changes.push(e.id.clone(), Action::Skipped);
            out.notes.push(PruneNote {
                id: e.id.clone(),
                why: NotDeleted::KindNotServed {
                    api_version: e.api_version.clone(),
                },
            });
            continue;
        };
        let live =
            super::livelist::get_live(client, &info, &e.id.namespace, &e.id.name).map_err(perr)?;
        let Some(live) = live else {
            out.changes.push(e.id.clone(), Action::Deleted);
            continue;
        };
        let owned = live["metadata"]["labels"][SYNC_LABEL] == sync;
        let disabled = live["metadata"]["annotations"][PRUNE_ANNOTATION] == "disabled";
        if !owned || disabled {
            tracing::info!(object = %e.id, owned, disabled, "not pruning");
            out.changes.push(e.id.clone(), Action::Skipped);
            continue;
        }
        let ns = (!e.id.namespace.is_empty()).then_some(e.id.namespace.as_str());
        if live["metadata"]["deletionTimestamp"].is_null() {
            let req = Request::new(info.url_path(ns))
                .delete(&e.id.name, &DeleteParams::background())
                .map_err(|err| {
                    perr(KubeError::Request {
                        what: e.id.to_string(),
                        reason: err.to_string(),
                    })
                })?;
            match client.send(req) {
                Ok(_) => crate::fault::count("prune-object"),
                Err(err) if err.is_not_found() => {}
                Err(err) => return Err(perr(err)),
            }
        }
        // Gone only when the server says so (finalizers run first).
        loop {
            match super::livelist::get_live(client, &info, &e.id.namespace, &e.id.name)
                .map_err(perr)?
            {
                None => {
                    out.changes.push(e.id.clone(), Action::Deleted);
                    break;
                }
                Some(still) if clock.now().duration_since(started) >= timeout => {
                    out.changes.push(e.id.clone(), Action::Skipped);
                    out.notes.push(PruneNote {
                        id: e.id.clone(),
                        why: NotDeleted::StillTerminating {
                            finalizers: still["metadata"]["finalizers"].to_string(),
                        },
                    });
                    break;
                }
                Some(_) => clock.sleep(poll),
            }
        }
    }
    Ok(out)
}
