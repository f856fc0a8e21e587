//! HTTP `POST`s of notifications over a connection from the node's one dial path: HTTP/1.1 on
//! the dialed stream, no redirect followed, no proxy, the answer's body read up to a bound, the
//! whole attempt under a timeout.

use std::time::Duration;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use bytes::Bytes;
use futures::future::BoxFuture;
use http_body_util::{BodyExt, Full};
use hyper::Request;
use hyper::header::{HeaderName, HeaderValue};
use hyper_util::rt::TokioIo;
use tokio::io::{AsyncRead, AsyncWrite};

use crate::poller::dial::{DialError, Dialer, PollClock, TlsOptions};

use super::channels::{HttpPost, USER_AGENT, truncate};
use super::error::SendError;

/// Most bytes of a receiver's answer read; the rest is dropped with the connection.
pub const RESPONSE_BODY_MAX: usize = 64 * 1024;
/// Most bytes of the answer quoted in an error.
pub const ERROR_BODY_QUOTED_MAX: usize = 200;
/// Time one attempt may take, from dial to the answer's body, by default.
pub const ATTEMPT_TIMEOUT_DEFAULT: Duration = Duration::from_secs(10);

/// A byte stream to a receiver.
pub trait Io: AsyncRead + AsyncWrite + Send + Unpin + 'static {}
impl<T: AsyncRead + AsyncWrite + Send + Unpin + 'static> Io for T {}

/// Opens connections to receivers: the node implements it with its dial path (address policy,
/// TLS with a verified chain), so every endpoint passes the policy.
pub trait Dial: Send + Sync + 'static {
    /// A connection to `host:port`, TLS (SNI `host`, verified) when `tls`. An address the
    /// policy refuses is a permanent error.
    fn dial<'a>(
        &'a self,
        host: &'a str,
        port: u16,
        tls: bool,
    ) -> BoxFuture<'a, Result<Box<dyn Io>, SendError>>;
}

/// The node's dial path: resolve once, the address policy on every address, connect to a
/// checked address, TLS whose chain must verify for a notification to be sent.
impl Dial for Dialer {
    fn dial<'a>(
        &'a self,
        host: &'a str,
        port: u16,
        tls: bool,
    ) -> BoxFuture<'a, Result<Box<dyn Io>, SendError>> {
        Box::pin(async move {
            let opts = tls.then_some(TlsOptions {
                server_name: host,
                verify: true,
                http: true,
            });
            let dialed = Dialer::dial(self, PollClock::start(), host, port, opts)
                .await
                .map_err(|e| match e {
                    DialError::Refused(r) => SendError::Permanent(r.to_string()),
                    other => SendError::transient(other.to_string()),
                })?;
            if let Some(facts) = dialed.tls.as_ref().filter(|f| !f.cert_error.is_empty()) {
                let error = format!("tls certificate: {}", facts.cert_error);
                return Err(SendError::transient(error));
            }
            Ok(Box::new(dialed.conn) as Box<dyn Io>)
        })
    }
}

/// The result of one attempt: its outcome and the receiver's HTTP status, when it answered.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Attempt {
    pub result: Result<(), SendError>,
    pub http_status: Option<u16>,
}

impl Attempt {
    pub fn failed(e: SendError) -> Attempt {
        Attempt {
            result: Err(e),
            http_status: None,
        }
    }
}

/// Sends notification requests through a `Dial`.
#[derive(Clone)]
pub struct HttpSender {
    dial: std::sync::Arc<dyn Dial>,
    timeout: Duration,
}

impl HttpSender {
    pub fn new(dial: std::sync::Arc<dyn Dial>, timeout: Duration) -> HttpSender {
        HttpSender { dial, timeout }
    }

    /// One attempt to deliver `p`.
    pub async fn post(&self, p: &HttpPost) -> Attempt {
        match tokio::time::timeout(self.timeout, self.exchange(p)).await {
            Ok(Ok((status, body))) => classify(status, &body),
            Ok(Err(e)) => Attempt::failed(e),
            Err(_) => Attempt::failed(SendError::transient(format!(
                "no answer within {} ms",
                self.timeout.as_millis()
            ))),
        }
    }

    async fn exchange(&self, p: &HttpPost) -> Result<(hyper::Response<()>, Vec<u8>), SendError> {
        let url = &p.url;
        let host = url
            .host_str()
            .ok_or_else(|| SendError::Permanent(format!("{url}: no host")))?;
        let tls = match url.scheme() {
            "https" => true,
            "http" => false,
            other => {
                return Err(SendError::Permanent(format!(
                    "scheme {other} not supported"
                )));
            }
        };
        let port = url
            .port_or_known_default()
            .unwrap_or(if tls { 443 } else { 80 });
        let io = self.dial.dial(host, port, tls).await?;
        let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(io))
            .await
            .map_err(|e| SendError::transient(format!("http handshake: {e}")))?;
        // The connection task ends when the exchange is over (or the attempt times out and
        // drops the sender).
        tokio::spawn(async move {
            let _ = conn.await;
        });
        let req = request(p, host)?;
        let resp = sender
            .send_request(req)
            .await
            .map_err(|e| SendError::transient(format!("http: {e}")))?;
        let (parts, mut body) = resp.into_parts();
        let mut read = Vec::new();
        while read.len() < RESPONSE_BODY_MAX {
            match body.frame().await {
                Some(Ok(frame)) => {
                    if let Some(data) = frame.data_ref() {
                        let room = RESPONSE_BODY_MAX - read.len();
                        read.extend_from_slice(&data[..data.len().min(room)]);
                    }
                }
                // A broken body after the status line does not change the status's meaning.
                Some(Err(_)) | None => break,
            }
        }
        Ok((hyper::Response::from_parts(parts, ()), read))
    }
}

