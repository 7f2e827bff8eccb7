//! Services: `SetDefaults_Service`, and what the Service REST storage allocates (k3s's
//! single-stack IPv4 service CIDR 10.43.0.0/16, node ports 30000-32767), kept across updates
//! and applies as `patchAllocatedValues` keeps them.

use super::{default_ptr, default_str, each_item, unset_str};
use crate::kube_sim::errors::ApiError;
use serde_json::{json, Map, Value};
use std::collections::BTreeSet;

/// k3s's default service CIDR.
pub const SERVICE_CIDR_PREFIX: [u8; 2] = [10, 43];
/// k3s's default node port range.
pub const NODE_PORTS: std::ops::RangeInclusive<i64> = 30000..=32767;

fn spec_type(spec: &Map<String, Value>) -> &str {
    spec.get("type")
        .and_then(Value::as_str)
        .unwrap_or("ClusterIP")
}

/// `SetDefaults_Service`.
pub fn defaults(obj: &mut Value) {
    let Some(m) = obj.as_object_mut() else { return };
    let spec = m.entry("spec").or_insert_with(|| json!({}));
    if let Some(spec) = spec.as_object_mut() {
        default_str(spec, "sessionAffinity", "None");
        match spec.get("sessionAffinity").and_then(Value::as_str) {
            Some("None") => {
                spec.remove("sessionAffinityConfig");
            }
            Some("ClientIP") => {
                let timeout = &spec
                    .get("sessionAffinityConfig")
                    .cloned()
                    .unwrap_or_default()["clientIP"]["timeoutSeconds"];
                if timeout.is_null() {
                    spec.insert(
                        "sessionAffinityConfig".into(),
                        json!({"clientIP": {"timeoutSeconds": 10800}}),
                    );
                }
            }
            _ => {}
        }
        default_str(spec, "type", "ClusterIP");
        for port in each_item(spec, "ports") {
            default_str(port, "protocol", "TCP");
            let target = port.get("targetPort");
            if target.is_none_or(|t| t.is_null() || t == &json!(0) || t == &json!("")) {
                let p = port.get("port").cloned().unwrap_or(json!(0));
                port.insert("targetPort".into(), p);
            }
        }
        let kind = spec_type(spec).to_string();
        let external = matches!(kind.as_str(), "NodePort" | "LoadBalancer")
            || spec
                .get("externalIPs")
                .and_then(Value::as_array)
                .is_some_and(|a| !a.is_empty());
        if external {
            default_str(spec, "externalTrafficPolicy", "Cluster");
        }
        if matches!(kind.as_str(), "ClusterIP" | "NodePort" | "LoadBalancer") {
            default_ptr(spec, "internalTrafficPolicy", json!("Cluster"));
        }
        if kind == "LoadBalancer" {
            default_ptr(spec, "allocateLoadBalancerNodePorts", json!(true));
        }
    }
    let status = m.entry("status").or_insert_with(|| json!({}));
    if let Some(s) = status.as_object_mut() {
        let lb = s.entry("loadBalancer").or_insert_with(|| json!({}));
        // LoadBalancerIPMode: an ingress with an IP is a `VIP` unless it says otherwise.
        let ingresses = lb.get_mut("ingress").and_then(Value::as_array_mut);
        for ingress in ingresses.into_iter().flatten() {
            if ingress["ip"].is_string() && ingress["ipMode"].is_null() {
                ingress["ipMode"] = json!("VIP");
            }
        }
    }
}

/// What other Services hold.
#[derive(Debug, Default, Clone)]
pub struct Allocated {
    pub cluster_ips: BTreeSet<String>,
    pub node_ports: BTreeSet<i64>,
}

impl Allocated {
    /// Collects the cluster IPs and node ports of `services` (stored objects).
    pub fn from_services<'a>(services: impl Iterator<Item = &'a Value>) -> Self {
        let mut a = Allocated::default();
        for s in services {
            if let Some(ip) = s["spec"]["clusterIP"]
                .as_str()
                .filter(|ip| *ip != "None" && !ip.is_empty())
            {
                a.cluster_ips.insert(ip.to_string());
            }
            for p in s["spec"]["ports"].as_array().into_iter().flatten() {
                if let Some(n) = p["nodePort"].as_i64() {
                    a.node_ports.insert(n);
                }
            }
        }
        a
    }
}

fn invalid(name: &str, field: &str, msg: String) -> ApiError {
    ApiError::invalid("Service", name, vec![(field.to_string(), msg)])
}

