//! Resolve (executor over discovery): rendered objects -> desired objects, one file at a
//! time. Each object's kind is looked up (served by the cluster, or defined by a CRD of the
//! same bundle); namespaced objects without a namespace get the sync's default namespace; the
//! sync label is added; duplicates are refused. A rendered file's JSON trees are dropped as
//! soon as its objects are resolved (desired objects keep compact JSON text), except objects
//! of a kind neither served nor defined by a CRD seen so far: those wait for the CRDs of later
//! files.

use super::error::ApplyError;
use super::object::{DesiredObject, ObjectId};
use super::render::RenderedObject;
use super::SYNC_LABEL;
use crate::kube::{Discovery, KubeClient, ResourceInfo};
use serde_json::json;
use std::collections::BTreeMap;

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

/// Resolves a sync's rendered objects file by file.
pub struct Resolver<'a> {
    client: &'a KubeClient,
    discovery: &'a Discovery,
    default_namespace: &'a str,
    sync: &'a str,
    /// (group, kind) -> namespaced, for every CRD added so far.
    crd_scopes: BTreeMap<(String, String), bool>,
    /// Objects of kinds not known yet (their CRD may come in a later file).
    deferred: Vec<RenderedObject>,
    /// Where each object was defined first (duplicate check).
    seen: BTreeMap<ObjectId, String>,
    out: Vec<DesiredObject>,
}

impl<'a> Resolver<'a> {
    pub fn new(
        client: &'a KubeClient,
        discovery: &'a Discovery,
        default_namespace: &'a str,
        sync: &'a str,
    ) -> Self {
        Resolver {
            client,
            discovery,
            default_namespace,
            sync,
            crd_scopes: BTreeMap::new(),
            deferred: Vec::new(),
            seen: BTreeMap::new(),
            out: Vec::new(),
        }
    }

    /// Resolves one file's rendered objects.
    pub fn add(&mut self, rendered: Vec<RenderedObject>) -> Result<(), ApplyError> {
        for r in rendered
            .iter()
            .filter(|r| r.kind == "CustomResourceDefinition")
        {
            let spec = &r.value["spec"];
            let key = (
                spec["group"].as_str().unwrap_or_default().to_string(),
                spec["names"]["kind"]
                    .as_str()
                    .unwrap_or_default()
                    .to_string(),
            );
            self.crd_scopes.insert(key, spec["scope"] != "Cluster");
        }
        for r in rendered {
            match self.namespaced(&r)? {
                Some(namespaced) => self.push(r, namespaced)?,
                None => self.deferred.push(r),
            }
        }
        Ok(())
    }

    /// The desired objects, once every file was added.
    pub fn finish(mut self) -> Result<Vec<DesiredObject>, ApplyError> {
        for r in std::mem::take(&mut self.deferred) {
            // Discovery said no when the object was added; only a later CRD can define it.
            let namespaced = self.crd_scope(&r).ok_or_else(|| ApplyError::UnknownKind {
                origin: r.origin.clone(),
                api_version: r.api_version.clone(),
                kind: r.kind.clone(),
            })?;
            self.push(r, namespaced)?;
        }
        Ok(self.out)
    }

    /// Whether `r`'s kind is namespaced; None while neither the cluster nor a CRD seen so far
    /// defines it.
    fn namespaced(&self, r: &RenderedObject) -> Result<Option<bool>, ApplyError> {
        let info = self
            .discovery
            .resolve(self.client, &r.api_version, &r.kind)
            .map_err(|source| ApplyError::Discovery {
                api_version: r.api_version.clone(),
                source,
            })?;
        Ok(match info {
            Some(info) => Some(info.namespaced),
            None => self.crd_scope(r),
        })
    }

    /// Whether a CRD added so far defines `r`'s kind as namespaced (None: no CRD does).
    fn crd_scope(&self, r: &RenderedObject) -> Option<bool> {
        let (group, _) = crate::kube::discovery::split_api_version(&r.api_version);
        self.crd_scopes.get(&(group, r.kind.clone())).copied()
    }

    fn push(&mut self, r: RenderedObject, namespaced: bool) -> Result<(), ApplyError> {
        let mut manifest = r.value;
        let namespace = if namespaced {
            let ns = manifest["metadata"]["namespace"]
                .as_str()
                .filter(|s| !s.is_empty())
                .unwrap_or(self.default_namespace)
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
        manifest["metadata"]["labels"][SYNC_LABEL] = json!(self.sync);
        let d = DesiredObject::new(r.api_version, r.kind, namespace, r.origin, manifest);
        if let Some(other) = self.seen.insert(d.id.clone(), d.origin.clone()) {
            return Err(ApplyError::Duplicate {
                origin: d.origin,
                kind: d.id.kind,
                name: d.id.name,
                other,
            });
        }
        self.out.push(d);
        Ok(())
    }
}
