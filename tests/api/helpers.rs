//! Shared test plumbing: a real Redis for the tests, and stores of both kinds.

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
        let child = Command::new("sh")
            .arg("-c")
            .arg(script)
            .stdout(Stdio::null())
            .spawn()
            .expect("redis-server is installed (tests/run installs it)");
        static WATCHDOG: OnceLock<std::sync::Mutex<std::process::Child>> = OnceLock::new();
        let _ = WATCHDOG.set(std::sync::Mutex::new(child));
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(std::time::Instant::now() < deadline, "redis-server did not start on port {port}");
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

pub async fn store(backend: Backend) -> Arc<dyn Store> {
    match backend {
        Backend::Memory => Arc::new(MemoryStore::new()),
        Backend::Redis => Arc::new(RedisStore::connect(&redis_url()).await.expect("redis reachable")),
    }
}

use futures_util::{SinkExt, StreamExt};
use palabre::config::{Config, Secret};
use serde_json::{json, Value};
use std::net::SocketAddr;
use std::time::Duration;
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

/// How long a test waits for something that should come at once before it fails.
pub const PATIENCE: Duration = Duration::from_secs(10);

pub fn sou94() -> Value {
    serde_json::from_str(include_str!("../../fixtures/sou94.json")).expect("fixture is JSON")
}

/// A running instance of the app, in a runtime of its own so that [`TestApp::kill`] can take
/// it down at once, like a crashed process: no goodbye to anyone.
pub struct TestApp {
    pub addr: SocketAddr,
    stop: Option<std::sync::mpsc::Sender<bool>>,
    thread: Option<std::thread::JoinHandle<()>>,
    pub http: reqwest::Client,
}

impl TestApp {
    pub async fn spawn(backend: Backend) -> TestApp {
        Self::spawn_with(backend, Config::default()).await
    }

    pub async fn spawn_with(backend: Backend, config: Config) -> TestApp {
        let url = match backend {
            Backend::Memory => None,
            Backend::Redis => Some(redis_url()),
        };
        Self::spawn_on(url, config).await
    }

    pub async fn spawn_on(redis: Option<String>, config: Config) -> TestApp {
        let (addr_tx, addr_rx) = tokio::sync::oneshot::channel();
        let (stop_tx, stop_rx) = std::sync::mpsc::channel::<bool>();
        let thread = std::thread::spawn(move || {
            let rt =
                tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().expect("runtime");
            let (graceful_tx, graceful_rx) = tokio::sync::oneshot::channel::<()>();
            let (store, listener) = rt.block_on(async {
                let store: Arc<dyn Store> = match &redis {
                    None => Arc::new(MemoryStore::new()),
                    Some(url) => Arc::new(RedisStore::connect(url).await.expect("redis reachable")),
                };
                let listener = palabre::app::bind("127.0.0.1:0".parse().expect("addr")).expect("bind");
                (store, listener)
            });
            let _ = addr_tx.send(listener.local_addr().expect("addr"));
            let server = rt.spawn(palabre::app::serve(listener, store, config, async move {
                let _ = graceful_rx.await;
            }));
            // true: graceful stop; false (or the handle dropped): kill.
            let graceful = stop_rx.recv().unwrap_or(false);
            if graceful {
                let _ = graceful_tx.send(());
                let _ = rt.block_on(async { tokio::time::timeout(PATIENCE, server).await });
            }
            rt.shutdown_background();
        });
        let addr = addr_rx.await.expect("the app started");
        TestApp { addr, stop: Some(stop_tx), thread: Some(thread), http: reqwest::Client::new() }
    }

    /// Takes the instance down at once: sockets drop, nothing is flushed.
    pub fn kill(mut self) {
        self.finish(false);
    }

    /// Stops the instance as SIGTERM would.
    pub fn stop(mut self) {
        self.finish(true);
    }

