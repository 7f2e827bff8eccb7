//! Prune (executor): delete what the last inventory applied and the new revision dropped, in
//! reverse order, and only objects that carry this sync's label (never what ferry does not own).

use super::changeset::{Action, ChangeSet};
use super::object::InventoryEntry;
use super::{PRUNE_ANNOTATION, SYNC_LABEL};
use crate::kube::{Discovery, KubeClient, KubeError};
use kube::core::params::DeleteParams;
use kube::core::Request;
use thiserror::Error;

/// Why pruning stopped.
#[derive(Debug, Error)]
#[error("prune {id}: {source}")]
pub struct PruneError {
    pub id: super::object::ObjectId,
    pub source: KubeError,
}

/// Deletes `entries` (already in delete order) that still exist and belong to `sync`.
pub fn prune(
    client: &KubeClient,
    discovery: &Discovery,
    sync: &str,
    entries: &[InventoryEntry],
) -> Result<ChangeSet, PruneError> {
    let mut cs = ChangeSet::default();
    for e in entries {
        let perr = |source| PruneError {
            id: e.id.clone(),
            source,
        };
        let Some(info) = discovery
            .resolve(client, &e.api_version, &e.id.kind)
            .map_err(perr)?
        else {
            // The kind is gone (its CRD was pruned first or removed): so is the object.
            cs.push(e.id.clone(), Action::Deleted);
            continue;
        };
        let live =
            super::apply::get_live(client, &info, &e.id.namespace, &e.id.name).map_err(perr)?;
        let Some(live) = live else {
            cs.push(e.id.clone(), Action::Deleted);
            continue;
        };
        let owned = live["metadata"]["labels"][SYNC_LABEL] == sync;
        let disabled = live["metadata"]["annotations"][PRUNE_ANNOTATION] == "disabled";
        if !owned || disabled {
            tracing::info!(object = %e.id, owned, disabled, "not pruning");
            cs.push(e.id.clone(), Action::Skipped);
            continue;
        }
        let ns = (!e.id.namespace.is_empty()).then_some(e.id.namespace.as_str());
        let req = Request::new(info.url_path(ns))
            .delete(&e.id.name, &DeleteParams::background())
            .map_err(|err| {
                perr(KubeError::Request {
                    what: e.id.to_string(),
                    reason: err.to_string(),
                })
            })?;
        match client.send(req) {
            Ok(_) => {
                cs.push(e.id.clone(), Action::Deleted);
                crate::fault::count("prune-object");
            }
            Err(err) if err.is_not_found() => cs.push(e.id.clone(), Action::Deleted),
            Err(err) => return Err(perr(err)),
        }
    }
    Ok(cs)
}
