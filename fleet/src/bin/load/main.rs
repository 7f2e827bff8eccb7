//! `ferry-fleet-load`: the fleet benchmark. Starts a ferry-fleet in this process (SQLite, or
//! PostgreSQL from Debian's packages in a scratch directory), then simulates N agents over
//! loopback TLS: each opens its own connection, authenticates with its own token and sends
//! `--rounds` heartbeats on it (kept alive, as the agent does). Bounded in count and time: it
//! stops after the last agent or after `--max-seconds`. Then it times the status page, the
//! JSON API and /metrics with N devices stored. Not part of the test run; see cross/bench.

use anyhow::{bail, Context};
use bytes_compat::Bytes;
use ferry_fleet::config::FleetConfig;
use http_body_util::{BodyExt, Full};
use hyper_util::rt::TokioIo;
use lexopt::ValueExt;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::Semaphore;

mod cpu;
mod views;

mod bytes_compat {
    pub use axum::body::Bytes;
}

struct Args {
    devices: usize,
    rounds: usize,
    concurrency: usize,
    max_seconds: u64,
    postgres: bool,
    /// Devices written straight into the store before the run (for view times at scale).
    seed: usize,
    /// Clients looping `GET /` after the run, and for how long (memory under load).
    view_clients: usize,
    view_seconds: u64,
    /// Receivers sharing the store (`sharedStore`), devices split between them.
    receivers: usize,
}

fn args() -> anyhow::Result<Args> {
    let mut a = Args {
        devices: 10_000,
        rounds: 2,
        concurrency: 1000,
        max_seconds: 120,
        postgres: false,
        seed: 0,
        view_clients: 0,
        view_seconds: 30,
        receivers: 1,
    };
    let mut p = lexopt::Parser::from_env();
    while let Some(arg) = p.next()? {
        use lexopt::Arg::*;
        match arg {
            Long("devices") => a.devices = p.value()?.parse()?,
            Long("rounds") => a.rounds = p.value()?.parse()?,
            Long("concurrency") => a.concurrency = p.value()?.parse()?,
            Long("max-seconds") => a.max_seconds = p.value()?.parse()?,
            Long("seed") => a.seed = p.value()?.parse()?,
            Long("view-clients") => a.view_clients = p.value()?.parse()?,
            Long("view-seconds") => a.view_seconds = p.value()?.parse()?,
            Long("receivers") => a.receivers = p.value()?.parse()?,
            Long("store") => a.postgres = match p.value()?.string()?.as_str() {
                "sqlite" => false,
                "postgres" => true,
                s => bail!("--store sqlite|postgres, not {s}"),
            },
            other => bail!("{}\nusage: ferry-fleet-load [--devices N] [--rounds N] [--concurrency N] [--max-seconds S] [--store sqlite|postgres] [--seed N] [--view-clients N] [--view-seconds S] [--receivers N]", other.unexpected()),
        }
    }
    Ok(a)
}

fn token(i: usize) -> String {
    format!("load-token-{i:06}")
}

fn device(i: usize) -> String {
    format!("sim-{i:06}")
}

/// A heartbeat with a realistic spread: most healthy, some degraded, failed, waiting for wave.
fn heartbeat(i: usize, round: usize) -> String {
    let (health, error, waiting, rev) = match i % 100 {
        0..=2 => ("failed", Some(format!("sync apps: timed out after 5m waiting for Deployment.apps/shop/web{} (0/1 replicas available)", i % 3)), None, 6),
        3..=7 => ("degraded", Some("sync apps: source unreachable: connection refused".to_string()), None, 7),
        8..=19 => ("waiting", None, Some("waiting for wave: revision 8 is rolling out to 80% of devices"), 7),
        _ => ("healthy", None, None, 8),
    };
    serde_json::json!({"schema": "ferry.dev/heartbeat/v1", "time": "2026-11-23T10:00:00Z",
        "device": {"id": device(i), "labels": {"site": format!("site-{}", i % 50), "tier": "edge"}},
        "agent": {"version": "0.1.0", "uptimeSeconds": 3600 + round},
        "syncs": [
            {"name": "apps", "revision": rev, "highestVerified": 8, "health": health, "lastError": error,
             "lastSuccess": "2026-11-23T09:58:00Z", "driftCorrections": i % 4, "sourceReachable": i % 100 != 5,
             "sourceUnreachableSince": if i % 100 == 5 { Some("2026-11-23T09:00:00Z") } else { None }, "waiting": waiting},
            {"name": "infra", "revision": 3, "highestVerified": 3, "health": "healthy", "lastError": null,
             "lastSuccess": "2026-11-23T09:58:00Z", "driftCorrections": 0, "sourceReachable": true,
             "sourceUnreachableSince": null, "waiting": null}],
        "outbox": {"dropped": if i % 500 == 7 { 12 } else { 0 }}, "intervalSeconds": 300})
    .to_string()
}

type Sender = hyper::client::conn::http1::SendRequest<Full<Bytes>>;

