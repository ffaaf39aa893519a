//! A WebSocket client that behaves as the pages do through faults: it keeps every command it
//! sent until that command is acknowledged; when its connection is lost it says `hello` again
//! (to the same instance, else to the next one) with its participant token and the last `seq`
//! it holds, and sends its unacknowledged commands again, in order, with the same ids. It
//! checks the `seq` order of what it receives and keeps account of everything (acks, refusals,
//! reconnections, close codes, resyncs), for the tests to compare with the store afterwards.

use futures_util::{SinkExt, StreamExt};
use serde_json::{json, Value};
use std::collections::{HashMap, VecDeque};
use std::net::SocketAddr;
use std::time::{Duration, Instant};
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

pub type Stream = WebSocketStream<MaybeTlsStream<TcpStream>>;

/// How long a client waits for a frame, or for a `welcome`, before the test fails: on a busy
/// two-core machine, well above anything a working server takes.
pub const PATIENCE: Duration = Duration::from_secs(20);
/// How long a client keeps trying to get back in after losing its connection.
pub const REJOIN: Duration = Duration::from_secs(30);

/// What came of one `hello`.
#[derive(Debug)]
pub enum Hello {
    Welcome(Box<Stream>, Value),
    /// Refused: the `error` frame (if any) and the close code (if any).
    Refused(Option<Value>, Option<u16>),
    /// No answer in time.
    Silent,
}

/// Opens a socket to `addr` and says `hello`; reads until the `welcome` or a refusal.
pub async fn hello(addr: SocketAddr, hello: &Value, within: Duration) -> Hello {
    let attempt = async {
        let config = WebSocketConfig::default().read_buffer_size(16 * 1024);
        let Ok((mut ws, _)) =
            tokio_tungstenite::connect_async_with_config(format!("ws://{addr}/ws"), Some(config), true).await
        else {
            return Hello::Refused(None, None);
        };
        if ws.send(Message::Text(hello.to_string().into())).await.is_err() {
            return Hello::Refused(None, None);
        }
        let mut error = None;
        loop {
            match ws.next().await {
                Some(Ok(Message::Text(t))) => {
                    let v: Value = serde_json::from_str(&t).expect("a JSON frame");
                    match v["type"].as_str() {
                        Some("welcome") => return Hello::Welcome(Box::new(ws), v),
                        Some("error") => error = Some(v),
                        _ => {}
                    }
                }
                Some(Ok(Message::Close(c))) => return Hello::Refused(error, c.map(|c| u16::from(c.code))),
                None | Some(Err(_)) => return Hello::Refused(error, None),
                Some(Ok(_)) => {}
            }
        }
    };
    tokio::time::timeout(within, attempt).await.unwrap_or(Hello::Silent)
}

/// One frame read from the socket as it is, or what ended the connection.
#[derive(Debug)]
pub enum Raw {
    Frame(Value),
    Closed(Option<u16>),
    Silent,
}

pub struct Client {
    pub name: String,
    addrs: Vec<SocketAddr>,
    /// The instance it is connected to, or tries first.
    pub at: usize,
    /// `hello` without `participant` and `since`.
    hello: Value,
    pub token: Option<String>,
    ws: Option<Box<Stream>>,
    /// The `seq` of the state this client holds.
    pub seq: u64,
    /// Sent (or to send) and not yet acknowledged: id and frame, in the order sent.
    pending: VecDeque<(String, String)>,
    /// Acknowledged: id → `ack.result`.
    pub acked: HashMap<String, Value>,
    /// Refused for good: id → the `error` frame.
    pub refused: HashMap<String, Value>,
    /// Commands sent again on a new connection after the old one was lost.
    pub resent: usize,
    /// Commands sent again after `conflict` ("the session is busy").
    pub busy: usize,
    /// Connections lost, with their close codes (`None`: no close frame).
    pub closes: Vec<Option<u16>>,
    /// `hello`s refused while getting back in.
    pub refusals: Vec<(Option<Value>, Option<u16>)>,
    /// When each connection was lost, and when the client was back in.
    pub outages: Vec<(Instant, Instant)>,
    /// Fresh `welcome`s with the whole state after the first one (a resync).
    pub snapshots: usize,
    /// Events and welcomes received (the first welcome included).
    pub events: usize,
    /// What broke the protocol: events out of order, acks for unknown ids...
    pub anomalies: Vec<String>,
    /// Closed polls as this client last saw them: id → `{counts, cast}`.
    pub polls: HashMap<String, Value>,
    /// The last `presence` heard: sockets and participants in the session, over all instances.
    pub presence: Option<(u64, u64)>,
    welcomed: bool,
    lost_at: Option<Instant>,
}

