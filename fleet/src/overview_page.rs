//! The overview page (`/`), rendered from [`Overview`]: every figure links to the device
//! table filtered to the devices behind it (status, sync, applied revision, sync state, error
//! group, label), labels grouped (site, region, ...), the plots, the time the page took, and a
//! refresh every [`REFRESH_SECONDS`] (a meta refresh: no script).

use crate::html::{device_link, esc, opt_rev, url_part, when};
use crate::views::{Overview, SyncRollout};
use std::fmt::Write;

/// The overview and device table reload themselves this often.
pub const REFRESH_SECONDS: u32 = 30;

/// A figure linking to the device table with `query` (parts already encoded).
pub fn figure(n: impl std::fmt::Display, query: &str) -> String {
    format!("<a class=\"fig\" href=\"/devices?{query}\">{n}</a>")
}

/// The page frame with a meta refresh.
pub fn refreshing(title: &str, body: &str) -> String {
    crate::html::page(title, body).replacen(
        "<meta charset=\"utf-8\">",
        &format!(
            "<meta charset=\"utf-8\"><meta http-equiv=\"refresh\" content=\"{REFRESH_SECONDS}\">"
        ),
        1,
    )
}

/// "computed in 1.3 ms at ..., refreshes every 30 s".
pub fn page_time(started: std::time::Instant, now: i64) -> String {
    format!(
        "<p class=\"muted\" id=\"page-time\">computed in {:.1} ms at {} · refreshes every {REFRESH_SECONDS} s</p>",
        started.elapsed().as_secs_f64() * 1000.0,
        when(now, now)
    )
}

/// The rollout bar: an SVG of rectangles (attributes, not inline styles, so the CSP holds).
fn rollout_bar(s: &SyncRollout) -> String {
    let total = (s.devices + s.without_sync).max(1) as f64;
    let mut x = 0.0;
    let mut rects = String::new();
    for (n, class, what) in [
        (s.applied, "healthy", "applied"),
        (s.offline, "offline", "offline"),
        (s.pending, "failed", "pending"),
        (s.waiting_for_wave, "waiting", "waiting for wave"),
        (s.not_seen, "never-synced", "not seen"),
    ] {
        let w = n as f64 * 100.0 / total;
        let _ = write!(
            rects,
            "<rect class=\"{class}\" x=\"{x:.2}%\" y=\"0\" width=\"{w:.2}%\" height=\"100%\"><title>{n} {what}</title></rect>"
        );
        x += w;
    }
    format!("<svg class=\"bar\" role=\"img\">{rects}</svg>")
}

fn sync_section(b: &mut String, s: &SyncRollout, o: &Overview) {
    let sync = url_part(&s.sync);
    let rev = |r: Option<u64>| r.map_or("none".to_string(), |r| r.to_string());
    let target = format!("sync={sync}&amp;revision={}", rev(s.target));
    let _ = write!(
        b,
        "<div class=\"sync\" data-sync=\"{}\"><h3>{} <span class=\"muted\">newest verified revision {} · {} devices</span></h3>{}\
<p>applied {} · offline {} · in the wave but not applied {} · <b>outside the wave (waiting for wave) {}</b> · not verified yet {} · without this sync {}</p><p class=\"states\">",
        esc(&s.sync),
        esc(&s.sync),
        opt_rev(s.target),
        figure(s.devices, &format!("sync={sync}")),
        rollout_bar(s),
        figure(s.applied, &target),
        figure(s.offline, &format!("sync={sync}&amp;state=offline")),
        figure(s.pending, &format!("sync={sync}&amp;sort=revision")),
        figure(s.waiting_for_wave, &format!("sync={sync}&amp;state=waiting")),
        figure(s.not_seen, &format!("sync={sync}&amp;sort=revision")),
        s.without_sync
    );
    for t in &s.states {
        let st = t.status.as_str();
        let _ = write!(
            b,
            "<a class=\"badge {st}\" data-state=\"{st}\" href=\"/devices?sync={sync}&amp;state={st}\">{} {st}</a> ",
            t.devices
        );
    }
    b.push_str("</p>");
    b.push_str(&crate::plots::rollout(&s.sync, &o.history, o.now));
    b.push_str("<table><tr><th>applied revision</th><th>highest verified</th><th>devices</th><th></th></tr>");
    for r in &s.revisions {
        let note = match (r.applied, r.highest_verified) {
            (a, Some(h)) if a < Some(h) => {
                "behind its verified revision (waiting for wave or failing)"
            }
            _ => "",
        };
        let _ = write!(
            b,
            "<tr><td>{}</td><td>{}</td><td>{}</td><td class=\"muted\">{note}</td></tr>",
            opt_rev(r.applied),
            opt_rev(r.highest_verified),
            figure(
                r.devices,
                &format!("sync={sync}&amp;revision={}", rev(r.applied))
            )
        );
    }
    if s.more_revisions > 0 {
        let _ = write!(
            b,
            "<tr><td colspan=\"4\" class=\"muted\">{} more (fewer devices each)</td></tr>",
            s.more_revisions
        );
    }
    b.push_str("</table></div>");
}

