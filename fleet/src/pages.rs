//! The server-rendered status page: overview (`/`), device table (`/devices`, filters, sort and
//! pagination on the server) and device page (`/devices/{id}`). No JavaScript.

use crate::app::App;
use crate::html::{badge, device_link, esc, opt_rev, page, url_part, when};
use crate::status::DeviceStatus;
use crate::store::Store;
use crate::views::{DevicePage, DeviceQuery};
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{Html, IntoResponse, Response};
use std::fmt::Write;
use std::sync::Arc;

fn failed() -> Response {
    (
        StatusCode::SERVICE_UNAVAILABLE,
        Html(page("unavailable", "<p>The store is unavailable.</p>")),
    )
        .into_response()
}

pub async fn overview<S: Store>(State(app): State<Arc<App<S>>>) -> Response {
    let started = std::time::Instant::now();
    match app.overview().await {
        Ok(o) => Html(crate::overview_page::render_overview(&o, started)).into_response(),
        Err(_) => failed(),
    }
}

pub async fn devices<S: Store>(
    State(app): State<Arc<App<S>>>,
    Query(q): Query<DeviceQuery>,
) -> Response {
    let started = std::time::Instant::now();
    match app.device_page(&q).await {
        Ok(p) => Html(render_devices(&p, &q, app.clock.now(), started)).into_response(),
        Err(_) => failed(),
    }
}

/// The query string of `q` with some fields replaced.
fn link(q: &DeviceQuery, sort: Option<&str>, dir: Option<&str>, page: Option<usize>) -> String {
    let mut parts = Vec::new();
    let mut add = |k: &str, v: Option<&str>| {
        if let Some(v) = v.filter(|v| !v.is_empty()) {
            parts.push(format!("{k}={}", url_part(v)));
        }
    };
    add("status", q.status.as_deref());
    add("sync", q.sync.as_deref());
    add("revision", q.revision.as_deref());
    add("state", q.state.as_deref());
    add("error", q.error.as_deref());
    add("label", q.label.as_deref());
    add("site", q.site.as_deref());
    add("q", q.q.as_deref());
    add("sort", sort.or(q.sort.as_deref()));
    add("dir", dir.or(q.dir.as_deref()));
    let page = page.map(|p| p.to_string());
    add("page", page.as_deref().or(q.page.as_deref()));
    add("per_page", q.per_page.as_deref());
    format!("/devices?{}", parts.join("&amp;"))
}

