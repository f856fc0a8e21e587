//! The `meridian` node processes a run starts: spawn, SIGKILL + restart, SIGSTOP/SIGCONT, stop.
//!
//! Only processes this suite spawned are signalled, always by their PID.

use std::fs::{File, OpenOptions};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;

/// How long a clean stop (SIGTERM) may take before SIGKILL.
const STOP_GRACE: Duration = Duration::from_secs(10);

/// Sends `sig` to `pid`; false when the process is gone.
pub fn signal(pid: i32, sig: Signal) -> bool {
    kill(Pid::from_raw(pid), sig).is_ok()
}

/// Finds libfaketime's multi-threaded preload library, if installed.
pub fn find_libfaketime() -> Option<PathBuf> {
    let candidates = [
        "/usr/lib/x86_64-linux-gnu",
        "/usr/lib/aarch64-linux-gnu",
        "/usr/lib",
    ];
    candidates
        .iter()
        .map(|d| Path::new(d).join("faketime/libfaketimeMT.so.1"))
        .find(|p| p.exists())
}

/// How a node is launched.
#[derive(Debug, Clone)]
pub struct Launch {
    pub bin: PathBuf,
    pub token: String,
    /// Namespace to run in (`None` = the current one).
    pub ns: Option<String>,
    pub listen: String,
    pub region: String,
    pub data_dir: PathBuf,
    pub log: PathBuf,
    /// Address(es) to join through; `None` for the bootstrap node.
    pub join: Option<String>,
    /// libfaketime library and the file holding this node's clock offset.
    pub faketime: Option<(PathBuf, PathBuf)>,
}

/// One node process and its history of starts.
#[derive(Debug)]
pub struct NodeProc {
    pub id: u32,
    pub launch: Launch,
    child: Option<Child>,
    pub paused: bool,
    pub starts: u32,
    /// Exit statuses seen (kills, crashes, stops).
    pub exits: Vec<String>,
}

impl NodeProc {
    pub fn new(id: u32, launch: Launch) -> NodeProc {
        NodeProc {
            id,
            launch,
            child: None,
            paused: false,
            starts: 0,
            exits: Vec::new(),
        }
    }

    pub fn addr(&self) -> &str {
        &self.launch.listen
    }

    pub fn pid(&self) -> Option<i32> {
        self.child.as_ref().map(|c| c.id() as i32)
    }

    /// Starts the node (`meridian serve ...`), appending its output to the node log.
    pub fn start(&mut self) -> Result<()> {
        if self.child.is_some() {
            bail!("node {} already running", self.id);
        }
        let l = &self.launch;
        std::fs::create_dir_all(&l.data_dir)?;
        let log = open_log(&l.log)?;
        let mut cmd = match &l.ns {
            Some(ns) => {
                let mut c = Command::new("ip");
                c.args(["netns", "exec", ns]).arg(&l.bin);
                c
            }
            None => Command::new(&l.bin),
        };
        cmd.arg("serve")
            .args(["--node-id", &self.id.to_string(), "--region", &l.region])
            .args(["--listen", &l.listen, "--advertise", &l.listen])
            .arg("--data-dir")
            .arg(&l.data_dir)
            .args(["--admin-token", &l.token, "--allow-private-targets"]);
        if let Some(join) = &l.join {
            cmd.args(["--join", join]);
        }
        if std::env::var_os("RUST_LOG").is_none() {
            cmd.env("RUST_LOG", "info");
        }
        if let Some((lib, file)) = &l.faketime {
            cmd.env("LD_PRELOAD", lib)
                .env("FAKETIME_TIMESTAMP_FILE", file)
                .env("FAKETIME_CACHE_DURATION", "1")
                .env("FAKETIME_DONT_FAKE_MONOTONIC", "1");
        }
        let child = cmd
            .stdin(Stdio::null())
            .stdout(log.try_clone()?)
            .stderr(log)
            .spawn()
            .with_context(|| format!("starting node {} ({})", self.id, l.bin.display()))?;
        self.child = Some(child);
        self.paused = false;
        self.starts += 1;
        Ok(())
    }

    /// True while the process has not exited.
    pub fn is_running(&mut self) -> bool {
        let Some(child) = self.child.as_mut() else {
            return false;
        };
        match child.try_wait() {
            Ok(None) => true,
            Ok(Some(status)) => {
                self.exits.push(format!("exited unexpectedly: {status}"));
                self.child = None;
                false
            }
            Err(_) => false,
        }
    }

    /// SIGKILL and reap; returns the exit status.
    pub fn kill9(&mut self) -> Result<ExitStatus> {
        let mut child = self.child.take().context("node not running")?;
        signal(child.id() as i32, Signal::SIGCONT);
        signal(child.id() as i32, Signal::SIGKILL);
        let status = child.wait()?;
        self.exits.push(format!("killed: {status}"));
        self.paused = false;
        Ok(status)
    }

    /// SIGSTOP (pause) or SIGCONT (resume).
    pub fn set_paused(&mut self, paused: bool) -> Result<()> {
        let pid = self.pid().context("node not running")?;
        let sig = if paused {
            Signal::SIGSTOP
        } else {
            Signal::SIGCONT
        };
        if !signal(pid, sig) {
            bail!("signal {sig} to node {} failed", self.id);
        }
        self.paused = paused;
        Ok(())
    }

    /// Process state letter from /proc (`T` = stopped), to verify a pause took effect.
    pub fn proc_state(&self) -> Option<char> {
        let stat = std::fs::read_to_string(format!("/proc/{}/stat", self.pid()?)).ok()?;
        stat.rsplit(')').next()?.trim().chars().next()
    }

    /// SIGTERM, wait up to the grace period, then SIGKILL.
    pub fn stop(&mut self) -> Option<ExitStatus> {
        let mut child = self.child.take()?;
        let pid = child.id() as i32;
        signal(pid, Signal::SIGCONT);
        signal(pid, Signal::SIGTERM);
        let deadline = Instant::now() + STOP_GRACE;
        while Instant::now() < deadline {
            if let Ok(Some(status)) = child.try_wait() {
                self.exits.push(format!("stopped: {status}"));
                return Some(status);
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        signal(pid, Signal::SIGKILL);
        let status = child.wait().ok();
        self.exits
            .push(format!("did not stop within {STOP_GRACE:?}; killed"));
        status
    }
}

impl Drop for NodeProc {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            signal(child.id() as i32, Signal::SIGCONT);
            signal(child.id() as i32, Signal::SIGKILL);
            let _ = child.wait();
        }
    }
}

fn open_log(path: &Path) -> Result<File> {
    OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .with_context(|| format!("opening {}", path.display()))
}

/// Runs the operator CLI (`meridian cluster ...`) from the current namespace.
pub fn cli(bin: &Path, args: &[&str]) -> Result<String> {
    let out = Command::new(bin).args(args).stdin(Stdio::null()).output()?;
    if !out.status.success() {
        bail!(
            "meridian {}: {}{}",
            args.join(" "),
            String::from_utf8_lossy(&out.stderr).trim(),
            String::from_utf8_lossy(&out.stdout).trim()
        );
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}
