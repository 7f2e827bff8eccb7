//! The anonymous view and what every answer says about itself (issue 23): security headers on
//! pages, API, ingest answers and errors; a CSP that allows no script and no inline style (and
//! pages that need none); `/metrics` only for the scraper's bearer token.

mod common;
use common::{heartbeat, Receiver, StoreKind};

fn headers_of(r: &Receiver, path: &str, post: bool) -> (u16, ureq::http::HeaderMap, String) {
    let url = format!("{}{path}", r.url);
    let mut resp = if post {
        r.client(None).post(&url).send("{}").unwrap()
    } else {
        r.client(None)
            .get(&url)
            .header("Authorization", &format!("Bearer {}", r.api_token))
            .call()
            .unwrap()
    };
    let body = resp.body_mut().read_to_string().unwrap_or_default();
    (resp.status().as_u16(), resp.headers().clone(), body)
}

#[test]
fn every_answer_carries_the_security_headers_and_pages_need_no_inline_code() {
    let r = Receiver::start(&["edge-1"], StoreKind::Sqlite);
    let t = r.token("edge-1");
    assert_eq!(
        r.post(
            "/api/heartbeat",
            &heartbeat("edge-1", "failed", Some("x")),
            Some(&t),
            None
        )
        .unwrap()
        .0,
        200
    );
    for (path, post, status) in [
        ("/", false, 200),
        ("/devices", false, 200),
        ("/devices/edge-1", false, 200),
        ("/devices/nobody", false, 404),
        ("/api/overview", false, 200),
        ("/api/devices/edge-1", false, 200),
        ("/sites", false, 200),
        ("/sites/nobody", false, 404),
        ("/api/sites", false, 200),
        ("/style.css", false, 200),
        ("/login", false, 200),
        ("/healthz", false, 200),
        ("/metrics", false, 401),
        ("/api/heartbeat", true, 401),
        ("/no-such-page", false, 404),
    ] {
        let (s, h, body) = headers_of(&r, path, post);
        assert_eq!(s, status, "{path}: {body}");
        let get = |n: &str| h.get(n).map(|v| v.to_str().unwrap().to_string());
        let csp = get("content-security-policy").unwrap_or_else(|| panic!("{path}: no CSP"));
        assert!(
            csp.contains("default-src 'none'")
                && csp.contains("frame-ancestors 'none'")
                && !csp.contains("unsafe-inline")
                && !csp.contains("script-src"),
            "{path}: {csp}"
        );
        assert_eq!(
            get("x-content-type-options").as_deref(),
            Some("nosniff"),
            "{path}"
        );
        assert_eq!(get("x-frame-options").as_deref(), Some("DENY"), "{path}");
        assert_eq!(
            get("referrer-policy").as_deref(),
            Some("no-referrer"),
            "{path}"
        );
        assert_eq!(get("cache-control").as_deref(), Some("no-store"), "{path}");
        if get("content-type").is_some_and(|c| c.starts_with("text/html")) {
            assert!(
                !body.contains("<script") && !body.contains(" style=") && !body.contains("<style"),
                "{path}: inline code the CSP would block"
            );
        }
    }
}

#[test]
fn metrics_answer_only_the_scrapers_token() {
    let r = Receiver::start(&["edge-1"], StoreKind::Sqlite);
    // No token, a device's token, a wrong token: refused.
    let status = |token: Option<&str>| {
        let mut req = r.client(None).get(&format!("{}/metrics", r.url));
        if let Some(t) = token {
            req = req.header("Authorization", &format!("Bearer {t}"));
        }
        req.call().unwrap().status().as_u16()
    };
    assert_eq!(status(None), 401);
    assert_eq!(status(Some(&r.token("edge-1"))), 401);
    assert_eq!(status(Some("nope")), 401);
    assert!(r
        .metrics_text()
        .contains("ferry_fleet_devices{status=\"healthy\"}"));
}

fn post_hb(r: &Receiver, id: &str, f: impl FnOnce(&mut serde_json::Value)) {
    let mut v: serde_json::Value = serde_json::from_str(&heartbeat(id, "healthy", None)).unwrap();
    f(&mut v);
    let (s, b) = r
        .post("/api/heartbeat", &v.to_string(), Some(&r.token(id)), None)
        .unwrap();
    assert_eq!(s, 200, "{id}: {b}");
}

