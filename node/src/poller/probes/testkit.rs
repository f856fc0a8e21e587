//! Test servers and resolvers for the probe tests: a loopback HTTP(S) server with a few
//! routes, a resolver that answers what the test scripts, and a context that may reach
//! 127.0.0.0/8 but nothing else private.

use std::collections::VecDeque;
use std::convert::Infallible;
use std::net::{IpAddr, SocketAddr};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use futures::future::BoxFuture;
use http_body_util::{BodyExt, Full};
use hyper::{Request, Response};
use hyper_util::rt::TokioIo;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use tokio::net::TcpListener;

use super::{IcmpMode, ProbeContext};
use crate::poller::dial::Resolve;
use crate::poller::observation::{MetricValue, ProbeOutcome};
use crate::poller::policy::AddressPolicy;

/// A resolver that answers each lookup with the next scripted list (the last one repeats)
/// and counts the lookups.
pub struct ScriptedResolver {
    answers: Mutex<VecDeque<Vec<IpAddr>>>,
    pub lookups: AtomicUsize,
}

impl ScriptedResolver {
    pub fn new(answers: &[&[&str]]) -> Arc<ScriptedResolver> {
        let answers = answers
            .iter()
            .map(|a| a.iter().map(|s| s.parse().expect("test address")).collect())
            .collect();
        Arc::new(ScriptedResolver {
            answers: Mutex::new(answers),
            lookups: AtomicUsize::new(0),
        })
    }
}

impl Resolve for ScriptedResolver {
    fn lookup<'a>(&'a self, _host: &'a str) -> BoxFuture<'a, Result<Vec<IpAddr>, String>> {
        self.lookups.fetch_add(1, Ordering::SeqCst);
        let mut answers = self.answers.lock().expect("lock");
        let next = if answers.len() > 1 {
            answers.pop_front()
        } else {
            answers.front().cloned()
        };
        Box::pin(async move { next.ok_or_else(|| "no such host".to_string()) })
    }
}

/// The policy of the tests: private targets refused, except loopback 127.0.0.0/8.
pub fn loopback_policy() -> AddressPolicy {
    AddressPolicy::new(false, &["127.0.0.0/8".to_string()])
}

/// A context that resolves every name to 127.0.0.1, with the loopback policy.
pub fn loopback_ctx() -> ProbeContext {
    ctx_with(ScriptedResolver::new(&[&["127.0.0.1"]]))
}

pub fn ctx_with(resolver: Arc<ScriptedResolver>) -> ProbeContext {
    ProbeContext::with_parts(loopback_policy(), resolver, IcmpMode::detect(), None)
}

/// A self-signed certificate for `names` and its key.
pub fn self_signed(names: &[&str]) -> (CertificateDer<'static>, PrivateKeyDer<'static>) {
    let names: Vec<String> = names.iter().map(|s| s.to_string()).collect();
    let ck = rcgen::generate_simple_self_signed(names).expect("self-signed cert");
    let key = PrivatePkcs8KeyDer::from(ck.signing_key.serialize_der());
    (ck.cert.der().clone(), PrivateKeyDer::Pkcs8(key))
}

/// A loopback HTTP server answering `route`; counts connections and requests.
pub struct TestServer {
    pub addr: SocketAddr,
    pub connections: Arc<AtomicUsize>,
}

impl TestServer {
    pub fn url(&self, scheme: &str, host: &str, path: &str) -> String {
        format!("{scheme}://{host}:{}{path}", self.addr.port())
    }

