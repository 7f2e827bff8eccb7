//! The object store and the write verbs: create, update, merge patch, server-side apply and
//! delete, with `resourceVersion`, `generation`, `uid` and `managedFields` kept like the real
//! API server keeps them.

use super::clock::{ClockMode, SimClock};
use super::controllers::{self, ControllerMemory};
use super::deletion;
use super::errors::ApiError;
use super::fields::{self, FieldSet};
use super::resources::{self, ResourceType};
use super::subresources;
use super::validate;
use serde_json::{json, Map, Value};
use sha2::{Digest, Sha256};
use std::collections::BTreeMap;
use std::time::SystemTime;

/// (group, plural, namespace, name); namespace is empty for cluster-scoped objects.
pub type Key = (String, String, String, String);

/// One manager's entry in `managedFields`.
#[derive(Debug, Clone, PartialEq)]
pub struct Managed {
    pub manager: String,
    pub operation: &'static str,
    pub api_version: String,
    pub time: String,
    pub fields: FieldSet,
    /// `status` or `scale` for writes through a subresource.
    pub subresource: Option<String>,
}

/// A stored object: the object without `managedFields`, and the managers.
#[derive(Debug, Clone)]
pub struct Stored {
    pub obj: Value,
    pub managers: Vec<Managed>,
}

/// Knobs of the simulated controllers.
#[derive(Debug, Clone)]
pub struct SimConfig {
    /// Simulated time from a pod's creation until it is ready (or its Job's pod finishes).
    pub ready_delay: std::time::Duration,
    /// Simulated time from a CRD's creation until it is Established.
    pub crd_delay: std::time::Duration,
    /// How the simulated clock and the controllers move (see `clock::ClockMode`).
    pub clock: ClockMode,
    /// Workloads whose pod template uses an image containing one of these never become ready.
    pub never_ready_images: Vec<String>,
    /// Jobs whose image contains one of these fail.
    pub failing_images: Vec<String>,
}

impl Default for SimConfig {
    fn default() -> Self {
        SimConfig {
            ready_delay: std::time::Duration::from_secs(2),
            crd_delay: std::time::Duration::from_secs(1),
            clock: ClockMode::default(),
            never_ready_images: vec!["never-ready".into()],
            failing_images: vec!["job-fails".into()],
        }
    }
}

/// The whole API state.
pub struct State {
    pub types: Vec<ResourceType>,
    pub objects: BTreeMap<Key, Stored>,
    pub rv: u64,
    pub config: SimConfig,
    /// The simulated clock the controllers read.
    pub clock: SimClock,
    /// What the simulated controllers remember between passes.
    pub memory: ControllerMemory,
    /// Lists whose continue token was issued at or below this resourceVersion expire (410).
    pub compacted_rv: u64,
}

pub fn now_rfc3339() -> String {
    humantime::format_rfc3339_seconds(SystemTime::now()).to_string()
}

/// What a write did.
pub struct Written {
    pub obj: Value,
    pub created: bool,
}

impl State {
    /// A fresh cluster: `default`, `kube-system`, `kube-public` namespaces and the HelmChart CRD.
    pub fn new(config: SimConfig) -> Self {
        let mut s = State {
            types: resources::builtins(),
            objects: BTreeMap::new(),
            rv: 1000,
            config,
            clock: SimClock::new(),
            memory: ControllerMemory::default(),
            compacted_rv: 0,
        };
        for ns in ["default", "kube-system", "kube-public", "kube-node-lease"] {
            let rt = s.rt_by_kind("", "Namespace").expect("builtin");
            let obj = json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": ns}});
            let _ = s.create(&rt, "", obj, "k3s", false);
        }
        let crd_rt = s
            .rt_by_kind("apiextensions.k8s.io", "CustomResourceDefinition")
            .expect("builtin");
        let _ = s.create(&crd_rt, "", resources::helmchart_crd(), "k3s", false);
        controllers::seed(&mut s);
        s
    }

    pub fn rt_by_kind(&self, group: &str, kind: &str) -> Option<ResourceType> {
        self.types
            .iter()
            .find(|t| t.group == group && t.kind == kind)
            .cloned()
    }

    pub fn rt_by_plural(&self, group: &str, version: &str, plural: &str) -> Option<ResourceType> {
        self.types
            .iter()
            .find(|t| t.group == group && t.version == version && t.plural == plural)
            .cloned()
    }

