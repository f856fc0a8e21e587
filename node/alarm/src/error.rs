//! Errors of the alarm crate: a spec or an observation that cannot be used, naming the field.

/// Result of the alarm crate.
pub type Result<T> = std::result::Result<T, AlarmError>;

/// Why a spec, an observation or a plan was refused. Every message starts with the field.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AlarmError {
    /// A field of the alarm spec or of a notification plan is out of range.
    #[error("{field}: {message}")]
    Invalid {
        /// The field, as the API names it.
        field: &'static str,
        /// What is wrong, lowercase.
        message: String,
    },
    /// An observation from a zone the alarm's check does not poll.
    #[error("zone: {zone} is not polled by this alarm's check")]
    UnknownZone {
        /// The zone of the observation.
        zone: String,
    },
    /// An observation not newer than the zone's newest one (a repeat, or late and out of order).
    #[error("timestamp_ms: {timestamp_ms} is not newer than zone {zone}'s newest {newest_ms}")]
    OutOfOrder {
        /// The zone of the observation.
        zone: String,
        /// The observation's timestamp.
        timestamp_ms: i64,
        /// The zone's newest timestamp.
        newest_ms: i64,
    },
}

impl AlarmError {
    /// An `Invalid` error for `field`.
    pub(crate) fn invalid(field: &'static str, message: impl Into<String>) -> Self {
        AlarmError::Invalid {
            field,
            message: message.into(),
        }
    }
}