pub fn render_overview(o: &Overview, started: std::time::Instant) -> String {
    let mut b = String::new();
    let _ = write!(
        b,
        "<section id=\"tiles\"><h2>{} devices</h2><div class=\"tiles\">",
        figure(o.devices, "")
    );
    for t in &o.tiles {
        let _ = write!(
            b,
            "<a class=\"tile {0}\" data-status=\"{0}\" href=\"/devices?status={0}\"><b>{1}</b>{0}</a>",
            t.status.as_str(),
            t.devices
        );
    }
    b.push_str("</div></section><section id=\"activity-plot\"><h2>Heartbeats and failures, last 24 hours</h2>");
    b.push_str(&crate::plots::activity(&o.history, o.now));
    b.push_str("</section><section id=\"syncs\"><h2>Rollout per sync</h2>");
    for s in &o.syncs {
        sync_section(&mut b, s, o);
    }
    if o.unlisted_syncs > 0 {
        let _ = write!(
            b,
            "<p class=\"muted\">{} more syncs (fewer devices each) are not listed.</p>",
            o.unlisted_syncs
        );
    }
    b.push_str("</section><section id=\"errors\"><h2>Top errors</h2><table><tr><th>sync</th><th>devices</th><th>error</th><th>e.g.</th></tr>");
    for e in &o.top_errors {
        let _ = write!(
            b,
            "<tr class=\"error-group\"><td>{}</td><td>{}</td><td class=\"err\">{}</td><td>{}</td></tr>",
            esc(&e.sync),
            figure(e.devices, &format!("sync={}&amp;error={}", url_part(&e.sync), url_part(&e.key))),
            esc(&e.error),
            device_link(&e.example_device)
        );
    }
    b.push_str("</table></section><section id=\"labels\"><h2>By label</h2>");
    for g in &o.labels {
        let _ = write!(b, "<h3>{} <span class=\"muted\">{} devices</span></h3><table><tr><th>{}</th><th>devices</th><th>status</th></tr>", esc(&g.key), g.devices, esc(&g.key));
        for v in &g.values {
            let label = url_part(&format!("{}={}", g.key, v.value));
            let _ = write!(
                b,
                "<tr data-label=\"{}\"><td>{}</td><td>{}</td><td>",
                esc(&v.value),
                esc(&v.value),
                figure(v.devices, &format!("label={label}"))
            );
            for t in &v.statuses {
                let st = t.status.as_str();
                let _ = write!(b, "<a class=\"badge {st}\" href=\"/devices?label={label}&amp;status={st}\">{} {st}</a> ", t.devices);
            }
            b.push_str("</td></tr>");
        }
        if g.more_values > 0 {
            let _ = write!(
                b,
                "<tr><td colspan=\"3\" class=\"muted\">{} more values</td></tr>",
                g.more_values
            );
        }
        b.push_str("</table>");
    }
    b.push_str("</section><section id=\"recent\"><h2>Recent drift corrections and rollbacks</h2><table><tr><th>received</th><th>device</th><th>sync</th><th>kind</th><th>message</th></tr>");
    for e in &o.recent {
        let _ = write!(
            b,
            "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td class=\"err\">{}</td></tr>",
            when(e.event.received, o.now),
            if e.known_device {
                device_link(&e.event.event.device)
            } else {
                format!(
                    "{} <span class=\"muted\">(no heartbeat yet)</span>",
                    crate::html::device_text(&e.event.event.device)
                )
            },
            esc(&e.event.event.sync),
            esc(&e.event.event.kind),
            esc(&e.event.event.message)
        );
    }
    let _ = write!(b, "</table></section><section id=\"unreachable\"><h2>Unreachable sources ({})</h2><table><tr><th>device</th><th>sync</th><th>since</th></tr>", o.unreachable_total);
    for u in &o.unreachable {
        let _ = write!(
            b,
            "<tr><td>{}</td><td>{}</td><td>{}</td></tr>",
            device_link(&u.device),
            esc(&u.sync),
            esc(u.since.as_deref().unwrap_or("?"))
        );
    }
    let _ = write!(b, "</table></section><section id=\"outbox\"><h2>Outbox drops ({} messages)</h2><table><tr><th>device</th><th>dropped</th></tr>", o.outbox_dropped_total);
    for d in &o.outbox_drops {
        let _ = write!(
            b,
            "<tr><td>{}</td><td>{}</td></tr>",
            device_link(&d.device),
            d.dropped
        );
    }
    b.push_str("</table></section>");
    b.push_str(&page_time(started, o.now));
    refreshing("Overview", &b)
}
