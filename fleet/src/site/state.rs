//! A site's state and its kinds, worst first: conflict, rollout stopped, leader missing,
//! rollout in progress, nodes not healthy, all healthy (how [`super::summary`] decides).

use serde::Serialize;

/// The state of a site (see the module docs for the order).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "state", rename_all = "kebab-case")]
pub enum SiteState {
    Conflict {
        syncs: Vec<String>,
    },
    RolloutStopped {
        node: Option<String>,
        revision: Option<u64>,
        reason: Option<String>,
    },
    LeaderMissing {
        syncs: Vec<String>,
    },
    RolloutInProgress {
        node: Option<String>,
        revision: Option<u64>,
    },
    /// Nodes that are offline, stale, failed, rolled back or degraded.
    Degraded {
        nodes: usize,
    },
    Healthy,
}

/// The kind of a [`SiteState`], worst first (the sites list filters and counts by these).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum StateKind {
    Conflict,
    RolloutStopped,
    LeaderMissing,
    RolloutInProgress,
    Degraded,
    Healthy,
}

impl StateKind {
    pub const ALL: [StateKind; 6] = [
        StateKind::Conflict,
        StateKind::RolloutStopped,
        StateKind::LeaderMissing,
        StateKind::RolloutInProgress,
        StateKind::Degraded,
        StateKind::Healthy,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            StateKind::Conflict => "conflict",
            StateKind::RolloutStopped => "rollout-stopped",
            StateKind::LeaderMissing => "leader-missing",
            StateKind::RolloutInProgress => "rollout-in-progress",
            StateKind::Degraded => "degraded",
            StateKind::Healthy => "healthy",
        }
    }

    /// The words the pages show.
    pub fn title(self) -> &'static str {
        match self {
            StateKind::Conflict => "conflict",
            StateKind::RolloutStopped => "rollout stopped",
            StateKind::LeaderMissing => "leader missing",
            StateKind::RolloutInProgress => "rollout in progress",
            StateKind::Degraded => "nodes not healthy",
            StateKind::Healthy => "all healthy",
        }
    }

    /// The badge colour class (the stylesheet's status classes).
    pub fn class(self) -> &'static str {
        match self {
            StateKind::Conflict => "failed",
            StateKind::RolloutStopped => "rolled-back",
            StateKind::LeaderMissing => "stale",
            StateKind::RolloutInProgress => "progressing",
            StateKind::Degraded => "degraded",
            StateKind::Healthy => "healthy",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|k| k.as_str() == s)
    }
}

impl SiteState {
    pub fn kind(&self) -> StateKind {
        match self {
            SiteState::Conflict { .. } => StateKind::Conflict,
            SiteState::RolloutStopped { .. } => StateKind::RolloutStopped,
            SiteState::LeaderMissing { .. } => StateKind::LeaderMissing,
            SiteState::RolloutInProgress { .. } => StateKind::RolloutInProgress,
            SiteState::Degraded { .. } => StateKind::Degraded,
            SiteState::Healthy => StateKind::Healthy,
        }
    }
}
