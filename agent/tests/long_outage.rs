//! A two-day outage of the source and the fleet endpoint on a simulated clock (no real hours
//! spent): the retry schedule backs off to its cap and no further, heartbeats queue in the
//! SQLite outbox up to its bound (the oldest dropped and counted), and when the network returns
//! the first pass succeeds and the queued heartbeats arrive in order.

use ferry_agent::config::AgentConfig;
use ferry_agent::daemon::{Scheduler, MAX_BACKOFF};
use ferry_agent::fleet;
use ferry_agent::store::{Store, SyncState};
use ferry_tests::recorder::RecordingServer;
use std::time::Duration;

#[test]
fn two_days_offline_on_a_simulated_clock() {
    let rec = RecordingServer::start().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let cfg_text = format!(
        "device: {{id: edge-1}}\nstateDir: {}\noutboxLimit: 100\nfleet:\n  url: {}/heartbeat\n  interval: 5m\n  caFile: {}\nsyncs:\n  - name: app\n    source: {{type: directory, path: /nonexistent}}\n    interval: 1h\n",
        dir.path().display(),
        rec.url,
        rec.file("ca.pem").display()
    );
    let cfg = AgentConfig::parse(&dir.path().join("agent.yaml"), &cfg_text).unwrap();
    let store = Store::open(&dir.path().join("state.db")).unwrap();
    rec.set_down(true);

    // The clock: seconds since the outage began.
    let outage = 48 * 3600u64;
    let mut now = 0u64;
    let mut schedule = Scheduler::new(Duration::from_secs(3600));
    let mut attempts = 0;
    let mut longest = Duration::ZERO;
    let mut next_sync = 0u64;
    let mut next_heartbeat = 0u64;
    let mut heartbeats = 0;
    while now < outage {
        if now >= next_sync {
            attempts += 1;
            let delay = schedule.after(false, (attempts % 10) as f64 / 10.0);
            longest = longest.max(delay);
            next_sync = now + delay.as_secs();
        }
        if now >= next_heartbeat {
            let st = SyncState {
                good: Some(ferry_agent::store::GoodAttempt {
                    attempt: 1,
                    revision: 7,
                    digest: "d".into(),
                }),
                source_unreachable_since: Some(0),
                ..SyncState::default()
            };
            let report = fleet::SyncReport {
                name: "app".into(),
                state: st,
                last_attempt_state: Some("applied".into()),
                ..Default::default()
            };
            let hb = fleet::heartbeat(
                "edge-1",
                &Default::default(),
                Duration::from_secs(now),
                now as i64,
                &[report],
                0,
            );
            store
                .enqueue(fleet::FLEET_TARGET, &hb.to_string(), cfg.outbox_limit)
                .unwrap();
            heartbeats += 1;
            // Delivery is attempted and fails while the endpoint is down.
            let (delivered, failed) = fleet::flush(&store, &cfg).unwrap();
            assert_eq!((delivered, failed.len()), (0, 1));
            next_heartbeat = now + cfg.fleet.as_ref().unwrap().interval.as_secs();
        }
        now = next_sync.min(next_heartbeat);
    }
    // Backoff: grows to the 10-minute cap (jittered down to half of it), never beyond.
    assert!(longest <= MAX_BACKOFF, "{longest:?}");
    assert!(
        longest >= MAX_BACKOFF / 2,
        "backoff grew to its cap: {longest:?}"
    );
    assert!(
        (288..=600).contains(&attempts),
        "{attempts} attempts in 48 h"
    );
    // Outbox: bounded, the oldest dropped and counted.
    assert_eq!(heartbeats, 576);
    assert_eq!(store.outbox_len().unwrap(), 100);
    let dropped = store
        .counters()
        .unwrap()
        .into_iter()
        .find(|(n, _)| n == "outbox_dropped")
        .map(|(_, v)| v)
        .unwrap();
    assert_eq!(dropped, 476);

    // The network returns: the first pass succeeds, the interval is back, the queue drains in order.
    assert_eq!(schedule.after(true, 0.5), Duration::from_secs(3600));
    rec.set_down(false);
    let (delivered, failed) = fleet::flush(&store, &cfg).unwrap();
    assert_eq!((delivered, failed.len()), (100, 0));
    let times: Vec<u64> = rec
        .json_bodies("/heartbeat")
        .iter()
        .map(|h| h["agent"]["uptimeSeconds"].as_u64().unwrap())
        .collect();
    assert_eq!(times.len(), 100);
    assert!(times.windows(2).all(|w| w[0] < w[1]), "in order");
    assert_eq!(
        *times.first().unwrap(),
        476 * 300,
        "the newest 100 survived"
    );
}
