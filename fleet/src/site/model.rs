//! The heartbeat's optional `site` field, parsed and bounded (pure): the site the device is a
//! node of, whether it leads (holds the site Lease) and which syncs it leads, the holder it
//! read from the Lease, and an optional host rollout state. Everything is a claim of the
//! sending device: the checks here keep the claim about the device itself (it leads only
//! syncs it runs, only in the site it names, and never on another node's behalf); what the
//! claims of several nodes add up to is decided in [`super::summary`].

use crate::model::{SyncReport, MAX_REVISION, MAX_SYNCS};
use crate::safe::{checked_id, field, id, line, PayloadError};
use serde::{Deserialize, Serialize};

/// Most nodes one site holds (a heartbeat that would make a site larger is refused).
pub const MAX_SITE_NODES: usize = 64;
/// Longest host rollout `reason` kept (longer ones are cut).
pub const MAX_REASON: usize = 256;

/// The wire shape of `site` (unknown fields are ignored, as everywhere in v1).
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct WireSite {
    name: String,
    lease: Option<String>,
    leader: Option<String>,
    #[serde(default)]
    leading: bool,
    leads: Option<Vec<String>>,
    host_rollout: Option<WireRollout>,
}

/// `site.hostRollout` as the agent sends it (agent/src/site/host_lease.rs): its rollout Lease,
/// its node, and what its last rollout step saw (null before any).
#[derive(Debug, Deserialize)]
struct WireRollout {
    node: Option<String>,
    last: Option<WireStep>,
}

#[derive(Debug, Deserialize)]
struct WireStep {
    sync: Option<String>,
    revision: Option<u64>,
    state: String,
    holder: Option<String>,
    node: Option<String>,
    reason: Option<String>,
}

/// What a node's last host rollout step saw (the agent's words).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum RolloutStep {
    /// This node holds the rollout Lease and upgrades.
    Upgrading,
    /// Another node (`holder`) upgrades; this one waits its turn.
    Waiting,
    /// This node runs the revision.
    Done,
    /// This node's host payloads are held after a failure here (`reason`).
    Held,
    /// The rollout stopped at `node` (its health check failed, its files were restored).
    Stopped,
}

impl RolloutStep {
    pub fn as_str(self) -> &'static str {
        match self {
            RolloutStep::Upgrading => "upgrading",
            RolloutStep::Waiting => "waiting",
            RolloutStep::Done => "done",
            RolloutStep::Held => "held",
            RolloutStep::Stopped => "stopped",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        use RolloutStep::*;
        [Upgrading, Waiting, Done, Held, Stopped]
            .into_iter()
            .find(|r| r.as_str() == s)
    }
}

/// Where a site's rolling host upgrade stands, as one node's step says (worst last).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum RolloutState {
    /// Every node runs the revision (or nothing is rolling out).
    Done,
    /// A node is being upgraded (`node`).
    InProgress,
    /// A node's health check failed: its files were restored and the rollout stopped there.
    Stopped,
}

impl RolloutState {
    pub fn as_str(self) -> &'static str {
        match self {
            RolloutState::Done => "done",
            RolloutState::InProgress => "in-progress",
            RolloutState::Stopped => "stopped",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        [Self::Done, Self::InProgress, Self::Stopped]
            .into_iter()
            .find(|r| r.as_str() == s)
    }
}

/// `site.hostRollout`: the rolling host upgrade of the site as this node's last step saw it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct HostRollout {
    /// The agent's word for the step.
    pub step: RolloutStep,
    /// What the step means for the site.
    pub state: RolloutState,
    /// The sync whose bundle carries the host payloads.
    pub sync: Option<String>,
    /// The host payload revision rolling out.
    pub revision: Option<u64>,
    /// The node upgrading (in progress) or where the rollout stopped.
    pub node: Option<String>,
    /// Why it stopped (one line, at most [`MAX_REASON`] characters).
    pub reason: Option<String>,
}

/// A device's membership of a site, as stored.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SiteMembership {
    pub name: String,
    /// The Lease (`namespace/name`), if sent.
    pub lease: Option<String>,
    /// The Lease holder this node read (a claim about another node: shown, never trusted).
    pub leader: Option<String>,
    /// This node holds the site Lease.
    pub leading: bool,
    /// The syncs this node leads (sorted; empty for a standby).
    pub leads: Vec<String>,
    pub host_rollout: Option<HostRollout>,
}

impl SiteMembership {
    /// `leader` or `standby`.
    pub fn role(&self) -> &'static str {
        if self.leading {
            "leader"
        } else {
            "standby"
        }
    }
}

