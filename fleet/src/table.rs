//! The device table (pure): filters, sort and pagination, all done on the server, over the
//! stored devices at a given time.

use crate::status::{DeviceStatus, Staleness};
use crate::store::DeviceRow;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// Sort keys of the device table.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum SortKey {
    #[default]
    Status,
    Id,
    LastSeen,
    Revision,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SortDir {
    #[default]
    Asc,
    Desc,
}

/// The device table's query (all server-side). Unknown values fall back to defaults.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct DeviceQuery {
    /// Status word (`stale`, `failed`, ...).
    pub status: Option<String>,
    /// Only devices with this sync.
    pub sync: Option<String>,
    /// With `sync`: its applied revision (a number, or `none`).
    pub revision: Option<String>,
    /// With `sync`: its state (a status word).
    pub state: Option<String>,
    /// With `sync`: its error group (the error with numbers folded).
    pub error: Option<String>,
    /// A label `key=value`.
    pub label: Option<String>,
    /// The nodes of a site.
    pub site: Option<String>,
    /// Substring of the id or of a `key=value` label.
    pub q: Option<String>,
    /// `status`, `id`, `last-seen`, `revision`.
    pub sort: Option<String>,
    /// `asc` or `desc`.
    pub dir: Option<String>,
    /// 1-based.
    pub page: Option<String>,
    pub per_page: Option<String>,
}

impl DeviceQuery {
    pub fn sort_key(&self) -> SortKey {
        self.sort
            .as_deref()
            .and_then(|s| serde_json::from_value(serde_json::Value::String(s.into())).ok())
            .unwrap_or_default()
    }

    pub fn sort_dir(&self) -> SortDir {
        match self.dir.as_deref() {
            Some("desc") => SortDir::Desc,
            _ => SortDir::Asc,
        }
    }
}

/// One row of the device table.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct DeviceLine {
    pub id: String,
    pub status: DeviceStatus,
    pub labels: BTreeMap<String, String>,
    pub last_seen: i64,
    pub interval_seconds: u64,
    /// `sync@revision` per sync.
    pub revisions: Vec<(String, Option<u64>)>,
    pub last_error: Option<String>,
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct DevicePage {
    pub total: usize,
    pub page: usize,
    pub pages: usize,
    pub per_page: usize,
    pub devices: Vec<DeviceLine>,
}

pub const MAX_PER_PAGE: usize = 500;

/// The page numbers a pager links: the first, the last and three either side of the current
/// one; `None` marks a gap. With "previous"/"next" and a page form, every page is reachable.
pub fn pager(page: usize, pages: usize) -> Vec<Option<usize>> {
    let mut out = Vec::new();
    let mut last = 0;
    for n in 1..=pages {
        let near = n.abs_diff(page) <= 3;
        if n == 1 || n == pages || near {
            if n > last + 1 {
                out.push(None);
            }
            out.push(Some(n));
            last = n;
        }
    }
    out
}

/// Filters, sorts and cuts one page of the device table of a list of devices (pure; the
/// receiver reads its kept [`crate::aggregate::Fleet`] instead).
pub fn device_page(devices: &[DeviceRow], q: &DeviceQuery, now: i64, st: &Staleness) -> DevicePage {
    crate::aggregate::Fleet::of(devices, now, *st).device_page(q, now)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::views::tests::fleet;

    #[test]
    fn the_pager_reaches_every_page() {
        let shown = |p, n| -> Vec<Option<usize>> { pager(p, n) };
        assert_eq!(shown(1, 1), vec![Some(1)]);
        assert_eq!(
            shown(50, 200),
            [
                Some(1),
                None,
                Some(47),
                Some(48),
                Some(49),
                Some(50),
                Some(51),
                Some(52),
                Some(53),
                None,
                Some(200)
            ]
        );
        // From any page, next (page + 1) is linked: every page is reachable.
        for p in 1..200 {
            assert!(shown(p, 200).contains(&Some(p + 1)), "{p}");
        }
    }

    #[test]
    fn table_filters_sorts_and_pages_on_the_server() {
        let f = fleet();
        let q = |s: &str| -> DeviceQuery { serde_json::from_str(s).unwrap() };
        let p = device_page(
            &f,
            &q(r#"{"status":"offline"}"#),
            1000,
            &Staleness::default(),
        );
        assert_eq!(
            p.devices.iter().map(|d| d.id.as_str()).collect::<Vec<_>>(),
            vec!["d"]
        );
        let p = device_page(&f, &q(r#"{"q":"SITE=paris"}"#), 1000, &Staleness::default());
        assert_eq!(p.total, 1);
        let p = device_page(
            &f,
            &q(r#"{"sort":"id","dir":"desc","per_page":"2","page":"2"}"#),
            1000,
            &Staleness::default(),
        );
        assert_eq!((p.total, p.pages, p.page), (5, 3, 2));
        assert_eq!(
            p.devices.iter().map(|d| d.id.as_str()).collect::<Vec<_>>(),
            vec!["c", "b"]
        );
        let p = device_page(
            &f,
            &q(r#"{"sort":"nonsense","page":"x"}"#),
            1000,
            &Staleness::default(),
        );
        assert_eq!(
            (p.page, p.devices[0].status),
            (1, DeviceStatus::Offline),
            "bad values fall back"
        );
    }
}
