//! Clients that stop reading while a storm runs: the server's memory stays bounded, and the
//! other clients get every event. The delays the readers saw are printed, before and with the
//! stalled clients, and not asserted.

use crate::client::{hello, Client, Hello, Pacer, PATIENCE};
use crate::procs::Instance;
use crate::storm::{verify, Plan, Room, Storm};
use crate::target::Target;
use futures_util::{SinkExt, StreamExt};
use serde::Deserialize;
use serde_json::json;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::watch;
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;
use tokio_tungstenite::tungstenite::Message;

on_each_redis!(clients_that_stop_reading_neither_grow_the_server_nor_starve_the_others);

/// Phones that read everything, and measure how late each draft edit reaches them.
const READERS: usize = 12;
/// Phones that say hello and then never read again.
const STALLED: usize = 60;
/// Phones that say hello and then never read again.
/// Characters of each motion drafted: the large events of the storm.
const TEXT: usize = 8_000;
/// Motions each of the four editors drafts (and amends) before the stalled phones come, and
/// with them (a session holds at most 100 drafts; SOU 94 has 5).
const MOTIONS_BEFORE: usize = 4;
const MOTIONS_WITH: usize = 16;
/// Amendments of each motion.
const AMENDMENTS: usize = 3;

fn now_ms() -> i64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_millis() as i64)
}

/// As much of a frame as a reader looks at.
#[derive(Deserialize)]
struct Head {
    #[serde(rename = "type")]
    kind: String,
    seq: Option<u64>,
    event: Option<EventHead>,
    state: Option<serde::de::IgnoredAny>,
}

#[derive(Deserialize)]
struct EventHead {
    kind: String,
    at: Option<i64>,
}

/// What a reader saw.
#[derive(Default)]
struct Seen {
    seq: u64,
    anomalies: Vec<String>,
    snapshots: usize,
    /// Delays (ms) of the motions drafted and amended before the stalled phones came, and after.
    before: Vec<i64>,
    with: Vec<i64>,
    /// Bytes received after the stalled phones came.
    bytes_with: u64,
}

/// Reads everything until it holds the last `seq`; `stalled_since`: the server time (ms) from
/// which edits count as made with the stalled phones there (0 until then).
async fn reader(
    addr: SocketAddr,
    code: String,
    stalled_since: Arc<AtomicU64>,
    mut last: watch::Receiver<Option<u64>>,
) -> Seen {
    let config = WebSocketConfig::default().read_buffer_size(16 * 1024);
    let (mut ws, _) = tokio_tungstenite::connect_async_with_config(format!("ws://{addr}/ws"), Some(config), true)
        .await
        .expect("connect");
    ws.send(Message::Text(json!({"type": "hello", "code": code}).to_string().into())).await.expect("hello");
    let mut seen = Seen::default();
    let mut welcomed = false;
    loop {
        if last.borrow().is_some_and(|l| seen.seq >= l) {
            return seen;
        }
        let frame = tokio::select! {
            f = tokio::time::timeout(PATIENCE, ws.next()) => f.expect("a frame in time"),
            _ = last.changed() => continue,
        };
        let text = match frame {
            Some(Ok(Message::Text(t))) => t,
            Some(Ok(Message::Close(c))) => panic!("a reader was closed: {c:?}"),
            None | Some(Err(_)) => panic!("a reader's connection broke"),
            Some(Ok(_)) => continue,
        };
        let since = stalled_since.load(Ordering::Relaxed);
        if since > 0 {
            seen.bytes_with += text.len() as u64;
        }
        let head: Head = serde_json::from_str(&text).expect("a JSON frame");
        match head.kind.as_str() {
            "welcome" => {
                let seq = head.seq.expect("seq");
                if head.state.is_some() {
                    if welcomed {
                        seen.snapshots += 1;
                    }
                    seen.seq = seq;
                }
                welcomed = true;
            }
            "event" => {
                let seq = head.seq.expect("seq");
                if seq != seen.seq + 1 {
                    seen.anomalies.push(format!("event {seq} after {}", seen.seq));
                }
                seen.seq = seq;
                if let Some(e) = head.event.filter(|e| e.kind == "draft.created" || e.kind == "draft.edited") {
                    let at = e.at.expect("draft.edited carries its time");
                    let delay = now_ms() - at;
                    if since > 0 && at as u64 >= since {
                        seen.with.push(delay);
                    } else {
                        seen.before.push(delay);
                    }
                }
            }
            _ => {}
        }
    }
}