impl Client {
    /// Connects to `addrs[at]` (else the next ones) and says `hello`.
    pub async fn join(name: impl Into<String>, addrs: &[SocketAddr], at: usize, hello: Value) -> Client {
        let mut c = Client {
            name: name.into(),
            addrs: addrs.to_vec(),
            at: at % addrs.len(),
            hello,
            token: None,
            ws: None,
            seq: 0,
            pending: VecDeque::new(),
            acked: HashMap::new(),
            refused: HashMap::new(),
            resent: 0,
            busy: 0,
            closes: Vec::new(),
            refusals: Vec::new(),
            outages: Vec::new(),
            snapshots: 0,
            events: 0,
            anomalies: Vec::new(),
            polls: HashMap::new(),
            presence: None,
            welcomed: false,
            lost_at: None,
        };
        c.rejoin().await;
        c
    }

    pub fn connected(&self) -> bool {
        self.ws.is_some()
    }

    pub fn in_flight(&self) -> usize {
        self.pending.len()
    }

    /// The `hello` for the next connection: with the token and `since` once it has them.
    fn next_hello(&self) -> Value {
        let mut h = self.hello.clone();
        if let Some(t) = &self.token {
            h["participant"] = json!(t);
        }
        if self.welcomed {
            h["since"] = json!(self.seq);
        }
        h
    }

