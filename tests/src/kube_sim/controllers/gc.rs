//! The namespace controller (content of a Terminating namespace deleted, status conditions as
//! `pkg/controller/namespace/deletion` writes them, the `kubernetes` finalizer removed when
//! nothing is left) and the garbage collector (dependents of absent owners deleted, `orphan`
//! and `foregroundDeletion` finalizers handled).

use super::super::deletion::{self, is_deleting, FOREGROUND, ORPHAN};
use super::super::store::{Key, State};
use serde_json::{json, Value};
use std::collections::{BTreeMap, BTreeSet};

const NS_CONDITIONS: &[(&str, &str, &str)] = &[
    (
        "NamespaceDeletionDiscoveryFailure",
        "ResourcesDiscovered",
        "All resources successfully discovered",
    ),
    (
        "NamespaceDeletionGroupVersionParsingFailure",
        "ParsedGroupVersions",
        "All legacy kube types successfully parsed",
    ),
    (
        "NamespaceDeletionContentFailure",
        "ContentDeleted",
        "All content successfully deleted, may be waiting on finalization",
    ),
    (
        "NamespaceContentRemaining",
        "ContentRemoved",
        "All content successfully removed",
    ),
    (
        "NamespaceFinalizersRemaining",
        "ContentRemoved",
        "All content successfully removed",
    ),
];

/// Terminating namespaces: delete their content, report what remains, then let them go.
pub fn namespaces(state: &mut State) {
    for (key, ns) in state.objects_of("", "namespaces") {
        if !is_deleting(&ns) {
            continue;
        }
        let name = key.3.clone();
        let content: Vec<(Key, Value)> = state
            .objects
            .iter()
            .filter(|(k, _)| k.2 == name && !(k.0.is_empty() && k.1 == "namespaces"))
            .map(|(k, s)| (k.clone(), s.obj.clone()))
            .collect();
        for (k, obj) in &content {
            if !is_deleting(obj) {
                state.delete_as_controller(k);
            }
        }
        // What is left after this round of deletes.
        let mut per_resource: BTreeMap<String, usize> = BTreeMap::new();
        let mut per_finalizer: BTreeMap<String, usize> = BTreeMap::new();
        for (k, s) in state
            .objects
            .iter()
            .filter(|(k, _)| k.2 == name && k.1 != "namespaces")
        {
            *per_resource.entry(format!("{}.{}", k.1, k.0)).or_default() += 1;
            for f in s.obj["metadata"]["finalizers"]
                .as_array()
                .into_iter()
                .flatten()
            {
                *per_finalizer
                    .entry(f.as_str().unwrap_or_default().to_string())
                    .or_default() += 1;
            }
        }
        let now = state.clock.now_rfc3339();
        let mut conds = ns["status"]["conditions"].clone();
        for (kind, reason, message) in NS_CONDITIONS {
            let fresh = match *kind {
                "NamespaceContentRemaining" if !per_resource.is_empty() => {
                    let parts: Vec<String> = per_resource
                        .iter()
                        .map(|(r, n)| format!("{r} has {n} resource instances"))
                        .collect();
                    json!({"type": kind, "status": "True", "lastTransitionTime": now, "reason": "SomeResourcesRemain",
                           "message": format!("Some resources are remaining: {}", parts.join(", "))})
                }
                "NamespaceFinalizersRemaining" if !per_finalizer.is_empty() => {
                    let parts: Vec<String> = per_finalizer
                        .iter()
                        .map(|(f, n)| format!("{f} in {n} resource instances"))
                        .collect();
                    json!({"type": kind, "status": "True", "lastTransitionTime": now, "reason": "SomeFinalizerRemain",
                           "message": format!("Some finalizers are remaining: {}", parts.join(", "))})
                }
                _ => {
                    json!({"type": kind, "status": "False", "lastTransitionTime": now, "reason": reason, "message": message})
                }
            };
            conds = super::merge_condition(&conds, fresh);
        }
        let mut status = ns["status"].clone();
        status["conditions"] = conds;
        state.write_status(&key, status);
        if per_resource.is_empty() {
            // finalize: drop `kubernetes` from spec.finalizers, then the namespace goes when
            // no metadata finalizer holds it.
            state.mutate(&key, |o| {
                if let Some(m) = o["spec"].as_object_mut() {
                    m.remove("finalizers");
                }
            });
            let held = state.stored_obj(&key).is_some_and(|o| {
                o["metadata"]["finalizers"]
                    .as_array()
                    .is_some_and(|f| !f.is_empty())
            });
            if !held {
                state.remove_object(&key);
            }
        }
    }
}

