//! Un-retiring a device (issue 23): retirement was permanent. An operator brings a retired id
//! back with a CSRF-protected form (or an operator API token), saying explicitly that the id's
//! existing credentials are re-enabled; a viewer is refused, a form without the CSRF token or
//! without the explicit re-enable changes nothing. Plain HTTPS, no browser.

mod common;
use common::web::Web;
use common::{fleet_cli, heartbeat, Receiver, StoreKind};

const PW: &str = "correct horse battery staple";

fn report(r: &Receiver) -> (u16, String) {
    let hb = heartbeat("edge-1", "healthy", None);
    r.post("/api/heartbeat", &hb, Some(&r.token("edge-1")), None)
        .unwrap()
}

/// POSTs `form` to `path` with an API token: the status and body.
fn api(r: &Receiver, token: &str, path: &str, form: &[(&str, &str)]) -> (u16, String) {
    let mut resp = r
        .client(None)
        .post(&format!("{}{path}", r.url))
        .header("Authorization", &format!("Bearer {token}"))
        .send_form(form.iter().copied())
        .unwrap();
    let status = resp.status().as_u16();
    (status, resp.body_mut().read_to_string().unwrap_or_default())
}

#[test]
fn an_operator_un_retires_a_device_with_its_credentials_re_enabled_explicitly() {
    let r = Receiver::start(&["edge-1"], StoreKind::Sqlite);
    r.add_user("olga", "operator", PW);
    r.add_user("vera", "viewer", PW);
    assert_eq!(report(&r).0, 200);
    let reenable = [("credentials", "re-enable")];
    assert_eq!(
        api(&r, &r.api_token, "/api/devices/edge-1/retire", &[]).0,
        200
    );
    let (s, body) = report(&r);
    assert!(s == 403 && body.contains("\"retired\""), "{s} {body}");

    // The operator's device page says it was retired and links the un-retire form.
    let mut w = Web::new(&r);
    assert_eq!(w.login("olga", PW, "/").status, 303);
    let gone = w.get("/devices/edge-1");
    assert_eq!(gone.status, 404);
    assert!(
        gone.body.contains("href=\"/devices/edge-1/unretire\""),
        "{}",
        gone.body
    );
    let confirm = w.get("/devices/edge-1/unretire");
    assert_eq!(confirm.status, 200);
    let csrf = Web::hidden(&confirm.body, "csrf");

    // A viewer sees the form but may not use it, by session or by API token.
    let mut v = Web::new(&r);
    assert_eq!(v.login("vera", PW, "/").status, 303);
    let vc = Web::hidden(&v.get("/devices/edge-1/unretire").body, "csrf");
    let denied = v.post(
        "/devices/edge-1/unretire",
        &[("csrf", &vc), reenable[0]],
        "same-origin",
    );
    assert_eq!(denied.status, 403, "{}", denied.body);
    assert!(denied.body.contains("operator role"), "{}", denied.body);
    let cfg = r.path("fleet.yaml");
    let viewer_token = fleet_cli(&cfg, &["token", "add", "script", "--role", "viewer"], "");
    assert_eq!(
        api(&r, &viewer_token, "/api/devices/edge-1/unretire", &reenable).0,
        403
    );

    // No CSRF token, a cross-site post, or no explicit re-enable: nothing changes.
    let no_csrf = w.post("/devices/edge-1/unretire", &reenable, "same-origin");
    assert_eq!(no_csrf.status, 403, "{}", no_csrf.body);
    let cross = w.post(
        "/devices/edge-1/unretire",
        &[("csrf", &csrf), reenable[0]],
        "cross-site",
    );
    assert_eq!(cross.status, 403, "{}", cross.body);
    let unsaid = w.post(
        "/devices/edge-1/unretire",
        &[("csrf", &csrf)],
        "same-origin",
    );
    assert_eq!(unsaid.status, 422, "{}", unsaid.body);
    assert!(
        unsaid.body.contains("credentials=re-enable"),
        "{}",
        unsaid.body
    );
    assert_eq!(report(&r).0, 403, "still retired");

    // The operator un-retires: its token counts again, it reappears without its old history.
    let done = w.post(
        "/devices/edge-1/unretire",
        &[("csrf", &csrf), reenable[0]],
        "same-origin",
    );
    assert_eq!((done.status, done.location.as_str()), (303, "/devices"));
    assert_eq!(report(&r).0, 200);
    let detail: serde_json::Value = serde_json::from_str(&r.get("/api/devices/edge-1").1).unwrap();
    assert_eq!(detail["changes"].as_array().unwrap().len(), 1, "{detail}");
    assert_eq!(
        api(&r, &r.api_token, "/api/devices/edge-1/unretire", &reenable).0,
        404,
        "not retired any more"
    );

    // By API token: retire and un-retire again.
    assert_eq!(
        api(&r, &r.api_token, "/api/devices/edge-1/retire", &[]).0,
        200
    );
    assert_eq!(report(&r).0, 403);
    assert_eq!(
        api(&r, &r.api_token, "/api/devices/edge-1/unretire", &[]).0,
        422
    );
    let (s, body) = api(&r, &r.api_token, "/api/devices/edge-1/unretire", &reenable);
    assert_eq!(s, 200, "{body}");
    assert_eq!(report(&r).0, 200);
}
