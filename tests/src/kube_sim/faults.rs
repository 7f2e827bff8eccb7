//! Error answers a test can inject, worded as the real servers word them: a plain `Status`
//! with a chosen code, 429 from API Priority and Fairness (text body) or from a storage-level
//! throttle (`Status` reason TooManyRequests), both with `Retry-After`, and k3s's 503
//! "apiserver not ready" while its apiserver is starting.

use super::http::Response;
use serde_json::json;

/// How a 429 looks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ThrottleBody {
    /// API Priority and Fairness / max-in-flight (`filters/maxinflight.go` `tooManyRequests`):
    /// `text/plain` "Too many requests, please try again later."
    #[default]
    PriorityAndFairness,
    /// `apierrors.NewTooManyRequests`: a `Status` with reason TooManyRequests and
    /// `details.retryAfterSeconds`.
    Status,
}

/// One injected answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Injected {
    /// A `Status` failure with this code (InternalError wording).
    Status(u16),
    Throttled {
        retry_after: u32,
        body: ThrottleBody,
    },
    /// k3s before its apiserver is ready (`pkg/util/apierrors.go`: `ErrNotReady` sent with 503).
    NotReady,
}

impl Injected {
    pub fn response(&self) -> Response {
        match *self {
            Injected::Status(code) => {
                super::errors::ApiError::new(code, "InternalError", "kube-sim: injected fault")
                    .response()
            }
            Injected::Throttled {
                retry_after,
                body: ThrottleBody::PriorityAndFairness,
            } => {
                let mut r = Response::new(
                    429,
                    "text/plain; charset=utf-8",
                    b"Too many requests, please try again later.\n".to_vec(),
                );
                r.headers
                    .push(("Retry-After".into(), retry_after.to_string()));
                r.headers
                    .push(("X-Content-Type-Options".into(), "nosniff".into()));
                r
            }
            Injected::Throttled {
                retry_after,
                body: ThrottleBody::Status,
            } => {
                let status = json!({"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
                    "message": "Too many requests, please try again later.", "reason": "TooManyRequests",
                    "details": {"retryAfterSeconds": retry_after}, "code": 429});
                let mut r = Response::json(429, &status);
                r.headers
                    .push(("Retry-After".into(), retry_after.to_string()));
                r
            }
            Injected::NotReady => {
                let status = json!({"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
                    "message": "apiserver not ready", "reason": "ServiceUnavailable", "code": 503});
                Response::json(503, &status)
            }
        }
    }
}