    fn finish(&mut self, graceful: bool) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(graceful);
        }
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{}", self.addr, path)
    }

    pub async fn create(&self, definition: &Value) -> Value {
        let res = self.http.post(self.url("/api/sessions")).json(definition).send().await.expect("request");
        assert_eq!(res.status(), 201, "creating a session");
        res.json().await.expect("json")
    }

    pub async fn ws(&self) -> Ws {
        Ws::connect(self.addr, None).await.expect("websocket connects")
    }
}

impl Drop for TestApp {
    fn drop(&mut self) {
        self.finish(false);
    }
}

pub struct Ws {
    stream: WebSocketStream<MaybeTlsStream<TcpStream>>,
}

impl Ws {
    pub async fn connect(addr: SocketAddr, origin: Option<&str>) -> Result<Ws, tokio_tungstenite::tungstenite::Error> {
        use tokio_tungstenite::tungstenite::client::IntoClientRequest;
        let mut req = format!("ws://{addr}/ws").into_client_request()?;
        if let Some(o) = origin {
            req.headers_mut().insert("origin", o.parse().expect("header"));
        }
        let config = WebSocketConfig::default().read_buffer_size(4096);
        let (stream, _) = tokio_tungstenite::connect_async_with_config(req, Some(config), false).await?;
        Ok(Ws { stream })
    }

    /// A client whose socket has a tiny receive buffer, like a phone on a congested link.
    pub async fn connect_slow(addr: SocketAddr) -> Ws {
        let socket = tokio::net::TcpSocket::new_v4().expect("socket");
        socket.set_recv_buffer_size(2048).expect("rcvbuf");
        let tcp = socket.connect(addr).await.expect("connect");
        let config = WebSocketConfig::default().read_buffer_size(4096);
        let (stream, _) = tokio_tungstenite::client_async_with_config(
            format!("ws://{addr}/ws"),
            MaybeTlsStream::Plain(tcp),
            Some(config),
        )
        .await
        .expect("websocket");
        Ws { stream }
    }

    pub async fn send(&mut self, v: Value) {
        self.stream.send(Message::Text(v.to_string().into())).await.expect("send");
    }

    pub async fn send_raw(&mut self, m: Message) {
        self.stream.send(m).await.expect("send");
    }

    /// The next JSON frame other than `presence`; fails the test if none comes in time.
    pub async fn recv(&mut self) -> Value {
        loop {
            let v = self.recv_any().await;
            if v["type"] != "presence" {
                return v;
            }
        }
    }

    pub async fn recv_any(&mut self) -> Value {
        loop {
            let msg = tokio::time::timeout(PATIENCE, self.stream.next())
                .await
                .expect("a frame in time")
                .expect("the socket is open")
                .expect("a readable frame");
            match msg {
                Message::Text(t) => return serde_json::from_str(&t).expect("JSON frame"),
                Message::Close(c) => panic!("closed: {c:?}"),
                _ => continue,
            }
        }
    }

    /// Waits for the server to close; returns the close code.
    pub async fn closed(&mut self) -> Option<u16> {
        loop {
            match tokio::time::timeout(PATIENCE, self.stream.next()).await.expect("closed in time") {
                None | Some(Err(_)) => return None,
                Some(Ok(Message::Close(c))) => return c.map(|c| u16::from(c.code)),
                Some(Ok(_)) => continue,
            }
        }
    }

    /// The next frame of this type, skipping others (presence, events).
    pub async fn recv_type(&mut self, t: &str) -> Value {
        loop {
            let v = self.recv_any().await;
            if v["type"] == t {
                return v;
            }
        }
    }

    /// Sends a command; returns its id.
    pub async fn cmd(&mut self, op: &str, fields: Value) -> String {
        let id = uuid::Uuid::new_v4().to_string();
        self.cmd_with_id(&id, op, fields).await;
        id
    }

    pub async fn cmd_with_id(&mut self, id: &str, op: &str, fields: Value) {
        let mut frame = json!({"type": "cmd", "id": id, "op": op});
        if let (Some(f), Value::Object(extra)) = (frame.as_object_mut(), fields) {
            f.extend(extra);
        }
        self.send(frame).await;
    }

