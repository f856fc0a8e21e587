//! `remote.http`: one request (HTTP/1.1, TLS on https) through the dial path, redirects
//! followed hop by hop through the dial path again, the body read up to a cap and measured.

use std::collections::BTreeMap;
use std::pin::pin;

use base64::Engine;
use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::Request;
use hyper::header::{AUTHORIZATION, CONTENT_LENGTH, HOST, HeaderName, HeaderValue, LOCATION};
use hyper_util::rt::TokioIo;
use regex::Regex;
use url::Url;

use super::{ProbeContext, now_unix};
use crate::poller::certs::add_cert_metrics;
use crate::poller::dial::{PollClock, TlsFacts, TlsOptions};
use crate::poller::observation::{Metric, ProbeOutcome};
use crate::spec::HttpDetails;

/// Most body bytes read and matched; the rest is counted in `truncated`.
pub const BODY_MAX: usize = 256 * 1024;
/// Most body bytes past `BODY_MAX` read (and dropped) to count `truncated` when the answer has
/// no Content-Length; past this the count stops.
pub const BODY_DRAIN_MAX: usize = 4 * 1024 * 1024;
/// Most redirects followed in one poll.
pub const REDIRECTS_MAX: usize = 5;
/// Longest body match reported, characters.
pub const MATCH_MAX: usize = 80;
/// The User-Agent of every request unless the check sets its own.
pub const USER_AGENT: &str = concat!("Meridian-Poller/", env!("CARGO_PKG_VERSION"));

/// What one request (one hop) found.
struct Hop {
    code: u16,
    location: Option<String>,
    tt_resolve: f64,
    tt_connect: f64,
    tt_tls: Option<f64>,
    tt_firstbyte: f64,
    body: Vec<u8>,
    truncated: u64,
    tls: Option<TlsFacts>,
    credentials_withheld: bool,
}

/// One request as the hop loop builds it.
struct Ask<'a> {
    url: &'a Url,
    method: &'a str,
    payload: Option<&'a str>,
    auth: Option<&'a str>,
}

/// Polls an HTTP check once.
pub async fn probe(ctx: &ProbeContext, d: &HttpDetails) -> ProbeOutcome {
    let clock = PollClock::start();
    let mut url = match Url::parse(d.url()) {
        Ok(u) => u,
        Err(e) => return ProbeOutcome::unavailable(format!("bad url: {e}")),
    };
    let origin = url.origin();
    let auth = d.auth_user.as_ref().map(|u| {
        let pair = format!("{u}:{}", d.auth_password.as_deref().unwrap_or(""));
        format!(
            "Basic {}",
            base64::engine::general_purpose::STANDARD.encode(pair)
        )
    });
    let mut method = d.method.clone();
    let mut payload = d.payload.as_deref();
    let mut redirects = 0;
    loop {
        // Credentials go only to the origin the check names, never to a redirect elsewhere.
        let ask = Ask {
            url: &url,
            method: &method,
            payload,
            auth: auth.as_deref().filter(|_| url.origin() == origin),
        };
        let hop = match fetch(ctx, clock, &d.headers, ask).await {
            Ok(hop) => hop,
            Err(status) => return ProbeOutcome::unavailable(status),
        };
        let next = hop
            .location
            .as_deref()
            .filter(|_| d.follow_redirects && is_redirect(hop.code))
            .and_then(|loc| url.join(loc).ok())
            .filter(|u| matches!(u.scheme(), "http" | "https"));
        match next {
            Some(next) if redirects < REDIRECTS_MAX => {
                redirects += 1;
                // The payload goes only to the first location; 303 (and 301/302 after a POST,
                // as browsers do) turn the request into a GET.
                payload = None;
                if hop.code == 303 || (matches!(hop.code, 301 | 302) && method == "POST") {
                    method = "GET".into();
                }
                url = next;
            }
            _ => return outcome(d, clock, hop, redirects),
        }
    }
}

fn is_redirect(code: u16) -> bool {
    matches!(code, 301 | 302 | 303 | 307 | 308)
}

