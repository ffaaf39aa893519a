//! `palabre load`: a load generator for a running server (a benchmark, not a test).
//!
//! It creates a session (`POST /api/sessions` with the SOU 94 definition), opens `--clients`
//! participant sockets in batches, spread over loopback source addresses 127.0.0.1, .2, …,
//! then a moderator socket, which sends `--moves` `agenda.goto` commands `--interval-ms` apart
//! (items 0 and 1 alternately, so each one is valid). For every move, the latency of one
//! delivery is the time a participant receives the `agenda.moved` event with the `seq` the
//! command was acknowledged with, minus the time the moderator sent the command: one process,
//! one clock. With `--server-pid` it also reports the server's memory (VmRSS) and CPU time.
//!
//! It only ever talks to this machine's loopback, and stops by itself: every step is bounded,
//! and at a global deadline it reports whatever it measured.

use crate::config::Secret;
use crate::fixtures::SOU94;
use anyhow::{bail, Context};
use clap::Args;
use futures_util::stream::SplitStream;
use futures_util::{future::join_all, SinkExt, StreamExt};
use serde::Deserialize;
use std::borrow::Cow;
use std::collections::HashMap;
use std::fmt::Write as _;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpSocket, TcpStream};
use tokio::sync::{mpsc, watch};
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::{client_async_with_config, WebSocketStream};

#[derive(Debug, Clone, Args)]
pub struct LoadArgs {
    /// Base URL of the server under load (this machine's loopback only: 127.x.x.x, ::1, localhost).
    #[arg(long, default_value = "http://127.0.0.1:8080")]
    pub url: String,
    /// Participant sockets to open.
    #[arg(long, default_value_t = 1000)]
    pub clients: usize,
    /// Loopback source addresses to spread the sockets over (127.0.0.1, 127.0.0.2, …) [default: ceil(clients / 5000)].
    #[arg(long)]
    pub sources: Option<usize>,
    /// Agenda moves the moderator makes (each is one event fanned out to every participant).
    #[arg(long, default_value_t = 20)]
    pub moves: usize,
    /// Milliseconds between two moves (the server allows a socket 10 frames a second).
    #[arg(long, default_value_t = 200)]
    pub interval_ms: u64,
    /// The two agenda items the moves alternate between (moves into or out of a debate item
    /// also open or close questions: two events a move).
    #[arg(long, value_delimiter = ',', value_name = "A,B", default_values_t = [0, 1])]
    pub items: Vec<usize>,
    /// Session definition to create (JSON) [default: the SOU 94 session, built in].
    #[arg(long)]
    pub definition: Option<std::path::PathBuf>,
    /// Sockets opened at a time.
    #[arg(long, default_value_t = 500)]
    pub batch: usize,
    /// PID of the server process, to report its memory (VmRSS) and CPU time.
    #[arg(long)]
    pub server_pid: Option<u32>,
    /// Stop after this many seconds and report what was measured [default: 60 + moves × interval].
    #[arg(long)]
    pub timeout_s: Option<u64>,
    /// Admin token, needed to create the session when the server has one.
    #[arg(long, env = "PALABRE_ADMIN_TOKEN", hide_env_values = true)]
    pub admin_token: Option<Secret>,
}

type Ws = WebSocketStream<TcpStream>;

/// One socket (TCP connect, upgrade, hello, welcome) must be up within this long.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// How long to wait for the last deliveries after the last move was sent.
const GRACE: Duration = Duration::from_secs(10);
/// Pause between the last welcome and the first move, so that the server's presence report of
/// the new connection count (sent to every socket, about once a second) is not measured with it.
const SETTLE: Duration = Duration::from_millis(1500);
/// Descriptors this process needs besides the sockets (runtime, stdio, the moderator, HTTP).
const SPARE_FILES: u64 = 32;
/// One source address takes at most this many sockets by default: past ~5,000 connections to
/// one address the kernel's search for a free local port slows connecting down.
const PER_SOURCE: usize = 5000;
/// Linux `USER_HZ`: the unit of the CPU times in `/proc/<pid>/stat`.
const CLOCK_TICKS: f64 = 100.0;

/// Where the server is: a loopback socket address, and what to put in URLs and `Host`.
struct Target {
    addr: SocketAddr,
    authority: String,
    base_path: String,
}

