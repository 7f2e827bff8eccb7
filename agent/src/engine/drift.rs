//! Drift (pure): the server decides. What ferry recorded of an applied object (uid,
//! resourceVersion, a digest of ferry's own `managedFields` entry) is compared with what a
//! metadata-only LIST reports; only objects whose ferry entry changed are dry-run applied,
//! and the dry-run result is compared with the live object, ignoring status and the metadata
//! the server owns.

use super::FIELD_MANAGER;
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// What ferry knows of an object it applied (from the apply response or a later LIST).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LiveRecord {
    pub uid: String,
    pub resource_version: String,
    /// sha256 of ferry's own `managedFields` entry (without its timestamp); empty if none.
    pub fields_digest: String,
    /// Hash of the desired object this record vouches for (empty for a listed object).
    pub applied_hash: String,
}

impl LiveRecord {
    /// The record of an object as the server returned it (full object or metadata only).
    pub fn of(obj: &Value) -> Option<LiveRecord> {
        let meta = &obj["metadata"];
        Some(LiveRecord::from_metadata(
            meta["uid"].as_str()?.to_string(),
            meta["resourceVersion"].as_str()?.to_string(),
            &meta["managedFields"],
        ))
    }

    /// The record of an object from its uid, resourceVersion and `managedFields`.
    pub fn from_metadata(uid: String, resource_version: String, managed: &Value) -> LiveRecord {
        LiveRecord {
            uid,
            resource_version,
            fields_digest: ferry_fields_digest(managed),
            applied_hash: String::new(),
        }
    }

    /// The same record, vouching for the desired content with hash `hash`.
    pub fn for_content(mut self, hash: &str) -> LiveRecord {
        self.applied_hash = hash.to_string();
        self
    }
}

/// sha256 of ferry's apply entry in `managedFields` (manager, operation, apiVersion,
/// subresource and fields; not the time), or "" when ferry owns nothing.
pub fn ferry_entry_digest(obj: &Value) -> String {
    ferry_fields_digest(&obj["metadata"]["managedFields"])
}

/// [`ferry_entry_digest`] of an object's `managedFields` list.
fn ferry_fields_digest(managed: &Value) -> String {
    let Some(entry) = managed
        .as_array()
        .into_iter()
        .flatten()
        .find(|m| m["manager"] == FIELD_MANAGER && m["operation"] == "Apply")
    else {
        return String::new();
    };
    let mut e = entry.clone();
    if let Some(m) = e.as_object_mut() {
        m.remove("time");
    }
    super::object::hash_value(&e)
}

/// The verdict of the cheap path (no request beyond the LIST).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Cheap {
    /// Same resourceVersion as recorded.
    Clean,
    /// Another resourceVersion, ferry's entry unchanged: clean; remember the new version.
    Moved(LiveRecord),
    /// Not listed: deleted (or its sync label removed). Re-apply.
    Missing,
    /// Another uid: deleted and created again by someone. Re-apply.
    Replaced,
    /// Ferry's entry changed, nothing recorded, or a full sweep: ask the server (dry run).
    Suspect(Suspicion),
}

/// Why the cheap path cannot decide.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Suspicion {
    NothingRecorded,
    /// The record was made for other content (e.g. a failed revision before a rollback).
    OtherContent,
    FerryEntryChanged,
    FullSweep,
}

/// Classifies one object from its recorded and listed state; `desired_hash` is the hash of
/// the content ferry wants now (a record made for other content vouches for nothing).
pub fn classify(
    recorded: Option<&LiveRecord>,
    listed: Option<&LiveRecord>,
    desired_hash: &str,
    sweep: bool,
) -> Cheap {
    let Some(listed) = listed else {
        return Cheap::Missing;
    };
    let Some(recorded) = recorded else {
        return Cheap::Suspect(Suspicion::NothingRecorded);
    };
    if recorded.applied_hash != desired_hash {
        return Cheap::Suspect(Suspicion::OtherContent);
    }
    if recorded.uid != listed.uid {
        return Cheap::Replaced;
    }
    if sweep {
        return Cheap::Suspect(Suspicion::FullSweep);
    }
    if recorded.resource_version == listed.resource_version {
        return Cheap::Clean;
    }
    if recorded.fields_digest == listed.fields_digest && !listed.fields_digest.is_empty() {
        return Cheap::Moved(listed.clone().for_content(desired_hash));
    }
    Cheap::Suspect(Suspicion::FerryEntryChanged)
}

/// Metadata the server owns: never drift.
const SERVER_METADATA: &[&str] = &[
    "resourceVersion",
    "managedFields",
    "generation",
    "uid",
    "creationTimestamp",
    "selfLink",
    "deletionTimestamp",
    "deletionGracePeriodSeconds",
];