/// One request through the dial path, its answer read up to the cap.
async fn fetch(
    ctx: &ProbeContext,
    clock: PollClock,
    headers: &BTreeMap<String, String>,
    ask: Ask<'_>,
) -> Result<Hop, String> {
    let url = ask.url;
    let host = url.host_str().ok_or("bad url: no host")?;
    let port = url
        .port_or_known_default()
        .ok_or("bad url: no port for its scheme")?;
    let https = url.scheme() == "https";
    let tls = https.then_some(TlsOptions {
        server_name: host,
        verify: true,
        http: true,
    });
    let dialed = ctx
        .dialer
        .dial(clock, host, port, tls)
        .await
        .map_err(|e| e.to_string())?;
    // A chain that does not verify may be an interceptor: it gets no credentials.
    let untrusted = dialed
        .tls
        .as_ref()
        .is_some_and(|t| !t.cert_error.is_empty());
    let credentials_withheld = untrusted && ask.auth.is_some();
    let auth = ask.auth.filter(|_| !untrusted);
    let req = request(url, ask.method, headers, ask.payload, auth)?;
    let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(dialed.conn))
        .await
        .map_err(|e| format!("http: {e}"))?;
    let exchange = async {
        let resp = sender
            .send_request(req)
            .await
            .map_err(|e| format!("http: {e}"))?;
        let tt_firstbyte = clock.ms();
        let code = resp.status().as_u16();
        let location = header_str(resp.headers(), LOCATION);
        let length = header_str(resp.headers(), CONTENT_LENGTH).and_then(|v| v.parse().ok());
        let (body, truncated) = read_body(resp.into_body(), length).await?;
        Ok::<_, String>((code, location, tt_firstbyte, body, truncated))
    };
    // The connection is driven here, not spawned, so a cancelled poll leaves nothing behind.
    let mut exchange = pin!(exchange);
    let mut conn = pin!(conn);
    let (code, location, tt_firstbyte, body, truncated) = tokio::select! {
        r = &mut exchange => r?,
        _ = &mut conn => exchange.await?,
    };
    Ok(Hop {
        code,
        location,
        tt_resolve: dialed.tt_resolve,
        tt_connect: dialed.tt_connect,
        tt_tls: dialed.tt_tls,
        tt_firstbyte,
        body,
        truncated,
        tls: dialed.tls,
        credentials_withheld,
    })
}

fn header_str(h: &hyper::HeaderMap, name: HeaderName) -> Option<String> {
    h.get(name)
        .and_then(|v| v.to_str().ok())
        .map(str::to_string)
}

/// The request: Host from the URL (the connection went to its checked address), the check's
/// headers over the defaults, the payload and basic credentials when given.
fn request(
    url: &Url,
    method: &str,
    headers: &BTreeMap<String, String>,
    payload: Option<&str>,
    auth: Option<&str>,
) -> Result<Request<Full<Bytes>>, String> {
    let host = match (url.host_str(), url.port()) {
        (Some(h), Some(p)) => format!("{h}:{p}"),
        (Some(h), None) => h.to_string(),
        (None, _) => return Err("bad url: no host".into()),
    };
    let target = &url[url::Position::BeforePath..url::Position::AfterQuery];
    let mut b = Request::builder()
        .method(method)
        .uri(if target.is_empty() { "/" } else { target })
        .header(HOST, host)
        .header(hyper::header::USER_AGENT, USER_AGENT);
    if let Some(a) = auth {
        b = b.header(AUTHORIZATION, a);
    }
    let map = b.headers_mut().ok_or("bad request: method or url")?;
    for (k, v) in headers {
        let name = HeaderName::try_from(k.as_str()).map_err(|_| format!("bad header {k:?}"))?;
        let value = HeaderValue::try_from(v.as_str()).map_err(|_| format!("bad header {k:?}"))?;
        map.insert(name, value);
    }
    let body = Full::new(Bytes::from(payload.unwrap_or("").to_string()));
    b.body(body).map_err(|e| format!("bad request: {e}"))
}