impl Target {
    /// Accepts `http://` or `ws://` URLs whose host is a loopback IP literal or `localhost`;
    /// never resolves a name, so nothing but this machine is ever reached.
    fn parse(url: &str) -> anyhow::Result<Self> {
        let uri: axum::http::Uri = url.parse().with_context(|| format!("--url {url} is not a URL"))?;
        match uri.scheme_str() {
            Some("http" | "ws") => {}
            _ => bail!("--url {url}: use http://127.0.0.1:PORT (plain HTTP on this machine's loopback)"),
        }
        let authority = uri.authority().context("--url needs a host")?;
        if authority.as_str().contains('@') {
            bail!("--url {url}: no user info, please");
        }
        let host = authority.host().trim_start_matches('[').trim_end_matches(']');
        let ip: IpAddr = if host.eq_ignore_ascii_case("localhost") {
            Ipv4Addr::LOCALHOST.into()
        } else {
            host.parse().with_context(|| format!("--url {url}: the host must be a loopback IP address or localhost"))?
        };
        if !ip.is_loopback() {
            bail!("--url {url}: palabre load only runs against this machine's loopback (127.0.0.0/8, ::1)");
        }
        Ok(Target {
            addr: SocketAddr::new(ip, authority.port_u16().unwrap_or(80)),
            authority: authority.as_str().to_owned(),
            base_path: uri.path().trim_end_matches('/').to_owned(),
        })
    }

    fn ws_url(&self) -> String {
        format!("ws://{}{}/ws", self.authority, self.base_path)
    }
}

/// What the load needs of the created session (the rapporteur key and links are not kept).
#[derive(Deserialize)]
struct CreatedReply {
    id: String,
    code: String,
    moderator_key: String,
}

/// Creates the SOU 94 session with one plain HTTP/1.1 request.
async fn create_session(target: &Target, token: Option<&Secret>, definition: &[u8]) -> anyhow::Result<CreatedReply> {
    let path = format!("{}/api/sessions", target.base_path);
    let exchange = async {
        let mut tcp = TcpStream::connect(target.addr).await?;
        let mut head = format!(
            "POST {path} HTTP/1.1\r\nHost: {}\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\
             Accept: application/json\r\nConnection: close\r\n",
            target.authority,
            definition.len()
        );
        if let Some(token) = token {
            let _ = write!(head, "Authorization: Bearer {}\r\n", token.expose());
        }
        head.push_str("\r\n");
        tcp.write_all(head.as_bytes()).await?;
        tcp.write_all(definition).await?;
        let mut reply = Vec::new();
        tcp.take(4 << 20).read_to_end(&mut reply).await?;
        Ok::<_, std::io::Error>(reply)
    };
    let reply = tokio::time::timeout(CONNECT_TIMEOUT, exchange)
        .await
        .with_context(|| format!("POST {path}: no answer within {CONNECT_TIMEOUT:?}"))?
        .with_context(|| format!("POST {path} to {}: is `palabre serve` running there?", target.addr))?;
    let (status, body) = parse_http_reply(&reply).with_context(|| format!("POST {path}: not an HTTP reply"))?;
    match status {
        201 => serde_json::from_slice(&body).with_context(|| format!("POST {path}: unexpected reply body")),
        401 => bail!("POST {path}: 401: the server has an admin token; set PALABRE_ADMIN_TOKEN to it"),
        _ => bail!("POST {path}: {status} {}", String::from_utf8_lossy(&body).chars().take(300).collect::<String>()),
    }
}

/// Splits an HTTP/1.1 reply into its status and its body (de-chunked when needed).
fn parse_http_reply(reply: &[u8]) -> Option<(u16, Vec<u8>)> {
    let end = reply.windows(4).position(|w| w == b"\r\n\r\n")?;
    let head = std::str::from_utf8(&reply[..end]).ok()?;
    let body = &reply[end + 4..];
    let mut lines = head.split("\r\n");
    let status: u16 = lines.next()?.split_whitespace().nth(1)?.parse().ok()?;
    let chunked = lines.any(|l| {
        l.split_once(':').is_some_and(|(k, v)| {
            k.trim().eq_ignore_ascii_case("transfer-encoding") && v.to_ascii_lowercase().contains("chunked")
        })
    });
    if !chunked {
        return Some((status, body.to_vec()));
    }
    let (mut out, mut rest) = (Vec::new(), body);
    loop {
        let line_end = rest.windows(2).position(|w| w == b"\r\n")?;
        let size_text = std::str::from_utf8(&rest[..line_end]).ok()?;
        let size = usize::from_str_radix(size_text.split(';').next()?.trim(), 16).ok()?;
        rest = &rest[line_end + 2..];
        if size == 0 {
            return Some((status, out));
        }
        out.extend_from_slice(rest.get(..size)?);
        rest = rest.get(size + 2..)?;
    }
}

