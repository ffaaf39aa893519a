//! The processes a fault test starts and harms: `palabre serve` (the binary itself) and a Redis
//! of the test's own (`redis-server` on a free loopback port, or a 3-master Redis Cluster), each
//! killed, stopped or restarted with a signal as an operator's machine would do it.
//!
//! Signals are sent with the `kill` command (the crate forbids `unsafe`, so no `libc::kill`).
//! Every process is killed when its handle drops, so a failing test leaves nothing behind; a
//! handle dropped while the test panics prints the end of that process's output first.

use std::io::BufRead;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// How long a process may take to start, or to stop after SIGTERM.
pub const STARTUP: Duration = Duration::from_secs(30);

/// A free TCP port on loopback (free when asked: the caller binds it soon after).
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").and_then(|l| l.local_addr()).map(|a| a.port()).expect("a free port")
}

/// A free port whose cluster bus port (port + 10000) is free too.
pub fn free_cluster_port() -> u16 {
    loop {
        let port = free_port();
        if port < 55535 && std::net::TcpListener::bind(("127.0.0.1", port + 10000)).is_ok() {
            return port;
        }
    }
}

/// Sends `signal` (`TERM`, `STOP`, `CONT`, `KILL`) to `pid`.
pub fn signal(pid: u32, signal: &str) {
    let ok = Command::new("kill").arg(format!("-{signal}")).arg(pid.to_string()).status().is_ok_and(|s| s.success());
    assert!(ok, "kill -{signal} {pid} failed");
}

/// The resident memory of `pid` in KiB (`VmRSS` in `/proc/<pid>/status`).
pub fn rss_kib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).expect("/proc/<pid>/status");
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next())
        .and_then(|v| v.parse().ok())
        .expect("VmRSS in /proc/<pid>/status")
}

/// A process's output, collected line by line by a reader thread per stream.
#[derive(Clone, Default)]
struct Output(Arc<Mutex<Vec<String>>>);

impl Output {
    fn collect(&self, child: &mut Child) -> tokio::sync::mpsc::UnboundedReceiver<String> {
        let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
        let streams: Vec<Box<dyn std::io::Read + Send>> = [
            child.stdout.take().map(|s| Box::new(s) as Box<dyn std::io::Read + Send>),
            child.stderr.take().map(|s| Box::new(s) as Box<dyn std::io::Read + Send>),
        ]
        .into_iter()
        .flatten()
        .collect();
        for stream in streams {
            let (lines, tx) = (self.0.clone(), tx.clone());
            std::thread::spawn(move || {
                for line in std::io::BufReader::new(stream).lines() {
                    let Ok(line) = line else { break };
                    lines.lock().unwrap_or_else(|p| p.into_inner()).push(line.clone());
                    let _ = tx.send(line);
                }
            });
        }
        rx
    }

    fn tail(&self, n: usize) -> String {
        let lines = self.0.lock().unwrap_or_else(|p| p.into_inner());
        lines[lines.len().saturating_sub(n)..].join("\n")
    }
}

// ---------------------------------------------------------------------------------------------
// palabre serve
// ---------------------------------------------------------------------------------------------

/// One `palabre serve` process on loopback, on a port it keeps across restarts (as behind a
/// reverse proxy that knows each instance by its address).
pub struct Instance {
    pub name: &'static str,
    pub addr: SocketAddr,
    redis: String,
    child: Option<Child>,
    output: Output,
    pub http: reqwest::Client,
}

impl Instance {
    /// Starts an instance on `redis` (a `redis://` URL, or a cluster's) and returns once it
    /// listens.
    pub async fn start(name: &'static str, redis: &str) -> Instance {
        let addr: SocketAddr = format!("127.0.0.1:{}", free_port()).parse().expect("addr");
        let mut i = Instance {
            name,
            addr,
            redis: redis.to_owned(),
            child: None,
            output: Output::default(),
            http: reqwest::Client::builder().timeout(Duration::from_secs(30)).build().expect("http client"),
        };
        i.restart().await;
        i
    }