#[test]
fn each_state_has_its_own_tile_and_offline_is_never_applied() {
    let long = format!("edge-{}", "x".repeat(55));
    let ids = [
        "back",
        "fail",
        "next",
        "gone",
        "quiet",
        "ok",
        long.as_str(),
        "ghost",
    ];
    let r = Receiver::start(&ids, StoreKind::Sqlite);
    // Two devices that will stop reporting, both on the newest revision.
    for id in ["gone", "quiet"] {
        post_hb(&r, id, |v| {
            v["syncs"][0]["revision"] = serde_json::json!(2);
            v["syncs"][0]["highestVerified"] = serde_json::json!(2);
        });
    }
    // "quiet" reports at 60 s, "gone" every 10 s: after 100 s one is stale, the other offline.
    post_hb(&r, "gone", |v| {
        v["intervalSeconds"] = serde_json::json!(10);
        v["syncs"][0]["revision"] = serde_json::json!(2);
        v["syncs"][0]["highestVerified"] = serde_json::json!(2);
    });
    r.set_clock(r.t0 + 160);
    post_hb(&r, "back", |v| {
        v["syncs"][0]["health"] = serde_json::json!("degraded");
        v["syncs"][0]["highestVerified"] = serde_json::json!(2);
        v["syncs"][0]["lastError"] = serde_json::json!("revision 2 failed; revision 1 re-applied");
    });
    post_hb(&r, "fail", |v| {
        v["syncs"][0]["health"] = serde_json::json!("failed");
        v["syncs"][0]["lastError"] = serde_json::json!("boom");
    });
    post_hb(&r, "next", |v| {
        v["syncs"][0]["highestVerified"] = serde_json::json!(2)
    });
    for id in ["ok", long.as_str()] {
        post_hb(&r, id, |v| {
            v["syncs"][0]["revision"] = serde_json::json!(2);
            v["syncs"][0]["highestVerified"] = serde_json::json!(2);
        });
    }
    let (_, body) = r.get("/api/overview");
    let o: serde_json::Value = serde_json::from_str(&body).unwrap();
    let tile = |s: &str| {
        o["tiles"]
            .as_array()
            .unwrap()
            .iter()
            .find(|t| t["status"] == s)
            .unwrap_or_else(|| panic!("no tile {s}"))["devices"]
            .as_u64()
            .unwrap()
    };
    for (status, n) in [
        ("offline", 1),
        ("stale", 1),
        ("failed", 1),
        ("rolled-back", 1),
        ("degraded", 0),
        ("progressing", 1),
        ("healthy", 2),
    ] {
        assert_eq!(tile(status), n, "{status}: {o}");
    }
    let apps = &o["syncs"][0];
    assert_eq!(apps["target"], 2);
    assert_eq!(
        (apps["applied"].as_u64(), apps["offline"].as_u64()),
        (Some(3), Some(1)),
        "ok, the long id and the stale device run 2; the offline one is not counted: {apps}"
    );

    // An event from a device that never sent a heartbeat: shown, not linked to a 404.
    let ev = serde_json::json!({"schema": "ferry.dev/event/v1", "device": "ghost", "sync": "apps",
        "kind": "rolled-back", "message": "m"});
    let t = r.token("ghost");
    assert_eq!(
        r.post("/api/events", &ev.to_string(), Some(&t), None)
            .unwrap()
            .0,
        200
    );
    let (_, html) = r.get("/");
    assert!(
        html.contains("ghost <span class=\"muted\">(no heartbeat yet)"),
        "{html}"
    );
    assert!(!html.contains("href=\"/devices/ghost\""));

    // A long id is cut, with the whole id on hover; its page opens.
    let (_, html) = r.get("/devices?sort=id");
    assert!(html.contains(&format!("<span title=\"{long}\">")), "{html}");
    assert!(!html.contains(&format!(">{long}<")));
    assert_eq!(r.get(&format!("/devices/{long}")).0, 200);
}

#[test]
fn the_pager_reaches_every_page() {
    let ids: Vec<String> = (0..12).map(|i| format!("edge-{i:02}")).collect();
    let refs: Vec<&str> = ids.iter().map(String::as_str).collect();
    let r = Receiver::start(&refs, StoreKind::Sqlite);
    for id in &refs {
        post_hb(&r, id, |_| {});
    }
    // Follow "next" from the first page to the last, on 12 pages of one device each.
    let mut url = "/devices?sort=id&per_page=1".to_string();
    let mut seen = Vec::new();
    loop {
        let (s, html) = r.get(&url);
        assert_eq!(s, 200);
        let row = html.split("data-device=\"").nth(1).unwrap();
        seen.push(row[..row.find('"').unwrap()].to_string());
        let Some(next) = html
            .split("\">next ›</a>")
            .next()
            .filter(|_| html.contains("next ›"))
        else {
            break;
        };
        url = next[next.rfind("href=\"").unwrap() + 6..].replace("&amp;", "&");
        assert!(seen.len() <= 12, "{url}");
    }
    assert_eq!(seen, ids);
    // From the middle: the first, the last, three either side, and a form for any page.
    let (_, html) = r.get("/devices?sort=id&per_page=1&page=6");
    for n in [1, 3, 9, 12] {
        assert!(
            html.contains(&format!("page={n}&amp;per_page=1\">{n}</a>")),
            "{n}: {html}"
        );
    }
    assert!(html.contains("name=\"page\" id=\"page\""));
}
