//! What the claims of a site's nodes add up to (pure): per sync, the node that leads it, or
//! none, or a conflict; the site's state, worst first: conflict, rollout stopped, leader
//! missing, rollout in progress, nodes not healthy, all healthy.
//!
//! No claim is trusted on its own. Only nodes that are not silent (stale or offline) count.
//! Two nodes that claim the same sync are a **conflict** and neither is shown as its leader.
//! A sole claimant is **unconfirmed** (counted as a missing leader) when other live nodes of
//! the site name someone else (or no one) as the Lease holder they read: a device that joins a
//! site by its own word cannot make itself that site's leader without the site's nodes
//! agreeing.

use super::model::{HostRollout, RolloutState, SiteMembership};
pub use super::state::{SiteState, StateKind};
use crate::status::DeviceStatus;
use serde::Serialize;
use std::collections::BTreeMap;

/// Syncs (and conflicting or leaderless syncs) listed per site; more are counted.
pub const MAX_SHOWN_SYNCS: usize = 32;
/// The key of a site whose nodes report no sync: the site Lease itself.
pub const SITE_LEASE: &str = "(site lease)";

/// One node of a site, as the summary needs it.
#[derive(Debug, Clone, PartialEq)]
pub struct Member<'a> {
    pub id: &'a str,
    pub status: DeviceStatus,
    pub last_seen: i64,
    /// Names of the syncs the node reports.
    pub syncs: Vec<&'a str>,
    pub site: &'a SiteMembership,
}

impl Member<'_> {
    /// Heard from recently enough for its claims to count.
    pub fn live(&self) -> bool {
        !matches!(self.status, DeviceStatus::Stale | DeviceStatus::Offline)
    }
}

/// Who leads one sync of a site.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "lead", rename_all = "kebab-case")]
pub enum Lead {
    /// One live node claims it; `named` of the `others` live nodes read it as the holder.
    Led {
        node: String,
        named: usize,
        others: usize,
    },
    /// One live node claims it, but none of the `others` live nodes names it as the holder.
    Unconfirmed { node: String, others: usize },
    /// No live node claims it.
    Missing,
    /// Several live nodes claim it: none is trusted.
    Conflict { nodes: Vec<String> },
}

/// One sync of a site and who leads it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SyncLead {
    pub sync: String,
    #[serde(flatten)]
    pub lead: Lead,
}

/// A site as the sites list shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct SiteSummary {
    pub name: String,
    pub nodes: usize,
    /// Nodes not stale or offline.
    pub live: usize,
    /// The site's syncs (at most [`MAX_SHOWN_SYNCS`], by name) and who leads each.
    pub syncs: Vec<SyncLead>,
    pub more_syncs: usize,
    pub state: SiteState,
    /// The newest heartbeat of any node.
    pub last_seen: i64,
    /// The rollout state the site's nodes report (the newest revision, the worst state).
    pub host_rollout: Option<HostRollout>,
}

fn unhealthy(s: DeviceStatus) -> bool {
    matches!(
        s,
        DeviceStatus::Offline
            | DeviceStatus::Stale
            | DeviceStatus::Failed
            | DeviceStatus::RolledBack
            | DeviceStatus::Degraded
    )
}

fn capped(v: Vec<String>) -> Vec<String> {
    v.into_iter().take(MAX_SHOWN_SYNCS).collect()
}

