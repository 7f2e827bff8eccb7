//! Fault points for crash tests: with `FERRY_FAULT=<name>` set, the process aborts (like
//! `kill -9`) when it reaches the named point, so tests can interrupt a sync at an exact step.

/// Aborts the process if `FERRY_FAULT` names this point.
pub fn point(name: &str) {
    if std::env::var("FERRY_FAULT").is_ok_and(|f| f == name) {
        eprintln!("ferry-agent: fault point {name} reached, aborting");
        std::process::abort();
    }
}
