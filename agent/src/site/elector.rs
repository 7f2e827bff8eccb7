//! The IO shell of the election: read the Lease, ask the pure core ([`super::lease`]), write
//! the Lease (create, or update carrying the `resourceVersion` read, so a 409 means another
//! node wrote first), and record the outcome in the shared [`Fence`]. One try per retry
//! period; a transient error is not a loss: the fence closes by itself when the renew
//! deadline passes without a successful write. The Lease requests bypass the fence (they are
//! how it is renewed); every other write goes through it.

use super::fence::Fence;
use super::lease::{Decision, LeaseSpec};
use super::lease_object::{lease_body, send_json};
pub use super::lease_object::{parse, LeaseRecord};
use super::SiteConfig;
use crate::kube::retry::RetryPolicy;
use crate::kube::{KubeClient, KubeError};
use serde_json::{json, Value};
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

/// Why one try of the election did not complete.
#[derive(Debug, thiserror::Error)]
pub enum ElectError {
    #[error("lease {lease}: {source}")]
    Kube { lease: String, source: KubeError },
    #[error("lease {lease}: malformed: {reason}")]
    Malformed { lease: String, reason: String },
}

/// What this node is after a try.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Role {
    Leading {
        term: u32,
    },
    Following {
        holder: String,
    },
    /// The try failed (API unreachable, conflict): the fence decides by the renew deadline.
    Unknown,
}

impl Role {
    /// The event a change to this role records (kind, message).
    pub fn event(&self) -> (crate::events::EventKind, String) {
        use crate::events::EventKind;
        match self {
            Role::Leading { term } => (
                EventKind::SiteLeading,
                format!("this node leads the site (term {term})"),
            ),
            Role::Following { holder } => {
                (EventKind::SiteFollowing, format!("{holder} leads the site"))
            }
            Role::Unknown => (
                EventKind::SiteFenced,
                "lease not renewed within the renew deadline; writes stopped".into(),
            ),
        }
    }
}

/// The annotation of site state `what` (`applied`, `highest`) of `sync`.
pub fn state_key(what: &str, sync: &str) -> String {
    format!("ferry.dev/{what}.{sync}")
}

/// The elector of one site.
pub struct Elector {
    client: KubeClient,
    site: SiteConfig,
    me: String,
    fence: Arc<Fence>,
    last: Mutex<Option<LeaseRecord>>,
    /// Annotations this node writes with its renewals while it leads (site state).
    publish: Mutex<BTreeMap<String, String>>,
    /// One try at a time (the election thread, and a pass publishing site state).
    trying: Mutex<()>,
}

impl Elector {
    /// `client` must be the unfenced client; `me` the device id.
    pub fn new(client: KubeClient, site: SiteConfig, me: String, fence: Arc<Fence>) -> Self {
        let client = client.with_retry(RetryPolicy {
            attempts: 1,
            ..RetryPolicy::default()
        });
        Elector {
            client,
            site,
            me,
            fence,
            last: Mutex::new(None),
            publish: Mutex::new(BTreeMap::new()),
            trying: Mutex::new(()),
        }
    }

    pub fn fence(&self) -> &Arc<Fence> {
        &self.fence
    }

    pub fn me(&self) -> &str {
        &self.me
    }

    fn name(&self) -> String {
        format!("{}/{}", self.site.lease_namespace, self.site.lease())
    }

    fn path(&self, named: bool) -> String {
        let base = format!(
            "/apis/coordination.k8s.io/v1/namespaces/{}/leases",
            self.site.lease_namespace
        );
        if named {
            format!("{base}/{}", self.site.lease())
        } else {
            base
        }
    }

    fn kube(&self, source: KubeError) -> ElectError {
        ElectError::Kube {
            lease: self.name(),
            source,
        }
    }

    fn request(&self, method: &str, path: &str, body: Option<&Value>) -> Result<Value, KubeError> {
        send_json(&self.client, method, path, body)
    }

