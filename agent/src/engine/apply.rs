//! Apply (executor): resolve kinds, then server-side apply a stage's objects, a bounded number
//! at a time. Objects whose content matches the inventory are applied only when the drift
//! check (`check`) found them changed on the server: a sync that changes nothing writes
//! nothing.

use super::changeset::{Action, ChangeSet};
use super::check::{Checked, Finding};
use super::drift::LiveRecord;
use super::health::settled_by_write;
use super::object::{DesiredObject, ObjectId};
use super::ownership::Yielded;
use super::parallel::map_bounded;
use super::write::{apply_object, Mode, WriteError, WritePolicy};
use crate::kube::{Discovery, KubeClient, KubeError, ResourceInfo};
use kube::core::params::GetParams;
use kube::core::Request;
use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet};
use thiserror::Error;

/// Why objects could not be applied.
#[derive(Debug, Error)]
pub enum ApplyError {
    #[error("{origin}: {kind} ({api_version}) is not served by the cluster and no CRD in this bundle defines it")]
    UnknownKind {
        origin: String,
        api_version: String,
        kind: String,
    },
    #[error("{origin}: {kind}/{name} is also defined in {other}")]
    Duplicate {
        origin: String,
        kind: String,
        name: String,
        other: String,
    },
    #[error("apply {id} ({origin}): {source}")]
    Kube {
        id: ObjectId,
        origin: String,
        source: KubeError,
    },
    #[error(transparent)]
    Write(#[from] WriteError),
    #[error("discovery of {api_version}: {source}")]
    Discovery {
        api_version: String,
        source: KubeError,
    },
}

/// The resource info of a desired object (after its CRD is established).
pub fn info_for(
    client: &KubeClient,
    discovery: &Discovery,
    d: &DesiredObject,
) -> Result<ResourceInfo, ApplyError> {
    discovery
        .resolve(client, &d.api_version, &d.id.kind)
        .map_err(|source| ApplyError::Discovery {
            api_version: d.api_version.clone(),
            source,
        })?
        .ok_or_else(|| ApplyError::UnknownKind {
            origin: d.origin.clone(),
            api_version: d.api_version.clone(),
            kind: d.id.kind.clone(),
        })
}

/// GETs a live object; None when it does not exist.
pub fn get_live(
    client: &KubeClient,
    info: &ResourceInfo,
    namespace: &str,
    name: &str,
) -> Result<Option<Value>, KubeError> {
    let ns = (!namespace.is_empty()).then_some(namespace);
    let req = Request::new(info.url_path(ns))
        .get(name, &GetParams::default())
        .map_err(|e| KubeError::Request {
            what: name.into(),
            reason: e.to_string(),
        })?;
    match client.send(req) {
        Ok(v) => Ok(Some(v)),
        Err(e) if e.is_not_found() => Ok(None),
        Err(e) => Err(e),
    }
}

/// A record of what the server returned for one applied object.
#[derive(Debug, Clone)]
pub struct Recorded {
    pub id: ObjectId,
    pub record: LiveRecord,
}

/// A field left to another manager, on one object.
#[derive(Debug, Clone)]
pub struct ObjectYield {
    pub id: ObjectId,
    pub yielded: Yielded,
}

/// Everything a stage needs.
pub struct StageContext<'a> {
    pub client: &'a KubeClient,
    pub discovery: &'a Discovery,
    pub policy: &'a WritePolicy,
    pub in_inventory: &'a BTreeSet<ObjectId>,
    /// Objects whose content matches the inventory: applied only when the check says so.
    pub same_content: &'a BTreeSet<ObjectId>,
    pub checked: &'a BTreeMap<ObjectId, Checked>,
    pub concurrency: usize,
}

/// What a stage did.
#[derive(Debug, Default)]
pub struct StageOutcome {
    pub changes: ChangeSet,
    pub records: Vec<Recorded>,
    pub yielded: Vec<ObjectYield>,
    /// Objects applied because they drifted.
    pub drifted: Vec<DriftNote>,
    /// Objects whose health the write's answer (`health::settled_by_write`) or, left
    /// unwritten, the check's LIST (`Checked::settled`) settled: the wait needs no GET of them.
    pub settled: BTreeSet<ObjectId>,
}

