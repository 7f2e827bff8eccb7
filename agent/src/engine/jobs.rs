//! Jobs that run once per content (pure). A Job ferry applied is done once it completed, and
//! stays done for that content: a Job deleted after it finished (by the TTL-after-finished
//! controller, `ttlSecondsAfterFinished`, as ingress-nginx's admission Jobs ask with `0`) is
//! not drift, is not waited for, and is not created again until a revision changes it.

use super::drift::LiveRecord;
use super::object::{DesiredObject, ObjectId};
use serde_json::Value;

/// How ferry learned that a Job of some content finished.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum JobEnd {
    /// Seen with its `Complete` condition.
    Complete,
    /// Gone from the server after ferry created it with this content, the Job asking for
    /// deletion after it finishes (`ttlSecondsAfterFinished`): its outcome was not seen.
    DeletedAfterFinish,
}

impl JobEnd {
    pub fn as_str(self) -> &'static str {
        match self {
            JobEnd::Complete => "complete",
            JobEnd::DeletedAfterFinish => "deleted-after-finish",
        }
    }

    pub fn parse(s: &str) -> Option<JobEnd> {
        match s {
            "complete" => Some(JobEnd::Complete),
            "deleted-after-finish" => Some(JobEnd::DeletedAfterFinish),
            _ => None,
        }
    }
}

/// A Job of a sync that finished, as the store keeps it (one per object: the content it ran).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FinishedJob {
    pub id: ObjectId,
    /// Hash of the desired content that ran.
    pub applied_hash: String,
    /// The revision whose pass saw it finish.
    pub revision: u64,
    pub end: JobEnd,
}

/// Whether `id` names a `batch` Job.
pub fn is_job(id: &ObjectId) -> bool {
    id.group == "batch" && id.kind == "Job"
}

/// Whether the desired Job asks to be deleted after it finishes.
fn deleted_after_finish(d: &DesiredObject) -> bool {
    d.manifest()
        .is_ok_and(|m| m["spec"]["ttlSecondsAfterFinished"].is_u64())
}

/// Whether `d`, not on the server, is a Job that is done for its content: recorded as
/// finished with this content (`finished_hash`), or created by ferry with this content
/// (`recorded`, what the server answered to the apply) and asking to be deleted after it
/// finishes (only the TTL controller removes it on its own).
pub fn done_when_gone(
    d: &DesiredObject,
    finished_hash: Option<&str>,
    recorded: Option<&LiveRecord>,
) -> bool {
    if !is_job(&d.id) {
        return false;
    }
    if finished_hash == Some(d.hash.as_str()) {
        return true;
    }
    recorded.is_some_and(|r| r.applied_hash == d.hash) && deleted_after_finish(d)
}

/// How a live Job ended, if it did: `Complete` (a failed Job is a failure, not an end).
pub fn end_of(live: &Value) -> Option<JobEnd> {
    live["status"]["conditions"]
        .as_array()?
        .iter()
        .any(|c| c["type"] == "Complete" && c["status"] == "True")
        .then_some(JobEnd::Complete)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn job(ttl: Option<u64>) -> DesiredObject {
        let mut m = json!({"apiVersion": "batch/v1", "kind": "Job",
            "metadata": {"name": "ingress-nginx-admission-create", "namespace": "ingress-nginx"},
            "spec": {"template": {"spec": {"restartPolicy": "OnFailure"}}}});
        if let Some(t) = ttl {
            m["spec"]["ttlSecondsAfterFinished"] = json!(t);
        }
        DesiredObject::new(
            "batch/v1".into(),
            "Job".into(),
            "ingress-nginx".into(),
            "jobs.yaml#0".into(),
            m,
        )
    }

    fn record(hash: &str) -> LiveRecord {
        LiveRecord {
            uid: "u".into(),
            resource_version: "1".into(),
            fields_digest: "f".into(),
            applied_hash: hash.into(),
        }
    }

    #[test]
    fn a_gone_job_is_done_only_for_the_content_that_ran() {
        let j = job(Some(0));
        assert!(done_when_gone(&j, Some(&j.hash), None));
        assert!(!done_when_gone(&j, Some("other content"), None));
        // Created by ferry with this content and deleted after it finished.
        assert!(done_when_gone(&j, None, Some(&record(&j.hash))));
        assert!(!done_when_gone(&j, None, Some(&record("older content"))));
        // Without a TTL nothing deletes it on its own: missing means drift.
        let plain = job(None);
        assert!(!done_when_gone(&plain, None, Some(&record(&plain.hash))));
        assert!(done_when_gone(&plain, Some(&plain.hash), None));
        // Not a Job: never.
        let cm = DesiredObject::new(
            "v1".into(),
            "ConfigMap".into(),
            "d".into(),
            "c.yaml#0".into(),
            json!({"metadata": {"name": "c"}}),
        );
        assert!(!done_when_gone(
            &cm,
            Some(&cm.hash),
            Some(&record(&cm.hash))
        ));
    }

    #[test]
    fn only_a_complete_condition_ends_a_job() {
        let done = json!({"status": {"conditions": [
            {"type": "SuccessCriteriaMet", "status": "True"},
            {"type": "Complete", "status": "True"}]}});
        assert_eq!(end_of(&done), Some(JobEnd::Complete));
        let failed = json!({"status": {"conditions": [{"type": "Failed", "status": "True"}]}});
        assert_eq!(end_of(&failed), None);
        assert_eq!(end_of(&json!({"status": {}})), None);
        assert_eq!(
            JobEnd::parse(JobEnd::DeletedAfterFinish.as_str()),
            Some(JobEnd::DeletedAfterFinish)
        );
    }
}
