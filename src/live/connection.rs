//! One WebSocket: the upgrade (Origin check, small buffers), `hello`, then a loop that
//! forwards the hub's events in `seq` order and applies the client's commands.

use super::hub::{Membership, Outbound};
use crate::credentials;
use crate::domain::{Actor, Command, DomainError, RecordCommand, Role, VoteCommand};
use crate::protocol::{ack_frame, close, event_frame, refusal_frame, state_view, ClientMsg, ErrorCode, Hello};
use crate::protocol::{Refusal, RequestedRole, ServerMsg, Viewer, MAX_FRAME};
use crate::state::{now_ms, AppState};
use crate::store::{Applied, Participant, Snapshot, StoreError};
use axum::extract::ws::{CloseFrame, Message, Utf8Bytes, WebSocket, WebSocketUpgrade};
use axum::extract::{ConnectInfo, State};
use axum::http::{header, HeaderMap};
use axum::response::{IntoResponse, Response};
use futures_util::stream::{SplitSink, SplitStream};
use futures_util::{SinkExt, StreamExt};
use std::time::{Duration, Instant};
use tokio::sync::broadcast::error::RecvError;

/// A client must say hello within this long.
const HELLO_TIMEOUT: Duration = Duration::from_secs(10);
const PING_EVERY: Duration = Duration::from_secs(20);
/// A socket silent this long (not even a pong) is dead.
const DEAD_AFTER: Duration = Duration::from_secs(60);
/// Frames per second a client may send on average, and in a burst.
const RATE: f64 = 10.0;
const BURST: f64 = 30.0;
/// Wrong voting codes one socket may send before its claims are refused.
const MAX_WRONG_CODES: u32 = 5;
/// Refusals for flooding before the socket is closed.
const MAX_STRIKES: u32 = 50;

/// Whether a browser page from `origin` may open a socket here. Clients that send no Origin
/// are not browsers, so cross-site WebSocket hijacking does not apply to them.
fn origin_allowed(state: &AppState, headers: &HeaderMap) -> bool {
    let Some(origin) = headers.get(header::ORIGIN).and_then(|o| o.to_str().ok()) else {
        return true;
    };
    let origin = origin.trim_end_matches('/').to_ascii_lowercase();
    if !state.config.allowed_origins.is_empty() {
        return state.config.allowed_origins.contains(&origin);
    }
    if let Some(public) = &state.config.public_url {
        let public = public.to_ascii_lowercase();
        if public == origin || public.starts_with(&format!("{origin}/")) {
            return true;
        }
    }
    let host = headers.get(header::HOST).and_then(|h| h.to_str().ok()).map(str::to_ascii_lowercase);
    let bare = origin.strip_prefix("https://").or_else(|| origin.strip_prefix("http://"));
    matches!((bare, host), (Some(b), Some(h)) if b == h)
}

pub async fn upgrade(
    State(state): State<AppState>,
    ConnectInfo(peer): ConnectInfo<std::net::SocketAddr>,
    headers: HeaderMap,
    ws: WebSocketUpgrade,
) -> Response {
    if !origin_allowed(&state, &headers) {
        let body =
            serde_json::json!({"error": {"code": "forbidden", "message": "this origin may not open a WebSocket here"}});
        return (axum::http::StatusCode::FORBIDDEN, axum::Json(body)).into_response();
    }
    let ip = peer.ip();
    let slot = match state.limits.admit(ip) {
        Ok(slot) => slot,
        Err(why) => {
            metrics::counter!("palabre_sockets_refused_total", "why" => format!("{why:?}")).increment(1);
            let message = match why {
                crate::limits::Refused::TooMany => "this address holds as many connections as it may",
                crate::limits::Refused::TooFast => "this address opens connections too fast: try again shortly",
            };
            let body = serde_json::json!({"error": {"code": "rate_limited", "message": message}});
            return (axum::http::StatusCode::TOO_MANY_REQUESTS, axum::Json(body)).into_response();
        }
    };
    let base = state.base_url(&headers);
    // tungstenite's default read buffer is 128 KiB per socket, zero-filled on every read; a
    // room of phones sends small frames, so a few KiB keep each connection small and fast.
    ws.read_buffer_size(4096).write_buffer_size(0).max_message_size(MAX_FRAME).max_frame_size(MAX_FRAME).on_upgrade(
        move |socket| async move {
            let _open = state.socket_opened();
            let _slot = slot;
            run(socket, state, base, ip).await;
        },
    )
}