/// Drafts `n` motions, each then amended [`AMENDMENTS`] times, with texts of [`TEXT`] characters, at an
/// editor's pace: the large events of the storm (each carries its whole text to every client).
async fn author(editor: &mut Client, n: usize, round: usize) {
    let mut pacer = Pacer::new(8.0, 4.0);
    let body = "The assembly recalls the commitments of the charter of local governments. ".repeat(TEXT / 74);
    for k in 0..n {
        pacer.take().await;
        let title = format!("Motion {round}.{k} of {}", editor.name);
        let created = editor
            .call("draft.create", json!({"kind": "resolution", "title": title, "text": format!("{title}. {body}")}))
            .await;
        for a in 1..=AMENDMENTS {
            pacer.take().await;
            let amended = format!("{title}, amended {a} times. {body}");
            editor.submit("draft.edit", json!({"draft": created["draft"], "text": amended})).await;
            while editor.in_flight() >= 2 {
                editor.next().await;
            }
        }
    }
    editor.settle().await;
    assert!(editor.refused.is_empty(), "{}: {:?}", editor.name, editor.refused);
}

/// A socket that says hello, then never reads: its receive window closes, then the server's
/// send buffer fills.
async fn stall(
    addr: SocketAddr,
    code: &str,
) -> tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>> {
    let socket = tokio::net::TcpSocket::new_v4().expect("socket");
    socket.set_recv_buffer_size(16 * 1024).expect("SO_RCVBUF");
    let tcp = socket.connect(addr).await.expect("connect");
    let (mut ws, _) = tokio_tungstenite::client_async_with_config(
        format!("ws://{addr}/ws"),
        tokio_tungstenite::MaybeTlsStream::Plain(tcp),
        Some(WebSocketConfig::default()),
    )
    .await
    .expect("handshake");
    ws.send(Message::Text(json!({"type": "hello", "code": code}).to_string().into())).await.expect("hello");
    ws
}

fn quantiles(delays: &mut [i64]) -> String {
    if delays.is_empty() {
        return "none".into();
    }
    delays.sort_unstable();
    let q = |p: f64| delays[((delays.len() - 1) as f64 * p).round() as usize];
    format!("p50 {} ms, p99 {} ms, max {} ms over {}", q(0.5), q(0.99), q(1.0), delays.len())
}

