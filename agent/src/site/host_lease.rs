//! The IO shell of rolling host upgrades ([`super::rollout`] decides): read and write the host
//! Lease (create, or update carrying the `resourceVersion` read, so a 409 means another node
//! wrote first), record a stopped rollout on it, look at this node's Node (`Ready` condition)
//! and the API's `/readyz`, cordon, drain (evictions) and uncordon the Node. These go through the
//! *unfenced* client: every node of the site takes its own turn, leader or not; none of them
//! touches the site's cluster objects. Its User-Agent says `(host-rollout)`.

use super::lease::{LeaseSpec, Observer, Timings};
use super::lease_object::{lease_body, parse, send_json, LeaseRecord};
use super::rollout::{self, Step, Stopped};
use super::SiteConfig;
use crate::clock::Clock;
use crate::kube::retry::RetryPolicy;
use crate::kube::{KubeClient, KubeError};
use serde_json::{json, Value};
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

/// Why a host rollout request failed.
#[derive(Debug, thiserror::Error)]
pub enum HostLeaseError {
    #[error("host lease {lease}: {source}")]
    Kube { lease: String, source: KubeError },
    #[error(transparent)]
    Elect(#[from] super::elector::ElectError),
    #[error("node {node}: {source}")]
    Node { node: String, source: KubeError },
    /// Another node wrote the host Lease first (409): not our turn.
    #[error("host lease {0}: another node wrote it first")]
    Conflict(String),
}

/// One node's side of the host rollout.
pub struct HostRollout {
    client: KubeClient,
    site: SiteConfig,
    me: String,
    clock: Arc<dyn Clock>,
    observer: Mutex<Observer>,
    /// What the last turn saw, for the heartbeat.
    status: Mutex<Value>,
}

impl HostRollout {
    /// `client` must be the unfenced client; `me` the device id.
    pub fn new(client: KubeClient, site: SiteConfig, me: String, clock: Arc<dyn Clock>) -> Self {
        let client = client.tagged("host-rollout").with_retry(RetryPolicy {
            attempts: 1,
            ..RetryPolicy::default()
        });
        HostRollout {
            client,
            site,
            me,
            clock,
            observer: Mutex::new(Observer::default()),
            status: Mutex::new(Value::Null),
        }
    }

    pub fn me(&self) -> &str {
        &self.me
    }

    pub fn clock(&self) -> &Arc<dyn Clock> {
        &self.clock
    }

    pub fn config(&self) -> &super::config::HostRolloutConfig {
        &self.site.host_rollout
    }

    /// This node's Node object name.
    pub fn node(&self) -> String {
        self.config()
            .node_name
            .clone()
            .unwrap_or_else(|| self.me.clone())
    }

    fn name(&self) -> String {
        format!("{}/{}", self.site.lease_namespace, self.site.host_lease())
    }

    fn path(&self, named: bool) -> String {
        let base = format!(
            "/apis/coordination.k8s.io/v1/namespaces/{}/leases",
            self.site.lease_namespace
        );
        match named {
            true => format!("{base}/{}", self.site.host_lease()),
            false => base,
        }
    }

    fn timings(&self) -> Timings {
        let h = self.config();
        Timings {
            lease_duration: h.lease_duration,
            renew_deadline: h.ready_timeout,
            retry_period: h.poll_interval,
        }
    }

    fn kube(&self, source: KubeError) -> HostLeaseError {
        match source.code() {
            Some(409) => HostLeaseError::Conflict(self.name()),
            _ => HostLeaseError::Kube {
                lease: self.name(),
                source,
            },
        }
    }

    /// The host Lease as it is now (None: not created yet).
    pub fn read(&self) -> Result<Option<LeaseRecord>, HostLeaseError> {
        match send_json(&self.client, "GET", &self.path(true), None) {
            Ok(obj) => Ok(Some(parse(&obj, &self.name())?)),
            Err(e) if e.is_not_found() => Ok(None),
            Err(e) => Err(self.kube(e)),
        }
    }

    /// The next step for `sync` at `revision` with this node's state `local`.
    pub fn decide(
        &self,
        lease: Option<&LeaseRecord>,
        sync: &str,
        revision: u64,
        local: rollout::Local,
    ) -> Step {
        let mut o = self.observer.lock().unwrap_or_else(|e| e.into_inner());
        rollout::next(
            &mut o,
            lease,
            &self.me,
            sync,
            revision,
            local,
            self.clock.now(),
            self.clock.unix_now(),
            self.timings(),
        )
    }

