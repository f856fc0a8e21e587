//! `Idempotency-Key`: a write's request id, scoped to the caller, and the fingerprint of the
//! request it came with.
//!
//! A key belongs to (caller, method, path, body): the id carries the caller, the fingerprint a
//! digest of the rest. Whether a retry is the same request is decided inside the replicated
//! `apply`, which compares the fingerprint with the one stored with the id, so it holds for
//! concurrent retries through different nodes.

use axum::http::{HeaderMap, Method};
use serde_json::Value;
use sha2::{Digest, Sha256};

use crate::error::Error;

/// Longest accepted `Idempotency-Key`.
pub const IDEMPOTENCY_KEY_MAX: usize = 255;

/// The message of a refused reuse (the replicated model words its own the same way).
pub const KEY_REUSED: &str =
    "Idempotency-Key: already used for a different request (method, path or body)";

/// The request id of a client write and the fingerprint of its request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RequestKey {
    pub id: String,
    pub fingerprint: String,
}

/// What the fingerprint covers, besides the caller (who is in the id).
pub struct Request<'a> {
    pub method: &'a Method,
    pub path: &'a str,
    pub body: Option<&'a Value>,
}

/// The request key of a write: from `Idempotency-Key` (scoped to the caller), or None.
pub fn idempotency_key(
    headers: &HeaderMap,
    scope: &str,
    request: &Request<'_>,
) -> Result<Option<RequestKey>, Error> {
    let Some(v) = headers.get("idempotency-key") else {
        return Ok(None);
    };
    let key = v
        .to_str()
        .map_err(|_| Error::BadRequest("Idempotency-Key: must be visible ASCII".into()))?;
    if key.is_empty() || key.len() > IDEMPOTENCY_KEY_MAX {
        return Err(Error::BadRequest(format!(
            "Idempotency-Key: must be 1 to {IDEMPOTENCY_KEY_MAX} characters"
        )));
    }
    Ok(Some(RequestKey {
        id: format!("idem/{scope}/{key}"),
        fingerprint: fingerprint(request),
    }))
}

/// Hex SHA-256 of method, path and the body in canonical JSON (object keys sorted, no
/// spaces), so a retry that re-encodes the same body matches.
pub fn fingerprint(r: &Request<'_>) -> String {
    let mut bytes = format!("v1\n{}\n{}\n", r.method, r.path).into_bytes();
    if let Some(body) = r.body {
        canonical(body, &mut bytes);
    }
    hex::encode(Sha256::digest(&bytes))
}

fn canonical(v: &Value, out: &mut Vec<u8>) {
    match v {
        Value::Object(m) => {
            let mut entries: Vec<(&String, &Value)> = m.iter().collect();
            entries.sort_unstable_by(|a, b| a.0.cmp(b.0));
            out.push(b'{');
            for (i, (k, v)) in entries.into_iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                out.extend_from_slice(Value::String(k.clone()).to_string().as_bytes());
                out.push(b':');
                canonical(v, out);
            }
            out.push(b'}');
        }
        Value::Array(a) => {
            out.push(b'[');
            for (i, v) in a.iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                canonical(v, out);
            }
            out.push(b']');
        }
        scalar => out.extend_from_slice(scalar.to_string().as_bytes()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn fp(method: Method, path: &str, body: Option<Value>) -> String {
        fingerprint(&Request {
            method: &method,
            path,
            body: body.as_ref(),
        })
    }

    #[test]
    fn the_fingerprint_covers_method_path_and_body_but_not_key_order() {
        let a = fp(
            Method::POST,
            "/v1/entities",
            Some(json!({"label": "a", "x": [1]})),
        );
        let same: Value = serde_json::from_str(r#"{ "x" : [1], "label":"a" }"#).expect("json");
        assert_eq!(a, fp(Method::POST, "/v1/entities", Some(same)));
        let others = [
            fp(
                Method::PUT,
                "/v1/entities",
                Some(json!({"label": "a", "x": [1]})),
            ),
            fp(
                Method::POST,
                "/v1/notifications",
                Some(json!({"label": "a", "x": [1]})),
            ),
            fp(
                Method::POST,
                "/v1/entities",
                Some(json!({"label": "b", "x": [1]})),
            ),
            fp(
                Method::POST,
                "/v1/entities",
                Some(json!({"label": "a", "x": ["1"]})),
            ),
            fp(Method::POST, "/v1/entities", None),
        ];
        for o in others {
            assert_ne!(a, o);
        }
    }

    #[test]
    fn the_key_is_scoped_and_bounded() {
        let r = Request {
            method: &Method::DELETE,
            path: "/v1/entities/en1",
            body: None,
        };
        let mut h = HeaderMap::new();
        assert_eq!(idempotency_key(&h, "t1", &r).expect("ok"), None);
        h.insert("idempotency-key", "k1".parse().expect("header"));
        let k = idempotency_key(&h, "t1", &r).expect("ok").expect("some");
        assert_eq!(k.id, "idem/t1/k1");
        assert_eq!(k.fingerprint, fingerprint(&r));
        let long = "k".repeat(IDEMPOTENCY_KEY_MAX + 1);
        h.insert("idempotency-key", long.parse().expect("header"));
        let e = idempotency_key(&h, "t1", &r).expect_err("too long");
        assert!(e.to_string().starts_with("Idempotency-Key"), "{e}");
    }
}
