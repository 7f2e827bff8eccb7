//! `kube-sim`: run the Kubernetes API emulator in the foreground (demo, manual tests).

use anyhow::{bail, Context, Result};
use ferry_tests::kube_sim::{KubeSim, SimOptions};
use std::time::Duration;

fn main() -> Result<()> {
    let mut opts = SimOptions::default();
    let mut kubeconfig_out = None;
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        let mut value = |name: &str| args.next().with_context(|| format!("{name} needs a value"));
        match a.as_str() {
            "--port" => opts.port = value("--port")?.parse().context("--port")?,
            "--kubeconfig-out" => kubeconfig_out = Some(value("--kubeconfig-out")?),
            "--ready-delay" => {
                opts.config.ready_delay = humantime::parse_duration(&value("--ready-delay")?)?
            }
            "--crd-delay" => {
                opts.config.crd_delay = humantime::parse_duration(&value("--crd-delay")?)?
            }
            "--help" | "-h" => {
                println!("usage: kube-sim [--port N] [--kubeconfig-out PATH] [--ready-delay 2s] [--crd-delay 1s]");
                println!("controllers advance one step (1 s of simulated time) per request");
                return Ok(());
            }
            other => bail!("unknown argument {other:?}"),
        }
    }
    let sim = KubeSim::start(opts)?;
    if let Some(p) = kubeconfig_out {
        sim.write_kubeconfig(std::path::Path::new(&p), false)?;
    }
    println!("kube-sim listening on {}", sim.url());
    // Print every write as it happens, so a demo or a person can see what a client changed.
    let mut seen = 0;
    loop {
        std::thread::sleep(Duration::from_millis(100));
        let log = sim.log();
        for e in log.iter().skip(seen).filter(|e| e.is_write()) {
            println!("kube-sim: write {} {} -> {}", e.method, e.path, e.status);
        }
        seen = log.len();
    }
}
