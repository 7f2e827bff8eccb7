//! The long-running loop (smol): each sync on its own schedule, the next interval after
//! success, exponential backoff with jitter (capped) after failures. After each pass the
//! store gives its page cache back (the pass's own state is dropped with the pass).

use crate::reconcile::{Agent, Outcome};
use std::sync::Arc;
use std::time::Duration;

/// Longest wait between retries of a failing sync.
pub const MAX_BACKOFF: Duration = Duration::from_secs(600);

/// The delay before the next attempt after `failures` consecutive failures (pure; `jitter` in
/// 0..1 spreads a fleet's retries).
pub fn next_delay(interval: Duration, failures: u32, jitter: f64) -> Duration {
    if failures == 0 {
        return interval;
    }
    let base = Duration::from_secs(5).saturating_mul(1u32 << failures.min(10).saturating_sub(1));
    let capped = base
        .min(MAX_BACKOFF)
        .min(interval.max(Duration::from_secs(5)));
    capped.mul_f64(0.5 + jitter.clamp(0.0, 1.0) * 0.5)
}

/// When a sync runs next, from the outcomes of its passes (pure; the daemon feeds it real
/// outcomes and sleeps, tests feed it a simulated clock).
#[derive(Debug, Clone)]
pub struct Scheduler {
    pub interval: Duration,
    pub failures: u32,
}

impl Scheduler {
    pub fn new(interval: Duration) -> Self {
        Scheduler {
            interval,
            failures: 0,
        }
    }

    /// Records a pass and returns the delay until the next one.
    pub fn after(&mut self, succeeded: bool, jitter: f64) -> Duration {
        self.failures = if succeeded {
            0
        } else {
            self.failures.saturating_add(1)
        };
        next_delay(self.interval, self.failures, jitter)
    }
}

fn jitter() -> f64 {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0);
    (nanos % 1000) as f64 / 1000.0
}

/// Runs `work` on a thread of its own and waits for it without blocking the executor. The
/// thread ends with the work, so the stack pages a pass touched (YAML parsing, TLS, JSON)
/// go back to the kernel; the threads of smol's blocking pool (`smol::unblock`) stay for the
/// life of the process once started, each keeping its stack. Falls back to the blocking
/// pool when no thread can be started.
async fn on_own_thread<T: Send + 'static>(
    name: &str,
    work: impl FnOnce() -> T + Send + 'static,
) -> T {
    let (tx, rx) = smol::channel::bounded(1);
    let slot = Arc::new(std::sync::Mutex::new(Some(work)));
    let taken = slot.clone();
    let spawned = std::thread::Builder::new()
        .name(name.to_string())
        .spawn(move || {
            let work = taken.lock().unwrap_or_else(|e| e.into_inner()).take();
            if let Some(work) = work {
                let _ = tx.send_blocking(work());
            }
        });
    if let Err(e) = spawned {
        tracing::warn!("cannot start a thread for {name}: {e}; using the blocking pool");
    }
    match rx.recv().await {
        Ok(out) => out,
        // The thread never ran the work (it could not start): run it in the pool. Or the
        // work panicked on its thread (release builds abort instead): so does the daemon.
        Err(_) => {
            let work = slot.lock().unwrap_or_else(|e| e.into_inner()).take();
            match work {
                Some(work) => smol::unblock(work).await,
                None => panic!("the {name} thread panicked"),
            }
        }
    }
}

/// When the sync loops last made progress, and whether a pass is running.
#[derive(Default)]
struct Progress {
    /// Seconds since the epoch of the last pass start or end, per sync.
    last: std::sync::Mutex<std::collections::BTreeMap<String, (u64, bool)>>,
}

impl Progress {
    fn mark(&self, sync: &str, running: bool) {
        self.last
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(sync.to_string(), (crate::store::now() as u64, running));
    }
    /// A pass that has run longer than `limit` means the loop is stuck.
    fn stuck(&self, limit: Duration) -> Option<String> {
        let now = crate::store::now() as u64;
        self.last
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .iter()
            .find(|(_, (t, running))| *running && now.saturating_sub(*t) > limit.as_secs())
            .map(|(s, _)| s.clone())
    }
}

/// The STATUS= line systemd shows: each sync's applied revision.
fn status_line(agent: &Agent) -> String {
    let parts: Vec<String> = agent
        .config
        .syncs
        .iter()
        .map(|s| {
            let st = agent.store.sync_state(&s.name).unwrap_or_default();
            let rev = st
                .good
                .map(|g| format!("r{}", g.revision))
                .unwrap_or_else(|| "-".into());
            let flag = if st.last_error.is_some() {
                " (error)"
            } else {
                ""
            };
            format!("{} {rev}{flag}", s.name)
        })
        .collect();
    parts.join(", ")
}

/// Waits `delay`, or less when this node has just become the site's leader (a takeover runs
/// its pass at once; checked every second, no request).
async fn wait_or_new_term(agent: &Agent, delay: Duration) {
    let Some(site) = &agent.site else {
        smol::Timer::after(delay).await;
        return;
    };
    let term = site.fence().terms();
    let end = std::time::Instant::now() + delay;
    while std::time::Instant::now() < end && site.fence().terms() == term {
        smol::Timer::after(Duration::from_secs(1).min(delay)).await;
    }
}

