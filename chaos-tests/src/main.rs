//! `meridian-chaos`: command line of the chaos suite (check, check-monitoring, run, ci, soak,
//! cleanup).

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::Context as _;
use clap::{Args, Parser, Subcommand};
use meridian_chaos::config::{NetMode, ReadConsistency, RunConfig};
use meridian_chaos::linearizability::{MAX_STATES_DEFAULT, Verdict};
use meridian_chaos::nemesis::FaultClass;
use meridian_chaos::target_server::TargetServer;
use meridian_chaos::{delayer, monitoring_check, monitoring_parse, net, offline, profiles};

#[derive(Parser)]
#[command(
    name = "meridian-chaos",
    about = "Jepsen-style fault injection and checking for Meridian"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Args, Clone)]
struct Common {
    /// The release `meridian` binary to test.
    #[arg(long, default_value = "target/release/meridian")]
    bin: PathBuf,
    /// Folder receiving one sub-folder per run.
    #[arg(long, default_value = "target/chaos-runs")]
    out: PathBuf,
    /// First seed (each run's seed is recorded; a run is reproducible from it).
    #[arg(long, default_value_t = 1)]
    seed: u64,
}

#[derive(Subcommand)]
enum Command {
    /// Re-check a stored history (JSON lines); exit 1 on an anomaly, 2 when undecided.
    Check {
        history: PathBuf,
        /// Search budget per key; exceeding it reports "unknown", never "ok".
        #[arg(long, default_value_t = MAX_STATES_DEFAULT)]
        max_states: u64,
        /// Print the result as JSON instead of text.
        #[arg(long)]
        json: bool,
    },
    /// Check a stored monitoring history (alarms, transitions, deliveries); exit 1 on a
    /// violation, 3 on bad input.
    CheckMonitoring {
        history: PathBuf,
        /// Print the report as JSON instead of text.
        #[arg(long)]
        json: bool,
    },
    /// One run with the chosen nemeses.
    Run {
        #[command(flatten)]
        common: Common,
        #[arg(long, default_value = "run")]
        name: String,
        #[arg(long, value_enum, default_value = "netns")]
        mode: NetMode,
        #[arg(long, default_value_t = 5)]
        nodes: u32,
        #[arg(long, default_value_t = 3)]
        regions: u32,
        #[arg(long, default_value_t = 10)]
        clients: u32,
        #[arg(long, default_value_t = 5)]
        keys: u32,
        /// Workload length in seconds.
        #[arg(long, default_value_t = 60)]
        duration: u64,
        /// Mean seconds between faults.
        #[arg(long, default_value_t = 10)]
        interval: u64,
        /// Fault classes, comma separated (any combination).
        #[arg(long, value_enum, value_delimiter = ',', default_value = "partition")]
        nemesis: Vec<FaultClass>,
        #[arg(long, value_enum, default_value = "linearizable")]
        read_consistency: ReadConsistency,
        #[arg(long, default_value_t = 1.0)]
        min_ok_rate: f64,
        #[arg(long, default_value_t = 50)]
        latency_ms: u64,
    },
    /// The CI profile (root): one run per fault class plus a combined run, then the
    /// self-validation run with local reads.
    Ci {
        #[command(flatten)]
        common: Common,
        #[arg(long, default_value_t = 60)]
        duration: u64,
        /// Skip the self-validation run (local reads under partitions).
        #[arg(long)]
        no_self_validation: bool,
    },
    /// Long combined runs (root), e.g. 20 × 300 s.
    Soak {
        #[command(flatten)]
        common: Common,
        #[arg(long, default_value_t = 20)]
        runs: u32,
        #[arg(long, default_value_t = 300)]
        duration: u64,
    },
    /// Remove leftover namespaces, links and their processes (prefix `mch-`).
    Cleanup,
    /// Internal: one controllable HTTP target (run inside a region's namespace); prints
    /// `listening on ADDR`, stops after `--max-s` seconds, on ctrl-c or on SIGTERM.
    #[command(hide = true)]
    Target {
        #[arg(long)]
        listen: std::net::SocketAddr,
        #[arg(long, default_value_t = 3600)]
        max_s: u64,
        /// Requests kept in the target's log (at most TARGET_LOG_MAX).
        #[arg(long, default_value_t = 1000)]
        log: usize,
    },
    /// Internal: the NFQUEUE packet delayer run inside a node's namespace.
    #[command(hide = true)]
    Delayer {
        #[arg(long)]
        queue: u16,
        #[arg(long)]
        delay_ms: u64,
        #[arg(long)]
        stop_file: PathBuf,
        #[arg(long, default_value_t = 600)]
        max_s: u64,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match dispatch(cli) {
        Ok(code) => code,
        Err(err) => {
            eprintln!("meridian-chaos: {err:#}");
            ExitCode::from(3)
        }
    }
}

fn dispatch(cli: Cli) -> anyhow::Result<ExitCode> {
    match cli.command {
        Command::Check {
            history,
            max_states,
            json,
        } => check(history, max_states, json),
        Command::CheckMonitoring { history, json } => check_monitoring(history, json),
        Command::Cleanup => {
            for item in net::cleanup() {
                println!("removed {item}");
            }
            Ok(ExitCode::SUCCESS)
        }
        Command::Delayer {
            queue,
            delay_ms,
            stop_file,
            max_s,
        } => {
            delayer::run(
                queue,
                Duration::from_millis(delay_ms),
                &stop_file,
                Duration::from_secs(max_s),
            )?;
            Ok(ExitCode::SUCCESS)
        }
        command => runtime()?.block_on(async_command(command)),
    }
}

fn runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    Ok(tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?)
}

