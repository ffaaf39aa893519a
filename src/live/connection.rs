//! One WebSocket: the upgrade (Origin check, small buffers), `hello`, then a loop that
//! forwards the hub's events in `seq` order and applies the client's commands.
//!
//! What a socket keeps while it idles is what a room of phones multiplies: its task, a 4 KiB
//! read buffer, and no write buffer. Frames are written straight to the connection
//! ([`write_text_frame`]): a large one (a `welcome` with the whole state, shared by every
//! socket of a role: [`super::welcome`]) never sits whole in a buffer of the socket's own, where
//! tungstenite would keep its capacity for the socket's lifetime. tungstenite reads, answers
//! pings and closes.

use super::hub::{Membership, Outbound};
use super::welcome::Views;
use crate::credentials;
use crate::domain::{Actor, Command, DomainError, RecordCommand, Role, VoteCommand};
use crate::protocol::{ack_frame, close, event_frame, refusal_frame, ClientMsg, ErrorCode, Hello};
use crate::protocol::{Refusal, RequestedRole, Viewer, WelcomeHead, MAX_FRAME};
use crate::state::{now_ms, AppState};
use crate::store::{Applied, Participant, Snapshot, StoreError};
use axum::body::{Body, Bytes};
use axum::extract::{ConnectInfo, Request, State};
use axum::http::{header, request, HeaderMap, HeaderValue, Method, StatusCode, Version};
use axum::response::{IntoResponse, Response};
use futures_util::{SinkExt, StreamExt};
use hyper_util::rt::TokioIo;
use std::io::IoSlice;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::io::AsyncWriteExt;
use tokio::sync::broadcast::error::RecvError;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_tungstenite::tungstenite::protocol::{CloseFrame, Role as WsRole, WebSocketConfig};
use tokio_tungstenite::tungstenite::{self, Message};
use tokio_tungstenite::WebSocketStream;

/// The connection under a socket, once upgraded.
type Io = TokioIo<hyper::upgrade::Upgraded>;
type Socket = WebSocketStream<Io>;

/// A client must say hello within this long.
const HELLO_TIMEOUT: Duration = Duration::from_secs(10);
const PING_EVERY: Duration = Duration::from_secs(20);
/// A frame the client takes none of for this long ends its connection.
const WRITE_TIMEOUT: Duration = Duration::from_secs(30);
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

/// A refusal of the request before any WebSocket exists.
fn refuse_request(status: StatusCode, code: &str, message: &str) -> Response {
    let body = serde_json::json!({"error": {"code": code, "message": message}});
    (status, axum::Json(body)).into_response()
}

/// Whether `name` lists `token` (comma-separated, any case), as `Connection: keep-alive, Upgrade` does.
fn header_has(headers: &HeaderMap, name: header::HeaderName, token: &str) -> bool {
    headers
        .get_all(name)
        .iter()
        .any(|v| v.as_bytes().split(|&b| b == b',').any(|t| t.trim_ascii().eq_ignore_ascii_case(token.as_bytes())))
}

/// Checks a WebSocket handshake (RFC 6455, over HTTP/1.1); its `Sec-WebSocket-Accept`.
fn handshake(parts: &request::Parts) -> Result<HeaderValue, &'static str> {
    let headers = &parts.headers;
    if parts.method != Method::GET || parts.version != Version::HTTP_11 {
        return Err("a WebSocket opens with an HTTP/1.1 GET");
    }
    if !header_has(headers, header::CONNECTION, "upgrade") || !header_has(headers, header::UPGRADE, "websocket") {
        return Err("this route takes a WebSocket upgrade (Connection: upgrade, Upgrade: websocket)");
    }
    if headers.get(header::SEC_WEBSOCKET_VERSION).is_none_or(|v| v.as_bytes() != b"13") {
        return Err("Sec-WebSocket-Version must be 13");
    }
    let key = headers.get(header::SEC_WEBSOCKET_KEY).ok_or("Sec-WebSocket-Key is missing")?;
    HeaderValue::try_from(tungstenite::handshake::derive_accept_key(key.as_bytes()))
        .map_err(|_| "Sec-WebSocket-Key is not valid")
}

/// tungstenite's default read buffer is 128 KiB per socket, zero-filled on every read; a room of
/// phones sends small frames, so a few KiB keep each connection small and fast. Nothing is
/// buffered for writing: frames go straight out.
fn socket_config() -> WebSocketConfig {
    WebSocketConfig::default()
        .read_buffer_size(4096)
        .write_buffer_size(0)
        .max_message_size(Some(MAX_FRAME))
        .max_frame_size(Some(MAX_FRAME))
}

