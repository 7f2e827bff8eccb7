//! Sign-in and roles over HTTPS against a real `ferry-fleet` process (issue 23 item 1), on
//! SQLite and on PostgreSQL: local accounts made with the CLI (argon2id), sessions in
//! `__Host-` cookies, one uniform error for an unknown user and a wrong password, rate limits,
//! CSRF (token and origin), the viewer/operator split on retiring a device, the retired
//! device's credential refused, API tokens, idle and absolute expiry on the receiver's clock,
//! and the post-login return path kept to same-origin relative paths.

mod common;
use common::web::Web;
use common::{fleet_cli, heartbeat, Receiver, StoreKind};

const PW: &str = "correct horse battery staple";

fn scenario(store: StoreKind) {
    let r = Receiver::start_with(
        &["edge-1", "edge-2"],
        store,
        "signin: {idleTimeout: 30m, absoluteTimeout: 2h}\n",
    );
    r.add_user("olga", "operator", PW);
    r.add_user("vera", "viewer", PW);
    for d in ["edge-1", "edge-2"] {
        let hb = heartbeat(d, "healthy", None);
        assert_eq!(
            r.post("/api/heartbeat", &hb, Some(&r.token(d)), None)
                .unwrap()
                .0,
            200
        );
    }

    // Without a credential: pages redirect to the sign-in page, the API answers 401.
    let mut anon = Web::new(&r);
    let a = anon.get("/devices?status=stale");
    assert_eq!(
        (a.status, a.location.as_str()),
        (303, "/login?next=%2Fdevices%3Fstatus%3Dstale")
    );
    assert_eq!(anon.get("/api/overview").status, 401);
    assert_eq!(anon.get("/devices/edge-1/retire").status, 303);

    // One uniform answer for an unknown user and a wrong password.
    let mut w = Web::new(&r);
    let wrong = w.login("olga", "not the password at all", "/");
    let unknown = w.login("nobody", PW, "/");
    assert_eq!((wrong.status, unknown.status), (401, 401));
    assert!(wrong.body.contains("Wrong user name or password."));
    assert!(unknown.body.contains("Wrong user name or password."));
    assert!(!w.jar.contains_key("__Host-ferry_session"));

    // A session: a __Host- cookie with every attribute, a fresh id at each sign-in, the return
    // path kept when it is relative, dropped when it leads elsewhere.
    let ok = w.login("olga", PW, "%2Fdevices%3Fstatus%3Dhealthy");
    assert_eq!(
        (ok.status, ok.location.as_str()),
        (303, "/devices?status=healthy")
    );
    let set = ok
        .set_cookies
        .iter()
        .find(|c| c.starts_with("__Host-ferry_session="))
        .unwrap();
    for attr in ["Secure", "HttpOnly", "SameSite=Lax", "Path=/"] {
        assert!(set.contains(attr), "{set}");
    }
    assert!(!set.contains("Domain"), "{set}");
    let first = w.jar["__Host-ferry_session"].clone();
    for evil in [
        "https%3A%2F%2Fevil.example%2F",
        "%2F%2Fevil.example",
        "%2F%5Cevil.example",
    ] {
        let again = w.login("olga", PW, evil);
        assert_eq!(
            (again.status, again.location.as_str()),
            (303, "/"),
            "{evil}"
        );
    }
    assert_ne!(
        w.jar["__Host-ferry_session"], first,
        "a new id at every sign-in"
    );
    let mut fixed = Web::new(&r);
    fixed
        .jar
        .insert("__Host-ferry_session".into(), first.clone());
    assert_eq!(
        fixed.get("/").status,
        303,
        "the old session ended at the new sign-in"
    );
    assert_eq!(w.get("/").status, 200);
    assert_eq!(w.get("/api/devices/edge-1").status, 200);

    // CSRF: retiring needs the session's token and a same-origin request.
    let confirm = w.get("/devices/edge-1/retire");
    assert_eq!(confirm.status, 200);
    let csrf = Web::hidden(&confirm.body, "csrf");
    let no_token = w.post("/devices/edge-1/retire", &[], "same-origin");
    assert_eq!(no_token.status, 403, "{}", no_token.body);
    let other_token = w.post(
        "/devices/edge-1/retire",
        &[("csrf", "x".repeat(43).as_str())],
        "same-origin",
    );
    assert_eq!(other_token.status, 403);
    let cross = w.post("/devices/edge-1/retire", &[("csrf", &csrf)], "cross-site");
    assert_eq!(cross.status, 403, "{}", cross.body);
    assert_eq!(r.get("/api/devices/edge-1").0, 200, "nothing retired yet");

    // A viewer may read but not retire, even with a valid token of their own.
    let mut v = Web::new(&r);
    assert_eq!(v.login("vera", PW, "/").status, 303);
    let vc = Web::hidden(&v.get("/devices/edge-1/retire").body, "csrf");
    let denied = v.post("/devices/edge-1/retire", &[("csrf", &vc)], "same-origin");
    assert_eq!(denied.status, 403, "{}", denied.body);
    assert!(denied.body.contains("operator role"), "{}", denied.body);

    // The operator retires edge-1: gone from the views, its credential refused at ingest.
    let done = w.post("/devices/edge-1/retire", &[("csrf", &csrf)], "same-origin");
    assert_eq!((done.status, done.location.as_str()), (303, "/devices"));
    assert_eq!(r.get("/api/devices/edge-1").0, 404);
    let list: serde_json::Value = serde_json::from_str(&r.get("/api/devices").1).unwrap();
    assert_eq!(list["total"], 1);
    let hb = heartbeat("edge-1", "healthy", None);
    let (s, body) = r
        .post("/api/heartbeat", &hb, Some(&r.token("edge-1")), None)
        .unwrap();
    assert_eq!(s, 403, "{body}");
    assert!(body.contains("\"retired\""), "{body}");
    assert_eq!(r.get("/api/devices/edge-1").0, 404, "it stays away");

    // API tokens: hashed at rest, Bearer, role-checked; unknown tokens 401.
    let cfg = r.path("fleet.yaml");
    let viewer_token = fleet_cli(&cfg, &["token", "add", "script", "--role", "viewer"], "");
    let api = |token: &str, method: &str, path: &str| {
        let url = format!("{}{path}", r.url);
        let c = r.client(None);
        let auth = format!("Bearer {token}");
        let resp = match method {
            "GET" => c.get(&url).header("Authorization", &auth).call(),
            _ => c.post(&url).header("Authorization", &auth).send_empty(),
        };
        resp.unwrap().status().as_u16()
    };
    assert_eq!(api(&viewer_token, "GET", "/api/overview"), 200);
    assert_eq!(
        api(&viewer_token, "POST", "/api/devices/edge-2/retire"),
        403
    );
    assert_eq!(api("made-up", "GET", "/api/overview"), 401);
    assert_eq!(api(&r.api_token, "POST", "/api/devices/edge-2/retire"), 200);
    fleet_cli(&cfg, &["token", "remove", "script"], "");
    assert_eq!(
        api(&viewer_token, "GET", "/api/overview"),
        401,
        "a removed token"
    );
    let mut db = std::fs::read(r.path("fleet.db")).unwrap_or_default();
    db.extend(std::fs::read(r.path("fleet.db-wal")).unwrap_or_default());
    assert!(
        !db.windows(viewer_token.len())
            .any(|x| x == viewer_token.as_bytes()),
        "tokens are kept hashed"
    );

    // Sign out: the session is deleted on the server (the old cookie no longer works).
    let out = w.get("/logout");
    let lc = Web::hidden(&out.body, "csrf");
    let kept = w.jar["__Host-ferry_session"].clone();
    let bye = w.post("/logout", &[("csrf", &lc)], "same-origin");
    assert_eq!((bye.status, bye.location.as_str()), (303, "/login"));
    let mut replay = Web::new(&r);
    replay.jar.insert("__Host-ferry_session".into(), kept);
    assert_eq!(replay.get("/").status, 303);

    // Idle and absolute expiry on the receiver's clock.
    let t = r.t0;
    assert_eq!(v.get("/").status, 200);
    r.set_clock(t + 29 * 60);
    assert_eq!(v.get("/").status, 200, "used within the idle limit");
    r.set_clock(t + 29 * 60 + 30 * 60);
    assert_eq!(v.get("/").status, 303, "idle for 30 minutes");
    let mut long = Web::new(&r);
    assert_eq!(long.login("vera", PW, "/").status, 303);
    let start = t + 59 * 60;
    for step in 1..=5 {
        // Used every 20 minutes: never idle, until two hours after sign-in.
        r.set_clock(start + step * 20 * 60);
        assert_eq!(long.get("/").status, 200, "step {step}");
    }
    r.set_clock(start + 121 * 60);
    assert_eq!(long.get("/").status, 303, "absolute limit");

    // Rate limits: the sixth quick attempt on one account is refused, even with the password.
    let mut b = Web::new(&r);
    for _ in 0..5 {
        assert_eq!(b.login("vera", "wrong password here", "/").status, 401);
    }
    let limited = b.login("vera", PW, "/");
    assert_eq!(limited.status, 429, "{}", limited.body);
    // A password change ends every session of the user.
    let mut o = Web::new(&r);
    assert_eq!(o.login("olga", PW, "/").status, 303);
    fleet_cli(&cfg, &["user", "passwd", "olga"], "another long password\n");
    assert_eq!(o.get("/").status, 303);
    fleet_cli(&cfg, &["user", "remove", "olga"], "");
    assert_eq!(o.login("olga", "another long password", "/").status, 401);
}