    /// Writes `spec` (create or update of `current`) with `extra` annotations; returns the
    /// record as written.
    pub fn write(
        &self,
        spec: &LeaseSpec,
        current: Option<&LeaseRecord>,
        extra: BTreeMap<String, String>,
    ) -> Result<LeaseRecord, HostLeaseError> {
        let ns = &self.site.lease_namespace;
        let body = lease_body(ns, &self.site.host_lease(), spec, current, extra);
        let sent = match current {
            None => send_json(&self.client, "POST", &self.path(false), Some(&body)),
            Some(_) => send_json(&self.client, "PUT", &self.path(true), Some(&body)),
        };
        let obj = sent.map_err(|e| self.kube(e))?;
        Ok(parse(&obj, &self.name())?)
    }

    /// Renews our turn (best effort: the API may be restarting with k3s).
    pub fn renew(&self, current: &LeaseRecord) -> Result<LeaseRecord, HostLeaseError> {
        let mut spec = current.spec.clone();
        spec.renew_time = Some(super::lease::micro_time(self.clock.unix_now()));
        self.write(&spec, Some(current), BTreeMap::new())
    }

    /// Ends our turn: no holder, a 1 s duration (the next node goes at once); with `stop`,
    /// records that the rollout of `sync` stopped, in the same write.
    pub fn release(
        &self,
        current: &LeaseRecord,
        stop: Option<(&str, &Stopped)>,
    ) -> Result<(), HostLeaseError> {
        let stamp = super::lease::micro_time(self.clock.unix_now());
        let spec = LeaseSpec {
            holder: None,
            lease_duration_seconds: 1,
            acquire_time: current.spec.acquire_time.clone(),
            renew_time: Some(stamp),
            transitions: current.spec.transitions,
        };
        let extra = stop
            .map(|(sync, s)| BTreeMap::from([(rollout::stop_key(sync), s.encode())]))
            .unwrap_or_default();
        self.write(&spec, Some(current), extra).map(drop)
    }

    fn node_request(&self, method: &str, body: Option<&Value>) -> Result<Value, HostLeaseError> {
        let node = self.node();
        let path = format!("/api/v1/nodes/{node}");
        let sent = match body {
            None => send_json(&self.client, method, &path, None),
            Some(b) => {
                let req = http::Request::builder()
                    .method(method)
                    .uri(&path)
                    .header("Content-Type", "application/merge-patch+json")
                    .body(b.to_string().into_bytes())
                    .map_err(|e| KubeError::Request {
                        what: path.clone(),
                        reason: e.to_string(),
                    });
                req.and_then(|r| self.client.send(r))
            }
        };
        sent.map_err(|source| HostLeaseError::Node { node, source })
    }

    /// None when this node's Node is Ready and the API answers `/readyz`; else what is not
    /// (yet) so.
    pub fn ready(&self) -> Option<String> {
        let node = match self.node_request("GET", None) {
            Ok(n) => n,
            Err(e) => return Some(e.to_string()),
        };
        if let Some(why) = not_ready(&node, &self.node()) {
            return Some(why);
        }
        match self.client.get_path("/readyz") {
            // `/readyz` answers `ok` as text: a 2xx that is not JSON is healthy.
            Ok(_) | Err(KubeError::Decode { .. }) => None,
            Err(e) => Some(format!("API not healthy: {e}")),
        }
    }

    /// Whether the Node is unschedulable now (a GET).
    pub fn cordoned(&self) -> Result<bool, HostLeaseError> {
        let n = self.node_request("GET", None)?;
        Ok(n["spec"]["unschedulable"].as_bool().unwrap_or(false))
    }

    /// Marks the Node unschedulable (`true`) or schedulable again (`false`).
    pub fn set_unschedulable(&self, on: bool) -> Result<(), HostLeaseError> {
        let patch = json!({"spec": {"unschedulable": if on { json!(true) } else { Value::Null }}});
        self.node_request("PATCH", Some(&patch)).map(drop)
    }

