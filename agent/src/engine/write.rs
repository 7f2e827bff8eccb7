//! Writing one object (executor): server-side apply (real or dry run) with field manager
//! `ferry`, `force` as the sync says. Conflicts with `force: false` leave the conflicting
//! fields to their owner (reported by the caller); a 404 on the collection refreshes
//! discovery once; a namespace being terminated is waited out (bounded); an immutable field
//! is refused with a clear error, or the object is deleted, awaited and re-created when the
//! sync or the object opts in.

use super::object::{DesiredObject, ObjectId};
use super::ownership::{self, FieldPath, YieldReason, Yielded};
use super::FIELD_MANAGER;
use crate::kube::{Discovery, KubeClient, KubeError, ResourceInfo};
use kube::core::params::{DeleteParams, Patch, PatchParams};
use kube::core::Request;
use serde::Deserialize;
use serde_json::Value;
use std::time::Duration;
use thiserror::Error;

/// Whether objects are re-created when an immutable field changed.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum RecreatePolicy {
    #[default]
    Never,
    OnImmutable,
}

/// Annotation opting one object into re-creation on immutable-field changes.
pub const RECREATE_ANNOTATION: &str = "ferry.dev/recreate";

/// How a sync writes.
#[derive(Debug, Clone, Copy)]
pub struct WritePolicy {
    pub force: bool,
    pub recreate: RecreatePolicy,
    /// Bound of every wait (terminating namespace, deletion before re-creation), measured on
    /// the client's clock.
    pub timeout: Duration,
    pub poll: Duration,
}

/// Real write or server-side dry run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    Real,
    DryRun,
}

/// Why one object could not be written.
#[derive(Debug, Error)]
pub enum WriteError {
    #[error("{id} ({origin}): field {field} is immutable and the change needs the object re-created; set annotation {RECREATE_ANNOTATION}: on-immutable on it (or `recreate: on-immutable` on the sync) to let ferry delete and re-create it")]
    Immutable {
        id: ObjectId,
        origin: String,
        field: String,
    },
    #[error("{id} ({origin}): namespace {namespace} is being terminated; still terminating after {waited:?}")]
    NamespaceTerminating {
        id: ObjectId,
        origin: String,
        namespace: String,
        waited: Duration,
    },
    #[error("{id} ({origin}): deleted for re-creation but still present after {waited:?} (finalizers: {finalizers})")]
    NotGone {
        id: ObjectId,
        origin: String,
        waited: Duration,
        finalizers: String,
    },
    #[error("{id} ({origin}): {source}")]
    Kube {
        id: ObjectId,
        origin: String,
        source: KubeError,
    },
}

impl WriteError {
    /// Failures of the cluster's state rather than of the revision: no rollback helps.
    pub fn is_environmental(&self) -> bool {
        matches!(self, WriteError::NamespaceTerminating { .. })
    }
}

/// What a write returned.
#[derive(Debug, Clone)]
pub struct Written {
    /// The object as the server returned it (after the write, or as it would be).
    pub live: Value,
    /// Fields left to other managers because of conflicts (force off).
    pub conflicts: Vec<Yielded>,
    /// The object was deleted and re-created (immutable field).
    pub recreated: bool,
}

fn request_error(id: &ObjectId, e: impl ToString) -> KubeError {
    KubeError::Request {
        what: id.to_string(),
        reason: e.to_string(),
    }
}

/// One server-side apply request of `body`.
fn patch(
    client: &KubeClient,
    info: &ResourceInfo,
    d: &DesiredObject,
    body: &Value,
    force: bool,
    mode: Mode,
) -> Result<Value, KubeError> {
    let ns = (!d.id.namespace.is_empty()).then_some(d.id.namespace.as_str());
    let mut params = PatchParams::apply(FIELD_MANAGER);
    params.force = force;
    params.dry_run = mode == Mode::DryRun;
    let req = Request::new(info.url_path(ns))
        .patch(&d.id.name, &params, &Patch::Apply(body))
        .map_err(|e| request_error(&d.id, e))?;
    client.send(req)
}

fn is_terminating_namespace(e: &KubeError) -> bool {
    e.message().contains("because it is being terminated")
        || e.causes()
            .iter()
            .any(|c| c.reason == "NamespaceTerminating")
}

/// The immutable field named by a 422, if that is what it is.
fn immutable_field(e: &KubeError) -> Option<String> {
    if e.code() != Some(422) {
        return None;
    }
    if let Some(c) = e.causes().iter().find(|c| c.message.contains("immutable")) {
        return Some(c.field.clone());
    }
    let m = e.message();
    // `<Kind> "<name>" is invalid: <field>: Invalid value: ...: field is immutable`
    m.contains("field is immutable").then(|| {
        m.split_once("is invalid: ")
            .and_then(|(_, rest)| rest.split(": ").next())
            .unwrap_or("(unnamed)")
            .to_string()
    })
}