    /// The Lease as last read (site state annotations, holder).
    pub fn last(&self) -> Option<LeaseRecord> {
        self.last.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// Sets an annotation the leader writes with its next renewal.
    pub fn publish(&self, key: &str, value: &str) {
        self.publish
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(key.into(), value.into());
    }

    /// The heartbeat's `site` field: the site, the node that leads every sync of it (the
    /// Lease's holder as last read), and whether that is this node.
    pub fn heartbeat_field(&self) -> Value {
        let leader = self
            .last()
            .and_then(|r| r.spec.holder)
            .filter(|h| !h.is_empty());
        json!({
            "name": self.site.name,
            "lease": self.name(),
            "leader": leader,
            "leading": self.fence.holds(),
        })
    }

    /// The site state the Lease carries for `sync` under `what` (`applied`, `highest`):
    /// `<revision>[ <digest>]`.
    pub fn site_state(&self, what: &str, sync: &str) -> Option<(u64, String)> {
        let last = self.last()?;
        let v = last.annotations.get(&state_key(what, sync))?;
        let (rev, digest) = v.split_once(' ').unwrap_or((v.as_str(), ""));
        Some((rev.parse().ok()?, digest.to_string()))
    }

    /// Writes site state at once with a renewal; Ok only if this node leads and the Lease
    /// now carries it.
    pub fn publish_now(&self, entries: &[(String, String)]) -> Result<(), ElectError> {
        for (k, v) in entries {
            self.publish(k, v);
        }
        match self.try_once()? {
            Role::Leading { .. } => Ok(()),
            _ => Err(ElectError::Malformed {
                lease: self.name(),
                reason: "site state not written: this node does not lead".into(),
            }),
        }
    }

    /// One try: read, decide, write. Returns what this node is now. A leader that holds the
    /// lease renews with the version its last write returned and reads only when that fails
    /// (one request per retry period); a follower reads once per retry period.
    pub fn try_once(&self) -> Result<Role, ElectError> {
        let _one = self.trying.lock().unwrap_or_else(|e| e.into_inner());
        let clock = self.fence.clock().clone();
        // The renewal counts from before the read: the conservative start of the fence.
        let began = clock.now();
        let current = match self.last().filter(|_| self.fence.holds()) {
            Some(ours) => Some(ours),
            None => match self.request("GET", &self.path(true), None) {
                Ok(obj) => Some(parse(&obj, &self.name())?),
                Err(e) if e.is_not_found() => None,
                Err(e) => return Err(self.kube(e)),
            },
        };
        *self.last.lock().unwrap_or_else(|e| e.into_inner()) = current.clone();
        let was_leading = self.fence.holds();
        let decision = self.fence.observer().decide(
            current.as_ref().map(|r| &r.spec),
            &self.me,
            clock.now(),
            clock.unix_now(),
            self.fence.timings(),
        );
        let (spec, create) = match decision {
            Decision::Follow { holder, .. } => return Ok(Role::Following { holder }),
            Decision::Create(s) => (s, true),
            Decision::Acquire(s) | Decision::Renew(s) => (s, false),
        };
        let body = self.body(&spec, current.as_ref());
        let sent = if create {
            self.request("POST", &self.path(false), Some(&body))
        } else {
            self.request("PUT", &self.path(true), Some(&body))
        };
        match sent {
            Ok(obj) => {
                let term = spec.transitions;
                self.fence.observer().written(spec, began);
                if let Ok(r) = parse(&obj, &self.name()) {
                    *self.last.lock().unwrap_or_else(|e| e.into_inner()) = Some(r);
                }
                if !was_leading {
                    self.fence.new_term();
                }
                Ok(Role::Leading { term })
            }
            Err(e) if e.code() == Some(409) => {
                // Another node wrote the record first: not ours, at once.
                self.fence.observer().lost();
                Ok(Role::Unknown)
            }
            Err(e) => Err(self.kube(e)),
        }
    }

    /// The Lease object holding `spec`, over the `current` record (its annotations and
    /// resourceVersion) plus the site state this node publishes.
    fn body(&self, spec: &LeaseSpec, current: Option<&LeaseRecord>) -> Value {
        let publish = self
            .publish
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone();
        lease_body(
            &self.site.lease_namespace,
            &self.site.lease(),
            spec,
            current,
            publish,
        )
    }

    /// On a clean shutdown (client-go's ReleaseOnCancel): closes the fence first (no write of
    /// this node passes it from now on), then writes the Lease with no holder and a 1 s
    /// duration, so a follower takes over on its next try instead of after the lease. True
    /// when this node held the Lease and released it.
    pub fn release(&self) -> Result<bool, ElectError> {
        let _one = self.trying.lock().unwrap_or_else(|e| e.into_inner());
        let held = self.fence.holds();
        self.fence.observer().lost();
        let Some(current) = self
            .last()
            .filter(|r| held && r.spec.holder.as_deref() == Some(self.me.as_str()))
        else {
            return Ok(false);
        };
        let stamp = super::lease::micro_time(self.fence.clock().unix_now());
        let spec = LeaseSpec {
            holder: None,
            lease_duration_seconds: 1,
            acquire_time: Some(stamp.clone()),
            renew_time: Some(stamp),
            transitions: current.spec.transitions,
        };
        let body = self.body(&spec, Some(&current));
        self.request("PUT", &self.path(true), Some(&body))
            .map_err(|e| self.kube(e))?;
        Ok(true)
    }
}
