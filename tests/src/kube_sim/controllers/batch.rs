//! The Job controller (suspend/resume, one pod at a time, `SuccessCriteriaMet` then
//! `Complete`, `FailureTarget` then `Failed` after `backoffLimit` failed pods, startTime and
//! completionTime) and the TTL-after-finished controller (a finished Job with
//! `ttlSecondsAfterFinished` deleted, foreground, once the clock passes).

use super::super::deletion::{is_deleting, DeleteOptions, Propagation};
use super::super::store::State;
use super::pods::{self, is_ready, phase};
use super::{merge_condition, name_hash};
use serde_json::{json, Value};
use std::time::Duration;

fn job_condition(kind: &str, status: &str, reason: &str, message: &str, now: &str) -> Value {
    json!({"type": kind, "status": status, "lastProbeTime": now, "lastTransitionTime": now, "reason": reason, "message": message})
}

fn has_true(conds: &Value, kind: &str) -> bool {
    conds
        .as_array()
        .is_some_and(|c| c.iter().any(|c| c["type"] == kind && c["status"] == "True"))
}

/// True when the Job is Complete or Failed.
pub fn finished(job: &Value) -> bool {
    has_true(&job["status"]["conditions"], "Complete")
        || has_true(&job["status"]["conditions"], "Failed")
}

pub fn jobs(state: &mut State) {
    for (key, job) in state.objects_of("batch", "jobs") {
        if is_deleting(&job) || finished(&job) {
            continue;
        }
        let ns = key.2.clone();
        let uid = job["metadata"]["uid"].clone();
        let uid_s = uid.as_str().unwrap_or_default().to_string();
        let now = state.clock.now_rfc3339();
        let mut status = if job["status"].is_object() {
            job["status"].clone()
        } else {
            json!({})
        };
        let mut conds = status["conditions"].clone();
        let live = pods::pods_of(state, &ns, &uid);
        if job["spec"]["suspend"] == true {
            for (k, p) in &live {
                if !matches!(phase(p), "Succeeded" | "Failed") {
                    state.delete_as_controller(k);
                }
            }
            if !has_true(&conds, "Suspended") {
                conds = merge_condition(
                    &conds,
                    job_condition("Suspended", "True", "JobSuspended", "Job suspended", &now),
                );
            }
            status["conditions"] = conds;
            status.as_object_mut().map(|s| s.remove("startTime"));
            status["active"] = json!(0);
            status.as_object_mut().map(|s| s.remove("active"));
            state.write_status(&key, status);
            continue;
        }
        if has_true(&conds, "Suspended") {
            conds = merge_condition(
                &conds,
                job_condition("Suspended", "False", "JobResumed", "Job resumed", &now),
            );
        }
        if status["startTime"].is_null() {
            status["startTime"] = json!(now);
        }
        let succeeded = live.iter().filter(|(_, p)| phase(p) == "Succeeded").count() as i64;
        let failed = live.iter().filter(|(_, p)| phase(p) == "Failed").count() as i64;
        let active: Vec<_> = live
            .iter()
            .filter(|(_, p)| !matches!(phase(p), "Succeeded" | "Failed"))
            .collect();
        let ready = active.iter().filter(|(_, p)| is_ready(p)).count() as i64;
        let completions = job["spec"]["completions"].as_i64().unwrap_or(1);
        let backoff_limit = job["spec"]["backoffLimit"].as_i64().unwrap_or(6);
        if succeeded >= completions {
            let msg = "Reached expected number of succeeded pods";
            if !has_true(&conds, "SuccessCriteriaMet") {
                conds = merge_condition(
                    &conds,
                    job_condition(
                        "SuccessCriteriaMet",
                        "True",
                        "CompletionsReached",
                        msg,
                        &now,
                    ),
                );
            } else {
                conds = merge_condition(
                    &conds,
                    job_condition("Complete", "True", "CompletionsReached", msg, &now),
                );
                status["completionTime"] = json!(now);
                state.first_seen(&format!("{uid_s}/finished"));
            }
        } else if failed > backoff_limit {
            let msg = "Job has reached the specified backoff limit";
            if !has_true(&conds, "FailureTarget") {
                conds = merge_condition(
                    &conds,
                    job_condition("FailureTarget", "True", "BackoffLimitExceeded", msg, &now),
                );
            } else {
                conds = merge_condition(
                    &conds,
                    job_condition("Failed", "True", "BackoffLimitExceeded", msg, &now),
                );
                state.first_seen(&format!("{uid_s}/finished"));
            }
        } else if active.is_empty() {
            let attempt = succeeded + failed;
            let name = format!("{}-{}", key.3, name_hash(&format!("{uid_s}/{attempt}"), 5));
            let labels = json!({"batch.kubernetes.io/controller-uid": uid_s, "batch.kubernetes.io/job-name": key.3,
                                "controller-uid": uid_s, "job-name": key.3});
            let pod = pods::pod_from_template(&job, &job["spec"]["template"], &name, &ns, labels);
            state.create_as_controller("", "Pod", &ns, pod);
        }
        let active_now = pods::pods_of(state, &ns, &uid)
            .iter()
            .filter(|(_, p)| !matches!(phase(p), "Succeeded" | "Failed"))
            .count() as i64;
        for (field, n) in [
            ("active", active_now),
            ("succeeded", succeeded),
            ("failed", failed),
        ] {
            if n == 0 {
                status.as_object_mut().map(|s| s.remove(field));
            } else {
                status[field] = json!(n);
            }
        }
        status["ready"] = json!(ready);
        status["terminating"] = json!(0);
        status["uncountedTerminatedPods"] = json!({});
        if conds.as_array().is_some_and(|c| !c.is_empty()) {
            status["conditions"] = conds;
        }
        state.write_status(&key, status);
    }
}

/// The TTL-after-finished controller.
pub fn ttl(state: &mut State) {
    for (key, job) in state.objects_of("batch", "jobs") {
        let Some(secs) = job["spec"]["ttlSecondsAfterFinished"].as_u64() else {
            continue;
        };
        if is_deleting(&job) || !finished(&job) {
            continue;
        }
        let uid = job["metadata"]["uid"]
            .as_str()
            .unwrap_or_default()
            .to_string();
        if state.elapsed_since_first_seen(&format!("{uid}/finished"), Duration::from_secs(secs)) {
            let Some(rt) = state.rt_by_kind("batch", "Job") else {
                continue;
            };
            let opts = DeleteOptions {
                propagation: Some(Propagation::Foreground),
                ..Default::default()
            };
            let _ = state.delete_with(&rt, &key.2, &key.3, &opts);
        }
    }
}