    /// Starts the process (again) on the same address; returns once it says it listens.
    pub async fn restart(&mut self) {
        assert!(self.child.is_none(), "{} is already running", self.name);
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_palabre"));
        cmd.args(["serve", "--addr", &self.addr.to_string()])
            .env("REDIS_URL", &self.redis)
            .env("RUST_LOG", "palabre=info,warn")
            .env("NO_COLOR", "1")
            .env_remove("PALABRE_ADDR")
            .env_remove("PALABRE_PUBLIC_URL")
            .env_remove("PALABRE_ALLOWED_ORIGINS")
            .env_remove("PALABRE_ADMIN_TOKEN")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let mut child = cmd.spawn().expect("the palabre binary starts");
        let mut lines = self.output.collect(&mut child);
        self.child = Some(child);
        let listening = tokio::time::timeout(STARTUP, async {
            while let Some(line) = lines.recv().await {
                if line.contains("palabre listening") {
                    return true;
                }
            }
            false
        })
        .await;
        if !matches!(listening, Ok(true)) {
            panic!("{} did not start listening on {}:\n{}", self.name, self.addr, self.output.tail(40));
        }
    }

    pub fn pid(&self) -> u32 {
        self.child.as_ref().map(Child::id).unwrap_or_else(|| panic!("{} is not running", self.name))
    }

