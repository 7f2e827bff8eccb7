//! Apply (executor): resolve kinds, then server-side apply a stage's objects with field manager
//! `ferry` and `force`, a bounded number at a time. Objects whose content matches the inventory
//! and the live object are left alone: a sync that changes nothing writes nothing.

use super::changeset::{Action, ChangeSet};
use super::drift;
use super::object::{DesiredObject, ObjectId};
use super::render::RenderedObject;
use super::{FIELD_MANAGER, SYNC_LABEL};
use crate::kube::{Discovery, KubeClient, KubeError, ResourceInfo};
use kube::core::params::{GetParams, Patch, PatchParams};
use kube::core::Request;
use serde_json::{json, Value};
use std::collections::{BTreeMap, BTreeSet};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;
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
    #[error("discovery of {api_version}: {source}")]
    Discovery {
        api_version: String,
        source: KubeError,
    },
}

/// Rendered objects with their resource info resolved (or the CRD scope, when the kind is not
/// served yet). Namespaced objects without a namespace get `default_namespace`; the sync label
/// is added to every object.
pub fn resolve(
    client: &KubeClient,
    discovery: &Discovery,
    rendered: Vec<RenderedObject>,
    default_namespace: &str,
    sync: &str,
) -> Result<Vec<DesiredObject>, ApplyError> {
    let crd_scopes: BTreeMap<(String, String), bool> = rendered
        .iter()
        .filter(|r| r.kind == "CustomResourceDefinition")
        .map(|r| {
            let spec = &r.value["spec"];
            let key = (
                spec["group"].as_str().unwrap_or_default().to_string(),
                spec["names"]["kind"]
                    .as_str()
                    .unwrap_or_default()
                    .to_string(),
            );
            (key, spec["scope"] != "Cluster")
        })
        .collect();
    let mut out: Vec<DesiredObject> = Vec::with_capacity(rendered.len());
    let mut seen: BTreeMap<ObjectId, String> = BTreeMap::new();
    for r in rendered {
        let (group, _) = crate::kube::discovery::split_api_version(&r.api_version);
        let namespaced =
            match discovery
                .resolve(client, &r.api_version, &r.kind)
                .map_err(|source| ApplyError::Discovery {
                    api_version: r.api_version.clone(),
                    source,
                })? {
                Some(info) => info.namespaced,
                None => *crd_scopes.get(&(group, r.kind.clone())).ok_or_else(|| {
                    ApplyError::UnknownKind {
                        origin: r.origin.clone(),
                        api_version: r.api_version.clone(),
                        kind: r.kind.clone(),
                    }
                })?,
            };
        let mut manifest = r.value;
        let namespace = if namespaced {
            let ns = manifest["metadata"]["namespace"]
                .as_str()
                .filter(|s| !s.is_empty())
                .unwrap_or(default_namespace)
                .to_string();
            manifest["metadata"]["namespace"] = json!(ns);
            ns
        } else {
            if let Some(m) = manifest["metadata"].as_object_mut() {
                m.remove("namespace");
            }
            String::new()
        };
        if !manifest["metadata"]["labels"].is_object() {
            manifest["metadata"]["labels"] = json!({});
        }
        manifest["metadata"]["labels"][SYNC_LABEL] = json!(sync);
        let d = DesiredObject::new(r.api_version, r.kind, namespace, r.origin, manifest);
        if let Some(other) = seen.insert(d.id.clone(), d.origin.clone()) {
            return Err(ApplyError::Duplicate {
                origin: d.origin,
                kind: d.id.kind,
                name: d.id.name,
                other,
            });
        }
        out.push(d);
    }
    Ok(out)
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

/// Server-side apply of one object; returns the live object.
pub fn apply_one(
    client: &KubeClient,
    info: &ResourceInfo,
    d: &DesiredObject,
) -> Result<Value, KubeError> {
    let ns = (!d.id.namespace.is_empty()).then_some(d.id.namespace.as_str());
    let params = PatchParams::apply(FIELD_MANAGER).force();
    let req = Request::new(info.url_path(ns))
        .patch(&d.id.name, &params, &Patch::Apply(&d.manifest))
        .map_err(|e| KubeError::Request {
            what: d.id.to_string(),
            reason: e.to_string(),
        })?;
    client.send(req)
}

/// Which objects the last inventory knew, and which of those are unchanged in content.
pub struct Known<'a> {
    pub in_inventory: &'a BTreeSet<ObjectId>,
    pub same_content: &'a BTreeSet<ObjectId>,
}

/// Applies one stage. Objects whose content matches the inventory are only re-applied when the
/// live object drifted or is gone. Created/Configured is relative to ferry's inventory.
pub fn apply_stage(
    client: &KubeClient,
    discovery: &Discovery,
    objects: &[DesiredObject],
    known: &Known,
    concurrency: usize,
) -> Result<ChangeSet, ApplyError> {
    let next = AtomicUsize::new(0);
    let results: Mutex<Vec<(usize, Result<Action, ApplyError>)>> = Mutex::new(Vec::new());
    let workers = concurrency.clamp(1, objects.len().max(1));
    std::thread::scope(|s| {
        for _ in 0..workers {
            s.spawn(|| loop {
                let i = next.fetch_add(1, Ordering::SeqCst);
                let Some(d) = objects.get(i) else { break };
                let r = apply_checked(client, discovery, d, known);
                let failed = r.is_err();
                results
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .push((i, r));
                if failed {
                    // Stop handing out work; objects in flight finish.
                    next.store(objects.len(), Ordering::SeqCst);
                }
            });
        }
    });
    let mut results = results.into_inner().unwrap_or_else(|e| e.into_inner());
    results.sort_by_key(|(i, _)| *i);
    let mut cs = ChangeSet::default();
    for (i, r) in results {
        cs.push(objects[i].id.clone(), r?);
    }
    Ok(cs)
}

fn apply_checked(
    client: &KubeClient,
    discovery: &Discovery,
    d: &DesiredObject,
    known: &Known,
) -> Result<Action, ApplyError> {
    let info = info_for(client, discovery, d)?;
    let kerr = |source| ApplyError::Kube {
        id: d.id.clone(),
        origin: d.origin.clone(),
        source,
    };
    let mut existed = known.in_inventory.contains(&d.id);
    if known.same_content.contains(&d.id) {
        match get_live(client, &info, &d.id.namespace, &d.id.name).map_err(kerr)? {
            Some(live) => match drift::first_difference(&d.manifest, &live) {
                None => return Ok(Action::Unchanged),
                Some(path) => {
                    tracing::info!(object = %d.id, field = %path, "drift detected, re-applying")
                }
            },
            None => {
                tracing::info!(object = %d.id, "object missing, re-creating");
                existed = false;
            }
        }
    }
    apply_one(client, &info, d).map_err(kerr)?;
    crate::fault::count("apply-object");
    Ok(if existed {
        Action::Configured
    } else {
        Action::Created
    })
}
