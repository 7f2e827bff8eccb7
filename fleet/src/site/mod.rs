//! Sites with several nodes, seen from the fleet (issue 24): each heartbeat's `site` claim
//! ([`model`]: parsed and bounded at ingest, stored with the device), what the claims of a
//! site's nodes add up to ([`summary`]: the leader of each sync, conflicts, a host rollout in
//! progress or stopped; the [`state`] of the site; pure), kept per site at ingest by
//! [`crate::aggregate::sites`], and the sites list and site page ([`page`]) with their JSON
//! twins.

pub mod model;
pub mod page;
pub mod state;
pub mod summary;
