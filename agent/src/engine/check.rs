//! The drift check (executor over the pure rules of `drift` and `ownership`): one
//! metadata-only LIST per kind and namespace; objects whose resourceVersion or ferry
//! `managedFields` entry did not change are clean at no further cost; the rest are compared
//! by a server-side dry-run apply against the live object.

use super::drift::{self, Cheap, LiveRecord};
use super::error::ApplyError;
use super::health;
use super::jobs;
use super::livelist::{get_live, list_metadata, Listed};
use super::object::{DesiredObject, ObjectId};
use super::ownership::{self, Yielded};
use super::parallel::map_bounded;
use super::resolve::info_for;
use super::write::{apply_object, Mode, WritePolicy};
use super::SYNC_LABEL;
use crate::kube::{Discovery, KubeClient, KubeError, ResourceInfo};
use std::collections::BTreeMap;

/// What the check found for one object.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Finding {
    /// Nothing changed.
    Clean,
    /// Clean, at a new resourceVersion (to be recorded).
    Moved(LiveRecord),
    /// The dry run differs from the live object at `path`; `changed_by` is the manager that
    /// now owns that field on the server, when one does.
    Drifted {
        path: String,
        changed_by: Option<String>,
    },
    /// Not on the server (or no longer labelled as ferry's).
    Missing,
    /// Deleted and created again by someone else (new uid).
    Replaced,
    /// Its content changed in the new revision: applied anyway, not compared.
    Changed,
    /// A Job that ran for this content and is gone (deleted after it finished): not applied
    /// again until its content changes.
    Finished,
}

impl Finding {
    pub fn needs_apply(&self) -> bool {
        !matches!(self, Finding::Clean | Finding::Moved(_) | Finding::Finished)
    }
}

/// The check's verdict on one object, with the fields ferry leaves to other managers.
#[derive(Debug, Clone)]
pub struct Checked {
    pub finding: Finding,
    pub yielded: Vec<Yielded>,
    /// Listed, not being deleted, of a kind no controller reports on
    /// (`health::reports_nothing`): healthy without a GET if it is not written again.
    pub settled: bool,
}

/// Everything a check needs.
pub struct Checker<'a> {
    pub client: &'a KubeClient,
    pub discovery: &'a Discovery,
    pub sync: &'a str,
    pub policy: &'a WritePolicy,
    pub recorded: &'a BTreeMap<ObjectId, LiveRecord>,
    /// Dry-run every listed object (full sweep).
    pub sweep: bool,
    /// Objects about to be applied with new content: listed (for ownership), not compared.
    pub changed: &'a std::collections::BTreeSet<&'a ObjectId>,
    /// Jobs of this sync that finished, with the content hash that ran.
    pub finished: &'a BTreeMap<ObjectId, String>,
    /// Collections checked at once (each holds one LIST while it is checked).
    pub concurrency: usize,
}