/// Starts the site election on a thread of its own, recording each change of role.
fn start_election(agent: &Arc<Agent>) {
    let Some(site) = agent.site.clone() else {
        return;
    };
    crate::site::shutdown::release_on_term(site.clone());
    let a = agent.clone();
    let spawned = std::thread::Builder::new()
        .name("ferry-site".into())
        .spawn(move || {
            crate::site::run(site, |role| {
                let (kind, msg) = role.event();
                let site = a
                    .config
                    .site
                    .as_ref()
                    .map(|s| s.name.as_str())
                    .unwrap_or("");
                crate::events::record(
                    &a.store,
                    &a.config,
                    &format!("site:{site}"),
                    kind,
                    &msg,
                    crate::store::now(),
                );
            })
        });
    if let Err(e) = spawned {
        tracing::error!("cannot start the site election: {e}; this node stays a follower");
    }
}

/// Runs every sync forever. Tells systemd READY=1 (state loaded), STATUS= after each pass, and
/// WATCHDOG=1 while no sync pass is stuck.
pub fn run(agent: Arc<Agent>) {
    let names: Vec<String> = agent.config.syncs.iter().map(|s| s.name.clone()).collect();
    let progress = Arc::new(Progress::default());
    // A pass may legitimately take the longest health timeout plus retries; beyond this it is stuck.
    // FERRY_WATCHDOG_STUCK_AFTER (humantime) overrides it, for tests.
    let stuck_after = std::env::var("FERRY_WATCHDOG_STUCK_AFTER")
        .ok()
        .and_then(|v| humantime::parse_duration(&v).ok())
        .unwrap_or_else(|| {
            agent
                .config
                .syncs
                .iter()
                .map(|s| s.timeout)
                .max()
                .unwrap_or_default()
                * 2
                + Duration::from_secs(300)
                // A site node's host turn: unit health (at most 600 s) and the Node wait.
                + agent.config.site.as_ref().map_or(Duration::ZERO, |s| {
                    s.host_rollout.ready_timeout + Duration::from_secs(600)
                })
        });
    start_election(&agent);
    crate::notify::notify(&format!("READY=1\nSTATUS={}", status_line(&agent)));
    smol::block_on(async {
        if let Some(every) = crate::notify::watchdog_interval() {
            let progress = progress.clone();
            smol::spawn(async move {
                loop {
                    match progress.stuck(stuck_after) {
                        None => crate::notify::notify("WATCHDOG=1"),
                        Some(sync) => tracing::error!(sync = %sync, "sync pass stuck; withholding watchdog keep-alive"),
                    }
                    smol::Timer::after(every / 2).await;
                }
            })
            .detach();
        }
        {
            let agent = agent.clone();
            let every = agent.config.fleet.as_ref().map(|f| f.interval);
            smol::spawn(async move {
                loop {
                    let a = agent.clone();
                    on_own_thread("ferry-report", move || a.report(every.is_some())).await;
                    smol::Timer::after(every.unwrap_or(Duration::from_secs(300))).await;
                }
            })
            .detach();
        }
        let tasks: Vec<_> = names
            .into_iter()
            .map(|name| {
                let agent = agent.clone();
                let progress = progress.clone();
                smol::spawn(async move {
                    let interval = agent
                        .config
                        .sync(&name)
                        .map(|s| s.interval)
                        .unwrap_or(Duration::from_secs(300));
                    let mut schedule = Scheduler::new(interval);
                    loop {
                        let (a, n) = (agent.clone(), name.clone());
                        progress.mark(&name, true);
                        let result = on_own_thread("ferry-pass", move || a.sync_once(&n)).await;
                        progress.mark(&name, false);
                        crate::host::exit_if_restart_requested();
                        crate::notify::notify(&format!("STATUS={}", status_line(&agent)));
                        let (a, n) = (agent.clone(), name.clone());
                        on_own_thread("ferry-report", move || {
                            // Counted before the report, so the metrics it writes include
                            // this pass (what tests and the bench wait for).
                            if let Err(e) = a.store.add_counter(&format!("passes_total|{n}"), 1) {
                                tracing::warn!("counting the pass: {e}");
                            }
                            a.report(false);
                            // The pass's pages are cached by SQLite until released; the
                            // next pass reads what it needs again.
                            if let Err(e) = a.store.release_memory() {
                                tracing::debug!("releasing SQLite memory: {e}");
                            }
                            a.client.close_idle();
                            crate::heap::release();
                        })
                        .await;
                        let succeeded = !matches!(&result, Ok(Outcome::RolledBack { .. }) | Err(_));
                        let delay = schedule.after(succeeded, jitter());
                        match result {
                            Ok(o) => tracing::debug!(sync = %name, ?o, "sync pass done"),
                            Err(e) => tracing::warn!(sync = %name, "sync pass failed: {e}"),
                        }
                        wait_or_new_term(&agent, delay).await;
                    }
                })
            })
            .collect();
        for t in tasks {
            t.await;
        }
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_grows_caps_and_jitters() {
        let i = Duration::from_secs(3600);
        assert_eq!(next_delay(i, 0, 0.3), i);
        assert_eq!(next_delay(i, 1, 1.0), Duration::from_secs(5));
        assert_eq!(next_delay(i, 3, 1.0), Duration::from_secs(20));
        assert_eq!(next_delay(i, 30, 1.0), MAX_BACKOFF);
        assert_eq!(next_delay(i, 30, 0.0), MAX_BACKOFF / 2);
        // Never longer than the interval itself.
        assert_eq!(
            next_delay(Duration::from_secs(60), 30, 1.0),
            Duration::from_secs(60)
        );
    }
}
