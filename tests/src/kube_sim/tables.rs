//! Server-side printing (`Accept: application/json;as=Table;g=meta.k8s.io;v=v1`) for the one
//! kind whose columns ferry's users read for lifecycle: Namespaces (NAME, STATUS, AGE, as
//! `pkg/printers/internalversion` prints them), so `kubectl get ns` shows `Terminating`.
//! Other kinds answer plain JSON and kubectl falls back to NAME/AGE columns.

use super::http::{Request, Response};
use super::resources::ResourceType;
use serde_json::{json, Value};
use std::time::SystemTime;

/// True when the client's first acceptable form is a meta.k8s.io/v1 Table.
pub fn wanted(req: &Request, rt: &ResourceType) -> bool {
    if !(rt.group.is_empty() && rt.kind == "Namespace") {
        return false;
    }
    let accept = req.header("Accept").unwrap_or_default();
    accept.split(',').next().is_some_and(|first| {
        let params: Vec<&str> = first.split(';').skip(1).map(str::trim).collect();
        params.contains(&"as=Table")
            && params.contains(&"g=meta.k8s.io")
            && params.contains(&"v=v1")
    })
}

/// `duration.HumanDuration` of apimachinery, for the AGE column.
fn human(secs: u64) -> String {
    let (m, h, d) = (secs / 60, secs / 3600, secs / 86400);
    match secs {
        s if s < 120 => format!("{s}s"),
        _ if m < 10 => match secs % 60 {
            0 => format!("{m}m"),
            s => format!("{m}m{s}s"),
        },
        _ if h < 3 => format!("{m}m"),
        _ if h < 8 => match m % 60 {
            0 => format!("{h}h"),
            mm => format!("{h}h{mm}m"),
        },
        _ if h < 48 => format!("{h}h"),
        _ if h < 24 * 8 => match h % 24 {
            0 => format!("{d}d"),
            hh => format!("{d}d{hh}h"),
        },
        _ if d < 365 * 2 => format!("{d}d"),
        _ => format!("{}y", d / 365),
    }
}

fn age(obj: &Value) -> String {
    let Some(created) = obj["metadata"]["creationTimestamp"]
        .as_str()
        .and_then(|t| humantime::parse_rfc3339(t).ok())
    else {
        return "<unknown>".into();
    };
    human(
        SystemTime::now()
            .duration_since(created)
            .map(|d| d.as_secs())
            .unwrap_or(0),
    )
}

/// A Table of namespaces (rows carry PartialObjectMetadata, kubectl's default).
pub fn namespaces(items: &[Value], list_meta: Value) -> Response {
    let rows: Vec<Value> = items
        .iter()
        .map(|o| json!({"cells": [o["metadata"]["name"], o["status"]["phase"].as_str().unwrap_or(""), age(o)],
            "object": {"kind": "PartialObjectMetadata", "apiVersion": "meta.k8s.io/v1", "metadata": o["metadata"]}}))
        .collect();
    let table = json!({"kind": "Table", "apiVersion": "meta.k8s.io/v1", "metadata": list_meta,
        "columnDefinitions": [
            {"name": "Name", "type": "string", "format": "name", "description": "Name must be unique within a namespace.", "priority": 0},
            {"name": "Status", "type": "string", "format": "", "description": "The status of the namespace", "priority": 0},
            {"name": "Age", "type": "string", "format": "", "description": "CreationTimestamp is a timestamp representing the server time when this object was created.", "priority": 0}],
        "rows": rows});
    let mut r = Response::json(200, &table);
    r.content_type = "application/json;as=Table;g=meta.k8s.io;v=v1".into();
    r
}

#[cfg(test)]
mod tests {
    use super::human;

    #[test]
    fn human_durations() {
        assert_eq!(human(5), "5s");
        assert_eq!(human(150), "2m30s");
        assert_eq!(human(3600), "60m");
        assert_eq!(human(4 * 3600 + 60), "4h1m");
        assert_eq!(human(3 * 86400), "3d");
    }
}
