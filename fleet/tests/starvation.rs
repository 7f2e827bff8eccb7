//! 256 anonymous clients looping `GET /` (issue 23: the receiver grew to 3.9 GiB and never
//! gave it back, heartbeats took seconds). Views read the aggregates kept at ingest, so the
//! receiver's memory stays near what it holds for the fleet, and heartbeats are still taken
//! while the clients loop.

mod common;
use common::{heartbeat, Receiver, StoreKind};

const DEVICES: usize = 300;
const CLIENTS: usize = 256;
const PAGES_EACH: usize = 6;

#[test]
fn two_hundred_fifty_six_looping_clients_do_not_grow_the_receiver() {
    let ids: Vec<String> = (0..DEVICES).map(|i| format!("edge-{i:04}")).collect();
    let refs: Vec<&str> = ids.iter().map(String::as_str).collect();
    let r = Receiver::start(&refs, StoreKind::Sqlite);
    for id in &ids {
        let error = id.ends_with('3').then_some("revision 4 failed: timed out");
        let health = if error.is_some() { "failed" } else { "healthy" };
        let (s, _) = r
            .post(
                "/api/heartbeat",
                &heartbeat(id, health, error),
                Some(&r.token(id)),
                None,
            )
            .unwrap();
        assert_eq!(s, 200);
    }
    let before = r.memory_kib("VmRSS");
    let page_len = r.get("/").1.len();
    std::thread::scope(|s| {
        for _ in 0..CLIENTS {
            s.spawn(|| {
                let client = r.client(None);
                for _ in 0..PAGES_EACH {
                    // Signed-in clients (anonymous ones only get a redirect to /login).
                    let mut resp = client
                        .get(&format!("{}/", r.url))
                        .header("Authorization", &format!("Bearer {}", r.api_token))
                        .call()
                        .unwrap();
                    assert_eq!(resp.status().as_u16(), 200);
                    assert!(resp.body_mut().read_to_string().unwrap().len() > page_len / 2);
                }
            });
        }
        // Meanwhile, devices still report.
        s.spawn(|| {
            for id in ids.iter().take(50) {
                let hb = heartbeat(id, "healthy", None);
                assert_eq!(
                    r.post("/api/heartbeat", &hb, Some(&r.token(id)), None)
                        .unwrap()
                        .0,
                    200
                );
            }
        });
    });
    let (after, peak) = (r.memory_kib("VmRSS"), r.memory_kib("VmHWM"));
    eprintln!("receiver RSS {before} KiB before, {after} KiB after, peak {peak} KiB");
    // 256 TLS connections (~23 KiB each in rustls and hyper) and two pages at a time: tens of
    // MiB, not gigabytes.
    assert!(
        peak < before + 96 * 1024,
        "peak {peak} KiB from {before} KiB"
    );
    assert_eq!(
        serde_json::from_str::<serde_json::Value>(&r.get("/api/overview").1).unwrap()["devices"],
        DEVICES
    );
}