/// The parts of a server frame the load looks at; everything else (the state) is skipped.
#[derive(Deserialize)]
struct Frame<'a> {
    #[serde(rename = "type", borrow)]
    kind: Cow<'a, str>,
    seq: Option<u64>,
    #[serde(borrow)]
    id: Option<Cow<'a, str>>,
    #[serde(borrow)]
    event: Option<EventHead<'a>>,
    #[serde(borrow)]
    code: Option<Cow<'a, str>>,
    #[serde(borrow)]
    message: Option<Cow<'a, str>>,
    #[serde(borrow)]
    role: Option<Cow<'a, str>>,
    result: Option<serde_json::Value>,
}

#[derive(Deserialize)]
struct EventHead<'a> {
    #[serde(borrow)]
    kind: Cow<'a, str>,
}

/// Opens one WebSocket, from `source` when given, with small buffers: tungstenite's default
/// 128 KiB read buffer is zero-filled on every read, and the client's CPU would skew the figures.
async fn open(target: SocketAddr, source: Option<Ipv4Addr>, ws_url: &str) -> anyhow::Result<Ws> {
    let sock = if target.is_ipv4() { TcpSocket::new_v4()? } else { TcpSocket::new_v6()? };
    // RST on close: no TIME_WAIT left on the client's ports to slow down the next run.
    sock.set_zero_linger()?;
    if let Some(ip) = source {
        sock.bind(SocketAddr::new(ip.into(), 0)).with_context(|| format!("binding source address {ip}"))?;
    }
    let tcp = sock.connect(target).await?;
    tcp.set_nodelay(true)?;
    let config = WebSocketConfig::default().read_buffer_size(4096).write_buffer_size(0);
    let (ws, _) = client_async_with_config(ws_url, tcp, Some(config)).await?;
    Ok(ws)
}

/// Sends `hello` and waits for `welcome`; returns the welcome's `seq` and role.
async fn greet(ws: &mut Ws, hello: &str) -> anyhow::Result<(u64, String)> {
    ws.send(Message::text(hello)).await?;
    loop {
        match ws.next().await {
            Some(Ok(Message::Text(t))) => {
                let f: Frame = serde_json::from_str(t.as_str()).context("a frame that is not JSON")?;
                match f.kind.as_ref() {
                    "welcome" => return Ok((f.seq.unwrap_or(0), f.role.unwrap_or_default().into_owned())),
                    "error" => {
                        bail!("hello refused: {}: {}", f.code.unwrap_or_default(), f.message.unwrap_or_default())
                    }
                    _ => {}
                }
            }
            Some(Ok(Message::Close(frame))) => bail!("closed before welcome: {frame:?}"),
            Some(Ok(_)) => {}
            Some(Err(e)) => return Err(e.into()),
            None => bail!("closed before welcome"),
        }
    }
}

/// What every participant connection needs to join.
struct Join {
    target: SocketAddr,
    ws_url: String,
    hello: String,
    sources: usize,
}

impl Join {
    fn source(&self, i: usize) -> Option<Ipv4Addr> {
        // 1..=254, checked when parsing the arguments.
        (self.sources > 1).then(|| Ipv4Addr::new(127, 0, 0, 1 + (i % self.sources) as u8))
    }

    async fn participant(&self, i: usize) -> anyhow::Result<(Ws, u64)> {
        let mut ws = open(self.target, self.source(i), &self.ws_url).await?;
        let (seq, _) = greet(&mut ws, &self.hello).await?;
        Ok((ws, seq))
    }
}

