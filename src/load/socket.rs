//! The load's WebSockets: opening one with small buffers from a chosen loopback source address,
//! the `hello`/`welcome` exchange, the connect phase (every participant, in batches), and
//! commands sent and answered (a [`Caller`] paced under the server's frame limit).

use anyhow::{bail, Context};
use futures_util::stream::{SplitSink, SplitStream};
use futures_util::{future::join_all, SinkExt, StreamExt};
use serde::Deserialize;
use serde_json::Value;
use std::borrow::Cow;
use std::collections::HashMap;
use std::net::{Ipv4Addr, SocketAddr};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::net::{TcpSocket, TcpStream};
use tokio::sync::{mpsc, watch};
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::{client_async_with_config, WebSocketStream};

use super::CONNECT_TIMEOUT;

pub type Ws = WebSocketStream<TcpStream>;
pub type Sink = SplitSink<Ws, Message>;

/// The parts of a server frame the load looks at; everything else is skipped.
#[derive(Deserialize)]
pub struct Frame<'a> {
    #[serde(rename = "type", borrow)]
    pub kind: Cow<'a, str>,
    pub seq: Option<u64>,
    #[serde(borrow)]
    pub id: Option<Cow<'a, str>>,
    #[serde(borrow)]
    pub event: Option<EventHead<'a>>,
    #[serde(borrow)]
    pub code: Option<Cow<'a, str>>,
    #[serde(borrow)]
    pub message: Option<Cow<'a, str>>,
    #[serde(borrow)]
    pub role: Option<Cow<'a, str>>,
    pub result: Option<Value>,
    /// `upvotes` frames: question id → count; `tally` frames: choice → weight.
    pub counts: Option<HashMap<String, u64>>,
    /// `tally` frames: the poll, and the ballots cast.
    #[serde(borrow)]
    pub poll: Option<Cow<'a, str>>,
    pub cast: Option<u64>,
    /// `welcome` frames: only the agenda's current item, the questions and the polls are read.
    pub state: Option<StateHead>,
    /// `welcome` frames of a participant: its token (a `hello` with it keeps the identity).
    #[serde(borrow)]
    pub participant: Option<Cow<'a, str>>,
}

#[derive(Deserialize)]
pub struct EventHead<'a> {
    #[serde(borrow)]
    pub kind: Cow<'a, str>,
    /// A question object (`question.asked`, `question.approved`) or an id (the others).
    pub question: Option<QuestionRef>,
    /// A poll object (`poll.opened`) or an id (`poll.closed`, `poll.cancelled`).
    pub poll: Option<PollRef>,
    /// `poll.closed`: the counts and ballots the poll closed with.
    pub counts: Option<HashMap<String, u64>>,
    pub cast: Option<u64>,
    /// `agenda.moved`: the place of the item now current.
    pub current: Option<usize>,
}

#[derive(Deserialize)]
#[serde(untagged)]
pub enum PollRef {
    Full(PollHead),
    Id(String),
}

/// The parts of a poll the load reads (`counts` is null while a hidden poll is open).
#[derive(Deserialize, Clone, Debug, PartialEq)]
pub struct PollHead {
    pub id: String,
    #[serde(default)]
    pub status: Option<String>,
    #[serde(default)]
    pub counts: Option<HashMap<String, u64>>,
    #[serde(default)]
    pub cast: Option<u64>,
    #[serde(default)]
    pub hidden: Option<bool>,
}

#[derive(Deserialize)]
#[serde(untagged)]
pub enum QuestionRef {
    Full(QuestionHead),
    Id(String),
}

#[derive(Deserialize, Default)]
pub struct StateHead {
    #[serde(default)]
    pub agenda: Option<AgendaHead>,
    #[serde(default)]
    pub questions: Vec<QuestionHead>,
    #[serde(default)]
    pub polls: Vec<PollHead>,
}

#[derive(Deserialize, Default, Clone, Copy)]
pub struct AgendaHead {
    pub current: Option<usize>,
}

/// A `welcome` read without its questions: a participant's welcome carries every approved
/// question, and ten thousand parsed copies of five hundred would weigh more than the sockets.
#[derive(Deserialize)]
struct LightWelcome<'a> {
    #[serde(rename = "type", borrow)]
    kind: Cow<'a, str>,
    seq: Option<u64>,
    #[serde(borrow)]
    role: Option<Cow<'a, str>>,
    #[serde(borrow)]
    participant: Option<Cow<'a, str>>,
    #[serde(borrow)]
    code: Option<Cow<'a, str>>,
    #[serde(borrow)]
    message: Option<Cow<'a, str>>,
    state: Option<LightState>,
}

#[derive(Deserialize)]
struct LightState {
    #[serde(default)]
    agenda: Option<AgendaHead>,
    #[serde(default)]
    polls: Vec<PollHead>,
}

