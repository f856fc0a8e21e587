//! Node configuration: TOML file, then `MERIDIAN_*` environment, then flags (flags win).

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use serde::Deserialize;

use crate::error::{Error, Result};

/// Bounds of `max-body-bytes`. The upper one keeps every write far below the largest message
/// nodes exchange (`meridian_raft::network::PEER_MESSAGE_MAX`).
pub const MAX_BODY_MIN: usize = 1024;
pub const MAX_BODY_MAX: usize = 16 * 1024 * 1024;
/// Default and largest `polls-in-flight-max`.
pub const POLLS_IN_FLIGHT_DEFAULT: usize = 512;
pub const POLLS_IN_FLIGHT_MAX: usize = 65_536;

/// Everything `meridian serve` needs. Every field has a default; see `validate` for the rules.
#[derive(Debug, Clone, Deserialize)]
#[serde(default, rename_all = "kebab-case", deny_unknown_fields)]
pub struct Config {
    /// This node's id (default: 1, or reserved from the cluster when joining without one).
    pub node_id: Option<u64>,
    /// Region (monitoring zone) this node runs in. Default `local`.
    pub region: String,
    /// Address to serve the HTTP API and node-to-node gRPC on. Default `127.0.0.1:7070`.
    pub listen: String,
    /// Address other nodes and clients use to reach this node. Default: the bound listen address.
    pub advertise: Option<String>,
    /// Data directory. Default `./meridian-data`.
    pub data_dir: PathBuf,
    /// Members to ask for admission when this node is new.
    pub join: Vec<String>,
    /// Operator token shared by the nodes of one cluster. Default: `<data-dir>/admin-token`,
    /// generated on first start when absent.
    pub admin_token: Option<String>,
    /// Initialise a one-node cluster on first start.
    pub bootstrap: bool,
    /// Let pollers reach loopback, link-local and private addresses (tests, local clusters).
    pub allow_private_targets: bool,
    /// Networks pollers may reach although the address policy refuses them, e.g. `10.1.0.0/16`.
    pub allow_targets: Vec<String>,
    /// Shortest check `period` the API accepts, seconds. Default 30, lowest 1.
    pub min_check_period_s: u32,
    /// Most polls running at once on this node. Default 512.
    pub polls_in_flight_max: usize,
    /// SMTP relay for e-mail notifications, `smtp://[user:pass@]host[:port]` (STARTTLS when
    /// offered) or `smtps://...`. Default none: e-mail notifications fail naming this setting.
    pub smtp_url: Option<String>,
    /// Sender address of e-mail notifications. Required with `smtp-url`.
    pub smtp_from: Option<String>,
    /// Seconds after its first attempt that a notification stops being retried. Default 3600,
    /// at most 86400.
    pub delivery_give_up_s: u64,
    /// Most notification attempts at once on this node. Default 64, at most 1024.
    pub deliveries_in_flight_max: usize,
    /// Most voters; other members are learners. Default 5.
    pub max_voters: usize,
    /// Shards of checks and series, fixed at bootstrap. Default 1024.
    pub n_shards: u32,
    /// Raft heartbeat interval in ms. Default 150.
    pub raft_heartbeat_ms: u64,
    /// Raft election timeout range in ms. Default 750..1500.
    pub raft_election_min_ms: u64,
    pub raft_election_max_ms: u64,
    /// Take a snapshot once this many entries were applied since the last one, and at least as
    /// many as the state has records (so a snapshot's cost per entry stays bounded). Default 20000.
    pub snapshot_every: u64,
    /// Entries kept in the log behind a snapshot. Default 1000.
    pub snapshot_keep: u64,
    /// Liveness heartbeat interval in ms. Default 500.
    pub liveness_interval_ms: u64,
    /// A node is marked down after this long without a heartbeat, in ms. Default 3000.
    pub liveness_down_after_ms: u64,
    /// How long a node may go without hearing from a quorum before it says so, in ms. Default 3000.
    pub quorum_lease_ms: u64,
    /// Largest request body in bytes. Default 1 MiB.
    pub max_body_bytes: usize,
    /// Requests per second each tenant token may make to one node. Default 1000.
    pub rate_limit_per_sec: f64,
    /// Burst size of that rate (requests). Default 2000.
    pub rate_limit_burst: f64,
    /// Most open connections on the listener; one more is answered 503 and closed. Default
    /// 4096 (`listener::CONNECTIONS_DEFAULT`), at most `listener::CONNECTIONS_MAX`.
    pub connections_max: usize,
    /// Time a client has to send a request head, in ms (also the longest wait for the next
    /// request on an HTTP/1 keep-alive connection). Default 10000.
    pub header_read_timeout_ms: u64,
    /// A public API request not answered within this many ms gets 503. Peer gRPC calls and
    /// test-check have bounds of their own. Default 60000.
    pub request_timeout_ms: u64,
    /// A connection with no traffic and no request running is closed after this many ms.
    /// Default 120000.
    pub idle_timeout_ms: u64,
    /// Log as JSON lines.
    pub log_json: bool,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            node_id: None,
            region: "local".into(),
            listen: "127.0.0.1:7070".into(),
            advertise: None,
            data_dir: PathBuf::from("meridian-data"),
            join: Vec::new(),
            admin_token: None,
            bootstrap: false,
            allow_private_targets: false,
            allow_targets: Vec::new(),
            min_check_period_s: crate::spec::check::MIN_PERIOD_DEFAULT,
            polls_in_flight_max: POLLS_IN_FLIGHT_DEFAULT,
            smtp_url: None,
            smtp_from: None,
            delivery_give_up_s: crate::notifier::retry::GIVE_UP_S_DEFAULT,
            deliveries_in_flight_max: crate::notifier::queue::DELIVERIES_IN_FLIGHT_DEFAULT,
            max_voters: 5,
            n_shards: 1024,
            raft_heartbeat_ms: 150,
            raft_election_min_ms: 750,
            raft_election_max_ms: 1500,
            snapshot_every: 20_000,
            snapshot_keep: 1000,
            liveness_interval_ms: 500,
            liveness_down_after_ms: 3000,
            quorum_lease_ms: 3000,
            max_body_bytes: 1024 * 1024,
            rate_limit_per_sec: crate::http::rate_limit::RATE_LIMIT_PER_SEC,
            rate_limit_burst: crate::http::rate_limit::RATE_LIMIT_BURST,
            connections_max: crate::listener::CONNECTIONS_DEFAULT,
            header_read_timeout_ms: crate::listener::HEADER_READ_TIMEOUT_DEFAULT.as_millis() as u64,
            request_timeout_ms: crate::http::request_timeout::REQUEST_TIMEOUT_DEFAULT.as_millis()
                as u64,
            idle_timeout_ms: crate::listener::IDLE_TIMEOUT_DEFAULT.as_millis() as u64,
            log_json: false,
        }
    }
}

