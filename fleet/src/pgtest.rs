//! A throw-away PostgreSQL server for tests and the benchmark, from Debian's packages: `initdb`
//! and `pg_ctl` run as the `postgres` user (when we are root) in a scratch directory, listening
//! on 127.0.0.1 only. Stopped (immediate mode) when dropped.

use std::path::{Path, PathBuf};
use std::process::Command;
use thiserror::Error;

#[derive(Debug, Error)]
pub enum PgTestError {
    #[error(
        "no PostgreSQL server binaries under /usr/lib/postgresql (apt-get install postgresql)"
    )]
    NotInstalled,
    #[error("{step}: {reason}")]
    Step { step: &'static str, reason: String },
}

pub struct TestPostgres {
    bin: PathBuf,
    dir: tempfile::TempDir,
    pub port: u16,
}

fn as_root() -> bool {
    // SAFETY-free check: root's home is the usual signal, but ask the kernel via /proc.
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("Uid:"))
                .map(|l| l.split_whitespace().nth(1) == Some("0"))
        })
        .unwrap_or(false)
}

/// The newest installed server's bin directory.
pub fn find_bin() -> Option<PathBuf> {
    let mut versions: Vec<(u32, PathBuf)> = std::fs::read_dir("/usr/lib/postgresql")
        .ok()?
        .filter_map(|e| e.ok())
        .filter_map(|e| {
            let v: u32 = e.file_name().to_str()?.parse().ok()?;
            let bin = e.path().join("bin");
            bin.join("initdb").exists().then_some((v, bin))
        })
        .collect();
    versions.sort();
    versions.pop().map(|(_, b)| b)
}

fn run(step: &'static str, bin: &Path, tool: &str, args: &[&str]) -> Result<(), PgTestError> {
    let exe = bin.join(tool);
    let mut cmd = if as_root() {
        let mut c = Command::new("runuser");
        c.args(["-u", "postgres", "--"]).arg(&exe);
        c
    } else {
        Command::new(&exe)
    };
    let out = cmd.args(args).output().map_err(|e| PgTestError::Step {
        step,
        reason: e.to_string(),
    })?;
    if !out.status.success() {
        let mut reason = String::from_utf8_lossy(&out.stderr).to_string();
        reason.truncate(2000);
        return Err(PgTestError::Step { step, reason });
    }
    Ok(())
}

impl TestPostgres {
    /// initdb (trust auth, superuser `ferry`) and start on a free loopback port.
    pub fn start() -> Result<Self, PgTestError> {
        let bin = find_bin().ok_or(PgTestError::NotInstalled)?;
        let dir = tempfile::Builder::new()
            .prefix("ferry-pg-")
            .tempdir()
            .map_err(|e| PgTestError::Step {
                step: "tempdir",
                reason: e.to_string(),
            })?;
        let data = dir.path().join("data");
        let path = dir.path().to_string_lossy().to_string();
        if as_root() {
            let st = Command::new("chown")
                .args(["-R", "postgres:postgres", &path])
                .status()
                .map_err(|e| PgTestError::Step {
                    step: "chown",
                    reason: e.to_string(),
                })?;
            if !st.success() {
                return Err(PgTestError::Step {
                    step: "chown",
                    reason: "failed".into(),
                });
            }
        }
        let data_s = data.to_string_lossy().to_string();
        run(
            "initdb",
            &bin,
            "initdb",
            &[
                "-D",
                &data_s,
                "-A",
                "trust",
                "-U",
                "ferry",
                "--no-sync",
                "-E",
                "UTF8",
            ],
        )?;
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .map(|a| a.port())
            .map_err(|e| PgTestError::Step {
                step: "port",
                reason: e.to_string(),
            })?;
        let opts = format!(
            "-p {port} -k {path} -c listen_addresses=127.0.0.1 -c fsync=on -c max_connections=200"
        );
        let log = format!("{path}/log");
        run(
            "pg_ctl start",
            &bin,
            "pg_ctl",
            &["-D", &data_s, "-o", &opts, "-l", &log, "-w", "start"],
        )?;
        Ok(TestPostgres { bin, dir, port })
    }

    /// The server's process id (first line of `postmaster.pid`), for CPU accounting.
    pub fn postmaster_pid(&self) -> Option<u32> {
        let text = std::fs::read_to_string(self.dir.path().join("data/postmaster.pid")).ok()?;
        text.lines().next()?.trim().parse().ok()
    }

    /// A connection string for the `postgres` database.
    pub fn url(&self) -> String {
        format!(
            "host=127.0.0.1 port={} user=ferry dbname=postgres",
            self.port
        )
    }
}

impl Drop for TestPostgres {
    fn drop(&mut self) {
        let data = self.dir.path().join("data").to_string_lossy().to_string();
        let _ = run(
            "pg_ctl stop",
            &self.bin,
            "pg_ctl",
            &["-D", &data, "-m", "immediate", "-w", "stop"],
        );
    }
}
