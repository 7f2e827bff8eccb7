//! Sites with several nodes: one writer elected by a coordination.k8s.io Lease ([`lease`] is
//! the pure core, [`elector`] the IO shell that reads and writes the Lease), and the write
//! fence every mutating Kubernetes request passes ([`fence`]). A device without a `site:`
//! section makes no Lease request and is never fenced.

pub mod config;
pub mod lease;

pub use config::SiteConfig;
