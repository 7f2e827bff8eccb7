//! The sites list (`/sites`, `/api/sites`) and a site page (`/sites/{name}`,
//! `/api/sites/{name}`), read from the sites kept at ingest ([`crate::aggregate::sites`]);
//! every figure links to the devices behind it, every node to its device page. Also ingest's
//! bound on nodes per site, and the line of a device page that links to its site.

use super::model::MAX_SITE_NODES;
use super::summary::{Lead, SiteState, SiteSummary, StateKind};
use crate::aggregate::sites::{SiteDetail, SiteQuery, SitesPage};
use crate::app::App;
use crate::html::{badge, device_link, esc, opt_rev, url_part, when};
use crate::ingest::reject;
use crate::model::DeviceReport;
use crate::overview_page::{figure, page_time, refreshing};
use crate::store::Store;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{Html, IntoResponse, Response};
use axum::routing::get;
use axum::Json;
use std::fmt::Write;
use std::sync::Arc;

/// A heartbeat that would make its site larger than [`MAX_SITE_NODES`] (422).
#[derive(Debug)]
pub struct SiteFull(String);

impl From<SiteFull> for Response {
    fn from(f: SiteFull) -> Response {
        reject(
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid-payload",
            format!(
                "site.name: site {:?} has {MAX_SITE_NODES} nodes already (the most a site holds)",
                f.0
            ),
        )
    }
}

impl<S: Store> App<S> {
    /// Ingest's check: a device joins a site only while it has fewer than [`MAX_SITE_NODES`]
    /// nodes (the device's earlier reports stay).
    pub fn check_site(&self, r: &DeviceReport) -> Result<(), SiteFull> {
        let Some(site) = &r.site else { return Ok(()) };
        if self.fleet.with(|f| f.sites.admits(&site.name, &r.id)) {
            return Ok(());
        }
        Err(SiteFull(site.name.clone()))
    }

    pub async fn sites_page(&self, q: &SiteQuery) -> Option<SitesPage> {
        let _permit = self.view_permit().await.ok()?;
        let now = self.clock.now();
        Some(self.fleet.with(|f| f.sites_page(q, now)))
    }

    pub async fn site_detail(&self, name: &str) -> Option<SiteDetail> {
        let now = self.clock.now();
        self.fleet.with(|f| f.site_detail(name, now))
    }
}

/// The routes of this module.
pub fn routes<S: Store>() -> axum::Router<Arc<App<S>>> {
    axum::Router::new()
        .route("/sites", get(sites::<S>))
        .route("/sites/{name}", get(site::<S>))
        .route("/api/sites", get(api_sites::<S>))
        .route("/api/sites/{name}", get(api_site::<S>))
}

fn unavailable() -> Response {
    reject(
        StatusCode::SERVICE_UNAVAILABLE,
        "unavailable",
        "views unavailable",
    )
}

fn site_link(name: &str) -> String {
    format!(
        "<a href=\"/sites/{}\">{}</a>",
        url_part(name),
        crate::html::device_text(name)
    )
}

/// A site's state as a badge.
fn state_badge(k: StateKind) -> String {
    format!(
        "<span class=\"badge {}\" data-site-state=\"{}\">{}</span>",
        k.class(),
        k.as_str(),
        k.title()
    )
}

fn revision_words(r: Option<u64>) -> String {
    r.map(|r| format!(" of host revision {r}"))
        .unwrap_or_default()
}

/// What the state means, with links to the nodes it names.
fn state_text(s: &SiteSummary) -> String {
    let node = |n: &Option<String>| n.as_deref().map_or("?".to_string(), device_link);
    let list = |v: &[String]| esc(&v.join(", "));
    let detail = match &s.state {
        SiteState::Conflict { syncs } => format!("several nodes claim to lead {}", list(syncs)),
        SiteState::RolloutStopped {
            node: n,
            revision,
            reason,
        } => format!(
            "rollout{} stopped at node {}{}",
            revision_words(*revision),
            node(n),
            reason
                .as_deref()
                .map(|r| format!(": <span class=\"err\">{}</span>", esc(r)))
                .unwrap_or_default()
        ),
        SiteState::LeaderMissing { syncs } => format!("no confirmed leader for {}", list(syncs)),
        SiteState::RolloutInProgress { node: n, revision } => {
            format!(
                "rollout{} in progress at node {}",
                revision_words(*revision),
                node(n)
            )
        }
        SiteState::Degraded { nodes } => format!(
            "{} of {} nodes not healthy",
            nodes,
            figure(s.nodes, &format!("site={}", url_part(&s.name)))
        ),
        SiteState::Healthy => String::new(),
    };
    format!("{} {detail}", state_badge(s.state.kind()))
        .trim_end()
        .to_string()
}