/// What one participant saw while the moves were made.
struct Followed {
    /// `(seq, received at)` of every `agenda.moved` event.
    moved: Vec<(u64, Instant)>,
    /// Times `seq` did not rise by exactly one.
    gaps: u32,
    /// Welcomes after the first one: the server sent the whole state again.
    resyncs: u32,
    errors: u32,
    closed: bool,
    /// Kept open until every reader is done.
    ws: Ws,
}

/// Reads one participant's socket until told to stop, stamping each `agenda.moved` event.
async fn follow(
    ws: Ws,
    mut seq: u64,
    moves: usize,
    received: Arc<AtomicU64>,
    mut stop: watch::Receiver<bool>,
) -> Followed {
    let mut out = Followed { moved: Vec::with_capacity(moves), gaps: 0, resyncs: 0, errors: 0, closed: false, ws };
    let ws = &mut out.ws;
    loop {
        let msg = tokio::select! {
            msg = ws.next() => msg,
            _ = stop.wait_for(|s| *s) => break,
        };
        let at = Instant::now();
        match msg {
            Some(Ok(Message::Text(t))) => {
                let Ok(f) = serde_json::from_str::<Frame>(t.as_str()) else {
                    out.errors += 1;
                    continue;
                };
                match f.kind.as_ref() {
                    "event" => {
                        let s = f.seq.unwrap_or(0);
                        if s != seq + 1 {
                            out.gaps += 1;
                        }
                        seq = seq.max(s);
                        if f.event.is_some_and(|e| e.kind == "agenda.moved") {
                            out.moved.push((s, at));
                            received.fetch_add(1, Ordering::Relaxed);
                        }
                    }
                    "welcome" => {
                        out.resyncs += 1;
                        seq = f.seq.unwrap_or(seq);
                    }
                    "error" => out.errors += 1,
                    // presence, tally, ack: nothing to measure
                    _ => {}
                }
            }
            Some(Ok(Message::Close(_))) | Some(Err(_)) | None => {
                out.closed = true;
                break;
            }
            Some(Ok(_)) => {}
        }
    }
    out
}

/// The moderator's answer to one command.
struct Reply {
    id: String,
    outcome: Result<u64, String>,
    at: Instant,
}

/// Reads the moderator's socket: acks and refusals go to `replies`.
async fn moderator_reader(
    mut rx: SplitStream<Ws>,
    replies: mpsc::UnboundedSender<Reply>,
    mut stop: watch::Receiver<bool>,
) {
    loop {
        let msg = tokio::select! {
            msg = rx.next() => msg,
            _ = stop.wait_for(|s| *s) => return,
        };
        let at = Instant::now();
        match msg {
            Some(Ok(Message::Text(t))) => {
                let Ok(f) = serde_json::from_str::<Frame>(t.as_str()) else {
                    continue;
                };
                let Some(id) = f.id else { continue };
                let outcome = match f.kind.as_ref() {
                    "ack" => f
                        .result
                        .as_ref()
                        .and_then(|r| r.get("seq"))
                        .and_then(serde_json::Value::as_u64)
                        .ok_or_else(|| "an ack without result.seq".to_owned()),
                    "error" => Err(format!("{}: {}", f.code.unwrap_or_default(), f.message.unwrap_or_default())),
                    _ => continue,
                };
                let _ = replies.send(Reply { id: id.into_owned(), outcome, at });
            }
            Some(Ok(Message::Close(frame))) => {
                eprintln!("the moderator socket was closed: {frame:?}");
                return;
            }
            Some(Err(e)) => {
                eprintln!("the moderator socket failed: {e}");
                return;
            }
            None => return,
            Some(Ok(_)) => {}
        }
    }
}

/// One move: what was sent, when, and how the server answered.
struct Move {
    id: String,
    item: usize,
    sent: Instant,
    reply: Option<(Result<u64, String>, Instant)>,
}

impl Move {
    fn seq(&self) -> Option<u64> {
        match &self.reply {
            Some((Ok(seq), _)) => Some(*seq),
            _ => None,
        }
    }
}

/// The server's resident memory, from `/proc/<pid>/status`.
fn vm_rss_kib(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status.lines().find_map(|l| l.strip_prefix("VmRSS:"))?.trim().trim_end_matches("kB").trim().parse().ok()
}

