//! The simulated controllers of a k3s node, run in passes on the simulated clock: each pass
//! runs every controller once over the current objects (top-down: garbage collector and
//! namespace controller, workload controllers, the kubelet, the helm-controller, ...).
//! Controllers write through the same store as clients, as `k3s` (the embedded
//! controller-manager's field manager on a k3s node), status through the `status`
//! subresource and replicas through `scale`.

pub mod apps;
pub mod batch;
pub mod crd;
pub mod deployments;
pub mod gc;
pub mod helm;
pub mod hpa;
pub mod pods;

use super::clock::SimInstant;
use super::fields::{ManagerEntry, Writer};
use super::resources::ResourceType;
use super::store::{now_rfc3339, ownership, Key, State};
use serde_json::{json, Value};
use sha2::{Digest, Sha256};
use std::collections::BTreeMap;

/// Field manager of every controller write (k3s runs the controllers in its own binary).
pub const MANAGER: &str = "k3s";
/// Annotation that marks a workload as never becoming ready.
pub const NEVER_READY_ANNOTATION: &str = "kube-sim.ferry.dev/never-ready";
/// Upper bound of passes `settle` runs before it gives up on quiescence.
pub const MAX_PASSES: usize = 200;

/// What controllers remember between passes.
#[derive(Debug, Clone, Default)]
pub struct ControllerMemory {
    /// When a controller first saw something (keyed by uid and a revision), to time readiness.
    pub first_seen: BTreeMap<String, SimInstant>,
    /// The store's resourceVersion after each clock-independent controller last ran: when
    /// nothing changed since, it has nothing to do and is skipped.
    pub last_run_rv: BTreeMap<&'static str, u64>,
}

impl State {
    /// When `what` was first seen (now, on the first call).
    pub fn first_seen(&mut self, what: &str) -> SimInstant {
        let now = self.clock.now();
        *self
            .memory
            .first_seen
            .entry(what.to_string())
            .or_insert(now)
    }

    /// True once `delay` of simulated time has passed since `what` was first seen.
    pub fn elapsed_since_first_seen(&mut self, what: &str, delay: std::time::Duration) -> bool {
        let seen = self.first_seen(what);
        self.clock.now().0 >= seen.0 + delay
    }

