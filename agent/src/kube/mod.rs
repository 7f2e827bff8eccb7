//! The Kubernetes side of the IO shell: a blocking client (kube-core builds the requests, ureq
//! sends them over rustls) and a discovery cache.

pub mod client;
pub mod discovery;
pub mod retry;

pub use client::{Cause, KubeClient, KubeError};
pub use discovery::{Discovery, ResourceInfo};
