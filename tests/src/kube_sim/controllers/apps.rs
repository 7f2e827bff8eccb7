//! Workload controllers: Deployment -> ReplicaSets -> Pods with the real status fields and
//! conditions (NewReplicaSetCreated, ReplicaSetUpdated, NewReplicaSetAvailable,
//! ProgressDeadlineExceeded; Available), StatefulSet ordinal pods with `partition` and
//! `OnDelete` (currentRevision/updateRevision), DaemonSet on the one node.

use super::super::deletion::is_deleting;
use super::super::store::{Key, State};
use super::pods::{self, is_ready};
use super::{condition, merge_condition, name_hash};
use serde_json::{json, Map, Value};
use std::time::Duration;

const REVISION: &str = "deployment.kubernetes.io/revision";
const HASH_LABEL: &str = "pod-template-hash";
const REVISION_LABEL: &str = "controller-revision-hash";

fn replicas(obj: &Value) -> i64 {
    obj["spec"]["replicas"].as_i64().unwrap_or(1)
}

/// A status object without the zero counters Go's `omitempty` drops.
fn counters(pairs: &[(&str, i64)]) -> Map<String, Value> {
    pairs
        .iter()
        .filter(|(_, v)| *v != 0)
        .map(|(k, v)| (k.to_string(), json!(v)))
        .collect()
}

fn template_hash(template: &Value) -> String {
    name_hash(&template.to_string(), 10)
}

fn rs_of(state: &State, ns: &str, uid: &Value) -> Vec<(Key, Value)> {
    state
        .objects_of("apps", "replicasets")
        .into_iter()
        .filter(|(k, r)| k.2 == ns && super::owned_by(r, uid) && !is_deleting(r))
        .collect()
}

fn rs_count(rs: &Value, field: &str) -> i64 {
    rs["status"][field].as_i64().unwrap_or(0)
}