    fn next_rv(&mut self) -> String {
        self.rv += 1;
        self.rv.to_string()
    }

    fn uid(&self, name: &str) -> String {
        let nanos = SystemTime::now()
            .duration_since(SystemTime::UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or(0);
        let h = hex::encode(
            Sha256::new()
                .chain_update(name)
                .chain_update(self.rv.to_le_bytes())
                .chain_update(nanos.to_le_bytes())
                .finalize(),
        );
        format!(
            "{}-{}-{}-{}-{}",
            &h[0..8],
            &h[8..12],
            &h[12..16],
            &h[16..20],
            &h[20..32]
        )
    }

    /// The object as the API returns it (with `managedFields`).
    pub fn render(stored: &Stored) -> Value {
        let mut obj = stored.obj.clone();
        let mf: Vec<Value> = stored
            .managers
            .iter()
            .map(|m| {
                let mut e = json!({"manager": m.manager, "operation": m.operation, "apiVersion": m.api_version,
                       "time": m.time, "fieldsType": "FieldsV1", "fieldsV1": fields::to_fields_v1(&m.fields)});
                if let Some(sub) = &m.subresource {
                    e["subresource"] = json!(sub);
                }
                e
            })
            .collect();
        obj["metadata"]["managedFields"] = Value::Array(mf);
        obj
    }

    pub fn key(rt: &ResourceType, ns: &str, name: &str) -> Key {
        (
            rt.group.clone(),
            rt.plural.clone(),
            if rt.namespaced {
                ns.to_string()
            } else {
                String::new()
            },
            name.to_string(),
        )
    }

    pub fn get(&self, rt: &ResourceType, ns: &str, name: &str) -> Result<Value, ApiError> {
        self.objects
            .get(&Self::key(rt, ns, name))
            .map(Self::render)
            .ok_or_else(|| ApiError::not_found(&rt.qualified(), name))
    }

    /// The namespace of a new object must exist and not be terminating (NamespaceLifecycle).
    fn require_namespace(&self, rt: &ResourceType, ns: &str, name: &str) -> Result<(), ApiError> {
        if !rt.namespaced {
            return Ok(());
        }
        let key = (
            String::new(),
            "namespaces".into(),
            String::new(),
            ns.to_string(),
        );
        match self.objects.get(&key) {
            None => Err(ApiError::not_found("namespaces", ns)),
            Some(n) if !n.obj["metadata"]["deletionTimestamp"].is_null() => {
                Err(ApiError::namespace_terminating(rt, ns, name))
            }
            Some(_) => Ok(()),
        }
    }

    /// Checks the body's apiVersion/kind against the URL and returns it as an object.
    fn check_body(rt: &ResourceType, body: &Value) -> Result<(), ApiError> {
        if !body.is_object() {
            return Err(ApiError::bad_request(
                "the body of the request was not a JSON or YAML object",
            ));
        }
        if let Some(av) = body["apiVersion"].as_str() {
            if av != rt.group_version() {
                return Err(ApiError::bad_request(format!(
                    "the API version in the data ({av}) does not match the expected API version ({})",
                    rt.group_version()
                )));
            }
        }
        if let Some(k) = body["kind"].as_str() {
            if k != rt.kind {
                return Err(ApiError::bad_request(format!(
                    "the kind in the data ({k}) does not match the expected kind ({})",
                    rt.kind
                )));
            }
        }
        Ok(())
    }

    fn check_name(rt: &ResourceType, ns: &str, name: &str, body: &Value) -> Result<(), ApiError> {
        if let Some(n) = body["metadata"]["name"].as_str() {
            if n != name {
                return Err(ApiError::bad_request(format!(
                    "the name of the object ({n}) does not match the name on the URL ({name})"
                )));
            }
        }
        if rt.namespaced {
            if let Some(n) = body["metadata"]["namespace"].as_str() {
                if n != ns {
                    return Err(ApiError::bad_request(format!(
                        "the namespace of the object ({n}) does not match the namespace on the request ({ns})"
                    )));
                }
            }
        }
        Ok(())
    }

    /// POST.
    pub fn create(
        &mut self,
        rt: &ResourceType,
        ns: &str,
        body: Value,
        manager: &str,
        dry_run: bool,
    ) -> Result<Written, ApiError> {
        Self::check_body(rt, &body)?;
        let name = body["metadata"]["name"]
            .as_str()
            .unwrap_or_default()
            .to_string();
        Self::check_name(rt, ns, &name, &body)?;
        self.require_namespace(rt, ns, &name)?;
        if self.objects.contains_key(&Self::key(rt, ns, &name)) {
            return Err(ApiError::already_exists(&rt.qualified(), &name));
        }
        let managers = vec![Managed {
            manager: manager.into(),
            operation: "Update",
            api_version: rt.group_version(),
            time: now_rfc3339(),
            fields: fields::leaves(&body),
            subresource: None,
        }];
        self.commit(rt, ns, &name, None, body, managers, dry_run)
    }

    /// PUT.
    pub fn update(
        &mut self,
        rt: &ResourceType,
        ns: &str,
        name: &str,
        body: Value,
        manager: &str,
        dry_run: bool,
    ) -> Result<Written, ApiError> {
        Self::check_body(rt, &body)?;
        Self::check_name(rt, ns, name, &body)?;
        let old = self
            .objects
            .get(&Self::key(rt, ns, name))
            .cloned()
            .ok_or_else(|| ApiError::not_found(&rt.qualified(), name))?;
        if let Some(rv) = body["metadata"]["resourceVersion"].as_str() {
            if Some(rv) != old.obj["metadata"]["resourceVersion"].as_str() {
                return Err(ApiError::new(
                    409,
                    "Conflict",
                    format!("Operation cannot be fulfilled on {} \"{name}\": the object has been modified; please apply your changes to the latest version and try again", rt.qualified()),
                ));
            }
        }
        let mut new = body;
        new["status"] = old.obj["status"].clone();
        let managers = Self::update_ownership(&old, &new, manager, rt);
        self.commit(rt, ns, name, Some(old), new, managers, dry_run)
    }

    /// PATCH with a JSON merge patch (strategic merge patches are treated the same way).
    pub fn merge_patch(
        &mut self,
        rt: &ResourceType,
        ns: &str,
        name: &str,
        patch: Value,
        manager: &str,
        dry_run: bool,
    ) -> Result<Written, ApiError> {
        let old = self
            .objects
            .get(&Self::key(rt, ns, name))
            .cloned()
            .ok_or_else(|| ApiError::not_found(&rt.qualified(), name))?;
        let mut new = old.obj.clone();
        fields::merge_patch(&mut new, &patch);
        Self::check_body(rt, &new)?;
        Self::check_name(rt, ns, name, &new)?;
        let managers = Self::update_ownership(&old, &new, manager, rt);
        self.commit(rt, ns, name, Some(old), new, managers, dry_run)
    }

    /// An Update-operation manager takes the fields it changed; fields that vanished lose owners.
    fn update_ownership(
        old: &Stored,
        new: &Value,
        manager: &str,
        rt: &ResourceType,
    ) -> Vec<Managed> {
        let new_leaves = fields::leaves(new);
        let changed: FieldSet = new_leaves
            .iter()
            .filter(|p| fields::get(&old.obj, p) != fields::get(new, p))
            .cloned()
            .collect();
        let mut managers: Vec<Managed> = old.managers.clone();
        for m in managers
            .iter_mut()
            .filter(|m| m.subresource.as_deref() != Some("status"))
        {
            m.fields
                .retain(|p| new_leaves.contains(p) && !changed.contains(p));
        }
        if !changed.is_empty() {
            match managers.iter_mut().find(|m| {
                m.manager == manager && m.operation == "Update" && m.subresource.is_none()
            }) {
                Some(m) => {
                    m.fields.extend(changed);
                    m.time = now_rfc3339();
                }
                None => managers.push(Managed {
                    manager: manager.into(),
                    operation: "Update",
                    api_version: rt.group_version(),
                    time: now_rfc3339(),
                    fields: changed,
                    subresource: None,
                }),
            }
        }
        managers.retain(|m| !m.fields.is_empty());
        managers
    }

    /// PATCH with `application/apply-patch+yaml`: server-side apply.
    #[allow(clippy::too_many_arguments)]
    pub fn apply(
        &mut self,
        rt: &ResourceType,
        ns: &str,
        name: &str,
        body: Value,
        manager: &str,
        force: bool,
        dry_run: bool,
    ) -> Result<Written, ApiError> {
        Self::check_body(rt, &body)?;
        if body["apiVersion"].is_null() || body["kind"].is_null() {
            return Err(ApiError::bad_request(
                "apiVersion and kind must be set in an apply patch",
            ));
        }
        Self::check_name(rt, ns, name, &body)?;
        let applied = fields::leaves(&body);
        let old = self.objects.get(&Self::key(rt, ns, name)).cloned();
        let Some(old) = old else {
            self.require_namespace(rt, ns, name)?;
            let managers = vec![Managed {
                manager: manager.into(),
                operation: "Apply",
                api_version: rt.group_version(),
                time: now_rfc3339(),
                fields: applied,
                subresource: None,
            }];
            let mut obj = body;
            obj["metadata"]["name"] = json!(name);
            return self.commit(rt, ns, name, None, obj, managers, dry_run);
        };
        let mut managers = old.managers.clone();
        // Conflicts: another manager owns a field this apply sets to a different value.
        let mut conflicts: Vec<(String, String)> = Vec::new();
        for m in managers
            .iter()
            .filter(|m| !(m.manager == manager && m.operation == "Apply"))
        {
            for p in m.fields.intersection(&applied) {
                if fields::get(&old.obj, p) != fields::get(&body, p) {
                    conflicts.push((m.manager.clone(), format!(".{}", p.join("."))));
                }
            }
        }
        if !conflicts.is_empty() {
            if !force {
                return Err(conflict_error(rt, name, &conflicts));
            }
            for m in managers
                .iter_mut()
                .filter(|m| !(m.manager == manager && m.operation == "Apply"))
            {
                m.fields.retain(|p| !applied.contains(p));
            }
        }
        let previous = managers
            .iter()
            .find(|m| m.manager == manager && m.operation == "Apply")
            .map(|m| m.fields.clone())
            .unwrap_or_default();
        let mut obj = old.obj.clone();
        // Fields this manager stopped applying and nobody else owns are removed.
        for p in previous.difference(&applied) {
            let owned_elsewhere = managers
                .iter()
                .any(|m| !(m.manager == manager && m.operation == "Apply") && m.fields.contains(p));
            if !owned_elsewhere {
                fields::remove(&mut obj, p);
            }
        }
        for p in &applied {
            if let Some(v) = fields::get(&body, p) {
                fields::set(&mut obj, p, v.clone());
            }
        }
        let entry = Managed {
            manager: manager.into(),
            operation: "Apply",
            api_version: rt.group_version(),
            time: now_rfc3339(),
            fields: applied,
            subresource: None,
        };
        match managers
            .iter_mut()
            .find(|m| m.manager == manager && m.operation == "Apply")
        {
            Some(m) => {
                if m.fields != entry.fields {
                    *m = entry;
                }
            }
            None => managers.push(entry),
        }
        managers.retain(|m| !m.fields.is_empty());
        self.commit(rt, ns, name, Some(old), obj, managers, dry_run)
    }

    /// Stores `obj` (after validation), maintaining system metadata, and runs controller hooks.
    #[allow(clippy::too_many_arguments)]
    fn commit(
        &mut self,
        rt: &ResourceType,
        ns: &str,
        name: &str,
        old: Option<Stored>,
        mut obj: Value,
        managers: Vec<Managed>,
        dry_run: bool,
    ) -> Result<Written, ApiError> {
        obj["apiVersion"] = json!(rt.group_version());
        obj["kind"] = json!(rt.kind);
        if !obj["metadata"].is_object() {
            obj["metadata"] = Value::Object(Map::new());
        }
        obj["metadata"]["name"] = json!(name);
        if rt.namespaced {
            obj["metadata"]["namespace"] = json!(ns);
        } else if let Some(m) = obj["metadata"].as_object_mut() {
            m.remove("namespace");
        }
        if let Some(m) = obj["metadata"].as_object_mut() {
            m.remove("managedFields");
        }
        let errs = validate::check(rt, name, &obj);
        if !errs.is_empty() {
            return Err(ApiError::invalid(&rt.kind, name, errs));
        }
        let created = old.is_none();
        match &old {
            Some(old) => {
                for k in ["uid", "creationTimestamp", "generation", "resourceVersion"] {
                    obj["metadata"][k] = old.obj["metadata"][k].clone();
                }
                deletion::keep_deletion_state(old, &mut obj, rt, name)?;
                subresources::keep_status(rt, &old.obj, &mut obj);
                if obj == old.obj && managers_equal(&managers, &old.managers) {
                    // A no-op write: nothing changes, not even the resourceVersion.
                    return Ok(Written {
                        obj: Self::render(old),
                        created: false,
                    });
                }
                if spec_of(&obj) != spec_of(&old.obj) {
                    obj["metadata"]["generation"] =
                        json!(old.obj["metadata"]["generation"].as_i64().unwrap_or(1) + 1);
                }
            }
            None => {
                obj["metadata"]["uid"] = json!(self.uid(name));
                obj["metadata"]["creationTimestamp"] = json!(now_rfc3339());
                obj["metadata"]["generation"] = json!(1);
            }
        }
        if dry_run {
            obj["metadata"]["resourceVersion"] = json!((self.rv + 1).to_string());
            return Ok(Written {
                obj: Self::render(&Stored { obj, managers }),
                created,
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
                });
            }
        }
        obj["metadata"]["resourceVersion"] = json!(self.next_rv());
        controllers::on_commit(self, rt, &mut obj, created);
        let stored = Stored { obj, managers };
        let out = Self::render(&stored);
        self.objects.insert(key, stored);
        Ok(Written { obj: out, created })
    }

