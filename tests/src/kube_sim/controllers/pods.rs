//! Pods and volumes on the simulated single node: the scheduler and kubelet (a pod starts
//! `Pending`, runs and becomes Ready `ready_delay` after it was first seen; a Job's pod
//! succeeds or fails instead; marked images never become ready) and the volume binder with
//! k3s's local-path provisioner (a `WaitForFirstConsumer` claim stays Pending until a pod uses
//! it, then gets a PersistentVolume and goes Bound).

use super::super::deletion::is_deleting;
use super::super::store::{Key, State};
use super::{images, NEVER_READY_ANNOTATION};
use serde_json::{json, Map, Value};

/// The node every pod runs on.
pub const NODE: &str = "k3s-node";
const LOCAL_PATH: &str = "rancher.io/local-path";

/// A pod for `owner` from its pod `template`, with extra labels.
pub fn pod_from_template(
    owner: &Value,
    template: &Value,
    name: &str,
    ns: &str,
    extra_labels: Value,
) -> Value {
    let mut labels = template["metadata"]["labels"]
        .as_object()
        .cloned()
        .unwrap_or_default();
    if let Some(extra) = extra_labels.as_object() {
        labels.extend(extra.clone());
    }
    let mut annotations = template["metadata"]["annotations"]
        .as_object()
        .cloned()
        .unwrap_or_default();
    if owner["metadata"]["annotations"][NEVER_READY_ANNOTATION] == "true" {
        annotations.insert(NEVER_READY_ANNOTATION.into(), json!("true"));
    }
    let mut meta = Map::new();
    meta.insert("name".into(), json!(name));
    meta.insert("namespace".into(), json!(ns));
    meta.insert("labels".into(), Value::Object(labels));
    if !annotations.is_empty() {
        meta.insert("annotations".into(), Value::Object(annotations));
    }
    meta.insert(
        "ownerReferences".into(),
        json!([super::controller_ref(owner)]),
    );
    json!({"apiVersion": "v1", "kind": "Pod", "metadata": meta, "spec": template["spec"].clone()})
}

pub fn is_ready(pod: &Value) -> bool {
    pod["status"]["conditions"].as_array().is_some_and(|c| {
        c.iter()
            .any(|c| c["type"] == "Ready" && c["status"] == "True")
    })
}

pub fn phase(pod: &Value) -> &str {
    pod["status"]["phase"].as_str().unwrap_or("")
}

/// Live (not deleting) pods controlled by the object with `uid`.
pub fn pods_of(state: &State, ns: &str, uid: &Value) -> Vec<(Key, Value)> {
    state
        .stored_of("", "pods", Some(ns))
        .filter(|(_, p)| super::owned_by(p, uid) && !is_deleting(p))
        .map(|(k, p)| (k.clone(), p.clone()))
        .collect()
}

fn never_ready(state: &State, pod: &Value) -> bool {
    pod["metadata"]["annotations"][NEVER_READY_ANNOTATION] == "true"
        || images(&pod["spec"]).iter().any(|i| {
            state
                .config
                .never_ready_images
                .iter()
                .any(|p| i.contains(p.as_str()))
        })
}