    /// Gets back in (the instance it was on first, then the others, round and round) and sends
    /// the unacknowledged commands again. Cancel-safe: the connection is only kept once all is
    /// done, so a cancelled attempt is simply made again.
    async fn rejoin(&mut self) -> Value {
        let lost_at = self.lost_at.unwrap_or_else(Instant::now);
        let deadline = Instant::now() + REJOIN;
        let hello_frame = self.next_hello();
        loop {
            for k in 0..self.addrs.len() {
                let i = (self.at + k) % self.addrs.len();
                match hello(self.addrs[i], &hello_frame, PATIENCE).await {
                    Hello::Welcome(mut ws, welcome) => {
                        let mut sent = true;
                        for (_, frame) in &self.pending {
                            if ws.send(Message::Text(frame.clone().into())).await.is_err() {
                                sent = false;
                                break;
                            }
                        }
                        if !sent {
                            continue;
                        }
                        if self.welcomed {
                            self.resent += self.pending.len();
                            self.outages.push((lost_at, Instant::now()));
                        }
                        self.at = i;
                        self.ws = Some(ws);
                        self.lost_at = None;
                        self.on_frame(&welcome);
                        return welcome;
                    }
                    Hello::Refused(error, code) => {
                        if let Some(e) = &error {
                            // A refusal other than an outage's is the test's mistake or a bug.
                            assert!(
                                code == Some(1011) || code == Some(1001),
                                "{}: hello refused with {e} (close {code:?})",
                                self.name
                            );
                        }
                        if error.is_some() || code.is_some() {
                            self.refusals.push((error, code));
                        }
                    }
                    Hello::Silent => self.refusals.push((None, None)),
                }
            }
            assert!(
                Instant::now() < deadline,
                "{}: could not get back in within {REJOIN:?} ({} hellos refused; last {:?})",
                self.name,
                self.refusals.len(),
                self.refusals.last()
            );
            // Nothing answered: every instance is down or restarting. Try again shortly.
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Bookkeeping for every frame received.
    fn on_frame(&mut self, v: &Value) {
        match v["type"].as_str() {
            Some("welcome") => {
                self.events += 1;
                let seq = v["seq"].as_u64().expect("welcome.seq");
                if v["state"].is_object() {
                    if self.welcomed {
                        self.snapshots += 1;
                    }
                    self.seq = seq;
                    for p in v["state"]["polls"].as_array().into_iter().flatten() {
                        if p["status"] == "closed" {
                            let id = p["id"].as_str().expect("poll id").to_owned();
                            self.polls.insert(id, json!({"counts": p["counts"], "cast": p["cast"]}));
                        }
                    }
                } else if seq != self.seq {
                    self.anomalies.push(format!("a resumed welcome at {seq} for a client at {}", self.seq));
                }
                if let Some(t) = v["participant"].as_str() {
                    if self.token.as_deref().is_some_and(|mine| mine != t) {
                        self.anomalies.push("the participant came back as somebody else".into());
                    }
                    self.token = Some(t.to_owned());
                }
                self.welcomed = true;
            }
            Some("event") => {
                self.events += 1;
                let seq = v["seq"].as_u64().expect("event.seq");
                if seq != self.seq + 1 {
                    self.anomalies.push(format!("event {seq} after {}", self.seq));
                }
                self.seq = self.seq.max(seq);
                let e = &v["event"];
                if e["kind"] == "poll.closed" {
                    let id = e["poll"].as_str().expect("poll id").to_owned();
                    self.polls.insert(id, json!({"counts": e["counts"], "cast": e["cast"]}));
                }
            }
            Some("presence") => {
                let n = |f: &str| v[f].as_u64().unwrap_or_else(|| panic!("presence.{f} is a count: {v}"));
                self.presence = Some((n("connected"), n("participants")));
            }
            Some("ack") => {
                let id = v["id"].as_str().expect("ack.id");
                match self.pending.iter().position(|(p, _)| p == id) {
                    Some(i) => {
                        self.pending.remove(i);
                        self.acked.insert(id.to_owned(), v["result"].clone());
                    }
                    None => self.anomalies.push(format!("an ack for a command not in flight: {v}")),
                }
            }
            Some("error") => {
                let id = v["id"].as_str().map(str::to_owned);
                let busy = v["code"] == "conflict" && v["message"].as_str().is_some_and(|m| m.contains("busy"));
                match id.and_then(|id| self.pending.iter().position(|(p, _)| *p == id)) {
                    // Not applied, and the server says to send it again: the store will not
                    // answer now (kept pending; sent again on the next connection or by
                    // `resend`), or the session was busy (sent again at once, below).
                    Some(_) if v["code"] == "unavailable" => {}
                    Some(_) if busy => self.busy += 1,
                    Some(i) => {
                        let (id, _) = self.pending.remove(i).expect("pending");
                        self.refused.insert(id, v.clone());
                    }
                    None => self.anomalies.push(format!("a refusal of no command in flight: {v}")),
                }
            }
            _ => {}
        }
    }

    /// Reads one frame as it comes, without getting back in when the connection ends.
    pub async fn raw(&mut self, within: Duration) -> Raw {
        let Some(ws) = self.ws.as_mut() else { return Raw::Closed(None) };
        let got = match tokio::time::timeout(within, ws.next()).await {
            Err(_) => return Raw::Silent,
            Ok(got) => got,
        };
        match got {
            Some(Ok(Message::Text(t))) => {
                let v: Value = serde_json::from_str(&t).expect("a JSON frame");
                self.on_frame(&v);
                if v["type"] == "error" && v["code"] == "conflict" {
                    self.resend_busy(&v).await;
                }
                Raw::Frame(v)
            }
            Some(Ok(Message::Close(c))) => {
                let code = c.map(|c| u16::from(c.code));
                self.lost(code);
                Raw::Closed(code)
            }
            None | Some(Err(_)) => {
                self.lost(None);
                Raw::Closed(None)
            }
            // Pings are answered by the socket itself.
            Some(Ok(_)) => Raw::Frame(json!({"type": "-"})),
        }
    }

    fn lost(&mut self, code: Option<u16>) {
        self.ws = None;
        self.closes.push(code);
        self.lost_at = Some(Instant::now());
    }

    async fn resend_busy(&mut self, error: &Value) {
        let Some(id) = error["id"].as_str() else { return };
        if let Some((_, frame)) = self.pending.iter().find(|(p, _)| p == id).cloned() {
            self.push(frame).await;
        }
    }

    /// The next frame; a lost connection is got back transparently (the `welcome` that
    /// follows is returned). Fails the test when nothing comes for [`PATIENCE`].
    pub async fn next(&mut self) -> Value {
        loop {
            if self.ws.is_none() {
                return self.rejoin().await;
            }
            match self.raw(PATIENCE).await {
                Raw::Frame(v) => return v,
                Raw::Closed(_) => continue,
                Raw::Silent => panic!(
                    "{}: nothing heard for {PATIENCE:?} (at seq {}, {} commands in flight)",
                    self.name,
                    self.seq,
                    self.pending.len()
                ),
            }
        }
    }

    async fn push(&mut self, frame: String) {
        if let Some(ws) = self.ws.as_mut() {
            if ws.send(Message::Text(frame.into())).await.is_err() {
                self.lost(None);
            }
        }
    }

    /// Sends a command (or keeps it for the next connection); returns its id.
    pub async fn submit(&mut self, op: &str, fields: Value) -> String {
        let id = uuid::Uuid::new_v4().to_string();
        let mut frame = json!({"type": "cmd", "id": id, "op": op});
        if let (Some(f), Value::Object(extra)) = (frame.as_object_mut(), fields) {
            f.extend(extra);
        }
        let frame = frame.to_string();
        self.pending.push_back((id.clone(), frame.clone()));
        self.push(frame).await;
        id
    }

    /// Sends every unacknowledged command again on the connection as it is.
    pub async fn resend(&mut self) {
        let frames: Vec<String> = self.pending.iter().map(|(_, f)| f.clone()).collect();
        self.resent += frames.len();
        for f in frames {
            self.push(f).await;
        }
    }

    /// Waits until the command `id` is acknowledged (through any reconnection); returns its
    /// result. Fails the test if it is refused.
    pub async fn wait_ack(&mut self, id: &str) -> Value {
        loop {
            if let Some(r) = self.acked.get(id) {
                return r.clone();
            }
            if let Some(e) = self.refused.get(id) {
                panic!("{}: command {id} refused: {e}", self.name);
            }
            self.next().await;
        }
    }

    /// Sends a command and waits for its ack.
    pub async fn call(&mut self, op: &str, fields: Value) -> Value {
        let id = self.submit(op, fields).await;
        self.wait_ack(&id).await
    }

    /// Reads until every command sent is acknowledged or refused.
    pub async fn settle(&mut self) {
        while !self.pending.is_empty() {
            self.next().await;
        }
    }

    /// Reads until this client holds `seq`.
    pub async fn reach(&mut self, seq: u64) {
        while self.seq < seq {
            self.next().await;
        }
    }

    /// Ends the connection politely.
    pub async fn leave(mut self) {
        if let Some(mut ws) = self.ws.take() {
            let _ = SinkExt::close(&mut ws).await;
        }
    }
}

/// A client-side token bucket, so that a client's storm stays under the server's per-socket
/// frame rate (10 a second, bursts of 30) with room to spare for `hello` and resent commands.
pub struct Pacer {
    rate: f64,
    burst: f64,
    tokens: f64,
    at: tokio::time::Instant,
}

impl Pacer {
    pub fn new(rate: f64, burst: f64) -> Pacer {
        Pacer { rate, burst, tokens: burst, at: tokio::time::Instant::now() }
    }

    fn refill(&mut self) {
        let now = tokio::time::Instant::now();
        self.tokens = (self.tokens + now.duration_since(self.at).as_secs_f64() * self.rate).min(self.burst);
        self.at = now;
    }

    /// Takes a token, waiting for one if the bucket is empty. Cancel-safe.
    pub async fn take(&mut self) {
        self.refill();
        if self.tokens < 1.0 {
            tokio::time::sleep(Duration::from_secs_f64((1.0 - self.tokens) / self.rate)).await;
            self.refill();
        }
        self.tokens -= 1.0;
    }
}

/// A small deterministic generator, so a storm is the same storm at every run.
pub struct Dice(u64);

impl Dice {
    pub fn new(seed: u64) -> Dice {
        Dice(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1)
    }

    pub fn roll(&mut self, n: usize) -> usize {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        (self.0 % n as u64) as usize
    }
}
