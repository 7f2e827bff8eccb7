//! The sign-in pages: `GET /login` (the form, with a CSRF token bound to a pre-sign-in
//! cookie), `POST /login` (rate-limited per account and per client address, one uniform error
//! for an unknown user and a wrong password, a fresh session id on success), `GET /logout`
//! (a confirmation form) and `POST /logout` (deletes the session).

use super::gate::ClientAddr;
use super::roles::{Principal, Role};
use super::session::{self, clear_cookie, cookie, hash_secret, new_secret, safe_next, set_cookie};
use super::{csrf, local, SignIn};
use crate::app::App;
use crate::html::{esc, page, url_part};
use crate::store::Store;
use axum::extract::{Form, Query, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{Html, IntoResponse, Response};
use axum::Extension;
use serde::Deserialize;
use std::sync::Arc;

#[derive(Debug, Default, Deserialize)]
pub struct LoginQuery {
    pub next: Option<String>,
}

#[derive(Debug, Deserialize)]
pub struct LoginForm {
    #[serde(default)]
    pub csrf: String,
    #[serde(default)]
    pub next: String,
    #[serde(default)]
    pub username: String,
    #[serde(default)]
    pub password: String,
}

fn unavailable() -> Response {
    (
        StatusCode::SERVICE_UNAVAILABLE,
        Html(page("unavailable", "<p>Sign-in is unavailable.</p>")),
    )
        .into_response()
}

/// The sign-in page with `message` (escaped) above the form. The form's CSRF token is bound
/// to the pre-sign-in cookie, made when the browser has none (kept otherwise: a second tab or
/// the browser's own `/favicon.ico` request must not invalidate a form already shown).
fn login_page(
    signin: &SignIn,
    headers: &HeaderMap,
    status: StatusCode,
    next: &str,
    message: &str,
) -> Response {
    let pre = match cookie(headers, session::LOGIN_COOKIE).filter(|c| c.len() == 43) {
        Some(c) => c.to_string(),
        None => match new_secret() {
            Ok(s) => s,
            Err(_) => return unavailable(),
        },
    };
    let next = safe_next(Some(next));
    let mut body = String::from("<section id=\"signin\"><h2>Sign in</h2>");
    if !message.is_empty() {
        body.push_str(&format!(
            "<p class=\"err\" id=\"signin-error\">{}</p>",
            esc(message)
        ));
    }
    body.push_str(&format!(
        "<form method=\"post\" action=\"/login\" class=\"filters\">\
<input type=\"hidden\" name=\"csrf\" value=\"{}\"><input type=\"hidden\" name=\"next\" value=\"{}\">\
<label>User <input id=\"username\" name=\"username\" autocomplete=\"username\" required maxlength=\"64\"></label>\
<label>Password <input id=\"password\" name=\"password\" type=\"password\" autocomplete=\"current-password\" required maxlength=\"1024\"></label>\
<button id=\"signin-button\" type=\"submit\">Sign in</button></form>",
        csrf::token(&pre),
        esc(&next)
    ));
    if let Some(o) = &signin.oidc {
        body.push_str(&format!(
            "<p><a id=\"oidc\" href=\"/oidc/login?next={}\">Sign in with {}</a></p>",
            url_part(&next),
            esc(o.issuer())
        ));
    }
    body.push_str("</section>");
    (
        status,
        [(
            header::SET_COOKIE,
            set_cookie(session::LOGIN_COOKIE, &pre, "Strict"),
        )],
        Html(page("sign in", &body)),
    )
        .into_response()
}

pub async fn login_form<S: Store>(
    State(app): State<Arc<App<S>>>,
    headers: HeaderMap,
    Query(q): Query<LoginQuery>,
) -> Response {
    match &app.signin {
        Some(s) => login_page(
            s,
            &headers,
            StatusCode::OK,
            q.next.as_deref().unwrap_or("/"),
            "",
        ),
        None => unavailable(),
    }
}

/// Starts a session for `user` (a new id: any session the browser had is ended) and sends the
/// browser to `next` (a same-origin relative path).
pub async fn start_session(
    signin: &SignIn,
    headers: &HeaderMap,
    user: &str,
    role: Role,
    now: i64,
    next: &str,
) -> Response {
    if let Some(old) = cookie(headers, session::COOKIE) {
        let _ = signin.db.end_session(&hash_secret(old)).await;
    }
    let Ok(secret) = new_secret() else {
        return unavailable();
    };
    if let Err(e) = signin
        .db
        .create_session(&hash_secret(&secret), user, role, now)
        .await
    {
        tracing::error!("sign-in store: {e}");
        return unavailable();
    }
    tracing::info!("{user} signed in ({})", role.as_str());
    let mut resp = (
        StatusCode::SEE_OTHER,
        [(header::LOCATION, safe_next(Some(next)))],
    )
        .into_response();
    let h = resp.headers_mut();
    for c in [
        set_cookie(session::COOKIE, &secret, "Lax"),
        clear_cookie(session::LOGIN_COOKIE),
    ] {
        if let Ok(v) = c.parse() {
            h.append(header::SET_COOKIE, v);
        }
    }
    resp
}

pub async fn login<S: Store>(
    State(app): State<Arc<App<S>>>,
    addr: Option<Extension<ClientAddr>>,
    headers: HeaderMap,
    Form(f): Form<LoginForm>,
) -> Response {
    let Some(signin) = &app.signin else {
        return unavailable();
    };
    let page_with = |status, msg: &str| login_page(signin, &headers, status, &f.next, msg);
    if csrf::same_origin(&headers).is_err()
        || !cookie(&headers, session::LOGIN_COOKIE).is_some_and(|pre| csrf::valid(pre, &f.csrf))
    {
        return page_with(
            StatusCode::FORBIDDEN,
            "The sign-in form expired: please try again.",
        );
    }
    let now = app.clock.now();
    let ip = addr.map(|Extension(a)| a.0.to_string()).unwrap_or_default();
    let account = f.username.chars().take(local::MAX_NAME).collect::<String>();
    if let Err(wait) = signin
        .per_address
        .take(&ip, now)
        .and_then(|_| signin.per_account.take(&account, now))
    {
        tracing::warn!("sign-in rate limit: {account:?} from {ip}");
        let mut r = page_with(
            StatusCode::TOO_MANY_REQUESTS,
            &format!("Too many sign-in attempts: try again in {wait} s."),
        );
        r.headers_mut().insert(header::RETRY_AFTER, wait.into());
        return r;
    }
    let stored = match signin.db.user(&account).await {
        Ok(u) => u,
        Err(e) => {
            tracing::error!("sign-in store: {e}");
            return unavailable();
        }
    };
    let Ok(_permit) = signin.hashing.acquire().await else {
        return unavailable();
    };
    let (password, hash) = (f.password.clone(), stored.as_ref().map(|(_, h)| h.clone()));
    let ok =
        tokio::task::spawn_blocking(move || local::verify_password(&password, hash.as_deref()))
            .await
            .unwrap_or(false);
    drop(_permit);
    match stored {
        Some((role, _)) if ok => {
            start_session(signin, &headers, &account, role, now, &f.next).await
        }
        _ => {
            tracing::info!("failed sign-in for {account:?} from {ip}");
            page_with(StatusCode::UNAUTHORIZED, "Wrong user name or password.")
        }
    }
}

pub async fn logout_form(Extension(p): Extension<Principal>) -> Response {
    Html(page(
        "sign out",
        &format!(
            "<section><h2>Signed in as {} ({})</h2><form method=\"post\" action=\"/logout\">\
<input type=\"hidden\" name=\"csrf\" value=\"{}\"><button id=\"signout-button\" type=\"submit\">Sign out</button></form></section>",
            esc(&p.name),
            p.role.as_str(),
            esc(p.csrf())
        ),
    ))
    .into_response()
}

pub async fn logout<S: Store>(State(app): State<Arc<App<S>>>, headers: HeaderMap) -> Response {
    if let (Some(signin), Some(secret)) = (&app.signin, cookie(&headers, session::COOKIE)) {
        if let Err(e) = signin.db.end_session(&hash_secret(secret)).await {
            tracing::error!("sign-in store: {e}");
            return unavailable();
        }
    }
    (
        StatusCode::SEE_OTHER,
        [
            (header::LOCATION, "/login".to_string()),
            (header::SET_COOKIE, clear_cookie(session::COOKIE)),
        ],
    )
        .into_response()
}