/// An object applied because it drifted, with the first differing path (or why).
#[derive(Debug, Clone)]
pub struct DriftNote {
    pub id: ObjectId,
    pub path: String,
}

/// What applying one object did.
struct ObjectOutcome {
    action: Action,
    record: Option<LiveRecord>,
    conflicts: Vec<Yielded>,
    drift: Option<String>,
    settled: bool,
}

/// Applies one stage, a bounded number of objects at a time. Created/Configured is relative
/// to ferry's inventory.
pub fn apply_stage(
    ctx: &StageContext,
    objects: &[DesiredObject],
) -> Result<StageOutcome, ApplyError> {
    let results = map_bounded(objects, ctx.concurrency, |d| apply_checked(ctx, d));
    let mut out = StageOutcome::default();
    for (i, r) in results {
        let id = objects[i].id.clone();
        let o = r?;
        out.changes.push(id.clone(), o.action);
        if let Some(record) = o.record {
            out.records.push(Recorded {
                id: id.clone(),
                record,
            });
        }
        if o.settled {
            out.settled.insert(id.clone());
        }
        if let Some(path) = o.drift {
            out.drifted.push(DriftNote {
                id: id.clone(),
                path,
            });
        }
        let known = ctx
            .checked
            .get(&id)
            .map(|c| c.yielded.clone())
            .unwrap_or_default();
        for y in known.into_iter().chain(o.conflicts) {
            out.yielded.push(ObjectYield {
                id: id.clone(),
                yielded: y,
            });
        }
    }
    Ok(out)
}

fn apply_checked(ctx: &StageContext, d: &DesiredObject) -> Result<ObjectOutcome, ApplyError> {
    let checked = ctx.checked.get(&d.id);
    let mut existed = ctx.in_inventory.contains(&d.id);
    let mut drift = None;
    if let Some(Finding::Finished) = checked.map(|c| &c.finding) {
        // A Job that ran for this very content and is gone: done, not run again.
        return Ok(ObjectOutcome {
            action: Action::Unchanged,
            record: None,
            conflicts: Vec::new(),
            drift: None,
            settled: false,
        });
    }
    if ctx.same_content.contains(&d.id) {
        match checked.map(|c| &c.finding) {
            Some(Finding::Clean) => {
                return Ok(ObjectOutcome {
                    action: Action::Unchanged,
                    record: None,
                    conflicts: Vec::new(),
                    drift: None,
                    settled: checked.is_some_and(|c| c.settled),
                })
            }
            Some(Finding::Moved(r)) => {
                return Ok(ObjectOutcome {
                    action: Action::Unchanged,
                    record: Some(r.clone()),
                    conflicts: Vec::new(),
                    drift: None,
                    settled: checked.is_some_and(|c| c.settled),
                })
            }
            Some(Finding::Drifted { path, .. }) => drift = Some(path.clone()),
            Some(Finding::Missing) => {
                drift = Some("missing".into());
                existed = false;
            }
            Some(Finding::Replaced) => drift = Some("re-created by someone else".into()),
            Some(Finding::Changed | Finding::Finished) | None => {}
        }
    }
    let info = info_for(ctx.client, ctx.discovery, d)?;
    let yielded: Vec<_> = checked
        .map(|c| c.yielded.iter().map(|y| y.path.clone()).collect())
        .unwrap_or_default();
    let written = apply_object(
        ctx.client,
        ctx.discovery,
        &info,
        d,
        &yielded,
        ctx.policy,
        Mode::Real,
    )?;
    crate::fault::count("apply-object");
    Ok(ObjectOutcome {
        action: if existed && !written.recreated {
            Action::Configured
        } else {
            Action::Created
        },
        record: LiveRecord::of(&written.live).map(|r| r.for_content(&d.hash)),
        conflicts: written.conflicts,
        drift,
        settled: settled_by_write(&d.id.group, &d.id.kind, &written.live),
    })
}
