//! The probes, one per check type, and `run`, the entry point that polls a check once within
//! its timeout.
//!
//! Architecture invariant: every probe that connects to a target goes through the
//! `ProbeContext`'s `Dialer`; a probe never panics on what a target sends or does, and an
//! operating failure is an observation (`available: false`, status saying why).

pub mod dns;
pub mod http;
pub mod ping;
pub mod tcp;
pub mod tls;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use super::dial::{Dialer, Resolve, SystemResolver};
use super::observation::ProbeOutcome;
use super::policy::AddressPolicy;
use crate::spec::{CheckSpec, Details};

pub use ping::IcmpMode;

/// Where the node's resolver configuration lives; its first nameserver is a DNS check's
/// server when the check names none.
pub const RESOLV_CONF: &str = "/etc/resolv.conf";

/// What every probe needs, built once per node.
#[derive(Clone)]
pub struct ProbeContext {
    pub dialer: Dialer,
    /// How this node sends ICMP echoes, detected once at start.
    pub icmp: IcmpMode,
    /// The server a DNS check asks when it names none (the node's first nameserver).
    pub dns_server: Option<SocketAddr>,
}

impl ProbeContext {
    /// The node's context: the system resolver, ICMP mode detected now, the first nameserver
    /// of `/etc/resolv.conf`. Logs the ICMP mode (loudly when ping checks cannot run).
    pub fn new(policy: AddressPolicy) -> ProbeContext {
        let icmp = IcmpMode::detect();
        match icmp {
            IcmpMode::None => tracing::warn!(
                "icmp not permitted on this node: every ping check will be unavailable \
                 (set net.ipv4.ping_group_range or grant CAP_NET_RAW)"
            ),
            mode => tracing::info!(icmp_mode = mode.as_str(), "ping checks enabled"),
        }
        let dns_server = std::fs::read_to_string(RESOLV_CONF)
            .ok()
            .and_then(|text| first_nameserver(&text));
        ProbeContext::with_parts(policy, Arc::new(SystemResolver), icmp, dns_server)
    }

    /// A context from explicit parts (tests inject a resolver and a DNS server).
    pub fn with_parts(
        policy: AddressPolicy,
        resolver: Arc<dyn Resolve>,
        icmp: IcmpMode,
        dns_server: Option<SocketAddr>,
    ) -> ProbeContext {
        ProbeContext {
            dialer: Dialer::new(policy, resolver),
            icmp,
            dns_server,
        }
    }
}

/// Polls `spec` once. `target_host` is the check's resolved target (its host name, or the
/// address its alias names); HTTP checks take their host from the URL and DNS checks from
/// `server`. A poll past `spec.timeout_s` is cancelled and reported as a timeout.
pub async fn run(ctx: &ProbeContext, spec: &CheckSpec, target_host: Option<&str>) -> ProbeOutcome {
    let limit = Duration::from_secs(u64::from(spec.timeout_s.max(1)));
    run_within(ctx, &spec.details, target_host, limit).await
}

/// `run` with the time limit given directly.
pub async fn run_within(
    ctx: &ProbeContext,
    details: &Details,
    target_host: Option<&str>,
    limit: Duration,
) -> ProbeOutcome {
    let probe = async {
        match details {
            Details::Http(d) => http::probe(ctx, d).await,
            Details::Dns(d) => dns::probe(ctx, d).await,
            Details::Tcp(d) => match target_host {
                Some(h) => tcp::probe(ctx, d, h, limit).await,
                None => no_target(),
            },
            Details::Ping(d) => match target_host {
                Some(h) => ping::probe(ctx, d, h).await,
                None => no_target(),
            },
            Details::Tls(d) => match target_host {
                Some(h) => tls::probe(ctx, d, h).await,
                None => no_target(),
            },
        }
    };
    match tokio::time::timeout(limit, probe).await {
        Ok(outcome) => outcome,
        Err(_) => ProbeOutcome::unavailable(format!("timeout after {} ms", limit.as_millis())),
    }
}

fn no_target() -> ProbeOutcome {
    ProbeOutcome::unavailable("no target: the check's target alias names no address")
}

/// Seconds since the epoch, for certificate expiry.
pub(crate) fn now_unix() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}

/// The first `nameserver` line of a resolv.conf, on port 53.
pub fn first_nameserver(resolv_conf: &str) -> Option<SocketAddr> {
    resolv_conf.lines().find_map(|line| {
        let mut words = line.split_whitespace();
        if words.next() != Some("nameserver") {
            return None;
        }
        let addr = words.next()?;
        // A scoped IPv6 address (fe80::1%eth0) is not supported; skip it.
        addr.parse().ok().map(|ip| SocketAddr::new(ip, 53))
    })
}

#[cfg(test)]
pub(crate) mod testkit;

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn run_cancels_a_poll_at_the_checks_timeout() {
        let srv = testkit::TestServer::start(None).await;
        let url = srv.url("http", "localhost", "/slow");
        let spec = CheckSpec {
            label: "slow".into(),
            details: Details::parse("remote.http", serde_json::json!({ "url": url }))
                .expect("valid"),
            period_s: 2,
            timeout_s: 1,
            zones: vec!["z".into()],
            target: crate::spec::Target::Hostname("localhost".into()),
            disabled: false,
            metadata: Default::default(),
        };
        let o = run(&testkit::loopback_ctx(), &spec, None).await;
        assert_eq!(
            (o.available, o.status.as_str()),
            (false, "timeout after 1000 ms")
        );
        let tcp = CheckSpec {
            details: Details::parse("remote.tcp", serde_json::json!({"port": 80})).expect("valid"),
            ..spec
        };
        let o = run(&testkit::loopback_ctx(), &tcp, None).await;
        assert!(o.status.starts_with("no target"), "{}", o.status);
    }

    #[test]
    fn the_node_context_detects_icmp_once_and_reads_its_resolver() {
        let ctx = ProbeContext::new(AddressPolicy::default());
        assert_eq!(ctx.icmp, IcmpMode::detect());
        let conf = std::fs::read_to_string(RESOLV_CONF).unwrap_or_default();
        assert_eq!(ctx.dns_server, first_nameserver(&conf));
    }

    #[test]
    fn the_first_nameserver_of_resolv_conf_is_used() {
        let conf = "# generated\nsearch example.com\nnameserver fe80::1%eth0\n\
                    nameserver 10.0.0.2\nnameserver 1.1.1.1\n";
        assert_eq!(
            first_nameserver(conf),
            Some("10.0.0.2:53".parse().expect("addr"))
        );
        assert_eq!(first_nameserver("search x\n"), None);
    }
}
