//! Sites kept at ingest: the nodes of each site and its summary
//! ([`crate::site::summary::summarize`]), recomputed from that site's nodes alone once after one
//! of them moved (a heartbeat, or silence turning it stale or offline), the sites per state,
//! and the sites in name order. The sites list and a site page read these: no request looks
//! at every device, and a heartbeat costs the size of its own site.

use super::{Fleet, Id};
use crate::site::model::{SiteMembership, MAX_SITE_NODES};
use crate::site::summary::{summarize, Member, SiteSummary, StateKind};
use crate::status::DeviceStatus;
use crate::store::DeviceRow;
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet, HashMap};

/// A node as its site keeps it.
#[derive(Debug, Clone)]
struct Node {
    status: DeviceStatus,
    last_seen: i64,
    syncs: Vec<String>,
    site: SiteMembership,
}

/// The sites of a fleet.
#[derive(Debug, Default)]
pub struct Sites {
    nodes: HashMap<String, BTreeMap<Id, Node>>,
    /// Every site's summary, by name.
    summaries: BTreeMap<String, SiteSummary>,
    by_state: HashMap<StateKind, BTreeSet<String>>,
    /// Sites whose nodes moved since their summary was made (see [`Sites::settle`]).
    dirty: BTreeSet<String>,
}

impl Sites {
    /// Adds (or takes away) one device's node of its site; the site is summarized again at the
    /// next [`Sites::settle`] (once for a heartbeat that takes a node away and puts it back).
    pub(super) fn contribute(&mut self, id: &Id, row: &DeviceRow, status: DeviceStatus, add: bool) {
        let Some(site) = &row.report.site else { return };
        let nodes = self.nodes.entry(site.name.clone()).or_default();
        if add {
            let node = Node {
                status,
                last_seen: row.last_seen,
                syncs: row.report.syncs.iter().map(|s| s.name.clone()).collect(),
                site: (**site).clone(),
            };
            nodes.insert(id.clone(), node);
        } else {
            nodes.remove(id);
        }
        if !self.dirty.contains(&site.name) {
            self.dirty.insert(site.name.clone());
        }
    }

    /// Summarizes again every site whose nodes moved.
    pub(super) fn settle(&mut self) {
        for name in std::mem::take(&mut self.dirty) {
            self.refresh(&name);
        }
    }

    fn refresh(&mut self, name: &str) {
        if let Some(old) = self.summaries.remove(name) {
            if let Some(set) = self.by_state.get_mut(&old.state.kind()) {
                set.remove(name);
            }
        }
        let Some(nodes) = self.nodes.get(name).filter(|n| !n.is_empty()) else {
            self.nodes.remove(name);
            return;
        };
        let members: Vec<Member> = nodes
            .iter()
            .map(|(id, n)| Member {
                id,
                status: n.status,
                last_seen: n.last_seen,
                syncs: n.syncs.iter().map(String::as_str).collect(),
                site: &n.site,
            })
            .collect();
        let summary = summarize(name, &members);
        self.by_state
            .entry(summary.state.kind())
            .or_default()
            .insert(name.to_string());
        self.summaries.insert(name.to_string(), summary);
    }

    /// May `device` report as a node of `site`? (It is one already, or the site has fewer than
    /// [`MAX_SITE_NODES`] nodes.)
    pub fn admits(&self, site: &str, device: &str) -> bool {
        self.nodes
            .get(site)
            .is_none_or(|n| n.len() < MAX_SITE_NODES || n.contains_key(device))
    }

    pub fn len(&self) -> usize {
        self.summaries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.summaries.is_empty()
    }
}

/// The sites list's query: a state, a page (1-based) and a page size.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct SiteQuery {
    pub state: Option<String>,
    pub page: Option<String>,
    pub per_page: Option<String>,
}

/// Sites per state.
#[derive(Debug, Clone, Serialize)]
pub struct StateCount {
    pub state: StateKind,
    pub sites: usize,
}

/// One page of the sites list.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct SitesPage {
    pub now: i64,
    /// Every site of the fleet.
    pub sites: usize,
    pub states: Vec<StateCount>,
    /// Sites matching the query.
    pub total: usize,
    pub page: usize,
    pub pages: usize,
    pub per_page: usize,
    pub rows: Vec<SiteSummary>,
}

/// One node on a site page.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct SiteNode {
    pub id: String,
    pub status: DeviceStatus,
    pub last_seen: i64,
    #[serde(flatten)]
    pub site: SiteMembership,
}

/// A site page: its summary and its nodes (by id).
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct SiteDetail {
    pub now: i64,
    #[serde(flatten)]
    pub summary: SiteSummary,
    pub node_list: Vec<SiteNode>,
}

/// Sites per page unless asked, and at most.
pub const PER_PAGE: usize = 50;
pub const MAX_PER_PAGE: usize = 500;

impl Fleet {
    /// One page of the sites list at `now`.
    pub fn sites_page(&mut self, q: &SiteQuery, now: i64) -> SitesPage {
        self.advance(now);
        let s = &self.sites;
        let per_page = q
            .per_page
            .as_deref()
            .and_then(|p| p.parse().ok())
            .unwrap_or(PER_PAGE)
            .clamp(1, MAX_PER_PAGE);
        let wanted: usize = q.page.as_deref().and_then(|p| p.parse().ok()).unwrap_or(1);
        let state = q.state.as_deref().and_then(StateKind::parse);
        let names: Box<dyn Iterator<Item = &String>> = match state {
            Some(k) => Box::new(s.by_state.get(&k).into_iter().flatten()),
            None => Box::new(s.summaries.keys()),
        };
        let total = match state {
            Some(k) => s.by_state.get(&k).map_or(0, BTreeSet::len),
            None => s.summaries.len(),
        };
        let pages = total.div_ceil(per_page).max(1);
        let page = wanted.clamp(1, pages);
        let rows = names
            .skip((page - 1) * per_page)
            .take(per_page)
            .filter_map(|n| s.summaries.get(n).cloned())
            .collect();
        SitesPage {
            now,
            sites: s.summaries.len(),
            states: StateKind::ALL
                .into_iter()
                .map(|state| StateCount {
                    state,
                    sites: s.by_state.get(&state).map_or(0, BTreeSet::len),
                })
                .collect(),
            total,
            page,
            pages,
            per_page,
            rows,
        }
    }

    /// A site's page at `now` (None: no device reports this site).
    pub fn site_detail(&mut self, name: &str, now: i64) -> Option<SiteDetail> {
        self.advance(now);
        let summary = self.sites.summaries.get(name)?.clone();
        let node_list = self
            .sites
            .nodes
            .get(name)?
            .iter()
            .map(|(id, n)| SiteNode {
                id: id.to_string(),
                status: n.status,
                last_seen: n.last_seen,
                site: n.site.clone(),
            })
            .collect();
        Some(SiteDetail {
            now,
            summary,
            node_list,
        })
    }
}
