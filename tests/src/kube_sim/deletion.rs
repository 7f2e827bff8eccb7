//! DELETE as the generic registry (`apiserver/pkg/registry/generic/registry/store.go`) does
//! it: preconditions, the garbage collector's finalizers (`orphan`, `foregroundDeletion`) per
//! `propagationPolicy`, objects with pending finalizers marked with `deletionTimestamp` and
//! `deletionGracePeriodSeconds: 0` (and a `generation` bump) instead of removed, and the
//! answer: the object while it waits, else a `Status` Success (or the object for the kinds
//! whose store sets `ReturnDeletedObject`). Namespaces and CRDs follow their own registries:
//! a Namespace goes `Terminating`, a CRD gets the `customresourcecleanup` finalizer.

use super::errors::ApiError;
use super::resources::ResourceType;
use super::store::{Key, State, Stored};
use serde_json::{json, Value};

pub const ORPHAN: &str = "orphan";
pub const FOREGROUND: &str = "foregroundDeletion";
pub const CRD_CLEANUP: &str = "customresourcecleanup.apiextensions.k8s.io";
/// Namespaces the NamespaceLifecycle admission refuses to delete.
const IMMORTAL_NAMESPACES: &[&str] = &["default", "kube-system", "kube-public"];

/// `DeleteOptions.propagationPolicy`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Propagation {
    Background,
    Foreground,
    Orphan,
}

/// The parts of `DeleteOptions` kube-sim honours.
#[derive(Debug, Clone, Default)]
pub struct DeleteOptions {
    pub propagation: Option<Propagation>,
    pub uid: Option<String>,
    pub resource_version: Option<String>,
    pub dry_run: bool,
}

impl DeleteOptions {
    /// From a `DeleteOptions` body (may be empty) and the query parameters.
    pub fn parse(body: &[u8], query: &dyn Fn(&str) -> Option<String>) -> Result<Self, ApiError> {
        let v: Value = if body.iter().all(u8::is_ascii_whitespace) {
            Value::Null
        } else {
            serde_json::from_slice(body)
                .map_err(|e| ApiError::bad_request(format!("DeleteOptions: {e}")))?
        };
        let policy = v["propagationPolicy"]
            .as_str()
            .map(str::to_string)
            .or_else(|| query("propagationPolicy"));
        let propagation = match policy.as_deref() {
            None => match v["orphanDependents"].as_bool() {
                Some(true) => Some(Propagation::Orphan),
                Some(false) => Some(Propagation::Background),
                None => None,
            },
            Some("Background") => Some(Propagation::Background),
            Some("Foreground") => Some(Propagation::Foreground),
            Some("Orphan") => Some(Propagation::Orphan),
            Some(other) => {
                return Err(ApiError::invalid("DeleteOptions", "", vec![(
                    "propagationPolicy".into(),
                    format!("Unsupported value: \"{other}\": supported values: \"Foreground\", \"Background\", \"Orphan\", \"nil\""),
                )]))
            }
        };
        let dry_run = query("dryRun").as_deref() == Some("All")
            || v["dryRun"]
                .as_array()
                .is_some_and(|a| a.iter().any(|x| x == "All"));
        Ok(DeleteOptions {
            propagation,
            uid: v["preconditions"]["uid"].as_str().map(str::to_string),
            resource_version: v["preconditions"]["resourceVersion"]
                .as_str()
                .map(str::to_string),
            dry_run,
        })
    }
}

/// The warnings of a DELETE: batch/v1 Jobs deleted without a propagation policy keep their
/// pods, and the Job storage says so (`pkg/registry/batch/job/storage`).
pub fn warnings(rt: &ResourceType, opts: &DeleteOptions) -> Vec<String> {
    if rt.group == "batch" && rt.kind == "Job" && opts.propagation.is_none() {
        return vec!["child pods are preserved by default when jobs are deleted; set propagationPolicy=Background to remove them or set propagationPolicy=Orphan to suppress this warning".into()];
    }
    Vec::new()
}

/// The answer to a DELETE.
#[derive(Debug, Clone)]
pub struct Deleted {
    pub code: u16,
    pub body: Value,
}