pub async fn upgrade(
    State(state): State<AppState>,
    ConnectInfo(peer): ConnectInfo<std::net::SocketAddr>,
    request: Request,
) -> Response {
    let (mut parts, _) = request.into_parts();
    let accept = match handshake(&parts) {
        Ok(accept) => accept,
        Err(message) => return refuse_request(StatusCode::BAD_REQUEST, "invalid", message),
    };
    let headers = &parts.headers;
    if !origin_allowed(&state, headers) {
        return refuse_request(StatusCode::FORBIDDEN, "forbidden", "this origin may not open a WebSocket here");
    }
    let Some(on_upgrade) = parts.extensions.remove::<hyper::upgrade::OnUpgrade>() else {
        return refuse_request(StatusCode::UPGRADE_REQUIRED, "invalid", "this connection cannot be upgraded");
    };
    let ip = state.client_ip(peer.ip(), headers);
    let slot = match state.limits.admit(ip) {
        Ok(slot) => slot,
        Err(why) => {
            metrics::counter!("palabre_sockets_refused_total", "why" => format!("{why:?}")).increment(1);
            let message = match why {
                crate::limits::Refused::TooMany => "this address holds as many connections as it may",
                crate::limits::Refused::TooFast => "this address opens connections too fast: try again shortly",
            };
            return refuse_request(StatusCode::TOO_MANY_REQUESTS, "rate_limited", message);
        }
    };
    let base = state.base_url(headers);
    let task = async move {
        let upgraded = match on_upgrade.await {
            Ok(upgraded) => upgraded,
            Err(e) => {
                tracing::debug!(error = %e, "the WebSocket upgrade failed");
                return;
            }
        };
        let socket =
            WebSocketStream::from_raw_socket(TokioIo::new(upgraded), WsRole::Server, Some(socket_config())).await;
        let _open = state.socket_opened();
        let _slot = slot;
        run(socket, state, base, ip).await;
    };
    tokio::spawn(task);
    let mut response = Response::new(Body::empty());
    *response.status_mut() = StatusCode::SWITCHING_PROTOCOLS;
    let headers = response.headers_mut();
    headers.insert(header::CONNECTION, HeaderValue::from_static("upgrade"));
    headers.insert(header::UPGRADE, HeaderValue::from_static("websocket"));
    headers.insert(header::SEC_WEBSOCKET_ACCEPT, accept);
    response
}

struct Conn {
    ws: Socket,
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

/// What a client sent.
enum Incoming {
    Text(tungstenite::Utf8Bytes),
    Binary,
    /// A ping, a pong: nothing to answer (tungstenite answers pings itself).
    Other,
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
    /// The session's shared views, for the `welcome`s.
    views: Arc<Views>,
}

impl Peer {
    fn actor(&self) -> Actor {
        Actor { role: self.role, participant: self.participant.as_ref().map(|(_, p)| p.id.clone()) }
    }

    fn participant_id(&self) -> Option<&str> {
        self.participant.as_ref().map(|(_, p)| p.id.as_str())
    }
}

async fn run(ws: Socket, state: AppState, base: String, ip: std::net::IpAddr) {
    let mut conn = Conn {
        ws,
        state,
        base,
        ip,
        last_heard: Instant::now(),
        tokens: BURST,
        refilled: Instant::now(),
        strikes: 0,
        wrong_codes: 0,
    };
    // What runs once (the hello, the close) is boxed, so the task a socket keeps while it
    // idles holds only the loop's own state.
    let end = match Box::pin(conn.greet()).await {
        Ok((peer, since)) => conn.serve(peer, since).await,
        Err(end) => end,
    };
    if let End::Close(code, reason) = end {
        Box::pin(conn.close(code, reason)).await;
    }
}

/// How long a closing socket waits for the client's close.
const CLOSE_LINGER: Duration = Duration::from_secs(2);

impl Conn {
    async fn close(&mut self, code: u16, reason: &'static str) {
        let frame = CloseFrame { code: CloseCode::from(code), reason: tungstenite::Utf8Bytes::from_static(reason) };
        if self.ws.send(Message::Close(Some(frame))).await.is_ok() {
            // Read on until the client answers the close (or a short while passes): dropping a
            // socket with frames still unread makes the kernel reset it, and the close code,
            // which tells the client what to do, would be lost.
            let drain = async { while let Some(Ok(_)) = self.ws.next().await {} };
            let _ = tokio::time::timeout(CLOSE_LINGER, drain).await;
        }
    }

    async fn send_text(&mut self, text: impl Into<Bytes>) -> Result<(), End> {
        self.send_pieces(&[text.into()]).await
    }

