//! `--view-clients`: memory and pages served while many signed-in clients loop `GET /`.

use crate::{connect, memory, send, Args};
use anyhow::bail;
use std::time::{Duration, Instant};

/// `--view-clients` clients looping `GET /` for `--view-seconds`: pages served and memory.
pub async fn view_load(
    addr: std::net::SocketAddr,
    tls: &tokio_rustls::TlsConnector,
    a: &Args,
    token: &str,
) -> anyhow::Result<()> {
    let until = Instant::now() + Duration::from_secs(a.view_seconds);
    let mut tasks = tokio::task::JoinSet::new();
    for _ in 0..a.view_clients {
        let tls = tls.clone();
        let token = token.to_string();
        tasks.spawn(async move {
            let mut s = connect(addr, &tls).await?;
            let mut n = 0u64;
            while Instant::now() < until {
                let (status, _) = send(&mut s, "GET", "/", Some(&token), String::new()).await?;
                if status != 200 {
                    bail!("GET /: HTTP {status}");
                }
                n += 1;
            }
            Ok::<u64, anyhow::Error>(n)
        });
    }
    let mut pages = 0;
    while let Some(r) = tasks.join_next().await {
        pages += r??;
    }
    println!(
        "| {} clients looping GET / for {} s | {} pages ({:.0}/s) · {} |",
        a.view_clients,
        a.view_seconds,
        pages,
        pages as f64 / a.view_seconds as f64,
        memory()
    );
    tokio::time::sleep(Duration::from_secs(5)).await;
    println!("# 5 s after the clients stopped: {}", memory());
    Ok(())
}