impl Checker<'_> {
    /// Checks `objects`; one LIST per kind and namespace among them. Objects are grouped by
    /// collection first, so at most `concurrency` collections' LISTs are held at a time.
    pub fn check(
        &self,
        objects: &[&DesiredObject],
    ) -> Result<BTreeMap<ObjectId, Checked>, ApplyError> {
        let mut groups: BTreeMap<String, (ResourceInfo, Vec<&DesiredObject>)> = BTreeMap::new();
        for d in objects {
            let info = info_for(self.client, self.discovery, d)?;
            let ns = (!d.id.namespace.is_empty()).then_some(d.id.namespace.as_str());
            groups
                .entry(info.url_path(ns))
                .or_insert_with(|| (info, Vec::new()))
                .1
                .push(d);
        }
        let groups: Vec<(ResourceInfo, Vec<&DesiredObject>)> = groups.into_values().collect();
        let mut out = BTreeMap::new();
        for (_, r) in map_bounded(&groups, self.concurrency, |(info, group)| {
            self.check_group(info, group)
        }) {
            out.extend(r?);
        }
        Ok(out)
    }

    /// Checks the objects of one collection: one LIST, then each object's verdict.
    fn check_group(
        &self,
        info: &ResourceInfo,
        group: &[&DesiredObject],
    ) -> Result<Vec<(ObjectId, Checked)>, ApplyError> {
        let Some(first) = group.first() else {
            return Ok(Vec::new());
        };
        let selector = format!("{SYNC_LABEL}={}", self.sync);
        let ns = (!first.id.namespace.is_empty()).then_some(first.id.namespace.as_str());
        let lists = list_metadata(self.client, info, ns, &selector).map_err(|source| {
            if source.is_not_found() {
                // The kind moved or is gone: the next resolve asks the server.
                self.discovery
                    .invalidate(&[first.api_version.clone()].into_iter().collect());
            }
            ApplyError::Kube {
                id: first.id.clone(),
                origin: first.origin.clone(),
                source,
            }
        })?;
        group
            .iter()
            .map(|d| {
                Ok((
                    d.id.clone(),
                    self.check_one(d, info, lists.get(&d.id.name))?,
                ))
            })
            .collect()
    }

    /// The verdict on one object, from its LIST entry (None: not listed).
    fn check_one(
        &self,
        d: &DesiredObject,
        info: &ResourceInfo,
        listed: Option<&Listed>,
    ) -> Result<Checked, ApplyError> {
        let mut settled = false;
        let mut yielded = match listed {
            Some(l) => {
                let manifest = d.manifest().map_err(|e| ApplyError::Kube {
                    id: d.id.clone(),
                    origin: d.origin.clone(),
                    source: KubeError::Request {
                        what: d.id.to_string(),
                        reason: e.to_string(),
                    },
                })?;
                settled =
                    !l.terminating && health::reports_nothing(&d.id.group, &d.id.kind, &manifest);
                ownership::yielded(&manifest, &l.managed_fields)
            }
            None => Vec::new(),
        };
        let cheap = drift::classify(
            self.recorded.get(&d.id),
            listed.map(|l| &l.record),
            &d.hash,
            self.sweep,
        );
        let finding = match cheap {
            _ if self.changed.contains(&d.id) => Finding::Changed,
            Cheap::Clean => Finding::Clean,
            Cheap::Moved(r) => Finding::Moved(r),
            Cheap::Missing => self.gone(d),
            Cheap::Replaced => Finding::Replaced,
            Cheap::Suspect(_) => self.dry_run(d, info, &mut yielded)?,
        };
        Ok(Checked {
            finding,
            yielded,
            settled,
        })
    }

    /// The verdict on a desired object the server does not have: a Job that ran for this
    /// content and is gone is finished, anything else missing.
    fn gone(&self, d: &DesiredObject) -> Finding {
        let finished = self.finished.get(&d.id).map(String::as_str);
        match jobs::done_when_gone(d, finished, self.recorded.get(&d.id)) {
            true => Finding::Finished,
            false => Finding::Missing,
        }
    }

    /// Asks the server what an apply would do and compares it with the live object.
    fn dry_run(
        &self,
        d: &DesiredObject,
        info: &ResourceInfo,
        yielded: &mut Vec<Yielded>,
    ) -> Result<Finding, ApplyError> {
        let kerr = |source| ApplyError::Kube {
            id: d.id.clone(),
            origin: d.origin.clone(),
            source,
        };
        let Some(live) = get_live(self.client, info, &d.id.namespace, &d.id.name).map_err(kerr)?
        else {
            return Ok(self.gone(d));
        };
        let paths: Vec<_> = yielded.iter().map(|y| y.path.clone()).collect();
        let written = apply_object(
            self.client,
            self.discovery,
            info,
            d,
            &paths,
            self.policy,
            Mode::DryRun,
        )?;
        yielded.extend(written.conflicts);
        Ok(match drift::first_difference(&written.live, &live) {
            None => match LiveRecord::of(&live) {
                Some(r) => Finding::Moved(r.for_content(&d.hash)),
                None => Finding::Clean,
            },
            Some(path) => Finding::Drifted {
                changed_by: ownership::owner_of(&live, &path),
                path,
            },
        })
    }
}
