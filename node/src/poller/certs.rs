//! The `cert_*` metrics and `tls_version` from what a TLS handshake showed. Pure: the chain
//! and the current time in, metrics out.

use std::collections::BTreeMap;
use std::net::IpAddr;

use x509_parser::prelude::{FromDer, GeneralName, X509Certificate};

use super::dial::TlsFacts;
use super::observation::Metric;

/// Most subject alternative names reported in `cert_subject_alternative_names`.
pub const SANS_MAX: usize = 100;

/// Adds the `cert_*` set and `tls_version` for the leaf of `facts.chain` to `metrics`.
/// A leaf that does not parse is reported in `cert_error` (the dates are then absent).
pub fn add_cert_metrics(facts: &TlsFacts, now_unix: i64, metrics: &mut BTreeMap<String, Metric>) {
    metrics.insert("tls_version".into(), Metric::string(&facts.version));
    let mut cert_error = facts.cert_error.clone();
    let parsed = facts
        .chain
        .first()
        .map(|der| X509Certificate::from_der(der.as_ref()));
    match parsed {
        Some(Ok((_, cert))) => {
            let start = cert.validity().not_before.timestamp();
            let end = cert.validity().not_after.timestamp();
            let s = |k: &str, v: String| (k.to_string(), Metric::string(v));
            metrics.extend([
                ("cert_start".into(), Metric::int(start).with_unit("s")),
                ("cert_end".into(), Metric::int(end).with_unit("s")),
                (
                    "cert_end_in".into(),
                    Metric::int(end - now_unix).with_unit("s"),
                ),
                s("cert_issuer", cert.issuer().to_string()),
                s("cert_subject", cert.subject().to_string()),
                s("cert_subject_alternative_names", sans(&cert)),
            ]);
        }
        Some(Err(e)) if cert_error.is_empty() => cert_error = format!("leaf does not parse: {e}"),
        Some(Err(_)) => {}
        None if cert_error.is_empty() => cert_error = "no certificate".into(),
        None => {}
    }
    metrics.insert("cert_error".into(), Metric::string(cert_error));
}

/// The DNS names and IP addresses of the subject alternative names, space separated.
fn sans(cert: &X509Certificate<'_>) -> String {
    let Ok(Some(ext)) = cert.subject_alternative_name() else {
        return String::new();
    };
    let names: Vec<String> = ext
        .value
        .general_names
        .iter()
        .filter_map(|n| match n {
            GeneralName::DNSName(d) => Some((*d).to_string()),
            GeneralName::IPAddress(b) => ip_of(b).map(|ip| ip.to_string()),
            GeneralName::RFC822Name(m) | GeneralName::URI(m) => Some((*m).to_string()),
            _ => None,
        })
        .take(SANS_MAX)
        .collect();
    names.join(" ")
}

fn ip_of(b: &[u8]) -> Option<IpAddr> {
    match b.len() {
        4 => <[u8; 4]>::try_from(b).ok().map(IpAddr::from),
        16 => <[u8; 16]>::try_from(b).ok().map(IpAddr::from),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::poller::MetricValue;

    fn string(m: &BTreeMap<String, Metric>, k: &str) -> String {
        match &m[k].value {
            MetricValue::String(s) => s.clone(),
            other => panic!("{k} is {other:?}"),
        }
    }

    fn int(m: &BTreeMap<String, Metric>, k: &str) -> i64 {
        match &m[k].value {
            MetricValue::Int(i) => *i,
            other => panic!("{k} is {other:?}"),
        }
    }

    #[test]
    fn leaf_dates_names_and_an_expiry_in_the_past_are_reported() {
        let mut params =
            rcgen::CertificateParams::new(vec!["probe.test".to_string()]).expect("params");
        params
            .subject_alt_names
            .push(rcgen::SanType::IpAddress("127.0.0.1".parse().expect("ip")));
        params.not_before = rcgen::date_time_ymd(2020, 1, 1);
        params.not_after = rcgen::date_time_ymd(2021, 1, 1);
        let key = rcgen::KeyPair::generate().expect("key");
        let cert = params.self_signed(&key).expect("cert");
        let facts = TlsFacts {
            version: "TLS 1.3".into(),
            chain: vec![cert.der().clone()],
            cert_error: "invalid peer certificate: UnknownIssuer".into(),
        };
        let mut m = BTreeMap::new();
        let now = 1_700_000_000;
        add_cert_metrics(&facts, now, &mut m);
        assert_eq!(int(&m, "cert_start"), 1_577_836_800);
        assert_eq!(int(&m, "cert_end"), 1_609_459_200);
        assert_eq!(
            int(&m, "cert_end_in"),
            1_609_459_200 - now,
            "negative: expired"
        );
        assert!(int(&m, "cert_end_in") < 0);
        assert_eq!(
            string(&m, "cert_subject_alternative_names"),
            "probe.test 127.0.0.1"
        );
        assert!(string(&m, "cert_subject").contains("rcgen"), "{m:?}");
        assert_eq!(string(&m, "cert_error"), facts.cert_error);
        assert_eq!(string(&m, "tls_version"), "TLS 1.3");
        assert_eq!(m["cert_end"].unit.as_deref(), Some("s"));
    }

    #[test]
    fn at_most_sans_max_names_are_reported() {
        let names: Vec<String> = (0..SANS_MAX + 5).map(|i| format!("n{i}.test")).collect();
        let ck = rcgen::generate_simple_self_signed(names).expect("cert");
        let facts = TlsFacts {
            version: "TLS 1.3".into(),
            chain: vec![ck.cert.der().clone()],
            cert_error: String::new(),
        };
        let mut m = BTreeMap::new();
        add_cert_metrics(&facts, 0, &mut m);
        let sans = string(&m, "cert_subject_alternative_names");
        assert_eq!(sans.split(' ').count(), SANS_MAX);
        assert!(sans.starts_with("n0.test n1.test"));
        assert_eq!(string(&m, "cert_error"), "");
    }

    #[test]
    fn an_empty_or_unparsable_chain_is_a_cert_error_not_a_panic() {
        let mut m = BTreeMap::new();
        let facts = TlsFacts {
            version: "TLS 1.2".into(),
            chain: vec![],
            cert_error: String::new(),
        };
        add_cert_metrics(&facts, 0, &mut m);
        assert_eq!(string(&m, "cert_error"), "no certificate");
        let facts = TlsFacts {
            chain: vec![vec![1u8, 2, 3].into()],
            ..facts
        };
        add_cert_metrics(&facts, 0, &mut m);
        assert!(string(&m, "cert_error").starts_with("leaf does not parse"));
    }
}