struct Conn {
    tx: SplitSink<WebSocket, Message>,
    rx: SplitStream<WebSocket>,
    state: AppState,
    /// Base of the links shown to this client (the participant link under the QR code).
    base: String,
    /// The client's address (limits on wrong keys and voting codes are per address).
    ip: std::net::IpAddr,
    last_heard: Instant,
    tokens: f64,
    refilled: Instant,
    strikes: u32,
    /// Wrong voting codes sent on this socket.
    wrong_codes: u32,
}

/// How the loop ends.
enum End {
    /// Close with this code and reason.
    Close(u16, &'static str),
    /// The peer is gone; nothing to send.
    Gone,
}

/// Who is on the other end, once `hello` is accepted.
struct Peer {
    session: String,
    code: String,
    role: Role,
    /// A participant's token and record.
    participant: Option<(String, Participant)>,
}

impl Peer {
    fn actor(&self) -> Actor {
        Actor { role: self.role, participant: self.participant.as_ref().map(|(_, p)| p.id.clone()) }
    }

    fn participant_id(&self) -> Option<&str> {
        self.participant.as_ref().map(|(_, p)| p.id.as_str())
    }
}

async fn run(socket: WebSocket, state: AppState, base: String, ip: std::net::IpAddr) {
    let (tx, rx) = socket.split();
    let mut conn = Conn {
        tx,
        rx,
        state,
        base,
        ip,
        last_heard: Instant::now(),
        tokens: BURST,
        refilled: Instant::now(),
        strikes: 0,
        wrong_codes: 0,
    };
    let end = match conn.greet().await {
        Ok((peer, hello)) => conn.serve(peer, hello).await,
        Err(end) => end,
    };
    if let End::Close(code, reason) = end {
        let frame = CloseFrame { code, reason: Utf8Bytes::from_static(reason) };
        if conn.tx.send(Message::Close(Some(frame))).await.is_ok() {
            // Read on until the client answers the close (or a short while passes): dropping a
            // socket with frames still unread makes the kernel reset it, and the close code,
            // which tells the client what to do, would be lost.
            let drain = async { while let Some(Ok(_)) = conn.rx.next().await {} };
            let _ = tokio::time::timeout(CLOSE_LINGER, drain).await;
        }
    }
}

/// How long a closing socket waits for the client's close.
const CLOSE_LINGER: Duration = Duration::from_secs(2);

impl Conn {
    async fn send_text(&mut self, text: impl Into<Utf8Bytes>) -> Result<(), End> {
        self.tx.send(Message::Text(text.into())).await.map_err(|_| End::Gone)
    }

    async fn refuse(&mut self, r: &Refusal) -> Result<(), End> {
        self.send_text(refusal_frame(r)).await
    }

    /// Takes a token from the bucket; false when the client sends too fast.
    fn allow(&mut self) -> bool {
        let now = Instant::now();
        self.tokens = (self.tokens + now.duration_since(self.refilled).as_secs_f64() * RATE).min(BURST);
        self.refilled = now;
        if self.tokens >= 1.0 {
            self.tokens -= 1.0;
            true
        } else {
            false
        }
    }

    /// The next text frame, answering what is not one. `Err` ends the connection.
    async fn next_text(&mut self) -> Result<Option<String>, End> {
        match self.rx.next().await {
            None => Err(End::Gone),
            Some(Err(e)) => Err(read_error(&e)),
            Some(Ok(msg)) => {
                self.last_heard = Instant::now();
                match msg {
                    Message::Text(t) => Ok(Some(t.to_string())),
                    Message::Binary(_) => {
                        self.refuse(&Refusal::invalid(None, "frames are JSON text")).await?;
                        Ok(None)
                    }
                    Message::Close(_) => Err(End::Gone),
                    Message::Ping(_) | Message::Pong(_) => Ok(None),
                }
            }
        }
    }

    /// Waits for a valid `hello`; anything else first is refused, and the socket kept.
    async fn greet(&mut self) -> Result<(Peer, Hello), End> {
        let deadline = tokio::time::Instant::now() + HELLO_TIMEOUT;
        loop {
            let text = tokio::time::timeout_at(deadline, self.next_text())
                .await
                .map_err(|_| End::Close(close::POLICY, "no hello"))??;
            let Some(text) = text else { continue };
            if !self.allow() {
                return Err(End::Close(close::FLOOD, "too many frames"));
            }
            match ClientMsg::parse(&text) {
                Ok(ClientMsg::Hello(hello)) => match self.admit(&hello).await {
                    Ok(peer) => return Ok((peer, hello)),
                    Err((refusal, close)) => {
                        self.refuse(&refusal).await?;
                        return Err(close);
                    }
                },
                Ok(ClientMsg::Cmd { id, .. }) => {
                    self.refuse(&Refusal::invalid(Some(id), "say hello first")).await?;
                }
                Err(r) => self.refuse(&Refusal { message: format!("{} (say hello first)", r.message), ..r }).await?,
            }
        }
    }