async fn connect(
    addr: std::net::SocketAddr,
    tls: &tokio_rustls::TlsConnector,
) -> anyhow::Result<Sender> {
    let tcp = tokio::net::TcpStream::connect(addr).await?;
    tcp.set_nodelay(true)?;
    let name = rustls::pki_types::ServerName::try_from("127.0.0.1")?.to_owned();
    let stream = tls.connect(name, tcp).await?;
    let (sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream)).await?;
    tokio::spawn(conn);
    Ok(sender)
}

async fn send(
    s: &mut Sender,
    method: &str,
    path: &str,
    auth: Option<&str>,
    body: String,
) -> anyhow::Result<(u16, usize)> {
    let mut req = hyper::Request::builder()
        .method(method)
        .uri(path)
        .header("host", "127.0.0.1");
    if let Some(t) = auth {
        req = req
            .header("authorization", format!("Bearer {t}"))
            .header("content-type", "application/json");
    }
    s.ready().await?;
    let resp = s
        .send_request(req.body(Full::new(Bytes::from(body)))?)
        .await?;
    let status = resp.status().as_u16();
    let body = resp.into_body().collect().await?.to_bytes();
    Ok((status, body.len()))
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    sorted[((sorted.len() as f64 - 1.0) * p).round() as usize]
}

fn ms(d: Duration) -> String {
    format!("{:.1} ms", d.as_secs_f64() * 1000.0)
}

fn main() -> anyhow::Result<()> {
    let a = args()?;
    // Receiver and generator on runtimes of their own, so their CPU time can be told apart.
    let server = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .thread_name("fleet-recv")
        .build()?;
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .thread_name("load-gen")
        .build()?;
    rt.block_on(bench(a, server.handle().clone()))
}

