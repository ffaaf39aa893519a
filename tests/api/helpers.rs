//! Shared test plumbing: a real Redis for the tests, and stores of both kinds.

#![allow(dead_code)]

use palabre::store::memory::MemoryStore;
use palabre::store::redis::RedisStore;
use palabre::store::Store;
use std::process::{Command, Stdio};
use std::sync::{Arc, OnceLock};

/// The Redis the tests use: `PALABRE_TEST_REDIS_URL` (which `tests/run` sets after starting
/// a private `redis-server`), else one started here on a free port for this test process.
pub fn redis_url() -> String {
    static URL: OnceLock<String> = OnceLock::new();
    URL.get_or_init(|| {
        if let Ok(url) = std::env::var("PALABRE_TEST_REDIS_URL") {
            return url;
        }
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .map(|a| a.port())
            .expect("a free port");
        // The shell stays behind as a watchdog: when this test process exits, Redis goes too.
        let script = format!(
            "redis-server --port {port} --bind 127.0.0.1 --save '' --appendonly no --loglevel warning & r=$!; \
             while kill -0 {pid} 2>/dev/null; do sleep 1; done; kill $r",
            pid = std::process::id()
        );
        Command::new("sh")
            .arg("-c")
            .arg(script)
            .stdout(Stdio::null())
            .spawn()
            .expect("redis-server is installed (tests/run installs it)");
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(
                std::time::Instant::now() < deadline,
                "redis-server did not start on port {port}"
            );
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
        format!("redis://127.0.0.1:{port}/0")
    })
    .clone()
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Memory,
    Redis,
}

pub const BACKENDS: [Backend; 2] = [Backend::Memory, Backend::Redis];

pub async fn store(backend: Backend) -> Arc<dyn Store> {
    match backend {
        Backend::Memory => Arc::new(MemoryStore::new()),
        Backend::Redis => Arc::new(RedisStore::connect(&redis_url()).await.expect("redis reachable")),
    }
}