    /// DELETE with default options (propagation per kind, no preconditions); see
    /// `deletion` for finalizers, graceful deletion and the answer's shape.
    pub fn delete(
        &mut self,
        rt: &ResourceType,
        ns: &str,
        name: &str,
        dry_run: bool,
    ) -> Result<Value, ApiError> {
        let opts = deletion::DeleteOptions {
            dry_run,
            ..Default::default()
        };
        self.delete_with(rt, ns, name, &opts).map(|d| d.body)
    }

    /// Removes an object from storage for good (a CRD takes its served types with it).
    pub fn remove_object(&mut self, key: &Key) -> Option<Stored> {
        let stored = self.objects.remove(key)?;
        self.rv += 1;
        if key.0 == "apiextensions.k8s.io" && key.1 == "customresourcedefinitions" {
            self.types
                .retain(|t| t.crd.as_deref() != Some(key.3.as_str()));
        }
        Some(stored)
    }

    /// Objects of one type, optionally in one namespace, sorted by namespace and name.
    pub fn list(&self, rt: &ResourceType, ns: Option<&str>) -> Vec<Value> {
        self.objects
            .iter()
            .filter(|(k, _)| k.0 == rt.group && k.1 == rt.plural && ns.is_none_or(|n| k.2 == n))
            .map(|(_, s)| Self::render(s))
            .collect()
    }

