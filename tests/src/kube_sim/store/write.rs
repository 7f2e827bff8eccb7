//! The write pipeline every create, update, patch and apply goes through, in the real
//! server's order:
//!
//! 1. decode: the body's apiVersion/kind/name/namespace against the URL;
//! 2. hook [`roundtrip::decode_body`]: the body decoded into the Go types (`fieldValidation`
//!    of unknown fields, type errors, integers, canonical quantities; CRD pruning); a patch's
//!    result (merge, strategic or JSON patch) is decoded after step 3;
//! 3. the new object: the body (create, update), the patched old object (merge patch), or the
//!    applied configuration merged into the live object with ownership and conflicts (apply);
//!    strategy resets (`status` of kinds with a status subresource) and system metadata;
//! 4. hook [`roundtrip::normalize`]: defaulting, allocations, Go `omitempty`;
//! 5. validation: names and required fields ([`validate`]) and hook [`roundtrip::validate`]
//!    (immutable fields against the old object);
//! 6. `managedFields` (Update managers take what the write changed), no-op detection (nothing
//!    changed: nothing written, same `resourceVersion`), `resourceVersion`, `generation` for
//!    the kinds that have one ([`roundtrip::metadata`]), store.

use super::checks::{check_apply_config, check_body, check_name, check_resource_version};
use super::ownership;
use super::{now_rfc3339, State, Stored};
use crate::kube_sim::errors::ApiError;
use crate::kube_sim::fields::{self, ManagerEntry, Writer};
use crate::kube_sim::resources::ResourceType;
use crate::kube_sim::roundtrip::{self, FieldValidation};
use crate::kube_sim::{controllers, deletion, subresources, validate};
use serde_json::{json, Value};

mod steps;
mod verbs;

use steps::{managers_equal, reset_by_strategy, strategic_patch, system_metadata, SentManagers};

/// The verb of a write.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WriteVerb {
    /// POST.
    Create,
    /// PUT.
    Update,
    /// PATCH with a JSON merge patch.
    MergePatch,
    /// PATCH with a strategic merge patch (built-in kinds only, as on the real server).
    StrategicPatch,
    /// PATCH with a JSON patch (RFC 6902).
    JsonPatch,
    /// PATCH with `application/apply-patch+yaml`.
    Apply { force: bool },
}

/// One write request.
#[derive(Debug, Clone)]
pub struct WriteRequest<'a> {
    pub rt: &'a ResourceType,
    /// Empty for cluster-scoped resources.
    pub namespace: &'a str,
    /// The name on the URL; None for a create (the body names the object).
    pub name: Option<&'a str>,
    /// `status` for writes to the status subresource, else empty.
    pub subresource: &'a str,
    pub verb: WriteVerb,
    pub body: Value,
    pub manager: &'a str,
    pub dry_run: bool,
    pub field_validation: FieldValidation,
}

/// What a write did.
#[derive(Debug, Clone)]
pub struct Written {
    pub obj: Value,
    pub created: bool,
    /// `Warning` headers to send (field validation).
    pub warnings: Vec<String>,
}

