//! Workload controllers: StatefulSet ordinal pods with `partition` and `OnDelete`
//! (currentRevision/updateRevision), DaemonSet on the one node, and what the Deployment and
//! ReplicaSet controllers (`deployments.rs`) share with them.

use super::super::deletion::is_deleting;
use super::super::store::{Key, State};
use super::name_hash;
use super::pods::{self, is_ready};
use serde_json::{json, Map, Value};

pub(super) const REVISION: &str = "deployment.kubernetes.io/revision";
pub(super) const HASH_LABEL: &str = "pod-template-hash";
const REVISION_LABEL: &str = "controller-revision-hash";

pub(super) fn replicas(obj: &Value) -> i64 {
    obj["spec"]["replicas"].as_i64().unwrap_or(1)
}

/// A status object without the zero counters Go's `omitempty` drops.
pub(super) fn counters(pairs: &[(&str, i64)]) -> Map<String, Value> {
    pairs
        .iter()
        .filter(|(_, v)| *v != 0)
        .map(|(k, v)| (k.to_string(), json!(v)))
        .collect()
}

pub(super) fn template_hash(template: &Value) -> String {
    name_hash(&template.to_string(), 10)
}

fn strategy(obj: &Value) -> &str {
    obj["spec"]["updateStrategy"]["type"]
        .as_str()
        .unwrap_or("RollingUpdate")
}

pub fn statefulsets(state: &mut State) {
    for (key, sts) in state.objects_of("apps", "statefulsets") {
        if is_deleting(&sts) {
            continue;
        }
        let (ns, name) = (key.2.clone(), key.3.clone());
        let uid = sts["metadata"]["uid"].clone();
        let want = replicas(&sts);
        let update_rev = format!("{name}-{}", template_hash(&sts["spec"]["template"]));
        let current_rev = sts["status"]["currentRevision"]
            .as_str()
            .unwrap_or(&update_rev)
            .to_string();
        let partition = sts["spec"]["updateStrategy"]["rollingUpdate"]["partition"]
            .as_i64()
            .unwrap_or(0);
        let rolling = strategy(&sts) == "RollingUpdate";
        let live = pods::pods_of(state, &ns, &uid);
        let pod_at = |i: i64| {
            live.iter()
                .find(|(k, _)| k.3 == format!("{name}-{i}"))
                .map(|(_, p)| p.clone())
        };
        // OrderedReady: create the first missing ordinal once all before it are ready.
        for i in 0..want {
            match pod_at(i) {
                Some(p) if is_ready(&p) => continue,
                Some(_) => break,
                None => {
                    let rev = if rolling && i < partition {
                        &current_rev
                    } else {
                        &update_rev
                    };
                    let mut template = sts["spec"]["template"].clone();
                    for vct in sts["spec"]["volumeClaimTemplates"]
                        .as_array()
                        .cloned()
                        .unwrap_or_default()
                    {
                        let tname = vct["metadata"]["name"]
                            .as_str()
                            .unwrap_or_default()
                            .to_string();
                        let claim = format!("{tname}-{name}-{i}");
                        let mut pvc = json!({"apiVersion": "v1", "kind": "PersistentVolumeClaim",
                            "metadata": {"name": claim, "namespace": ns, "labels": sts["spec"]["selector"]["matchLabels"]},
                            "spec": vct["spec"].clone()});
                        if pvc["metadata"]["labels"].is_null() {
                            pvc["metadata"].as_object_mut().map(|m| m.remove("labels"));
                        }
                        state.create_as_controller("", "PersistentVolumeClaim", &ns, pvc);
                        let mut vols = template["spec"]["volumes"]
                            .as_array()
                            .cloned()
                            .unwrap_or_default();
                        vols.push(
                            json!({"name": tname, "persistentVolumeClaim": {"claimName": claim}}),
                        );
                        template["spec"]["volumes"] = Value::Array(vols);
                    }
                    let pod = pods::pod_from_template(
                        &sts,
                        &template,
                        &format!("{name}-{i}"),
                        &ns,
                        json!({REVISION_LABEL: rev, "statefulset.kubernetes.io/pod-name": format!("{name}-{i}"), "apps.kubernetes.io/pod-index": i.to_string()}),
                    );
                    state.create_as_controller("", "Pod", &ns, pod);
                    break;
                }
            }
        }
        // Scale down from the highest ordinal.
        for (k, p) in &live {
            let ord: i64 =
                k.3.rsplit('-')
                    .next()
                    .and_then(|s| s.parse().ok())
                    .unwrap_or(0);
            if ord >= want && !is_deleting(p) {
                state.delete_as_controller(k);
            }
        }
        let live = pods::pods_of(state, &ns, &uid);
        let all_ready = live.len() as i64 == want && live.iter().all(|(_, p)| is_ready(p));
        if rolling && all_ready {
            // One stale pod at a time, highest ordinal first, down to the partition.
            let mut stale: Vec<(i64, Key)> = live
                .iter()
                .filter(|(_, p)| p["metadata"]["labels"][REVISION_LABEL] != update_rev.as_str())
                .map(|(k, _)| {
                    (
                        k.3.rsplit('-')
                            .next()
                            .and_then(|s| s.parse().ok())
                            .unwrap_or(0),
                        k.clone(),
                    )
                })
                .filter(|(o, _)| *o >= partition)
                .collect();
            stale.sort();
            if let Some((_, k)) = stale.last() {
                state.delete_as_controller(k);
            }
        }
        let live = pods::pods_of(state, &ns, &uid);
        let count = |rev: &str| {
            live.iter()
                .filter(|(_, p)| p["metadata"]["labels"][REVISION_LABEL] == rev)
                .count() as i64
        };
        let ready = live.iter().filter(|(_, p)| is_ready(p)).count() as i64;
        let updated = count(&update_rev);
        let (cur_rev, cur_n) = if updated == want && ready == want {
            (update_rev.clone(), updated)
        } else {
            (current_rev.clone(), count(&current_rev))
        };
        let mut status = Value::Object(counters(&[
            ("readyReplicas", ready),
            ("availableReplicas", ready),
            ("currentReplicas", cur_n),
            ("updatedReplicas", updated),
        ]));
        status["replicas"] = json!(live.len());
        status["observedGeneration"] = sts["metadata"]["generation"].clone();
        status["currentRevision"] = json!(cur_rev);
        status["updateRevision"] = json!(update_rev);
        status["collisionCount"] = json!(0);
        state.write_status(&key, status);
    }
}