/// Summarizes a site from its nodes (any order).
pub fn summarize(name: &str, members: &[Member]) -> SiteSummary {
    let live: Vec<&Member> = members.iter().filter(|m| m.live()).collect();
    let mut claims: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
    for m in members {
        for s in m
            .syncs
            .iter()
            .copied()
            .chain(m.site.leads.iter().map(String::as_str))
        {
            claims.entry(s).or_default();
        }
    }
    let bare = claims.is_empty();
    if bare {
        claims.insert(SITE_LEASE, Vec::new());
    }
    for m in &live {
        if bare && m.site.leading {
            claims.entry(SITE_LEASE).or_default().push(m.id);
        }
        for s in &m.site.leads {
            claims.entry(s.as_str()).or_default().push(m.id);
        }
    }
    let mut syncs = Vec::with_capacity(claims.len());
    let (mut conflicts, mut missing) = (Vec::new(), Vec::new());
    for (sync, mut nodes) in claims {
        nodes.sort_unstable();
        let lead = match nodes.as_slice() {
            [] => Lead::Missing,
            [node] => {
                let others = live.len() - 1;
                let named = live
                    .iter()
                    .filter(|m| m.id != *node && m.site.leader.as_deref() == Some(*node))
                    .count();
                if others > 0 && named == 0 {
                    Lead::Unconfirmed {
                        node: node.to_string(),
                        others,
                    }
                } else {
                    Lead::Led {
                        node: node.to_string(),
                        named,
                        others,
                    }
                }
            }
            many => Lead::Conflict {
                nodes: many.iter().map(|n| n.to_string()).collect(),
            },
        };
        match lead {
            Lead::Conflict { .. } => conflicts.push(sync.to_string()),
            Lead::Missing | Lead::Unconfirmed { .. } => missing.push(sync.to_string()),
            Lead::Led { .. } => {}
        }
        syncs.push(SyncLead {
            sync: sync.to_string(),
            lead,
        });
    }
    let more_syncs = syncs.len().saturating_sub(MAX_SHOWN_SYNCS);
    syncs.truncate(MAX_SHOWN_SYNCS);
    // The newest revision any node reports, and at it the worst state.
    let host_rollout = members
        .iter()
        .filter_map(|m| m.site.host_rollout.as_ref())
        .max_by_key(|r| (r.revision, r.state))
        .cloned();
    let sick = members.iter().filter(|m| unhealthy(m.status)).count();
    let state = match (&host_rollout, sick) {
        _ if !conflicts.is_empty() => SiteState::Conflict {
            syncs: capped(conflicts),
        },
        (Some(r), _) if r.state == RolloutState::Stopped => SiteState::RolloutStopped {
            node: r.node.clone(),
            revision: r.revision,
            reason: r.reason.clone(),
        },
        _ if !missing.is_empty() => SiteState::LeaderMissing {
            syncs: capped(missing),
        },
        (Some(r), _) if r.state == RolloutState::InProgress => SiteState::RolloutInProgress {
            node: r.node.clone(),
            revision: r.revision,
        },
        (_, 0) => SiteState::Healthy,
        (_, n) => SiteState::Degraded { nodes: n },
    };
    SiteSummary {
        name: name.to_string(),
        nodes: members.len(),
        live: live.len(),
        syncs,
        more_syncs,
        state,
        last_seen: members.iter().map(|m| m.last_seen).max().unwrap_or(0),
        host_rollout,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn site(leading: bool, leader: Option<&str>, leads: &[&str]) -> SiteMembership {
        SiteMembership {
            name: "line-3".into(),
            lease: None,
            leader: leader.map(String::from),
            leading,
            leads: leads.iter().map(|s| s.to_string()).collect(),
            host_rollout: None,
        }
    }

    fn member<'a>(id: &'a str, status: DeviceStatus, site: &'a SiteMembership) -> Member<'a> {
        Member {
            id,
            status,
            last_seen: 100,
            syncs: vec!["apps"],
            site,
        }
    }

    #[test]
    fn one_leader_named_by_its_standbys_is_all_healthy() {
        let (l, s) = (
            site(true, Some("n-1"), &["apps"]),
            site(false, Some("n-1"), &[]),
        );
        let ok = DeviceStatus::Healthy;
        let m = [
            member("n-1", ok, &l),
            member("n-2", ok, &s),
            member("n-3", ok, &s),
        ];
        let sum = summarize("line-3", &m);
        assert_eq!(sum.state, SiteState::Healthy);
        assert_eq!(
            sum.syncs[0].lead,
            Lead::Led {
                node: "n-1".into(),
                named: 2,
                others: 2
            }
        );
        // A standby offline: nodes not healthy; the leader offline: leader missing.
        let m2 = [
            member("n-1", ok, &l),
            member("n-2", ok, &s),
            member("n-3", DeviceStatus::Offline, &s),
        ];
        assert_eq!(
            summarize("line-3", &m2).state,
            SiteState::Degraded { nodes: 1 }
        );
        let m3 = [
            member("n-1", DeviceStatus::Stale, &l),
            member("n-2", ok, &s),
        ];
        assert_eq!(
            summarize("line-3", &m3).state,
            SiteState::LeaderMissing {
                syncs: vec!["apps".into()]
            }
        );
    }

    #[test]
    fn two_claimants_are_a_conflict_and_a_lone_claim_needs_the_site() {
        let ok = DeviceStatus::Healthy;
        let (l1, l2, s) = (
            site(true, Some("n-1"), &["apps"]),
            site(true, Some("x-9"), &["apps"]),
            site(false, Some("n-1"), &[]),
        );
        let m = [
            member("n-1", ok, &l1),
            member("x-9", ok, &l2),
            member("n-2", ok, &s),
        ];
        let sum = summarize("line-3", &m);
        assert_eq!(
            sum.state,
            SiteState::Conflict {
                syncs: vec!["apps".into()]
            }
        );
        assert_eq!(
            sum.syncs[0].lead,
            Lead::Conflict {
                nodes: vec!["n-1".into(), "x-9".into()]
            }
        );
        // The real leader silent: the intruder is alone, but no node of the site names it.
        let m = [
            member("n-1", DeviceStatus::Offline, &l1),
            member("x-9", ok, &l2),
            member("n-2", ok, &s),
        ];
        let sum = summarize("line-3", &m);
        assert_eq!(
            sum.syncs[0].lead,
            Lead::Unconfirmed {
                node: "x-9".into(),
                others: 1
            }
        );
        assert_eq!(sum.state.kind(), StateKind::LeaderMissing);
        // A lone node leads without anyone to confirm it.
        let m = [member("n-1", ok, &l1)];
        assert_eq!(summarize("line-3", &m).state, SiteState::Healthy);
    }

    #[test]
    fn a_stopped_host_rollout_names_its_node_and_outranks_a_missing_leader() {
        let ok = DeviceStatus::Healthy;
        let mut a = site(true, Some("n-1"), &["apps"]);
        let mut b = site(false, Some("n-1"), &[]);
        let run = |state, node: &str, revision| HostRollout {
            step: super::super::model::RolloutStep::Stopped,
            state,
            sync: None,
            revision: Some(revision),
            node: Some(node.into()),
            reason: None,
        };
        a.host_rollout = Some(run(RolloutState::InProgress, "n-2", 5));
        b.host_rollout = Some(run(RolloutState::Done, "n-3", 4));
        let m = [
            member("n-1", ok, &a),
            member("n-2", DeviceStatus::Stale, &b),
        ];
        assert_eq!(
            summarize("line-3", &m).state,
            SiteState::RolloutInProgress {
                node: Some("n-2".into()),
                revision: Some(5)
            },
            "a node restarting during a rollout is the rollout"
        );
        b.host_rollout = Some(run(RolloutState::Stopped, "n-2", 5));
        let m = [
            member("n-1", DeviceStatus::Offline, &a),
            member("n-2", ok, &b),
        ];
        let st = summarize("line-3", &m).state;
        assert_eq!(st.kind(), StateKind::RolloutStopped);
        assert!(matches!(st, SiteState::RolloutStopped { node: Some(n), .. } if n == "n-2"));
        // No syncs at all: the site Lease is what is led.
        let bare = site(false, None, &[]);
        let lone = Member {
            syncs: vec![],
            ..member("n-1", ok, &bare)
        };
        let sum = summarize("line-3", &[lone]);
        assert_eq!(
            (sum.syncs[0].sync.as_str(), &sum.syncs[0].lead),
            (SITE_LEASE, &Lead::Missing)
        );
    }
}
