//! Health of a restarted unit: active, then its probes pass, polled until the check's timeout.
//! Every probe is bounded, none is a shell: an HTTP GET on loopback (the resolved address must
//! be loopback; the status line read within 64 bytes and the deadline), a file that exists under
//! the root, or an allow-listed executable run with its argv in its own process group and
//! killed with the group when the deadline passes (a late exit is a failure, never healthy).
//!
//! The deadline is on the monotonic clock: it bounds real processes and real connections,
//! which a manual test clock cannot move.

use super::config::HostConfig;
use super::units::{under_root, UnitManager};
use ferry_bundle::host::HealthCheck;
use std::io::{Read, Write};
use std::net::{TcpStream, ToSocketAddrs};
use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// How long between two polls.
const POLL: Duration = Duration::from_millis(100);
/// How often a running health executable is looked at.
const CHILD_POLL: Duration = Duration::from_millis(20);
/// Longest single network wait of an HTTP probe (the check's deadline bounds it too).
const HTTP_STEP: Duration = Duration::from_secs(2);
/// Most bytes of an HTTP answer read (the status line).
const HTTP_HEAD: usize = 64;

/// A point in time a probe must finish by.
#[derive(Debug, Clone, Copy)]
pub struct Deadline(Instant);

impl Deadline {
    pub fn after(d: Duration) -> Self {
        Deadline(Instant::now() + d)
    }
    pub fn passed(&self) -> bool {
        Instant::now() >= self.0
    }
    pub fn remaining(&self) -> Duration {
        self.0.saturating_duration_since(Instant::now())
    }
}

/// Waits until `unit` is healthy or the check's timeout passes; the last failure on timeout.
pub fn wait_healthy(
    units: &dyn UnitManager,
    unit: &str,
    check: &HealthCheck,
    cfg: &HostConfig,
) -> Result<(), String> {
    let deadline = Deadline::after(Duration::from_secs(check.timeout_seconds));
    loop {
        let last = match probe(units, unit, check, cfg, deadline) {
            Ok(()) => return Ok(()),
            Err(e) => e,
        };
        if deadline.passed() {
            return Err(format!(
                "unit {unit} not healthy within {}s: {last}",
                check.timeout_seconds
            ));
        }
        std::thread::sleep(POLL.min(deadline.remaining()));
    }
}

fn probe(
    units: &dyn UnitManager,
    unit: &str,
    check: &HealthCheck,
    cfg: &HostConfig,
    deadline: Deadline,
) -> Result<(), String> {
    if !units.is_active(unit) {
        return Err("not active".into());
    }
    if let Some(path) = &check.file {
        std::fs::symlink_metadata(under_root(&cfg.root, path))
            .map_err(|e| format!("health file {path}: {e}"))?;
    }
    if let Some((exe, args)) = check.command.split_first() {
        // The plan refused it already; checked again where it runs.
        if !cfg.allows_executable(exe) {
            return Err(format!(
                "health command {exe} is not on host.healthExecutables"
            ));
        }
        run_bounded(&under_root(&cfg.root, exe), args, &cfg.root, deadline)?;
    }
    if let Some(url) = &check.http {
        http_probe(url, deadline)?;
    }
    Ok(())
}

/// Runs `exe` with `args` (no shell) in its own process group; kills the group when the
/// deadline passes. Exit 0 before the deadline is healthy; anything else is a failure.
pub fn run_bounded(
    exe: &Path,
    args: &[String],
    root: &Path,
    deadline: Deadline,
) -> Result<(), String> {
    let name = exe.display();
    let mut child = Command::new(exe)
        .args(args)
        .env("HOST_ROOT", root)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .process_group(0)
        .spawn()
        .map_err(|e| format!("health command {name}: {e}"))?;
    loop {
        if deadline.passed() {
            kill_group(&mut child);
            return Err(format!("health command {name} killed at its deadline"));
        }
        match child.try_wait() {
            Ok(Some(status)) if status.success() => return Ok(()),
            Ok(Some(status)) => return Err(format!("health command {name} exited with {status}")),
            Ok(None) => std::thread::sleep(CHILD_POLL.min(deadline.remaining())),
            Err(e) => {
                kill_group(&mut child);
                return Err(format!("health command {name}: {e}"));
            }
        }
    }
}

/// SIGKILL to the child's process group (it leads one), then reaps the child.
fn kill_group(child: &mut Child) {
    if let Ok(pid) = i32::try_from(child.id()) {
        // SAFETY: a signal to the process group this function's caller created (pgid = pid).
        unsafe { libc::kill(-pid, libc::SIGKILL) };
    }
    let _ = child.kill();
    let _ = child.wait();
}

