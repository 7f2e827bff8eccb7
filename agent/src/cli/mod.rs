//! Command-line interface: run, sync --once, status, history, rollback, retry,
//! suspend/resume, diff, check-config. Exit codes: 0 ok, 1 a sync failed or was rolled back, 2 usage, 3 setup error.
//!
//! This module parses the arguments and dispatches; each group of verbs has its own module:
//! [`setup`] (configuration, store, cluster client, `check-config`), [`sync`] (`sync`),
//! [`report`] (`status`, `history`, `events`), [`operate`] (suspend/resume, rollback, retry,
//! diff) and [`services`] (`run`, `serve`, `images`).

mod operate;
mod report;
mod services;
mod setup;
mod sync;

use anyhow::{anyhow, bail, Result};
use ferry_agent::config::AgentConfig;
use std::ffi::OsString;
use std::path::PathBuf;
use std::process::ExitCode;

const USAGE: &str = "usage: ferry-agent [--config FILE] [--log-format text|json] <command>
  run                      keep every sync applied (the systemd service)
  sync [--once] [SYNC..]   one pass of each (or the named) sync; exit 1 if any failed
  status [--output json]   per sync: revision, health, last error
  history [SYNC] [--limit N] [--output json]
  events [SYNC] [--limit N]
  rollback SYNC REVISION   re-apply a revision from local history
  retry [--sync SYNC]      try a failed, rolled-back (held) revision again on the next pass
  suspend SYNC | resume SYNC
  diff SYNC                what a sync would change now (no writes)
  serve [ADDR:PORT]        serve the verified cache to neighbours (exploded layout over HTTP)
  images registries-yaml [--per-registry]  the k3s registries.yaml for the image mirror
  images serve             only the image mirror (images.listen), in the foreground
  images export-airgap [DIR]  OCI archive of the applied images for k3s's airgap images dir
  metrics                  print the Prometheus metrics
  check-config             load and check the configuration and keys
  host guard               before a start: keep or restore a self-updated binary (ExecStartPre)
  host recover             roll back a host update the agent was stopped in (also done at sync)
The config defaults to $FERRY_CONFIG or /etc/ferry/agent.yaml.";

pub(crate) struct Cli {
    pub(crate) config: PathBuf,
    pub(crate) output_json: bool,
    pub(crate) log_json: bool,
    pub(crate) limit: usize,
    pub(crate) command: String,
    pub(crate) args: Vec<String>,
}

fn parse(raw: Vec<OsString>) -> Result<Cli> {
    use lexopt::prelude::*;
    let mut p = lexopt::Parser::from_args(raw);
    let mut cli = Cli {
        config: std::env::var_os("FERRY_CONFIG")
            .map(PathBuf::from)
            .unwrap_or_else(|| "/etc/ferry/agent.yaml".into()),
        output_json: false,
        log_json: false,
        limit: 20,
        command: String::new(),
        args: Vec::new(),
    };
    while let Some(arg) = p.next()? {
        match arg {
            Long("config") | Short('c') => cli.config = p.value()?.into(),
            Long("output") | Short('o') => cli.output_json = p.value()?.string()? == "json",
            Long("log-format") => cli.log_json = p.value()?.string()? == "json",
            Long("limit") => cli.limit = p.value()?.parse()?,
            Long("once") => {}
            Long("sync") => cli.args.push(p.value()?.string()?),
            Long("per-registry") => cli.args.push("--per-registry".into()),
            Long("help") | Short('h') => cli.command = "help".into(),
            Value(v) if cli.command.is_empty() => cli.command = v.string()?,
            Value(v) => cli.args.push(v.string()?),
            other => return Err(other.unexpected().into()),
        }
    }
    Ok(cli)
}