/// The node a step names, as an id of the safe set.
fn node_id(path: &str, n: Option<String>) -> Result<Option<String>, PayloadError> {
    n.map(|n| id(path, n)).transpose()
}

/// A node's last rollout step (None before its first): what it means for the site.
fn rollout(w: WireRollout) -> Result<Option<HostRollout>, PayloadError> {
    let here = node_id("site.hostRollout.node", w.node)?;
    let Some(last) = w.last else { return Ok(None) };
    let step = RolloutStep::parse(&last.state).ok_or_else(|| {
        field(
            "site.hostRollout.last.state",
            "expected upgrading, waiting, done, held or stopped",
        )
    })?;
    if last.revision.is_some_and(|r| r > MAX_REVISION) {
        return Err(field(
            "site.hostRollout.last.revision",
            format!("must be at most {MAX_REVISION}"),
        ));
    }
    let holder = node_id("site.hostRollout.last.holder", last.holder)?;
    let stopped_at = node_id("site.hostRollout.last.node", last.node)?;
    let (state, node) = match step {
        RolloutStep::Upgrading => (RolloutState::InProgress, holder.or(here)),
        RolloutStep::Waiting => (RolloutState::InProgress, holder),
        RolloutStep::Done => (RolloutState::Done, None),
        RolloutStep::Held => (RolloutState::Stopped, here),
        RolloutStep::Stopped => (RolloutState::Stopped, stopped_at.or(here)),
    };
    Ok(Some(HostRollout {
        step,
        state,
        sync: last
            .sync
            .map(|s| id("site.hostRollout.last.sync", s))
            .transpose()?,
        revision: last.revision,
        node,
        reason: last.reason.map(|r| line(r, MAX_REASON)),
    }))
}

/// Checks a device's `site` claim against the rest of its heartbeat: the site name and leader
/// are ids of the safe set (the lease too, with its `/`); a node that leads names no other node as leader; `leads`
/// holds at most [`MAX_SYNCS`] distinct syncs of the device's own, and none for a standby.
/// Without `leads`, a leader leads every sync it reports (one Lease leads them all).
pub(crate) fn parse(
    w: WireSite,
    device: &str,
    syncs: &[SyncReport],
) -> Result<SiteMembership, PayloadError> {
    let name = id("site.name", w.name)?;
    // `namespace/name`, as the agent names it.
    let lease = w
        .lease
        .map(|l| checked_id("site.lease", l, true))
        .transpose()?;
    let leader = w.leader.map(|l| id("site.leader", l)).transpose()?;
    if w.leading && leader.as_deref().is_some_and(|l| l != device) {
        return Err(field(
            "site.leader",
            "a node that leads names itself as the leader, not another node",
        ));
    }
    let mut leads = match w.leads {
        None if w.leading => syncs.iter().map(|s| s.name.clone()).collect(),
        None => Vec::new(),
        Some(list) => {
            if list.len() > MAX_SYNCS {
                return Err(field("site.leads", format!("at most {MAX_SYNCS} syncs")));
            }
            if !w.leading && !list.is_empty() {
                return Err(field(
                    "site.leads",
                    "a standby (leading: false) leads no sync",
                ));
            }
            let mut leads: Vec<String> = Vec::with_capacity(list.len());
            for (i, s) in list.into_iter().enumerate() {
                let path = format!("site.leads[{i}]");
                let s = id(&path, s)?;
                if !syncs.iter().any(|x| x.name == s) {
                    return Err(field(path, "not a sync of this device"));
                }
                if leads.contains(&s) {
                    return Err(field(path, "duplicate sync name"));
                }
                leads.push(s);
            }
            leads
        }
    };
    leads.sort();
    Ok(SiteMembership {
        name,
        lease,
        leader,
        leading: w.leading,
        leads,
        host_rollout: w.host_rollout.map(rollout).transpose()?.flatten(),
    })
}

#[cfg(test)]
mod tests {
    use crate::model::parse_heartbeat;
    use serde_json::{json, Value};

    fn hb(site: Value) -> String {
        json!({"schema": "ferry.dev/heartbeat/v1", "device": {"id": "n-1"},
            "syncs": [{"name": "apps", "health": "healthy"}, {"name": "infra", "health": "healthy"}],
            "site": site})
        .to_string()
    }

    fn refused(site: Value) -> String {
        parse_heartbeat(hb(site).as_bytes())
            .unwrap_err()
            .to_string()
    }

