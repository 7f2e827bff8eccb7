//! Fault points for crash tests: with `FERRY_FAULT=<name>` set, the process aborts (like
//! `kill -9`) when it reaches the named point, so tests can interrupt a sync at an exact step.
//! `FERRY_FAULT=<name>:hang` blocks the calling thread forever instead (a stuck loop).

/// Aborts (or hangs) the process if `FERRY_FAULT` names this point.
pub fn point(name: &str) {
    let Ok(fault) = std::env::var("FERRY_FAULT") else {
        return;
    };
    let (point, mode) = fault.split_once(':').unwrap_or((fault.as_str(), "abort"));
    if point != name {
        return;
    }
    eprintln!("ferry-agent: fault point {name} reached ({mode})");
    if mode == "hang" {
        loop {
            std::thread::park();
        }
    }
    std::process::abort();
}