async fn clients_that_stop_reading_neither_grow_the_server_nor_starve_the_others(target: Target) {
    let _one = crate::serial().await;
    let redis = target.redis();
    let mut server = Instance::start("A", &redis.url()).await;
    let (room, moderator) = Room::open(&[&server], 0).await;
    let stalled_since = Arc::new(AtomicU64::new(0));
    let (last_tx, last) = watch::channel(None);
    let mut readers = Vec::new();
    for _ in 0..READERS {
        readers.push(tokio::spawn(reader(server.addr, room.code.clone(), stalled_since.clone(), last.clone())));
    }
    // The storm: phones voting, asking and upvoting, the moderator approving, the rapporteur
    // noting, without end; and editors making the large events.
    let plan = Plan { commands: usize::MAX, window: 2, asks: 3, rate: 4.0 };
    let storm = Storm::start(&room, moderator, 10, plan, 0).await;
    let mut editors = Vec::new();
    for k in 0..4 {
        let hello = if k == 3 { room.rapporteur_hello() } else { room.moderator_hello() };
        editors.push(Client::join(format!("editor {k}"), &room.addrs, 0, hello).await);
    }
    let edit_all = |editors: Vec<Client>, n: usize, round: usize| async move {
        let tasks: Vec<_> = editors
            .into_iter()
            .map(|mut e| {
                tokio::spawn(async move {
                    author(&mut e, n, round).await;
                    e
                })
            })
            .collect();
        let mut back = Vec::new();
        for t in tasks {
            back.push(t.await.expect("an editor"));
        }
        back
    };

    let rss_start = server.rss_kib();
    let phase_started = std::time::Instant::now();
    let editors = edit_all(editors, MOTIONS_BEFORE, 1).await;
    let phase1_took = phase_started.elapsed();
    let rss_before = server.rss_kib();

    let mut stalled = Vec::new();
    for _ in 0..STALLED {
        stalled.push(stall(server.addr, &room.code).await);
    }
    let connections_with = server.metric("palabre_connections", &[]).await;
    let welcome_bytes = match hello(server.addr, &room.phone_hello(), PATIENCE).await {
        Hello::Welcome(_, w) => w.to_string().len(),
        other => panic!("a phone gets in: {other:?}"),
    };
    let rss_with_start = server.rss_kib();
    stalled_since.store(now_ms() as u64, Ordering::Relaxed);
    let phase_started = std::time::Instant::now();
    // The server's memory, sampled while the storm runs with the stalled phones there.
    let sampling = Arc::new(AtomicBool::new(true));
    let sampler = {
        let (pid, sampling) = (server.pid(), sampling.clone());
        tokio::spawn(async move {
            let mut peak = 0;
            let mut tick = tokio::time::interval(Duration::from_millis(100));
            while sampling.load(Ordering::Relaxed) {
                tick.tick().await;
                peak = peak.max(crate::procs::rss_kib(pid));
            }
            peak
        })
    };
    let editors = edit_all(editors, MOTIONS_WITH, 2).await;
    sampling.store(false, Ordering::Relaxed);
    let rss_peak = sampler.await.expect("sampler");
    let phase_took = phase_started.elapsed();
    let out = storm.finish().await;
    let _ = last_tx.send(Some(out.last));
    let mut seen = Vec::new();
    for r in readers {
        seen.push(r.await.expect("a reader"));
    }
    for mut e in editors {
        e.reach(out.last).await;
    }
    let figures = verify(&room, &out, &server).await;
    let rss_after = server.rss_kib();
    let connections_after = server.metric("palabre_connections", &[]).await;

    let mut before: Vec<i64> = seen.iter().flat_map(|s| s.before.iter().copied()).collect();
    let mut with: Vec<i64> = seen.iter().flat_map(|s| s.with.iter().copied()).collect();
    let backlog_kib = seen[0].bytes_with / 1024 * STALLED as u64;
    let grew = rss_peak.saturating_sub(rss_with_start);
    println!(
        "stalled readers ({}): {READERS} readers, {STALLED} stalled phones, motions of {TEXT} characters; phase 1 took {phase1_took:?}, phase 2 {phase_took:?}.\n  \
         delay of each motion (drafted or amended) at every reader: before the stalled phones {}; with them {}\n  \
         server RSS: {rss_start} KiB at the start, {rss_before} KiB after the first motions, {rss_with_start} KiB with the \
         stalled phones connected (a welcome was {welcome_bytes} bytes then), peak {rss_peak} KiB while they stalled (+{grew} KiB; their backlog: {backlog_kib} KiB), \
         {rss_after} KiB after\n  \
         palabre_connections: {connections_with} with the stalled phones, {connections_after} at the end; storm: {figures}",
        target.label(),
        quantiles(&mut before),
        quantiles(&mut with),
    );

    // The readers got every event, in order.
    for (i, s) in seen.iter().enumerate() {
        assert!(s.anomalies.is_empty(), "reader {i}: {:?}", s.anomalies);
        assert_eq!(s.seq, out.last, "reader {i} ends on the last seq");
        assert_eq!(s.snapshots, 0, "reader {i} got every event, not a resync");
        assert_eq!(
            s.with.len(),
            4 * (1 + AMENDMENTS) * MOTIONS_WITH,
            "reader {i} saw every motion drafted with the stalled phones there"
        );
    }
    // The server kept none of the stalled phones' backlog: what they were sent meanwhile was
    // this much each, and the server grew by less than half of all of it.
    assert!(
        grew < backlog_kib / 2,
        "the server grew by {grew} KiB with {STALLED} stalled phones, whose backlog was {backlog_kib} KiB"
    );

    // What became of the stalled phones: they read now, until they are closed or hold the last
    // seq (from a resync); all but two, which stay stalled while the server stops.
    let still = stalled.split_off(STALLED - 2);
    let mut closed = Vec::new();
    let mut resynced = 0;
    for mut ws in stalled {
        let mut seq = 0;
        let mut snapshot = false;
        let end = loop {
            let frame =
                tokio::time::timeout(PATIENCE, ws.next()).await.expect("a stalled phone hears something in time");
            match frame {
                Some(Ok(Message::Text(t))) => {
                    let head: Head = serde_json::from_str(&t).expect("JSON");
                    match head.kind.as_str() {
                        "welcome" if head.state.is_some() => {
                            snapshot |= seq > 0;
                            seq = head.seq.expect("seq");
                        }
                        "event" => {
                            let s = head.seq.expect("seq");
                            assert!(
                                s == seq + 1 || seq == 0,
                                "a stalled phone's events stay in order: {s} after {seq}"
                            );
                            seq = s;
                        }
                        _ => {}
                    }
                    if seq >= out.last {
                        break None;
                    }
                }
                Some(Ok(Message::Close(c))) => break Some(c.map(|c| u16::from(c.code))),
                None | Some(Err(_)) => break Some(None),
                Some(Ok(_)) => {}
            }
        };
        match end {
            Some(code) => closed.push(code),
            None => resynced += usize::from(snapshot),
        }
    }

    println!(
        "  the stalled phones, reading again ({} of them): {} closed by the server {:?}, {} kept and resynced by a fresh welcome, {} \
         caught up by events alone",
        STALLED - 2,
        closed.len(),
        closed,
        resynced,
        STALLED - 2 - closed.len() - resynced,
    );
    // How long the server takes to stop (SIGTERM) with two phones still stalled.
    let stop_took = server.terminate().await;
    println!("  SIGTERM with two phones still stalled: the server stopped in {stop_took:?}");
    drop(still);
}
