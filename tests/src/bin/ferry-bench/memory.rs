//! Memory of the daemon (`ferry-agent run` against kube-sim): resident set after a
//! 1000-object pass and its peak, split into anonymous memory (heap, stacks, SQLite's page
//! cache, TLS buffers) and file-backed pages (the binary's own code and data, clean pages the
//! kernel can drop and read again).
//!
//! Three moments of one daemon's life, each on a fresh kube-sim and state directory except the
//! restart: idle after its first pass (applies 1000 objects), idle after a second, no-change
//! pass (drift check), and idle after a restart on the synced state (the start-up full dry-run
//! sweep: one GET and one dry-run apply per object). The daemon counts each finished pass in
//! its metrics (`ferry_sync_passes_total`, counted before the report that writes the textfile);
//! the bench reads the textfile until the count grows, then waits 2 s (the blocking pool's
//! idle threads exit after 0.5 s) and reads
//! `/proc/PID/status` and `/proc/PID/smaps_rollup`.

use super::{sim, Bench};
use anyhow::{bail, Context, Result};
use ferry_tests::kube_sim::KubeSim;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// Seconds between passes of the measured daemon: long enough that the second pass starts
/// after the first sample, short enough to keep the bench quick.
const INTERVAL_S: u64 = 8;
/// How long a pass may take before the bench gives up.
const PASS_DEADLINE: Duration = Duration::from_secs(180);
/// How often the metrics textfile is read while waiting for a pass.
const POLL: Duration = Duration::from_millis(100);
/// Settling time after a pass before sampling.
const SETTLE: Duration = Duration::from_secs(2);

/// One sample of a process's memory, in KiB.
#[derive(Debug, Clone, Copy, Default)]
pub struct MemSample {
    pub vm_rss: u64,
    pub rss_anon: u64,
    pub rss_file: u64,
    pub vm_hwm: u64,
    pub threads: u64,
}

impl MemSample {
    /// Reads `/proc/PID/status`.
    pub fn of(pid: u32) -> Result<MemSample> {
        let status = std::fs::read_to_string(format!("/proc/{pid}/status"))
            .with_context(|| format!("/proc/{pid}/status"))?;
        let field = |name: &str| -> u64 {
            status
                .lines()
                .find(|l| l.starts_with(name))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|v| v.parse().ok())
                .unwrap_or(0)
        };
        Ok(MemSample {
            vm_rss: field("VmRSS:"),
            rss_anon: field("RssAnon:"),
            rss_file: field("RssFile:"),
            vm_hwm: field("VmHWM:"),
            threads: field("Threads:"),
        })
    }

    fn figure(&self) -> String {
        format!(
            "{:.1} MiB (anon {:.1}, file {:.1}); peak {:.1} MiB",
            mib(self.vm_rss),
            mib(self.rss_anon),
            mib(self.rss_file),
            mib(self.vm_hwm)
        )
    }
}

fn mib(kib: u64) -> f64 {
    kib as f64 / 1024.0
}

/// A running daemon and the metrics textfile it writes after every pass.
struct Daemon {
    child: Child,
    textfile: PathBuf,
    /// Passes counted when last looked.
    passes: u64,
}

/// `ferry_sync_passes_total` of the sync `bench` in a metrics textfile (0 before it exists).
fn passes(textfile: &Path) -> u64 {
    let text = std::fs::read_to_string(textfile).unwrap_or_default();
    text.lines()
        .find_map(|l| l.strip_prefix("ferry_sync_passes_total{sync=\"bench\"} "))
        .and_then(|v| v.trim().parse::<f64>().ok())
        .unwrap_or(0.0) as u64
}

impl Daemon {
    fn start(binary: &Path, config: &Path, textfile: &Path) -> Result<Daemon> {
        let passes = passes(textfile);
        let child = Command::new(binary)
            .arg("--config")
            .arg(config)
            .arg("run")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .with_context(|| format!("{}", binary.display()))?;
        Ok(Daemon {
            child,
            textfile: textfile.to_path_buf(),
            passes,
        })
    }

    /// Waits for the next finished pass, then samples the daemon's memory.
    fn after_pass(&mut self) -> Result<MemSample> {
        let deadline = Instant::now() + PASS_DEADLINE;
        loop {
            let now = passes(&self.textfile);
            if now > self.passes {
                self.passes = now;
                break;
            }
            if let Some(status) = self.child.try_wait()? {
                bail!("the daemon exited ({status}) before finishing a pass");
            }
            if Instant::now() >= deadline {
                bail!(
                    "the daemon finished no pass within {PASS_DEADLINE:?} (ferry_sync_passes_total in {})",
                    self.textfile.display()
                );
            }
            std::thread::sleep(POLL);
        }
        std::thread::sleep(SETTLE);
        let sample = MemSample::of(self.child.id())?;
        // smaps_rollup splits the same resident set; printed for the record.
        if let Ok(rollup) =
            std::fs::read_to_string(format!("/proc/{}/smaps_rollup", self.child.id()))
        {
            let keep = [
                "Rss:",
                "Anonymous:",
                "Private_Clean:",
                "Shared_Clean:",
                "Private_Dirty:",
            ];
            let lines: Vec<&str> = rollup
                .lines()
                .filter(|l| keep.iter().any(|k| l.starts_with(k)))
                .collect();
            eprintln!(
                "    smaps_rollup: {}",
                lines
                    .join(" | ")
                    .split_whitespace()
                    .collect::<Vec<_>>()
                    .join(" ")
            );
        }
        Ok(sample)
    }

