//! apiextensions controllers: naming (NamesAccepted), establishing (Established after
//! `crd_delay`, then the resources are served) and the CRD finalizer (a deleted CRD's custom
//! resources deleted, then `customresourcecleanup.apiextensions.k8s.io` removed).

use super::super::deletion::{self, is_deleting, CRD_CLEANUP};
use super::super::resources;
use super::super::store::State;
use serde_json::{json, Value};

/// Sets a CRD condition (without `lastUpdateTime`, which CRD conditions do not have).
pub fn set_condition(
    crd: &mut Value,
    kind: &str,
    status: &str,
    reason: &str,
    message: &str,
    now: &str,
) {
    let new = json!({"type": kind, "status": status, "lastTransitionTime": now, "reason": reason, "message": message});
    crd["status"]["conditions"] = super::merge_condition(&crd["status"]["conditions"], new);
}

fn established(crd: &Value) -> bool {
    crd["status"]["conditions"].as_array().is_some_and(|c| {
        c.iter()
            .any(|c| c["type"] == "Established" && c["status"] == "True")
    })
}

/// True when the CRD that serves `group`/`plural` is being deleted.
pub fn terminating(state: &State, group: &str, plural: &str) -> bool {
    state.objects.values().any(|s| {
        s.obj["kind"] == "CustomResourceDefinition"
            && s.obj["spec"]["group"] == group
            && s.obj["spec"]["names"]["plural"] == plural
            && is_deleting(&s.obj)
    })
}

/// Marks every CRD Established at once (a fresh k3s node's own CRDs).
pub fn establish_all(state: &mut State) {
    for (key, _) in state.objects_of("apiextensions.k8s.io", "customresourcedefinitions") {
        establish(state, &key.3);
    }
}

fn establish(state: &mut State, name: &str) {
    let key = (
        "apiextensions.k8s.io".to_string(),
        "customresourcedefinitions".to_string(),
        String::new(),
        name.to_string(),
    );
    let Some(crd) = state.stored_obj(&key).cloned() else {
        return;
    };
    let now = state.clock.now_rfc3339();
    let mut c = crd.clone();
    set_condition(
        &mut c,
        "NamesAccepted",
        "True",
        "NoConflicts",
        "no conflicts found",
        &now,
    );
    set_condition(
        &mut c,
        "Established",
        "True",
        "InitialNamesAccepted",
        "the initial names have been accepted",
        &now,
    );
    let mut status = c["status"].clone();
    status["acceptedNames"] = crd["spec"]["names"].clone();
    status["storedVersions"] = json!(crd["spec"]["versions"]
        .as_array()
        .map(|vs| vs
            .iter()
            .filter(|v| v["storage"] == true)
            .map(|v| v["name"].clone())
            .collect::<Vec<_>>())
        .unwrap_or_default());
    state.write_status(&key, status);
    let new_types = resources::from_crd(&crd);
    state.types.retain(|t| t.crd.as_deref() != Some(name));
    state.types.extend(new_types);
}

pub fn run(state: &mut State) {
    let delay = state.config.crd_delay;
    for (key, crd) in state.objects_of("apiextensions.k8s.io", "customresourcedefinitions") {
        let uid = crd["metadata"]["uid"]
            .as_str()
            .unwrap_or_default()
            .to_string();
        if is_deleting(&crd) {
            finalize(state, &key, &crd);
            continue;
        }
        if !established(&crd) {
            let now = state.clock.now_rfc3339();
            let mut c = crd.clone();
            set_condition(
                &mut c,
                "NamesAccepted",
                "True",
                "NoConflicts",
                "no conflicts found",
                &now,
            );
            let mut status = c["status"].clone();
            status["acceptedNames"] = crd["spec"]["names"].clone();
            state.write_status(&key, status);
            if state.elapsed_since_first_seen(&format!("{uid}/establish"), delay) {
                establish(state, &key.3);
            }
        } else {
            // A changed CRD (new versions) is served with its new shape.
            let name = key.3.clone();
            let new_types = resources::from_crd(&crd);
            let current: Vec<_> = state
                .types
                .iter()
                .filter(|t| t.crd.as_deref() == Some(name.as_str()))
                .cloned()
                .collect();
            if current != new_types {
                state
                    .types
                    .retain(|t| t.crd.as_deref() != Some(name.as_str()));
                state.types.extend(new_types);
            }
        }
    }
}

/// The CRD finalizer: delete every custom resource, then release the CRD.
fn finalize(state: &mut State, key: &super::super::store::Key, crd: &Value) {
    let holds = crd["metadata"]["finalizers"]
        .as_array()
        .is_some_and(|f| f.iter().any(|x| x == CRD_CLEANUP));
    if !holds {
        return;
    }
    let group = crd["spec"]["group"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    let plural = crd["spec"]["names"]["plural"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    let now = state.clock.now_rfc3339();
    let release = |state: &mut State, reason: &str, message: &str| {
        let mut c = state.stored_obj(key).cloned().unwrap_or_default();
        set_condition(&mut c, "Terminating", "False", reason, message, &now);
        state.write_status(key, c["status"].clone());
        state.mutate(key, |o| {
            deletion::drop_finalizer(o, CRD_CLEANUP);
        });
    };
    if !established(crd) {
        release(state, "NeverEstablished", "resource was never established");
        return;
    }
    // The finalizer polls for up to a minute, then reports and starts over.
    let uid = crd["metadata"]["uid"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    let round = state
        .memory
        .first_seen
        .get(&format!("{uid}/cleanup"))
        .copied();
    let timed_out =
        round.is_some_and(|r| state.clock.now().0 >= r.0 + std::time::Duration::from_secs(60));
    if timed_out {
        state.memory.first_seen.remove(&format!("{uid}/cleanup"));
        let mut c = crd.clone();
        set_condition(
            &mut c,
            "Terminating",
            "True",
            "InstanceDeletionCheck",
            "could not confirm zero CustomResources remaining: timed out waiting for the condition",
            &now,
        );
        state.write_status(key, c["status"].clone());
        return;
    }
    state.first_seen(&format!("{uid}/cleanup"));
    let mut c = crd.clone();
    set_condition(
        &mut c,
        "Terminating",
        "True",
        "InstanceDeletionInProgress",
        "CustomResource deletion is in progress",
        &now,
    );
    state.write_status(key, c["status"].clone());
    for (k, obj) in &state.objects_of(&group, &plural) {
        if !is_deleting(obj) {
            state.delete_as_controller(k);
        }
    }
    if state.objects_of(&group, &plural).is_empty() {
        release(state, "InstanceDeletionCompleted", "removed all instances");
    }
}