/// The object without status and server-owned metadata.
pub fn comparable(obj: &Value) -> Value {
    let mut v = obj.clone();
    if let Some(m) = v.as_object_mut() {
        m.remove("status");
    }
    if let Some(meta) = v["metadata"].as_object_mut() {
        for k in SERVER_METADATA {
            meta.remove(*k);
        }
    }
    v
}

/// The first path where the dry-run result and the live object differ (both compared as
/// [`comparable`]), or None when applying would change nothing.
pub fn first_difference(dry_run: &Value, live: &Value) -> Option<String> {
    diff(&comparable(dry_run), &comparable(live), String::new())
}

fn diff(a: &Value, b: &Value, path: String) -> Option<String> {
    match (a, b) {
        (Value::Object(x), Value::Object(y)) => {
            for (k, av) in x {
                let child = format!("{path}.{k}");
                match y.get(k) {
                    Some(bv) => {
                        if let Some(d) = diff(av, bv, child) {
                            return Some(d);
                        }
                    }
                    None => return Some(child),
                }
            }
            y.keys()
                .find(|k| !x.contains_key(*k))
                .map(|k| format!("{path}.{k}"))
        }
        (Value::Array(x), Value::Array(y)) if x.len() == y.len() => x
            .iter()
            .zip(y)
            .enumerate()
            .find_map(|(i, (av, bv))| diff(av, bv, format!("{path}[{i}]"))),
        (x, y) if x == y => None,
        _ => Some(if path.is_empty() { ".".into() } else { path }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn rec(uid: &str, rv: &str, digest: &str) -> LiveRecord {
        LiveRecord {
            uid: uid.into(),
            resource_version: rv.into(),
            fields_digest: digest.into(),
            applied_hash: String::new(),
        }
    }

    #[test]
    fn the_cheap_path_decides_what_it_can() {
        let r = rec("u1", "5", "d1").for_content("h");
        let listed = rec("u1", "5", "d1");
        assert_eq!(classify(Some(&r), None, "h", false), Cheap::Missing);
        assert_eq!(classify(Some(&r), Some(&listed), "h", false), Cheap::Clean);
        let moved = rec("u1", "9", "d1");
        assert_eq!(
            classify(Some(&r), Some(&moved), "h", false),
            Cheap::Moved(moved.clone().for_content("h"))
        );
        assert_eq!(
            classify(Some(&r), Some(&rec("u1", "9", "d2")), "h", false),
            Cheap::Suspect(Suspicion::FerryEntryChanged)
        );
        assert_eq!(
            classify(Some(&r), Some(&rec("u2", "5", "d1")), "h", false),
            Cheap::Replaced
        );
        assert_eq!(
            classify(None, Some(&listed), "h", false),
            Cheap::Suspect(Suspicion::NothingRecorded)
        );
        assert_eq!(
            classify(Some(&r), Some(&listed), "other", false),
            Cheap::Suspect(Suspicion::OtherContent)
        );
        assert_eq!(
            classify(Some(&r), Some(&listed), "h", true),
            Cheap::Suspect(Suspicion::FullSweep)
        );
    }

    #[test]
    fn ferry_entry_digest_ignores_time_and_other_managers() {
        let a = json!({"metadata": {"managedFields": [
            {"manager": "ferry", "operation": "Apply", "time": "t1", "fieldsV1": {"f:data": {"f:a": {}}}},
            {"manager": "kubectl-edit", "operation": "Update", "fieldsV1": {"f:data": {"f:b": {}}}}]}});
        let mut b = a.clone();
        b["metadata"]["managedFields"][0]["time"] = json!("t2");
        b["metadata"]["managedFields"][1]["fieldsV1"] = json!({"f:data": {"f:c": {}}});
        assert_eq!(ferry_entry_digest(&a), ferry_entry_digest(&b));
        b["metadata"]["managedFields"][0]["fieldsV1"] = json!({"f:data": {}});
        assert_ne!(ferry_entry_digest(&a), ferry_entry_digest(&b));
        assert_eq!(ferry_entry_digest(&json!({"metadata": {}})), "");
    }

    #[test]
    fn server_metadata_and_status_are_not_drift() {
        let live = json!({"metadata": {"name": "a", "resourceVersion": "3", "generation": 2,
            "managedFields": [], "uid": "u"}, "data": {"a": "1"}, "status": {"x": 1}});
        let dry = json!({"metadata": {"name": "a", "resourceVersion": "4", "generation": 3,
            "uid": "u"}, "data": {"a": "1"}});
        assert_eq!(first_difference(&dry, &live), None);
        let changed = json!({"metadata": {"name": "a"}, "data": {"a": "2"}});
        assert_eq!(first_difference(&changed, &live), Some(".data.a".into()));
        let extra = json!({"metadata": {"name": "a"}, "data": {"a": "1", "b": "2"}});
        assert_eq!(first_difference(&extra, &live), Some(".data.b".into()));
    }
}