    #[test]
    fn a_leader_leads_its_syncs_a_standby_none() {
        let d = parse_heartbeat(
            hb(json!({"name": "line-3", "lease": "kube-system/ferry-line-3", "leader": "n-1", "leading": true}))
                .as_bytes(),
        )
        .unwrap();
        let s = d.site.unwrap();
        assert_eq!(
            (s.role(), s.leads.clone()),
            ("leader", vec!["apps".to_string(), "infra".into()])
        );
        let d = parse_heartbeat(hb(json!({"name": "line-3", "leader": "n-2"})).as_bytes()).unwrap();
        let s = d.site.unwrap();
        assert_eq!(
            (s.role(), s.leads.len(), s.leader.as_deref()),
            ("standby", 0, Some("n-2"))
        );
        let d = parse_heartbeat(
            hb(
                json!({"name": "line-3", "leading": true, "leads": ["infra"],
                "hostRollout": {"lease": "kube-system/ferry-line-3-host", "node": "n-1",
                    "last": {"sync": "infra", "revision": 4, "state": "stopped", "node": "n-2",
                             "reason": "k3s not Ready after 300s\n\u{202E}", "future": 1}}}),
            )
            .as_bytes(),
        )
        .unwrap();
        let s = d.site.unwrap();
        assert_eq!(s.leads, ["infra"]);
        let r = s.host_rollout.unwrap();
        assert_eq!(
            (r.state, r.revision, r.node.as_deref()),
            (super::RolloutState::Stopped, Some(4), Some("n-2"))
        );
        assert_eq!(
            r.reason.as_deref(),
            Some("k3s not Ready after 300s\u{FFFD}\u{FFFD}")
        );
        // Each step of the agent: what it means for the site, and at which node.
        let step = |last: Value| {
            let site = json!({"name": "l", "hostRollout": {"node": "n-1", "last": last}});
            let d = parse_heartbeat(hb(site).as_bytes()).unwrap();
            d.site.unwrap().host_rollout.map(|r| (r.state, r.node))
        };
        use super::RolloutState::*;
        let at = |n: &str| Some(n.to_string());
        for (last, want) in [
            (
                json!({"state": "upgrading", "holder": "n-1"}),
                Some((InProgress, at("n-1"))),
            ),
            (
                json!({"state": "waiting", "holder": "n-3"}),
                Some((InProgress, at("n-3"))),
            ),
            (json!({"state": "done", "revision": 2}), Some((Done, None))),
            (
                json!({"state": "held", "reason": "x"}),
                Some((Stopped, at("n-1"))),
            ),
            (
                json!({"state": "stopped", "node": "n-2"}),
                Some((Stopped, at("n-2"))),
            ),
            (Value::Null, None),
        ] {
            assert_eq!(step(last.clone()), want, "{last}");
        }
        let none = json!({"schema": "ferry.dev/heartbeat/v1", "device": {"id": "n-1"}}).to_string();
        assert!(
            parse_heartbeat(none.as_bytes()).unwrap().site.is_none(),
            "no site: a lone device"
        );
    }

    #[test]
    fn claims_beyond_the_device_itself_are_refused() {
        for (site, why) in [
            (json!({"name": "line\u{200B}3"}), "site.name: must start"),
            (json!({"name": "lіne-3"}), "site.name: must start"),
            (
                json!({"name": "x".repeat(254)}),
                "site.name: must be 1..=253",
            ),
            (
                json!({"name": "l", "leading": true, "leader": "n-2"}),
                "site.leader: a node that leads",
            ),
            (
                json!({"name": "l", "leads": ["apps"]}),
                "site.leads: a standby",
            ),
            (
                json!({"name": "l", "leading": true, "leads": ["payroll"]}),
                "site.leads[0]: not a sync",
            ),
            (
                json!({"name": "l", "leading": true, "leads": ["apps", "apps"]}),
                "site.leads[1]: duplicate",
            ),
            (
                json!({"name": "l", "leading": true, "leads": vec!["apps"; 33]}),
                "site.leads: at most 32",
            ),
            (
                json!({"name": "l", "hostRollout": {"last": {"state": "great"}}}),
                "site.hostRollout.last.state",
            ),
            (
                json!({"name": "l", "hostRollout": {"last": {"state": "done", "revision": u64::MAX}}}),
                "site.hostRollout.last.revision",
            ),
            (
                json!({"name": "l", "hostRollout": {"node": "../x"}}),
                "site.hostRollout.node",
            ),
            (
                json!({"name": "l", "hostRollout": {"last": {"state": "waiting", "holder": "n\u{202E}"}}}),
                "site.hostRollout.last.holder",
            ),
        ] {
            let e = refused(site.clone());
            assert!(e.starts_with(why), "{site}: {e}");
        }
    }
}
