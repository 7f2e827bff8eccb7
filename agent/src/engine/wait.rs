//! Wait (executor): poll the health of applied objects (a bounded number at a time) until all
//! are current, one failed, or the timeout passed. A k3s HelmChart is as healthy as the Job its `status.jobName` names
//! (`helm-install-<name>` before the controller reported it; a Job not created yet is in
//! progress). A Pending PVC looks up its storage class's binding mode. A Job the caller knows
//! is done when gone (see `jobs`) is current once the server no longer has it; the Jobs seen
//! ending are returned, for the store.

use super::health::JobHealth;
use super::health::{health, Facts, Health};
use super::jobs::{self, JobEnd};
use super::livelist::get_live;
use super::object::{DesiredObject, ObjectId};
use super::parallel::map_bounded;
use super::resolve::info_for;
use crate::kube::{Discovery, KubeClient, KubeError, ResourceInfo};
use std::collections::BTreeSet;
use std::time::{Duration, Instant};
use thiserror::Error;

/// Why waiting ended without every object being current.
#[derive(Debug, Error)]
pub enum WaitError {
    #[error("{id} failed: {reason}")]
    Failed { id: ObjectId, reason: String },
    #[error("timed out after {timeout:?} waiting for {}", .pending.iter().map(|(id, r)| format!("{id} ({r})")).collect::<Vec<_>>().join(", "))]
    Timeout {
        timeout: Duration,
        pending: Vec<(ObjectId, String)>,
    },
    #[error("reading {id}: {source}")]
    Kube { id: ObjectId, source: KubeError },
    #[error("{0}")]
    Apply(#[from] super::error::ApplyError),
}

fn job_info() -> ResourceInfo {
    ResourceInfo {
        group: "batch".into(),
        version: "v1".into(),
        kind: "Job".into(),
        plural: "jobs".into(),
        namespaced: true,
    }
}

fn storage_class_info() -> ResourceInfo {
    ResourceInfo {
        group: "storage.k8s.io".into(),
        version: "v1".into(),
        kind: "StorageClass".into(),
        plural: "storageclasses".into(),
        namespaced: false,
    }
}

/// How long to wait and what counts as healthy.
#[derive(Debug, Clone, Copy)]
pub struct WaitOptions {
    pub timeout: Duration,
    pub interval: Duration,
    pub job_health: JobHealth,
    /// Objects polled at once (the sync's apply concurrency).
    pub concurrency: usize,
}

/// Whether a PVC's storage class (named, or the cluster default) binds on first consumer.
fn waits_for_first_consumer(
    client: &KubeClient,
    pvc: &serde_json::Value,
) -> Result<bool, KubeError> {
    let binds_late = |sc: &serde_json::Value| sc["volumeBindingMode"] == "WaitForFirstConsumer";
    if let Some(name) = pvc["spec"]["storageClassName"].as_str() {
        return Ok(
            get_live(client, &storage_class_info(), "", name)?.is_some_and(|sc| binds_late(&sc))
        );
    }
    let list = client.get_path(&storage_class_info().url_path(None))?;
    Ok(list["items"].as_array().into_iter().flatten().any(|sc| {
        sc["metadata"]["annotations"]["storageclass.kubernetes.io/is-default-class"] == "true"
            && binds_late(sc)
    }))
}

/// What one poll saw of an object: its health and, for a Job, whether it ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Observed {
    pub health: Health,
    pub job_end: Option<JobEnd>,
}

impl From<Health> for Observed {
    fn from(health: Health) -> Self {
        Observed {
            health,
            job_end: None,
        }
    }
}