/// A Job pod fails when an image (or, for helm-controller jobs, the `CHART`) is marked.
fn fails(state: &State, pod: &Value) -> bool {
    let containers = pod["spec"]["containers"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    let mut charts: Vec<String> = containers
        .iter()
        .flat_map(|c| c["env"].as_array().cloned().unwrap_or_default())
        .filter(|e| e["name"] == "CHART")
        .filter_map(|e| e["value"].as_str().map(str::to_string))
        .collect();
    // The marker in a command line too, so a real cluster fails the same Job for real.
    charts.extend(containers.iter().flat_map(|c| {
        ["command", "args"]
            .iter()
            .flat_map(|k| c[*k].as_array().cloned().unwrap_or_default())
            .filter_map(|v| v.as_str().map(str::to_string))
            .collect::<Vec<_>>()
    }));
    images(&pod["spec"]).iter().chain(charts.iter()).any(|i| {
        state
            .config
            .failing_images
            .iter()
            .any(|p| i.contains(p.as_str()))
    })
}

fn claims(pod: &Value) -> Vec<String> {
    pod["spec"]["volumes"]
        .as_array()
        .map(|vs| {
            vs.iter()
                .filter_map(|v| {
                    v["persistentVolumeClaim"]["claimName"]
                        .as_str()
                        .map(str::to_string)
                })
                .collect()
        })
        .unwrap_or_default()
}

fn pod_condition(kind: &str, status: &str, now: &str) -> Value {
    json!({"type": kind, "status": status, "lastProbeTime": null, "lastTransitionTime": now})
}

/// The scheduler and kubelet.
pub fn kubelet(state: &mut State) {
    let delay = state.config.ready_delay;
    for (key, pod) in state.objects_of("", "pods") {
        if is_deleting(&pod) {
            // No grace period to wait out on the simulated node: the kubelet confirms at once.
            if pod["metadata"]["finalizers"]
                .as_array()
                .is_none_or(|f| f.is_empty())
            {
                state.remove_object(&key);
            }
            continue;
        }
        let uid = pod["metadata"]["uid"]
            .as_str()
            .unwrap_or_default()
            .to_string();
        let now = state.clock.now_rfc3339();
        let unbound = claims(&pod).iter().any(|c| {
            let k = (
                String::new(),
                "persistentvolumeclaims".to_string(),
                key.2.clone(),
                c.clone(),
            );
            state
                .stored_obj(&k)
                .is_none_or(|pvc| pvc["status"]["phase"] != "Bound")
        });
        if pod["spec"]["nodeName"].is_null() {
            if unbound {
                let status = json!({"phase": "Pending", "conditions": [{"type": "PodScheduled", "status": "False", "lastProbeTime": null,
                    "lastTransitionTime": now, "reason": "Unschedulable", "message": "0/1 nodes are available: pod has unbound immediate PersistentVolumeClaims. preemption: 0/1 nodes are available: 1 Preemption is not helpful for scheduling."}]});
                state.write_status_as(&key, status, "k3s");
                continue;
            }
            state.mutate(&key, |p| p["spec"]["nodeName"] = json!(NODE));
            let status = json!({"phase": "Pending", "conditions": [pod_condition("PodScheduled", "True", &now)], "qosClass": "BestEffort"});
            state.write_status(&key, status);
            continue;
        }
        if !matches!(phase(&pod), "Pending" | "")
            || !state.elapsed_since_first_seen(&format!("{uid}/start"), delay)
        {
            continue;
        }
        let job_pod = pod["metadata"]["ownerReferences"]
            .as_array()
            .is_some_and(|r| r.iter().any(|r| r["kind"] == "Job"));
        let mut status = pod["status"].clone();
        status["startTime"] = json!(now);
        status["hostIP"] = json!("10.0.0.10");
        status["podIP"] = json!(format!("10.42.0.{}", 2 + (state.rv % 250)));
        let base = vec![
            pod_condition("PodScheduled", "True", &now),
            pod_condition("Initialized", "True", &now),
        ];
        let (phase, ready) = if job_pod {
            (
                if fails(state, &pod) {
                    "Failed"
                } else {
                    "Succeeded"
                },
                false,
            )
        } else {
            ("Running", !never_ready(state, &pod))
        };
        let r = if ready { "True" } else { "False" };
        let mut conds = base;
        for kind in ["ContainersReady", "Ready"] {
            let mut c = pod_condition(kind, r, &now);
            if !ready {
                c["reason"] = json!(if job_pod {
                    "PodCompleted"
                } else {
                    "ContainersNotReady"
                });
            }
            conds.push(c);
        }
        status["phase"] = json!(phase);
        status["conditions"] = json!(conds);
        state.write_status(&key, status);
    }
}

/// The local-path StorageClass every k3s node has (default class, WaitForFirstConsumer).
pub fn seed(state: &mut State) {
    let sc = json!({"apiVersion": "storage.k8s.io/v1", "kind": "StorageClass",
        "metadata": {"name": "local-path", "annotations": {"storageclass.kubernetes.io/is-default-class": "true"}},
        "provisioner": LOCAL_PATH, "reclaimPolicy": "Delete", "volumeBindingMode": "WaitForFirstConsumer"});
    state.create_as_controller("storage.k8s.io", "StorageClass", "", sc);
}

/// DefaultStorageClass admission: a claim without a class gets the default one.
pub fn default_storage_class(state: &State, pvc: &mut Value) {
    if !pvc["spec"]["storageClassName"].is_null() {
        return;
    }
    let default = state
        .objects_of("storage.k8s.io", "storageclasses")
        .into_iter()
        .find(|(_, sc)| {
            sc["metadata"]["annotations"]["storageclass.kubernetes.io/is-default-class"] == "true"
        });
    if let Some((k, _)) = default {
        pvc["spec"]["storageClassName"] = json!(k.3);
    }
}

/// The PV binder and the local-path provisioner.
pub fn volumes(state: &mut State) {
    let pods = state.objects_of("", "pods");
    for (key, pvc) in state.objects_of("", "persistentvolumeclaims") {
        let used = pods
            .iter()
            .any(|(pk, p)| pk.2 == key.2 && claims(p).contains(&key.3));
        if is_deleting(&pvc) && !used {
            // pvc-protection: a claim no pod uses may go.
            state.mutate(&key, |c| {
                super::super::deletion::drop_finalizer(c, "kubernetes.io/pvc-protection");
            });
            continue;
        }
        if is_deleting(&pvc) || pvc["status"]["phase"] == "Bound" {
            continue;
        }
        let class = pvc["spec"]["storageClassName"]
            .as_str()
            .unwrap_or_default()
            .to_string();
        let sc_key = (
            "storage.k8s.io".to_string(),
            "storageclasses".to_string(),
            String::new(),
            class.clone(),
        );
        let Some(sc) = state.stored_obj(&sc_key).cloned() else {
            state.write_status(&key, json!({"phase": "Pending"}));
            continue;
        };
        let wait = sc["volumeBindingMode"] == "WaitForFirstConsumer";
        let consumer = pods
            .iter()
            .any(|(pk, p)| pk.2 == key.2 && claims(p).contains(&key.3));
        if wait && !consumer {
            state.write_status(&key, json!({"phase": "Pending"}));
            continue;
        }
        let uid = pvc["metadata"]["uid"].as_str().unwrap_or_default();
        let pv_name = format!("pvc-{uid}");
        let storage = pvc["spec"]["resources"]["requests"]["storage"].clone();
        let modes = pvc["spec"]["accessModes"].clone();
        let pv = json!({"apiVersion": "v1", "kind": "PersistentVolume",
            "metadata": {"name": pv_name, "annotations": {"pv.kubernetes.io/provisioned-by": sc["provisioner"], "local.path.provisioner/selected-node": NODE},
                         "finalizers": ["kubernetes.io/pv-protection"]},
            "spec": {"capacity": {"storage": storage}, "accessModes": modes, "persistentVolumeReclaimPolicy": sc["reclaimPolicy"].as_str().unwrap_or("Delete"),
                     "storageClassName": class, "volumeMode": "Filesystem",
                     "claimRef": {"apiVersion": "v1", "kind": "PersistentVolumeClaim", "namespace": key.2, "name": key.3, "uid": uid},
                     "hostPath": {"path": format!("/var/lib/rancher/k3s/storage/{pv_name}_{}_{}", key.2, key.3), "type": "DirectoryOrCreate"}}});
        state.create_as_controller("", "PersistentVolume", "", pv);
        let provisioner = sc["provisioner"].clone();
        state.mutate(&key, |c| {
            let a = &mut c["metadata"]["annotations"];
            if wait {
                a["volume.kubernetes.io/selected-node"] = json!(NODE);
            }
            a["pv.kubernetes.io/bind-completed"] = json!("yes");
            a["pv.kubernetes.io/bound-by-controller"] = json!("yes");
            a["volume.beta.kubernetes.io/storage-provisioner"] = provisioner.clone();
            a["volume.kubernetes.io/storage-provisioner"] = provisioner;
            c["spec"]["volumeName"] = json!(pv_name);
            let mut f: Vec<Value> = c["metadata"]["finalizers"]
                .as_array()
                .cloned()
                .unwrap_or_default();
            if !f.iter().any(|x| x == "kubernetes.io/pvc-protection") {
                f.push(json!("kubernetes.io/pvc-protection"));
            }
            c["metadata"]["finalizers"] = Value::Array(f);
        });
        state.write_status(
            &key,
            json!({"phase": "Bound", "accessModes": modes, "capacity": {"storage": storage}}),
        );
        let pv_key = (
            String::new(),
            "persistentvolumes".to_string(),
            String::new(),
            format!("pvc-{uid}"),
        );
        state.write_status(&pv_key, json!({"phase": "Bound"}));
    }
    // Reclaim policy Delete: a volume whose claim is gone is deleted by its provisioner.
    for (key, pv) in state.objects_of("", "persistentvolumes") {
        let claim = &pv["spec"]["claimRef"];
        let Some(name) = claim["name"].as_str() else {
            continue;
        };
        let ck = (
            String::new(),
            "persistentvolumeclaims".to_string(),
            claim["namespace"].as_str().unwrap_or_default().to_string(),
            name.to_string(),
        );
        if state.stored_obj(&ck).is_none()
            && pv["spec"]["persistentVolumeReclaimPolicy"] == "Delete"
        {
            state.remove_object(&key);
        }
    }
}