/// User + system CPU seconds of a process (`self` or a pid), from `/proc/<pid>/stat`.
fn cpu_seconds(pid: &str) -> Option<f64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // Fields after the command name, which is in parentheses and may hold spaces.
    let rest = &stat[stat.rfind(')')? + 1..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let utime: f64 = fields.get(11)?.parse().ok()?;
    let stime: f64 = fields.get(12)?.parse().ok()?;
    Some((utime + stime) / CLOCK_TICKS)
}

/// Nearest-rank quantile of sorted microseconds, in milliseconds (NaN when empty).
fn quantile_ms(sorted: &[u64], p: f64) -> f64 {
    match sorted.len() {
        0 => f64::NAN,
        len => sorted[((len as f64 * p) as usize).min(len - 1)] as f64 / 1000.0,
    }
}

fn opt<T: std::fmt::Display>(v: Option<T>) -> String {
    v.map_or_else(|| "na".to_owned(), |v| v.to_string())
}

pub async fn run(args: LoadArgs) -> anyhow::Result<()> {
    let started = Instant::now();
    let n = args.clients;
    if n == 0 || args.moves == 0 || args.batch == 0 {
        bail!("--clients, --moves and --batch must be at least 1");
    }
    let target = Target::parse(&args.url)?;
    let sources = args.sources.unwrap_or_else(|| n.div_ceil(PER_SOURCE)).max(1);
    if sources > 254 {
        bail!("--sources {sources}: at most 254 (127.0.0.1 to 127.0.0.254)");
    }
    if sources > 1 && !target.addr.is_ipv4() {
        bail!("--sources {sources} needs an IPv4 server address (127.0.0.x); use --sources 1 for {}", target.addr);
    }
    let budget = match args.timeout_s {
        Some(s) => Duration::from_secs(s),
        None => Duration::from_secs(60) + Duration::from_millis(args.interval_ms.saturating_mul(args.moves as u64)),
    };
    let deadline = started + budget;

    // Every socket is a descriptor: raise the soft limit to the hard one, and say so when N does not fit.
    let nofile = rlimit::increase_nofile_limit(u64::MAX).context("cannot raise the open-files limit")?;
    let needed = n as u64 + SPARE_FILES;
    if nofile < needed {
        bail!(
            "--clients {n} does not fit: this process may open {nofile} files (its hard limit, `ulimit -Hn`), \
             and {n} sockets need about {needed}. Use --clients {} at most, or raise the hard limit.",
            nofile.saturating_sub(SPARE_FILES)
        );
    }
    if let Some(pid) = args.server_pid {
        if vm_rss_kib(pid).is_none() {
            bail!("--server-pid {pid}: no such process (or /proc/{pid}/status is not readable)");
        }
        let server_files =
            rlimit::ProcLimits::read_process(pid as i32).ok().and_then(|l| l.max_open_files).and_then(|l| l.soft_limit);
        if let Some(limit) = server_files.filter(|l| *l < n as u64 + SPARE_FILES) {
            eprintln!(
                "warning: the server (pid {pid}) may open only {limit} files: it cannot hold {n} sockets \
                 (start it after `ulimit -n $(ulimit -Hn)`); connections past that will fail"
            );
        }
    }

    if args.items.len() != 2 || args.items[0] == args.items[1] {
        bail!("--items needs two different agenda items, e.g. --items 0,1");
    }
    let definition = match &args.definition {
        Some(path) => std::fs::read(path).with_context(|| format!("--definition {}", path.display()))?,
        None => SOU94.as_bytes().to_vec(),
    };
    let session = create_session(&target, args.admin_token.as_ref(), &definition).await?;
    let ws_url = target.ws_url();
    println!(
        "palabre load: {n} participants on {ws_url} (session {}, code {}), from {sources} source address{}, \
         {} moves {} ms apart between items {} and {}; deadline {:.0} s",
        session.id,
        session.code,
        if sources == 1 { "" } else { "es" },
        args.moves,
        args.interval_ms,
        args.items[0],
        args.items[1],
        budget.as_secs_f64()
    );

    let rss_before = args.server_pid.and_then(vm_rss_kib);

    // Participants, in batches, each one up once its welcome is in.
    let join = Arc::new(Join {
        target: target.addr,
        ws_url: ws_url.clone(),
        hello: serde_json::json!({"type": "hello", "code": session.code}).to_string(),
        sources,
    });
    let t0 = Instant::now();
    let mut joined: Vec<(Ws, u64)> = Vec::with_capacity(n);
    let (mut failed, mut skipped) = (0usize, 0usize);
    let mut first_errors: Vec<String> = Vec::new();
    for start in (0..n).step_by(args.batch) {
        let end = (start + args.batch).min(n);
        let now = Instant::now();
        if now >= deadline {
            skipped = n - start;
            break;
        }
        let limit = CONNECT_TIMEOUT.min(deadline - now);
        let tasks = (start..end).map(|i| {
            let join = join.clone();
            tokio::spawn(async move { tokio::time::timeout(limit, join.participant(i)).await })
        });
        for result in join_all(tasks).await {
            let error = match result {
                Ok(Ok(Ok(ok))) => {
                    joined.push(ok);
                    continue;
                }
                Ok(Ok(Err(e))) => format!("{e:#}"),
                Ok(Err(_)) => format!("no welcome within {limit:?}"),
                Err(e) => format!("connect task: {e}"),
            };
            failed += 1;
            if first_errors.len() < 3 {
                first_errors.push(error);
            }
        }
    }
    let connect_s = t0.elapsed().as_secs_f64();
    let connected = joined.len();
    for e in &first_errors {
        eprintln!("connect failed: {e}");
    }
    if connected == 0 {
        bail!("no participant could connect ({failed} failed)");
    }

    // The moderator, from 127.0.0.1.
    let moderator_hello =
        serde_json::json!({"type": "hello", "session": session.id, "key": session.moderator_key}).to_string();
    let moderator = async {
        let mut ws = open(target.addr, None, &ws_url).await?;
        let (_, role) = greet(&mut ws, &moderator_hello).await?;
        if role != "moderator" {
            bail!("the moderator key was welcomed as {role:?}");
        }
        Ok(ws)
    };
    let moderator = tokio::time::timeout(CONNECT_TIMEOUT, moderator)
        .await
        .context("the moderator socket got no welcome")?
        .context("the moderator socket")?;
    let (mut mod_tx, mod_rx) = moderator.split();

    let received = Arc::new(AtomicU64::new(0));
    let (stop_tx, stop_rx) = watch::channel(false);
    let (reply_tx, mut reply_rx) = mpsc::unbounded_channel();
    let mod_reader = tokio::spawn(moderator_reader(mod_rx, reply_tx, stop_rx.clone()));
    let readers: Vec<_> = joined
        .into_iter()
        .map(|(ws, seq)| tokio::spawn(follow(ws, seq, args.moves, received.clone(), stop_rx.clone())))
        .collect();

    tokio::time::sleep(SETTLE.min(deadline.saturating_duration_since(Instant::now()))).await;
    let rss_after = args.server_pid.and_then(vm_rss_kib);
    let server_cpu0 = args.server_pid.and_then(|p| cpu_seconds(&p.to_string()));
    let own_cpu0 = cpu_seconds("self");

    // The moves: agenda.goto a, b, a, b, … (the first one also starts the session).
    let mut moves: Vec<Move> = Vec::with_capacity(args.moves);
    let mut tick = tokio::time::interval(Duration::from_millis(args.interval_ms.max(1)));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut cut_short = false;
    for k in 0..args.moves {
        tick.tick().await;
        if Instant::now() >= deadline {
            cut_short = true;
            break;
        }
        let id = uuid::Uuid::new_v4().hyphenated().to_string();
        let item = args.items[k % 2];
        let frame = serde_json::json!({"type": "cmd", "id": id, "op": "agenda.goto", "item": item}).to_string();
        let sent = Instant::now();
        if let Err(e) = mod_tx.send(Message::text(frame)).await {
            eprintln!("the moderator could not send move {}: {e}", k + 1);
            break;
        }
        moves.push(Move { id, item, sent, reply: None });
    }

    // Wait for the answers and the deliveries (bounded by the grace period and the deadline).
    let index: HashMap<String, usize> = moves.iter().enumerate().map(|(k, m)| (m.id.clone(), k)).collect();
    let give_up = deadline.min(Instant::now() + GRACE);
    let mut timed_out = false;
    loop {
        while let Ok(r) = reply_rx.try_recv() {
            if let Some(&k) = index.get(&r.id) {
                moves[k].reply.get_or_insert((r.outcome, r.at));
            }
        }
        let acked = moves.iter().filter(|m| m.seq().is_some()).count() as u64;
        let answered = moves.iter().all(|m| m.reply.is_some());
        if answered && received.load(Ordering::Relaxed) >= acked * connected as u64 {
            break;
        }
        if Instant::now() >= give_up {
            timed_out = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let server_cpu = server_cpu0.and_then(|c0| Some(cpu_seconds(&args.server_pid?.to_string())? - c0));
    let own_cpu = own_cpu0.and_then(|c0| Some(cpu_seconds("self")? - c0));
    let rss_end = args.server_pid.and_then(vm_rss_kib);
    let _ = stop_tx.send(true);
    let _ = mod_reader.await;
    let mut followed = Vec::with_capacity(connected);
    for r in join_all(readers).await {
        followed.push(r.context("a participant reader panicked")?);
    }

    // Match each delivery to its move. An ack carries the seq of the command's last event, and
    // one socket's commands are applied in order: a move's `agenda.moved` is the event after the
    // previous move's seq, up to its own (a move into or out of a debate has two events).
    let mut acked_seqs: Vec<(u64, usize)> = moves.iter().enumerate().filter_map(|(k, m)| Some((m.seq()?, k))).collect();
    acked_seqs.sort_unstable();
    let mut per_move: Vec<Vec<u64>> = vec![Vec::with_capacity(connected); moves.len()];
    let mut unmatched = 0u64;
    for f in &followed {
        for (seq, at) in &f.moved {
            match acked_seqs.get(acked_seqs.partition_point(|(s, _)| s < seq)) {
                Some(&(_, k)) => per_move[k].push(at.saturating_duration_since(moves[k].sent).as_micros() as u64),
                None => unmatched += 1,
            }
        }
    }
    let mut all: Vec<u64> = per_move.iter().flatten().copied().collect();
    all.sort_unstable();
    for v in &mut per_move {
        v.sort_unstable();
    }
    let acked = moves.iter().filter(|m| m.seq().is_some()).count();
    let refused: Vec<&str> = moves
        .iter()
        .filter_map(|m| match &m.reply {
            Some((Err(e), _)) => Some(e.as_str()),
            _ => None,
        })
        .collect();
    let unanswered = moves.iter().filter(|m| m.reply.is_none()).count();
    let expected = (acked * connected) as u64;
    let received = all.len() as u64;
    let lost = expected.saturating_sub(received);
    let gaps: u64 = followed.iter().map(|f| u64::from(f.gaps)).sum();
    let resyncs: u64 = followed.iter().map(|f| u64::from(f.resyncs)).sum();
    let errors: u64 = followed.iter().map(|f| u64::from(f.errors)).sum();
    let closed = followed.iter().filter(|f| f.closed).count();
    let mut acks: Vec<u64> = moves
        .iter()
        .filter_map(|m| match &m.reply {
            Some((Ok(_), at)) => Some(at.saturating_duration_since(m.sent).as_micros() as u64),
            _ => None,
        })
        .collect();
    acks.sort_unstable();
    let (p50, p99, max) = (quantile_ms(&all, 0.50), quantile_ms(&all, 0.99), quantile_ms(&all, 1.0));
    let sockets = connected as f64 + 1.0; // the participants and the moderator
    let per_conn = |rss: Option<u64>| Some((rss? as f64 - rss_before? as f64) / sockets);

    // The readable report.
    let kib = |v: Option<u64>| v.map_or_else(|| "-".to_owned(), |v| format!("{:.1} MiB", v as f64 / 1024.0));
    println!();
    println!("  {:<18} {connected} of {n} ({failed} failed, {skipped} not tried)", "participants");
    println!("  {:<18} {connect_s:.3} s (all welcomes)", "connect time");
    println!(
        "  {:<18} {} sent, {acked} acked, {} refused, {unanswered} unanswered; ack p50 {:.2} ms, max {:.2} ms",
        "moves",
        moves.len(),
        refused.len(),
        quantile_ms(&acks, 0.5),
        quantile_ms(&acks, 1.0)
    );
    println!("  {:<18} {expected} expected, {received} received, {lost} lost", "deliveries");
    println!("  {:<18} p50 {p50:.2} ms   p99 {p99:.2} ms   max {max:.2} ms", "latency");
    println!(
        "  {:<18} {gaps} seq gaps, {resyncs} resyncs, {errors} errors, {closed} closed, {unmatched} unmatched",
        "anomalies"
    );
    if args.server_pid.is_some() {
        println!(
            "  {:<18} {} before, {} connected, {} at the end: {} KiB per connection ({} at the end)",
            "server RSS",
            kib(rss_before),
            kib(rss_after),
            kib(rss_end),
            per_conn(rss_after).map_or_else(|| "-".to_owned(), |v| format!("{v:.2}")),
            per_conn(rss_end).map_or_else(|| "-".to_owned(), |v| format!("{v:.2}")),
        );
        if let Some(cpu) = server_cpu {
            println!(
                "  {:<18} {cpu:.2} s during the moves: {:.1} µs per delivery",
                "server CPU",
                cpu * 1e6 / received.max(1) as f64
            );
        }
    }
    if let Some(cpu) = own_cpu {
        println!("  {:<18} {cpu:.2} s during the moves (this load process)", "client CPU");
    }
    if let Some(first) = refused.first() {
        println!("  {:<18} {first}", "first refusal");
    }
    if cut_short || skipped > 0 {
        println!("  the deadline ({:.0} s) came before everything was sent: figures are partial", budget.as_secs_f64());
    }
    if timed_out {
        println!("  stopped waiting for deliveries after {GRACE:?} (or the deadline): figures are partial");
    }
    println!();
    println!("  move  item  ack ms  received     p50 ms     p99 ms     max ms");
    for (k, m) in moves.iter().enumerate() {
        let ack = match &m.reply {
            Some((Ok(_), at)) => format!("{:.2}", at.saturating_duration_since(m.sent).as_secs_f64() * 1e3),
            Some((Err(_), _)) => "refused".to_owned(),
            None => "-".to_owned(),
        };
        let v = &per_move[k];
        println!(
            "  {:>4}  {:>4}  {ack:>6}  {:>8}  {:>9.2}  {:>9.2}  {:>9.2}",
            k + 1,
            m.item,
            v.len(),
            quantile_ms(v, 0.5),
            quantile_ms(v, 0.99),
            quantile_ms(v, 1.0)
        );
    }
    println!();
    let f2 = |v: Option<f64>| opt(v.map(|v| format!("{v:.2}")));
    println!(
        "RESULT clients={n} p50_ms={p50:.2} p99_ms={p99:.2} max_ms={max:.2} lost={lost} connect_s={connect_s:.3} \
         rss_per_conn_kib={} connected={connected} failed={failed} sources={sources} moves={} acked={acked} \
         expected={expected} received={received} gaps={gaps} resyncs={resyncs} rss_before_kib={} rss_after_kib={} \
         rss_end_kib={} rss_per_conn_end_kib={} server_cpu_s={} client_cpu_s={} partial={}",
        f2(per_conn(rss_after)),
        moves.len(),
        opt(rss_before),
        opt(rss_after),
        opt(rss_end),
        f2(per_conn(rss_end)),
        f2(server_cpu),
        f2(own_cpu),
        timed_out || cut_short || skipped > 0,
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_loopback_targets_are_accepted() {
        for ok in ["http://127.0.0.1:8080", "http://localhost:9000/", "ws://127.0.0.2:1", "http://[::1]:8080"] {
            assert!(Target::parse(ok).is_ok(), "{ok}");
        }
        for bad in ["http://10.0.0.1:8080", "https://127.0.0.1", "http://example.org", "http://u@127.0.0.1"] {
            assert!(Target::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn http_replies_are_read_plain_and_chunked() {
        let plain = b"HTTP/1.1 201 Created\r\ncontent-length: 2\r\n\r\n{}";
        assert_eq!(parse_http_reply(plain), Some((201, b"{}".to_vec())));
        let chunked = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n2\r\nde\r\n0\r\n\r\n";
        assert_eq!(parse_http_reply(chunked), Some((200, b"abcde".to_vec())));
    }

    #[test]
    fn quantiles_are_nearest_rank() {
        let v: Vec<u64> = (1..=100).map(|x| x * 1000).collect();
        assert_eq!(quantile_ms(&v, 0.5), 51.0);
        assert_eq!(quantile_ms(&v, 1.0), 100.0);
        assert!(quantile_ms(&[], 0.5).is_nan());
    }
}