fn check(history: PathBuf, max_states: u64, json: bool) -> anyhow::Result<ExitCode> {
    let (events, summary) = offline::check_file(&history, max_states)?;
    if json {
        println!("{}", serde_json::to_string_pretty(&summary)?);
    } else {
        print!("{}", offline::explain(&events, &summary));
    }
    let verdict = summary.verdict();
    println!(
        "{}: {} events, {} ops, {} keys: {verdict:?}",
        history.display(),
        summary.events,
        summary.ops,
        summary.keys.len()
    );
    Ok(match verdict {
        Verdict::Linearizable => ExitCode::SUCCESS,
        Verdict::NotLinearizable => ExitCode::from(1),
        Verdict::Unknown => ExitCode::from(2),
    })
}

fn check_monitoring(path: PathBuf, json: bool) -> anyhow::Result<ExitCode> {
    let text =
        std::fs::read_to_string(&path).with_context(|| format!("reading {}", path.display()))?;
    let history =
        monitoring_parse::parse(&text).with_context(|| format!("parsing {}", path.display()))?;
    let report = monitoring_check::check(&history);
    if json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        print!("{}", report.render());
    }
    let verdict = if report.ok() { "ok" } else { "VIOLATIONS" };
    let summary = format!(
        "{}: {} alarms, {} transitions, {} deliveries: {verdict}",
        path.display(),
        history.alarms.len(),
        history.transitions.len(),
        history.deliveries.len()
    );
    // with --json, stdout carries the JSON document alone
    if json {
        eprintln!("{summary}");
    } else {
        println!("{summary}");
    }
    Ok(if report.ok() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}

/// Runs a profile (then, for `ci`, the self-validation run), tearing everything down if
/// interrupted by ctrl-c or SIGTERM: dropping the run future drops its cluster and network.
async fn interruptible(
    configs: Vec<RunConfig>,
    out: PathBuf,
    validation: Option<RunConfig>,
) -> anyhow::Result<ExitCode> {
    let work = async {
        let runs = profiles::run_all(configs).await;
        if let Some(cfg) = validation {
            self_validation(cfg).await;
        }
        profiles::finish(&out, &runs)
    };
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
    tokio::select! {
        ok = work => Ok(if ok? { ExitCode::SUCCESS } else { ExitCode::from(1) }),
        _ = tokio::signal::ctrl_c() => interrupted(),
        _ = term.recv() => interrupted(),
    }
}

