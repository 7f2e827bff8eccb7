//! Prometheus metrics in the text exposition format: rendered from the store (pure), written
//! atomically to a node_exporter textfile-collector path, and optionally served on localhost.

pub mod config;

use crate::fleet::{health_word, SyncReport};
use crate::store::{Store, StoreError};
use std::collections::BTreeMap;
use std::fmt::Write;
use std::net::TcpListener;
use std::path::Path;
use std::sync::Arc;

fn esc(v: &str) -> String {
    v.replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

/// Renders every metric (pure over the given data).
pub fn render(syncs: &[SyncReport], counters: &[(String, i64)], outbox_len: i64) -> String {
    let mut out = String::new();
    let mut family = |name: &str, kind: &str, help: &str, samples: Vec<(String, f64)>| {
        let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} {kind}");
        for (labels, v) in samples {
            let _ = writeln!(out, "{name}{labels} {v}");
        }
    };
    let per_sync = |f: &dyn Fn(&SyncReport) -> Option<f64>| -> Vec<(String, f64)> {
        syncs
            .iter()
            .filter_map(|r| f(r).map(|v| (format!("{{sync=\"{}\"}}", esc(&r.name)), v)))
            .collect()
    };
    family(
        "ferry_build_info",
        "gauge",
        "ferry-agent version.",
        vec![(
            format!("{{version=\"{}\"}}", env!("CARGO_PKG_VERSION")),
            1.0,
        )],
    );
    family(
        "ferry_sync_revision",
        "gauge",
        "Revision currently applied (last good).",
        per_sync(&|r| r.state.good.as_ref().map(|g| g.revision as f64)),
    );
    family(
        "ferry_sync_highest_verified_revision",
        "gauge",
        "Highest revision that passed verification.",
        per_sync(&|r| r.state.highest_revision.map(|v| v as f64)),
    );
    family(
        "ferry_sync_healthy",
        "gauge",
        "1 when the last attempt applied and is healthy.",
        per_sync(&|r| {
            Some(if health_word(r) == "healthy" {
                1.0
            } else {
                0.0
            })
        }),
    );
    family(
        "ferry_sync_suspended",
        "gauge",
        "1 when the sync is suspended.",
        per_sync(&|r| Some(if r.suspended { 1.0 } else { 0.0 })),
    );
    family(
        "ferry_sync_last_success_timestamp_seconds",
        "gauge",
        "Unix time of the last successful apply.",
        per_sync(&|r| r.state.last_success.map(|t| t as f64)),
    );
    family(
        "ferry_sync_last_attempt_timestamp_seconds",
        "gauge",
        "Unix time of the last apply attempt.",
        per_sync(&|r| r.state.last_attempt.map(|t| t as f64)),
    );
    family(
        "ferry_source_reachable",
        "gauge",
        "1 when the sync's source answered the last poll.",
        per_sync(&|r| {
            Some(if r.state.source_unreachable_since.is_none() {
                1.0
            } else {
                0.0
            })
        }),
    );
    let mut apply = Vec::new();
    let mut events = Vec::new();
    let mut passes = Vec::new();
    let mut dropped = 0;
    let mut refused = 0;
    for (name, v) in counters {
        let parts: Vec<&str> = name.split('|').collect();
        match parts.as_slice() {
            ["apply_objects_total", sync, action] => apply.push((
                format!("{{sync=\"{}\",action=\"{}\"}}", esc(sync), esc(action)),
                *v as f64,
            )),
            ["events_total", sync, kind] => events.push((
                format!("{{sync=\"{}\",kind=\"{}\"}}", esc(sync), esc(kind)),
                *v as f64,
            )),
            ["passes_total", sync] => {
                passes.push((format!("{{sync=\"{}\"}}", esc(sync)), *v as f64))
            }
            ["outbox_dropped"] => dropped = *v,
            ["outbox_refused"] => refused = *v,
            _ => {}
        }
    }
    family(
        "ferry_apply_objects_total",
        "counter",
        "Objects handled by applies, by action (created, configured, unchanged, deleted, skipped).",
        apply,
    );
    family(
        "ferry_events_total",
        "counter",
        "Events recorded, by kind (applied, failed, rolled-back, refused, drift-corrected, ...).",
        events,
    );
    family(
        "ferry_sync_passes_total",
        "counter",
        "Passes the daemon finished (poll, apply or drift check), whatever their outcome.",
        passes,
    );
    family(
        "ferry_outbox_entries",
        "gauge",
        "Heartbeats and notifications waiting for delivery.",
        vec![(String::new(), outbox_len as f64)],
    );
    family(
        "ferry_outbox_dropped_total",
        "counter",
        "Queued messages dropped because the outbox was full.",
        vec![(String::new(), dropped as f64)],
    );
    family(
        "ferry_outbox_refused_total",
        "counter",
        "Queued messages dropped because their receiver refused them for good (400, 413, 422 ...).",
        vec![(String::new(), refused as f64)],
    );
    out
}