/// Reads up to `BODY_MAX` bytes; `truncated` is what the Content-Length says was left, or
/// what was counted past the cap (up to `BODY_DRAIN_MAX`) when there is none.
async fn read_body(
    mut body: hyper::body::Incoming,
    length: Option<u64>,
) -> Result<(Vec<u8>, u64), String> {
    let mut kept = Vec::new();
    let mut past_cap: u64 = 0;
    while let Some(frame) = body.frame().await {
        let frame = frame.map_err(|e| format!("http: reading the body: {e}"))?;
        let Ok(data) = frame.into_data() else {
            continue;
        };
        let room = BODY_MAX - kept.len();
        let take = room.min(data.len());
        kept.extend_from_slice(&data[..take]);
        past_cap += (data.len() - take) as u64;
        if past_cap > 0 && (length.is_some() || past_cap >= BODY_DRAIN_MAX as u64) {
            break;
        }
    }
    let truncated = match length {
        Some(len) if past_cap > 0 => len.saturating_sub(kept.len() as u64),
        _ => past_cap,
    };
    Ok((kept, truncated))
}

/// The observation of the last hop.
fn outcome(d: &HttpDetails, clock: PollClock, hop: Hop, redirects: usize) -> ProbeOutcome {
    let duration = clock.ms();
    let text = String::from_utf8_lossy(&hop.body);
    let mut m = BTreeMap::new();
    m.insert("code".into(), Metric::string(hop.code.to_string()));
    m.insert("duration".into(), Metric::ms(duration));
    m.insert("tt_resolve".into(), Metric::ms(hop.tt_resolve));
    m.insert("tt_connect".into(), Metric::ms(hop.tt_connect));
    if let Some(t) = hop.tt_tls {
        m.insert("tt_tls".into(), Metric::ms(t));
    }
    m.insert("tt_firstbyte".into(), Metric::ms(hop.tt_firstbyte));
    let bytes = hop.body.len() as i64;
    m.insert("bytes".into(), Metric::int(bytes).with_unit("bytes"));
    m.insert(
        "truncated".into(),
        Metric::int(i64::try_from(hop.truncated).unwrap_or(i64::MAX)).with_unit("bytes"),
    );
    m.insert("redirects".into(), Metric::int(redirects as i64));
    let mut notes = Vec::new();
    add_matches(d, &text, &mut m, &mut notes);
    let expected = if d.expected_codes.is_empty() {
        (200..400).contains(&hop.code)
    } else {
        d.expected_codes.contains(&hop.code)
    };
    if !expected {
        notes.push(format!("code {} not expected", hop.code));
    }
    if let Some(tls) = &hop.tls {
        add_cert_metrics(tls, now_unix(), &mut m);
        if !tls.cert_error.is_empty() {
            notes.push(format!("cert_error: {}", tls.cert_error));
        }
    }
    if hop.credentials_withheld {
        notes.push("credentials withheld: the chain does not verify".into());
    }
    if d.follow_redirects && is_redirect(hop.code) && redirects == REDIRECTS_MAX {
        notes.push(format!("more than {REDIRECTS_MAX} redirects"));
    }
    let mut status = format!(
        "code={},rt={:.3}s,bytes={bytes}",
        hop.code,
        duration / 1000.0
    );
    for n in notes {
        status.push(',');
        status.push_str(&n);
    }
    ProbeOutcome {
        available: true,
        status,
        metrics: m,
    }
}

/// `body_match` and the `body_match_<key>` metrics; a note when `body_regex` does not match.
fn add_matches(
    d: &HttpDetails,
    text: &str,
    m: &mut BTreeMap<String, Metric>,
    notes: &mut Vec<String>,
) {
    if let Some(re) = &d.body_regex {
        let found = first_match(re, text);
        if found.as_deref().is_none_or(str::is_empty) {
            notes.push("body_regex did not match".to_string());
        }
        m.insert(
            "body_match".into(),
            Metric::string(found.unwrap_or_default()),
        );
    }
    for (key, re) in &d.body_matches {
        let found = first_match(re, text).unwrap_or_default();
        m.insert(format!("body_match_{key}"), Metric::string(found));
    }
}

/// The first match of `re` in `text`, at most `MATCH_MAX` characters; `None` when it does
/// not match (or, which validation prevents, does not compile).
fn first_match(re: &str, text: &str) -> Option<String> {
    let re = Regex::new(re).ok()?;
    re.find(text)
        .map(|m| m.as_str().chars().take(MATCH_MAX).collect())
}

#[cfg(test)]
#[path = "http_tests.rs"]
mod tests;
