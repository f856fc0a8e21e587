//! The command line: `serve`, and the operator's `cluster` commands (HTTP clients of a node).

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, Parser, Subcommand};

use crate::config::Config;

#[derive(Parser)]
#[command(
    name = "meridian",
    version,
    about = "Monitoring as a service in one binary"
)]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Subcommand)]
enum Command {
    /// Run a node (with no flags: a one-node cluster on 127.0.0.1:7070, data in ./meridian-data).
    Serve(Box<ServeArgs>),
    /// Operate the cluster through one of its nodes.
    #[command(subcommand)]
    Cluster(ClusterCmd),
    /// Tenant commands: entities, checks, alarms, notifications, plans.
    #[command(flatten)]
    Tenant(crate::cli_tenant::TenantCmd),
}

#[derive(Args, Default)]
struct ServeArgs {
    /// TOML config file (flags and MERIDIAN_* env win over it).
    #[arg(long, env = "MERIDIAN_CONFIG")]
    config: Option<PathBuf>,
    /// This node's id, at least 1 [default: 1, or reserved from the cluster with --join].
    #[arg(long, env = "MERIDIAN_NODE_ID")]
    node_id: Option<u64>,
    /// Region (monitoring zone) of this node: letters, digits, '-', '_' [default: local].
    #[arg(long, env = "MERIDIAN_REGION")]
    region: Option<String>,
    /// Address for the HTTP API and node-to-node gRPC, one port [default: 127.0.0.1:7070].
    #[arg(long, env = "MERIDIAN_LISTEN")]
    listen: Option<String>,
    /// Address other nodes and clients use to reach this node [default: the bound listen
    /// address; required when listening on a wildcard address].
    #[arg(long, env = "MERIDIAN_ADVERTISE")]
    advertise: Option<String>,
    /// Data directory, created private (0700) [default: ./meridian-data].
    #[arg(long, env = "MERIDIAN_DATA_DIR")]
    data_dir: Option<PathBuf>,
    /// Members to ask for admission when this node is new, comma separated host:port.
    #[arg(long, env = "MERIDIAN_JOIN", value_delimiter = ',')]
    join: Vec<String>,
    /// Operator token shared by the nodes of one cluster, at least 16 characters [default:
    /// <data-dir>/admin-token, generated and printed once on first start].
    #[arg(long, env = "MERIDIAN_ADMIN_TOKEN", hide_env_values = true)]
    admin_token: Option<String>,
    /// Initialise a one-node cluster on first start [default: off, on with no flags at all].
    #[arg(long, env = "MERIDIAN_BOOTSTRAP", value_parser = clap::builder::BoolishValueParser::new(), action = clap::ArgAction::SetTrue)]
    bootstrap: bool,
    /// Let pollers reach loopback, link-local and private addresses [default: off, on with no
    /// flags at all].
    #[arg(long, env = "MERIDIAN_ALLOW_PRIVATE_TARGETS", value_parser = clap::builder::BoolishValueParser::new(), action = clap::ArgAction::SetTrue)]
    allow_private_targets: bool,
    /// Networks pollers may reach although the address policy refuses them (CIDRs, comma separated).
    #[arg(long, env = "MERIDIAN_ALLOW_TARGETS", value_delimiter = ',')]
    allow_targets: Vec<String>,
    /// Shortest check period the API accepts, seconds [default: 30; lowest 1].
    #[arg(long, env = "MERIDIAN_MIN_CHECK_PERIOD_S")]
    min_check_period_s: Option<u32>,
    /// Most polls running at once on this node [default: 512].
    #[arg(long, env = "MERIDIAN_POLLS_IN_FLIGHT_MAX")]
    polls_in_flight_max: Option<usize>,
    /// SMTP relay for e-mail notifications: smtp://[user:pass@]host[:port] (STARTTLS when
    /// offered) or smtps://... [default: none, e-mail notifications fail saying so].
    #[arg(long, env = "MERIDIAN_SMTP_URL", hide_env_values = true)]
    smtp_url: Option<String>,
    /// Sender address of e-mail notifications [default: none; required with --smtp-url].
    #[arg(long, env = "MERIDIAN_SMTP_FROM")]
    smtp_from: Option<String>,
    /// Seconds after its first attempt that a notification stops being retried [default: 3600].
    #[arg(long, env = "MERIDIAN_DELIVERY_GIVE_UP_S")]
    delivery_give_up_s: Option<u64>,
    /// Most notification attempts at once on this node [default: 64].
    #[arg(long, env = "MERIDIAN_DELIVERIES_IN_FLIGHT_MAX")]
    deliveries_in_flight_max: Option<usize>,
    /// Take a snapshot after this many applied entries (at least as many as the state has
    /// records) [default: 20000].
    #[arg(long, env = "MERIDIAN_SNAPSHOT_EVERY")]
    snapshot_every: Option<u64>,
    /// Most voters, 1..=9; other members are learners [default: 5].
    #[arg(long, env = "MERIDIAN_MAX_VOTERS")]
    max_voters: Option<usize>,
    /// Requests per second per tenant token per node [default: 1000].
    #[arg(long, env = "MERIDIAN_RATE_LIMIT_PER_SEC")]
    rate_limit_per_sec: Option<f64>,
    /// Burst of that rate, requests [default: 2000].
    #[arg(long, env = "MERIDIAN_RATE_LIMIT_BURST")]
    rate_limit_burst: Option<f64>,
    /// Most open connections; one more is answered 503 and closed [default: 4096].
    #[arg(long, env = "MERIDIAN_CONNECTIONS_MAX")]
    connections_max: Option<usize>,
    /// Time a client has to send a request head, ms [default: 10000].
    #[arg(long, env = "MERIDIAN_HEADER_READ_TIMEOUT_MS")]
    header_read_timeout_ms: Option<u64>,
    /// An API request not answered in this many ms gets 503 (not peer calls) [default: 60000].
    #[arg(long, env = "MERIDIAN_REQUEST_TIMEOUT_MS")]
    request_timeout_ms: Option<u64>,
    /// Close a connection without traffic or running request after this many ms [default: 120000].
    #[arg(long, env = "MERIDIAN_IDLE_TIMEOUT_MS")]
    idle_timeout_ms: Option<u64>,
    /// Log as JSON lines.
    #[arg(long, env = "MERIDIAN_LOG_JSON", value_parser = clap::builder::BoolishValueParser::new(), action = clap::ArgAction::SetTrue)]
    log_json: bool,
}