    /// Sends a command and returns the `ack` or `error` that answers it (events in between are
    /// skipped).
    pub async fn call(&mut self, op: &str, fields: Value) -> Value {
        let id = self.cmd(op, fields).await;
        self.reply_to(&id).await
    }

    pub async fn reply_to(&mut self, id: &str) -> Value {
        loop {
            let v = self.recv().await;
            if (v["type"] == "ack" || v["type"] == "error") && v["id"] == id {
                return v;
            }
        }
    }

    /// Reads from `seq` until the client holds `last`: events must come in order, and a fresh
    /// `welcome` (a resync) may jump ahead. Returns how many resyncs there were.
    pub async fn follow(&mut self, mut seq: u64, last: u64) -> usize {
        let mut snapshots = 0;
        while seq < last {
            let f = self.recv().await;
            match f["type"].as_str() {
                Some("event") => {
                    assert_eq!(f["seq"], seq + 1, "events in order between snapshots");
                    seq += 1;
                }
                Some("welcome") => {
                    assert!(f["state"].is_object(), "a resync carries the whole state: {f}");
                    snapshots += 1;
                    seq = f["seq"].as_u64().expect("seq");
                }
                _ => {}
            }
        }
        snapshots
    }

    /// The next `event` frame.
    pub async fn event(&mut self) -> Value {
        self.recv_type("event").await
    }

    pub async fn close(mut self) {
        let _ = self.stream.close(None).await;
    }
}

/// A session created on `app`, with a moderator and a participant connected.
pub struct Room {
    pub created: Value,
    pub moderator: Ws,
    pub participant: Ws,
}

pub async fn hello_moderator(app: &TestApp, created: &Value) -> (Ws, Value) {
    let mut ws = app.ws().await;
    ws.send(json!({"type": "hello", "session": created["id"], "key": created["moderator_key"]})).await;
    let welcome = ws.recv().await;
    assert_eq!(welcome["type"], "welcome", "{welcome}");
    (ws, welcome)
}

pub async fn hello_participant(app: &TestApp, code: &Value) -> (Ws, Value) {
    let mut ws = app.ws().await;
    ws.send(json!({"type": "hello", "code": code})).await;
    let welcome = ws.recv().await;
    assert_eq!(welcome["type"], "welcome", "{welcome}");
    (ws, welcome)
}

pub async fn room(app: &TestApp) -> Room {
    let created = app.create(&sou94()).await;
    let (moderator, _) = hello_moderator(app, &created).await;
    let (participant, _) = hello_participant(app, &created["code"]).await;
    Room { created, moderator, participant }
}

pub fn admin_config(token: &str) -> Config {
    Config { admin_token: Some(Secret::new(token)), ..Config::default() }
}

/// A Redis of a test's own, with its append-only file on, so the test can kill it and start it
/// again on the same port and data, as an operator's Redis would restart.
pub struct OwnRedis {
    pub port: u16,
    dir: std::path::PathBuf,
    child: Option<std::process::Child>,
}