/// A plain-HTTP GET on loopback answering 2xx (https probes: use an allow-listed executable).
/// Every network step waits at most [`HTTP_STEP`] and never past `deadline`; only the status
/// line is read ([`HTTP_HEAD`] bytes at most).
pub fn http_probe(url: &str, deadline: Deadline) -> Result<(), String> {
    if !ferry_bundle::host::is_loopback_url(url) {
        return Err(format!("{url}: not a loopback URL"));
    }
    let rest = url.strip_prefix("http://").ok_or_else(|| {
        format!("{url}: only http:// probes are built in; use a health executable for https")
    })?;
    let (authority, path) = match rest.find('/') {
        Some(i) => (&rest[..i], &rest[i..]),
        None => (rest, "/"),
    };
    let addr = if authority.contains(':') && !authority.ends_with(']') {
        authority.to_string()
    } else {
        format!("{authority}:80")
    };
    let sock = addr
        .to_socket_addrs()
        .map_err(|e| format!("{url}: {e}"))?
        .find(|a| a.ip().is_loopback())
        .ok_or_else(|| format!("{url}: no loopback address"))?;
    let step = || {
        let left = deadline.remaining().min(HTTP_STEP);
        (!left.is_zero())
            .then_some(left)
            .ok_or_else(|| format!("{url}: deadline passed"))
    };
    let mut s = TcpStream::connect_timeout(&sock, step()?).map_err(|e| format!("{url}: {e}"))?;
    s.set_write_timeout(Some(step()?))
        .map_err(|e| e.to_string())?;
    write!(
        s,
        "GET {path} HTTP/1.0\r\nHost: {authority}\r\nConnection: close\r\n\r\n"
    )
    .map_err(|e| format!("{url}: {e}"))?;
    let mut head = Vec::with_capacity(HTTP_HEAD);
    let mut buf = [0u8; HTTP_HEAD];
    while head.len() < HTTP_HEAD && !head.contains(&b'\n') {
        s.set_read_timeout(Some(step()?))
            .map_err(|e| e.to_string())?;
        let want = HTTP_HEAD - head.len();
        let n = s
            .read(&mut buf[..want])
            .map_err(|e| format!("{url}: {e}"))?;
        if n == 0 {
            break;
        }
        head.extend_from_slice(&buf[..n]);
    }
    let line = String::from_utf8_lossy(&head);
    let code = line.split_whitespace().nth(1).unwrap_or("");
    if line.starts_with("HTTP/") && code.len() == 3 && code.starts_with('2') {
        Ok(())
    } else {
        Err(format!(
            "{url}: answered {:?}",
            code.chars().take(3).collect::<String>()
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::TcpListener;

    #[test]
    fn an_executable_past_its_deadline_is_killed_with_its_group() {
        let d = tempfile::tempdir().unwrap();
        let pid = d.path().join("grandchild.pid");
        let script = format!("sleep 1000 & echo $! > {}; wait", pid.display());
        // A shell here only stands in for any program that never exits.
        let e = run_bounded(
            Path::new("/bin/sh"),
            &["-c".into(), script],
            d.path(),
            // Long enough for the shell to start its grandchild on a loaded machine (2 s was not).
            Deadline::after(Duration::from_secs(6)),
        )
        .unwrap_err();
        assert!(e.contains("killed at its deadline"), "{e}");
        let gc = std::fs::read_to_string(&pid).unwrap();
        // SIGKILL is delivered asynchronously: poll (bounded) until the grandchild is gone.
        let gone = Deadline::after(Duration::from_secs(10));
        let mut stat = String::new();
        while !gone.passed() {
            stat = std::fs::read_to_string(format!("/proc/{}/stat", gc.trim())).unwrap_or_default();
            let state = stat
                .rsplit_once(')')
                .and_then(|(_, r)| r.split_whitespace().next());
            if matches!(state, None | Some("Z") | Some("X")) {
                break;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        assert!(!gone.passed(), "the grandchild survived: {stat}");
        let ok = run_bounded(
            Path::new("/bin/true"),
            &[],
            d.path(),
            Deadline::after(Duration::from_secs(10)),
        );
        assert_eq!(ok, Ok(()));
        let no = run_bounded(
            Path::new("/bin/false"),
            &[],
            d.path(),
            Deadline::after(Duration::from_secs(10)),
        );
        assert!(no.unwrap_err().contains("exited with"));
    }

    #[test]
    fn http_probes_read_a_bounded_status_line_and_give_up_at_the_deadline() {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!("http://127.0.0.1:{}/readyz", l.local_addr().unwrap().port());
        let server = std::thread::spawn(move || {
            // First: a good answer. Second: a server that never answers (held open).
            let (mut a, _) = l.accept().unwrap();
            let _ = a.read(&mut [0u8; 256]);
            a.write_all(b"HTTP/1.1 204 No Content\r\n\r\n").unwrap();
            let (b, _) = l.accept().unwrap();
            b
        });
        assert_eq!(
            http_probe(&url, Deadline::after(Duration::from_secs(10))),
            Ok(())
        );
        let e = http_probe(&url, Deadline::after(Duration::from_millis(300))).unwrap_err();
        assert!(e.contains(&url), "{e}");
        drop(server.join().unwrap());
        assert!(http_probe("http://10.0.0.1/", Deadline::after(Duration::from_secs(1))).is_err());
    }
}
