//! Field managers and the two ways they gain fields, as the real server's field manager does it
//! (structured-merge-diff `merge/update.go` wrapped by apimachinery's `managedfields`):
//! `Apply` (merge the applied configuration, prune what the applier stopped applying unless
//! another manager owns it, conflicts with other owners of changed fields) and `Update` (the
//! manager takes what its write changed; others lose what was removed or taken).

use super::path::{FieldSet, Path, PathElement};
use super::typed::Typed;
use serde_json::{json, Value};

/// The `operation` of a `managedFields` entry.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Operation {
    Apply,
    Update,
}

impl Operation {
    pub fn as_str(self) -> &'static str {
        match self {
            Operation::Apply => "Apply",
            Operation::Update => "Update",
        }
    }
}

/// One `managedFields` entry.
#[derive(Debug, Clone, PartialEq)]
pub struct ManagerEntry {
    pub manager: String,
    pub operation: Operation,
    pub api_version: String,
    pub time: String,
    /// `status`, `scale` or empty for the main resource.
    pub subresource: String,
    pub fields: FieldSet,
}

impl ManagerEntry {
    /// True when `self` is the entry of this writer (Apply entries ignore the apiVersion).
    fn is(&self, manager: &str, op: Operation, api_version: &str, subresource: &str) -> bool {
        self.manager == manager
            && self.operation == op
            && self.subresource == subresource
            && (op == Operation::Apply || self.api_version == api_version)
    }

    /// How conflict messages name the manager (apimachinery `printManager`).
    pub fn label(&self) -> String {
        let mut s = format!("{:?}", self.manager);
        if !self.subresource.is_empty() {
            s = format!("{s} with subresource {:?}", self.subresource);
        }
        if self.operation == Operation::Update {
            s = format!("{s} using {}", self.api_version);
        }
        s
    }

    pub fn to_json(&self) -> Value {
        let mut v = json!({"manager": self.manager, "operation": self.operation.as_str(),
            "apiVersion": self.api_version, "time": self.time, "fieldsType": "FieldsV1",
            "fieldsV1": self.fields.to_fields_v1()});
        if !self.subresource.is_empty() {
            v["subresource"] = json!(self.subresource);
        }
        if self.time.is_empty() {
            v.as_object_mut().map(|m| m.remove("time"));
        }
        v
    }
}

/// The writer of a request.
#[derive(Debug, Clone)]
pub struct Writer<'a> {
    pub manager: &'a str,
    pub api_version: &'a str,
    pub subresource: &'a str,
    pub time: &'a str,
}

/// A conflict: another manager owns a field the apply changes.
#[derive(Debug, Clone, PartialEq)]
pub struct Conflict {
    pub manager: String,
    pub path: Path,
}

/// The fields the server never records (apimachinery `stripmeta.go`).
fn strip_set() -> FieldSet {
    let mut s = FieldSet::new();
    for p in [
        &["apiVersion"][..],
        &["kind"],
        &["metadata"],
        &["metadata", "name"],
        &["metadata", "namespace"],
        &["metadata", "creationTimestamp"],
        &["metadata", "selfLink"],
        &["metadata", "uid"],
        &["metadata", "clusterName"],
        &["metadata", "generation"],
        &["metadata", "managedFields"],
        &["metadata", "resourceVersion"],
    ] {
        s.insert(&Path::fields(p).0);
    }
    s
}

/// Sorts entries as the server encodes them: operation, time, manager, apiVersion, subresource.
pub fn sort_entries(entries: &mut [ManagerEntry]) {
    entries.sort_by(|a, b| {
        (
            a.operation,
            &a.time,
            &a.manager,
            &a.api_version,
            &a.subresource,
        )
            .cmp(&(
                b.operation,
                &b.time,
                &b.manager,
                &b.api_version,
                &b.subresource,
            ))
    });
}

/// Ownership changes of `live -> new` for every manager but `except`: removed fields go, and
/// changed fields go too (`force`) or are conflicts.
fn settle_others(
    typed: &Typed<'_>,
    live: &Value,
    new: &Value,
    managers: &mut [ManagerEntry],
    except: Option<usize>,
    ignored: &FieldSet,
    force: bool,
) -> Result<(), Vec<Conflict>> {
    let cmp = typed.compare(live, new).map_err(|_| Vec::new())?;
    let changed = cmp.modified.union(&cmp.added).recursive_difference(ignored);
    let removed = cmp.removed.recursive_difference(ignored);
    let mut conflicts = Vec::new();
    for (i, m) in managers.iter_mut().enumerate() {
        if Some(i) == except {
            continue;
        }
        let taken = m.fields.intersection(&changed);
        if !taken.is_empty() {
            if !force {
                conflicts.extend(taken.paths().into_iter().map(|path| Conflict {
                    manager: m.label(),
                    path,
                }));
                continue;
            }
            m.fields = m.fields.difference(&taken);
        }
        m.fields = m.fields.difference(&removed);
    }
    if !conflicts.is_empty() {
        return Err(conflicts);
    }
    Ok(())
}