pub fn daemonsets(state: &mut State) {
    for (key, ds) in state.objects_of("apps", "daemonsets") {
        if is_deleting(&ds) {
            continue;
        }
        let (ns, name) = (key.2.clone(), key.3.clone());
        let uid = ds["metadata"]["uid"].clone();
        let hash = name_hash(&ds["spec"]["template"].to_string(), 10);
        let generation = ds["metadata"]["generation"].as_i64().unwrap_or(1);
        let live = pods::pods_of(state, &ns, &uid);
        let stale: Vec<&(Key, Value)> = live
            .iter()
            .filter(|(_, p)| p["metadata"]["labels"][REVISION_LABEL] != hash.as_str())
            .collect();
        if live.is_empty() {
            let pod_name = format!("{name}-{}", name_hash(&format!("{uid}/{hash}"), 5));
            let pod = pods::pod_from_template(
                &ds,
                &ds["spec"]["template"],
                &pod_name,
                &ns,
                json!({REVISION_LABEL: hash, "pod-template-generation": generation.to_string()}),
            );
            state.create_as_controller("", "Pod", &ns, pod);
        } else if strategy(&ds) == "RollingUpdate" {
            for (k, _) in stale {
                state.delete_as_controller(k);
            }
        }
        let live = pods::pods_of(state, &ns, &uid);
        let ready = live.iter().filter(|(_, p)| is_ready(p)).count() as i64;
        let updated = live
            .iter()
            .filter(|(_, p)| p["metadata"]["labels"][REVISION_LABEL] == hash.as_str())
            .count() as i64;
        let scheduled = live.len() as i64;
        let mut status = Value::Object(counters(&[
            ("numberReady", ready),
            ("numberAvailable", ready),
            ("numberUnavailable", 1 - ready),
            ("updatedNumberScheduled", updated),
        ]));
        status["currentNumberScheduled"] = json!(scheduled);
        status["desiredNumberScheduled"] = json!(1);
        status["numberMisscheduled"] = json!(0);
        status["observedGeneration"] = json!(generation);
        state.write_status(&key, status);
    }
}
