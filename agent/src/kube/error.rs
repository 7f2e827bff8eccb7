//! The vocabulary of a failed Kubernetes call, shared by the client that makes the calls and
//! the retry schedule that decides which failures are worth another try.

use std::path::PathBuf;
use std::time::Duration;
use thiserror::Error;

/// Why a Kubernetes call failed.
#[derive(Debug, Error)]
pub enum KubeError {
    #[error("kubeconfig {path}: {reason}")]
    Config { path: PathBuf, reason: String },
    #[error("cannot build request for {what}: {reason}")]
    Request { what: String, reason: String },
    #[error("{method} {path}: cannot reach the API server: {reason}")]
    Transport {
        method: String,
        path: String,
        reason: String,
    },
    #[error("{method} {path}: {code} {reason}: {message}")]
    Api {
        method: String,
        path: String,
        code: u16,
        reason: String,
        message: String,
        /// Seconds from a `Retry-After` header (429, 503).
        retry_after: Option<u64>,
        /// `details.causes` of the Status (conflicting or invalid fields).
        causes: Vec<Cause>,
    },
    /// A write of a site node that does not hold the site lease (not sent).
    #[error("{method} {path}: {source}")]
    Fenced {
        method: String,
        path: String,
        source: crate::site::fence::FenceError,
    },
    #[error("{method} {path}: response is not JSON: {reason}")]
    Decode {
        method: String,
        path: String,
        reason: String,
    },
}

impl KubeError {
    /// The HTTP status of an API error.
    pub fn code(&self) -> Option<u16> {
        match self {
            KubeError::Api { code, .. } => Some(*code),
            _ => None,
        }
    }
    pub fn is_not_found(&self) -> bool {
        self.code() == Some(404)
    }
    /// The server's `Retry-After`, if it sent one.
    pub fn retry_after(&self) -> Option<Duration> {
        match self {
            KubeError::Api { retry_after, .. } => retry_after.map(Duration::from_secs),
            _ => None,
        }
    }
    /// The `causes` or message of a 422, for immutable-field detection.
    pub fn message(&self) -> &str {
        match self {
            KubeError::Api { message, .. } => message,
            _ => "",
        }
    }
    /// The causes of an API error (empty for others).
    pub fn causes(&self) -> &[Cause] {
        match self {
            KubeError::Api { causes, .. } => causes,
            _ => &[],
        }
    }
    /// Worth retrying: transport failures, 429 and 5xx.
    pub fn is_transient(&self) -> bool {
        match self {
            KubeError::Transport { .. } => true,
            KubeError::Api { code, .. } => *code == 429 || *code >= 500,
            _ => false,
        }
    }
}

/// One entry of a Status's `details.causes`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cause {
    pub reason: String,
    pub message: String,
    pub field: String,
}