    /// Evicts this node's pods (the eviction API, so PodDisruptionBudgets hold; DaemonSet and
    /// mirror pods stay, as `kubectl drain --ignore-daemonsets`) and returns how many are
    /// still on the node (evicted ones count until they are gone); a refused eviction (429)
    /// is tried again on the next call.
    pub fn drain_step(&self) -> Result<usize, HostLeaseError> {
        let node = self.node();
        let path = format!("/api/v1/pods?fieldSelector=spec.nodeName%3D{node}&limit={MAX_PODS}");
        let list =
            send_json(&self.client, "GET", &path, None).map_err(|source| HostLeaseError::Node {
                node: node.clone(),
                source,
            })?;
        let pods: Vec<(String, String, bool)> = list["items"]
            .as_array()
            .into_iter()
            .flatten()
            .filter(|p| drained(p))
            .filter_map(|p| {
                let m = &p["metadata"];
                let going = m["deletionTimestamp"].is_string();
                let ns = m["namespace"].as_str()?.to_string();
                Some((ns, m["name"].as_str()?.to_string(), going))
            })
            .collect();
        for (ns, name, _) in pods.iter().filter(|p| !p.2) {
            let body = json!({"apiVersion": "policy/v1", "kind": "Eviction",
                "metadata": {"name": name, "namespace": ns}});
            let path = format!("/api/v1/namespaces/{ns}/pods/{name}/eviction");
            match send_json(&self.client, "POST", &path, Some(&body)) {
                Ok(_) => {}
                // Gone already, or a budget says not now.
                Err(e) if e.is_not_found() || e.code() == Some(429) => {}
                Err(source) => return Err(HostLeaseError::Node { node, source }),
            }
        }
        Ok(pods.len())
    }

    /// Records what the last turn saw, for the heartbeat.
    pub fn set_status(&self, v: Value) {
        *self.status.lock().unwrap_or_else(|e| e.into_inner()) = v;
    }

    /// The heartbeat's `site.hostRollout` field.
    pub fn heartbeat_field(&self) -> Value {
        let status = self
            .status
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone();
        json!({"lease": self.name(), "node": self.node(), "last": status})
    }
}

/// Most pods a drain looks at per step (one list request).
const MAX_PODS: usize = 500;

/// A pod a drain moves off the node: not owned by a DaemonSet, not a mirror pod, not
/// finished.
fn drained(p: &Value) -> bool {
    let m = &p["metadata"];
    let daemon = m["ownerReferences"]
        .as_array()
        .is_some_and(|o| o.iter().any(|r| r["kind"] == "DaemonSet"));
    let mirror = m["annotations"]["kubernetes.io/config.mirror"].is_string();
    let done = matches!(p["status"]["phase"].as_str(), Some("Succeeded" | "Failed"));
    !(daemon || mirror || done)
}

/// Why `node` (a Node object as read) is not Ready, or None when its `Ready` condition is
/// `True`.
pub fn not_ready(node: &Value, name: &str) -> Option<String> {
    let ready = node["status"]["conditions"]
        .as_array()
        .into_iter()
        .flatten()
        .take(64)
        .find(|c| c["type"] == "Ready");
    match ready.and_then(|c| c["status"].as_str()) {
        Some("True") => None,
        Some(s) => Some(format!(
            "Node {name} not Ready (Ready={})",
            ferry_bundle::text::bounded(s, 16)
        )),
        None => Some(format!("Node {name} has no Ready condition")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_drain_leaves_daemonset_mirror_and_finished_pods() {
        let pod = |meta: Value, phase: &str| json!({"metadata": meta, "status": {"phase": phase}});
        assert!(drained(&pod(json!({"name": "a"}), "Running")));
        let ds = json!({"ownerReferences": [{"kind": "DaemonSet", "name": "x"}]});
        assert!(!drained(&pod(ds, "Running")));
        let mirror = json!({"annotations": {"kubernetes.io/config.mirror": "h"}});
        assert!(!drained(&pod(mirror, "Running")));
        assert!(!drained(&pod(json!({"name": "a"}), "Succeeded")));
    }

    #[test]
    fn a_node_is_ready_only_with_its_ready_condition_true() {
        let node = |s: &str| {
            json!({"status": {"conditions": [
            {"type": "MemoryPressure", "status": "False"}, {"type": "Ready", "status": s}]}})
        };
        assert_eq!(not_ready(&node("True"), "n1"), None);
        assert_eq!(
            not_ready(&node("Unknown"), "n1").as_deref(),
            Some("Node n1 not Ready (Ready=Unknown)")
        );
        assert!(not_ready(&json!({}), "n1")
            .unwrap()
            .contains("no Ready condition"));
    }
}
