//! The Lease object as ferry reads and writes it: a bounded parse of what the server returns
//! (holder, times, version, `ferry.dev/` annotations written by peers), the body of a write,
//! and the one JSON request both leases (the site Lease and the host Lease) go through.

use super::elector::ElectError;
use super::lease::LeaseSpec;
use crate::kube::{KubeClient, KubeError};
use serde_json::{json, Value};
use std::collections::BTreeMap;

/// Longest holder identity read from a Lease (a DNS subdomain).
const MAX_HOLDER: usize = 253;
/// Most annotations kept from a Lease read.
const MAX_ANNOTATIONS: usize = 64;
/// Longest annotation value kept.
const MAX_ANNOTATION: usize = 1024;

/// A Lease as read: spec, version and annotations.
#[derive(Debug, Clone, Default)]
pub struct LeaseRecord {
    pub spec: LeaseSpec,
    pub resource_version: String,
    pub annotations: BTreeMap<String, String>,
}

fn text(v: &Value, max: usize, what: &str, lease: &str) -> Result<Option<String>, ElectError> {
    match v.as_str() {
        None => Ok(None),
        Some(s) if s.len() <= max => Ok(Some(s.to_string())),
        Some(s) => Err(ElectError::Malformed {
            lease: lease.into(),
            reason: format!("{what} is {} bytes (at most {max})", s.len()),
        }),
    }
}

/// Reads a Lease object's fields, bounded.
pub fn parse(obj: &Value, lease: &str) -> Result<LeaseRecord, ElectError> {
    let spec = &obj["spec"];
    let n = |v: &Value| v.as_u64().unwrap_or(0).min(u32::MAX as u64) as u32;
    let mut annotations = BTreeMap::new();
    if let Some(map) = obj["metadata"]["annotations"].as_object() {
        for (k, v) in map.iter().filter(|(k, _)| k.starts_with("ferry.dev/")) {
            if annotations.len() >= MAX_ANNOTATIONS {
                break;
            }
            if let Some(v) = text(v, MAX_ANNOTATION, k, lease)? {
                annotations.insert(k.clone(), v);
            }
        }
    }
    Ok(LeaseRecord {
        spec: LeaseSpec {
            holder: text(&spec["holderIdentity"], MAX_HOLDER, "holderIdentity", lease)?,
            lease_duration_seconds: n(&spec["leaseDurationSeconds"]),
            acquire_time: text(&spec["acquireTime"], 64, "acquireTime", lease)?,
            renew_time: text(&spec["renewTime"], 64, "renewTime", lease)?,
            transitions: n(&spec["leaseTransitions"]),
        },
        resource_version: text(
            &obj["metadata"]["resourceVersion"],
            64,
            "resourceVersion",
            lease,
        )?
        .unwrap_or_default(),
        annotations,
    })
}

/// Sends `body` as JSON with `method` to `path`.
pub(crate) fn send_json(
    client: &KubeClient,
    method: &str,
    path: &str,
    body: Option<&Value>,
) -> Result<Value, KubeError> {
    let body = body.map(|b| b.to_string().into_bytes()).unwrap_or_default();
    let req = http::Request::builder()
        .method(method)
        .uri(path)
        .header("Content-Type", "application/json")
        .body(body)
        .map_err(|e| KubeError::Request {
            what: path.into(),
            reason: e.to_string(),
        })?;
    client.send(req)
}

/// The Lease object `namespace/name` holding `spec`, over the `current` record (its
/// annotations and resourceVersion) with `extra` annotations set.
pub(crate) fn lease_body(
    namespace: &str,
    name: &str,
    spec: &LeaseSpec,
    current: Option<&LeaseRecord>,
    extra: BTreeMap<String, String>,
) -> Value {
    let mut annotations = current.map(|r| r.annotations.clone()).unwrap_or_default();
    annotations.extend(extra);
    let mut metadata = json!({
        "name": name,
        "namespace": namespace,
        "annotations": annotations,
    });
    if let Some(r) = current {
        metadata["resourceVersion"] = json!(r.resource_version);
    }
    json!({
        "apiVersion": "coordination.k8s.io/v1",
        "kind": "Lease",
        "metadata": metadata,
        "spec": {
            "holderIdentity": spec.holder,
            "leaseDurationSeconds": spec.lease_duration_seconds,
            "acquireTime": spec.acquire_time,
            "renewTime": spec.renew_time,
            "leaseTransitions": spec.transitions,
        },
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_lease_is_read_bounded_and_only_ferry_annotations_are_kept() {
        let obj = json!({
            "metadata": {"resourceVersion": "42", "annotations": {
                "ferry.dev/applied.app": "7", "other/x": "y"}},
            "spec": {"holderIdentity": "edge-1", "leaseDurationSeconds": 15,
                     "leaseTransitions": 3, "renewTime": "2026-12-07T21:00:00.000000Z"}
        });
        let r = parse(&obj, "ns/l").unwrap();
        assert_eq!(r.spec.holder.as_deref(), Some("edge-1"));
        assert_eq!((r.spec.lease_duration_seconds, r.spec.transitions), (15, 3));
        assert_eq!(r.resource_version, "42");
        assert_eq!(r.annotations.len(), 1);
        let long = json!({"spec": {"holderIdentity": "x".repeat(300)}});
        let e = parse(&long, "ns/l").unwrap_err().to_string();
        assert!(
            e.contains("ns/l") && e.contains("holderIdentity is 300 bytes"),
            "{e}"
        );
    }
}