    /// Drops every object and CRD-defined type (a restart that loses state), then re-seeds.
    pub fn wipe(&mut self) {
        let config = self.config.clone();
        let rv = self.rv;
        *self = State::new(config);
        self.rv = rv + 1000;
    }
}

fn managers_equal(a: &[Managed], b: &[Managed]) -> bool {
    a.len() == b.len()
        && a.iter().zip(b).all(|(x, y)| {
            x.manager == y.manager && x.operation == y.operation && x.fields == y.fields
        })
}

/// Everything but metadata and status: what `generation` tracks.
fn spec_of(obj: &Value) -> Value {
    let mut v = obj.clone();
    if let Some(m) = v.as_object_mut() {
        m.remove("metadata");
        m.remove("status");
    }
    v
}

fn conflict_error(rt: &ResourceType, name: &str, conflicts: &[(String, String)]) -> ApiError {
    let n = conflicts.len();
    let lines: Vec<String> = conflicts
        .iter()
        .map(|(m, f)| format!("conflict with \"{m}\": {f}"))
        .collect();
    let message = if n == 1 {
        format!("Apply failed with 1 conflict: {}", lines[0])
    } else {
        format!("Apply failed with {n} conflicts: {}", lines.join("\n"))
    };
    let mut e = ApiError::new(409, "Conflict", message);
    e.details = json!({
        "name": name, "group": rt.group, "kind": rt.plural,
        "causes": conflicts.iter().map(|(m, f)| json!({"reason": "FieldManagerConflict", "message": format!("conflict with \"{m}\""), "field": f})).collect::<Vec<_>>()
    });
    e
}
