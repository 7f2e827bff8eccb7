//! Server-rendered SVG plots (pure): the rollout of each sync over the last day (share of
//! devices per applied revision, per 15 minutes) and heartbeats and failures over the last
//! day. Plain SVG elements and presentation attributes (no script, no inline style), every
//! device-supplied text escaped.

use crate::aggregate::history::{Bucket, BUCKET, BUCKETS};
use crate::html::{esc, opt_rev};
use std::fmt::Write;

const W: f64 = 960.0;
const H: f64 = 120.0;
/// Colours of revisions, newest first; older ones share the last.
const COLOURS: [&str; 6] = [
    "#2f855a", "#3182ce", "#d69e2e", "#805ad5", "#dd6b20", "#a0aec0",
];

fn x_of(start: i64, now_bucket: i64) -> f64 {
    let first = now_bucket - BUCKET * (BUCKETS as i64 - 1);
    (start - first) as f64 / BUCKET as f64 * (W / BUCKETS as f64)
}

fn frame(id: &str, label: &str, inner: &str) -> String {
    format!(
        "<svg class=\"plot\" id=\"{id}\" role=\"img\" aria-label=\"{}\" viewBox=\"0 0 {W} {}\" \
preserveAspectRatio=\"none\"><rect x=\"0\" y=\"0\" width=\"{W}\" height=\"{H}\" fill=\"#f4f5f7\"/>{inner}\
<text x=\"2\" y=\"{}\" font-size=\"10\" fill=\"#667\">24h ago</text>\
<text x=\"{}\" y=\"{}\" font-size=\"10\" fill=\"#667\" text-anchor=\"end\">now</text></svg>",
        esc(label),
        H + 14.0,
        H + 11.0,
        W - 2.0,
        H + 11.0
    )
}

/// The share of devices per applied revision of `sync` over the last day: one stacked column
/// per bucket, newest revision at the bottom.
pub fn rollout(sync: &str, history: &[Bucket], now: i64) -> String {
    let now_bucket = now - now.rem_euclid(BUCKET);
    let mut revs: Vec<Option<u64>> = history
        .iter()
        .filter_map(|b| b.shares.get(sync))
        .flat_map(|s| s.top.iter().map(|(r, _)| *r))
        .collect();
    revs.sort_unstable_by(|a, b| b.cmp(a));
    revs.dedup();
    let colour = |r: Option<u64>| {
        let i = revs
            .iter()
            .position(|x| *x == r)
            .unwrap_or(COLOURS.len() - 1);
        COLOURS[i.min(COLOURS.len() - 1)]
    };
    let col = W / BUCKETS as f64;
    let mut inner = String::new();
    for b in history {
        let Some(s) = b.shares.get(sync).filter(|s| s.total > 0) else {
            continue;
        };
        let x = x_of(b.start, now_bucket);
        let mut y = H;
        let shown: usize = s.top.iter().map(|(_, n)| n).sum();
        let other = s.total.saturating_sub(shown);
        let parts = s
            .top
            .iter()
            .map(|(r, n)| (Some(*r), *n))
            .chain([(None, other)]);
        for (rev, n) in parts.filter(|(_, n)| *n > 0) {
            let h = n as f64 / s.total as f64 * H;
            y -= h;
            let (fill, what) = match rev {
                Some(r) => (colour(r), format!("revision {}", opt_rev(r))),
                None => (COLOURS[COLOURS.len() - 1], "other revisions".to_string()),
            };
            let _ = write!(
                inner,
                "<rect x=\"{x:.1}\" y=\"{y:.1}\" width=\"{:.1}\" height=\"{h:.1}\" fill=\"{fill}\"><title>{}: {what}, {n} of {} devices</title></rect>",
                col.max(1.0),
                crate::html::when(b.start, now),
                s.total
            );
        }
    }
    let mut legend = String::new();
    for r in revs.iter().take(COLOURS.len() - 1) {
        let _ = write!(
            legend,
            "<span class=\"key\"><svg width=\"10\" height=\"10\"><rect width=\"10\" height=\"10\" fill=\"{}\"/></svg> revision {}</span>",
            colour(*r),
            opt_rev(*r)
        );
    }
    format!(
        "{}<p class=\"legend\">{legend}</p>",
        frame(
            &format!("rollout-{}", crate::html::url_part(sync)),
            &format!("rollout of {sync} over the last day"),
            &inner
        )
    )
}

/// Heartbeats (blue) and heartbeats reporting a failed or rolled-back sync (red) per bucket.
pub fn activity(history: &[Bucket], now: i64) -> String {
    let now_bucket = now - now.rem_euclid(BUCKET);
    let max = history
        .iter()
        .map(|b| b.heartbeats)
        .max()
        .unwrap_or(0)
        .max(1);
    let col = W / BUCKETS as f64;
    let mut inner = String::new();
    for b in history {
        let x = x_of(b.start, now_bucket);
        for (n, class, fill, what) in [
            (b.heartbeats, "heartbeats", "#3182ce", "heartbeats"),
            (b.failing, "failures", "#c53030", "reporting a failure"),
        ] {
            if n == 0 {
                continue;
            }
            let h = n as f64 / max as f64 * (H - 12.0);
            let _ = write!(
                inner,
                "<rect class=\"{class}\" x=\"{x:.1}\" y=\"{:.1}\" width=\"{:.1}\" height=\"{h:.1}\" fill=\"{fill}\"><title>{}: {n} {what}</title></rect>",
                H - h,
                (col - 1.0).max(1.0),
                crate::html::when(b.start, now)
            );
        }
    }
    let _ = write!(
        inner,
        "<text x=\"2\" y=\"10\" font-size=\"10\" fill=\"#667\">{max} per 15 min</text>"
    );
    frame(
        "activity",
        "heartbeats and failures over the last day",
        &inner,
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::aggregate::history::Shares;

    #[test]
    fn plots_escape_names_and_scale_to_the_frame() {
        let mut b = Bucket {
            start: 9000,
            heartbeats: 10,
            failing: 2,
            ..Bucket::default()
        };
        b.shares.insert(
            "<apps>".into(),
            Shares {
                total: 4,
                top: vec![(Some(2), 3), (Some(1), 1)],
            },
        );
        let svg = rollout("<apps>", &[b.clone()], 9000);
        assert!(!svg.contains("<apps>") && svg.contains("&lt;apps&gt;"));
        assert!(svg.contains("3 of 4 devices") && svg.contains("revision 2"));
        let a = activity(&[b], 9000);
        assert!(a.contains("10 heartbeats") && a.contains("2 reporting a failure"));
        assert!(!a.contains("style="));
    }
}