impl State {
    /// Runs the pipeline (see the module doc).
    pub fn write(&mut self, mut req: WriteRequest<'_>) -> Result<Written, ApiError> {
        let rt = req.rt;
        let ns = if rt.namespaced { req.namespace } else { "" };
        // 1. decode
        if !req.verb.is_patch() {
            check_body(rt, &req.body)?;
        }
        let name = match req.name {
            Some(n) => n.to_string(),
            None => req.body["metadata"]["name"]
                .as_str()
                .unwrap_or_default()
                .to_string(),
        };
        if !req.verb.is_patch() {
            check_name(rt, ns, &name, &req.body)?;
        }
        // 2. decode (field validation)
        let crd_schema = self.crd_schema(rt);
        let target = roundtrip::Target {
            rt,
            namespace: ns,
            name: &name,
            crd_schema: crd_schema.as_ref(),
        };
        let mut warnings = Vec::new();
        if !req.verb.is_patch() {
            let verb = match req.verb {
                WriteVerb::Create => roundtrip::WriteVerb::Create,
                WriteVerb::Apply { .. } => roundtrip::WriteVerb::Apply,
                _ => roundtrip::WriteVerb::Update,
            };
            warnings = roundtrip::decode_body(&target, &mut req.body, verb, req.field_validation)?;
        }
        // 3. the new object
        let old = self.objects.get(&State::key(rt, ns, &name)).cloned();
        let time = now_rfc3339();
        let writer = Writer {
            manager: req.manager,
            api_version: &rt.group_version(),
            subresource: req.subresource,
            time: &time,
        };
        let (mut obj, applied) = match (req.verb, &old) {
            (WriteVerb::Create, Some(_)) => {
                return Err(ApiError::already_exists(&rt.qualified(), &name));
            }
            (WriteVerb::Create, None) => {
                self.require_namespace(rt, ns, &name)?;
                (req.body.clone(), None)
            }
            (
                WriteVerb::Update
                | WriteVerb::MergePatch
                | WriteVerb::StrategicPatch
                | WriteVerb::JsonPatch,
                None,
            ) => {
                return Err(ApiError::not_found(&rt.qualified(), &name));
            }
            (WriteVerb::Update, Some(old)) => {
                check_resource_version(rt, &name, &req.body, &old.obj)?;
                (req.body.clone(), None)
            }
            (
                WriteVerb::MergePatch | WriteVerb::StrategicPatch | WriteVerb::JsonPatch,
                Some(old),
            ) => {
                let mut new = old.obj.clone();
                if matches!(req.verb, WriteVerb::MergePatch | WriteVerb::StrategicPatch) {
                    super::checks::check_patch_object(&req.body)?;
                }
                match req.verb {
                    WriteVerb::MergePatch => fields::merge_patch(&mut new, &req.body),
                    WriteVerb::StrategicPatch => strategic_patch(rt, &mut new, &req.body)?,
                    // The real server answers every failed operation with this bare 422
                    // (`NewGenericServerResponse`, no causes; checked on kube-apiserver 1.37).
                    _ => fields::json_patch::apply(&mut new, &req.body).map_err(|_| {
                        let mut e = ApiError::new(
                            422,
                            "Invalid",
                            "the server rejected our request due to an error in our request",
                        );
                        e.details = json!({});
                        e
                    })?,
                }
                check_body(rt, &new)?;
                check_name(rt, ns, &name, &new)?;
                warnings = roundtrip::decode_body(
                    &target,
                    &mut new,
                    roundtrip::WriteVerb::Patch,
                    req.field_validation,
                )?;
                (new, None)
            }
            (WriteVerb::Apply { force }, old) => {
                check_apply_config(&req.body)?;
                if old.is_none() {
                    self.require_namespace(rt, ns, &name)?;
                }
                let live = old
                    .as_ref()
                    .map(|o| o.obj.clone())
                    .unwrap_or_else(|| json!({}));
                let current = old.as_ref().map(|o| o.managers.clone()).unwrap_or_default();
                let (merged, ms) =
                    ownership::apply(rt, &name, &live, &req.body, &current, &writer, force)?;
                (merged, Some(ms))
            }
        };
        let sent_managers = obj["metadata"].get("managedFields").cloned();
        reset_by_strategy(rt, req.subresource, &mut obj, old.as_ref().map(|o| &o.obj));
        system_metadata(rt, ns, &name, &mut obj, old.as_ref().map(|o| &o.obj));
        // 4. normalize (the Job selector needs the uid a create is about to get)
        if old.is_none() {
            obj["metadata"]["uid"] = json!(self.uid(&name));
        }
        let cluster = self.cluster_allocations(rt, ns, &name);
        roundtrip::normalize(&target, &mut obj, old.as_ref().map(|o| &o.obj), &cluster)?;
        // 5. validate
        let errs = validate::check(rt, &name, &obj);
        if !errs.is_empty() {
            return Err(ApiError::invalid(&rt.kind, &name, errs));
        }
        roundtrip::validate(&target, &obj, old.as_ref().map(|o| &o.obj))?;
        // 6. managedFields, no-op, metadata, store
        let managers = match (applied, SentManagers::of(sent_managers.as_ref())) {
            (Some(ms), _) => ms,
            (None, SentManagers::Reset) => Vec::new(),
            (None, sent) => {
                let (live, stored) = match &old {
                    Some(o) => (o.obj.clone(), o.managers.clone()),
                    None => (ownership::zero(rt), Vec::new()),
                };
                let current = match sent {
                    SentManagers::Replace(ms) => ms,
                    _ => stored,
                };
                ownership::update(rt, &name, &live, &obj, &current, &writer)?
            }
        };
        let written = self.commit(
            rt,
            ns,
            &name,
            req.subresource,
            old,
            obj,
            managers,
            req.dry_run,
        )?;
        Ok(Written {
            warnings,
            ..written
        })
    }