fn finalizers(obj: &Value) -> Vec<String> {
    obj["metadata"]["finalizers"]
        .as_array()
        .map(|a| {
            a.iter()
                .filter_map(|f| f.as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default()
}

fn set_finalizers(obj: &mut Value, list: &[String]) {
    if list.is_empty() {
        if let Some(m) = obj["metadata"].as_object_mut() {
            m.remove("finalizers");
        }
    } else {
        obj["metadata"]["finalizers"] = json!(list);
    }
}

/// Removes `finalizer` from an object's list; true when it was there.
pub fn drop_finalizer(obj: &mut Value, finalizer: &str) -> bool {
    let list = finalizers(obj);
    let rest: Vec<String> = list.iter().filter(|f| *f != finalizer).cloned().collect();
    let changed = rest.len() != list.len();
    set_finalizers(obj, &rest);
    changed
}

pub fn is_deleting(obj: &Value) -> bool {
    !obj["metadata"]["deletionTimestamp"].is_null()
}

/// The default garbage-collection policy of a kind: batch/v1 Jobs (and core v1
/// ReplicationControllers) orphan their dependents unless told otherwise.
fn default_orphans(rt: &ResourceType) -> bool {
    (rt.group == "batch" && rt.kind == "Job")
        || (rt.group.is_empty() && rt.kind == "ReplicationController")
}

/// Kinds whose store sets `ReturnDeletedObject` (the rest answer a Status), per
/// `pkg/registry/**/storage/storage.go` of v1.37.2.
fn returns_deleted_object(rt: &ResourceType) -> bool {
    matches!(
        (rt.group.as_str(), rt.plural.as_str()),
        (
            "",
            "pods"
                | "namespaces"
                | "serviceaccounts"
                | "services"
                | "persistentvolumes"
                | "persistentvolumeclaims"
                | "podtemplates"
                | "resourcequotas"
        ) | (
            "storage.k8s.io",
            "storageclasses"
                | "csidrivers"
                | "csinodes"
                | "volumeattachments"
                | "volumeattributesclasses"
        ) | (
            "resource.k8s.io",
            "deviceclasses" | "resourceclaims" | "resourceclaimtemplates" | "resourceslices"
        )
    )
}

/// The GC finalizers after a delete with `opts` (`deletionFinalizersForGarbageCollection`).
fn gc_finalizers(rt: &ResourceType, obj: &Value, opts: &DeleteOptions) -> Vec<String> {
    let existing = finalizers(obj);
    let has = |f: &str| existing.iter().any(|x| x == f);
    let orphan = match opts.propagation {
        Some(p) => p == Propagation::Orphan,
        None if has(ORPHAN) => true,
        None if has(FOREGROUND) => false,
        None => default_orphans(rt),
    };
    let foreground = match opts.propagation {
        Some(p) => p == Propagation::Foreground,
        None => has(FOREGROUND),
    };
    let mut out: Vec<String> = existing
        .into_iter()
        .filter(|f| f != ORPHAN && f != FOREGROUND)
        .collect();
    if orphan {
        out.push(ORPHAN.into());
    }
    if foreground {
        out.push(FOREGROUND.into());
    }
    out
}

impl State {
    /// DELETE `rt`/`ns`/`name` with `opts`.
    pub fn delete_with(
        &mut self,
        rt: &ResourceType,
        ns: &str,
        name: &str,
        opts: &DeleteOptions,
    ) -> Result<Deleted, ApiError> {
        let key = Self::key(rt, ns, name);
        let stored = self
            .objects
            .get(&key)
            .cloned()
            .ok_or_else(|| ApiError::not_found(&rt.qualified(), name))?;
        let meta = &stored.obj["metadata"];
        // `rest.BeforeDelete` (1.37): the conflict names the kind, not the resource.
        let kind = if rt.group.is_empty() {
            rt.kind.clone()
        } else {
            format!("{}.{}", rt.kind, rt.group)
        };
        if let Some(uid) = &opts.uid {
            if meta["uid"].as_str() != Some(uid) {
                return Err(ApiError::conflict(&kind, name, &format!(
                    "the UID in the precondition ({uid}) does not match the UID in record ({}). The object might have been deleted and then recreated",
                    meta["uid"].as_str().unwrap_or_default())));
            }
        }
        if let Some(rv) = &opts.resource_version {
            if meta["resourceVersion"].as_str() != Some(rv) {
                return Err(ApiError::conflict(&kind, name, &format!(
                    "the ResourceVersion in the precondition ({rv}) does not match the ResourceVersion in record ({}). The object might have been modified",
                    meta["resourceVersion"].as_str().unwrap_or_default())));
            }
        }
        let mut obj = stored.obj.clone();
        let now = self.clock.now_rfc3339();
        if rt.group.is_empty() && rt.kind == "Namespace" {
            if IMMORTAL_NAMESPACES.contains(&name) {
                return Err(ApiError::forbidden(
                    rt,
                    name,
                    "this namespace may not be deleted",
                ));
            }
            if !is_deleting(&obj) {
                obj["metadata"]["deletionTimestamp"] = json!(now);
                obj["status"]["phase"] = json!("Terminating");
                return Ok(self.store_pending(key, stored, obj, opts.dry_run));
            }
            if obj["spec"]["finalizers"]
                .as_array()
                .is_some_and(|f| !f.is_empty())
            {
                // 1.37 answers the Terminating namespace as it is (older servers: 409).
                return Ok(Deleted {
                    code: 200,
                    body: Self::render(&stored),
                });
            }
        }
        if rt.kind == "CustomResourceDefinition" && !is_deleting(&obj) {
            let mut list = finalizers(&obj);
            if !list.iter().any(|f| f == CRD_CLEANUP) {
                list.push(CRD_CLEANUP.into());
            }
            set_finalizers(&mut obj, &list);
            super::controllers::crd::set_condition(&mut obj, "Terminating", "True", "InstanceDeletionPending",
                "CustomResourceDefinition marked for deletion; CustomResource deletion will begin soon", &now);
            // The CRD registry's own Delete: a deletionTimestamp, no grace period, no new
            // generation (apiextensions `registry/customresourcedefinition/etcd.go`).
            obj["metadata"]["deletionTimestamp"] = json!(now);
            return Ok(self.store_pending(key, stored, obj, opts.dry_run));
        }
        let list = gc_finalizers(rt, &obj, opts);
        set_finalizers(&mut obj, &list);
        if !list.is_empty() {
            if !is_deleting(&obj) {
                if let Some(g) = obj["metadata"]["generation"].as_i64().filter(|g| *g > 0) {
                    obj["metadata"]["generation"] = json!(g + 1);
                }
                obj["metadata"]["deletionTimestamp"] = json!(now);
            }
            obj["metadata"]["deletionGracePeriodSeconds"] = json!(0);
            return Ok(self.store_pending(key, stored, obj, opts.dry_run));
        }
        let body = if returns_deleted_object(rt) {
            Self::render(&stored)
        } else {
            let mut details =
                json!({"name": name, "group": rt.group, "kind": rt.plural, "uid": meta["uid"]});
            if rt.group.is_empty() {
                details.as_object_mut().map(|d| d.remove("group"));
            }
            json!({"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Success", "details": details})
        };
        if !opts.dry_run {
            self.remove_object(&key);
        }
        Ok(Deleted { code: 200, body })
    }

    /// Stores an object that now waits for its finalizers; answers it (200).
    fn store_pending(
        &mut self,
        key: Key,
        stored: Stored,
        mut obj: Value,
        dry_run: bool,
    ) -> Deleted {
        if obj == stored.obj {
            return Deleted {
                code: 200,
                body: Self::render(&stored),
            };
        }
        self.rv += 1;
        obj["metadata"]["resourceVersion"] = json!(self.rv.to_string());
        let new = Stored {
            obj,
            managers: stored.managers,
        };
        let body = Self::render(&new);
        if dry_run {
            self.rv -= 1;
        } else {
            self.objects.insert(key, new);
        }
        Deleted { code: 200, body }
    }
}

/// On an update of an object: clients cannot set or move `deletionTimestamp`, and no new
/// finalizer may be added once deletion started (ValidateObjectMetaUpdate).
pub fn keep_deletion_state(
    old: &Stored,
    obj: &mut Value,
    rt: &ResourceType,
    name: &str,
) -> Result<(), ApiError> {
    for k in ["deletionTimestamp", "deletionGracePeriodSeconds"] {
        match old.obj["metadata"].get(k) {
            Some(v) => obj["metadata"][k] = v.clone(),
            None => {
                obj["metadata"].as_object_mut().map(|m| m.remove(k));
            }
        }
    }
    if is_deleting(&old.obj) {
        let before = finalizers(&old.obj);
        let added: Vec<String> = finalizers(obj)
            .into_iter()
            .filter(|f| !before.contains(f))
            .collect();
        if !added.is_empty() {
            let list: Vec<String> = added.iter().map(|f| format!("{f:?}")).collect();
            let mut e = ApiError::invalid(&rt.kind, name, vec![(
                "metadata.finalizers".into(),
                format!("Forbidden: no new finalizers can be added if the object is being deleted, found new finalizers []string{{{}}}", list.join(", ")),
            )]);
            e.details["causes"][0]["reason"] = json!("FieldValueForbidden");
            return Err(e);
        }
    }
    Ok(())
}

/// True when an update removed the last finalizer of an object being deleted: the store then
/// deletes it (`ShouldDeleteDuringUpdate`; a Namespace also needs empty `spec.finalizers`).
pub fn finalizers_emptied(old: &Stored, obj: &Value) -> bool {
    is_deleting(&old.obj)
        && finalizers(obj).is_empty()
        && obj["metadata"]["deletionGracePeriodSeconds"]
            .as_i64()
            .unwrap_or(0)
            == 0
        && !(obj["kind"] == "Namespace"
            && obj["spec"]["finalizers"]
                .as_array()
                .is_some_and(|f| !f.is_empty()))
}