/// Renders the metrics of the current state.
pub fn current(store: &Store, cfg: &crate::config::AgentConfig) -> Result<String, StoreError> {
    let reports = crate::fleet::reports(store, cfg)?;
    Ok(render(&reports, &store.counters()?, store.outbox_len()?))
}

/// Writes `text` to `path` atomically (temporary file + rename), as node_exporter expects.
pub fn write_textfile(path: &Path, text: &str) -> std::io::Result<()> {
    let tmp = path.with_extension("prom.tmp");
    std::fs::write(&tmp, text)?;
    std::fs::rename(&tmp, path)
}

/// `GET /metrics` from a render function, for the bounded server of [`crate::httpd`].
struct MetricsHandler(Arc<dyn Fn() -> String + Send + Sync>);

impl crate::httpd::Handler for MetricsHandler {
    fn handle(&self, request: &crate::httpd::Request) -> crate::httpd::Response {
        use crate::httpd::{Body, Method, Response};
        match (request.method, request.path.as_str()) {
            (Method::Get | Method::Head, "/metrics") => Response {
                status: 200,
                content_type: "text/plain; version=0.0.4".into(),
                headers: Vec::new(),
                etag: None,
                body: Body::Bytes((self.0)().into_bytes()),
            },
            (Method::Other, _) => Response::status(405),
            _ => Response::status(404),
        }
    }
}

/// Serves `GET /metrics` on `listener` from `render` in a background thread (bounded: a few
/// connections at once, each with a deadline for its request).
pub fn serve(listener: TcpListener, render: Arc<dyn Fn() -> String + Send + Sync>) {
    let limits = crate::httpd::ServerLimits {
        max_connections: 4,
        max_per_client: 2,
        ..Default::default()
    };
    crate::httpd::spawn(listener, limits, Arc::new(MetricsHandler(render)));
}

/// Parses exposition text into (name{labels} -> value); used by tests and `ferry-agent metrics`.
pub fn parse(text: &str) -> Result<BTreeMap<String, f64>, String> {
    let mut out = BTreeMap::new();
    for (i, line) in text.lines().enumerate() {
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let (key, value) = line
            .rsplit_once(' ')
            .ok_or_else(|| format!("line {}: no value: {line}", i + 1))?;
        let v: f64 = value
            .parse()
            .map_err(|_| format!("line {}: bad value {value:?}", i + 1))?;
        let name_end = key.find('{').unwrap_or(key.len());
        let name = &key[..name_end];
        if name.is_empty()
            || !name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == ':')
        {
            return Err(format!("line {}: bad metric name {name:?}", i + 1));
        }
        out.insert(key.to_string(), v);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::SyncState;

    #[test]
    fn renders_parseable_conventional_metrics() {
        let st = SyncState {
            good: Some(crate::store::GoodAttempt {
                attempt: 1,
                revision: 3,
                digest: "d".into(),
            }),
            last_success: Some(1_700_000_000),
            ..Default::default()
        };
        let r = SyncReport {
            name: "apps".into(),
            suspended: false,
            state: st,
            last_attempt_state: Some("applied".into()),
            drift_corrections: 0,
        };
        let counters = vec![
            ("apply_objects_total|apps|created".to_string(), 4),
            ("passes_total|apps".to_string(), 9),
            ("events_total|apps|rolled-back".to_string(), 1),
            ("outbox_dropped".to_string(), 2),
            ("outbox_refused".to_string(), 1),
        ];
        let text = render(&[r], &counters, 5);
        let m = parse(&text).unwrap();
        assert_eq!(m["ferry_sync_revision{sync=\"apps\"}"], 3.0);
        assert_eq!(m["ferry_sync_healthy{sync=\"apps\"}"], 1.0);
        assert_eq!(m["ferry_outbox_refused_total"], 1.0);
        assert_eq!(
            m["ferry_sync_last_success_timestamp_seconds{sync=\"apps\"}"],
            1.7e9
        );
        assert_eq!(
            m["ferry_apply_objects_total{sync=\"apps\",action=\"created\"}"],
            4.0
        );
        assert_eq!(
            m["ferry_events_total{sync=\"apps\",kind=\"rolled-back\"}"],
            1.0
        );
        assert_eq!(m["ferry_sync_passes_total{sync=\"apps\"}"], 9.0);
        assert_eq!(m["ferry_outbox_entries"], 5.0);
        assert_eq!(m["ferry_outbox_dropped_total"], 2.0);
        assert!(text.contains("# TYPE ferry_apply_objects_total counter"));
    }
}
