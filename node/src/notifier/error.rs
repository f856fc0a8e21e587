//! Errors of the notifier: why one attempt failed (and whether to try again), and why a delivery
//! was not accepted.

use std::time::Duration;

/// Why one attempt to send failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SendError {
    /// Trying again may work (connection error, timeout, 5xx, 408, 429, SMTP 4xx).
    #[error("{error}")]
    Transient {
        error: String,
        /// The receiver's `Retry-After`, when it gave one.
        retry_after: Option<Duration>,
    },
    /// Trying again will not help (4xx other than 408/429, SMTP 5xx, refused address).
    #[error("{0}")]
    Permanent(String),
}

impl SendError {
    pub fn transient(error: impl Into<String>) -> SendError {
        SendError::Transient {
            error: error.into(),
            retry_after: None,
        }
    }

    pub fn is_permanent(&self) -> bool {
        matches!(self, SendError::Permanent(_))
    }
}

/// Why the notifier did not take a delivery.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SubmitError {
    /// `DELIVERIES_QUEUED_MAX` (or the configured bound) deliveries are already pending.
    #[error("notifier: {0} deliveries already queued")]
    Full(usize),
    /// The notifier is shutting down.
    #[error("notifier: shutting down")]
    Closed,
}
