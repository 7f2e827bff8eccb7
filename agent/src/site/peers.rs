//! The leader's view of the site's other nodes: each sync's own source plus one `http` source
//! per peer relay (`<peer url><sync>/`, the exploded layout, with the site token). A poll asks
//! them all and offers the highest revision that verifies under the sync's policy and is
//! newer than the applied one; the pass then verifies and applies it as from any source, so a
//! peer is trusted for nothing but reachability. The sync's own source keeps its cursor (the
//! stored one); the peers' cursors live in memory, so a peer serving what this node already
//! applied costs one conditional request per poll. A peer that is down, or whose offer is
//! older, tampered or oversized, is skipped; its reason is logged once (`site peer refused` /
//! `site peer failed`), and only a verified newer offer reaches the pass.

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
    /// The reason this peer's last offer was refused, logged once per distinct reason.
    refusal: Option<String>,
}

pub struct PeerSource {
    primary: Box<dyn Source>,
    peers: Vec<Peer>,
    /// Which peer the last poll offered, with that peer's cursor for the offer (None: the
    /// primary).
    offered: Option<(usize, String)>,
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
                    refusal: None,
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

/// The revision `found` offers if it verifies and is newer than the applied one (None: the
/// applied one, the steady state); the reason when it does not verify.
fn newer(found: &crate::source::Found, policy: &VerifyPolicy) -> Result<Option<u64>, String> {
    match verify::verify_manifest(&found.manifest, found.signature.as_deref(), policy) {
        Ok(Verdict::New(v)) => Ok(Some(v.manifest.revision)),
        Ok(Verdict::UpToDate(_)) => Ok(None),
        Err(e) => Err(e.to_string()),
    }
}

impl Peer {
    /// Logs a refused offer (or an unreachable peer) once per distinct reason; the reason is
    /// bounded (source and verify errors name sizes and paths, never bodies).
    fn refuse(&mut self, what: &str, reason: String) {
        if self.refusal.as_deref() != Some(reason.as_str()) {
            tracing::warn!("site peer {what} {}: {reason}", self.url);
            self.refusal = Some(reason);
        }
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
            Ok(Poll::Found(f)) => newer(f, policy).ok().flatten(),
            _ => None,
        };
        let mut best: Option<(usize, u64, crate::source::Found)> = None;
        for (i, p) in self.peers.iter_mut().enumerate() {
            match p.source.poll(p.cursor.as_deref(), policy) {
                Ok(Poll::Found(f)) => match newer(&f, policy) {
                    Ok(Some(r))
                        if r > own_rev.unwrap_or(0) && best.as_ref().is_none_or(|b| r > b.1) =>
                    {
                        p.refusal = None;
                        best = Some((i, r, f))
                    }
                    // Nothing newer there (the steady state): ask conditionally next time.
                    Ok(_) => p.cursor = Some(f.cursor),
                    // Older, tampered, unsigned, expired: refused, named, never offered.
                    Err(reason) => {
                        p.refuse("refused", reason);
                        p.cursor = Some(f.cursor);
                    }
                },
                Ok(Poll::Unchanged) => {}
                // Down, or an oversized / endless / stalled body cut by the source bounds.
                Err(e) => p.refuse("failed", e.to_string()),
            }
        }
        match best {
            Some((i, revision, mut f)) => {
                tracing::info!(
                    revision,
                    "site peer {} offers a newer revision",
                    self.peers[i].url
                );
                // The sync's own source keeps its cursor.
                let peer_cursor =
                    std::mem::replace(&mut f.cursor, cursor.unwrap_or_default().to_string());
                self.offered = Some((i, peer_cursor));
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
        match &self.offered {
            None => self.primary.refused(cursor, reason, lasting),
            // A peer's offer the pass refused (a tampered file, say) is not offered again
            // until that peer serves another manifest: it cannot hold back the own source.
            Some((i, peer_cursor)) => {
                let p = &mut self.peers[*i];
                p.cursor = Some(peer_cursor.clone());
                p.refuse("refused", reason.to_string());
                let _ = (cursor, lasting);
                AfterRefusal::default()
            }
        }
    }
}
