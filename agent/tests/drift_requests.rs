//! What a no-change pass costs the API server: 1000 objects synced, then a second pass with
//! nothing changed, counted from kube-sim's request log. The figure goes in
//! docs/performance.md; the assertion is the budget (one LIST per kind and namespace, no GET
//! per object, no writes).

mod common;

use common::*;
use ferry_tests::kube_sim::LogEntry;
use std::collections::BTreeMap;

/// What a logged request was, for counting.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Request {
    Discovery,
    List,
    Get,
    DryRun,
    Write,
}

fn classify(e: &LogEntry) -> Request {
    let segments: Vec<&str> = e.path.trim_matches('/').split('/').collect();
    let is_write = matches!(e.method.as_str(), "POST" | "PUT" | "PATCH" | "DELETE");
    if is_write {
        return if e.query.contains("dryRun=All") {
            Request::DryRun
        } else {
            Request::Write
        };
    }
    // /api, /api/v1, /apis, /apis/apps, /apis/apps/v1 are discovery.
    let depth = if segments.first() == Some(&"api") {
        2
    } else {
        3
    };
    if segments.len() <= depth {
        return Request::Discovery;
    }
    // A collection path has an even number of segments after the group/version
    // (`namespaces/demo/configmaps`) or one (`namespaces`).
    let rest = segments.len() - depth;
    if rest == 1 || (rest == 3 && segments[depth] == "namespaces") {
        Request::List
    } else {
        Request::Get
    }
}

fn counts(log: &[LogEntry]) -> BTreeMap<Request, usize> {
    let mut m = BTreeMap::new();
    for e in log {
        *m.entry(classify(e)).or_default() += 1;
    }
    m
}

/// 4 namespaces with 250 ConfigMaps each (one file per namespace).
fn thousand_objects() -> Vec<(&'static str, String)> {
    let mut files = Vec::new();
    for n in 0..4 {
        let ns = format!("bulk{n}");
        let mut text = namespace(&ns);
        for i in 0..249 {
            text.push_str("---\n");
            text.push_str(&cm(&format!("c{i}"), &ns, &format!("value {i}")));
        }
        files.push((
            Box::leak(format!("bulk{n}.yaml").into_boxed_str()) as &'static str,
            text,
        ));
    }
    files
}

#[test]
fn a_no_change_pass_over_1000_objects_lists_once_per_kind_and_namespace() {
    let env = Env::new();
    env.publish(1, &thousand_objects());
    let (code, out) = env.sync();
    assert_eq!(code, 0, "{out}");
    env.sim.clear_log();
    let (code, out) = env.sync();
    assert_eq!(code, 0, "{out}");
    let c = counts(&env.sim.log());
    println!("no-change pass over 1000 objects: {c:?}");
    // Kinds x namespaces: Namespace (cluster-scoped) once, ConfigMap in 4 namespaces.
    assert!(c.get(&Request::List).copied().unwrap_or(0) <= 5, "{c:?}");
    assert_eq!(c.get(&Request::Get), None, "{c:?}");
    assert_eq!(c.get(&Request::Write), None, "{c:?}");
    assert_eq!(c.get(&Request::DryRun), None, "{c:?}");
}