/// Applies `d` (minus `yielded` paths), handling conflicts, stale discovery, terminating
/// namespaces and immutable fields as the module documentation says.
pub fn apply_object(
    client: &KubeClient,
    discovery: &Discovery,
    info: &ResourceInfo,
    d: &DesiredObject,
    yielded: &[FieldPath],
    policy: &WritePolicy,
    mode: Mode,
) -> Result<Written, WriteError> {
    let kerr = |source| WriteError::Kube {
        id: d.id.clone(),
        origin: d.origin.clone(),
        source,
    };
    let mut body = d.manifest().map_err(|e| kerr(request_error(&d.id, e)))?;
    let opted_in = body["metadata"]["annotations"][RECREATE_ANNOTATION] == "on-immutable";
    ownership::strip(&mut body, yielded);
    let mut info = info.clone();
    let mut conflicts: Vec<Yielded> = Vec::new();
    let mut rediscovered = false;
    let mut recreated = false;
    let clock = client.clock();
    let started = clock.now();
    loop {
        match patch(client, &info, d, &body, policy.force, mode) {
            Ok(live) => {
                return Ok(Written {
                    live,
                    conflicts,
                    recreated,
                })
            }
            Err(e) if e.code() == Some(409) && !policy.force && conflicts.len() < 200 => {
                let found: Vec<Yielded> = e
                    .causes()
                    .iter()
                    .filter_map(|c| {
                        let path = ownership::parse_cause_field(&body, &c.field)?;
                        let manager = c
                            .message
                            .split('"')
                            .nth(1)
                            .unwrap_or("another manager")
                            .to_string();
                        Some(Yielded {
                            path,
                            manager,
                            reason: YieldReason::Conflict,
                        })
                    })
                    .collect();
                if found.is_empty() {
                    return Err(kerr(e));
                }
                let paths: Vec<FieldPath> = found.iter().map(|y| y.path.clone()).collect();
                ownership::strip(&mut body, &paths);
                conflicts.extend(found);
            }
            Err(e) if e.is_not_found() && !rediscovered => {
                // The collection is gone or moved: refresh what discovery knows, once.
                rediscovered = true;
                discovery.invalidate(&[d.api_version.clone()].into_iter().collect());
                match discovery.resolve(client, &d.api_version, &d.id.kind) {
                    Ok(Some(fresh)) => info = fresh,
                    _ => return Err(kerr(e)),
                }
            }
            Err(e) if is_terminating_namespace(&e) => {
                if clock.now().duration_since(started) >= policy.timeout {
                    return Err(WriteError::NamespaceTerminating {
                        id: d.id.clone(),
                        origin: d.origin.clone(),
                        namespace: d.id.namespace.clone(),
                        waited: clock.now().duration_since(started),
                    });
                }
                clock.sleep(policy.poll);
            }
            Err(e) => {
                let Some(field) = immutable_field(&e) else {
                    return Err(kerr(e));
                };
                let opted = policy.recreate == RecreatePolicy::OnImmutable || opted_in;
                if !opted || recreated || mode == Mode::DryRun {
                    return Err(WriteError::Immutable {
                        id: d.id.clone(),
                        origin: d.origin.clone(),
                        field,
                    });
                }
                tracing::info!(object = %d.id, field = %field, "immutable field changed; re-creating");
                delete_and_wait(client, &info, d, policy)?;
                recreated = true;
            }
        }
    }
}

/// Deletes `d` and waits (bounded) until the server no longer has it (finalizers done).
fn delete_and_wait(
    client: &KubeClient,
    info: &ResourceInfo,
    d: &DesiredObject,
    policy: &WritePolicy,
) -> Result<(), WriteError> {
    let kerr = |source| WriteError::Kube {
        id: d.id.clone(),
        origin: d.origin.clone(),
        source,
    };
    let ns = (!d.id.namespace.is_empty()).then_some(d.id.namespace.as_str());
    let req = Request::new(info.url_path(ns))
        .delete(&d.id.name, &DeleteParams::background())
        .map_err(|e| kerr(request_error(&d.id, e)))?;
    match client.send(req) {
        Ok(_) => {}
        Err(e) if e.is_not_found() => return Ok(()),
        Err(e) => return Err(kerr(e)),
    }
    crate::fault::count("recreate-delete");
    let clock = client.clock();
    let started = clock.now();
    loop {
        let live =
            super::livelist::get_live(client, info, &d.id.namespace, &d.id.name).map_err(kerr)?;
        let Some(live) = live else {
            return Ok(());
        };
        if clock.now().duration_since(started) >= policy.timeout {
            return Err(WriteError::NotGone {
                id: d.id.clone(),
                origin: d.origin.clone(),
                waited: clock.now().duration_since(started),
                finalizers: live["metadata"]["finalizers"].to_string(),
            });
        }
        clock.sleep(policy.poll);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kube::Cause;

    fn api(code: u16, message: &str, causes: Vec<Cause>) -> KubeError {
        KubeError::Api {
            method: "PATCH".into(),
            path: "/x".into(),
            code,
            reason: "r".into(),
            message: message.into(),
            retry_after: None,
            causes,
        }
    }

    #[test]
    fn immutable_fields_are_named_from_causes_or_the_message() {
        let e = api(
            422,
            "Deployment.apps \"web\" is invalid: spec.selector: Invalid value: {}: field is immutable",
            vec![Cause {
                reason: "FieldValueInvalid".into(),
                message: "Invalid value: {}: field is immutable".into(),
                field: "spec.selector".into(),
            }],
        );
        assert_eq!(immutable_field(&e).as_deref(), Some("spec.selector"));
        let bare = api(
            422,
            "Job.batch \"j\" is invalid: spec.template: Invalid value: x: field is immutable",
            vec![],
        );
        assert_eq!(immutable_field(&bare).as_deref(), Some("spec.template"));
        assert_eq!(immutable_field(&api(422, "other invalid", vec![])), None);
        assert_eq!(
            immutable_field(&api(409, "field is immutable", vec![])),
            None
        );
    }

    #[test]
    fn a_terminating_namespace_is_recognised() {
        let e = api(403, "configmaps \"a\" is forbidden: unable to create new content in namespace shop because it is being terminated", vec![]);
        assert!(is_terminating_namespace(&e));
        let c = api(
            403,
            "forbidden",
            vec![Cause {
                reason: "NamespaceTerminating".into(),
                message: String::new(),
                field: String::new(),
            }],
        );
        assert!(is_terminating_namespace(&c));
        assert!(!is_terminating_namespace(&api(403, "forbidden", vec![])));
    }
}
