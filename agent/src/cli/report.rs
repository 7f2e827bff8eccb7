//! The read-only reports: `status`, `history` and `events`.

use super::setup::open_store;
use super::Cli;
use anyhow::Result;
use ferry_agent::config::AgentConfig;

pub(super) fn ts(t: Option<i64>) -> String {
    t.map(|t| {
        humantime::format_rfc3339_seconds(
            std::time::UNIX_EPOCH + std::time::Duration::from_secs(t as u64),
        )
        .to_string()
    })
    .unwrap_or_else(|| "-".into())
}

pub(super) fn status(cli: &Cli, cfg: &AgentConfig) -> Result<u8> {
    let store = open_store(cfg)?;
    let mut rows = Vec::new();
    for report in ferry_agent::fleet::reports(&store, cfg)? {
        let health = ferry_agent::fleet::health_word(&report);
        let (name, st, drift) = (&report.name, &report.state, report.drift_corrections);
        let interval = cfg
            .sync(name)
            .map(|s| s.interval.as_secs() as i64)
            .unwrap_or(0);
        let next = st.last_attempt.map(|t| t + interval);
        let held = store.held(name)?.map(|h| {
            format!(
                "revision {} failed and was rolled back; held until {} (failure {}) or `ferry-agent retry`",
                h.revision,
                ts(Some(h.until)),
                h.failures
            )
        });
        let host_held = store.host_hold(name)?.map(|h| {
            format!(
                "host update of revision {} failed; held until {} (failure {}) or `ferry-agent retry`",
                h.revision,
                ts(Some(h.until)),
                h.failures
            )
        });
        let held = held.or(host_held);
        rows.push(serde_json::json!({
            "sync": name, "revision": st.good.as_ref().map(|g| g.revision), "highestVerified": st.highest_revision,
            "health": health, "lastError": st.last_error, "lastSuccess": ts(st.last_success), "nextRun": ts(next),
            "sourceUnreachableSince": st.source_unreachable_since.map(|t| ts(Some(t))), "waiting": st.waiting, "driftCorrections": drift, "held": held,
        }));
    }
    if cli.output_json {
        println!("{}", serde_json::to_string_pretty(&rows)?);
        return Ok(0);
    }
    println!(
        "{:<16} {:>8}  {:<20} {:<22} LAST ERROR",
        "SYNC", "REVISION", "HEALTH", "LAST SUCCESS"
    );
    for r in rows {
        let mut err = r["lastError"].as_str().unwrap_or("-").to_string();
        if let Some(since) = r["sourceUnreachableSince"].as_str() {
            err = format!("source unreachable since {since}; {err}");
        }
        if let Some(w) = r["waiting"].as_str() {
            err = w.to_string();
        }
        if let Some(h) = r["held"].as_str() {
            err = format!("{h}; {err}");
        }
        println!(
            "{:<16} {:>8}  {:<20} {:<22} {}",
            r["sync"].as_str().unwrap_or_default(),
            r["revision"]
                .as_u64()
                .map(|v| v.to_string())
                .unwrap_or_else(|| "-".into()),
            r["health"].as_str().unwrap_or_default(),
            r["lastSuccess"].as_str().unwrap_or_default(),
            ferry_bundle::text::bounded(&err, 4096)
        );
    }
    Ok(0)
}

pub(super) fn history(cli: &Cli, cfg: &AgentConfig) -> Result<u8> {
    let store = open_store(cfg)?;
    let rows = store.history(cli.args.first().map(String::as_str), cli.limit)?;
    if cli.output_json {
        println!("{}", serde_json::to_string_pretty(&rows)?);
        return Ok(0);
    }
    println!(
        "{:>5} {:<16} {:>8} {:<16} {:<12} {:<22} DETAIL",
        "ID", "SYNC", "REVISION", "KIND", "STATE", "STARTED"
    );
    for r in rows {
        let detail = r.error.clone().or_else(|| {
            r.changes
                .as_ref()
                .and_then(|c| {
                    serde_json::from_str::<ferry_agent::engine::changeset::ChangeSet>(c).ok()
                })
                .map(|c| c.to_string())
        });
        println!(
            "{:>5} {:<16} {:>8} {:<16} {:<12} {:<22} {}",
            r.id,
            r.sync,
            r.revision,
            r.kind,
            r.state,
            ts(Some(r.started)),
            ferry_bundle::text::bounded(&detail.unwrap_or_default(), 4096)
        );
    }
    Ok(0)
}

pub(super) fn events(cli: &Cli, cfg: &AgentConfig) -> Result<u8> {
    let store = open_store(cfg)?;
    for c in store.coalesced_events(cli.args.first().map(String::as_str), cli.limit)? {
        let e = &c.event;
        let repeats = match c.count {
            1 => String::new(),
            n => format!(" (x{n}, last {})", ts(Some(c.last_seen))),
        };
        println!(
            "{} {:<12} {:<18} {}{repeats}",
            ts(Some(e.time)),
            e.sync,
            e.kind,
            ferry_bundle::text::bounded(&e.message, 4096)
        );
    }
    Ok(0)
}