fn lead_html(l: &Lead) -> String {
    match l {
        Lead::Led {
            node,
            named,
            others,
        } if *others > 0 => format!(
            "{} <span class=\"muted\">(named by {named} of {others})</span>",
            device_link(node)
        ),
        Lead::Led { node, .. } => device_link(node),
        Lead::Unconfirmed { node, others } => format!(
            "{} <span class=\"err\">not confirmed by the other {others} nodes</span>",
            device_link(node)
        ),
        Lead::Missing => "<span class=\"err\">none</span>".into(),
        Lead::Conflict { nodes } => format!(
            "<b class=\"err\">conflict:</b> {}",
            nodes
                .iter()
                .map(|n| device_link(n))
                .collect::<Vec<_>>()
                .join(", ")
        ),
    }
}

/// "sync: leader" for every sync of a site.
fn leaders(s: &SiteSummary) -> String {
    let mut b = String::new();
    for l in &s.syncs {
        let _ = write!(
            b,
            "<span class=\"lead\" data-sync=\"{0}\">{0}: {1}</span><br>",
            esc(&l.sync),
            lead_html(&l.lead)
        );
    }
    if s.more_syncs > 0 {
        let _ = write!(
            b,
            "<span class=\"muted\">{} more syncs</span>",
            s.more_syncs
        );
    }
    b
}

pub fn render_sites(p: &SitesPage, q: &SiteQuery, started: std::time::Instant) -> String {
    let mut b = format!(
        "<section id=\"site-states\"><h2><a class=\"fig\" href=\"/sites\">{}</a> sites</h2><div class=\"tiles\">",
        p.sites
    );
    for c in &p.states {
        let k = c.state;
        let _ = write!(
            b,
            "<a class=\"tile {}\" data-state=\"{}\" href=\"/sites?state={}\"><b>{}</b>{}</a>",
            k.class(),
            k.as_str(),
            k.as_str(),
            c.sites,
            k.title()
        );
    }
    let filter = q.state.as_deref().and_then(StateKind::parse);
    let _ = write!(
        b,
        "</div></section><section><h2>Sites</h2><p class=\"muted\" id=\"count\">{} sites{} · page {} of {}</p><table id=\"sites\"><tr><th>site</th><th>nodes</th><th>leader per sync</th><th>state</th><th>last heartbeat</th></tr>",
        p.total,
        filter.map(|k| format!(": {}", k.title())).unwrap_or_default(),
        p.page,
        p.pages
    );
    for s in &p.rows {
        let name = url_part(&s.name);
        let _ = write!(
            b,
            "<tr data-site=\"{}\"><td>{}</td><td>{} <span class=\"muted\">(<a href=\"/sites/{name}#nodes\">{} live</a>)</span></td><td>{}</td><td>{}</td><td>{}</td></tr>",
            esc(&s.name),
            site_link(&s.name),
            figure(s.nodes, &format!("site={name}")),
            s.live,
            leaders(s),
            state_text(s),
            when(s.last_seen, p.now)
        );
    }
    b.push_str("</table><p class=\"pages\" id=\"pager\">");
    let state = filter
        .map(|k| format!("state={}&amp;", k.as_str()))
        .unwrap_or_default();
    for n in crate::table::pager(p.page, p.pages) {
        match n {
            Some(n) if n == p.page => {
                let _ = write!(b, "<b>{n}</b>");
            }
            Some(n) => {
                let _ = write!(
                    b,
                    "<a href=\"/sites?{state}page={n}&amp;per_page={}\">{n}</a>",
                    p.per_page
                );
            }
            None => b.push('…'),
        }
    }
    b.push_str("</p></section>");
    b.push_str(&page_time(started, p.now));
    refreshing("Sites", &b)
}