    /// Checks a `hello`'s session and credentials and registers a participant.
    async fn admit(&mut self, hello: &Hello) -> Result<Peer, (Refusal, End)> {
        let store = self.state.store.clone();
        let not_found = || refused(ErrorCode::NotFound, "no such session", close::GONE, "no such session");
        let unauthorized = |m: &str| refused(ErrorCode::Unauthorized, m, close::POLICY, "unauthorized");
        let fail = |e: StoreError| match e {
            StoreError::NotFound => not_found(),
            StoreError::Full => refused(ErrorCode::Conflict, &e.to_string(), close::POLICY, "session full"),
            e => {
                tracing::warn!(error = %e, "store error during hello");
                refused(ErrorCode::Conflict, "try again", close::UNAVAILABLE, "store unavailable")
            }
        };
        let session = match (&hello.session, &hello.code) {
            (Some(id), _) if id.len() <= 64 => id.clone(),
            (None, Some(code)) => {
                let code = credentials::normalise_code(code).ok_or_else(not_found)?;
                store.resolve_code(&code).await.map_err(fail)?.ok_or_else(not_found)?
            }
            (Some(_), _) => return Err(not_found()),
            (None, None) => {
                return Err(refused(ErrorCode::Invalid, "hello needs a code or a session", close::POLICY, "bad hello"))
            }
        };
        let credentials = store.credentials(&session).await.map_err(fail)?.ok_or_else(not_found)?;
        let limits = self.state.limits.clone();
        let ip = self.ip;
        let role = match (&hello.key, hello.role) {
            (Some(_), _) if limits.blocked(ip) => return Err(too_many_wrong()),
            (Some(key), _) => credentials::role_for_key(&credentials, key).ok_or_else(|| {
                if limits.failed(ip) {
                    unauthorized("that key does not open this session")
                } else {
                    too_many_wrong()
                }
            })?,
            (None, Some(RequestedRole::Moderator | RequestedRole::Rapporteur)) => {
                return Err(unauthorized("this role needs its key"))
            }
            (None, Some(RequestedRole::Screen)) => Role::Screen,
            (None, _) => Role::Participant,
        };
        let participant = if role == Role::Participant {
            let known = match hello.participant.as_deref().filter(|t| t.len() <= 128) {
                Some(token) => store
                    .find_participant(&session, &credentials::hash(token))
                    .await
                    .map_err(fail)?
                    .map(|p| (token.to_owned(), p)),
                None => None,
            };
            match known {
                Some(found) => Some(found),
                None => {
                    let token = credentials::new_secret();
                    let fresh = Participant { id: uuid::Uuid::new_v4().simple().to_string(), joined_at: now_ms() };
                    let p = store.participant(&session, &credentials::hash(&token), &fresh).await.map_err(fail)?;
                    Some((token, p))
                }
            }
        } else {
            None
        };
        let code = credentials.code.clone();
        Ok(Peer { session, code, role, participant })
    }

    fn welcome(&self, peer: &Peer, seq: u64, snapshot: Option<&Snapshot>) -> String {
        let participant_url = crate::state::participant_link(&self.base, &peer.code);
        ServerMsg::Welcome {
            role: peer.role,
            session: &peer.session,
            code: &peer.code,
            participant: peer.participant.as_ref().map(|(t, _)| t.as_str()),
            seq,
            server_time: now_ms(),
            state: snapshot.map(|s| {
                let viewer = Viewer { role: peer.role, participant: peer.participant_id(), upvoted: &s.upvoted };
                let mut view = state_view(s, &viewer);
                view.participant_url = Some(participant_url.clone());
                Box::new(view)
            }),
        }
        .to_json()
    }

    /// Sends the whole state; returns its `seq`.
    async fn snapshot(&mut self, peer: &Peer, member: &Membership) -> Result<u64, End> {
        let snapshot = match self.state.store.snapshot(&peer.session, peer.participant_id()).await {
            Ok(Some(s)) => s,
            Ok(None) => return Err(self.gone().await),
            Err(e) => {
                tracing::warn!(error = %e, "store error while sending a snapshot");
                return Err(End::Close(close::UNAVAILABLE, "store unavailable"));
            }
        };
        let seq = snapshot.session.seq;
        member.hub.saw(seq);
        let frame = self.welcome(peer, seq, Some(&snapshot));
        self.send_text(frame).await?;
        Ok(seq)
    }