impl ServeArgs {
    /// No flag, env or file that shapes a cluster: the embedded default bootstraps itself.
    fn is_embedded_default(&self) -> bool {
        self.config.is_none()
            && self.node_id.is_none()
            && self.region.is_none()
            && self.listen.is_none()
            && self.advertise.is_none()
            && self.join.is_empty()
    }

    fn into_config(self) -> crate::Result<Config> {
        let embedded = self.is_embedded_default();
        let mut c = match &self.config {
            Some(p) => Config::from_file(p)?,
            None => Config::default(),
        };
        macro_rules! set {
            ($($f:ident),*) => { $( if let Some(v) = self.$f { c.$f = v; } )* };
        }
        set!(
            region,
            listen,
            data_dir,
            snapshot_every,
            max_voters,
            rate_limit_per_sec,
            rate_limit_burst,
            min_check_period_s,
            polls_in_flight_max,
            delivery_give_up_s,
            deliveries_in_flight_max,
            connections_max,
            header_read_timeout_ms,
            request_timeout_ms,
            idle_timeout_ms
        );
        c.smtp_url = self.smtp_url.or(c.smtp_url);
        c.smtp_from = self.smtp_from.or(c.smtp_from);
        if !self.allow_targets.is_empty() {
            c.allow_targets = self.allow_targets;
        }
        c.node_id = self.node_id.or(c.node_id);
        c.advertise = self.advertise.or(c.advertise);
        c.admin_token = self.admin_token.or(c.admin_token);
        if !self.join.is_empty() {
            c.join = self.join;
        }
        c.bootstrap |= self.bootstrap || embedded;
        // The embedded default listens on loopback only and is for watching one's own machine.
        c.allow_private_targets |= self.allow_private_targets || embedded;
        c.log_json |= self.log_json;
        c.validate()?;
        Ok(c)
    }
}

