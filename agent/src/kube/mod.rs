//! The Kubernetes side of the IO shell: a blocking client (kube-core builds the requests, ureq
//! sends them over rustls) and a discovery cache.

pub mod client;
pub mod discovery;
pub mod error;
pub mod resolver;
pub mod retry;

pub use client::KubeClient;
pub use discovery::{Discovery, ResourceInfo};
pub use error::{Cause, KubeError};
