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
        r.client(None).get(&url).call().unwrap()
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
        ("/style.css", false, 200),
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