    /// Stores `obj`, maintaining `uid`, `creationTimestamp`, `generation` and
    /// `resourceVersion`, the deletion state, and runs the admission hooks of the simulated
    /// controllers; a write that changes nothing is not stored, and an update that removes the
    /// last finalizer of an object being deleted deletes it.
    #[allow(clippy::too_many_arguments)]
    fn commit(
        &mut self,
        rt: &ResourceType,
        ns: &str,
        name: &str,
        subresource: &str,
        old: Option<Stored>,
        mut obj: Value,
        managers: Vec<ManagerEntry>,
        dry_run: bool,
    ) -> Result<Written, ApiError> {
        let created = old.is_none();
        match &old {
            Some(old) => {
                for k in ["uid", "creationTimestamp", "generation", "resourceVersion"] {
                    obj["metadata"][k] = old.obj["metadata"][k].clone();
                }
                deletion::keep_deletion_state(old, &mut obj, rt, name)?;
                if subresource != "status" {
                    subresources::keep_namespace_finalizers(rt, &old.obj, &mut obj);
                }
            }
            None => {
                if obj["metadata"]["uid"].as_str().is_none_or(str::is_empty) {
                    obj["metadata"]["uid"] = json!(self.uid(name));
                }
                obj["metadata"]["creationTimestamp"] = json!(now_rfc3339());
            }
        }
        let rule = roundtrip::metadata::generation_rule(&rt.group, &rt.kind, rt.crd.is_some());
        match roundtrip::metadata::next_generation(rule, &obj, old.as_ref().map(|o| &o.obj)) {
            Some(g) => obj["metadata"]["generation"] = json!(g),
            None => {
                if let Some(m) = obj["metadata"].as_object_mut() {
                    m.remove("generation");
                }
            }
        }
        if let Some(old) = &old {
            if obj == old.obj && managers_equal(&managers, &old.managers) {
                return Ok(Written {
                    obj: Self::render(old),
                    created: false,
                    warnings: Vec::new(),
                });
            }
        }
        if dry_run {
            obj["metadata"]["resourceVersion"] = json!((self.rv + 1).to_string());
            return Ok(Written {
                obj: Self::render(&Stored { obj, managers }),
                created,
                warnings: Vec::new(),
            });
        }
        let key = Self::key(rt, ns, name);
        if let Some(old) = &old {
            if deletion::finalizers_emptied(old, &obj) {
                // The last finalizer of an object being deleted is gone: the object goes.
                let out = Self::render(old);
                self.remove_object(&key);
                return Ok(Written {
                    obj: out,
                    created: false,
                    warnings: Vec::new(),
                });
            }
        }
        obj["metadata"]["resourceVersion"] = json!(self.next_rv());
        controllers::on_commit(self, rt, &mut obj, created);
        let stored = Stored { obj, managers };
        let out = Self::render(&stored);
        self.objects.insert(key, stored);
        Ok(Written {
            obj: out,
            created,
            warnings: Vec::new(),
        })
    }
}