impl Config {
    /// Reads a TOML file into a config.
    pub fn from_file(path: &Path) -> Result<Self> {
        let text = std::fs::read_to_string(path).map_err(|e| {
            Error::Config(format!("cannot read config file {}: {e}", path.display()))
        })?;
        toml::from_str(&text)
            .map_err(|e| Error::Config(format!("config file {}: {}", path.display(), e.message())))
    }

    /// Checks cross-field rules; the message names the field.
    pub fn validate(&self) -> Result<()> {
        let bad = |m: String| Err(Error::Config(m));
        if self.listen.parse::<SocketAddr>().is_err() {
            return bad(format!(
                "listen: {:?} is not an address like 127.0.0.1:7070",
                self.listen
            ));
        }
        if let Some(a) = &self.advertise
            && !valid_host_port(a)
        {
            return bad(format!("advertise: {a:?} is not a host:port"));
        }
        if let Some(j) = self.join.iter().find(|j| !valid_host_port(j)) {
            return bad(format!("join: {j:?} is not a host:port"));
        }
        if self.node_id == Some(0) {
            return bad("node-id: must be at least 1".into());
        }
        if !valid_region(&self.region) {
            return bad(format!(
                "region: {:?} must be 1-64 letters, digits, '-' or '_'",
                self.region
            ));
        }
        if self.max_voters == 0 || self.max_voters > 9 {
            return bad(format!("max-voters: {} must be 1..=9", self.max_voters));
        }
        if self.n_shards == 0 || self.n_shards > 65536 {
            return bad(format!("n-shards: {} must be 1..=65536", self.n_shards));
        }
        if self.raft_election_min_ms <= self.raft_heartbeat_ms * 2 {
            return bad("raft-election-min-ms: must exceed twice raft-heartbeat-ms".into());
        }
        if self.raft_election_max_ms <= self.raft_election_min_ms {
            return bad("raft-election-max-ms: must exceed raft-election-min-ms".into());
        }
        if self.liveness_down_after_ms <= self.liveness_interval_ms {
            return bad("liveness-down-after-ms: must exceed liveness-interval-ms".into());
        }
        if !(self.rate_limit_per_sec > 0.0 && self.rate_limit_per_sec.is_finite()) {
            return bad("rate-limit-per-sec: must be a positive number".into());
        }
        if !(self.rate_limit_burst >= 1.0 && self.rate_limit_burst.is_finite()) {
            return bad("rate-limit-burst: must be at least 1".into());
        }
        if !(MAX_BODY_MIN..=MAX_BODY_MAX).contains(&self.max_body_bytes) {
            return bad(format!(
                "max-body-bytes: {} must be {MAX_BODY_MIN}..={MAX_BODY_MAX}",
                self.max_body_bytes
            ));
        }
        if !(crate::spec::check::MIN_PERIOD_FLOOR..=crate::spec::check::PERIOD_MAX)
            .contains(&self.min_check_period_s)
        {
            return bad(format!(
                "min-check-period-s: {} must be 1..=1800",
                self.min_check_period_s
            ));
        }
        if !(1..=POLLS_IN_FLIGHT_MAX).contains(&self.polls_in_flight_max) {
            return bad(format!(
                "polls-in-flight-max: {} must be 1..={POLLS_IN_FLIGHT_MAX}",
                self.polls_in_flight_max
            ));
        }
        if let Some(c) = self
            .allow_targets
            .iter()
            .find(|c| crate::poller::policy::Cidr::parse(c).is_none())
        {
            return bad(format!(
                "allow-targets: {c:?} is not a CIDR like 10.0.0.0/8"
            ));
        }
        self.validate_notifier()?;
        if !(1..=crate::listener::CONNECTIONS_MAX).contains(&self.connections_max) {
            return bad(format!(
                "connections-max: {} must be 1..={}",
                self.connections_max,
                crate::listener::CONNECTIONS_MAX
            ));
        }
        self.validate_timeouts()?;
        if self.snapshot_every == 0 {
            return bad("snapshot-every: must be at least 1".into());
        }
        if self.bootstrap && !self.join.is_empty() {
            return bad("bootstrap: cannot be combined with join".into());
        }
        if let Some(t) = &self.admin_token
            && t.len() < 16
        {
            return bad("admin-token: must be at least 16 characters".into());
        }
        Ok(())
    }
}

