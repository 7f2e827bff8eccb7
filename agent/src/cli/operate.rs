//! Operator verbs on one sync: suspend/resume, rollback to a revision in history, retry of a
//! held revision, diff.

use super::setup::{agent, open_store};
use super::Cli;
use anyhow::{anyhow, bail, Context, Result};
use ferry_agent::config::AgentConfig;

fn one_sync(cli: &Cli, cfg: &AgentConfig) -> Result<String> {
    let [name] = cli.args.as_slice() else {
        bail!("expected one SYNC name")
    };
    cfg.sync(name)
        .ok_or_else(|| anyhow!("unknown sync {name:?}"))?;
    Ok(name.clone())
}

pub(super) fn suspend_or_resume(cli: &Cli, cfg: &AgentConfig) -> Result<u8> {
    let name = one_sync(cli, cfg)?;
    open_store(cfg)?.set_suspended(&name, cli.command == "suspend")?;
    println!(
        "{name}: {}",
        if cli.command == "suspend" {
            "suspended"
        } else {
            "resumed"
        }
    );
    Ok(0)
}

pub(super) fn rollback(cli: &Cli, cfg: AgentConfig) -> Result<u8> {
    let [name, rev] = cli.args.as_slice() else {
        bail!("usage: ferry-agent rollback SYNC REVISION")
    };
    let rev: u64 = rev.parse().context("REVISION must be an integer")?;
    let a = agent(cfg, &cli.config)?;
    let cs = a.rollback(name, rev)?;
    println!("{name}: rolled back to revision {rev}: {cs}");
    Ok(0)
}

pub(super) fn retry(cli: &Cli, cfg: AgentConfig) -> Result<u8> {
    let names: Vec<String> = if cli.args.is_empty() {
        cfg.syncs.iter().map(|s| s.name.clone()).collect()
    } else {
        cli.args.clone()
    };
    let a = agent(cfg, &cli.config)?;
    for name in names {
        match a.retry(&name)? {
            Some(rev) => {
                println!("{name}: revision {rev} will be tried again on the next pass")
            }
            None => println!("{name}: no revision held back"),
        }
    }
    Ok(0)
}

pub(super) fn diff(cli: &Cli, cfg: AgentConfig) -> Result<u8> {
    let name = one_sync(cli, &cfg)?;
    let a = agent(cfg, &cli.config)?;
    let (rev, cs) = a.diff(&name)?;
    if cli.output_json {
        println!(
            "{}",
            serde_json::to_string_pretty(
                &serde_json::json!({"sync": name, "revision": rev, "changes": cs.changes})
            )?
        );
    } else {
        println!(
            "{name}: revision {}: {cs}",
            rev.map(|r| r.to_string()).unwrap_or_else(|| "-".into())
        );
        for c in cs
            .changes
            .iter()
            .filter(|c| c.action != ferry_agent::engine::changeset::Action::Unchanged)
        {
            println!("  {:<10} {}", c.action.as_str(), c.id);
        }
    }
    Ok(0)
}
