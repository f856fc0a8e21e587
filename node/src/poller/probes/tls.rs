//! `remote.tls`: a TLS handshake through the dial path and the certificate chain it shows.

use std::collections::BTreeMap;

use tokio::io::AsyncWriteExt;

use super::{ProbeContext, now_unix};
use crate::poller::certs::add_cert_metrics;
use crate::poller::dial::{PollClock, TlsOptions};
use crate::poller::observation::{Metric, ProbeOutcome};
use crate::spec::TlsDetails;

/// Polls a TLS check once: SNI is `server_name`, or the target host when none is given.
pub async fn probe(ctx: &ProbeContext, d: &TlsDetails, host: &str) -> ProbeOutcome {
    let clock = PollClock::start();
    let server_name = d.server_name.as_deref().unwrap_or(host);
    let tls = TlsOptions {
        server_name,
        verify: d.verify_chain,
        http: false,
    };
    let mut dialed = match ctx.dialer.dial(clock, host, d.port, Some(tls)).await {
        Ok(c) => c,
        Err(e) => return ProbeOutcome::unavailable(e.to_string()),
    };
    let duration = clock.ms();
    let _ = dialed.conn.shutdown().await;
    let mut m = BTreeMap::new();
    m.insert("tt_connect".into(), Metric::ms(dialed.tt_connect));
    if let Some(t) = dialed.tt_tls {
        m.insert("tt_tls".into(), Metric::ms(t));
    }
    let mut status = format!("rt={:.3}s", duration / 1000.0);
    if let Some(facts) = &dialed.tls {
        m.insert("chain_length".into(), Metric::int(facts.chain.len() as i64));
        add_cert_metrics(facts, now_unix(), &mut m);
        status.push_str(&format!(",{}", facts.version));
        if !facts.cert_error.is_empty() {
            status.push_str(&format!(",cert_error: {}", facts.cert_error));
        }
    }
    ProbeOutcome {
        available: true,
        status,
        metrics: m,
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use serde_json::json;

    use crate::poller::probes::run_within;
    use crate::poller::probes::testkit::{TestServer, d, i, loopback_ctx, s, self_signed};
    use crate::spec::Details;

    async fn poll(details: serde_json::Value, host: &str) -> crate::poller::ProbeOutcome {
        let d = Details::parse("remote.tls", details).expect("valid");
        run_within(&loopback_ctx(), &d, Some(host), Duration::from_secs(5)).await
    }

    #[tokio::test]
    async fn the_handshake_and_chain_are_reported() {
        let srv = TestServer::start(Some(self_signed(&["tls.test", "localhost"]))).await;
        let port = srv.addr.port();
        let o = poll(
            json!({"port": port, "server_name": "tls.test"}),
            "127.0.0.1",
        )
        .await;
        assert!(o.available, "{o:?}");
        assert_eq!(i(&o, "chain_length"), 1);
        assert_eq!(s(&o, "tls_version"), "TLS 1.3");
        assert_eq!(
            s(&o, "cert_subject_alternative_names"),
            "tls.test localhost"
        );
        assert!(s(&o, "cert_error").contains("UnknownIssuer"), "{o:?}");
        assert!(d(&o, "tt_connect") <= d(&o, "tt_tls"));
        assert!(i(&o, "cert_end_in") > 0);
        let o = poll(json!({"port": port, "verify_chain": false}), "localhost").await;
        assert_eq!(
            s(&o, "cert_error"),
            "",
            "not verified when verify_chain is false"
        );
    }

    #[tokio::test]
    async fn a_failed_handshake_is_unavailable() {
        // A plain HTTP server does not speak TLS.
        let srv = TestServer::start(None).await;
        let o = poll(json!({"port": srv.addr.port()}), "localhost").await;
        assert!(!o.available);
        assert!(
            o.status.starts_with("tls handshake failed: "),
            "{}",
            o.status
        );
    }
}