pub fn render_site(d: &SiteDetail, started: std::time::Instant) -> String {
    let s = &d.summary;
    let name = url_part(&s.name);
    let mut b = format!(
        "<section id=\"site\"><h2>Site {}</h2><p id=\"site-state\">{}</p><p>{} nodes · <a href=\"#nodes\">{} live</a> · last heartbeat {}</p></section>",
        esc(&s.name),
        state_text(s),
        figure(s.nodes, &format!("site={name}")),
        s.live,
        when(s.last_seen, d.now)
    );
    b.push_str("<section id=\"leaders\"><h2>Who leads which sync</h2><table><tr><th>sync</th><th>leader</th></tr>");
    for l in &s.syncs {
        let _ = write!(
            b,
            "<tr data-sync=\"{0}\"><td>{0}</td><td>{1}</td></tr>",
            esc(&l.sync),
            lead_html(&l.lead)
        );
    }
    b.push_str("</table></section><section id=\"nodes\"><h2>Nodes</h2><table><tr><th>node</th><th>role</th><th>leads</th><th>reads as leader</th><th>status</th><th>last heartbeat</th><th>host rollout it reports</th></tr>");
    for n in &d.node_list {
        let rollout = n.site.host_rollout.as_ref().map_or(String::new(), |r| {
            format!(
                "{} {}revision {} {}",
                r.step.as_str(),
                r.sync
                    .as_deref()
                    .map(|s| format!("{} ", esc(s)))
                    .unwrap_or_default(),
                opt_rev(r.revision),
                r.node.as_deref().map(device_link).unwrap_or_default()
            )
        });
        let _ = write!(
            b,
            "<tr data-node=\"{}\" data-role=\"{}\"><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{rollout}</td></tr>",
            esc(&n.id),
            n.site.role(),
            device_link(&n.id),
            n.site.role(),
            esc(&n.site.leads.join(", ")),
            n.site.leader.as_deref().map(device_link).unwrap_or_default(),
            badge(n.status),
            when(n.last_seen, d.now),
        );
    }
    b.push_str("</table></section>");
    b.push_str(&page_time(started, d.now));
    refreshing(&format!("Site {}", s.name), &b)
}

/// The line of a device page naming its site (empty for a device of no site).
pub fn device_site_line(r: &DeviceReport) -> String {
    let Some(s) = &r.site else {
        return String::new();
    };
    let role = if s.leading {
        format!("leader of {}", esc(&s.leads.join(", ")))
    } else {
        "standby".into()
    };
    format!(
        "<p id=\"site\">node of site {} · {role}</p>",
        site_link(&s.name)
    )
}

async fn sites<S: Store>(State(app): State<Arc<App<S>>>, Query(q): Query<SiteQuery>) -> Response {
    let started = std::time::Instant::now();
    match app.sites_page(&q).await {
        Some(p) => Html(render_sites(&p, &q, started)).into_response(),
        None => unavailable(),
    }
}

async fn site<S: Store>(State(app): State<Arc<App<S>>>, Path(name): Path<String>) -> Response {
    let started = std::time::Instant::now();
    match app.site_detail(&name).await {
        Some(d) => Html(render_site(&d, started)).into_response(),
        None => (
            StatusCode::NOT_FOUND,
            Html(crate::html::page(
                "not found",
                "<p>No device reports this site.</p>",
            )),
        )
            .into_response(),
    }
}

async fn api_sites<S: Store>(
    State(app): State<Arc<App<S>>>,
    Query(q): Query<SiteQuery>,
) -> Response {
    match app.sites_page(&q).await {
        Some(p) => Json(p).into_response(),
        None => unavailable(),
    }
}

async fn api_site<S: Store>(State(app): State<Arc<App<S>>>, Path(name): Path<String>) -> Response {
    match app.site_detail(&name).await {
        Some(d) => Json(d).into_response(),
        None => reject(
            StatusCode::NOT_FOUND,
            "not-found",
            "no device reports this site",
        ),
    }
}

#[cfg(test)]
mod tests {
    use crate::aggregate::sites::SiteQuery;
    use crate::aggregate::Fleet;
    use crate::model::parse_heartbeat;
    use crate::status::Staleness;
    use crate::store::DeviceRow;

    #[test]
    fn device_text_in_a_site_is_escaped_and_every_node_is_a_link() {
        let body = r#"{"schema":"ferry.dev/heartbeat/v1","device":{"id":"n-1"},
            "syncs":[{"name":"apps","health":"healthy"}],
            "site":{"name":"line-3","leading":true,"hostRollout":{"node":"n-1","last":{"state":"stopped",
            "node":"n-1","reason":"<script>alert(1)</script>"}}}}"#;
        let report = parse_heartbeat(body.as_bytes()).unwrap();
        let row = DeviceRow {
            report,
            first_seen: 1,
            last_seen: 1,
        };
        let mut f = Fleet::of(&[row], 1, Staleness::default());
        let list = f.sites_page(&SiteQuery::default(), 1);
        let html = super::render_sites(&list, &SiteQuery::default(), std::time::Instant::now());
        let detail = f.site_detail("line-3", 1).unwrap();
        let page = super::render_site(&detail, std::time::Instant::now());
        for h in [&html, &page] {
            assert!(!h.contains("<script>") && h.contains("&lt;script&gt;"));
            assert!(h.contains("stopped at node <a href=\"/devices/n-1\">n-1</a>"));
        }
        assert!(html.contains("<a class=\"fig\" href=\"/devices?site=line-3\">1</a>"));
        assert!(page
            .contains("<tr data-node=\"n-1\" data-role=\"leader\"><td><a href=\"/devices/n-1\">"));
    }
}
