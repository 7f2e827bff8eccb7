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
use super::write::{apply_object, Mode, WritePolicy};
use crate::kube::{Discovery, KubeClient};
// Moved below apply (check, write, wait and prune share them); kept here by their old names.
pub use super::error::ApplyError;
pub use super::livelist::get_live;
pub use super::resolve::info_for;
use std::collections::{BTreeMap, BTreeSet};

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