/// What the garbage collector needs to know of a possible owner.
struct Owner {
    key: Key,
    deleting: bool,
    orphan: bool,
    foreground: bool,
}

fn has_finalizer(obj: &Value, f: &str) -> bool {
    obj["metadata"]["finalizers"]
        .as_array()
        .is_some_and(|l| l.iter().any(|x| x == f))
}

/// The garbage collector: one sweep over ownerReferences.
pub fn collect(state: &mut State) {
    let dependents: Vec<(Key, Vec<Value>, bool)> = state
        .objects
        .iter()
        .filter_map(|(k, s)| {
            let refs = s.obj["metadata"]["ownerReferences"].as_array()?;
            (!refs.is_empty()).then(|| (k.clone(), refs.clone(), is_deleting(&s.obj)))
        })
        .collect();
    let referenced: BTreeSet<&str> = dependents
        .iter()
        .flat_map(|(_, refs, _)| refs.iter().filter_map(|r| r["uid"].as_str()))
        .collect();
    // Only owners someone points at, and owners waiting on the GC, are looked at.
    let by_uid: BTreeMap<String, Owner> = state
        .objects
        .iter()
        .filter_map(|(k, s)| {
            let uid = s.obj["metadata"]["uid"].as_str()?;
            let deleting = is_deleting(&s.obj);
            let orphan = deleting && has_finalizer(&s.obj, ORPHAN);
            let foreground = deleting && has_finalizer(&s.obj, FOREGROUND);
            if !referenced.contains(uid) && !orphan && !foreground {
                return None;
            }
            let owner = Owner {
                key: k.clone(),
                deleting,
                orphan,
                foreground,
            };
            Some((uid.to_string(), owner))
        })
        .collect();
    drop(referenced);
    let mut still: BTreeSet<String> = BTreeSet::new();
    for (key, refs, dependent_deleting) in dependents {
        let mut keep = Vec::new();
        let mut delete = false;
        let mut orphaned = false;
        for r in &refs {
            let uid = r["uid"].as_str().unwrap_or_default();
            match by_uid.get(uid) {
                // An owner in another namespace does not count (the GC treats it as absent).
                Some(owner) if owner.key.2.is_empty() || owner.key.2 == key.2 => {
                    if owner.deleting && owner.orphan {
                        orphaned = true;
                        continue; // orphan: drop the reference
                    }
                    if owner.deleting && owner.foreground {
                        delete = true;
                    }
                    keep.push(r.clone());
                }
                _ => {}
            }
        }
        if delete || (keep.is_empty() && !orphaned) {
            if !dependent_deleting {
                state.delete_as_controller(&key);
            }
        } else if keep.len() != refs.len() {
            state.mutate(&key, |o| {
                if keep.is_empty() {
                    o["metadata"]
                        .as_object_mut()
                        .map(|m| m.remove("ownerReferences"));
                } else {
                    o["metadata"]["ownerReferences"] = Value::Array(keep);
                }
            });
        }
        if state.objects.contains_key(&key) {
            if let Some(refs) = state
                .stored_obj(&key)
                .and_then(|o| o["metadata"]["ownerReferences"].as_array())
            {
                still.extend(
                    refs.iter()
                        .filter_map(|r| r["uid"].as_str().map(str::to_string)),
                );
            }
        }
    }
    // Owners waiting on the GC: orphan done once no dependent points at them; foreground done
    // once their dependents are gone.
    for (uid, owner) in by_uid {
        if !owner.deleting || !(owner.orphan || owner.foreground) || still.contains(&uid) {
            continue;
        }
        state.mutate(&owner.key, |o| {
            deletion::drop_finalizer(o, ORPHAN);
            deletion::drop_finalizer(o, FOREGROUND);
        });
    }
}
