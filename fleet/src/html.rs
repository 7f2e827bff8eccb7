//! HTML building blocks (pure): escaping, the page frame, status badges, times and URL parts.
//! Every text that came from a device goes through [`esc`] (device ids, labels, errors and
//! messages are attacker-controlled).

use crate::status::DeviceStatus;
use std::fmt::Write;

/// Escapes text for HTML element content and quoted attribute values.
pub fn esc(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// Percent-encodes a path segment or query value (everything but unreserved characters).
pub fn url_part(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
            out.push(b as char);
        } else {
            let _ = write!(out, "%{b:02X}");
        }
    }
    out
}

/// Ids longer than this many characters are shown cut, with the full id on hover.
pub const SHOWN_ID: usize = 32;

/// A device id as text: cut to [`SHOWN_ID`] characters (full id in the title).
pub fn device_text(id: &str) -> String {
    if id.chars().count() <= SHOWN_ID {
        return esc(id);
    }
    let cut: String = id.chars().take(SHOWN_ID - 1).collect();
    format!("<span title=\"{}\">{}…</span>", esc(id), esc(&cut))
}

/// A device link.
pub fn device_link(id: &str) -> String {
    format!(
        "<a href=\"/devices/{}\">{}</a>",
        url_part(id),
        device_text(id)
    )
}

pub fn badge(s: DeviceStatus) -> String {
    format!(
        "<span class=\"badge {0}\" data-status=\"{0}\">{0}</span>",
        s.as_str()
    )
}

/// `2026-11-22T10:00:00Z (5m ago)`.
pub fn when(t: i64, now: i64) -> String {
    let stamp = humantime::format_rfc3339_seconds(
        std::time::UNIX_EPOCH + std::time::Duration::from_secs(t.max(0) as u64),
    );
    let ago = now.saturating_sub(t).max(0) as u64;
    format!("{stamp} ({} ago)", short_duration(ago))
}

pub fn short_duration(s: u64) -> String {
    match s {
        s if s < 120 => format!("{s}s"),
        s if s < 7200 => format!("{}m", s / 60),
        s if s < 172800 => format!("{}h", s / 3600),
        s => format!("{}d", s / 86400),
    }
}

pub fn opt_rev(r: Option<u64>) -> String {
    r.map(|r| r.to_string()).unwrap_or_else(|| "–".into())
}

const STYLE: &str = "
body{font-family:'DejaVu Sans',sans-serif;margin:0;background:#f4f5f7;color:#1d2430}
header{background:#1d2430;color:#fff;padding:10px 20px;display:flex;gap:24px;align-items:center}
header a{color:#cfe3ff;text-decoration:none}header h1{font-size:18px;margin:0}
main{padding:16px 20px}section{background:#fff;border-radius:6px;padding:12px 16px;margin-bottom:16px;box-shadow:0 1px 2px #0002}
h2{font-size:16px;margin:0 0 10px}table{border-collapse:collapse;width:100%;font-size:13px}
th,td{text-align:left;padding:4px 8px;border-bottom:1px solid #e3e6ea;vertical-align:top}
.tiles{display:flex;flex-wrap:wrap;gap:10px}.tile{display:block;min-width:110px;padding:10px 14px;border-radius:6px;color:#fff;text-decoration:none}
.tile b{display:block;font-size:26px}.badge{padding:1px 7px;border-radius:9px;color:#fff;font-size:12px}
.offline{background:#4a4f57}.stale{background:#b7791f}.failed{background:#c53030}.degraded{background:#dd6b20}
.rolled-back{background:#9b2c2c}.progressing{background:#3182ce}.waiting{background:#2b6cb0}.suspended{background:#6b46c1}.never-synced{background:#718096}.healthy{background:#2f855a}
svg.bar{display:block;width:100%;height:14px;border-radius:4px;background:#e3e6ea;min-width:200px}
rect.offline{fill:#4a4f57}rect.healthy{fill:#2f855a}rect.failed{fill:#c53030}rect.waiting{fill:#2b6cb0}rect.never-synced{fill:#718096}
.err{color:#9b2c2c;font-family:'DejaVu Sans Mono',monospace;font-size:12px;white-space:pre-wrap;word-break:break-word}
.muted{color:#667}form.filters{display:flex;gap:8px;margin-bottom:10px;flex-wrap:wrap}
.pages a,.pages b{margin-right:6px}
a.fig{font-weight:bold;color:#1d4f91}a.badge{text-decoration:none;display:inline-block;margin:2px 0}
svg.plot{display:block;width:100%;height:140px;margin:6px 0}.legend{font-size:12px;margin:2px 0 8px}.key{margin-right:12px}
div.sync{border-top:1px solid #e3e6ea;padding-top:6px}
#sites td:first-child,#sites td:nth-child(2),#sites td:last-child{white-space:nowrap}
";

/// `GET /style.css`: the one stylesheet (no inline styles: the CSP allows none).
pub async fn stylesheet() -> axum::response::Response {
    use axum::response::IntoResponse;
    (
        [(axum::http::header::CONTENT_TYPE, "text/css; charset=utf-8")],
        STYLE,
    )
        .into_response()
}

/// Content Security Policy of every answer: nothing but our own stylesheet; no script at all
/// (no inline script, no inline style), no framing, forms only to ourselves.
pub const CSP: &str = "default-src 'none'; style-src 'self'; img-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'";

/// Adds the security headers to every answer (pages, API, ingest, errors).
pub async fn security_headers(mut resp: axum::response::Response) -> axum::response::Response {
    use axum::http::header::{self, HeaderValue};
    let h = resp.headers_mut();
    for (name, value) in [
        (header::CONTENT_SECURITY_POLICY, CSP),
        (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
        (header::X_FRAME_OPTIONS, "DENY"),
        (header::REFERRER_POLICY, "no-referrer"),
        (header::CACHE_CONTROL, "no-store"),
        (
            header::HeaderName::from_static("cross-origin-opener-policy"),
            "same-origin",
        ),
    ] {
        h.insert(name, HeaderValue::from_static(value));
    }
    resp
}

/// The page frame around `body`.
pub fn page(title: &str, body: &str) -> String {
    format!(
        "<!DOCTYPE html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>{} · ferry fleet</title>\
<meta name=\"viewport\" content=\"width=device-width\"><link rel=\"stylesheet\" href=\"/style.css\"></head><body>\
<header><h1>ferry fleet</h1><a href=\"/\">Overview</a><a href=\"/devices\">Devices</a><a href=\"/sites\">Sites</a>\
<a href=\"/api/overview\">JSON</a><a href=\"/logout\">Sign out</a></header><main>{body}</main></body></html>",
        esc(title)
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_markup_and_urls() {
        assert_eq!(
            esc("<script>\"x\"&'"),
            "&lt;script&gt;&quot;x&quot;&amp;&#39;"
        );
        assert_eq!(url_part("a b/<c>"), "a%20b%2F%3Cc%3E");
        assert!(!device_link("<img src=x onerror=alert(1)>").contains("<img"));
    }
}