    /// Stored objects of a kind (in one namespace, if given), by reference, in key order:
    /// a range over the store's ordered keys, so a lookup does not scan or copy the rest.
    pub fn stored_of<'s>(
        &'s self,
        group: &'s str,
        plural: &'s str,
        ns: Option<&'s str>,
    ) -> impl Iterator<Item = (&'s Key, &'s Value)> + 's {
        let start: Key = (
            group.to_string(),
            plural.to_string(),
            ns.unwrap_or_default().to_string(),
            String::new(),
        );
        self.objects
            .range(start..)
            .take_while(move |(k, _)| k.0 == group && k.1 == plural && ns.is_none_or(|n| k.2 == n))
            .map(|(k, s)| (k, &s.obj))
    }

    /// Objects of a kind (stored form, without managedFields), with their keys, copied so
    /// the caller may write while it walks them.
    pub fn objects_of(&self, group: &str, plural: &str) -> Vec<(Key, Value)> {
        self.stored_of(group, plural, None)
            .map(|(k, o)| (k.clone(), o.clone()))
            .collect()
    }

    pub fn stored_obj(&self, key: &Key) -> Option<&Value> {
        self.objects.get(key).map(|s| &s.obj)
    }

    /// Writes `status` through the status subresource as `manager`; no-op when unchanged.
    /// The manager's entry (`subresource: status`) takes what the write changed, as the
    /// field manager of the real server records an Update.
    pub fn write_status_as(&mut self, key: &Key, status: Value, manager: &str) -> bool {
        let Some(stored) = self.objects.get(key) else {
            return false;
        };
        if stored.obj["status"] == status {
            return false;
        }
        let mut new = stored.obj.clone();
        new["status"] = status;
        let managers = self.managers_after(key, &new, manager, "status");
        self.rv += 1;
        new["metadata"]["resourceVersion"] = json!(self.rv.to_string());
        let Some(stored) = self.objects.get_mut(key) else {
            return false;
        };
        stored.obj = new;
        stored.managers = managers;
        true
    }

    /// The managers of the object at `key` after `manager` wrote `new` through `subresource`
    /// (an Update operation); unchanged when the object's type is not served.
    pub(crate) fn managers_after(
        &self,
        key: &Key,
        new: &Value,
        manager: &str,
        subresource: &str,
    ) -> Vec<ManagerEntry> {
        let Some(stored) = self.objects.get(key) else {
            return Vec::new();
        };
        let api_version = stored.obj["apiVersion"].as_str().unwrap_or_default();
        let Some(rt) = self
            .types
            .iter()
            .find(|t| t.group == key.0 && t.plural == key.1 && t.group_version() == api_version)
        else {
            return stored.managers.clone();
        };
        // The scale subresource's conversion back to the parent loses the entry's time
        // (kube-apiserver 1.37: `subresource: scale` entries carry none).
        let time = if subresource == "scale" {
            String::new()
        } else {
            now_rfc3339()
        };
        let writer = Writer {
            manager,
            api_version,
            subresource,
            time: &time,
        };
        ownership::update(rt, &key.3, &stored.obj, new, &stored.managers, &writer)
            .unwrap_or_else(|_| stored.managers.clone())
    }

    pub fn write_status(&mut self, key: &Key, status: Value) -> bool {
        self.write_status_as(key, status, MANAGER)
    }

    /// Changes an object outside its status (a controller's update, recorded in managedFields
    /// as `k3s`); `generation`, where the kind has one, follows spec changes. No-op when `f` changes nothing.
    pub fn mutate(&mut self, key: &Key, f: impl FnOnce(&mut Value)) -> bool {
        self.mutate_through(key, "", f)
    }

    /// [`State::mutate`] through `subresource` (the deployment controller writes its revision
    /// annotation with UpdateStatus, so its `status` entry owns it).
    pub fn mutate_through(
        &mut self,
        key: &Key,
        subresource: &str,
        f: impl FnOnce(&mut Value),
    ) -> bool {
        let Some(stored) = self.objects.get(key) else {
            return false;
        };
        let mut obj = stored.obj.clone();
        f(&mut obj);
        if obj == stored.obj {
            return false;
        }
        let spec_changed = obj["spec"] != stored.obj["spec"];
        let old_old = stored.clone();
        if super::deletion::finalizers_emptied(&old_old, &obj) {
            self.remove_object(key);
            return true;
        }
        self.rv += 1;
        obj["metadata"]["resourceVersion"] = json!(self.rv.to_string());
        // Only kinds whose strategy keeps a generation have one (see `roundtrip::metadata`).
        if let Some(g) = obj["metadata"]["generation"]
            .as_i64()
            .filter(|_| spec_changed)
        {
            obj["metadata"]["generation"] = json!(g + 1);
        }
        // The controller's Update takes what it changed (e.g. the Deployment revision
        // annotation), as the real field manager records it.
        let managers = self.managers_after(key, &obj, MANAGER, subresource);
        if let Some(stored) = self.objects.get_mut(key) {
            stored.obj = obj;
            stored.managers = managers;
        }
        true
    }

    /// Creates an object as a controller (errors are the controller's problem: ignored, as a
    /// real controller would retry).
    pub fn create_as_controller(&mut self, group: &str, kind: &str, ns: &str, obj: Value) -> bool {
        let Some(rt) = self.rt_by_kind(group, kind) else {
            return false;
        };
        self.create(&rt, ns, obj, MANAGER, false).is_ok()
    }

    /// Deletes an object in the background as the garbage collector does.
    pub fn delete_as_controller(&mut self, key: &Key) -> bool {
        let Some(rt) = self
            .types
            .iter()
            .find(|t| t.group == key.0 && t.plural == key.1)
            .cloned()
        else {
            self.remove_object(key);
            return true;
        };
        let opts = super::deletion::DeleteOptions {
            propagation: Some(super::deletion::Propagation::Background),
            ..Default::default()
        };
        self.delete_with(&rt, &key.2, &key.3, &opts).is_ok()
    }

    /// Runs a controller that reacts only to object changes (not to the clock), unless the
    /// store has not changed since its last run.
    fn run_on_change(&mut self, name: &'static str, controller: fn(&mut State)) {
        if self.memory.last_run_rv.get(name) == Some(&self.rv) {
            return;
        }
        controller(self);
        self.memory.last_run_rv.insert(name, self.rv);
    }

    /// One pass of every controller; true when anything changed.
    pub fn controller_pass(&mut self) -> bool {
        let before = self.rv;
        gc::namespaces(self);
        crd::run(self);
        self.run_on_change("garbage-collector", gc::collect);
        deployments::deployments(self);
        apps::statefulsets(self);
        apps::daemonsets(self);
        self.run_on_change("replicaset", deployments::replicasets);
        batch::jobs(self);
        helm::run(self);
        pods::kubelet(self);
        self.run_on_change("persistentvolume-binder", pods::volumes);
        hpa::run(self);
        batch::ttl(self);
        self.rv != before
    }

    /// Passes until nothing changes (bounded by `MAX_PASSES`); returns the passes run.
    pub fn settle(&mut self) -> usize {
        for n in 1..=MAX_PASSES {
            if !self.controller_pass() {
                return n;
            }
        }
        MAX_PASSES
    }

    /// Lets `by` of simulated time pass as it would on a node: the clock moves in steps of at
    /// most one second and the controllers settle after each, so delays that follow one
    /// another (a pod scheduled, then ready, then its ReplicaSet counted) all elapse.
    pub fn advance(&mut self, by: std::time::Duration) -> usize {
        let step = std::time::Duration::from_secs(1);
        let mut left = by;
        let mut passes = self.settle();
        while !left.is_zero() {
            let d = left.min(step);
            self.clock.advance(d);
            left -= d;
            passes += self.settle();
        }
        passes
    }
}

