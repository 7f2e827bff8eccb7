//! The leader's view of the site's other nodes: each sync's own source plus one `http` source
//! per peer relay (`<peer url><sync>/`, the exploded layout, with the site token). A poll asks
//! them all and offers the highest revision that verifies under the sync's policy and is
//! newer than the applied one; the pass then verifies and applies it as from any source, so a
//! peer is trusted for nothing but reachability. The sync's own source keeps its cursor (the
//! stored one); the peers' cursors live in memory, so a peer serving what this node already
//! applied costs one conditional request per poll. A peer that is down is skipped.

use super::config::PeerConfig;
use crate::outbound::EndpointTls;
use crate::source::{http::HttpSource, AfterRefusal, Lasting, Poll, Source, SourceError};
use ferry_bundle::verify::{self, Verdict, VerifyPolicy};
use std::path::Path;
use std::time::Duration;

/// How long one peer request may take.
const PEER_TIMEOUT: Duration = Duration::from_secs(60);

struct Peer {
    url: String,
    source: Box<dyn Source>,
    cursor: Option<String>,
}

pub struct PeerSource {
    primary: Box<dyn Source>,
    peers: Vec<Peer>,
    /// Which one the last poll offered (None: the primary).
    offered: Option<usize>,
}

impl PeerSource {
    pub fn new(primary: Box<dyn Source>, sync: &str, peers: &[PeerConfig], scratch: &Path) -> Self {
        let peers = peers
            .iter()
            .map(|p| {
                let url = format!("{}{sync}/", p.url);
                let tls = EndpointTls {
                    token_file: Some(p.token_file.clone()),
                    ..EndpointTls::default()
                };
                Peer {
                    source: Box::new(HttpSource::new(
                        url.clone(),
                        None,
                        &tls,
                        PEER_TIMEOUT,
                        scratch.to_path_buf(),
                    )),
                    url,
                    cursor: None,
                }
            })
            .collect();
        PeerSource {
            primary,
            peers,
            offered: None,
        }
    }
}

/// The revision `found` offers if it verifies and is newer than the applied one.
fn newer(found: &crate::source::Found, policy: &VerifyPolicy) -> Option<u64> {
    match verify::verify_manifest(&found.manifest, found.signature.as_deref(), policy) {
        Ok(Verdict::New(v)) => Some(v.manifest.revision),
        _ => None,
    }
}

impl Source for PeerSource {
    fn describe(&self) -> String {
        format!(
            "{} (and {} site peers)",
            self.primary.describe(),
            self.peers.len()
        )
    }

    fn poll(&mut self, cursor: Option<&str>, policy: &VerifyPolicy) -> Result<Poll, SourceError> {
        let own = self.primary.poll(cursor, policy);
        let own_rev = match &own {
            Ok(Poll::Found(f)) => newer(f, policy),
            _ => None,
        };
        let mut best: Option<(usize, u64, crate::source::Found)> = None;
        for (i, p) in self.peers.iter_mut().enumerate() {
            match p.source.poll(p.cursor.as_deref(), policy) {
                Ok(Poll::Found(f)) => match newer(&f, policy) {
                    Some(r)
                        if r > own_rev.unwrap_or(0) && best.as_ref().is_none_or(|b| r > b.1) =>
                    {
                        best = Some((i, r, f))
                    }
                    // Nothing newer there (the steady state): ask conditionally next time.
                    _ => p.cursor = Some(f.cursor),
                },
                Ok(Poll::Unchanged) => {}
                Err(e) => tracing::debug!("site peer {}: {e}", p.url),
            }
        }
        match best {
            Some((i, revision, mut f)) => {
                tracing::info!(
                    revision,
                    "site peer {} offers a newer revision",
                    self.peers[i].url
                );
                self.offered = Some(i);
                // The sync's own source keeps its cursor.
                f.cursor = cursor.unwrap_or_default().to_string();
                f.origin = format!("site peer {}", f.origin);
                Ok(Poll::Found(f))
            }
            None => {
                self.offered = None;
                own
            }
        }
    }

    fn refused(&mut self, cursor: &str, reason: &str, lasting: Lasting) -> AfterRefusal {
        match self.offered {
            None => self.primary.refused(cursor, reason, lasting),
            Some(_) => AfterRefusal::default(),
        }
    }
}