fn interrupted() -> anyhow::Result<ExitCode> {
    net::cleanup();
    eprintln!("interrupted: node processes and namespaces torn down");
    Ok(ExitCode::from(130))
}

async fn async_command(command: Command) -> anyhow::Result<ExitCode> {
    match command {
        Command::Run {
            common,
            name,
            mode,
            nodes,
            regions,
            clients,
            keys,
            duration,
            interval,
            nemesis,
            read_consistency,
            min_ok_rate,
            latency_ms,
        } => {
            if mode == NetMode::Netns && profiles::refuse_unprivileged("run --mode netns") {
                return Ok(ExitCode::from(2));
            }
            let mut cfg = RunConfig::new(&name, common.bin, common.out.clone(), mode);
            cfg.seed = common.seed;
            (cfg.nodes, cfg.regions, cfg.clients, cfg.keys) = (nodes, regions, clients, keys);
            (cfg.duration_s, cfg.fault_interval_s, cfg.nemeses) = (duration, interval, nemesis);
            (cfg.read_consistency, cfg.min_ok_rate, cfg.latency_ms) =
                (read_consistency, min_ok_rate, latency_ms);
            interruptible(vec![cfg], common.out, None).await
        }
        Command::Ci {
            common,
            duration,
            no_self_validation,
        } => {
            if profiles::refuse_unprivileged("ci profile") {
                return Ok(ExitCode::from(2));
            }
            let configs = profiles::ci_configs(&common.bin, &common.out, duration, common.seed);
            let validation = (!no_self_validation).then(|| {
                profiles::self_validation_config(
                    &common.bin,
                    &common.out,
                    duration,
                    common.seed + 100,
                )
            });
            interruptible(configs, common.out.clone(), validation).await
        }
        Command::Soak {
            common,
            runs,
            duration,
        } => {
            if profiles::refuse_unprivileged("soak profile") {
                return Ok(ExitCode::from(2));
            }
            let configs =
                profiles::soak_configs(&common.bin, &common.out, runs, duration, common.seed);
            interruptible(configs, common.out, None).await
        }
        Command::Target { listen, max_s, log } => run_target(listen, max_s, log).await,
        _ => unreachable!("synchronous commands are dispatched before"),
    }
}

async fn run_target(
    listen: std::net::SocketAddr,
    max_s: u64,
    log: usize,
) -> anyhow::Result<ExitCode> {
    use std::io::Write as _;
    let epoch = std::time::Instant::now();
    let target = TargetServer::start(listen, epoch, log).await?;
    println!("listening on {}", target.addr());
    std::io::stdout().flush()?;
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
    tokio::select! {
        _ = tokio::time::sleep(Duration::from_secs(max_s)) => {}
        _ = tokio::signal::ctrl_c() => {}
        _ = term.recv() => {}
    }
    target.stop().await;
    Ok(ExitCode::SUCCESS)
}

/// Local reads under partitions: the suite must see them as non-linearizable. Informational:
/// a short run may happen to show no stale read, which is said plainly.
async fn self_validation(cfg: RunConfig) {
    eprintln!("=== self-validation: reads at consistency=local under partitions");
    match meridian_chaos::run::run(cfg).await {
        Ok(report) if report.linearizability == Verdict::NotLinearizable => println!(
            "self-validation: local reads under partitions were reported NON-LINEARIZABLE, as \
             they must be (the suite sees stale reads)"
        ),
        Ok(report) => println!(
            "self-validation: this run of local reads showed no stale read (verdict {:?}); the \
             offline known-bad histories remain the proof that stale reads are rejected",
            report.linearizability
        ),
        Err(e) => println!("self-validation: run failed to complete: {e:#}"),
    }
}