/// Keeps what `old` had allocated when the new spec leaves it empty, then allocates what is
/// still missing: a cluster IP (`clusterIPs`, `ipFamilies`, `ipFamilyPolicy` with it) and
/// node ports.
pub fn allocate(obj: &mut Value, old: Option<&Value>, taken: &Allocated) -> Result<(), ApiError> {
    let name = obj["metadata"]["name"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    let namespace = obj["metadata"]["namespace"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    let Some(spec) = obj.get_mut("spec").and_then(Value::as_object_mut) else {
        return Ok(());
    };
    let kind = spec_type(spec).to_string();
    if kind == "ExternalName" {
        return Ok(());
    }
    if let Some(old_spec) = old.and_then(|o| o["spec"].as_object()) {
        if unset_str(spec.get("clusterIP")) && spec_type(old_spec) != "ExternalName" {
            for k in ["clusterIP", "clusterIPs"] {
                if let Some(v) = old_spec.get(k) {
                    spec.insert(k.into(), v.clone());
                }
            }
        }
        // normalizeClusterIPs: a changed singular field with an unchanged plural one is an
        // old client's change of the cluster IP.
        let new_ip = spec.get("clusterIP").and_then(Value::as_str).unwrap_or("");
        let old_ip = old_spec
            .get("clusterIP")
            .and_then(Value::as_str)
            .unwrap_or("");
        if !new_ip.is_empty()
            && !old_ip.is_empty()
            && new_ip != old_ip
            && spec.get("clusterIPs") == old_spec.get("clusterIPs")
        {
            let ip = new_ip.to_string();
            spec.insert("clusterIPs".into(), json!([ip]));
        }
        let old_ports: Vec<Value> = old_spec
            .get("ports")
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default();
        for port in each_item(spec, "ports") {
            if port.get("nodePort").and_then(Value::as_i64).unwrap_or(0) == 0 {
                if let Some(n) = old_ports
                    .iter()
                    .find(|p| p["port"] == port["port"] && p["protocol"] == port["protocol"])
                    .and_then(|p| p["nodePort"].as_i64())
                {
                    port.insert("nodePort".into(), json!(n));
                }
            }
        }
    }
    let own_ip = old
        .and_then(|o| o["spec"]["clusterIP"].as_str())
        .map(str::to_string);
    let headless = spec.get("clusterIP").and_then(Value::as_str) == Some("None");
    if headless {
        spec.insert("clusterIPs".into(), json!(["None"]));
        let has_selector = spec
            .get("selector")
            .and_then(Value::as_object)
            .is_some_and(|s| !s.is_empty());
        let policy = if has_selector {
            "SingleStack"
        } else {
            "RequireDualStack"
        };
        default_ptr(spec, "ipFamilyPolicy", json!(policy));
    } else {
        let ip = match spec
            .get("clusterIP")
            .and_then(Value::as_str)
            .filter(|s| !s.is_empty())
        {
            Some(ip) => {
                if taken.cluster_ips.contains(ip) && own_ip.as_deref() != Some(ip) {
                    return Err(invalid(&name, "spec.clusterIPs", format!("Invalid value: []string{{\"{ip}\"}}: failed to allocate IP {ip}: provided IP is already allocated")));
                }
                ip.to_string()
            }
            None => {
                free_ip(&format!("{namespace}/{name}"), &taken.cluster_ips).ok_or_else(|| {
                    ApiError::new(
                        500,
                        "InternalError",
                        "Internal error occurred: failed to allocate a serviceIP: range is full",
                    )
                })?
            }
        };
        spec.insert("clusterIP".into(), json!(ip));
        if spec
            .get("clusterIPs")
            .and_then(Value::as_array)
            .is_none_or(Vec::is_empty)
        {
            spec.insert("clusterIPs".into(), json!([ip]));
        }
        default_ptr(spec, "ipFamilyPolicy", json!("SingleStack"));
    }
    if spec
        .get("ipFamilies")
        .and_then(Value::as_array)
        .is_none_or(Vec::is_empty)
    {
        spec.insert("ipFamilies".into(), json!(["IPv4"]));
    }
    if matches!(kind.as_str(), "NodePort" | "LoadBalancer")
        && spec.get("allocateLoadBalancerNodePorts") != Some(&json!(false))
    {
        let mut used = taken.node_ports.clone();
        for port in each_item(spec, "ports") {
            if let Some(n) = port
                .get("nodePort")
                .and_then(Value::as_i64)
                .filter(|n| *n != 0)
            {
                used.insert(n);
                continue;
            }
            let n = NODE_PORTS
                .clone()
                .find(|n| !used.contains(n))
                .ok_or_else(|| {
                    ApiError::new(
                        500,
                        "InternalError",
                        "Internal error occurred: failed to allocate a nodePort: range is full",
                    )
                })?;
            used.insert(n);
            port.insert("nodePort".into(), json!(n));
        }
    }
    Ok(())
}

/// A free address of 10.43.0.0/16, starting at a point derived from the Service's name
/// (k3s picks at random; a stable start keeps tests repeatable). Skips .0.0, .0.1 (the
/// `kubernetes` Service), .0.10 (k3s's DNS) and .255.255.
fn free_ip(seed: &str, taken: &BTreeSet<String>) -> Option<String> {
    use sha2::{Digest, Sha256};
    let h = Sha256::digest(seed.as_bytes());
    let start = u32::from(u16::from_be_bytes([h[0], h[1]]));
    (0..65536u32)
        .map(|i| (start + i) % 65536)
        .filter(|o| !matches!(o, 0 | 1 | 10 | 65535))
        .map(|o| {
            format!(
                "{}.{}.{}.{}",
                SERVICE_CIDR_PREFIX[0],
                SERVICE_CIDR_PREFIX[1],
                o >> 8,
                o & 0xff
            )
        })
        .find(|ip| !taken.contains(ip))
}
