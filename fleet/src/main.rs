//! The `ferry-fleet` binary: `run` (the receiver), `check-config`, `hash-token`.

use anyhow::{bail, Context};
use ferry_fleet::config::FleetConfig;
use lexopt::ValueExt;
use std::io::Read;
use std::path::PathBuf;

const USAGE: &str = "usage:
  ferry-fleet run [--config FILE]           serve (default config /etc/ferry-fleet/fleet.yaml)
  ferry-fleet check-config [--config FILE]  parse the config, load TLS files, tokens, the OIDC secret
  ferry-fleet hash-token < TOKEN            print the SHA-256 line part for the tokens file
  ferry-fleet user add NAME --role viewer|operator [--config FILE]   password from stdin
  ferry-fleet user passwd NAME | user remove NAME [--config FILE]
  ferry-fleet token add NAME --role viewer|operator [--config FILE]  prints the API token once
  ferry-fleet token remove NAME [--config FILE]
  ferry-fleet dev-setup DIR [--device ID]... [--listen ADDR]
                                            a trial CA, server and device certificates, tokens, fleet.yaml";

fn main() -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("FERRY_FLEET_LOG")
                .unwrap_or_else(|_| "info".into()),
        )
        .with_writer(std::io::stderr)
        .init();
    let mut args = lexopt::Parser::from_env();
    let mut command: Option<String> = None;
    let mut config = PathBuf::from("/etc/ferry-fleet/fleet.yaml");
    let mut rest: Vec<String> = Vec::new();
    let mut devices: Vec<String> = Vec::new();
    let mut listen = String::from("127.0.0.1:8443");
    let mut role = None;
    while let Some(arg) = args.next()? {
        use lexopt::Arg::*;
        match arg {
            Long("config") => config = args.value()?.into(),
            Long("device") => devices.push(args.value()?.string()?),
            Long("listen") => listen = args.value()?.string()?,
            Long("role") => {
                let r = args.value()?.string()?;
                role = Some(
                    ferry_fleet::signin::roles::Role::parse(&r)
                        .with_context(|| format!("--role {r:?}: viewer or operator"))?,
                );
            }
            Long("help") | Short('h') => {
                println!("{USAGE}");
                return Ok(());
            }
            Value(v) if command.is_none() => command = Some(v.string()?),
            Value(v) => rest.push(v.string()?),
            other => bail!("{}\n{USAGE}", other.unexpected()),
        }
    }
    match command.as_deref() {
        Some("run") => {
            let cfg = FleetConfig::load(&config)?;
            let rt = tokio::runtime::Runtime::new()?;
            rt.block_on(ferry_fleet::run::run(cfg, |addr| {
                // One line on stdout, for scripts and tests that asked for port 0.
                println!("listening on https://{addr}");
                tracing::info!("ferry-fleet listening on https://{addr}");
            }))
        }
        Some("check-config") => {
            let cfg = FleetConfig::load(&config)?;
            ferry_fleet::tls::server_config(
                &cfg.tls.cert,
                &cfg.tls.key,
                cfg.tls.client_ca.as_deref(),
                cfg.tls_sessions,
            )?;
            if let Some(o) = &cfg.signin.oidc {
                ferry_fleet::signin::provider::Provider::new(o.clone())?;
            }
            let tokens = ferry_fleet::run::load_tokens(&cfg)?;
            let metrics = match ferry_fleet::run::load_metrics_token(&cfg)? {
                Some(_) => "a metrics token",
                None => "no metrics token: /metrics answers 403",
            };
            println!(
                "{}: ok ({} tokens, {metrics})",
                config.display(),
                tokens.len()
            );
            Ok(())
        }
        Some(what @ ("user" | "token")) => {
            let cfg = FleetConfig::load(&config)?;
            let rt = tokio::runtime::Runtime::new()?;
            let out = rt.block_on(ferry_fleet::signin::cli::run(&cfg, what, &rest, role))?;
            println!("{out}");
            Ok(())
        }
        Some("hash-token") => {
            let mut t = String::new();
            std::io::stdin().read_to_string(&mut t).context("stdin")?;
            println!("{}", hex::encode(ferry_fleet::auth::hash_token(&t)));
            Ok(())
        }
        Some("dev-setup") => {
            let [dir] = rest.as_slice() else {
                bail!("{USAGE}")
            };
            let dir = PathBuf::from(dir);
            ferry_fleet::devsetup::dev_setup(&dir, &devices, &listen)?;
            println!(
                "{}: ca.pem, server.pem, devices/, tokens, fleet.yaml",
                dir.display()
            );
            Ok(())
        }
        _ => bail!("{USAGE}"),
    }
}