/// The filters of `q` as (name, value) pairs (hidden inputs, the filter line).
fn filters(q: &DeviceQuery) -> [(&'static str, &Option<String>); 11] {
    [
        ("status", &q.status),
        ("sync", &q.sync),
        ("revision", &q.revision),
        ("state", &q.state),
        ("error", &q.error),
        ("label", &q.label),
        ("site", &q.site),
        ("q", &q.q),
        ("sort", &q.sort),
        ("dir", &q.dir),
        ("per_page", &q.per_page),
    ]
}

pub fn render_devices(
    p: &DevicePage,
    q: &DeviceQuery,
    now: i64,
    started: std::time::Instant,
) -> String {
    let mut b = String::from("<section><h2>Devices</h2><form class=\"filters\" method=\"get\" action=\"/devices\"><select name=\"status\" id=\"status\"><option value=\"\">any status</option>");
    for s in DeviceStatus::ALL {
        let sel = if q.status.as_deref() == Some(s.as_str()) {
            " selected"
        } else {
            ""
        };
        let _ = write!(b, "<option value=\"{0}\"{sel}>{0}</option>", s.as_str());
    }
    let _ = write!(
        b,
        "</select><input name=\"sync\" id=\"sync\" placeholder=\"sync\" value=\"{}\"><input name=\"q\" id=\"q\" placeholder=\"id or label=value\" value=\"{}\"><button type=\"submit\" id=\"apply\">Filter</button>",
        esc(q.sync.as_deref().unwrap_or("")),
        esc(q.q.as_deref().unwrap_or(""))
    );
    for (k, v) in &filters(q)[2..7] {
        if let Some(v) = v.as_deref().filter(|v| !v.is_empty()) {
            let _ = write!(
                b,
                "<input type=\"hidden\" name=\"{k}\" value=\"{}\">",
                esc(v)
            );
        }
    }
    b.push_str("</form>");
    let shown: Vec<String> = filters(q)[..8]
        .iter()
        .filter_map(|(k, v)| {
            v.as_deref()
                .filter(|v| !v.is_empty())
                .map(|v| format!("{k} <b>{}</b>", esc(v)))
        })
        .collect();
    let _ = write!(b, "<p class=\"muted\" id=\"count\">{} devices match{}{} · page {} of {}</p><table id=\"devices\"><tr>", p.total, if shown.is_empty() { "" } else { ": " }, shown.join(", "), p.page, p.pages);
    for (key, title) in [
        ("id", "device"),
        ("status", "status"),
        ("last-seen", "last heartbeat"),
        ("revision", "revisions"),
    ] {
        let dir = if q.sort.as_deref() == Some(key) && q.dir.as_deref() != Some("desc") {
            "desc"
        } else {
            "asc"
        };
        let _ = write!(
            b,
            "<th><a href=\"{}\">{title}</a></th>",
            link(q, Some(key), Some(dir), Some(1))
        );
    }
    b.push_str("<th>labels</th><th>last error</th></tr>");
    for d in &p.devices {
        let revs: Vec<String> = d
            .revisions
            .iter()
            .map(|(s, r)| format!("{}@{}", esc(s), opt_rev(*r)))
            .collect();
        let labels: Vec<String> = d
            .labels
            .iter()
            .map(|(k, v)| esc(&format!("{k}={v}")))
            .collect();
        let _ = write!(
            b,
            "<tr data-device=\"{}\"><td>{}</td><td>{}</td><td>{}<br><span class=\"muted\">every {}</span></td><td>{}</td><td>{}</td><td class=\"err\">{}</td></tr>",
            esc(&d.id),
            device_link(&d.id),
            badge(d.status),
            when(d.last_seen, now),
            crate::html::short_duration(d.interval_seconds),
            revs.join(" "),
            labels.join(" "),
            esc(d.last_error.as_deref().unwrap_or(""))
        );
    }
    b.push_str("</table><p class=\"pages\" id=\"pager\">");
    let to =
        |n: usize, text: &str| format!("<a href=\"{}\">{text}</a>", link(q, None, None, Some(n)));
    if p.page > 1 {
        b.push_str(&to(p.page - 1, "‹ previous"));
    }
    for n in crate::table::pager(p.page, p.pages) {
        match n {
            Some(n) if n == p.page => {
                let _ = write!(b, "<b>{n}</b>");
            }
            Some(n) => b.push_str(&to(n, &n.to_string())),
            None => b.push('…'),
        }
    }
    if p.page < p.pages {
        b.push_str(&to(p.page + 1, "next ›"));
    }
    if p.pages > 1 {
        // Any page directly, with the same filters.
        let _ = write!(
            b,
            "</p><form class=\"filters\" method=\"get\" action=\"/devices\">"
        );
        for (k, v) in filters(q) {
            if let Some(v) = v.as_deref().filter(|v| !v.is_empty()) {
                let _ = write!(
                    b,
                    "<input type=\"hidden\" name=\"{k}\" value=\"{}\">",
                    esc(v)
                );
            }
        }
        let _ = write!(
            b,
            "<input type=\"number\" name=\"page\" id=\"page\" min=\"1\" max=\"{0}\" value=\"{1}\"><button type=\"submit\">go to page (of {0})</button></form><p>",
            p.pages, p.page
        );
    }
    b.push_str("</p></section>");
    b.push_str(&crate::overview_page::page_time(started, now));
    crate::overview_page::refreshing("Devices", &b)
}

pub async fn device<S: Store>(State(app): State<Arc<App<S>>>, Path(id): Path<String>) -> Response {
    let now = app.clock.now();
    let d = match app.device_detail(&id).await {
        Ok(Some(d)) => d,
        Ok(None) => {
            let text = if app.refuse_retired(&id).is_err() {
                format!(
                    "<p>This device was retired. <a id=\"unretire\" href=\"/devices/{}/unretire\">Un-retire it</a></p>",
                    crate::html::url_part(&id)
                )
            } else {
                "<p>No such device.</p>".to_string()
            };
            return (StatusCode::NOT_FOUND, Html(page("not found", &text))).into_response();
        }
        Err(_) => return failed(),
    };
    let st = &app.limits.staleness;
    let r = &d.device.report;
    let mut b = format!(
        "<section><h2>{} {}</h2><p>last heartbeat {} · reports every {} · agent {} · up {} · outbox dropped {}</p><p>{}</p>{}<p><a id=\"retire\" href=\"/devices/{}/retire\">Retire this device</a></p></section>",
        esc(&r.id),
        badge(st.status(&d.device, now)),
        when(d.device.last_seen, now),
        crate::html::short_duration(st.interval(&d.device)),
        esc(&r.agent_version),
        crate::html::short_duration(r.uptime_seconds),
        r.outbox_dropped,
        r.labels.iter().map(|(k, v)| esc(&format!("{k}={v}"))).collect::<Vec<_>>().join(" "),
        crate::site::page::device_site_line(r),
        url_part(&r.id),
    );
    b.push_str("<section id=\"syncs\"><h2>Syncs</h2><table><tr><th>sync</th><th>health</th><th>applied</th><th>highest verified</th><th>last success</th><th>drift corrections</th><th>source</th><th>last error / waiting</th></tr>");
    for s in &r.syncs {
        let source = if s.source_reachable {
            "reachable".to_string()
        } else {
            format!(
                "unreachable since {}",
                esc(s.source_unreachable_since.as_deref().unwrap_or("?"))
            )
        };
        let _ = write!(
            b,
            "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{source}</td><td class=\"err\">{}</td></tr>",
            esc(&s.name),
            s.health.as_str(),
            opt_rev(s.revision),
            opt_rev(s.highest_verified),
            esc(s.last_success.as_deref().unwrap_or("never")),
            s.drift_corrections,
            esc(s.last_error.as_deref().or(s.waiting.as_deref()).unwrap_or(""))
        );
    }
    b.push_str("</table></section><section id=\"events\"><h2>Recent events</h2><table><tr><th>received</th><th>sync</th><th>kind</th><th>message</th></tr>");
    for e in &d.events {
        let _ = write!(
            b,
            "<tr><td>{}</td><td>{}</td><td>{}</td><td class=\"err\">{}</td></tr>",
            when(e.received, now),
            esc(&e.event.sync),
            esc(&e.event.kind),
            esc(&e.event.message)
        );
    }
    b.push_str("</table></section><section id=\"changes\"><h2>Health and revision changes</h2><table><tr><th>time</th><th>sync</th><th>change</th></tr>");
    for c in &d.changes {
        let what = match c.change {
            crate::store::ChangeKind::Health { from, to } => format!(
                "health {} → {}",
                from.map(|h| h.as_str()).unwrap_or("(new)"),
                to.as_str()
            ),
            crate::store::ChangeKind::Revision { from, to } => {
                format!("revision {} → {}", opt_rev(from), opt_rev(to))
            }
        };
        let _ = write!(
            b,
            "<tr><td>{}</td><td>{}</td><td>{what}</td></tr>",
            when(c.time, now),
            esc(&c.sync)
        );
    }
    b.push_str("</table></section>");
    Html(page(&r.id, &b)).into_response()
}