impl OwnRedis {
    pub fn start() -> OwnRedis {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .map(|a| a.port())
            .expect("a free port");
        let dir = std::env::temp_dir().join(format!("palabre-test-redis-{}", uuid::Uuid::new_v4().simple()));
        std::fs::create_dir_all(&dir).expect("temp dir");
        let mut r = OwnRedis { port, dir, child: None };
        r.restart();
        r
    }

    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}/0", self.port)
    }

    /// Starts (or starts again) the server and returns once it answers.
    pub fn restart(&mut self) {
        let child = Command::new("redis-server")
            .args(["--port", &self.port.to_string(), "--bind", "127.0.0.1", "--save", ""])
            .args(["--appendonly", "yes", "--appendfsync", "always", "--loglevel", "warning"])
            .arg("--dir")
            .arg(&self.dir)
            .stdout(Stdio::null())
            .spawn()
            .expect("redis-server is installed");
        self.child = Some(child);
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        while std::net::TcpStream::connect(("127.0.0.1", self.port)).is_err() {
            assert!(std::time::Instant::now() < deadline, "redis-server did not start");
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Kills the server at once (SIGKILL): only what the append-only file holds survives.
    pub fn kill(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

impl Drop for OwnRedis {
    fn drop(&mut self) {
        self.kill();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

// ---------------------------------------------------------------------------------------------
// The debate: questions, upvotes, the list of speakers
// ---------------------------------------------------------------------------------------------

impl TestApp {
    /// An instance serving `store`, which the test keeps a handle on (to seed what the socket
    /// API cannot make quickly, such as asks spread over several minutes).
    pub async fn spawn_with_store(store: Arc<dyn Store>) -> TestApp {
        let (addr_tx, addr_rx) = tokio::sync::oneshot::channel();
        let (stop_tx, stop_rx) = std::sync::mpsc::channel::<bool>();
        let thread = std::thread::spawn(move || {
            let rt =
                tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().expect("runtime");
            let listener = rt.block_on(async { palabre::app::bind("127.0.0.1:0".parse().expect("addr")) });
            let listener = listener.expect("bind");
            let _ = addr_tx.send(listener.local_addr().expect("addr"));
            let _server = rt.spawn(palabre::app::serve(listener, store, Config::default(), std::future::pending()));
            let _ = stop_rx.recv();
            rt.shutdown_background();
        });
        let addr = addr_rx.await.expect("the app started");
        TestApp { addr, stop: Some(stop_tx), thread: Some(thread), http: reqwest::Client::new() }
    }

    /// An instance and a store handle that sees what it stores: for memory, the very store it
    /// serves; for Redis, a client of its own on the same Redis.
    pub async fn spawn_sharing(backend: Backend) -> (TestApp, Arc<dyn Store>) {
        match backend {
            Backend::Memory => {
                let shared: Arc<dyn Store> = Arc::new(MemoryStore::new());
                (TestApp::spawn_with_store(shared.clone()).await, shared)
            }
            Backend::Redis => (TestApp::spawn(backend).await, store(backend).await),
        }
    }
}

impl Ws {
    /// Sends a command that must be acknowledged; returns the ack's `result`.
    pub async fn ok(&mut self, op: &str, fields: Value) -> Value {
        let reply = self.call(op, fields.clone()).await;
        assert_eq!(reply["type"], "ack", "{op} {fields} should be acknowledged: {reply}");
        reply["result"].clone()
    }

    /// Sends a command that must be refused; returns the `error` frame.
    pub async fn refused(&mut self, op: &str, fields: Value) -> Value {
        let reply = self.call(op, fields.clone()).await;
        assert_eq!(reply["type"], "error", "{op} {fields} should be refused: {reply}");
        assert!(!reply["message"].as_str().unwrap_or("").is_empty(), "a refusal says why: {reply}");
        reply
    }

    /// The next `event` frame whose event is of `kind`, skipping every other frame.
    pub async fn event_of(&mut self, kind: &str) -> Value {
        loop {
            let e = self.event().await;
            if e["event"]["kind"] == kind {
                return e;
            }
        }
    }

    /// Reads frames, folding every `upvotes` frame into `counts` (the latest count of each
    /// question), until `done(counts)`; returns how many `upvotes` frames it read.
    pub async fn fold_upvotes_until(
        &mut self,
        counts: &mut std::collections::HashMap<String, u64>,
        done: impl Fn(&std::collections::HashMap<String, u64>) -> bool,
    ) -> usize {
        let mut frames = 0;
        while !done(counts) {
            let f = self.recv_type("upvotes").await;
            frames += 1;
            fold_upvotes(counts, &f);
        }
        frames
    }
}

/// Folds one `upvotes` frame into `counts`: each listed question takes its new count.
pub fn fold_upvotes(counts: &mut std::collections::HashMap<String, u64>, frame: &Value) {
    let listed = frame["counts"].as_object().unwrap_or_else(|| panic!("an upvotes frame carries counts: {frame}"));
    for (q, n) in listed {
        counts.insert(q.clone(), n.as_u64().unwrap_or_else(|| panic!("a count is a whole number: {frame}")));
    }
}

pub async fn hello_screen(app: &TestApp, code: &Value) -> (Ws, Value) {
    let mut ws = app.ws().await;
    ws.send(json!({"type": "hello", "code": code, "role": "screen"})).await;
    let welcome = ws.recv().await;
    assert_eq!(welcome["type"], "welcome", "{welcome}");
    (ws, welcome)
}

pub async fn hello_rapporteur(app: &TestApp, created: &Value) -> (Ws, Value) {
    let mut ws = app.ws().await;
    ws.send(json!({"type": "hello", "session": created["id"], "key": created["rapporteur_key"]})).await;
    let welcome = ws.recv().await;
    assert_eq!(welcome["type"], "welcome", "{welcome}");
    (ws, welcome)
}

/// The participant holding `token` connects again: a fresh welcome with its own view.
pub async fn hello_again(app: &TestApp, code: &Value, token: &Value) -> (Ws, Value) {
    let mut ws = app.ws().await;
    ws.send(json!({"type": "hello", "code": code, "participant": token})).await;
    let welcome = ws.recv().await;
    assert_eq!(welcome["type"], "welcome", "{welcome}");
    assert_eq!(welcome["participant"], *token, "the same participant");
    (ws, welcome)
}

/// Creates a session from `definition` and moves its moderator to the first debate item, so
/// that questions and the list of speakers are open. Returns the creation reply and the
/// moderator's socket.
pub async fn open_debate(app: &TestApp, definition: &Value) -> (Value, Ws) {
    let created = app.create(definition).await;
    let (mut moderator, _) = hello_moderator(app, &created).await;
    let debate = definition["agenda"]
        .as_array()
        .and_then(|items| items.iter().position(|i| i["kind"] == "debate"))
        .expect("the definition has a debate item");
    moderator.ok("agenda.goto", json!({"item": debate})).await;
    (created, moderator)
}

/// The question `id` in a state view, if the view shows it.
pub fn question_in<'a>(state: &'a Value, id: &str) -> Option<&'a Value> {
    state["questions"].as_array().expect("questions").iter().find(|q| q["id"] == id)
}

impl Ws {
    /// Sends `frame` `n` times as fast as the socket takes them, without reading; stops early,
    /// without failing, once the server has closed the connection.
    pub async fn flood(&mut self, frame: &str, n: usize) {
        for _ in 0..n {
            if self.stream.send(Message::Text(frame.to_owned().into())).await.is_err() {
                return;
            }
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Votes
// ---------------------------------------------------------------------------------------------

/// The server's log, as its operator would read it with every debug line of the app and its
/// HTTP layer on, from the first call onwards. Tracing has one subscriber per process, so the
/// instances of every test write to this one log: a test looks in it for its own secrets only.
/// `None` when another subscriber was installed first.
pub fn server_log() -> Option<ServerLog> {
    static LOG: OnceLock<Option<ServerLog>> = OnceLock::new();
    LOG.get_or_init(|| {
        let log = ServerLog(Arc::new(std::sync::Mutex::new(Vec::new())));
        let writer = log.clone();
        let subscriber = tracing_subscriber::fmt()
            .with_env_filter(tracing_subscriber::EnvFilter::new("palabre=trace,tower_http=debug,axum=debug,warn"))
            .with_ansi(false)
            .with_writer(move || writer.clone())
            .finish();
        tracing::subscriber::set_global_default(subscriber).ok().map(|()| log)
    })
    .clone()
}

/// What [`server_log`] collected.
#[derive(Clone)]
pub struct ServerLog(Arc<std::sync::Mutex<Vec<u8>>>);

impl ServerLog {
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.0.lock().unwrap_or_else(|p| p.into_inner())).into_owned()
    }
}

impl std::io::Write for ServerLog {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap_or_else(|p| p.into_inner()).extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}