    /// Starts the server; with `tls`, it speaks TLS with that certificate.
    pub async fn start(tls: Option<(CertificateDer<'static>, PrivateKeyDer<'static>)>) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let addr = listener.local_addr().expect("addr");
        let connections = Arc::new(AtomicUsize::new(0));
        let acceptor = tls.map(|(cert, key)| {
            let provider = Arc::new(rustls::crypto::ring::default_provider());
            let config = rustls::ServerConfig::builder_with_provider(provider)
                .with_safe_default_protocol_versions()
                .expect("versions")
                .with_no_client_auth()
                .with_single_cert(vec![cert], key)
                .expect("server cert");
            tokio_rustls::TlsAcceptor::from(Arc::new(config))
        });
        let count = connections.clone();
        tokio::spawn(async move {
            loop {
                let Ok((stream, _)) = listener.accept().await else {
                    return;
                };
                count.fetch_add(1, Ordering::SeqCst);
                let acceptor = acceptor.clone();
                tokio::spawn(async move {
                    let svc = hyper::service::service_fn(move |req| route(req, addr));
                    let http = hyper::server::conn::http1::Builder::new();
                    match acceptor {
                        Some(a) => {
                            if let Ok(s) = a.accept(stream).await {
                                let _ = http.serve_connection(TokioIo::new(s), svc).await;
                            }
                        }
                        None => {
                            let _ = http.serve_connection(TokioIo::new(stream), svc).await;
                        }
                    }
                });
            }
        });
        TestServer { addr, connections }
    }
}

/// The routes: `/` hello, `/big/N` N bytes, `/status/N`, `/redirect/N` (N hops to `/`),
/// `/to?u` a 302 to `u`, `/auth` (basic user:pw), `/echo` (method and body), `/slow` (never
/// answers).
async fn route(
    req: Request<hyper::body::Incoming>,
    own: SocketAddr,
) -> Result<Response<Full<Bytes>>, Infallible> {
    let path = req.uri().path().to_string();
    let query = req.uri().query().unwrap_or("").to_string();
    let reply = |code: u16, body: String| {
        Response::builder()
            .status(code)
            .body(Full::new(Bytes::from(body)))
            .expect("response")
    };
    let redirect = |to: String| {
        Response::builder()
            .status(302)
            .header("location", to)
            .body(Full::new(Bytes::new()))
            .expect("response")
    };
    let resp = match path.as_str() {
        "/" => reply(200, "hello world, version=1.2.3 ok".into()),
        "/auth" => {
            let ok = req
                .headers()
                .get("authorization")
                .is_some_and(|v| v == "Basic dXNlcjpwdw==");
            reply(if ok { 200 } else { 401 }, "auth".into())
        }
        "/echo" => {
            let method = req.method().to_string();
            let body = req.into_body().collect().await.map(|b| b.to_bytes());
            let body = String::from_utf8_lossy(&body.unwrap_or_default()).to_string();
            reply(200, format!("{method} {body}"))
        }
        "/to" => redirect(query),
        "/slow" => {
            tokio::time::sleep(Duration::from_secs(3600)).await;
            reply(200, String::new())
        }
        p if p.starts_with("/big/") => {
            let n: usize = p[5..].parse().unwrap_or(0);
            reply(200, "x".repeat(n))
        }
        p if p.starts_with("/status/") => reply(p[8..].parse().unwrap_or(500), "status".into()),
        p if p.starts_with("/redirect/") => match p[10..].parse::<u32>().unwrap_or(0) {
            0 => redirect("/".into()),
            n => redirect(format!(
                "http://localhost:{}/redirect/{}",
                own.port(),
                n - 1
            )),
        },
        _ => reply(404, "not found".into()),
    };
    Ok(resp)
}

/// A metric's string value (panics naming the metric when absent or not a string).
pub fn s(o: &ProbeOutcome, k: &str) -> String {
    match o.metrics.get(k).map(|m| &m.value) {
        Some(MetricValue::String(v)) => v.clone(),
        other => panic!("{k}: {other:?} in {o:?}"),
    }
}

/// A metric's integer value.
pub fn i(o: &ProbeOutcome, k: &str) -> i64 {
    match o.metrics.get(k).map(|m| &m.value) {
        Some(MetricValue::Int(v)) => *v,
        other => panic!("{k}: {other:?} in {o:?}"),
    }
}

/// A metric's double value.
pub fn d(o: &ProbeOutcome, k: &str) -> f64 {
    match o.metrics.get(k).map(|m| &m.value) {
        Some(MetricValue::Double(v)) => *v,
        other => panic!("{k}: {other:?} in {o:?}"),
    }
}
