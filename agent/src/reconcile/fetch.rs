//! Storing a verified revision (IO steps): the content files and image blobs the cache lacks,
//! each verified before it is kept, then the manifest. What does not match the signed
//! manifest is a refusal ([`SyncError::Content`], recorded by [`super::refuse`]); an
//! unreachable source or a failing cache is not.

use super::{Agent, ContentRefusal, SyncError};
use crate::config::SyncConfig;
use crate::images::fetch::ImageFetchError;
use crate::source::{FileFetcher, SourceError};
use ferry_bundle::manifest::Manifest;
use ferry_bundle::verify::VerifiedManifest;

impl Agent {
    /// Fetches the files and image blobs the cache lacks (each verified before it is kept)
    /// and stores the manifest. A file or image blob that does not match the manifest (or
    /// that the source `origin` does not have) is a [`SyncError::Content`] refusal; an
    /// unreachable source or a failing cache is not.
    pub(super) fn store_bundle(
        &self,
        sync: &SyncConfig,
        mut files: Box<dyn FileFetcher>,
        raw_manifest: &[u8],
        signature: Option<&str>,
        vm: &VerifiedManifest,
        origin: &str,
    ) -> Result<(), SyncError> {
        let name = sync.name.as_str();
        self.fetch_files(name, files.as_mut(), &vm.manifest, origin)?;
        // Images: only blobs the cache lacks, each verified while it streams in.
        crate::images::fetch::fetch_missing(&self.blobs, &vm.manifest.images, files.as_mut())
            .map_err(|e| match e {
                e @ (ImageFetchError::Io { .. }
                | ImageFetchError::Source {
                    source: SourceError::Unreachable { .. },
                    ..
                }) => SyncError::Source {
                    sync: name.into(),
                    source: e.into(),
                },
                e => content_refused(name, origin, ContentRefusal::Image(e)),
            })?;
        crate::fault::point("after-fetch");
        self.store
            .put_bundle(
                &vm.digest,
                name,
                vm.manifest.revision,
                raw_manifest,
                signature,
            )
            .map_err(|source| SyncError::Store {
                sync: name.into(),
                source,
            })
    }

    /// Fetches the content files of `manifest` the cache lacks (see [`Agent::store_bundle`]).
    pub(super) fn fetch_files(
        &self,
        sync: &str,
        files: &mut dyn FileFetcher,
        manifest: &Manifest,
        origin: &str,
    ) -> Result<(), SyncError> {
        for entry in &manifest.files {
            if !self.blobs.has(&entry.sha256) {
                let data = files.fetch(entry).map_err(|e| match e {
                    e @ SourceError::Unreachable { .. } => SyncError::Source {
                        sync: sync.into(),
                        source: e,
                    },
                    e => content_refused(sync, origin, ContentRefusal::File(e)),
                })?;
                self.blobs
                    .put(&entry.sha256, &data)
                    .map_err(|source| SyncError::Blob {
                        sync: sync.into(),
                        source,
                    })?;
            }
        }
        Ok(())
    }
}

fn content_refused(sync: &str, origin: &str, what: ContentRefusal) -> SyncError {
    SyncError::Content {
        sync: sync.into(),
        origin: origin.into(),
        what,
    }
}
