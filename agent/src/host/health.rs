//! Health of a restarted unit: active, then the optional command and HTTP probe pass, polled
//! until the check's timeout. The deadline is measured on the clock the caller passes.

use super::units::UnitManager;
use ferry_bundle::host::HealthCheck;
use std::io::{Read, Write};
use std::net::{TcpStream, ToSocketAddrs};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// How long between two polls.
const POLL: Duration = Duration::from_millis(100);

/// Waits until `unit` is healthy or the check's timeout passes; the last failure on timeout.
pub fn wait_healthy(
    units: &dyn UnitManager,
    unit: &str,
    check: &HealthCheck,
    root: &Path,
) -> Result<(), String> {
    let deadline = Instant::now() + Duration::from_secs(check.timeout_seconds);
    loop {
        let last = match probe(units, unit, check, root) {
            Ok(()) => return Ok(()),
            Err(e) => e,
        };
        if Instant::now() >= deadline {
            return Err(format!(
                "unit {unit} not healthy within {}s: {last}",
                check.timeout_seconds
            ));
        }
        std::thread::sleep(POLL);
    }
}

fn probe(
    units: &dyn UnitManager,
    unit: &str,
    check: &HealthCheck,
    root: &Path,
) -> Result<(), String> {
    if !units.is_active(unit) {
        return Err("not active".into());
    }
    if let Some((exe, args)) = check.command.split_first() {
        let exe = super::units::under_root(root, exe);
        let ok = Command::new(&exe)
            .args(args)
            .env("HOST_ROOT", root)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .map_err(|e| format!("health command {}: {e}", exe.display()))?;
        if !ok.success() {
            return Err(format!("health command exited with {ok}"));
        }
    }
    if let Some(url) = &check.http {
        http_probe(url)?;
    }
    Ok(())
}

/// A plain-HTTP GET on loopback answering 2xx (https probes: use a command).
pub fn http_probe(url: &str) -> Result<(), String> {
    if !ferry_bundle::host::is_loopback_url(url) {
        return Err(format!("{url}: not a loopback URL"));
    }
    let rest = url.strip_prefix("http://").ok_or_else(|| {
        format!("{url}: only http:// probes are built in; use a command for https")
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
        .next()
        .ok_or_else(|| format!("{url}: no address"))?;
    let mut s = TcpStream::connect_timeout(&sock, Duration::from_secs(2))
        .map_err(|e| format!("{url}: {e}"))?;
    s.set_read_timeout(Some(Duration::from_secs(2)))
        .map_err(|e| e.to_string())?;
    write!(
        s,
        "GET {path} HTTP/1.0\r\nHost: {authority}\r\nConnection: close\r\n\r\n"
    )
    .map_err(|e| format!("{url}: {e}"))?;
    let mut head = [0u8; 32];
    let n = s.read(&mut head).map_err(|e| format!("{url}: {e}"))?;
    let line = String::from_utf8_lossy(&head[..n]);
    let code = line.split_whitespace().nth(1).unwrap_or("");
    if code.starts_with('2') {
        Ok(())
    } else {
        Err(format!(
            "{url}: answered {:?}",
            code.chars().take(3).collect::<String>()
        ))
    }
}
