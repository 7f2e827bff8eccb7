//! Why objects could not be applied: the error every executor step of a stage (resolve,
//! check, apply, wait) answers with.

use super::object::ObjectId;
use super::write::WriteError;
use crate::kube::KubeError;
use thiserror::Error;

/// Why objects could not be applied.
#[derive(Debug, Error)]
pub enum ApplyError {
    #[error("{origin}: {kind} ({api_version}) is not served by the cluster and no CRD in this bundle defines it")]
    UnknownKind {
        origin: String,
        api_version: String,
        kind: String,
    },
    #[error("{origin}: {kind}/{name} is also defined in {other}")]
    Duplicate {
        origin: String,
        kind: String,
        name: String,
        other: String,
    },
    #[error("apply {id} ({origin}): {source}")]
    Kube {
        id: ObjectId,
        origin: String,
        source: KubeError,
    },
    #[error(transparent)]
    Write(#[from] WriteError),
    #[error("discovery of {api_version}: {source}")]
    Discovery {
        api_version: String,
        source: KubeError,
    },
}
