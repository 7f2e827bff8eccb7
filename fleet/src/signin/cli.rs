//! `ferry-fleet user add|passwd|remove NAME [--role viewer|operator]` and `ferry-fleet token
//! add|remove NAME [--role ...]`, on the database of the configured store. Passwords come from
//! standard input (one line; on a terminal a prompt without echo), never from the command line;
//! a new API token is printed once and only its hash is kept.

use super::db::Db;
use super::local;
use super::roles::Role;
use super::session::{hash_secret, new_secret};
use crate::config::FleetConfig;
use anyhow::{bail, Context};
use std::io::{BufRead, IsTerminal, Read, Write};

fn now() -> i64 {
    crate::clock::Clock::System.now()
}

/// Reads one line from standard input; on a terminal, prompts twice with echo off.
fn read_password() -> anyhow::Result<String> {
    let stdin = std::io::stdin();
    let tty = stdin.is_terminal();
    let echo = |on: bool| {
        if tty {
            let _ = std::process::Command::new("stty")
                .arg(if on { "echo" } else { "-echo" })
                .stdin(std::process::Stdio::inherit())
                .status();
        }
    };
    let read = |prompt: &str| -> anyhow::Result<String> {
        if tty {
            eprint!("{prompt}");
            let _ = std::io::stderr().flush();
        }
        echo(false);
        let mut line = String::new();
        let r = stdin
            .lock()
            .take(local::MAX_PASSWORD as u64 + 2)
            .read_line(&mut line);
        echo(true);
        if tty {
            eprintln!();
        }
        r.context("reading the password from standard input")?;
        Ok(line.trim_end_matches(['\n', '\r']).to_string())
    };
    let first = read("Password: ")?;
    if tty && read("Again: ")? != first {
        bail!("the passwords differ");
    }
    Ok(first)
}

/// Runs a `user` or `token` command.
pub async fn run(
    cfg: &FleetConfig,
    what: &str,
    args: &[String],
    role: Option<Role>,
) -> anyhow::Result<String> {
    let (verb, name) = match args {
        [verb, name] => (verb.as_str(), name.as_str()),
        _ => bail!("usage: ferry-fleet {what} add|passwd|remove NAME [--role viewer|operator]"),
    };
    local::check_name(name)?;
    let db = Db::open(&cfg.store).await?;
    let need_role = || role.context("--role viewer|operator is required");
    match (what, verb) {
        ("user", "add") => {
            let role = need_role()?;
            let hash = local::hash_password(&read_password()?)?;
            db.add_user(name, role, &hash, now()).await?;
            Ok(format!("user {name} added ({})", role.as_str()))
        }
        ("user", "passwd") => {
            let hash = local::hash_password(&read_password()?)?;
            db.set_password(name, &hash).await?;
            Ok(format!("password of {name} changed; their sessions ended"))
        }
        ("user", "remove") => {
            db.remove_user(name).await?;
            Ok(format!("user {name} removed; their sessions ended"))
        }
        ("token", "add") => {
            let role = need_role()?;
            let token = new_secret()?;
            db.add_token(name, role, &hash_secret(&token), now())
                .await?;
            Ok(token)
        }
        ("token", "remove") => {
            db.remove_token(name).await?;
            Ok(format!("token {name} removed"))
        }
        _ => bail!("unknown command: {what} {verb}"),
    }
}