impl Config {
    /// The notifier's settings: SMTP relay, give-up time and attempts in flight.
    fn validate_notifier(&self) -> Result<()> {
        use crate::notifier::queue::DELIVERIES_IN_FLIGHT_MAX;
        use crate::notifier::retry::GIVE_UP_S_MAX;
        let bad = |m: String| Err(Error::Config(m));
        if !(1..=GIVE_UP_S_MAX).contains(&self.delivery_give_up_s) {
            return bad(format!(
                "delivery-give-up-s: {} must be 1..={GIVE_UP_S_MAX}",
                self.delivery_give_up_s
            ));
        }
        if !(1..=DELIVERIES_IN_FLIGHT_MAX).contains(&self.deliveries_in_flight_max) {
            return bad(format!(
                "deliveries-in-flight-max: {} must be 1..={DELIVERIES_IN_FLIGHT_MAX}",
                self.deliveries_in_flight_max
            ));
        }
        match (&self.smtp_url, &self.smtp_from) {
            (None, None) => Ok(()),
            (Some(_), None) => bad("smtp-from: is required with smtp-url".into()),
            (None, Some(_)) => bad("smtp-url: is required with smtp-from".into()),
            (Some(url), Some(from)) => {
                let timeout = crate::notifier::http::ATTEMPT_TIMEOUT_DEFAULT;
                crate::notifier::SmtpRelay::new(url, from, timeout)
                    .map(|_| ())
                    .map_err(Error::Config)
            }
        }
    }

    /// The notifier's settings from this config.
    pub fn notifier_config(&self) -> crate::notifier::NotifierConfig {
        crate::notifier::NotifierConfig {
            retry: crate::notifier::RetryPolicy::new(self.delivery_give_up_s),
            in_flight_max: self.deliveries_in_flight_max,
            ..Default::default()
        }
    }