    /// Sends one text frame made of `pieces`, straight to the connection. A phone that takes
    /// none of it for [`WRITE_TIMEOUT`] (gone without a word, or stopped reading) is let go:
    /// it resumes with `since` when it comes back, and meanwhile holds no slot or task.
    async fn send_pieces(&mut self, pieces: &[Bytes]) -> Result<(), End> {
        let write = async {
            // What tungstenite may hold (a pong, a ping) goes first, whole: frames never interleave.
            self.ws.flush().await.map_err(|_| End::Gone)?;
            write_text_frame(self.ws.get_mut(), pieces).await.map_err(|_| End::Gone)
        };
        tokio::time::timeout(WRITE_TIMEOUT, write).await.unwrap_or(Err(End::Gone))
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

    /// The next frame from the client. `Err` ends the connection. It only reads (tungstenite
    /// may answer a ping meanwhile, whole), so it may be cancelled at any point: a frame of
    /// ours is never cut short.
    async fn next_frame(&mut self) -> Result<Incoming, End> {
        match self.ws.next().await {
            None => Err(End::Gone),
            Some(Err(e)) => Err(read_error(&e)),
            Some(Ok(msg)) => {
                self.last_heard = Instant::now();
                match msg {
                    Message::Text(t) => Ok(Incoming::Text(t)),
                    Message::Binary(_) => Ok(Incoming::Binary),
                    Message::Close(_) => Err(End::Gone),
                    Message::Ping(_) | Message::Pong(_) | Message::Frame(_) => Ok(Incoming::Other),
                }
            }
        }
    }

    async fn refuse_binary(&mut self) -> Result<(), End> {
        self.refuse(&Refusal::invalid(None, "frames are JSON text")).await
    }

    /// Waits for a valid `hello`; anything else first is refused, and the socket kept.
    /// Returns who it is, and the `seq` the client resumes from.
    async fn greet(&mut self) -> Result<(Peer, Option<u64>), End> {
        let deadline = tokio::time::Instant::now() + HELLO_TIMEOUT;
        loop {
            let frame = tokio::time::timeout_at(deadline, self.next_frame())
                .await
                .map_err(|_| End::Close(close::POLICY, "no hello"))??;
            let text = match frame {
                Incoming::Text(text) => text,
                Incoming::Binary => {
                    self.refuse_binary().await?;
                    continue;
                }
                Incoming::Other => continue,
            };
            if !self.allow() {
                return Err(End::Close(close::FLOOD, "too many frames"));
            }
            match ClientMsg::parse(&text) {
                Ok(ClientMsg::Hello(hello)) => match self.admit(&hello).await {
                    Ok(peer) => return Ok((peer, hello.since)),
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
        let views = Views::of(&session);
        Ok(Peer { session, code, role, participant, views })
    }

    fn welcome_head<'p>(&self, peer: &'p Peer, seq: u64) -> WelcomeHead<'p> {
        WelcomeHead {
            role: peer.role,
            session: &peer.session,
            code: &peer.code,
            participant: peer.participant.as_ref().map(|(t, _)| t.as_str()),
            seq,
            server_time: now_ms(),
        }
    }

    /// The `welcome` with the whole state: the role's shared view with this viewer's own parts.
    fn welcome(&self, peer: &Peer, snapshot: &Snapshot) -> Vec<Bytes> {
        let head = self.welcome_head(peer, snapshot.session.seq);
        let viewer = Viewer { role: peer.role, participant: peer.participant_id(), upvoted: &snapshot.upvoted };
        let url = crate::state::participant_link(&self.base, &peer.code);
        peer.views.shared(snapshot, peer.role).welcome(&head, snapshot, &viewer, Some(&url))
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
        let frame = self.welcome(peer, &snapshot);
        drop(snapshot);
        self.send_pieces(&frame).await?;
        Ok(seq)
    }

    async fn gone(&mut self) -> End {
        let r = Refusal { id: None, code: ErrorCode::NotFound, message: "the session was deleted".into() };
        match self.refuse(&r).await {
            Ok(()) => End::Close(close::GONE, "session deleted"),
            Err(end) => end,
        }
    }

    /// Sends the welcome: the events since `since` when they are still kept, else the state.
    async fn resume(&mut self, peer: &Peer, member: &Membership, since: Option<u64>) -> Result<u64, End> {
        let Some(since) = since else {
            return self.snapshot(peer, member).await;
        };
        match self.state.store.events_since(&peer.session, since).await {
            Ok(Some(events)) => {
                let frame = self.welcome_head(peer, since).to_json();
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

    async fn serve(&mut self, peer: Peer, since: Option<u64>) -> End {
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
        let mut seq = match Box::pin(self.resume(&peer, &member, since)).await {
            Ok(seq) => seq,
            Err(end) => return end,
        };
        let mut ping = tokio::time::interval_at(tokio::time::Instant::now() + PING_EVERY, PING_EVERY);
        loop {
            let step: Result<(), End> = tokio::select! {
                frame = self.next_frame() => match frame {
                    Ok(Incoming::Text(text)) => Box::pin(self.on_text(&peer, &text)).await,
                    Ok(Incoming::Binary) => Box::pin(self.refuse_binary()).await,
                    Ok(Incoming::Other) => Ok(()),
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
                        Box::pin(self.snapshot(&peer, &member)).await.map(|s| seq = s)
                    }
                    Ok(Outbound::Frame(frame)) => self.send_text(frame).await,
                    Ok(Outbound::Frames(frames)) => self.send_text(frames[peer.role.index()].clone()).await,
                    Ok(Outbound::Deleted) | Err(RecvError::Closed) => Err(Box::pin(self.gone()).await),
                    Ok(Outbound::Revoked) if matches!(peer.role, Role::Moderator | Role::Rapporteur) => {
                        Err(End::Close(close::REVOKED, "credentials revoked"))
                    }
                    Ok(Outbound::Revoked) => Ok(()),
                },
                _ = ping.tick() => {
                    if self.last_heard.elapsed() > DEAD_AFTER {
                        Err(End::Gone)
                    } else {
                        self.ws.send(Message::Ping(Default::default())).await.map_err(|_| End::Gone)
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
fn read_error(e: &tungstenite::Error) -> End {
    match e {
        tungstenite::Error::Capacity(_) => End::Close(close::TOO_BIG, "frame too large"),
        _ => End::Gone,
    }
}

/// The header of a final, unmasked text frame of `len` bytes (RFC 6455, 5.2).
fn text_frame_header(len: usize, out: &mut [u8; 10]) -> &[u8] {
    out[0] = 0x80 | 0x1;
    if len < 126 {
        out[1] = len as u8;
        &out[..2]
    } else if let Ok(len) = u16::try_from(len) {
        out[1] = 126;
        out[2..4].copy_from_slice(&len.to_be_bytes());
        &out[..4]
    } else {
        out[1] = 127;
        out[2..10].copy_from_slice(&(len as u64).to_be_bytes());
        &out[..10]
    }
}

/// Slices handed to one `writev`.
const MAX_SLICES: usize = 64;

/// Writes one text frame made of `pieces` to `io`: the header, then the pieces as they are
/// (shared bytes, most of them), as fast as the kernel takes them. Nothing is copied into a
/// buffer of this socket's, so nothing stays behind once it is sent.
async fn write_text_frame(io: &mut Io, pieces: &[Bytes]) -> std::io::Result<()> {
    let mut header = [0u8; 10];
    let header = text_frame_header(pieces.iter().map(Bytes::len).sum(), &mut header);
    let all: Vec<&[u8]> =
        std::iter::once(header).chain(pieces.iter().map(|p| &p[..])).filter(|p| !p.is_empty()).collect();
    // The first piece not yet written whole, and how much of it is.
    let (mut k, mut done) = (0, 0);
    while k < all.len() {
        let slices: Vec<IoSlice<'_>> = std::iter::once(&all[k][done..])
            .chain(all[k + 1..].iter().copied())
            .take(MAX_SLICES)
            .map(IoSlice::new)
            .collect();
        let mut n = io.write_vectored(&slices).await?;
        if n == 0 {
            return Err(std::io::ErrorKind::WriteZero.into());
        }
        while n > 0 {
            let left = all[k].len() - done;
            if n < left {
                done += n;
                n = 0;
            } else {
                n -= left;
                k += 1;
                done = 0;
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio_tungstenite::tungstenite::protocol::frame::coding::{Data, OpCode};
    use tokio_tungstenite::tungstenite::protocol::frame::FrameHeader;

    #[test]
    fn a_text_frame_header_is_tungstenite_s() {
        for len in [0, 1, 125, 126, 127, 65_535, 65_536, 3_700, 150_000, 1 << 33] {
            let mut ours = [0u8; 10];
            let ours = text_frame_header(len, &mut ours);
            let header = FrameHeader { opcode: OpCode::Data(Data::Text), ..FrameHeader::default() };
            let mut theirs = Vec::new();
            header.format(len as u64, &mut theirs).expect("formatted");
            assert_eq!(ours, &theirs[..], "{len}");
        }
    }
}
