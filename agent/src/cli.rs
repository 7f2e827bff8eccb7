//! Command-line interface: run, sync --once, status, history, rollback, retry,
//! suspend/resume, diff, check-config. Exit codes: 0 ok, 1 a sync failed or was rolled back, 2 usage, 3 setup error.

use anyhow::{anyhow, bail, Context, Result};
use ferry_agent::config::{AgentConfig, K3S_KUBECONFIG};
use ferry_agent::kube::KubeClient;
use ferry_agent::reconcile::{Agent, Outcome};
use ferry_agent::store::blobs::BlobCache;
use ferry_agent::store::Store;
use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;

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

struct Cli {
    config: PathBuf,
    output_json: bool,
    log_json: bool,
    limit: usize,
    command: String,
    args: Vec<String>,
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
/// stdout); `FERRY_LOG` overrides (e.g. `FERRY_LOG=debug`).
fn init_logging(json: bool, daemon: bool) {
    let default = if daemon { "info" } else { "warn" };
    let filter = tracing_subscriber::EnvFilter::try_from_env("FERRY_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_target(false);
    if json {
        builder.with_writer(std::io::stderr).json().init();
    } else {
        builder
            .with_writer(ferry_agent::logline::SafeStderr)
            .compact()
            .without_time()
            .with_ansi(false)
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

fn kube_client(cfg: &AgentConfig) -> Result<KubeClient> {
    if let Some(p) = &cfg.kubeconfig {
        return Ok(KubeClient::from_kubeconfig(p)?);
    }
    if Path::new(K3S_KUBECONFIG).exists() {
        return Ok(KubeClient::from_kubeconfig(Path::new(K3S_KUBECONFIG))?);
    }
    KubeClient::in_cluster().map_err(|e| {
        anyhow!("no kubeconfig configured, none at {K3S_KUBECONFIG}, and not in a cluster: {e}")
    })
}

fn open_store(cfg: &AgentConfig) -> Result<Store> {
    std::fs::create_dir_all(&cfg.state_dir)
        .with_context(|| format!("creating state directory {}", cfg.state_dir.display()))?;
    Ok(Store::open(&cfg.state_dir.join("state.db"))?)
}

/// The agent for commands that sync: the configuration passed every check `check-config`
/// runs (paths, permissions, quarantine placement, kubeconfig).
fn agent(cfg: AgentConfig, config_path: &Path) -> Result<Agent> {
    for w in ferry_agent::config_check::check(&cfg, config_path)? {
        tracing::warn!("{w}");
    }
    let store = open_store(&cfg)?;
    let interrupted = store.recover_interrupted()?;
    if interrupted > 0 {
        tracing::warn!(
            interrupted,
            "previous run stopped during a sync; those attempts are marked interrupted"
        );
    }
    let blobs = BlobCache::open(&cfg.state_dir.join("blobs"))?;
    let client = kube_client(&cfg)?;
    Ok(Agent::new(cfg, store, blobs, client))
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
        "check-config" => check_config(&cfg, &cli.config),
        "serve" => {
            let listen = cli
                .args
                .first()
                .cloned()
                .or_else(|| cfg.serve.as_ref().map(|s| s.listen.clone()))
                .ok_or_else(|| {
                    anyhow!("usage: ferry-agent serve ADDR:PORT (or set serve.listen)")
                })?;
            let listener = std::net::TcpListener::bind(&listen)
                .with_context(|| format!("serve address {listen}"))?;
            let relay = ferry_agent::serve::Relay {
                store: open_store(&cfg)?,
                blobs: BlobCache::open(&cfg.state_dir.join("blobs"))?,
                syncs: cfg.syncs.iter().map(|s| s.name.clone()).collect(),
            };
            eprintln!(
                "ferry-agent: serving the verified cache on http://{}/<sync>/",
                listener.local_addr()?
            );
            ferry_agent::serve::serve(listener, Arc::new(relay));
            Ok(0)
        }
        "images" => {
            let per_registry = cli.args.iter().any(|a| a == "--per-registry");
            match cli.args.first().map(String::as_str) {
                Some("registries-yaml") => {
                    print!(
                        "{}",
                        ferry_agent::images::registries_yaml_for(
                            &cfg,
                            open_store(&cfg)?,
                            per_registry
                        )?
                    );
                    Ok(0)
                }
                Some("export-airgap") => {
                    let dir = cli
                        .args
                        .get(1)
                        .map(PathBuf::from)
                        .unwrap_or_else(|| ferry_agent::images::K3S_AIRGAP_DIR.into());
                    let n = ferry_agent::images::export_airgap(&cfg, open_store(&cfg)?, &dir)?;
                    println!("exported {n} image(s) to {}", dir.join("ferry-images.tar").display());
                    Ok(0)
                }
                Some("serve") => {
                    let addr = ferry_agent::images::start_mirror(&cfg, open_store(&cfg)?)?
                        .ok_or_else(|| anyhow!("set images.listen in the configuration"))?;
                    eprintln!("ferry-agent: image mirror on http://{addr}");
                    loop {
                        std::thread::park();
                    }
                }
                _ => bail!(
                    "usage: ferry-agent images registries-yaml [--per-registry] | serve | export-airgap [DIR]"
                ),
            }
        }
        "metrics" => {
            print!(
                "{}",
                ferry_agent::metrics::current(&open_store(&cfg)?, &cfg)?
            );
            Ok(0)
        }
        "run" => {
            let a = Arc::new(agent(cfg, &cli.config)?);
            // After a restart, the first drift check of each sync is a full dry-run sweep.
            a.sweep_on_start
                .store(true, std::sync::atomic::Ordering::SeqCst);
            if let Some(s) = &a.config.serve {
                let listener = std::net::TcpListener::bind(&s.listen)
                    .with_context(|| format!("serve address {}", s.listen))?;
                let relay = Arc::new(ferry_agent::serve::Relay {
                    store: open_store(&a.config)?,
                    blobs: BlobCache::open(&a.config.state_dir.join("blobs"))?,
                    syncs: a.config.syncs.iter().map(|s| s.name.clone()).collect(),
                });
                std::thread::spawn(move || ferry_agent::serve::serve(listener, relay));
            }
            ferry_agent::images::start_mirror(&a.config, open_store(&a.config)?)?;
            if let Some(addr) = &a.config.metrics.listen {
                let listener = std::net::TcpListener::bind(addr)
                    .with_context(|| format!("metrics listen address {addr}"))?;
                let m = a.clone();
                ferry_agent::metrics::serve(
                    listener,
                    Arc::new(move || {
                        ferry_agent::metrics::current(&m.store, &m.config).unwrap_or_default()
                    }),
                );
            }
            tracing::info!(device = %a.config.device_id(), syncs = a.config.syncs.len(), "ferry-agent started");
            ferry_agent::daemon::run(a);
            Ok(0)
        }
        "sync" => sync(cli, agent(cfg, &cli.config)?),
        "status" => status(cli, &cfg),
        "history" => history(cli, &cfg),
        "events" => events(cli, &cfg),
        "suspend" | "resume" => {
            let name = one_sync(cli, &cfg)?;
            open_store(&cfg)?.set_suspended(&name, cli.command == "suspend")?;
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
        "rollback" => {
            let [name, rev] = cli.args.as_slice() else {
                bail!("usage: ferry-agent rollback SYNC REVISION")
            };
            let rev: u64 = rev.parse().context("REVISION must be an integer")?;
            let a = agent(cfg, &cli.config)?;
            let cs = a.rollback(name, rev)?;
            println!("{name}: rolled back to revision {rev}: {cs}");
            Ok(0)
        }
        "retry" => {
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
        "diff" => {
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
        other => bail!("unknown command {other:?}\n\n{USAGE}"),
    }
}

fn one_sync(cli: &Cli, cfg: &AgentConfig) -> Result<String> {
    let [name] = cli.args.as_slice() else {
        bail!("expected one SYNC name")
    };
    cfg.sync(name)
        .ok_or_else(|| anyhow!("unknown sync {name:?}"))?;
    Ok(name.clone())
}

fn check_config(cfg: &AgentConfig, config_path: &Path) -> Result<u8> {
    for w in ferry_agent::config_check::check(cfg, config_path)? {
        println!("WARNING {w}");
    }
    kube_client(cfg).context("cluster access")?;
    println!("kube   client configuration loaded");
    println!("device {} labels {:?}", cfg.device_id(), cfg.device.labels);
    println!("state  {}", cfg.state_dir.display());
    for s in &cfg.syncs {
        let keys = if s.insecure_skip_signature {
            "signatures NOT checked (insecureSkipSignature)".to_string()
        } else {
            let path = s.keys.as_ref().unwrap_or(&cfg.keys);
            let k = ferry_bundle::TrustedKeys::load(path)
                .with_context(|| format!("sync {}", s.name))?;
            format!(
                "{} trusted key(s): {}",
                k.iter().count(),
                k.iter().map(|k| k.key_id()).collect::<Vec<_>>().join(", ")
            )
        };
        println!(
            "sync   {} bundle={} every {:?}, {keys}",
            s.name,
            s.bundle_name(),
            s.interval
        );
    }
    println!("config ok");
    Ok(0)
}

fn sync(cli: &Cli, a: Agent) -> Result<u8> {
    let names: Vec<String> = if cli.args.is_empty() {
        a.config.syncs.iter().map(|s| s.name.clone()).collect()
    } else {
        cli.args.clone()
    };
    let mut code = 0;
    let mut results = Vec::new();
    for name in names {
        match a.sync_once(&name) {
            Ok(o) => {
                if matches!(o, Outcome::RolledBack { .. }) {
                    code = 1;
                }
                if !cli.output_json {
                    println!("{name}: {}", describe(&o));
                }
                results.push(serde_json::json!({"sync": name, "result": o}));
            }
            Err(e) => {
                code = 1;
                let msg = ferry_bundle::error_chain(&e);
                if !cli.output_json {
                    println!("{name}: FAILED: {msg}");
                }
                results.push(serde_json::json!({"sync": name, "error": msg}));
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

fn ts(t: Option<i64>) -> String {
    t.map(|t| {
        humantime::format_rfc3339_seconds(
            std::time::UNIX_EPOCH + std::time::Duration::from_secs(t as u64),
        )
        .to_string()
    })
    .unwrap_or_else(|| "-".into())
}

fn status(cli: &Cli, cfg: &AgentConfig) -> Result<u8> {
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
        rows.push(serde_json::json!({
            "sync": name, "revision": st.good.as_ref().map(|g| g.1), "highestVerified": st.highest_revision,
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

fn history(cli: &Cli, cfg: &AgentConfig) -> Result<u8> {
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

fn events(cli: &Cli, cfg: &AgentConfig) -> Result<u8> {
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