fn request(p: &HttpPost, host: &str) -> Result<Request<Full<Bytes>>, SendError> {
    let url = &p.url;
    let mut path = url.path().to_string();
    if let Some(q) = url.query() {
        path.push('?');
        path.push_str(q);
    }
    let authority = match url.port() {
        Some(port) => format!("{host}:{port}"),
        None => host.to_string(),
    };
    let mut b = Request::post(path)
        .header("host", authority)
        .header("user-agent", USER_AGENT)
        .header("content-length", p.body.len());
    if let Some(auth) = basic_auth(url) {
        b = b.header("authorization", auth);
    }
    for (name, value) in &p.headers {
        let value = HeaderValue::from_str(value)
            .map_err(|_| SendError::Permanent(format!("header {name}: not a valid value")))?;
        b = b.header(HeaderName::from_static(name), value);
    }
    b.body(Full::new(Bytes::from(p.body.clone())))
        .map_err(|e| SendError::Permanent(format!("request: {e}")))
}

/// `Basic` credentials from the URL's user and password (`https://user:pass@host/`), which a
/// request line cannot carry.
pub fn basic_auth(url: &url::Url) -> Option<String> {
    if url.username().is_empty() && url.password().is_none() {
        return None;
    }
    let decode = |s: &str| {
        percent_encoding::percent_decode_str(s)
            .decode_utf8_lossy()
            .into_owned()
    };
    let pair = format!(
        "{}:{}",
        decode(url.username()),
        decode(url.password().unwrap_or(""))
    );
    Some(format!("Basic {}", STANDARD.encode(pair)))
}

/// 2xx is success; 408, 429 and 5xx may be retried (after `Retry-After` when given); every
/// other status (4xx, and 3xx since redirects are not followed) is final.
pub fn classify(resp: hyper::Response<()>, body: &[u8]) -> Attempt {
    let status = resp.status().as_u16();
    let result = if resp.status().is_success() {
        Ok(())
    } else {
        let quoted = String::from_utf8_lossy(body);
        let quoted = truncate(quoted.trim(), ERROR_BODY_QUOTED_MAX);
        let error = if quoted.is_empty() {
            format!("http status {status}")
        } else {
            format!("http status {status}: {quoted}")
        };
        if matches!(status, 408 | 429) || resp.status().is_server_error() {
            let retry_after = resp
                .headers()
                .get("retry-after")
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.trim().parse::<u64>().ok())
                .map(Duration::from_secs);
            Err(SendError::Transient { error, retry_after })
        } else {
            Err(SendError::Permanent(error))
        }
    };
    Attempt {
        result,
        http_status: Some(status),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn resp(status: u16, retry_after: Option<&str>) -> hyper::Response<()> {
        let mut b = hyper::Response::builder().status(status);
        if let Some(r) = retry_after {
            b = b.header("retry-after", r);
        }
        b.body(()).expect("response")
    }

    #[test]
    fn url_credentials_become_basic_auth() {
        let u = url::Url::parse("https://hook%40x:p%3Ass@h.example.com/in").expect("url");
        // base64("hook@x:p:ss")
        assert_eq!(basic_auth(&u).as_deref(), Some("Basic aG9va0B4OnA6c3M="));
        let plain = url::Url::parse("https://h.example.com/in").expect("url");
        assert_eq!(basic_auth(&plain), None);
    }

    #[test]
    fn statuses_are_classified_as_the_contract_says() {
        assert_eq!(classify(resp(204, None), b"").result, Ok(()));
        for s in [408, 429, 500, 502, 503] {
            let a = classify(resp(s, None), b"busy");
            assert!(matches!(a.result, Err(SendError::Transient { .. })), "{s}");
            assert_eq!(a.http_status, Some(s));
        }
        for s in [301, 400, 401, 404, 410] {
            let a = classify(resp(s, None), b"");
            assert_eq!(
                a.result,
                Err(SendError::Permanent(format!("http status {s}")))
            );
        }
        let a = classify(resp(429, Some("7")), b"slow down");
        assert_eq!(
            a.result,
            Err(SendError::Transient {
                error: "http status 429: slow down".into(),
                retry_after: Some(Duration::from_secs(7)),
            })
        );
        let long = classify(resp(400, None), &[b'x'; 1000]);
        let Err(SendError::Permanent(e)) = long.result else {
            panic!("400 is permanent");
        };
        assert_eq!(e.len(), "http status 400: ".len() + ERROR_BODY_QUOTED_MAX);
    }
}
