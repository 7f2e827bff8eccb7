//! The executor's bounded waits (a Terminating namespace, a deletion awaited by prune and by
//! re-creation) against kube-sim, on a manual clock: every poll's sleep moves the clock at once,
//! so a wait ends after exactly its bound (or when the server lets the object go) and the tests
//! never wait on the wall clock. kube-sim's own clock is manual too: nothing moves unless a
//! sleep's hook says so.

use super::object::{DesiredObject, InventoryEntry};
use super::prune::{self, NotDeleted};
use super::write::{self, Mode, WriteError, WritePolicy};
use super::SYNC_LABEL;
use crate::clock::{Clock, ManualClock};
use crate::engine::write::RecreatePolicy;
use crate::kube::{Discovery, KubeClient, ResourceInfo};
use ferry_tests::kube_sim::{ClockMode, KubeSim, SimConfig, SimOptions};
use kube::core::params::{DeleteParams, Patch, PatchParams};
use kube::core::Request;
use serde_json::{json, Value};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

const POLL: Duration = Duration::from_millis(500);
const TIMEOUT: Duration = Duration::from_secs(5);

/// A manual clock that runs `hook(n)` at its n-th sleep (1-based), after moving forward.
struct HookedClock {
    clock: ManualClock,
    sleeps: AtomicUsize,
    hook: Box<dyn Fn(usize) + Send + Sync>,
}

impl Clock for HookedClock {
    fn sleep(&self, d: Duration) {
        self.clock.sleep(d);
        (self.hook)(self.sleeps.fetch_add(1, Ordering::SeqCst) + 1);
    }
    fn jitter(&self) -> f64 {
        0.0
    }
    fn now(&self) -> Instant {
        self.clock.now()
    }
    fn unix_now(&self) -> i64 {
        self.clock.unix_now()
    }
}

fn sim() -> KubeSim {
    KubeSim::start(SimOptions {
        port: 0,
        config: SimConfig {
            clock: ClockMode::Manual,
            ..SimConfig::default()
        },
    })
    .unwrap()
}

/// A client of `sim` on `clock`.
fn client(sim: &KubeSim, clock: Arc<dyn Clock>) -> KubeClient {
    KubeClient::from_kubeconfig(&sim.kubeconfig_path())
        .unwrap()
        .with_clock(clock)
}

fn desired(api_version: &str, kind: &str, manifest: Value) -> DesiredObject {
    let ns = manifest["metadata"]["namespace"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    DesiredObject::new(
        api_version.into(),
        kind.into(),
        ns,
        "test.yaml#0".into(),
        manifest,
    )
}

fn policy(recreate: RecreatePolicy) -> WritePolicy {
    WritePolicy {
        force: false,
        recreate,
        timeout: TIMEOUT,
        poll: POLL,
    }
}

fn info(c: &KubeClient, d: &Discovery, api_version: &str, kind: &str) -> ResourceInfo {
    d.resolve(c, api_version, kind).unwrap().unwrap()
}

fn apply(c: &KubeClient, d: &Discovery, obj: &DesiredObject) -> Result<Value, WriteError> {
    let i = info(c, d, &obj.api_version, &obj.id.kind);
    let p = policy(RecreatePolicy::Never);
    write::apply_object(c, d, &i, obj, &[], &p, Mode::Real).map(|w| w.live)
}

/// A ConfigMap `name` in `ns` held by a finalizer, labelled for sync `app`.
fn held_cm(name: &str, ns: &str, value: &str) -> DesiredObject {
    desired(
        "v1",
        "ConfigMap",
        json!({"apiVersion": "v1", "kind": "ConfigMap",
               "metadata": {"name": name, "namespace": ns, "finalizers": ["example.com/hold"],
                            "labels": {SYNC_LABEL: "app"}},
               "data": {"v": value}}),
    )
}

fn delete(c: &KubeClient, i: &ResourceInfo, ns: Option<&str>, name: &str) {
    let req = Request::new(i.url_path(ns))
        .delete(name, &DeleteParams::background())
        .unwrap();
    c.send(req).unwrap();
}

fn release_finalizers(c: &KubeClient, i: &ResourceInfo, ns: Option<&str>, name: &str) {
    let patch = Patch::Merge(json!({"metadata": {"finalizers": null}}));
    let req = Request::new(i.url_path(ns))
        .patch(name, &PatchParams::default(), &patch)
        .unwrap();
    c.send(req).unwrap();
}

#[test]
fn a_terminating_namespace_is_waited_out_for_exactly_the_timeout_on_the_clock() {
    let sim = sim();
    let clock = Arc::new(ManualClock::at(1_000));
    let c = client(&sim, clock.clone());
    let d = Discovery::new();
    let ns = desired(
        "v1",
        "Namespace",
        json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "doomed"}}),
    );
    apply(&c, &d, &ns).unwrap();
    apply(&c, &d, &held_cm("held", "doomed", "1")).unwrap();
    delete(&c, &info(&c, &d, "v1", "Namespace"), None, "doomed");
    let e = apply(&c, &d, &held_cm("new", "doomed", "1")).unwrap_err();
    match e {
        WriteError::NamespaceTerminating {
            namespace, waited, ..
        } => {
            assert_eq!(namespace, "doomed");
            assert_eq!(waited, TIMEOUT);
        }
        other => panic!("{other}"),
    }
    assert_eq!(clock.sleeps(), vec![POLL; 10], "one poll per sleep");
    assert_eq!(clock.elapsed(), TIMEOUT);
}