    async fn gone(&mut self) -> End {
        let r = Refusal { id: None, code: ErrorCode::NotFound, message: "the session was deleted".into() };
        let _ = self.refuse(&r).await;
        End::Close(close::GONE, "session deleted")
    }

    /// Sends the welcome: the events since `since` when they are still kept, else the state.
    async fn resume(&mut self, peer: &Peer, member: &Membership, since: Option<u64>) -> Result<u64, End> {
        let Some(since) = since else {
            return self.snapshot(peer, member).await;
        };
        match self.state.store.events_since(&peer.session, since).await {
            Ok(Some(events)) => {
                let frame = self.welcome(peer, since, None);
                self.send_text(frame).await?;
                let mut seq = since;
                for e in &events {
                    self.send_text(event_frame(e, peer.role)).await?;
                    seq = e.seq;
                }
                member.hub.saw(seq);
                Ok(seq)
            }
            Ok(None) => self.snapshot(peer, member).await,
            Err(StoreError::NotFound) => Err(self.gone().await),
            Err(e) => {
                tracing::warn!(error = %e, "store error while resuming");
                Err(End::Close(close::UNAVAILABLE, "store unavailable"))
            }
        }
    }

    async fn serve(&mut self, peer: Peer, hello: Hello) -> End {
        // Join the hub before reading the store, so no event falls between the two.
        let member = match self.state.hubs.join(&peer.session, peer.role == Role::Participant).await {
            Ok(member) => member,
            Err(e) => {
                tracing::warn!(error = %e, "could not follow the session's channel");
                return End::Close(close::UNAVAILABLE, "store unavailable");
            }
        };
        let mut events = member.hub.subscribe();
        let mut shutdown = self.state.shutdown.clone();
        let stopping = crate::state::stopping(&mut shutdown);
        tokio::pin!(stopping);
        let mut seq = match self.resume(&peer, &member, hello.since).await {
            Ok(seq) => seq,
            Err(end) => return end,
        };
        let mut ping = tokio::time::interval_at(tokio::time::Instant::now() + PING_EVERY, PING_EVERY);
        loop {
            let step: Result<(), End> = tokio::select! {
                frame = self.next_text() => match frame {
                    Ok(Some(text)) => self.on_text(&peer, &text).await,
                    Ok(None) => Ok(()),
                    Err(end) => Err(end),
                },
                out = events.recv() => match out {
                    Ok(Outbound::Event { seq: s, .. }) if s <= seq => Ok(()),
                    Ok(Outbound::Event { seq: s, frames }) if s == seq + 1 => {
                        seq = s;
                        self.send_text(frames[peer.role.index()].clone()).await
                    }
                    // A gap, a lag or a hub's word: the whole state again.
                    Ok(Outbound::Event { .. } | Outbound::Resync) | Err(RecvError::Lagged(_)) => {
                        self.snapshot(&peer, &member).await.map(|s| seq = s)
                    }
                    Ok(Outbound::Frame(frame)) => self.send_text(frame).await,
                    Ok(Outbound::Frames(frames)) => self.send_text(frames[peer.role.index()].clone()).await,
                    Ok(Outbound::Deleted) | Err(RecvError::Closed) => Err(self.gone().await),
                    Ok(Outbound::Revoked) if matches!(peer.role, Role::Moderator | Role::Rapporteur) => {
                        Err(End::Close(close::REVOKED, "credentials revoked"))
                    }
                    Ok(Outbound::Revoked) => Ok(()),
                },
                _ = ping.tick() => {
                    if self.last_heard.elapsed() > DEAD_AFTER {
                        Err(End::Gone)
                    } else {
                        self.tx.send(Message::Ping(Default::default())).await.map_err(|_| End::Gone)
                    }
                },
                _ = &mut stopping => Err(End::Close(close::GOING_AWAY, "server shutting down")),
            };
            if let Err(end) = step {
                return end;
            }
        }
    }

    async fn on_text(&mut self, peer: &Peer, text: &str) -> Result<(), End> {
        if !self.allow() {
            self.strikes += 1;
            if self.strikes > MAX_STRIKES {
                return Err(End::Close(close::FLOOD, "too many frames"));
            }
            let r = Refusal { id: None, code: ErrorCode::RateLimited, message: "slow down".into() };
            return self.refuse(&r).await;
        }
        match ClientMsg::parse(text) {
            Err(r) => self.refuse(&r).await,
            Ok(ClientMsg::Hello(_)) => self.refuse(&Refusal::invalid(None, "hello was already said")).await,
            Ok(ClientMsg::Cmd { id, command }) => self.command(peer, &id, &command).await,
        }
    }

