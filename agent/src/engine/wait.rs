//! Wait (executor): poll the health of applied objects until all are current, one failed, or
//! the timeout passed. A k3s HelmChart is as healthy as its `helm-install-<name>` Job.

use super::apply::{get_live, info_for};
use super::health::{health, Health};
use super::object::{DesiredObject, ObjectId};
use crate::kube::{Discovery, KubeClient, KubeError, ResourceInfo};
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
    Apply(#[from] super::apply::ApplyError),
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

/// The health of one desired object as the cluster reports it now.
pub fn object_health(
    client: &KubeClient,
    discovery: &Discovery,
    d: &DesiredObject,
) -> Result<Health, WaitError> {
    let kerr = |source| WaitError::Kube {
        id: d.id.clone(),
        source,
    };
    if d.id.group == "helm.cattle.io" && d.id.kind == "HelmChart" {
        let job = get_live(
            client,
            &job_info(),
            &d.id.namespace,
            &format!("helm-install-{}", d.id.name),
        )
        .map_err(kerr)?;
        return Ok(job
            .map(|j| health(&j))
            .unwrap_or_else(|| Health::InProgress("helm install job not created yet".into())));
    }
    let info = info_for(client, discovery, d)?;
    Ok(
        match get_live(client, &info, &d.id.namespace, &d.id.name).map_err(kerr)? {
            Some(live) => health(&live),
            None => Health::InProgress("not found".into()),
        },
    )
}

/// Polls every `interval` until all `objects` are current.
pub fn wait_for(
    client: &KubeClient,
    discovery: &Discovery,
    objects: &[&DesiredObject],
    timeout: Duration,
    interval: Duration,
) -> Result<(), WaitError> {
    let deadline = Instant::now() + timeout;
    let mut pending: Vec<&DesiredObject> = objects.to_vec();
    loop {
        let mut still = Vec::new();
        let mut reasons = Vec::new();
        for d in pending {
            match object_health(client, discovery, d)? {
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
            return Ok(());
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