#[derive(Args)]
struct Target {
    /// A node of the cluster (host:port).
    #[arg(long, env = "MERIDIAN_NODE", default_value = "127.0.0.1:7070")]
    node: String,
    /// Admin token (default: ./meridian-data/admin-token when present).
    #[arg(long, env = "MERIDIAN_TOKEN", hide_env_values = true)]
    token: Option<String>,
}

#[derive(Subcommand)]
enum ClusterCmd {
    /// Make the node a one-voter cluster.
    Init(Target),
    /// Leader, term, members, regions and shards per node.
    Status {
        #[command(flatten)]
        target: Target,
        /// `table` or `json`.
        #[arg(long, default_value = "table")]
        output: String,
    },
    /// Add a running node that is not yet a member.
    Add {
        #[command(flatten)]
        target: Target,
        /// Address of the node to add.
        #[arg(long)]
        new: String,
        /// Make it a voter (otherwise a learner).
        #[arg(long)]
        voter: bool,
    },
    /// Remove a node for good (its id is never reused).
    Remove {
        #[command(flatten)]
        target: Target,
        #[arg(long)]
        id: u64,
    },
}

pub fn main() -> ExitCode {
    let cli = Cli::parse();
    let command = cli.command.unwrap_or(Command::Serve(Box::default()));
    let result = match command {
        Command::Serve(args) => serve(*args),
        Command::Cluster(cmd) => crate::cli_client::cluster(cmd_into(cmd)),
        Command::Tenant(cmd) => crate::cli_tenant::main(cmd),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("meridian: {e}");
            ExitCode::FAILURE
        }
    }
}

fn serve(args: ServeArgs) -> anyhow::Result<()> {
    let cfg = args.into_config()?;
    init_logging(cfg.log_json);
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    rt.block_on(crate::run(cfg, shutdown_signal()))?;
    Ok(())
}

fn init_logging(json: bool) {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info,openraft=warn"));
    use std::io::IsTerminal;
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(std::io::stderr().is_terminal())
        .with_writer(std::io::stderr);
    if json {
        builder.json().init();
    } else {
        builder.init();
    }
}

async fn shutdown_signal() {
    use tokio::signal::unix::{SignalKind, signal};
    let (Ok(mut term), Ok(mut int)) = (
        signal(SignalKind::terminate()),
        signal(SignalKind::interrupt()),
    ) else {
        std::future::pending::<()>().await;
        return;
    };
    tokio::select! {
        _ = term.recv() => {}
        _ = int.recv() => {}
    }
}

fn cmd_into(cmd: ClusterCmd) -> crate::cli_client::ClusterOp {
    use crate::cli_client::ClusterOp as O;
    let t = |t: Target| (t.node, t.token);
    match cmd {
        ClusterCmd::Init(target) => O::Init(t(target)),
        ClusterCmd::Status { target, output } => O::Status(t(target), output),
        ClusterCmd::Add { target, new, voter } => O::Add(t(target), new, voter),
        ClusterCmd::Remove { target, id } => O::Remove(t(target), id),
    }
}

#[cfg(test)]
mod tests {
    use clap::CommandFactory;

    /// Every `serve` flag says what it does in `--help`, and every one with a value a user may
    /// leave out names its default (regression test of "Docs a user can reach").
    #[test]
    fn every_serve_flag_has_a_description_and_a_default() {
        let cmd = super::Cli::command();
        let serve = cmd.find_subcommand("serve").expect("serve");
        let mut seen = 0;
        for arg in serve.get_arguments() {
            let id = arg.get_id().as_str();
            if matches!(id, "help" | "version") {
                continue;
            }
            seen += 1;
            let help = arg.get_help().map(|h| h.to_string()).unwrap_or_default();
            assert!(help.len() > 10, "--{id} has no description");
            let needs_default = !matches!(id, "config" | "join" | "allow_targets" | "log_json");
            assert!(
                !needs_default || help.contains("default"),
                "--{id} does not name its default: {help}"
            );
        }
        assert!(seen >= 20, "only {seen} serve flags");
    }
}