/// The health of one desired object as the cluster reports it now; `done_when_gone`: the
/// object is a Job that is done once the server no longer has it.
pub fn object_health(
    client: &KubeClient,
    discovery: &Discovery,
    d: &DesiredObject,
    job_health: JobHealth,
    done_when_gone: bool,
) -> Result<Observed, WaitError> {
    let kerr = |source| WaitError::Kube {
        id: d.id.clone(),
        source,
    };
    let mut facts = Facts {
        job_health,
        ..Facts::default()
    };
    let info = info_for(client, discovery, d)?;
    let Some(live) = get_live(client, &info, &d.id.namespace, &d.id.name).map_err(kerr)? else {
        return Ok(match done_when_gone {
            true => Observed {
                health: Health::Current,
                job_end: Some(JobEnd::DeletedAfterFinish),
            },
            false => Health::InProgress("not found".into()).into(),
        });
    };
    if d.id.group == "helm.cattle.io" && d.id.kind == "HelmChart" {
        let job_name = live["status"]["jobName"]
            .as_str()
            .map(str::to_string)
            .unwrap_or_else(|| format!("helm-install-{}", d.id.name));
        let job = get_live(client, &job_info(), &d.id.namespace, &job_name).map_err(kerr)?;
        // The Job must be created at or after ferry's last apply of the chart (its
        // managedFields time), or it is the Job of an earlier chart.
        let applied_at = live["metadata"]["managedFields"]
            .as_array()
            .into_iter()
            .flatten()
            .find(|m| m["manager"] == super::FIELD_MANAGER && m["operation"] == "Apply")
            .and_then(|m| m["time"].as_str())
            .or_else(|| live["metadata"]["creationTimestamp"].as_str())
            .unwrap_or_default()
            .to_string();
        let fresh = |j: &serde_json::Value| {
            j["metadata"]["creationTimestamp"]
                .as_str()
                .unwrap_or_default()
                >= applied_at.as_str()
        };
        return Ok(match job {
            Some(j) if fresh(&j) => health(
                &j,
                &Facts {
                    job_health: JobHealth::Complete,
                    ..facts
                },
            ),
            _ => Health::InProgress(format!("helm job {job_name} not created yet")),
        }
        .into());
    }
    if d.id.kind == "PersistentVolumeClaim"
        && d.id.group.is_empty()
        && live["status"]["phase"] != "Bound"
    {
        facts.waits_for_first_consumer = waits_for_first_consumer(client, &live).map_err(kerr)?;
    }
    Ok(Observed {
        health: health(&live, &facts),
        job_end: jobs::is_job(&d.id).then(|| jobs::end_of(&live)).flatten(),
    })
}

/// Polls every `interval` until all `objects` are current; `done_when_gone`: Jobs that are
/// done once the server no longer has them. Returns the Jobs seen ending.
pub fn wait_for(
    client: &KubeClient,
    discovery: &Discovery,
    objects: &[&DesiredObject],
    opts: &WaitOptions,
    done_when_gone: &BTreeSet<ObjectId>,
) -> Result<Vec<(ObjectId, JobEnd)>, WaitError> {
    let (timeout, interval) = (opts.timeout, opts.interval);
    let deadline = Instant::now() + timeout;
    let mut pending: Vec<&DesiredObject> = objects.to_vec();
    let mut ended = Vec::new();
    loop {
        let mut still = Vec::new();
        let mut reasons = Vec::new();
        let polled = map_bounded(&pending, opts.concurrency, |d| {
            let gone_ok = done_when_gone.contains(&d.id);
            object_health(client, discovery, d, opts.job_health, gone_ok)
        });
        for (i, seen) in polled {
            let (d, seen) = (pending[i], seen?);
            if let Some(end) = seen.job_end {
                ended.push((d.id.clone(), end));
            }
            match seen.health {
                Health::Current => {}
                Health::Failed(reason) => {
                    return Err(WaitError::Failed {
                        id: d.id.clone(),
                        reason,
                    })
                }
                Health::InProgress(reason) => {
                    reasons.push((d.id.clone(), reason));
                    still.push(d);
                }
            }
        }
        if still.is_empty() {
            return Ok(ended);
        }
        if Instant::now() >= deadline {
            return Err(WaitError::Timeout {
                timeout,
                pending: reasons,
            });
        }
        std::thread::sleep(
            interval
                .min(deadline.saturating_duration_since(Instant::now()))
                .max(Duration::from_millis(10)),
        );
        pending = still;
    }
}
