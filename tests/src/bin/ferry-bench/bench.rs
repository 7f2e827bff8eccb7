//! The bench's harness: the table of figures, the release binaries it drives, a command
//! measured for wall time and peak RSS, generated objects, bundles and agent configurations.

use anyhow::{bail, Context, Result};
use ferry_tests::kube_sim::{KubeSim, SimConfig, SimOptions};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

pub(crate) struct Bench {
    pub(crate) bin: PathBuf,
    pub(crate) dir: tempfile::TempDir,
    pub(crate) rows: Vec<(String, String, String)>,
    /// Bytes of one no-change poll on a kept connection, per source kind (the wire section).
    pub(crate) polls: Vec<PollWire>,
}

/// One source kind's no-change poll on the wire.
#[derive(Debug, Clone)]
pub(crate) struct PollWire {
    pub(crate) kind: String,
    pub(crate) kept: u64,
}

/// Runs a command, returning (wall time, peak RSS in KiB, stdout+stderr).
pub(crate) fn measure(cmd: &mut Command) -> Result<(Duration, u64, String)> {
    use std::io::Read;
    let start = Instant::now();
    let mut child = cmd.stdout(Stdio::piped()).stderr(Stdio::piped()).spawn()?;
    let mut stdout = child.stdout.take().context("stdout")?;
    let mut stderr = child.stderr.take().context("stderr")?;
    let out = std::thread::spawn(move || {
        let mut s = String::new();
        let _ = stdout.read_to_string(&mut s);
        s
    });
    let err = std::thread::spawn(move || {
        let mut s = String::new();
        let _ = stderr.read_to_string(&mut s);
        s
    });
    let mut status = 0;
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: waits for our own child; `status` and `usage` are valid for writes.
    let r = unsafe { libc::wait4(child.id() as libc::pid_t, &mut status, 0, &mut usage) };
    let elapsed = start.elapsed();
    anyhow::ensure!(r > 0, "wait4 failed");
    let text = format!(
        "{}{}",
        out.join().unwrap_or_default(),
        err.join().unwrap_or_default()
    );
    if !(libc::WIFEXITED(status) && libc::WEXITSTATUS(status) == 0) {
        bail!("{cmd:?} failed: {text}");
    }
    Ok((elapsed, usage.ru_maxrss as u64, text))
}

pub(crate) fn ms(d: Duration) -> String {
    format!("{:.0} ms", d.as_secs_f64() * 1000.0)
}

impl Bench {
    pub(crate) fn row(&mut self, what: &str, figure: String, note: &str) {
        eprintln!("  {what}: {figure}");
        self.rows.push((what.to_string(), figure, note.to_string()));
    }

    pub(crate) fn bundle_bin(&self) -> PathBuf {
        self.bin.join("ferry-bundle")
    }

    pub(crate) fn agent(&self, config: &Path) -> Command {
        let mut c = Command::new(self.bin.join("ferry-agent"));
        c.arg("--config").arg(config);
        c
    }

    /// Writes `n` objects (10 namespaces, the rest ConfigMaps) as 100 files under `dir`.
    pub(crate) fn objects(dir: &Path, n: usize, variant: &str) -> Result<()> {
        std::fs::create_dir_all(dir)?;
        let mut ns = String::new();
        for i in 0..10 {
            ns.push_str(&format!(
                "---\napiVersion: v1\nkind: Namespace\nmetadata:\n  name: bench-{i}\n"
            ));
        }
        std::fs::write(dir.join("00-namespaces.yaml"), ns)?;
        let per_file = (n - 10).div_ceil(100);
        for f in 0..100 {
            let mut text = String::new();
            for j in 0..per_file {
                let k = f * per_file + j;
                if k >= n - 10 {
                    break;
                }
                let v = if k == 0 { variant } else { "v1" };
                text.push_str(&format!("---\napiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: cm-{k}\n  namespace: bench-{}\ndata:\n  key: \"{v}\"\n  payload: \"{}\"\n", k % 10, "x".repeat(200)));
            }
            std::fs::write(dir.join(format!("10-configmaps-{f:03}.yaml")), text)?;
        }
        Ok(())
    }

    pub(crate) fn build_bundle(&self, src: &Path, out: &Path, revision: u64) -> Result<()> {
        let o = Command::new(self.bundle_bin())
            .arg("build")
            .arg(src)
            .args([
                "--name",
                "bench",
                "--revision",
                &revision.to_string(),
                "--force",
                "--key",
            ])
            .arg(self.dir.path().join("k.key"))
            .arg("--out")
            .arg(out)
            .output()?;
        if !o.status.success() {
            bail!("ferry-bundle build: {}", String::from_utf8_lossy(&o.stderr));
        }
        Ok(())
    }

    pub(crate) fn config(&self, name: &str, sim: &KubeSim, source: &str) -> Result<PathBuf> {
        let path = self.dir.path().join(format!("{name}.yaml"));
        let text = format!(
            "device: {{id: bench}}\nstateDir: {}\nkubeconfig: {}\nkeys: {}\nstatusObject: {{enabled: false}}\nsyncs:\n  - name: bench\n    source: {source}\n    interval: 1m\n    timeout: 1m\n",
            self.dir.path().join(format!("state-{name}")).display(),
            sim.kubeconfig_path().display(),
            self.dir.path().join("k.pub").display()
        );
        std::fs::write(&path, text)?;
        Ok(path)
    }
}

pub(crate) fn sim() -> Result<KubeSim> {
    KubeSim::start(SimOptions {
        port: 0,
        config: SimConfig {
            ready_delay: Duration::from_millis(0),
            crd_delay: Duration::from_millis(0),
            ..SimConfig::default()
        },
    })
}