    fn stop(mut self) -> Result<()> {
        self.child.kill()?;
        self.child.wait()?;
        Ok(())
    }
}

/// The daemon binaries to measure: the static musl build (what devices run) and, for
/// comparison, the host build the rest of the bench uses. `FERRY_BENCH_DAEMON` names one
/// binary instead.
fn daemons(b: &Bench, root: &Path) -> Vec<(String, PathBuf)> {
    if let Some(p) = std::env::var_os("FERRY_BENCH_DAEMON") {
        return vec![("FERRY_BENCH_DAEMON".into(), PathBuf::from(p))];
    }
    [
        (
            &"static musl build".to_string(),
            root.join("dist/x86_64-unknown-linux-musl/ferry-agent"),
        ),
        (
            &format!("host build in {}", b.bin.display()),
            b.bin.join("ferry-agent"),
        ),
    ]
    .into_iter()
    .filter(|(_, p)| p.exists())
    .map(|(l, p)| (l.to_string(), p))
    .collect()
}

/// The metrics textfile of the daemon configuration `name`.
fn textfile(b: &Bench, name: &str) -> PathBuf {
    b.dir.path().join(format!("memory-{name}.prom"))
}

/// Writes a daemon configuration for the drop directory `drop` against `sim`.
fn daemon_config(b: &Bench, name: &str, sim: &KubeSim, drop: &Path) -> Result<PathBuf> {
    let config = b.dir.path().join(format!("memory-{name}.yaml"));
    std::fs::write(
        &config,
        format!(
            "device: {{id: bench}}\nstateDir: {}\nkubeconfig: {}\nkeys: {}\nstatusObject: {{enabled: false}}\nmetrics: {{textfile: {}}}\nsyncs:\n  - name: bench\n    source: {{type: directory, path: {}}}\n    interval: {INTERVAL_S}s\n    timeout: 1m\n",
            b.dir.path().join(format!("state-memory-{name}")).display(),
            sim.kubeconfig_path().display(),
            b.dir.path().join("k.pub").display(),
            textfile(b, name).display(),
            drop.display()
        ),
    )?;
    Ok(config)
}

/// Measures the daemon after passes over the 1000-object bundle in the drop directory `drop`,
/// and, for the fixed cost, after one pass over a 10-object bundle.
pub fn memory(b: &mut Bench, root: &Path, drop: &Path) -> Result<()> {
    let small_src = b.dir.path().join("memory-small-src");
    Bench::objects(&small_src, 10, "v1")?;
    let small = b.dir.path().join("memory-small-drop");
    b.build_bundle(&small_src, &small.join("bench"), 1)?;
    for (label, binary) in daemons(b, root) {
        let name = label.replace([' ', '/'], "-");
        let s = sim()?;
        let small_name = format!("small-{name}");
        let config = daemon_config(b, &small_name, &s, &small)?;
        let mut daemon = Daemon::start(&binary, &config, &textfile(b, &small_name))?;
        let fixed = daemon.after_pass()?;
        daemon.stop()?;
        b.row(
            &format!("daemon after its first pass over 10 objects, {label}"),
            fixed.figure(),
            &format!("the fixed cost; {} threads", fixed.threads),
        );
        let s = sim()?;
        let config = daemon_config(b, &name, &s, drop)?;
        let mut daemon = Daemon::start(&binary, &config, &textfile(b, &name))?;
        let first = daemon.after_pass()?;
        anyhow::ensure!(
            s.object("", "ConfigMap", "bench-0", "cm-0").is_some(),
            "the first pass did not apply the bundle"
        );
        b.row(
            &format!("daemon after its first pass (applies 1000 objects), {label}"),
            first.figure(),
            &format!("VmRSS (RssAnon, RssFile); VmHWM; {} threads", first.threads),
        );
        let second = daemon.after_pass()?;
        b.row(
            &format!("daemon after a no-change pass, {label}"),
            second.figure(),
            &format!(
                "same daemon, {INTERVAL_S} s later; {} threads",
                second.threads
            ),
        );
        daemon.stop()?;
        let mut restarted = Daemon::start(&binary, &config, &textfile(b, &name))?;
        let sweep = restarted.after_pass()?;
        b.row(
            &format!("daemon restarted on the synced state (full dry-run sweep), {label}"),
            sweep.figure(),
            &format!(
                "one GET and one dry-run apply per object; {} threads",
                sweep.threads
            ),
        );
        restarted.stop()?;
    }
    Ok(())
}