pub fn deployments(state: &mut State) {
    for (key, d) in state.objects_of("apps", "deployments") {
        if is_deleting(&d) {
            continue;
        }
        let (ns, name) = (key.2.clone(), key.3.clone());
        let uid = d["metadata"]["uid"].clone();
        let want = replicas(&d);
        let hash = template_hash(&d["spec"]["template"]);
        let now = state.clock.now_rfc3339();
        let owned = rs_of(state, &ns, &uid);
        let new_rs = owned
            .iter()
            .find(|(_, r)| r["metadata"]["labels"][HASH_LABEL] == hash.as_str())
            .cloned();
        let mut conds = d["status"]["conditions"].clone();
        let (new_key, new_rs) = match new_rs {
            Some(found) => found,
            None => {
                let revision = owned
                    .iter()
                    .filter_map(|(_, r)| {
                        r["metadata"]["annotations"][REVISION]
                            .as_str()?
                            .parse::<i64>()
                            .ok()
                    })
                    .max()
                    .unwrap_or(0)
                    + 1;
                let rs_name = format!("{name}-{hash}");
                let mut template = d["spec"]["template"].clone();
                template["metadata"]["labels"][HASH_LABEL] = json!(hash);
                let mut selector = d["spec"]["selector"].clone();
                selector["matchLabels"][HASH_LABEL] = json!(hash);
                let mut annotations = d["metadata"]["annotations"]
                    .as_object()
                    .cloned()
                    .unwrap_or_default();
                annotations.remove("kubectl.kubernetes.io/last-applied-configuration");
                annotations.insert(REVISION.into(), json!(revision.to_string()));
                annotations.insert(
                    "deployment.kubernetes.io/desired-replicas".into(),
                    json!(want.to_string()),
                );
                annotations.insert(
                    "deployment.kubernetes.io/max-replicas".into(),
                    json!((want + (want + 3) / 4).to_string()),
                );
                let rs = json!({"apiVersion": "apps/v1", "kind": "ReplicaSet",
                "metadata": {"name": rs_name, "namespace": ns, "labels": template["metadata"]["labels"], "annotations": annotations,
                             "ownerReferences": [super::controller_ref(&d)]},
                "spec": {"replicas": want, "minReadySeconds": d["spec"]["minReadySeconds"].as_i64().unwrap_or(0), "selector": selector, "template": template}});
                state.create_as_controller("apps", "ReplicaSet", &ns, rs);
                state.mutate(&key, |o| {
                    o["metadata"]["annotations"][REVISION] = json!(revision.to_string())
                });
                conds = merge_condition(
                    &conds,
                    condition(
                        "Progressing",
                        "True",
                        "NewReplicaSetCreated",
                        &format!("Created new replica set \"{rs_name}\""),
                        &now,
                    ),
                );
                if conds
                    .as_array()
                    .is_none_or(|c| !c.iter().any(|c| c["type"] == "Available"))
                {
                    conds = merge_condition(
                        &conds,
                        condition(
                            "Available",
                            "False",
                            "MinimumReplicasUnavailable",
                            "Deployment does not have minimum availability.",
                            &now,
                        ),
                    );
                }
                let rs_key: Key = ("apps".into(), "replicasets".into(), ns.clone(), rs_name);
                match state.stored_obj(&rs_key).cloned() {
                    Some(rs) => (rs_key, rs),
                    None => continue,
                }
            }
        };
        if replicas(&new_rs) != want {
            state.mutate(&new_key, |r| {
                r["spec"]["replicas"] = json!(want);
                r["metadata"]["annotations"]["deployment.kubernetes.io/desired-replicas"] =
                    json!(want.to_string());
            });
        }
        let new_available = rs_count(&new_rs, "availableReplicas");
        let new_rs_name = new_key.3.clone();
        if new_available >= want {
            for (k, r) in owned.iter().filter(|(k, _)| *k != new_key) {
                if replicas(r) != 0 {
                    state.mutate(k, |r| r["spec"]["replicas"] = json!(0));
                }
            }
        }
        let owned = rs_of(state, &ns, &uid);
        let sum = |f: &str| owned.iter().map(|(_, r)| rs_count(r, f)).sum::<i64>();
        let (total, ready, available) = (
            sum("replicas"),
            sum("readyReplicas"),
            sum("availableReplicas"),
        );
        let updated = owned
            .iter()
            .find(|(k, _)| *k == new_key)
            .map(|(_, r)| rs_count(r, "replicas"))
            .unwrap_or(0);
        let max_unavailable = want / 4;
        let complete = updated == want && total == want && available == want;
        let progress_key = format!(
            "{}/progress/{updated}/{ready}/{available}",
            uid.as_str().unwrap_or_default()
        );
        let deadline =
            Duration::from_secs(d["spec"]["progressDeadlineSeconds"].as_u64().unwrap_or(600));
        let stalled = !complete
            && state.elapsed_since_first_seen(&progress_key, deadline + Duration::from_secs(1));
        let progressing = if complete {
            condition(
                "Progressing",
                "True",
                "NewReplicaSetAvailable",
                &format!("ReplicaSet \"{new_rs_name}\" has successfully progressed."),
                &now,
            )
        } else if stalled {
            condition(
                "Progressing",
                "False",
                "ProgressDeadlineExceeded",
                &format!("ReplicaSet \"{new_rs_name}\" has timed out progressing."),
                &now,
            )
        } else if rs_count(&new_rs, "readyReplicas") == 0
            && conds
                .as_array()
                .is_some_and(|c| c.iter().any(|c| c["reason"] == "NewReplicaSetCreated"))
        {
            conds
                .as_array()
                .and_then(|c| c.iter().find(|c| c["type"] == "Progressing").cloned())
                .unwrap_or_default()
        } else {
            condition(
                "Progressing",
                "True",
                "ReplicaSetUpdated",
                &format!("ReplicaSet \"{new_rs_name}\" is progressing."),
                &now,
            )
        };
        let available_cond = if available >= want - max_unavailable {
            condition(
                "Available",
                "True",
                "MinimumReplicasAvailable",
                "Deployment has minimum availability.",
                &now,
            )
        } else {
            condition(
                "Available",
                "False",
                "MinimumReplicasUnavailable",
                "Deployment does not have minimum availability.",
                &now,
            )
        };
        // The real controller lists Available first once it has both.
        let mut ordered = merge_condition(&conds, available_cond);
        ordered = merge_condition(&ordered, progressing);
        let mut status = Value::Object(counters(&[
            ("replicas", total),
            ("updatedReplicas", updated),
            ("readyReplicas", ready),
            ("availableReplicas", available),
            ("unavailableReplicas", (total.max(want) - available).max(0)),
        ]));
        status["observedGeneration"] = d["metadata"]["generation"].clone();
        status["conditions"] = ordered;
        state.write_status(&key, status);
    }
}

pub fn replicasets(state: &mut State) {
    for (key, rs) in state.objects_of("apps", "replicasets") {
        if is_deleting(&rs) {
            continue;
        }
        let ns = key.2.clone();
        let uid = rs["metadata"]["uid"].clone();
        let want = replicas(&rs);
        let mut live = pods::pods_of(state, &ns, &uid);
        let mut n = 0;
        while (live.len() as i64) < want {
            let name = format!("{}-{}", key.3, name_hash(&format!("{}/{n}", uid), 5));
            n += 1;
            if live.iter().any(|(k, _)| k.3 == name) {
                continue;
            }
            let pod = pods::pod_from_template(&rs, &rs["spec"]["template"], &name, &ns, json!({}));
            state.create_as_controller("", "Pod", &ns, pod);
            live = pods::pods_of(state, &ns, &uid);
            if n > 10_000 {
                break;
            }
        }
        if live.len() as i64 > want {
            for (k, _) in live.iter().rev().take(live.len() - want.max(0) as usize) {
                state.delete_as_controller(k);
            }
            live = pods::pods_of(state, &ns, &uid);
        }
        let ready = live.iter().filter(|(_, p)| is_ready(p)).count() as i64;
        let mut status = Value::Object(counters(&[
            ("fullyLabeledReplicas", live.len() as i64),
            ("readyReplicas", ready),
            ("availableReplicas", ready),
        ]));
        status["replicas"] = json!(live.len());
        status["observedGeneration"] = rs["metadata"]["generation"].clone();
        state.write_status(&key, status);
    }
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