/// Server-side apply of `config` onto `live` (the empty object `{}` on create). Returns the
/// merged object and the new managers, or the conflicts.
pub fn apply(
    typed: &Typed<'_>,
    live: &Value,
    config: &Value,
    managers: &[ManagerEntry],
    writer: &Writer<'_>,
    force: bool,
    ignored: &FieldSet,
) -> Result<(Value, Vec<ManagerEntry>), ApplyError> {
    let merged = typed.merge(live, config).map_err(ApplyError::Invalid)?;
    let set = typed
        .to_field_set(config)
        .map_err(ApplyError::Invalid)?
        .recursive_difference(ignored);
    let mut managers = managers.to_vec();
    let pos = managers.iter().position(|m| {
        m.is(
            writer.manager,
            Operation::Apply,
            writer.api_version,
            writer.subresource,
        )
    });
    let last = pos.map(|i| managers[i].fields.clone());
    let entry = ManagerEntry {
        manager: writer.manager.to_string(),
        operation: Operation::Apply,
        api_version: writer.api_version.to_string(),
        time: writer.time.to_string(),
        subresource: writer.subresource.to_string(),
        fields: set,
    };
    let idx = match pos {
        Some(i) => {
            managers[i].fields = entry.fields.clone();
            i
        }
        None => {
            managers.push(entry);
            managers.len() - 1
        }
    };
    let merged = match &last {
        Some(last) if !last.is_empty() => prune(typed, &merged, &managers, last),
        _ => merged,
    };
    settle_others(
        typed,
        live,
        &merged,
        &mut managers,
        Some(idx),
        ignored,
        force,
    )
    .map_err(ApplyError::Conflicts)?;
    let strip = strip_set();
    let changed = merged != *live;
    let me = &mut managers[idx];
    me.fields = me.fields.difference(&strip);
    if changed || pos.is_none() || Some(&me.fields) != last.as_ref() {
        me.time = writer.time.to_string();
        me.api_version = writer.api_version.to_string();
    }
    managers.retain(|m| !m.fields.is_empty());
    sort_entries(&mut managers);
    cap_update_managers(&mut managers);
    Ok((merged, managers))
}

/// Removes what the applier applied last time and not now, unless another manager owns it
/// (SMD `prune`, `addBackOwnedItems`, `addBackDanglingItems`).
fn prune(typed: &Typed<'_>, merged: &Value, managers: &[ManagerEntry], last: &FieldSet) -> Value {
    let ensure = |s: &FieldSet| typed.ensure_named_fields_are_members(s);
    let set_of = |v: &Value| typed.to_field_set(v).unwrap_or_default();
    let pruned = typed.remove_items(merged, &ensure(last));
    let all = managers
        .iter()
        .fold(FieldSet::new(), |acc, m| acc.union(&m.fields));
    let merged_set = ensure(&set_of(merged));
    let pruned = typed.remove_items(
        merged,
        &merged_set.difference(&ensure(&set_of(&pruned)).union(&ensure(&all))),
    );
    let pruned_set = ensure(&set_of(&pruned));
    typed.remove_items(
        merged,
        &merged_set
            .difference(&pruned_set)
            .intersection(&ensure(last)),
    )
}

/// An Update-operation write (create, update, patch): the writer takes the fields it added or
/// changed, others lose what it removed or took. `live` is the object before (on create, the
/// zero object of the kind).
pub fn update(
    typed: &Typed<'_>,
    live: &Value,
    new: &Value,
    managers: &[ManagerEntry],
    writer: &Writer<'_>,
    ignored: &FieldSet,
) -> Result<Vec<ManagerEntry>, String> {
    let cmp = typed.compare(live, new)?;
    let mut managers = managers.to_vec();
    settle_others(typed, live, new, &mut managers, None, ignored, true)
        .map_err(|_| "conflicts in a forced update".to_string())?;
    let mine = cmp
        .modified
        .union(&cmp.added)
        .recursive_difference(ignored)
        .difference(&strip_set());
    if !mine.is_empty() {
        match managers.iter_mut().find(|m| {
            m.is(
                writer.manager,
                Operation::Update,
                writer.api_version,
                writer.subresource,
            )
        }) {
            Some(m) => {
                m.fields = m.fields.union(&mine);
                m.time = writer.time.to_string();
            }
            None => managers.push(ManagerEntry {
                manager: writer.manager.to_string(),
                operation: Operation::Update,
                api_version: writer.api_version.to_string(),
                time: writer.time.to_string(),
                subresource: writer.subresource.to_string(),
                fields: mine,
            }),
        }
    }
    managers.retain(|m| !m.fields.is_empty());
    sort_entries(&mut managers);
    cap_update_managers(&mut managers);
    Ok(managers)
}

