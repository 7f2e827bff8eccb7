//! The object store: objects with their field managers, reads, deletes (see
//! [`crate::kube_sim::deletion`]), the simulated clock and what the controllers remember. Writes go through the pipeline in [`write`]; field ownership is in
//! [`ownership`].

mod checks;
pub(crate) mod ownership;
pub mod write;

pub use write::{WriteRequest, WriteVerb, Written};

use super::clock::{ClockMode, SimClock};
use super::controllers::{self, ControllerMemory};
use super::deletion;
use super::errors::ApiError;
use super::fields::ManagerEntry;
use super::resources::{self, ResourceType};
use serde_json::{json, Value};
use sha2::{Digest, Sha256};
use std::collections::BTreeMap;
use std::time::SystemTime;

/// (group, plural, namespace, name); namespace is empty for cluster-scoped objects.
pub type Key = (String, String, String, String);

/// A stored object: the object without `managedFields`, and the managers.
#[derive(Debug, Clone)]
pub struct Stored {
    pub obj: Value,
    pub managers: Vec<ManagerEntry>,
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

    /// The preferred version's resource of a kind (autoscaling/v2 for HorizontalPodAutoscaler).
    pub fn rt_by_kind(&self, group: &str, kind: &str) -> Option<ResourceType> {
        self.types
            .iter()
            .filter(|t| t.group == group && t.kind == kind)
            .min_by(|a, b| super::discovery::version_priority(&a.version, &b.version))
            .cloned()
    }

    pub fn rt_by_plural(&self, group: &str, version: &str, plural: &str) -> Option<ResourceType> {
        self.types
            .iter()
            .find(|t| t.group == group && t.version == version && t.plural == plural)
            .cloned()
    }

    pub(crate) fn next_rv(&mut self) -> String {
        self.rv += 1;
        self.rv.to_string()
    }

    pub(crate) fn uid(&self, name: &str) -> String {
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

    /// The object as the API returns it (with `managedFields`, omitted when there are none).
    pub fn render(stored: &Stored) -> Value {
        let mut obj = stored.obj.clone();
        if !stored.managers.is_empty() {
            let mf: Vec<Value> = stored.managers.iter().map(ManagerEntry::to_json).collect();
            obj["metadata"]["managedFields"] = Value::Array(mf);
        }
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
    pub(crate) fn require_namespace(
        &self,
        rt: &ResourceType,
        ns: &str,
        name: &str,
    ) -> Result<(), ApiError> {
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
            Some(n) if deletion::is_deleting(&n.obj) => {
                Err(ApiError::namespace_terminating(rt, ns, name))
            }
            Some(_) => Ok(()),
        }
    }

    /// DELETE with default options (propagation per kind, no preconditions); see
    /// [`deletion`] for finalizers, graceful deletion and the answer's shape.
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

    /// Compacts the store: every continue token issued so far expires (410). The
    /// resourceVersion moves on, as it does on a live cluster between a compaction and the next
    /// list, so tokens issued afterwards (the 410's fresh one included) stay valid.
    pub fn compact(&mut self) {
        self.compacted_rv = self.rv;
        self.rv += 1;
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