    /// The finalisation of the record as it stands: its digest, and the changes to the notes it
    /// holds (the rules refuse it if a note changed meanwhile).
    async fn finalising(&mut self, peer: &Peer) -> Result<Command, End> {
        let store = &self.state.store;
        let read = async {
            let snapshot = store.snapshot(&peer.session, None).await?.ok_or(StoreError::NotFound)?;
            let audit = store.audit(&peer.session).await?;
            Ok::<_, StoreError>((snapshot, audit))
        };
        match read.await {
            Ok((snapshot, audit)) => {
                // The seal (digest, finalisation) is not part of what it seals: the record built
                // now hashes as the final one will.
                let digest = crate::record::digest(&crate::record::build(&snapshot, &audit));
                Ok(Command::Record(RecordCommand::Finalise { digest, changes: snapshot.session.record.changes }))
            }
            Err(StoreError::NotFound) => Err(self.gone().await),
            Err(e) => {
                tracing::error!(error = %e, "reading the record failed");
                Err(End::Close(close::UNAVAILABLE, "store unavailable"))
            }
        }
    }

    async fn command(&mut self, peer: &Peer, id: &str, command: &Command) -> Result<(), End> {
        let claim = matches!(command, Command::Vote(VoteCommand::Claim { .. }));
        if claim && (self.wrong_codes >= MAX_WRONG_CODES || self.state.limits.blocked(self.ip)) {
            let message = "too many wrong voting codes on this connection".to_owned();
            return self.refuse(&Refusal { id: Some(id.to_owned()), code: ErrorCode::RateLimited, message }).await;
        }
        let finalise;
        let command = match command {
            Command::Record(RecordCommand::Finalise { .. }) => match self.finalising(peer).await {
                Ok(c) => {
                    finalise = c;
                    &finalise
                }
                Err(end) => return Err(end),
            },
            other => other,
        };
        let started = Instant::now();
        let outcome = self.state.store.apply(&peer.session, id, &peer.actor(), command, now_ms()).await;
        metrics::histogram!("palabre_store_seconds", "op" => "apply").record(started.elapsed().as_secs_f64());
        let result = match &outcome {
            Ok(Applied::New { .. }) => "applied",
            Ok(Applied::Duplicate { .. }) => "duplicate",
            Err(StoreError::Domain(_)) => "refused",
            Err(_) => "failed",
        };
        metrics::counter!("palabre_commands_total", "op" => command.op(), "result" => result).increment(1);
        if claim && matches!(outcome, Err(StoreError::Domain(DomainError::NotFound(_)))) {
            self.wrong_codes += 1;
            self.state.limits.failed(self.ip);
        }
        let refusal = |code: ErrorCode, message: String| Refusal { id: Some(id.to_owned()), code, message };
        match outcome {
            Ok(applied) => self.send_text(ack_frame(id, applied.seq(), applied.reply())).await,
            Err(StoreError::Domain(e)) => self.refuse(&refusal(ErrorCode::from(&e), e.to_string())).await,
            Err(StoreError::NotFound) => Err(self.gone().await),
            Err(StoreError::Contention) => {
                self.refuse(&refusal(ErrorCode::Conflict, "the session is busy; send the command again".into())).await
            }
            Err(e) => {
                // Not applied: the client keeps the command and resends it after reconnecting.
                tracing::error!(error = %e, op = command.op(), "command failed in the store");
                Err(End::Close(close::UNAVAILABLE, "store unavailable"))
            }
        }
    }
}

/// A refusal of `hello`, and how the socket then closes.
/// An address that tried too many wrong keys lately: told so, and closed with 4429 (the
/// client waits before it comes back).
fn too_many_wrong() -> (Refusal, End) {
    refused(
        ErrorCode::RateLimited,
        "too many wrong keys from this address: wait a minute",
        close::FLOOD,
        "too many wrong keys",
    )
}

fn refused(code: ErrorCode, message: &str, close: u16, reason: &'static str) -> (Refusal, End) {
    (Refusal { id: None, code, message: message.into() }, End::Close(close, reason))
}

/// A read error: an oversized frame is answered with 1009, anything else means the peer is gone.
fn read_error(e: &axum::Error) -> End {
    let text = e.to_string();
    if text.contains("too long") || text.contains("too big") || text.contains("Space limit") {
        End::Close(close::TOO_BIG, "frame too large")
    } else {
        End::Gone
    }
}
