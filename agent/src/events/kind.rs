//! The kinds of event the agent records: one word each, the same in the `events` table of
//! state.db, in the webhook payloads, in `notifications[].events` and in the metric
//! `ferry_events_total{kind=...}`. The words are part of the wire and the storage format: a
//! test pins every one of them.

/// What happened to a sync (or to the host, for the `host` pseudo-sync).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum EventKind {
    Applied,
    Failed,
    RolledBack,
    Refused,
    DriftDetected,
    DriftCorrected,
    SourceUnreachable,
    Conflict,
    PruneIncomplete,
    Retry,
    HostApplied,
    HostRolledBack,
    HostRollbackFailed,
    HostInterrupted,
    HostHeld,
    SelfUpdate,
    SelfUpdateConfirmed,
    SelfUpdateRolledBack,
    SiteLeading,
    SiteFollowing,
    SiteFenced,
    HostRolloutStopped,
}

impl EventKind {
    /// Every kind, in a fixed order.
    pub const ALL: [EventKind; 22] = [
        EventKind::Applied,
        EventKind::Failed,
        EventKind::RolledBack,
        EventKind::Refused,
        EventKind::DriftDetected,
        EventKind::DriftCorrected,
        EventKind::SourceUnreachable,
        EventKind::Conflict,
        EventKind::PruneIncomplete,
        EventKind::Retry,
        EventKind::HostApplied,
        EventKind::HostRolledBack,
        EventKind::HostRollbackFailed,
        EventKind::HostInterrupted,
        EventKind::HostHeld,
        EventKind::SelfUpdate,
        EventKind::SelfUpdateConfirmed,
        EventKind::SelfUpdateRolledBack,
        EventKind::SiteLeading,
        EventKind::SiteFollowing,
        EventKind::SiteFenced,
        EventKind::HostRolloutStopped,
    ];

    /// The word stored and sent.
    pub fn as_str(self) -> &'static str {
        match self {
            EventKind::Applied => "applied",
            EventKind::Failed => "failed",
            EventKind::RolledBack => "rolled-back",
            EventKind::Refused => "refused",
            EventKind::DriftDetected => "drift-detected",
            EventKind::DriftCorrected => "drift-corrected",
            EventKind::SourceUnreachable => "source-unreachable",
            EventKind::Conflict => "conflict",
            EventKind::PruneIncomplete => "prune-incomplete",
            EventKind::Retry => "retry",
            EventKind::HostApplied => "host-applied",
            EventKind::HostRolledBack => "host-rolled-back",
            EventKind::HostRollbackFailed => "host-rollback-failed",
            EventKind::HostInterrupted => "host-interrupted",
            EventKind::HostHeld => "host-held",
            EventKind::SelfUpdate => "self-update",
            EventKind::SelfUpdateConfirmed => "self-update-confirmed",
            EventKind::SelfUpdateRolledBack => "self-update-rolled-back",
            EventKind::SiteLeading => "site-leading",
            EventKind::SiteFollowing => "site-following",
            EventKind::SiteFenced => "site-fenced",
            EventKind::HostRolloutStopped => "host-rollout-stopped",
        }
    }

    /// The kind a stored or configured word names, if any.
    pub fn parse(word: &str) -> Option<EventKind> {
        EventKind::ALL.into_iter().find(|k| k.as_str() == word)
    }

    /// Logged as a warning (something did not go as published), not as information.
    pub fn is_warning(self) -> bool {
        matches!(
            self,
            EventKind::Failed
                | EventKind::Refused
                | EventKind::RolledBack
                | EventKind::SourceUnreachable
                | EventKind::Conflict
                | EventKind::HostRolledBack
                | EventKind::HostRollbackFailed
                | EventKind::HostInterrupted
                | EventKind::HostHeld
                | EventKind::SelfUpdateRolledBack
                | EventKind::SiteFenced
                | EventKind::HostRolloutStopped
        )
    }
}

impl std::fmt::Display for EventKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The words are stored in state.db and sent to webhooks and the fleet: they never change.
    #[test]
    fn event_kinds_keep_their_wire_and_storage_names() {
        let words: Vec<&str> = EventKind::ALL.iter().map(|k| k.as_str()).collect();
        assert_eq!(
            words,
            [
                "applied",
                "failed",
                "rolled-back",
                "refused",
                "drift-detected",
                "drift-corrected",
                "source-unreachable",
                "conflict",
                "prune-incomplete",
                "retry",
                "host-applied",
                "host-rolled-back",
                "host-rollback-failed",
                "host-interrupted",
                "host-held",
                "self-update",
                "self-update-confirmed",
                "self-update-rolled-back",
                "site-leading",
                "site-following",
                "site-fenced",
                "host-rollout-stopped",
            ]
        );
        for k in EventKind::ALL {
            assert_eq!(EventKind::parse(k.as_str()), Some(k));
        }
        assert_eq!(EventKind::parse("bogus"), None);
    }
}
