//! Request hygiene before any handler: bounded URI and headers (414, 431), no repeated query
//! parameter (400), and 405 for a known path with another method, all in the JSON error
//! format. The HTTP server's own limits are higher, so these answer first.

use axum::extract::Request;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use super::ApiError;
use crate::error::Error;

/// Longest request target (path and query), in bytes.
pub const URI_BYTES_MAX: usize = 8 * 1024;
/// Most header fields of one request.
pub const HEADERS_MAX: usize = 64;
/// Most bytes of all header names and values of one request.
pub const HEADER_BYTES_MAX: usize = 16 * 1024;
/// Most query parameters of one request.
pub const QUERY_PARAMS_MAX: usize = 32;

/// The middleware: refuses what no handler should see.
pub async fn check(req: Request, next: Next) -> Response {
    match refuse(&req) {
        Some(e) => ApiError(e).into_response(),
        None => next.run(req).await,
    }
}

fn refuse(req: &Request) -> Option<Error> {
    let uri = req.uri();
    let target = uri.path_and_query().map_or(0, |p| p.as_str().len());
    if target > URI_BYTES_MAX {
        return Some(Error::UriTooLong(format!(
            "uri: longer than {URI_BYTES_MAX} bytes"
        )));
    }
    let headers = req.headers();
    let bytes: usize = headers
        .iter()
        .map(|(k, v)| k.as_str().len() + v.len())
        .sum();
    if headers.len() > HEADERS_MAX || bytes > HEADER_BYTES_MAX {
        return Some(Error::HeadersTooLarge(format!(
            "headers: at most {HEADERS_MAX} fields and {HEADER_BYTES_MAX} bytes"
        )));
    }
    uri.query().and_then(|q| repeated_param(q).err())
}

/// 400 when a query parameter appears twice (after decoding) or there are too many.
fn repeated_param(query: &str) -> Result<(), Error> {
    let url = reqwest::Url::parse(&format!("http://q/?{query}"))
        .map_err(|e| Error::BadRequest(format!("query: not a valid query string ({e})")))?;
    let mut seen: Vec<String> = Vec::new();
    for (k, _) in url.query_pairs() {
        if seen.len() == QUERY_PARAMS_MAX {
            return Err(Error::BadRequest(format!(
                "query: at most {QUERY_PARAMS_MAX} parameters"
            )));
        }
        if seen.iter().any(|s| *s == k) {
            return Err(Error::BadRequest(format!(
                "{k}: the query parameter is repeated"
            )));
        }
        seen.push(k.into_owned());
    }
    Ok(())
}

/// The answer to a known path asked with a method it does not serve.
pub async fn method_not_allowed(method: axum::http::Method) -> ApiError {
    ApiError(Error::MethodNotAllowed(format!(
        "method: {method} is not allowed on this path"
    )))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request(uri: &str, headers: &[(&str, String)]) -> Request {
        let mut b = axum::http::Request::builder().uri(uri);
        for (k, v) in headers {
            b = b.header(*k, v.as_str());
        }
        b.body(axum::body::Body::empty()).expect("request")
    }

    #[test]
    fn each_limit_refuses_with_its_status() {
        let status = |r: &Request| refuse(r).map(|e| e.status().as_u16());
        assert_eq!(
            status(&request("/v1/entities?limit=5&marker=en1", &[])),
            None
        );
        let long = format!("/v1/entities?marker={}", "a".repeat(URI_BYTES_MAX));
        assert_eq!(status(&request(&long, &[])), Some(414));
        let many: Vec<(&str, String)> = (0..=HEADERS_MAX).map(|i| ("x-h", i.to_string())).collect();
        assert_eq!(status(&request("/", &many)), Some(431));
        let big = [("x-big", "b".repeat(HEADER_BYTES_MAX))];
        assert_eq!(status(&request("/", &big)), Some(431));
        let e = refuse(&request("/v1/entities?limit=1&li%6Dit=2", &[])).expect("repeated");
        assert_eq!(e.to_string(), "limit: the query parameter is repeated");
        let params: Vec<String> = (0..=QUERY_PARAMS_MAX).map(|i| format!("p{i}=1")).collect();
        let e = refuse(&request(&format!("/?{}", params.join("&")), &[])).expect("many");
        assert!(e.to_string().starts_with("query: at most"), "{e}");
    }
}
