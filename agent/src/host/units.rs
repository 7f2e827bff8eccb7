//! Restarting units: a small [`UnitManager`] interface with the systemd implementation
//! (`systemctl restart`, `systemctl is-active`) and a process supervisor (a unit is a command
//! started as a real child process, its pid kept in a file) for tests and systems without
//! systemd.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use thiserror::Error;

/// Why a unit could not be restarted.
#[derive(Debug, Error)]
pub enum UnitError {
    #[error("unit {unit}: {what}")]
    Failed { unit: String, what: String },
    #[error("unit {0} is not configured in host.units")]
    Unknown(String),
}

/// Restarts units and tells whether they run.
pub trait UnitManager {
    /// Restarts (or starts) the unit.
    fn restart(&self, unit: &str) -> Result<(), UnitError>;
    /// True when the unit is active (running).
    fn is_active(&self, unit: &str) -> bool;
}

/// systemd through `systemctl`.
pub struct Systemd;

impl UnitManager for Systemd {
    fn restart(&self, unit: &str) -> Result<(), UnitError> {
        let o = Command::new("systemctl")
            .args(["restart", "--no-block", "--", unit])
            .stdin(Stdio::null())
            .output()
            .map_err(|e| UnitError::Failed {
                unit: unit.into(),
                what: format!("systemctl: {e}"),
            })?;
        if !o.status.success() {
            let err = String::from_utf8_lossy(&o.stderr);
            return Err(UnitError::Failed {
                unit: unit.into(),
                what: format!(
                    "systemctl restart: {}",
                    ferry_bundle::text::bounded(&err, 200)
                ),
            });
        }
        Ok(())
    }

    fn is_active(&self, unit: &str) -> bool {
        Command::new("systemctl")
            .args(["is-active", "--quiet", "--", unit])
            .stdin(Stdio::null())
            .status()
            .is_ok_and(|s| s.success())
    }
}

/// A process supervisor: each unit is `argv` (argv[0] a host path under `root`), started
/// detached with its pid in `<state_dir>/<unit>.pid`.
pub struct ProcessSupervisor {
    pub root: PathBuf,
    pub state_dir: PathBuf,
    pub units: BTreeMap<String, Vec<String>>,
}

fn pid_alive(pid: i32) -> bool {
    // A zombie still answers kill(0); read its state from /proc.
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    let state = stat
        .rsplit_once(')')
        .and_then(|(_, r)| r.split_whitespace().next());
    // SAFETY: signal 0 only checks the pid.
    (unsafe { libc::kill(pid, 0) } == 0) && !matches!(state, Some("Z") | Some("X") | None)
}

impl ProcessSupervisor {
    fn pid_file(&self, unit: &str) -> PathBuf {
        self.state_dir.join(format!("{unit}.pid"))
    }

    fn pid(&self, unit: &str) -> Option<i32> {
        std::fs::read_to_string(self.pid_file(unit))
            .ok()?
            .trim()
            .parse()
            .ok()
    }

    fn stop(&self, unit: &str) {
        if let Some(pid) = self.pid(unit).filter(|p| *p > 1) {
            if pid_alive(pid) {
                // SAFETY: plain signals to a pid this supervisor started.
                unsafe { libc::kill(pid, libc::SIGKILL) };
                // Reap it when it is our child (same process); otherwise wait (bounded) until
                // it is gone, so its port and files are free for the next start.
                // SAFETY: waitpid on a pid; an error (not our child) is ignored.
                unsafe { libc::waitpid(pid, std::ptr::null_mut(), libc::WNOHANG) };
                for _ in 0..100 {
                    if !pid_alive(pid) {
                        break;
                    }
                    std::thread::sleep(std::time::Duration::from_millis(50));
                }
            }
        }
        let _ = std::fs::remove_file(self.pid_file(unit));
    }

    fn host_path(&self, p: &str) -> PathBuf {
        self.root.join(p.trim_start_matches('/'))
    }
}

impl UnitManager for ProcessSupervisor {
    fn restart(&self, unit: &str) -> Result<(), UnitError> {
        let argv = self
            .units
            .get(unit)
            .ok_or_else(|| UnitError::Unknown(unit.into()))?;
        let fail = |what: String| UnitError::Failed {
            unit: unit.into(),
            what,
        };
        let (exe, args) = argv
            .split_first()
            .ok_or_else(|| fail("empty command".into()))?;
        self.stop(unit);
        std::fs::create_dir_all(&self.state_dir).map_err(|e| fail(e.to_string()))?;
        let log = std::fs::File::create(self.state_dir.join(format!("{unit}.log")))
            .map_err(|e| fail(e.to_string()))?;
        let child = Command::new(self.host_path(exe))
            .args(args)
            .env("HOST_ROOT", &self.root)
            .stdin(Stdio::null())
            .stdout(log.try_clone().map_err(|e| fail(e.to_string()))?)
            .stderr(log)
            .spawn()
            .map_err(|e| fail(format!("start {exe}: {e}")))?;
        std::fs::write(self.pid_file(unit), child.id().to_string())
            .map_err(|e| fail(e.to_string()))?;
        // The child outlives this handle; is_active reads its state from /proc.
        std::mem::forget(child);
        Ok(())
    }

    fn is_active(&self, unit: &str) -> bool {
        self.pid(unit).is_some_and(|p| p > 1 && pid_alive(p))
    }
}

/// The configured unit manager.
pub fn from_config(cfg: &super::config::HostConfig) -> Box<dyn UnitManager> {
    match &cfg.units {
        super::config::UnitBackend::Systemd => Box::new(Systemd),
        super::config::UnitBackend::Process { state_dir, units } => Box::new(ProcessSupervisor {
            root: cfg.root.clone(),
            state_dir: state_dir.clone(),
            units: units.clone(),
        }),
    }
}

/// The host path of `target` under `root`.
pub fn under_root(root: &Path, target: &str) -> PathBuf {
    root.join(target.trim_start_matches('/'))
}