#[derive(Deserialize, Clone, Debug, PartialEq)]
pub struct QuestionHead {
    pub id: String,
    #[serde(default)]
    pub upvotes: Option<u64>,
    #[serde(default)]
    pub status: Option<String>,
}

impl Frame<'_> {
    /// `code: message` of an `error` frame.
    pub fn refusal(&self) -> String {
        format!("{}: {}", self.code.as_deref().unwrap_or_default(), self.message.as_deref().unwrap_or_default())
    }
}

/// What a `welcome` said.
pub struct Welcome {
    pub seq: u64,
    pub role: String,
    /// A participant's token.
    pub participant: Option<String>,
    /// The state (its agenda, questions and polls), when the welcome carries one.
    pub state: Option<StateHead>,
}

/// How much of a `welcome`'s state to keep.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Keep {
    /// The agenda, the questions and the polls.
    All,
    /// The agenda and the polls: the questions are skipped.
    NoQuestions,
}

/// Opens one WebSocket, from `source` when given, with small buffers: tungstenite's default
/// 128 KiB read buffer is zero-filled on every read, and the client's CPU would skew the figures.
pub async fn open(target: SocketAddr, source: Option<Ipv4Addr>, ws_url: &str) -> anyhow::Result<Ws> {
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

/// Sends `hello` and waits for `welcome`, keeping `keep` of its state.
pub async fn greet(ws: &mut Ws, hello: &str, keep: Keep) -> anyhow::Result<Welcome> {
    ws.send(Message::text(hello)).await?;
    loop {
        match ws.next().await {
            Some(Ok(Message::Text(t))) => {
                let text = t.as_str();
                let (kind, welcome, refusal) = if keep == Keep::All {
                    let f: Frame = serde_json::from_str(text).context("a frame that is not JSON")?;
                    let refusal = f.refusal();
                    let welcome = Welcome {
                        seq: f.seq.unwrap_or(0),
                        role: f.role.unwrap_or_default().into_owned(),
                        participant: f.participant.map(Cow::into_owned),
                        state: f.state,
                    };
                    (f.kind.into_owned(), welcome, refusal)
                } else {
                    let f: LightWelcome = serde_json::from_str(text).context("a frame that is not JSON")?;
                    let refusal = format!(
                        "{}: {}",
                        f.code.as_deref().unwrap_or_default(),
                        f.message.as_deref().unwrap_or_default()
                    );
                    let state = f.state.map(|s| StateHead { agenda: s.agenda, questions: Vec::new(), polls: s.polls });
                    let welcome = Welcome {
                        seq: f.seq.unwrap_or(0),
                        role: f.role.unwrap_or_default().into_owned(),
                        participant: f.participant.map(Cow::into_owned),
                        state,
                    };
                    (f.kind.into_owned(), welcome, refusal)
                };
                match kind.as_str() {
                    "welcome" => return Ok(welcome),
                    "error" => bail!("hello refused: {refusal}"),
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

/// One server of the run: its address and WebSocket URL.
#[derive(Clone)]
pub struct Endpoint {
    pub addr: SocketAddr,
    pub ws_url: String,
}

/// What every participant connection needs to join.
pub struct Join {
    /// Participant `i` joins through `endpoints[i % len]`.
    pub endpoints: Vec<Endpoint>,
    pub hello: String,
    pub sources: usize,
    /// What of each welcome's state to keep.
    pub keep: Keep,
}

impl Join {
    fn source(&self, i: usize) -> Option<Ipv4Addr> {
        // 1..=254, checked when parsing the arguments.
        (self.sources > 1).then(|| Ipv4Addr::new(127, 0, 0, 1 + (i % self.sources) as u8))
    }

    async fn participant(&self, i: usize) -> anyhow::Result<(Ws, Welcome)> {
        self.participant_with(i, &self.hello, self.keep).await
    }

    /// Participant `i`'s socket (its server and source address), greeted with `hello`.
    pub async fn participant_with(&self, i: usize, hello: &str, keep: Keep) -> anyhow::Result<(Ws, Welcome)> {
        let endpoint = &self.endpoints[i % self.endpoints.len()];
        let mut ws = open(endpoint.addr, self.source(i), &endpoint.ws_url).await?;
        let welcome = greet(&mut ws, hello, keep).await?;
        Ok((ws, welcome))
    }
}

/// The connect phase's outcome: the sockets up, in the order of their index.
pub struct Joined {
    pub sockets: Vec<(Ws, Welcome)>,
    pub failed: usize,
    /// Not tried: the deadline came first.
    pub skipped: usize,
    pub seconds: f64,
}

/// How the connect phase went, in figures.
#[derive(Debug, Clone, Copy, Default)]
pub struct Connect {
    pub connected: usize,
    pub failed: usize,
    /// Not tried: the deadline came first.
    pub skipped: usize,
    pub seconds: f64,
}

impl Joined {
    pub fn figures(&self) -> Connect {
        Connect { connected: self.sockets.len(), failed: self.failed, skipped: self.skipped, seconds: self.seconds }
    }
}

/// Opens `n` participant sockets, `batch` at a time, each one up once its welcome is in.
pub async fn connect_participants(join: Arc<Join>, n: usize, batch: usize, deadline: Instant) -> Joined {
    let t0 = Instant::now();
    let mut out = Joined { sockets: Vec::with_capacity(n), failed: 0, skipped: 0, seconds: 0.0 };
    let mut first_errors: Vec<String> = Vec::new();
    for start in (0..n).step_by(batch) {
        let end = (start + batch).min(n);
        let now = Instant::now();
        if now >= deadline {
            out.skipped = n - start;
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
                    out.sockets.push(ok);
                    continue;
                }
                Ok(Ok(Err(e))) => format!("{e:#}"),
                Ok(Err(_)) => format!("no welcome within {limit:?}"),
                Err(e) => format!("connect task: {e}"),
            };
            out.failed += 1;
            if first_errors.len() < 3 {
                first_errors.push(error);
            }
        }
    }
    out.seconds = t0.elapsed().as_secs_f64();
    for e in &first_errors {
        eprintln!("connect failed: {e}");
    }
    out
}

/// Opens a moderator socket (from 127.0.0.1) and checks that the key was welcomed as one.
pub async fn connect_moderator(endpoint: &Endpoint, hello: &str) -> anyhow::Result<(Ws, Welcome)> {
    let moderator = async {
        let mut ws = open(endpoint.addr, None, &endpoint.ws_url).await?;
        let welcome = greet(&mut ws, hello, Keep::All).await?;
        if welcome.role != "moderator" {
            bail!("the moderator key was welcomed as {:?}", welcome.role);
        }
        Ok((ws, welcome))
    };
    tokio::time::timeout(CONNECT_TIMEOUT, moderator)
        .await
        .context("the moderator socket got no welcome")?
        .context("the moderator socket")
}

/// The server's answer to one command: the ack's `result`, or the refusal as `code: message`.
pub struct Reply {
    pub id: String,
    pub outcome: Result<Value, String>,
    pub at: Instant,
}

/// A `Reply` from an `ack` or `error` frame that names a command; `None` for any other frame.
pub fn reply_of(f: &Frame, at: Instant) -> Option<Reply> {
    let id = f.id.as_deref()?.to_owned();
    let outcome = match f.kind.as_ref() {
        "ack" => Ok(f.result.clone().unwrap_or(Value::Null)),
        "error" => Err(f.refusal()),
        _ => return None,
    };
    Some(Reply { id, outcome, at })
}

/// An event a moderator socket received: the `event` object, and when it came.
pub type Heard = (Value, Instant);

/// Reads a socket that only commands (the moderator's): acks and refusals go to `replies`, and
/// the events' objects to `events` when given.
pub async fn reply_reader(
    mut rx: SplitStream<Ws>,
    replies: mpsc::UnboundedSender<Reply>,
    events: Option<mpsc::UnboundedSender<Heard>>,
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
                let Ok(f) = serde_json::from_str::<Frame>(t.as_str()) else { continue };
                if let Some(reply) = reply_of(&f, at) {
                    let _ = replies.send(reply);
                } else if let (Some(events), "event") = (&events, f.kind.as_ref()) {
                    if let Ok(mut frame) = serde_json::from_str::<Value>(t.as_str()) {
                        let _ = events.send((frame["event"].take(), at));
                    }
                }
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

/// A `cmd` frame with a fresh id; `fields` is a JSON object of the op's fields.
pub fn command_frame(op: &str, fields: Value) -> (String, String) {
    let id = uuid::Uuid::new_v4().hyphenated().to_string();
    let mut frame = match fields {
        Value::Object(m) => m,
        _ => serde_json::Map::new(),
    };
    frame.insert("type".into(), "cmd".into());
    frame.insert("id".into(), id.clone().into());
    frame.insert("op".into(), op.into());
    (id, Value::Object(frame).to_string())
}

/// A token bucket like the server's (10 frames a second, bursts of 30), a little stricter so
/// that the load is never refused for its pace.
pub struct Pacer {
    tokens: f64,
    refilled: Instant,
}

impl Pacer {
    pub const RATE: f64 = 9.0;
    pub const BURST: f64 = 25.0;

    /// A bucket that has `spent` tokens already (the `hello`, for instance).
    pub fn new(spent: f64) -> Self {
        Pacer { tokens: Self::BURST - spent, refilled: Instant::now() }
    }

    /// How long to wait before the next frame at `now`; takes its token.
    pub fn take(&mut self, now: Instant) -> Duration {
        self.tokens =
            (self.tokens + now.saturating_duration_since(self.refilled).as_secs_f64() * Self::RATE).min(Self::BURST);
        self.refilled = now;
        self.tokens -= 1.0;
        if self.tokens >= 0.0 {
            Duration::ZERO
        } else {
            Duration::from_secs_f64(-self.tokens / Self::RATE)
        }
    }
}

/// How one command went: when it was sent and the answer (`Err("timeout")` when none came).
pub struct Call {
    pub sent: Instant,
    pub outcome: Result<Value, String>,
    pub at: Instant,
}

impl Call {
    pub fn latency_us(&self) -> u64 {
        self.at.saturating_duration_since(self.sent).as_micros() as u64
    }

    /// The `seq` the command was acknowledged with (that of its last event).
    pub fn seq(&self) -> Option<u64> {
        self.outcome.as_ref().ok()?.get("seq")?.as_u64()
    }
}

/// Sends commands on one socket, one at a time, and waits for each answer.
pub struct Caller {
    pub sink: Sink,
    pub replies: mpsc::UnboundedReceiver<Reply>,
    pub pacer: Pacer,
}

impl Caller {
    /// Sends `op` and waits for its ack or refusal, at most `limit` (paced first, if need be).
    pub async fn call(&mut self, op: &str, fields: Value, limit: Duration) -> Call {
        let wait = self.pacer.take(Instant::now());
        if !wait.is_zero() {
            tokio::time::sleep(wait).await;
        }
        let (id, frame) = command_frame(op, fields);
        let sent = Instant::now();
        if let Err(e) = self.sink.send(Message::text(frame)).await {
            return Call { sent, outcome: Err(format!("send: {e}")), at: Instant::now() };
        }
        let answer = async {
            while let Some(r) = self.replies.recv().await {
                if r.id == id {
                    return Some(r);
                }
            }
            None
        };
        match tokio::time::timeout(limit, answer).await {
            Ok(Some(r)) => Call { sent, outcome: r.outcome, at: r.at },
            Ok(None) => Call { sent, outcome: Err("socket closed".into()), at: Instant::now() },
            Err(_) => Call { sent, outcome: Err("timeout".into()), at: Instant::now() },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_pacer_lets_a_burst_through_then_keeps_under_the_rate() {
        let t0 = Instant::now();
        let mut p = Pacer::new(1.0);
        for _ in 0..24 {
            assert_eq!(p.take(t0), Duration::ZERO);
        }
        let wait = p.take(t0);
        assert!(wait > Duration::from_millis(100) && wait < Duration::from_millis(120), "{wait:?}");
        // A second later, nine more tokens.
        let later = t0 + Duration::from_secs(1);
        let mut free = 0;
        while p.take(later).is_zero() {
            free += 1;
        }
        assert_eq!(free, 8);
    }

    #[test]
    fn frames_are_read_for_what_the_load_needs() {
        let f: Frame = serde_json::from_str(r#"{"type":"upvotes","counts":{"q1":3,"q2":0}}"#).expect("test data");
        assert_eq!(f.counts.expect("test data")["q1"], 3);
        let f: Frame = serde_json::from_str(
            r#"{"type":"event","seq":4,"event":{"kind":"question.approved","question":{"id":"q1","text":"?","status":"approved","upvotes":2}}}"#,
        )
        .expect("test data");
        match f.event.expect("test data").question {
            Some(QuestionRef::Full(q)) => assert_eq!((q.id.as_str(), q.upvotes), ("q1", Some(2))),
            _ => panic!("a question object"),
        }
        let f: Frame =
            serde_json::from_str(r#"{"type":"event","seq":5,"event":{"kind":"question.rejected","question":"q1"}}"#)
                .expect("test data");
        assert!(matches!(f.event.expect("test data").question, Some(QuestionRef::Id(id)) if id == "q1"));
        let f: Frame = serde_json::from_str(r#"{"type":"error","id":"c1","code":"rate_limited","message":"slow"}"#)
            .expect("test data");
        let r = reply_of(&f, Instant::now()).expect("test data");
        assert_eq!((r.id.as_str(), r.outcome.expect_err("a refusal").as_str()), ("c1", "rate_limited: slow"));
    }

    #[test]
    fn command_frames_carry_type_id_op_and_fields() {
        let (id, frame) = command_frame("question.upvote", serde_json::json!({"question": "q9"}));
        let v: Value = serde_json::from_str(&frame).expect("test data");
        assert_eq!(v["type"], "cmd");
        assert_eq!(v["id"], id.as_str());
        assert_eq!(v["op"], "question.upvote");
        assert_eq!(v["question"], "q9");
    }
}
