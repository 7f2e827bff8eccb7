//! Results as data: what an apply or prune did to each object.

use super::object::ObjectId;
use serde::{Deserialize, Serialize};
use std::fmt;

/// What happened to one object.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Action {
    Created,
    Configured,
    Unchanged,
    Deleted,
    /// Left alone on purpose (e.g. prune disabled, not owned by ferry).
    Skipped,
}

impl Action {
    pub fn as_str(self) -> &'static str {
        match self {
            Action::Created => "created",
            Action::Configured => "configured",
            Action::Unchanged => "unchanged",
            Action::Deleted => "deleted",
            Action::Skipped => "skipped",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Change {
    pub id: ObjectId,
    pub action: Action,
}

/// All changes of one sync, in the order they were made.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChangeSet {
    pub changes: Vec<Change>,
}

impl ChangeSet {
    pub fn push(&mut self, id: ObjectId, action: Action) {
        self.changes.push(Change { id, action });
    }
    pub fn extend(&mut self, other: ChangeSet) {
        self.changes.extend(other.changes);
    }
    pub fn count(&self, action: Action) -> usize {
        self.changes.iter().filter(|c| c.action == action).count()
    }
    /// Objects written (created, configured or deleted).
    pub fn writes(&self) -> usize {
        self.count(Action::Created) + self.count(Action::Configured) + self.count(Action::Deleted)
    }
}

impl fmt::Display for ChangeSet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} created, {} configured, {} unchanged, {} deleted",
            self.count(Action::Created),
            self.count(Action::Configured),
            self.count(Action::Unchanged),
            self.count(Action::Deleted)
        )
    }
}