#[test]
fn sign_in_sessions_csrf_roles_and_tokens_with_sqlite() {
    scenario(StoreKind::Sqlite);
}

#[test]
fn sign_in_sessions_csrf_roles_and_tokens_with_postgres() {
    scenario(StoreKind::Postgres);
}

#[test]
fn a_login_form_from_another_site_or_without_its_cookie_is_refused() {
    let r = Receiver::start(&["edge-1"], StoreKind::Sqlite);
    r.add_user("olga", "operator", PW);
    let mut w = Web::new(&r);
    let page = w.get("/login");
    let csrf = Web::hidden(&page.body, "csrf");
    let form = [
        ("csrf", csrf.as_str()),
        ("next", "/"),
        ("username", "olga"),
        ("password", PW),
    ];
    assert_eq!(w.post("/login", &form, "cross-site").status, 403);
    let mut fresh = Web::new(&r);
    assert_eq!(
        fresh.post("/login", &form, "same-origin").status,
        403,
        "no pre-sign-in cookie"
    );
    // The refusal gave the browser a new form (and cookie); that one works.
    let csrf = Web::hidden(&w.get("/login").body, "csrf");
    let form = [
        ("csrf", csrf.as_str()),
        ("next", "/"),
        ("username", "olga"),
        ("password", PW),
    ];
    assert_eq!(w.post("/login", &form, "same-origin").status, 303);
}
