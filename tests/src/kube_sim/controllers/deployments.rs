//! The Deployment controller (a ReplicaSet per pod-template hash, the real status fields and
//! conditions: NewReplicaSetCreated, ReplicaSetUpdated, NewReplicaSetAvailable,
//! ProgressDeadlineExceeded; Available) and the ReplicaSet controller (pods).

use super::super::deletion::is_deleting;
use super::super::store::{Key, State};
use super::apps::{counters, replicas, template_hash, HASH_LABEL, REVISION};
use super::pods::{self, is_ready};
use super::{condition, name_hash, set_condition_last};
use serde_json::{json, Value};
use std::time::Duration;

fn rs_of(state: &State, ns: &str, uid: &Value) -> Vec<(Key, Value)> {
    state
        .stored_of("apps", "replicasets", Some(ns))
        .filter(|(_, r)| super::owned_by(r, uid) && !is_deleting(r))
        .map(|(k, r)| (k.clone(), r.clone()))
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
                state.mutate_through(&key, "status", |o| {
                    o["metadata"]["annotations"][REVISION] = json!(revision.to_string())
                });
                conds = set_condition_last(
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
                    conds = set_condition_last(
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
        // A scaling event of a complete rollout leaves Progressing alone (the controller's
        // `sync` path, not `syncRolloutStatus`).
        let done_with = format!("ReplicaSet \"{new_rs_name}\" has successfully progressed.");
        let settled = conds.as_array().and_then(|c| {
            c.iter()
                .find(|c| c["type"] == "Progressing" && c["message"] == done_with.as_str())
                .cloned()
        });
        let progressing = if let Some(settled) = settled {
            settled
        } else if complete {
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
        // The condition changed last comes last (Available, then Progressing once complete).
        let mut ordered = set_condition_last(&conds, available_cond);
        ordered = set_condition_last(&ordered, progressing);
        let mut status = Value::Object(counters(&[
            ("replicas", total),
            ("updatedReplicas", updated),
            ("readyReplicas", ready),
            ("availableReplicas", available),
            ("unavailableReplicas", (total.max(want) - available).max(0)),
        ]));
        status["observedGeneration"] = d["metadata"]["generation"].clone();
        // DeploymentReplicaSetTerminatingReplicas (1.37): a pointer, so 0 is written; pods
        // here go at once, so none is ever terminating.
        status["terminatingReplicas"] = json!(0);
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
        status["terminatingReplicas"] = json!(0);
        status["observedGeneration"] = rs["metadata"]["generation"].clone();
        state.write_status(&key, status);
    }
}