async fn bench(a: Args, server: tokio::runtime::Handle) -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    ferry_fleet::devsetup::dev_setup(dir.path(), &[], "127.0.0.1:0")?;
    let mut tokens = String::new();
    for i in 0..a.devices {
        tokens.push_str(&format!(
            "{} {}\n",
            device(i),
            hex::encode(ferry_fleet::auth::hash_token(&token(i)))
        ));
    }
    std::fs::write(dir.path().join("tokens"), tokens)?;
    let pg = if a.postgres {
        Some(tokio::task::spawn_blocking(ferry_fleet::pgtest::TestPostgres::start).await??)
    } else {
        None
    };
    let cfg_path = dir.path().join("fleet.yaml");
    let mut text = std::fs::read_to_string(&cfg_path)?;
    if let Some(pg) = &pg {
        text = text.replace(
            "  sqlite: fleet.db",
            &format!("  postgres: \"{}\"", pg.url()),
        );
    }
    // Every simulated device comes from 127.0.0.1: lift the per-address connection limit.
    text.push_str("maxConnectionsPerAddress: 1000000\n");
    if a.receivers > 1 {
        text.push_str("sharedStore: true\n");
    }
    std::fs::write(&cfg_path, &text)?;
    let cfg = FleetConfig::load(&cfg_path)?;
    // Views need sign-in: a viewer API token for the timed GETs.
    let view_token = ferry_fleet::signin::cli::run(
        &cfg,
        "token",
        &["add".into(), "load".into()],
        Some(ferry_fleet::signin::roles::Role::Viewer),
    )
    .await?;
    if a.seed > 0 {
        let t = Instant::now();
        match &cfg.store {
            ferry_fleet::config::StoreConfig::Sqlite(p) => {
                seed(&ferry_fleet::store::sqlite::SqliteStore::open(p)?, &a).await?
            }
            ferry_fleet::config::StoreConfig::Postgres(u) => {
                seed(
                    &ferry_fleet::store::postgres::PgStore::connect(u).await?,
                    &a,
                )
                .await?
            }
        }
        println!(
            "# seeded {} devices in {:.1} s",
            a.seed,
            t.elapsed().as_secs_f64()
        );
    }
    let t = Instant::now();
    let mut addrs = Vec::new();
    for _ in 0..a.receivers.max(1) {
        let cfg = cfg.clone();
        let (tx, rx) = tokio::sync::oneshot::channel();
        server.spawn(async move {
            if let Err(e) = ferry_fleet::run::run(cfg, |addr| {
                let _ = tx.send(addr);
            })
            .await
            {
                eprintln!("server: {e:#}");
            }
        });
        addrs.push(rx.await.context("server did not start")?);
    }
    let addr = addrs[0];
    println!(
        "# {addrs:?} ready in {:.1} s (aggregates loaded), {}",
        t.elapsed().as_secs_f64(),
        memory()
    );
    let ca = std::fs::read(dir.path().join("ca.pem"))?;
    let mut roots = rustls::RootCertStore::empty();
    use rustls::pki_types::{pem::PemObject, CertificateDer};
    for c in CertificateDer::pem_slice_iter(&ca) {
        roots.add(c?)?;
    }
    let client = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()?
    .with_root_certificates(roots)
    .with_no_client_auth();
    let tls = tokio_rustls::TlsConnector::from(Arc::new(client));

    let store = if a.postgres { "PostgreSQL" } else { "SQLite" };
    println!(
        "# ferry-fleet-load: {} agents x {} heartbeats, {} connections at once, store {store}",
        a.devices, a.rounds, a.concurrency
    );
    let gate = Arc::new(Semaphore::new(a.concurrency));
    let deadline = Instant::now() + Duration::from_secs(a.max_seconds);
    let postmaster = pg.as_ref().and_then(|p| p.postmaster_pid());
    let cpu_before = cpu::sample(postmaster);
    let started = Instant::now();
    let mut tasks = tokio::task::JoinSet::new();
    for i in 0..a.devices {
        let permit = gate.clone().acquire_owned().await?;
        if Instant::now() > deadline {
            break;
        }
        let tls = tls.clone();
        let rounds = a.rounds;
        let addr = addrs[i % addrs.len()];
        tasks.spawn(async move {
            let _permit = permit;
            let mut lat = Vec::with_capacity(rounds);
            let mut s = connect(addr, &tls).await?;
            for round in 0..rounds {
                let t = Instant::now();
                let (status, _) = send(
                    &mut s,
                    "POST",
                    "/api/heartbeat",
                    Some(&token(i)),
                    heartbeat(i, round),
                )
                .await?;
                if status != 200 {
                    bail!("device {i}: HTTP {status}");
                }
                lat.push(t.elapsed());
            }
            Ok::<Vec<Duration>, anyhow::Error>(lat)
        });
    }
    let mut lat = Vec::new();
    let mut errors = 0;
    while let Some(r) = tasks.join_next().await {
        match r? {
            Ok(l) => lat.extend(l),
            Err(e) => {
                errors += 1;
                if errors < 5 {
                    eprintln!("{e:#}");
                }
            }
        }
    }
    let took = started.elapsed();
    let cpu_after = cpu::sample(postmaster);
    lat.sort();
    println!(
        "| heartbeats | {} in {:.1} s = **{:.0}/s** ({} agents failed) |",
        lat.len(),
        took.as_secs_f64(),
        lat.len() as f64 / took.as_secs_f64(),
        errors
    );
    println!(
        "| heartbeat latency | p50 {} · p99 **{}** · max {} |",
        ms(percentile(&lat, 0.5)),
        ms(percentile(&lat, 0.99)),
        ms(percentile(&lat, 1.0))
    );
    println!(
        "{}",
        cpu::report(&cpu_before, &cpu_after, lat.len(), took.as_secs_f64())
    );

    let mut s = connect(addr, &tls).await?;
    let metrics_token = std::fs::read_to_string(dir.path().join("metrics.token"))?;
    for path in [
        "/",
        "/devices",
        "/devices?status=failed&sort=last-seen&dir=desc&page=2",
        "/devices/sim-004242",
        "/api/overview",
        "/api/devices?q=site-7&per_page=100",
        "/metrics",
    ] {
        let mut times = Vec::new();
        let mut size = 0;
        for _ in 0..5 {
            let t = Instant::now();
            let auth = if path == "/metrics" {
                &metrics_token
            } else {
                &view_token
            };
            let (status, n) = send(&mut s, "GET", path, Some(auth), String::new()).await?;
            if status != 200 {
                bail!("{path}: HTTP {status}");
            }
            times.push(t.elapsed());
            size = n;
        }
        times.sort();
        println!(
            "| GET {path} | median {} · max {} · {} KiB |",
            ms(percentile(&times, 0.5)),
            ms(percentile(&times, 1.0)),
            size / 1024
        );
    }
    println!("# after the run: {}", memory());
    if a.view_clients > 0 {
        views::view_load(addr, &tls, &a, &view_token).await?;
    }
    Ok(())
}

/// VmRSS and VmHWM of this process (server and generator).
fn memory() -> String {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let field = |k: &str| {
        status
            .lines()
            .find_map(|l| l.strip_prefix(k))
            .map(|v| v.trim().to_string())
            .unwrap_or_default()
    };
    format!("RSS {} (peak {})", field("VmRSS:"), field("VmHWM:"))
}

/// Writes `--seed` devices (after the simulated ones' ids) straight into the store.
async fn seed<S: ferry_fleet::store::Store>(store: &S, a: &Args) -> anyhow::Result<()> {
    let ids: Vec<usize> = (a.devices..a.devices + a.seed).collect();
    for chunk in ids.chunks(1000) {
        let records = chunk
            .iter()
            .map(|i| {
                Ok(ferry_fleet::store::Record::Heartbeat {
                    report: ferry_fleet::model::parse_heartbeat(heartbeat(*i, 0).as_bytes())?,
                    received: ferry_fleet::app::Clock::System.now(),
                })
            })
            .collect::<anyhow::Result<Vec<_>>>()?;
        store.write(records).await?;
    }
    Ok(())
}
