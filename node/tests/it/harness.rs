//! `TestCluster`: starts `meridian` nodes as child processes on 127.0.0.1 and talks to them
//! over HTTP. Only processes it started are ever signalled, by their PID.

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use reqwest::Method;
use serde_json::Value;
use tempfile::TempDir;

pub const TOKEN: &str = "test-admin-token-0123456789";
/// Deadline for a cluster-level condition (elections, joins, catch-up) on a busy 2-core box.
pub const WAIT: Duration = Duration::from_secs(30);

pub struct TestNode {
    pub id: u64,
    pub region: String,
    pub port: u16,
    pub data: PathBuf,
    pub extra: Vec<String>,
    pub child: Option<Child>,
}

impl TestNode {
    pub fn addr(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }
}

pub struct TestCluster {
    pub dir: TempDir,
    pub nodes: Vec<TestNode>,
    pub http: reqwest::Client,
}

pub struct Reply {
    pub status: u16,
    pub json: Value,
    pub etag: Option<String>,
}

fn free_port() -> u16 {
    let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    l.local_addr().expect("addr").port()
}

/// Polls `f` until it returns Some, or panics naming `what` after `timeout`.
pub async fn wait_for<T, F, Fut>(what: &str, timeout: Duration, mut f: F) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    let start = Instant::now();
    loop {
        if let Some(v) = f().await {
            return v;
        }
        assert!(
            start.elapsed() < timeout,
            "timed out after {timeout:?} waiting for {what}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

impl TestCluster {
    /// An empty cluster directory; add nodes with `spawn`.
    pub fn new() -> Self {
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(15))
            .build()
            .expect("client");
        Self {
            dir: tempfile::tempdir().expect("tempdir"),
            nodes: Vec::new(),
            http,
        }
    }

    /// Starts `regions.len()` nodes: the first is initialised with `cluster init`, the others
    /// `--join` it. Returns when every node sees all of them as members.
    pub async fn start(regions: &[&str], extra: &[&str]) -> Self {
        let mut c = Self::new();
        for (i, r) in regions.iter().enumerate() {
            let join = if i == 0 {
                None
            } else {
                Some(c.nodes[0].addr())
            };
            c.spawn_new(r, join, extra);
            if i == 0 {
                c.wait_http(0).await;
                c.cli(&[
                    "cluster",
                    "init",
                    "--node",
                    &c.nodes[0].addr(),
                    "--token",
                    TOKEN,
                ]);
            }
        }
        let n = regions.len();
        for i in 0..n {
            wait_for("every node to see all members", WAIT, || async {
                let v = c.cluster(i).await?;
                (v["nodes"]
                    .as_array()?
                    .iter()
                    .filter(|m| m["role"] != "joining")
                    .count()
                    == n)
                    .then_some(())
            })
            .await;
        }
        c
    }

    /// Adds and starts a fresh node (id = position + 1).
    pub fn spawn_new(&mut self, region: &str, join: Option<String>, extra: &[&str]) -> usize {
        let id = self.nodes.len() as u64 + 1;
        let mut extra: Vec<String> = extra.iter().map(|s| s.to_string()).collect();
        if let Some(j) = join {
            extra.extend(["--join".to_string(), j]);
        }
        let node = TestNode {
            id,
            region: region.to_string(),
            port: free_port(),
            data: self.dir.path().join(format!("n{id}")),
            extra,
            child: None,
        };
        self.nodes.push(node);
        let i = self.nodes.len() - 1;
        self.start_node(i);
        i
    }

    pub fn start_node(&mut self, i: usize) {
        let n = &self.nodes[i];
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.dir.path().join(format!("n{}.log", n.id)))
            .expect("log file");
        let child = Command::new(env!("CARGO_BIN_EXE_meridian"))
            .args([
                "serve",
                "--node-id",
                &n.id.to_string(),
                "--region",
                &n.region,
            ])
            .args(["--listen", &n.addr(), "--admin-token", TOKEN])
            .arg("--data-dir")
            .arg(&n.data)
            .args(&n.extra)
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .expect("spawn meridian");
        self.nodes[i].child = Some(child);
    }

    /// SIGKILL, by the PID of the child this cluster started.
    pub fn kill9(&mut self, i: usize) {
        if let Some(mut c) = self.nodes[i].child.take() {
            c.kill().expect("kill");
            c.wait().expect("reap");
        }
    }

    pub fn log(&self, i: usize) -> String {
        std::fs::read_to_string(self.dir.path().join(format!("n{}.log", self.nodes[i].id)))
            .unwrap_or_default()
    }

    pub fn cli(&self, args: &[&str]) -> String {
        let out = Command::new(env!("CARGO_BIN_EXE_meridian"))
            .args(args)
            .output()
            .expect("run cli");
        assert!(
            out.status.success(),
            "meridian {args:?} failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    pub async fn wait_http(&self, i: usize) {
        let url = format!("http://{}/healthz", self.nodes[i].addr());
        wait_for("node to serve /healthz", WAIT, || async {
            self.http.get(&url).send().await.ok().map(|_| ())
        })
        .await;
    }

    pub async fn call(
        &self,
        i: usize,
        method: Method,
        path: &str,
        token: &str,
        body: Option<Value>,
        headers: &[(&str, &str)],
    ) -> Option<Reply> {
        let url = format!("http://{}{path}", self.nodes[i].addr());
        let mut req = self.http.request(method, url).bearer_auth(token);
        for (k, v) in headers {
            req = req.header(*k, *v);
        }
        if let Some(b) = body {
            req = req.json(&b);
        }
        let resp = req.send().await.ok()?;
        let status = resp.status().as_u16();
        let etag = resp
            .headers()
            .get("etag")
            .and_then(|v| v.to_str().ok())
            .map(str::to_string);
        let json = resp.json().await.unwrap_or(Value::Null);
        Some(Reply { status, json, etag })
    }

    /// `GET /v1/cluster` from node `i`'s own view.
    pub async fn cluster(&self, i: usize) -> Option<Value> {
        let r = self
            .call(i, Method::GET, "/v1/cluster", TOKEN, None, &[])
            .await?;
        (r.status == 200).then_some(r.json)
    }

    pub async fn leader(&self, i: usize) -> Option<u64> {
        self.cluster(i).await?["leader_id"].as_u64()
    }

    /// Index of the node that every live node agrees is the leader.
    pub async fn agreed_leader(&self) -> usize {
        wait_for("all live nodes to agree on a leader", WAIT, || async {
            let mut seen = None;
            for (i, n) in self.nodes.iter().enumerate() {
                if n.child.is_none() {
                    continue;
                }
                let l = self.leader(i).await?;
                if seen.is_some_and(|s| s != l) {
                    return None;
                }
                seen = Some(l);
            }
            let id = seen?;
            self.nodes
                .iter()
                .position(|n| n.id == id && n.child.is_some())
        })
        .await
    }

    /// Creates a tenant through node `i` and returns its token.
    pub async fn tenant(&self, i: usize, name: &str) -> String {
        let body = serde_json::json!({"name": name});
        let r = self
            .call(i, Method::POST, "/v1/tenants", TOKEN, Some(body), &[])
            .await
            .expect("reply");
        assert_eq!(r.status, 201, "{}", r.json);
        r.json["token"].as_str().expect("token").to_string()
    }
}

impl Drop for TestCluster {
    fn drop(&mut self) {
        for i in 0..self.nodes.len() {
            self.kill9(i);
        }
    }
}