/// Logs go to stderr: `info` for the daemon, `warn` for one-shot commands (their result is on
/// stdout); `FERRY_LOG` overrides with a level or `target=level` directives, comma-separated
/// (e.g. `FERRY_LOG=debug`, `FERRY_LOG=warn,ferry_agent=debug`). The filter is
/// tracing-subscriber's `Targets`, not `EnvFilter`: no span or field filters, and no regex
/// engine in the binary (about 100 KB on aarch64). A value that does not parse is reported
/// and the default is used. The filter is the only level cap: the formatting layer sits on a
/// bare registry (`fmt()` would add its own INFO cap beneath it, and debug lines would vanish).
fn init_logging(json: bool, daemon: bool) {
    use tracing_subscriber::filter::{LevelFilter, Targets};
    use tracing_subscriber::fmt;
    use tracing_subscriber::layer::SubscriberExt;
    use tracing_subscriber::util::SubscriberInitExt;
    let default = Targets::new().with_default(if daemon {
        LevelFilter::INFO
    } else {
        LevelFilter::WARN
    });
    let filter = match std::env::var("FERRY_LOG") {
        Ok(v) if !v.trim().is_empty() => v.parse::<Targets>().unwrap_or_else(|e| {
            eprintln!(
                "ferry-agent: FERRY_LOG={}: {e}; using the default",
                ferry_bundle::text::bounded(&v, 200)
            );
            default
        }),
        _ => default,
    };
    let logs = tracing_subscriber::registry().with(filter);
    if json {
        logs.with(
            fmt::layer()
                .with_target(false)
                .with_writer(std::io::stderr)
                .json(),
        )
        .init();
    } else {
        logs.with(
            fmt::layer()
                .with_target(false)
                .with_writer(ferry_agent::logline::SafeStderr)
                .compact()
                .without_time()
                .with_ansi(false),
        )
        .init();
    }
}

pub fn main(raw: Vec<OsString>) -> ExitCode {
    let cli = match parse(raw) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("ferry-agent: {e}\n\n{USAGE}");
            return ExitCode::from(2);
        }
    };
    init_logging(cli.log_json, cli.command == "run");
    match dispatch(&cli) {
        Ok(code) => ExitCode::from(code),
        Err(e) => {
            eprintln!(
                "ferry-agent: error: {}",
                ferry_bundle::error_chain(e.as_ref())
            );
            ExitCode::from(3)
        }
    }
}

fn dispatch(cli: &Cli) -> Result<u8> {
    if cli.command.is_empty() || cli.command == "help" {
        println!("{USAGE}");
        return Ok(if cli.command.is_empty() { 2 } else { 0 });
    }
    if cli.command == "version" {
        println!("ferry-agent {}", env!("CARGO_PKG_VERSION"));
        return Ok(0);
    }
    let cfg = AgentConfig::load(&cli.config)?;
    if matches!(cli.command.as_str(), "run" | "sync") {
        ferry_agent::host::at_start(&cfg).map_err(|e| anyhow!("self-update check: {e}"))?;
    }
    match cli.command.as_str() {
        "host" => ferry_agent::host::host_command(&cfg, &cli.args).map_err(|e| anyhow!(e)),
        "check-config" => setup::check_config(&cfg, &cli.config),
        "serve" => services::serve(cli, &cfg),
        "images" => services::images(cli, &cfg),
        "metrics" => {
            print!(
                "{}",
                ferry_agent::metrics::current(&setup::open_store(&cfg)?, &cfg)?
            );
            Ok(0)
        }
        "run" => services::run(cli, cfg),
        "sync" => sync::sync(cli, setup::agent(cfg, &cli.config)?),
        "status" => report::status(cli, &cfg),
        "history" => report::history(cli, &cfg),
        "events" => report::events(cli, &cfg),
        "suspend" | "resume" => operate::suspend_or_resume(cli, &cfg),
        "rollback" => operate::rollback(cli, cfg),
        "retry" => operate::retry(cli, cfg),
        "diff" => operate::diff(cli, cfg),
        other => bail!("unknown command {other:?}\n\n{USAGE}"),
    }
}