#[test]
fn prune_waits_for_finalizers_on_the_clock_then_reports_what_is_still_held() {
    let sim = sim();
    let admin = client(&sim, Arc::new(ManualClock::at(0)));
    let d = Discovery::new();
    let cm = info(&admin, &d, "v1", "ConfigMap");
    apply(&admin, &d, &held_cm("a", "default", "1")).unwrap();
    apply(&admin, &d, &held_cm("b", "default", "1")).unwrap();
    // The finalizer of `a` goes at the third poll; `b` stays held.
    let (admin2, cm2) = (admin.clone(), cm.clone());
    let clock = Arc::new(HookedClock {
        clock: ManualClock::at(0),
        sleeps: AtomicUsize::new(0),
        hook: Box::new(move |n| {
            if n == 3 {
                release_finalizers(&admin2, &cm2, Some("default"), "a");
            }
        }),
    });
    let c = client(&sim, clock.clone());
    let entries: Vec<InventoryEntry> = ["a", "b"]
        .iter()
        .map(|n| InventoryEntry::from(&held_cm(n, "default", "1")))
        .collect();
    let out = prune::prune(&c, &d, "app", &entries, TIMEOUT, POLL).unwrap();
    let actions: Vec<&str> = out
        .changes
        .changes
        .iter()
        .map(|c| c.action.as_str())
        .collect();
    assert_eq!(actions, ["deleted", "skipped"]);
    assert_eq!(out.notes.len(), 1);
    assert_eq!(out.notes[0].id.name, "b");
    assert!(
        matches!(&out.notes[0].why, NotDeleted::StillTerminating { finalizers } if finalizers.contains("example.com/hold"))
    );
    // One timeout shared by the whole prune: 3 polls for `a`, the rest of it for `b`.
    assert_eq!(clock.clock.elapsed(), TIMEOUT);
    assert_eq!(clock.clock.sleeps().len(), 10);
    assert!(sim.object("", "ConfigMap", "default", "a").is_none());
}

#[test]
fn re_creation_waits_for_the_deletion_on_the_clock() {
    let sim = sim();
    let admin = client(&sim, Arc::new(ManualClock::at(0)));
    let d = Discovery::new();
    let cm = info(&admin, &d, "v1", "ConfigMap");
    let frozen = |v: &str| {
        let mut manifest = held_cm("frozen", "default", v).manifest().unwrap();
        manifest["immutable"] = json!(true);
        desired("v1", "ConfigMap", manifest)
    };
    apply(&admin, &d, &frozen("1")).unwrap();
    // Held for good: the re-creation gives up after the timeout, on the clock.
    let clock = Arc::new(ManualClock::at(0));
    let c = client(&sim, clock.clone());
    let p = policy(RecreatePolicy::OnImmutable);
    let e = write::apply_object(&c, &d, &cm, &frozen("2"), &[], &p, Mode::Real).unwrap_err();
    assert!(
        matches!(&e, WriteError::NotGone { waited, .. } if *waited == TIMEOUT),
        "{e}"
    );
    assert_eq!(clock.sleeps(), vec![POLL; 10]);
    // Let it go and start again; this time the finalizer goes at the second poll, and the
    // object is created again with the new content.
    release_finalizers(&admin, &cm, Some("default"), "frozen");
    assert!(sim.object("", "ConfigMap", "default", "frozen").is_none());
    apply(&admin, &d, &frozen("1")).unwrap();
    let (admin2, cm2) = (admin.clone(), cm.clone());
    let hooked = Arc::new(HookedClock {
        clock: ManualClock::at(0),
        sleeps: AtomicUsize::new(0),
        hook: Box::new(move |n| {
            if n == 2 {
                release_finalizers(&admin2, &cm2, Some("default"), "frozen");
            }
        }),
    });
    let c = client(&sim, hooked.clone());
    let w = write::apply_object(&c, &d, &cm, &frozen("3"), &[], &p, Mode::Real).unwrap();
    assert!(w.recreated);
    assert_eq!(w.live["data"]["v"], "3");
    assert_eq!(hooked.clock.sleeps(), vec![POLL; 2]);
}