    /// SIGKILL: the process vanishes, its sockets reset, nothing is flushed or said.
    pub fn kill(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    /// SIGTERM, as an orchestrator stops an instance; waits for it to exit and returns how
    /// long it took.
    pub async fn terminate(&mut self) -> Duration {
        let Some(mut child) = self.child.take() else { return Duration::ZERO };
        let pid = child.id();
        let started = Instant::now();
        signal(pid, "TERM");
        let exited = tokio::time::timeout(STARTUP, tokio::task::spawn_blocking(move || child.wait())).await;
        if exited.is_err() {
            signal(pid, "KILL");
            panic!("{} did not exit within {STARTUP:?} of SIGTERM:\n{}", self.name, self.output.tail(40));
        }
        started.elapsed()
    }

    pub fn rss_kib(&self) -> u64 {
        rss_kib(self.pid())
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{}", self.addr, path)
    }

    /// `/healthz`'s status.
    pub async fn health(&self) -> u16 {
        self.http.get(self.url("/healthz")).send().await.expect("/healthz answers").status().as_u16()
    }

    /// Asks `/healthz` until it answers `status` (a store's reconnection has no event to wait
    /// on); returns how long that took. Fails after `within`.
    pub async fn health_becomes(&self, status: u16, within: Duration) -> Duration {
        let started = Instant::now();
        loop {
            let got = self.health().await;
            if got == status {
                return started.elapsed();
            }
            assert!(
                started.elapsed() < within,
                "{}: /healthz stayed {got} for {within:?}, expected {status}",
                self.name
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// A number from `/metrics`: the sum of the samples of `metric` whose labels contain every
    /// one of `labels` (e.g. `result="duplicate"`).
    pub async fn metric(&self, metric: &str, labels: &[&str]) -> u64 {
        let text = self.http.get(self.url("/metrics")).send().await.expect("/metrics").text().await.expect("text");
        text.lines()
            .filter(|l| l.starts_with(metric) && l[metric.len()..].starts_with(['{', ' ']))
            .filter(|l| labels.iter().all(|want| l.contains(want)))
            .filter_map(|l| l.rsplit(' ').next().and_then(|v| v.parse::<f64>().ok()))
            .sum::<f64>()
            .round() as u64
    }

    pub async fn create(&self, definition: &serde_json::Value) -> serde_json::Value {
        let res = self.http.post(self.url("/api/sessions")).json(definition).send().await.expect("POST /api/sessions");
        assert_eq!(res.status(), 201, "creating a session on {}", self.name);
        res.json().await.expect("json")
    }
}

impl Drop for Instance {
    fn drop(&mut self) {
        if std::thread::panicking() {
            eprintln!("---- last lines of {} ({}) ----\n{}\n----", self.name, self.addr, self.output.tail(30));
        }
        self.kill();
    }
}

// ---------------------------------------------------------------------------------------------
// Redis
// ---------------------------------------------------------------------------------------------

/// One `redis-server` of the test's own on a free loopback port. With `persist`, its
/// append-only file is on and synced at every write, so a restart on the same port and
/// directory brings back every write Redis acknowledged, as an operator's Redis would.
pub struct RedisServer {
    pub port: u16,
    dir: PathBuf,
    persist: bool,
    cluster: bool,
    child: Option<Child>,
    output: Output,
}

impl RedisServer {
    pub fn start(persist: bool) -> RedisServer {
        Self::start_node(persist, false)
    }

    fn start_node(persist: bool, cluster: bool) -> RedisServer {
        let port = if cluster { free_cluster_port() } else { free_port() };
        let dir = std::env::temp_dir().join(format!("palabre-faults-redis-{}", uuid::Uuid::new_v4().simple()));
        std::fs::create_dir_all(&dir).expect("a directory for redis");
        let mut r = RedisServer { port, dir, persist, cluster, child: None, output: Output::default() };
        r.restart();
        r
    }

    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}/0", self.port)
    }

    /// Starts the server (again, on the same port and data); returns once it answers.
    pub fn restart(&mut self) {
        assert!(self.child.is_none(), "redis-server on {} is already running", self.port);
        let mut cmd = Command::new("redis-server");
        cmd.args(["--port", &self.port.to_string(), "--bind", "127.0.0.1", "--save", "", "--loglevel", "warning"]);
        if self.persist {
            cmd.args(["--appendonly", "yes", "--appendfsync", "always"]);
        } else {
            cmd.args(["--appendonly", "no"]);
        }
        if self.cluster {
            cmd.args(["--cluster-enabled", "yes", "--cluster-config-file", "nodes.conf"]);
            cmd.args(["--cluster-node-timeout", "2000"]);
        }
        cmd.arg("--dir").arg(&self.dir).stdin(Stdio::null()).stdout(Stdio::piped()).stderr(Stdio::piped());
        let mut child = cmd.spawn().expect("redis-server is installed (tests/run installs it)");
        let _ = self.output.collect(&mut child);
        self.child = Some(child);
        let deadline = Instant::now() + Duration::from_secs(10);
        while self.cli(&["PING"]).as_deref() != Some("PONG") {
            assert!(
                Instant::now() < deadline,
                "redis-server did not start on {}:\n{}",
                self.port,
                self.output.tail(20)
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    pub fn pid(&self) -> u32 {
        self.child.as_ref().map(Child::id).expect("redis-server is running")
    }

    /// SIGKILL: Redis is gone at once; connections to it reset, new ones are refused.
    pub fn kill(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    /// SIGSTOP: Redis hangs. Connections stay open and nothing answers.
    pub fn freeze(&self) {
        signal(self.pid(), "STOP");
    }

    /// SIGCONT: Redis goes on with whatever it was sent meanwhile.
    pub fn thaw(&self) {
        signal(self.pid(), "CONT");
    }

    /// `redis-cli -p <port> <args>`'s output, trimmed; `None` when it fails.
    pub fn cli(&self, args: &[&str]) -> Option<String> {
        let out = Command::new("redis-cli").args(["-p", &self.port.to_string()]).args(args).output().ok()?;
        let text = String::from_utf8_lossy(&out.stdout).trim().to_owned();
        (out.status.success() && !text.starts_with("Could not connect")).then_some(text)
    }
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        if let Some(c) = &self.child {
            // A stopped process takes SIGKILL too, but its parent's wait would not return
            // before it is continued on some kernels: continue it first.
            let _ = Command::new("kill").args(["-CONT", &c.id().to_string()]).status();
        }
        self.kill();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// A Redis Cluster of the test's own: three masters on free loopback ports, no replicas,
/// each with its append-only file on, so all three can be killed and started again on the same
/// ports and data (their `nodes.conf` brings the cluster back together).
pub struct RedisCluster {
    pub nodes: Vec<RedisServer>,
}

impl RedisCluster {
    pub fn start() -> RedisCluster {
        let nodes: Vec<RedisServer> = (0..3).map(|_| RedisServer::start_node(true, true)).collect();
        let addrs: Vec<String> = nodes.iter().map(|n| format!("127.0.0.1:{}", n.port)).collect();
        let out = Command::new("redis-cli")
            .args(["--cluster", "create"])
            .args(&addrs)
            .args(["--cluster-replicas", "0", "--cluster-yes"])
            .output()
            .expect("redis-cli");
        assert!(out.status.success(), "redis-cli --cluster create: {}", String::from_utf8_lossy(&out.stdout));
        let cluster = RedisCluster { nodes };
        cluster.wait_ok();
        cluster
    }

    /// `redis+cluster://host:port,host:port,host:port`
    pub fn url(&self) -> String {
        let nodes: Vec<String> = self.nodes.iter().map(|n| format!("127.0.0.1:{}", n.port)).collect();
        format!("redis+cluster://{}", nodes.join(","))
    }

    /// Waits until every node says the cluster is whole (`cluster_state:ok`).
    pub fn wait_ok(&self) {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let ok = self
                .nodes
                .iter()
                .all(|n| n.cli(&["CLUSTER", "INFO"]).is_some_and(|info| info.contains("cluster_state:ok")));
            if ok {
                return;
            }
            assert!(Instant::now() < deadline, "the Redis Cluster did not come together");
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}