    fn validate_timeouts(&self) -> Result<()> {
        use crate::listener::{TIMEOUT_MS_MAX, TIMEOUT_MS_MIN};
        for (name, v) in [
            ("header-read-timeout-ms", self.header_read_timeout_ms),
            ("request-timeout-ms", self.request_timeout_ms),
            ("idle-timeout-ms", self.idle_timeout_ms),
        ] {
            if !(TIMEOUT_MS_MIN..=TIMEOUT_MS_MAX).contains(&v) {
                return Err(Error::Config(format!(
                    "{name}: {v} must be {TIMEOUT_MS_MIN}..={TIMEOUT_MS_MAX}"
                )));
            }
        }
        Ok(())
    }

    /// The bounds the API puts on checks.
    pub fn check_limits(&self) -> crate::spec::CheckLimits {
        crate::spec::CheckLimits {
            min_period_s: self.min_check_period_s,
        }
    }
}

fn valid_host_port(s: &str) -> bool {
    match s.rsplit_once(':') {
        Some((host, port)) => !host.is_empty() && port.parse::<u16>().is_ok_and(|p| p > 0),
        None => false,
    }
}

pub fn valid_region(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 64
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_valid() {
        Config::default()
            .validate()
            .expect("default config is valid");
    }

    #[test]
    fn errors_name_the_field() {
        type Mutation = Box<dyn Fn(&mut Config)>;
        let cases: Vec<(Mutation, &str)> = vec![
            (Box::new(|c| c.listen = "nope".into()), "listen:"),
            (
                Box::new(|c| c.advertise = Some("host".into())),
                "advertise:",
            ),
            (Box::new(|c| c.join = vec!["x:0".into()]), "join:"),
            (Box::new(|c| c.node_id = Some(0)), "node-id:"),
            (Box::new(|c| c.connections_max = 0), "connections-max:"),
            (
                Box::new(|c| c.header_read_timeout_ms = 99),
                "header-read-timeout-ms:",
            ),
            (
                Box::new(|c| c.request_timeout_ms = 3_600_001),
                "request-timeout-ms:",
            ),
            (Box::new(|c| c.idle_timeout_ms = 0), "idle-timeout-ms:"),
            (Box::new(|c| c.region = "a b".into()), "region:"),
            (Box::new(|c| c.max_voters = 0), "max-voters:"),
            (
                Box::new(|c| c.raft_election_min_ms = 100),
                "raft-election-min-ms:",
            ),
            (
                Box::new(|c| c.admin_token = Some("short".into())),
                "admin-token:",
            ),
            (
                Box::new(|c| c.rate_limit_per_sec = 0.0),
                "rate-limit-per-sec:",
            ),
            (Box::new(|c| c.rate_limit_burst = 0.5), "rate-limit-burst:"),
            (Box::new(|c| c.max_body_bytes = 1 << 30), "max-body-bytes:"),
            (
                Box::new(|c| c.min_check_period_s = 0),
                "min-check-period-s:",
            ),
            (
                Box::new(|c| c.polls_in_flight_max = 0),
                "polls-in-flight-max:",
            ),
            (
                Box::new(|c| c.allow_targets = vec!["10.0.0.0/33".into()]),
                "allow-targets:",
            ),
            (
                Box::new(|c| c.delivery_give_up_s = 0),
                "delivery-give-up-s:",
            ),
            (
                Box::new(|c| c.delivery_give_up_s = 86_401),
                "delivery-give-up-s:",
            ),
            (
                Box::new(|c| c.deliveries_in_flight_max = 1025),
                "deliveries-in-flight-max:",
            ),
            (
                Box::new(|c| c.smtp_url = Some("smtp://mail.example.com".into())),
                "smtp-from:",
            ),
            (
                Box::new(|c| c.smtp_from = Some("m@example.com".into())),
                "smtp-url:",
            ),
            (
                Box::new(|c| {
                    c.smtp_url = Some("http://mail.example.com".into());
                    c.smtp_from = Some("m@example.com".into());
                }),
                "smtp-url:",
            ),
            (
                Box::new(|c| {
                    c.smtp_url = Some("smtp://mail.example.com".into());
                    c.smtp_from = Some("nobody".into());
                }),
                "smtp-from:",
            ),
        ];
        for (mutate, field) in cases {
            let mut c = Config::default();
            mutate(&mut c);
            let err = c.validate().expect_err(field).to_string();
            assert!(err.contains(field), "{err} should name {field}");
        }
    }

    #[test]
    fn toml_uses_kebab_case_and_rejects_unknown_keys() {
        let c: Config = toml::from_str("node-id = 3\nregion = \"eu\"\n").expect("parse");
        assert_eq!(c.node_id, Some(3));
        assert!(toml::from_str::<Config>("nodeid = 3\n").is_err());
    }
}
