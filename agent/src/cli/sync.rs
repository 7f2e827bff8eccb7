//! `ferry-agent sync`: one pass of each (or the named) sync, printed as one line each (or JSON).

use super::report::ts;
use super::Cli;
use anyhow::Result;
use ferry_agent::reconcile::{Agent, Outcome};

pub(super) fn sync(cli: &Cli, a: Agent) -> Result<u8> {
    let names: Vec<String> = if cli.args.is_empty() {
        a.config.syncs.iter().map(|s| s.name.clone()).collect()
    } else {
        cli.args.clone()
    };
    if let Some(site) = &a.site {
        // One election try: this run writes only if it holds the site lease.
        if let Err(e) = site.try_once() {
            tracing::warn!("site election: {e}");
        }
    }
    let mut code = 0;
    let mut results = Vec::new();
    for name in names {
        match a.sync_once(&name) {
            Ok(o) => {
                if matches!(o, Outcome::RolledBack { .. }) {
                    code = 1;
                }
                // The JSON tree only when asked for: a 1000-object first sync's changes as
                // a tree were 1.3 MB, the largest heap of the whole pass (issue 21).
                if cli.output_json {
                    results.push(serde_json::json!({"sync": name, "result": o}));
                } else {
                    println!("{name}: {}", describe(&o));
                }
            }
            Err(e) => {
                code = 1;
                let msg = ferry_bundle::error_chain(&e);
                if cli.output_json {
                    results.push(serde_json::json!({"sync": name, "error": msg}));
                } else {
                    println!("{name}: FAILED: {msg}");
                }
            }
        }
    }
    if cli.output_json {
        println!("{}", serde_json::to_string_pretty(&results)?);
    }
    a.report(true);
    if ferry_agent::host::restart_requested() {
        println!(
            "ferry-agent replaced itself; exiting {} so the supervisor starts the new binary",
            ferry_agent::host::EXIT_RESTART
        );
        return Ok(ferry_agent::host::EXIT_RESTART);
    }
    Ok(code)
}

fn describe(o: &Outcome) -> String {
    match o {
        Outcome::Suspended => "suspended".into(),
        Outcome::Following { holder, cached } => match cached {
            Some(r) => format!("following {holder} (site leader); revision {r} verified and cached"),
            None => format!("following {holder} (site leader); nothing cached"),
        },
        Outcome::UpToDate { revision, changes } if changes.writes() > 0 => format!(
            "revision {} enforced, drift corrected: {changes}",
            revision.unwrap_or(0)
        ),
        Outcome::UpToDate {
            revision: Some(r), ..
        } => format!("revision {r} up to date, nothing written"),
        Outcome::UpToDate { revision: None, .. } => "nothing applied yet".into(),
        Outcome::Applied { revision, changes } => format!("revision {revision} applied: {changes}"),
        Outcome::RolledBack {
            failed_revision,
            error,
            revision,
        } => format!(
            "revision {failed_revision} FAILED ({error}); rolled back to revision {revision}"
        ),
        Outcome::Waiting { revision, percent } => {
            format!("waiting for wave: revision {revision} is rolling out to {percent}% of devices")
        }
        Outcome::Blocked { dependency, reason } => {
            format!("blocked: depends on {dependency} ({reason})")
        }
        Outcome::Held {
            revision,
            until,
            error,
        } => format!(
            "revision {revision} failed and was rolled back ({error}); held until {} or `ferry-agent retry`",
            ts(Some(*until))
        ),
    }
}
