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

#[derive(Debug, Deserialize)]
struct WireRollout {
    state: String,
    revision: Option<u64>,
    node: Option<String>,
    reason: Option<String>,
}

/// Where a site's rolling host upgrade stands, as one node reports it.
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

/// `site.hostRollout`: the rolling host upgrade of the site as this node sees it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct HostRollout {
    pub state: RolloutState,
    /// The host payload revision rolling out.
    pub revision: Option<u64>,
    /// The node being upgraded (in progress) or where the rollout stopped.
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

fn rollout(w: WireRollout) -> Result<HostRollout, PayloadError> {
    let state = RolloutState::parse(&w.state).ok_or_else(|| {
        field(
            "site.hostRollout.state",
            "expected in-progress, stopped or done",
        )
    })?;
    if w.revision.is_some_and(|r| r > MAX_REVISION) {
        return Err(field(
            "site.hostRollout.revision",
            format!("must be at most {MAX_REVISION}"),
        ));
    }
    Ok(HostRollout {
        state,
        revision: w.revision,
        node: w.node.map(|n| id("site.hostRollout.node", n)).transpose()?,
        reason: w.reason.map(|r| line(r, MAX_REASON)),
    })
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
        host_rollout: w.host_rollout.map(rollout).transpose()?,
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
                "hostRollout": {"state": "stopped", "revision": 4, "node": "n-2",
                                "reason": "k3s not Ready after 300s\n\u{202E}", "future": 1}}),
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
                json!({"name": "l", "hostRollout": {"state": "great"}}),
                "site.hostRollout.state",
            ),
            (
                json!({"name": "l", "hostRollout": {"state": "done", "revision": u64::MAX}}),
                "site.hostRollout.revision",
            ),
            (
                json!({"name": "l", "hostRollout": {"state": "done", "node": "../x"}}),
                "site.hostRollout.node",
            ),
        ] {
            let e = refused(site.clone());
            assert!(e.starts_with(why), "{site}: {e}");
        }
    }
}
