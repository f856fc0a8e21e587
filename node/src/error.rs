//! Errors of the node, and the one place that maps them to HTTP status and JSON.

use axum::http::StatusCode;
use meridian_raft::model::{ApplyError, ApplyErrorKind};

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("{0}")]
    Config(String),
    #[error("{0}")]
    BadRequest(String),
    #[error("{0}")]
    Unauthorized(String),
    #[error("{0}")]
    Forbidden(String),
    #[error("{0}")]
    NotFound(String),
    #[error("{0}")]
    Conflict(String),
    #[error("{0}")]
    PreconditionFailed(String),
    #[error("{0}")]
    PayloadTooLarge(String),
    #[error("{0}")]
    UnsupportedMediaType(String),
    #[error("{0}")]
    UriTooLong(String),
    #[error("{0}")]
    HeadersTooLarge(String),
    #[error("{0}")]
    MethodNotAllowed(String),
    /// An `Idempotency-Key` sent again with a different request (method, path or body).
    #[error("{0}")]
    IdempotencyKeyReused(String),
    #[error("{0}")]
    TooManyRequests(String),
    /// No leader or no quorum right now: the client may retry.
    #[error("{0}")]
    Unavailable(String),
    #[error("storage: {0}")]
    Storage(#[from] meridian_raft::Error),
    #[error("io: {0}")]
    Io(#[from] std::io::Error),
    #[error("internal: {0}")]
    Internal(String),
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    pub fn status(&self) -> StatusCode {
        match self {
            Error::Config(_) | Error::BadRequest(_) => StatusCode::BAD_REQUEST,
            Error::Unauthorized(_) => StatusCode::UNAUTHORIZED,
            Error::Forbidden(_) => StatusCode::FORBIDDEN,
            Error::NotFound(_) => StatusCode::NOT_FOUND,
            Error::Conflict(_) => StatusCode::CONFLICT,
            Error::PreconditionFailed(_) => StatusCode::PRECONDITION_FAILED,
            Error::PayloadTooLarge(_) => StatusCode::PAYLOAD_TOO_LARGE,
            Error::IdempotencyKeyReused(_) => StatusCode::UNPROCESSABLE_ENTITY,
            Error::UnsupportedMediaType(_) => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            Error::UriTooLong(_) => StatusCode::URI_TOO_LONG,
            Error::HeadersTooLarge(_) => StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE,
            Error::MethodNotAllowed(_) => StatusCode::METHOD_NOT_ALLOWED,
            Error::TooManyRequests(_) => StatusCode::TOO_MANY_REQUESTS,
            Error::Unavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
            Error::Storage(_) | Error::Io(_) | Error::Internal(_) => {
                StatusCode::INTERNAL_SERVER_ERROR
            }
        }
    }

    /// The `type` field of the error body.
    pub fn kind(&self) -> &'static str {
        match self {
            Error::Config(_) | Error::BadRequest(_) => "badRequest",
            Error::Unauthorized(_) => "unauthorized",
            Error::Forbidden(_) => "forbidden",
            Error::NotFound(_) => "notFound",
            Error::Conflict(_) => "conflict",
            Error::PreconditionFailed(_) => "preconditionFailed",
            Error::PayloadTooLarge(_) => "payloadTooLarge",
            Error::IdempotencyKeyReused(_) => "idempotencyKeyReused",
            Error::UnsupportedMediaType(_) => "unsupportedMediaType",
            Error::UriTooLong(_) => "uriTooLong",
            Error::HeadersTooLarge(_) => "headersTooLarge",
            Error::MethodNotAllowed(_) => "methodNotAllowed",
            Error::TooManyRequests(_) => "tooManyRequests",
            Error::Unavailable(_) => "serviceUnavailable",
            Error::Storage(_) | Error::Io(_) | Error::Internal(_) => "internalError",
        }
    }

    /// Whether the error is the server's own fault: its text is for the log, not the client.
    pub fn is_internal(&self) -> bool {
        matches!(self, Error::Storage(_) | Error::Io(_) | Error::Internal(_))
    }
}

impl From<ApplyError> for Error {
    fn from(e: ApplyError) -> Self {
        match e.kind {
            ApplyErrorKind::NotFound => Error::NotFound(e.message),
            ApplyErrorKind::Conflict => Error::Conflict(e.message),
            ApplyErrorKind::PreconditionFailed => Error::PreconditionFailed(e.message),
            ApplyErrorKind::Invalid => Error::BadRequest(e.message),
            ApplyErrorKind::KeyReused => Error::IdempotencyKeyReused(e.message),
        }
    }
}