/// A request arrived: in per-request mode the clock moves one tick and the controllers settle
/// (as real controllers react within milliseconds, long before a client's next poll), so what
/// a client sees depends on how many requests it made, never on wall-clock time.
pub fn observe(state: &mut State) {
    if let super::clock::ClockMode::PerRequest { tick } = state.config.clock {
        state.clock.advance(tick);
        state.settle();
    }
}

/// Seeds what a fresh k3s node has: its storage class (local-path) and the HelmChart CRDs
/// established.
pub fn seed(state: &mut State) {
    helm::seed(state);
    pods::seed(state);
    crd::establish_all(state);
}

/// Admission-time and registry-time changes on every stored write (after validation).
pub fn on_commit(state: &mut State, rt: &ResourceType, obj: &mut Value, created: bool) {
    if !created {
        return;
    }
    // A create's status reset and a Namespace's `status.phase`/`spec.finalizers` are the
    // write pipeline's (strategy reset, roundtrip defaulting).
    match (rt.group.as_str(), rt.kind.as_str()) {
        ("", "PersistentVolumeClaim") => pods::default_storage_class(state, obj),
        ("apiextensions.k8s.io", "CustomResourceDefinition") => {
            // crd_delay counts from creation.
            let uid = obj["metadata"]["uid"]
                .as_str()
                .unwrap_or_default()
                .to_string();
            state.first_seen(&format!("{uid}/establish"));
        }
        _ => {}
    }
}

/// A stable 10-character name suffix from `data` in the alphabet Kubernetes uses for
/// generated names (no vowels, no confusable digits).
pub fn name_hash(data: &str, len: usize) -> String {
    const ALPHABET: &[u8] = b"bcdfghjklmnpqrstvwxz2456789";
    Sha256::digest(data.as_bytes())
        .iter()
        .take(len)
        .map(|b| ALPHABET[*b as usize % ALPHABET.len()] as char)
        .collect()
}

/// An ownerReference to `owner` as controllers set it (controller, blockOwnerDeletion).
pub fn controller_ref(owner: &Value) -> Value {
    json!({"apiVersion": owner["apiVersion"], "kind": owner["kind"], "name": owner["metadata"]["name"],
           "uid": owner["metadata"]["uid"], "controller": true, "blockOwnerDeletion": true})
}

/// True when `obj` has a controller ownerReference to the object with `uid`.
pub fn owned_by(obj: &Value, uid: &Value) -> bool {
    obj["metadata"]["ownerReferences"]
        .as_array()
        .is_some_and(|refs| {
            refs.iter()
                .any(|r| &r["uid"] == uid && r["controller"] == true)
        })
}

/// Images of a pod template's containers.
pub fn images(template_spec: &Value) -> Vec<String> {
    template_spec["containers"]
        .as_array()
        .map(|cs| {
            cs.iter()
                .filter_map(|c| c["image"].as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default()
}

/// A condition entry with both timestamps at `now`.
pub fn condition(kind: &str, status: &str, reason: &str, message: &str, now: &str) -> Value {
    json!({"type": kind, "status": status, "lastUpdateTime": now, "lastTransitionTime": now,
           "reason": reason, "message": message})
}

/// Replaces the condition of the same type in `conds`, keeping `lastTransitionTime` when the
/// status did not change (and both times when nothing changed).
pub fn merge_condition(conds: &Value, new: Value) -> Value {
    let mut list: Vec<Value> = conds.as_array().cloned().unwrap_or_default();
    match list.iter_mut().find(|c| c["type"] == new["type"]) {
        Some(old) => {
            let same = old["status"] == new["status"]
                && old["reason"] == new["reason"]
                && old["message"] == new["message"];
            if same {
                return Value::Array(list);
            }
            let mut n = new;
            if old["status"] == n["status"] {
                n["lastTransitionTime"] = old["lastTransitionTime"].clone();
            }
            *old = n;
        }
        None => list.push(new),
    }
    Value::Array(list)
}

/// `conds` with `new` set as the deployment controller sets a condition
/// (`SetDeploymentCondition`): unchanged when it says the same, else the old one of its type
/// removed (its `lastTransitionTime` kept when the status stays) and `new` appended, so the
/// condition changed last comes last.
pub fn set_condition_last(conds: &Value, new: Value) -> Value {
    let mut list: Vec<Value> = conds.as_array().cloned().unwrap_or_default();
    let mut n = new;
    if let Some(i) = list.iter().position(|c| c["type"] == n["type"]) {
        let old = &list[i];
        if ["status", "reason", "message"]
            .iter()
            .all(|k| old[*k] == n[*k])
        {
            return Value::Array(list);
        }
        if old["status"] == n["status"] {
            n["lastTransitionTime"] = old["lastTransitionTime"].clone();
        }
        list.remove(i);
    }
    list.push(n);
    Value::Array(list)
}