/// At most this many `Update` entries are kept (apimachinery `DefaultMaxUpdateManagers`).
pub const MAX_UPDATE_MANAGERS: usize = 10;
/// The entry older `Update` entries are folded into.
pub const ANCIENT_CHANGES: &str = "ancient-changes";

/// Folds the oldest `Update` entries of each apiVersion into `ancient-changes` while there are
/// more than [`MAX_UPDATE_MANAGERS`] (apimachinery `capmanagers.go`).
pub fn cap_update_managers(entries: &mut Vec<ManagerEntry>) {
    let mut updaters: Vec<(String, String, String)> = entries
        .iter()
        .filter(|e| e.operation == Operation::Update)
        .map(|e| (e.time.clone(), e.manager.clone(), e.api_version.clone()))
        .collect();
    if updaters.len() <= MAX_UPDATE_MANAGERS {
        return;
    }
    updaters.sort();
    let mut length = updaters.len();
    let mut first_of_version: Vec<(String, String)> = Vec::new();
    let find = |entries: &[ManagerEntry], manager: &str, version: &str| {
        entries.iter().position(|e| {
            e.operation == Operation::Update && e.manager == manager && e.api_version == version
        })
    };
    for (time, manager, version) in updaters {
        if length <= MAX_UPDATE_MANAGERS {
            break;
        }
        let Some(first) = first_of_version
            .iter()
            .find(|(v, _)| *v == version)
            .map(|(_, m)| m.clone())
        else {
            first_of_version.push((version, manager));
            continue;
        };
        if find(entries, ANCIENT_CHANGES, &version).is_none() {
            if let Some(i) = find(entries, &first, &version) {
                entries[i].manager = ANCIENT_CHANGES.to_string();
                entries[i].subresource = String::new();
            }
        }
        let Some(i) = find(entries, &manager, &version) else {
            continue;
        };
        let folded = entries.remove(i);
        if let Some(b) = find(entries, ANCIENT_CHANGES, &version) {
            entries[b].fields = folded.fields.union(&entries[b].fields);
            entries[b].time = time;
        }
        length -= 1;
    }
    sort_entries(entries);
}

/// Why an apply failed.
#[derive(Debug)]
pub enum ApplyError {
    Conflicts(Vec<Conflict>),
    /// The configuration does not fit the schema (e.g. a list item without its key).
    Invalid(String),
}

/// The conflict message of the real server (apimachinery `getConflictMessage`).
pub fn conflict_message(conflicts: &[Conflict]) -> String {
    if let [c] = conflicts {
        return format!(
            "Apply failed with 1 conflict: conflict with {}: {}",
            c.manager, c.path
        );
    }
    let mut managers: Vec<&str> = conflicts.iter().map(|c| c.manager.as_str()).collect();
    managers.sort();
    managers.dedup();
    let mut lines = Vec::new();
    for m in managers {
        lines.push(format!("conflicts with {m}:"));
        for c in conflicts.iter().filter(|c| c.manager == m) {
            lines.push(format!("- {}", c.path));
        }
    }
    format!(
        "Apply failed with {} conflicts: {}",
        conflicts.len(),
        lines.join("\n")
    )
}

/// Parses `metadata.managedFields` (as sent in an update); bad entries are errors.
pub fn parse_entries(v: &Value) -> Result<Vec<ManagerEntry>, String> {
    let Some(arr) = v.as_array() else {
        return Ok(Vec::new());
    };
    arr.iter()
        .map(|e| {
            let s = |k: &str| e[k].as_str().unwrap_or_default().to_string();
            let operation = match e["operation"].as_str() {
                Some("Apply") => Operation::Apply,
                Some("Update") => Operation::Update,
                other => return Err(format!("invalid managedFields operation {other:?}")),
            };
            Ok(ManagerEntry {
                manager: s("manager"),
                operation,
                api_version: s("apiVersion"),
                time: s("time"),
                subresource: s("subresource"),
                fields: FieldSet::from_fields_v1(&e["fieldsV1"])?,
            })
        })
        .collect()
}

/// The set `{status}` (or any top-level fields) for the fields a strategy resets.
pub fn top_level(fields: &[&str]) -> FieldSet {
    let mut s = FieldSet::new();
    for f in fields {
        s.insert(&[PathElement::field(f)]);
    }
    s
}
