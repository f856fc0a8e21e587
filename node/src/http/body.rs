//! A JSON body extractor with the node's size limit: 413 past it, 400 naming the field when the
//! JSON does not fit the expected shape.

use axum::extract::{FromRequest, Request};
use serde::de::DeserializeOwned;

use super::{ApiError, AppState};
use crate::error::Error;

pub struct JsonBody<T>(pub T);

impl<T: DeserializeOwned> FromRequest<AppState> for JsonBody<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, node: &AppState) -> Result<Self, ApiError> {
        let limit = node.cfg.max_body_bytes;
        let bytes = axum::body::to_bytes(req.into_body(), limit)
            .await
            .map_err(|_| {
                ApiError(Error::PayloadTooLarge(format!(
                    "body: larger than {limit} bytes"
                )))
            })?;
        let de = &mut serde_json::Deserializer::from_slice(&bytes);
        serde_path_to_error::deserialize(de)
            .map(JsonBody)
            .map_err(|e| {
                let path = e.path().to_string();
                let field = if path == "." {
                    "body".to_string()
                } else {
                    path
                };
                ApiError(Error::BadRequest(format!("{field}: {}", e.into_inner())))
            })
    }
}
