//! Back-off of a failing host update (pure): a host section that failed and was rolled back is
//! not installed again before its hold ends. The first hold lasts the sync's
//! `failedRevisionBackoff`, each further failure of the same revision and section doubles it (at
//! most a day, like held revisions of manifests); a newer revision, another host section, or
//! `ferry-agent retry` lifts it. The IO shell ([`super::apply_for_sync`]) reads and stores the
//! hold and takes `now` from the agent's clock.

use crate::store::host_journal::HostHold;
use crate::store::live::MAX_HOLD;
use ferry_bundle::host::HostSection;
use std::time::Duration;

/// The sha256 of a host section as signed (its JSON form): what a hold is about.
pub fn section_digest(section: &HostSection) -> String {
    let json = serde_json::to_vec(section).unwrap_or_default();
    ferry_bundle::digest::sha256_hex(&json)
}

/// Whether `held` keeps `revision` (with host section `digest`) back at `now`.
pub fn holds<'a>(
    held: Option<&'a HostHold>,
    revision: u64,
    digest: &str,
    now: i64,
) -> Option<&'a HostHold> {
    held.filter(|h| h.revision == revision && h.digest == digest && now < h.until)
}

/// The hold after `revision` (section `digest`) failed with `error` at `now`: one more failure
/// of the same revision and section doubles the previous wait, anything else starts at `base`.
pub fn after_failure(
    previous: Option<&HostHold>,
    revision: u64,
    digest: &str,
    error: &str,
    base: Duration,
    now: i64,
) -> HostHold {
    let failures = match previous {
        Some(p) if p.revision == revision && p.digest == digest => p.failures.saturating_add(1),
        _ => 1,
    };
    let wait = base
        .saturating_mul(1u32 << failures.saturating_sub(1).min(16))
        .min(MAX_HOLD);
    HostHold {
        revision,
        digest: digest.to_string(),
        failures,
        until: now.saturating_add(wait.as_secs().min(i64::MAX as u64) as i64),
        error: ferry_bundle::text::bounded(error, 2000),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MIN: Duration = Duration::from_secs(60);

    #[test]
    fn each_failure_of_the_same_section_doubles_the_wait_up_to_a_day() {
        let h1 = after_failure(None, 4, "s", "unhealthy", MIN, 1000);
        assert_eq!((h1.failures, h1.until), (1, 1060));
        let h2 = after_failure(Some(&h1), 4, "s", "unhealthy", MIN, 1060);
        assert_eq!((h2.failures, h2.until), (2, 1180));
        let h3 = after_failure(Some(&h2), 4, "s", "unhealthy", MIN, 1180);
        assert_eq!((h3.failures, h3.until), (3, 1420));
        let mut h = h3;
        for _ in 0..20 {
            h = after_failure(Some(&h), 4, "s", "unhealthy", MIN, 0);
        }
        assert_eq!(h.until, MAX_HOLD.as_secs() as i64);
        // A newer revision (or another section) starts over.
        assert_eq!(after_failure(Some(&h), 5, "s", "x", MIN, 0).failures, 1);
        assert_eq!(after_failure(Some(&h), 4, "t", "x", MIN, 0).failures, 1);
    }

    #[test]
    fn a_hold_keeps_back_only_its_revision_and_section_until_it_ends() {
        let h = after_failure(None, 4, "s", "unhealthy", MIN, 1000);
        assert!(holds(Some(&h), 4, "s", 1000).is_some());
        assert!(holds(Some(&h), 4, "s", 1059).is_some());
        assert!(holds(Some(&h), 4, "s", 1060).is_none(), "the hold ended");
        assert!(holds(Some(&h), 5, "s", 1000).is_none(), "a newer revision");
        assert!(holds(Some(&h), 4, "t", 1000).is_none(), "another section");
        assert!(holds(None, 4, "s", 1000).is_none());
    }

    #[test]
    fn error_text_is_bounded_and_escaped() {
        let h = after_failure(None, 1, "s", &"x\n".repeat(5000), MIN, 0);
        assert!(h.error.len() < 2100 && !h.error.contains('\n'));
    }
}
