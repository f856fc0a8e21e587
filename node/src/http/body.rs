//! A JSON body extractor with the node's size limit: 415 unless the body is sent as JSON, 413
//! past the limit, 400 naming the field when the JSON repeats a key or does not fit the
//! expected shape.

use std::collections::HashSet;
use std::fmt;

use axum::extract::{FromRequest, Request};
use axum::http::header;
use serde::de::{self, DeserializeOwned, Deserializer, MapAccess, SeqAccess, Visitor};

use super::{ApiError, AppState};
use crate::error::Error;

pub struct JsonBody<T>(pub T);

/// `application/json` or `application/*+json`, with any parameters (`; charset=utf-8`).
pub fn is_json(content_type: &str) -> bool {
    let mime = content_type.split(';').next().unwrap_or("").trim();
    let mime = mime.to_ascii_lowercase();
    mime == "application/json" || (mime.starts_with("application/") && mime.ends_with("+json"))
}

impl<T: DeserializeOwned> FromRequest<AppState> for JsonBody<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, node: &AppState) -> Result<Self, ApiError> {
        let content_type = req
            .headers()
            .get(header::CONTENT_TYPE)
            .map(|v| v.to_str().map(is_json).unwrap_or(false));
        let limit = node.cfg.max_body_bytes;
        let bytes = axum::body::to_bytes(req.into_body(), limit)
            .await
            .map_err(|_| {
                ApiError(Error::PayloadTooLarge(format!(
                    "body: larger than {limit} bytes"
                )))
            })?;
        // No Content-Type is tolerated only for an empty body (then a 400 says what is missing).
        if content_type == Some(false) || (content_type.is_none() && !bytes.is_empty()) {
            return Err(ApiError(Error::UnsupportedMediaType(
                "Content-Type: the body must be sent as application/json".into(),
            )));
        }
        parse(&bytes).map(JsonBody).map_err(ApiError)
    }
}

/// Parses `bytes` as `T`, refusing a repeated key at any depth; errors name the field.
pub fn parse<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, Error> {
    let named = |e: serde_path_to_error::Error<serde_json::Error>| {
        let path = e.path().to_string();
        let field = if path == "." {
            "body".to_string()
        } else {
            path
        };
        Error::BadRequest(format!("{field}: {}", e.into_inner()))
    };
    let de = &mut serde_json::Deserializer::from_slice(bytes);
    serde_path_to_error::deserialize::<_, Unique>(de).map_err(named)?;
    let de = &mut serde_json::Deserializer::from_slice(bytes);
    serde_path_to_error::deserialize(de).map_err(named)
}

/// Any JSON value whose objects have no repeated key (the values are checked, not kept).
struct Unique;

impl<'de> de::Deserialize<'de> for Unique {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(UniqueVisitor)
    }
}

struct UniqueVisitor;

impl<'de> Visitor<'de> for UniqueVisitor {
    type Value = Unique;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a JSON value")
    }
    fn visit_bool<E>(self, _: bool) -> Result<Unique, E> {
        Ok(Unique)
    }
    fn visit_i64<E>(self, _: i64) -> Result<Unique, E> {
        Ok(Unique)
    }
    fn visit_u64<E>(self, _: u64) -> Result<Unique, E> {
        Ok(Unique)
    }
    fn visit_f64<E>(self, _: f64) -> Result<Unique, E> {
        Ok(Unique)
    }
    fn visit_str<E>(self, _: &str) -> Result<Unique, E> {
        Ok(Unique)
    }
    fn visit_unit<E>(self) -> Result<Unique, E> {
        Ok(Unique)
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Unique, A::Error> {
        while seq.next_element::<Unique>()?.is_some() {}
        Ok(Unique)
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Unique, A::Error> {
        let mut keys = HashSet::new();
        while let Some(k) = map.next_key::<String>()? {
            if !keys.insert(k.clone()) {
                return Err(de::Error::custom(format_args!("duplicate key {k:?}")));
            }
            map.next_value::<Unique>()?;
        }
        Ok(Unique)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::{Map, Value};

    #[test]
    fn a_repeated_key_is_refused_at_any_depth_naming_where() {
        let ok: Map<String, Value> = parse(br#"{"a": {"b": 1, "c": [{"d": 1}]}}"#).expect("ok");
        assert_eq!(ok["a"]["c"][0]["d"], 1);
        let cases = [
            (
                r#"{"label": "a", "label": "b"}"#,
                "body: duplicate key \"label\"",
            ),
            (
                r#"{"details": {"url": "x", "url": "y"}}"#,
                "details: duplicate key",
            ),
            (r#"{"a": [{"k": 1, "k": 2}]}"#, "a[0]: duplicate key"),
        ];
        for (body, msg) in cases {
            let e = parse::<Map<String, Value>>(body.as_bytes()).expect_err(body);
            assert!(e.to_string().starts_with(msg), "{body}: {e}");
        }
    }

    #[test]
    fn json_content_types() {
        for ok in [
            "application/json",
            "Application/JSON; charset=utf-8",
            "application/merge-patch+json",
        ] {
            assert!(is_json(ok), "{ok}");
        }
        for bad in [
            "text/plain",
            "application/x-www-form-urlencoded",
            "",
            "json",
        ] {
            assert!(!is_json(bad), "{bad}");
        }
    }
}
