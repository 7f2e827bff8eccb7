//! The object store: objects with their field managers, reads, deletes and the simulated
//! controllers' timers. Writes go through the pipeline in [`write`]; field ownership is in
//! [`ownership`].

mod checks;
mod ownership;
pub mod write;

pub use write::{WriteRequest, WriteVerb, Written};

use super::errors::ApiError;
use super::fields::ManagerEntry;
use super::resources::{self, ResourceType};
use super::workloads;
use serde_json::{json, Value};
use sha2::{Digest, Sha256};
use std::collections::BTreeMap;
use std::time::{Instant, SystemTime};

/// (group, plural, namespace, name); namespace is empty for cluster-scoped objects.
pub type Key = (String, String, String, String);

/// A stored object: the object without `managedFields`, and the managers.
#[derive(Debug, Clone)]
pub struct Stored {
    pub obj: Value,
    pub managers: Vec<ManagerEntry>,
}

/// Something that happens later on its own (a controller's work).
#[derive(Debug, Clone)]
pub enum Timer {
    /// A workload or Job reaches its final status.
    Settle(Key),
    /// A CRD becomes Established and its resources are served.
    Establish(String),
}

/// Knobs of the simulated controllers.
#[derive(Debug, Clone)]
pub struct SimConfig {
    /// Time until a workload is ready or a Job completes.
    pub ready_delay: std::time::Duration,
    /// Time until a CRD is Established.
    pub crd_delay: std::time::Duration,
    /// Workloads whose pod template uses an image containing one of these never become ready.
    pub never_ready_images: Vec<String>,
    /// Jobs whose image contains one of these fail.
    pub failing_images: Vec<String>,
}

impl Default for SimConfig {
    fn default() -> Self {
        SimConfig {
            ready_delay: std::time::Duration::from_millis(100),
            crd_delay: std::time::Duration::from_millis(100),
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
    pub timers: Vec<(Instant, Timer)>,
    pub config: SimConfig,
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
            timers: Vec::new(),
            config,
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
        s.establish("helmcharts.helm.cattle.io");
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

    /// Runs every timer that is due.
    pub fn tick(&mut self) {
        let now = Instant::now();
        if self.timers.iter().all(|(t, _)| *t > now) {
            return;
        }
        let (due, rest): (Vec<_>, Vec<_>) = std::mem::take(&mut self.timers)
            .into_iter()
            .partition(|(t, _)| *t <= now);
        self.timers = rest;
        for (_, timer) in due {
            match timer {
                Timer::Settle(key) => {
                    if let Some(mut stored) = self.objects.remove(&key) {
                        workloads::settle(&mut stored.obj, &self.config);
                        stored.obj["metadata"]["resourceVersion"] = json!(self.next_rv());
                        self.objects.insert(key, stored);
                    }
                }
                Timer::Establish(name) => self.establish(&name),
            }
        }
    }

    fn establish(&mut self, crd_name: &str) {
        let key: Key = (
            "apiextensions.k8s.io".into(),
            "customresourcedefinitions".into(),
            String::new(),
            crd_name.into(),
        );
        let rv = self.next_rv();
        let Some(stored) = self.objects.get_mut(&key) else {
            return;
        };
        workloads::establish_crd(&mut stored.obj);
        stored.obj["metadata"]["resourceVersion"] = json!(rv);
        let new_types = resources::from_crd(&stored.obj);
        self.types.retain(|t| t.crd.as_deref() != Some(crd_name));
        self.types.extend(new_types);
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

    pub(crate) fn require_namespace(&self, rt: &ResourceType, ns: &str) -> Result<(), ApiError> {
        if rt.namespaced
            && !self.objects.contains_key(&(
                String::new(),
                "namespaces".into(),
                String::new(),
                ns.into(),
            ))
        {
            return Err(ApiError::not_found("namespaces", ns));
        }
        Ok(())
    }

    /// k3s's helm controller runs a `helm-install-<name>` Job for every HelmChart.
    pub(crate) fn helm_install_job(&mut self, ns: &str, name: &str) {
        let Some(rt) = self.rt_by_kind("batch", "Job") else {
            return;
        };
        let job_name = format!("helm-install-{name}");
        self.objects.remove(&Self::key(&rt, ns, &job_name));
        let job = json!({"apiVersion": "batch/v1", "kind": "Job",
            "metadata": {"name": job_name, "namespace": ns, "labels": {"helmcharts.helm.cattle.io/chart": name}},
            "spec": {"backoffLimit": 1000, "template": {"spec": {"restartPolicy": "OnFailure",
                "containers": [{"name": "helm", "image": "rancher/klipper-helm:v0.9.3"}]}}}});
        let _ = self.create(&rt, ns, job, "helm-controller", false);
    }

    /// DELETE. Namespaces take their objects with them; CRDs take their resources and objects.
    pub fn delete(
        &mut self,
        rt: &ResourceType,
        ns: &str,
        name: &str,
        dry_run: bool,
    ) -> Result<Value, ApiError> {
        let key = Self::key(rt, ns, name);
        let stored = self
            .objects
            .get(&key)
            .cloned()
            .ok_or_else(|| ApiError::not_found(&rt.qualified(), name))?;
        if dry_run {
            return Ok(Self::render(&stored));
        }
        self.objects.remove(&key);
        if rt.group.is_empty() && rt.kind == "Namespace" {
            self.objects.retain(|k, _| k.2 != name);
        }
        if rt.kind == "CustomResourceDefinition" {
            let group = stored.obj["spec"]["group"]
                .as_str()
                .unwrap_or_default()
                .to_string();
            let plural = stored.obj["spec"]["names"]["plural"]
                .as_str()
                .unwrap_or_default()
                .to_string();
            self.objects.retain(|k, _| !(k.0 == group && k.1 == plural));
            self.types.retain(|t| t.crd.as_deref() != Some(name));
        }
        self.rv += 1;
        Ok(Self::render(&stored))
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
