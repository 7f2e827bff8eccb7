//! The one refusal path. A bundle refused anywhere in a pass (by the source's poll, its
//! manifest, a content file, an image blob, a host file, a replayed revision number) is
//! recorded the same way: a `refused` event and the sync's last error, both naming the source
//! and the file; the source is told (a drop moves the candidate into its quarantine, or
//! remembers it) and the cursor it answers is recorded, so an unchanged source is not read
//! again; the last good revision keeps being enforced. The highest verified revision is not
//! touched: it rises only once everything a revision carries verified (see `pass`).

use super::{Agent, SyncError};
use crate::config::SyncConfig;
use crate::images::fetch::ImageFetchError;
use crate::source::{Lasting, SourceError};
use thiserror::Error;

/// A file of a verified manifest that did not verify (or could not be had from the source).
#[derive(Debug, Error)]
pub enum ContentRefusal {
    /// A content file (host files included).
    #[error("{0}")]
    File(SourceError),
    /// An image blob.
    #[error("{0}")]
    Image(ImageFetchError),
}

impl SyncError {
    /// What was refused and why, without the sync's name ([`Agent::refuse`] adds the
    /// source's origin when the text does not name it).
    fn refusal_text(&self) -> String {
        match self {
            SyncError::Source { source, .. } => source.to_string(),
            SyncError::Refused { source, .. } => source.to_string(),
            SyncError::HostRefused { source, .. } => source.to_string(),
            SyncError::Content { what, .. } => what.to_string(),
            other => other.to_string(),
        }
    }

    /// Whether the refusal holds until the source changes: the offered bytes themselves do
    /// not match their signed manifest. Other refusals depend on this device's configuration
    /// or state (keys, targets, host capability, the applied revision) and are looked at
    /// again.
    fn lasting(&self) -> Lasting {
        match self {
            SyncError::Content { .. } => Lasting::UntilTheSourceChanges,
            _ => Lasting::UntilTheConfigurationChanges,
        }
    }
}

/// What a source offered: where it came from and under which cursor.
pub(super) struct Offered<'a> {
    pub origin: &'a str,
    pub cursor: &'a str,
}

impl Agent {
    /// Records the refusal `error` of what the source `offered` (`None` when the poll itself
    /// refused: the source has set its candidates aside already) and returns it.
    pub(super) fn refuse(
        &self,
        sync: &SyncConfig,
        offered: Option<Offered<'_>>,
        error: SyncError,
    ) -> SyncError {
        let name = sync.name.as_str();
        let mut message = error.refusal_text();
        if let Some(offered) = offered {
            if !message.contains(offered.origin) {
                message = format!("{}: {message}", offered.origin);
            }
            let after = self.sources[name]
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .refused(offered.cursor, &message, error.lasting());
            if let Some(note) = after.note {
                message = format!("{message} ({note})");
            }
            if let Some(c) = after.cursor {
                if let Err(e) = self.store.set_cursor(name, Some(&c)) {
                    tracing::warn!(sync = name, "recording the refused source's cursor: {e}");
                }
            }
        }
        self.keep_last_good(sync, crate::events::EventKind::Refused, &message);
        error
    }

    /// After a pass that applies nothing new: records `kind` (an event) and `message` (the
    /// sync's last error), and keeps enforcing the last good revision.
    pub(super) fn keep_last_good(
        &self,
        sync: &SyncConfig,
        kind: crate::events::EventKind,
        message: &str,
    ) {
        let name = sync.name.as_str();
        self.event(name, kind, message);
        if let Err(e) = self.store.set_error(name, Some(message)) {
            tracing::warn!(sync = name, "recording the last error: {e}");
        }
        if let Err(e) = self.enforce(sync) {
            tracing::warn!(sync = name, "drift correction failed: {e}");
        }
    }
}
