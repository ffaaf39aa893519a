//! The fan-out phase: the moderator moves the agenda, every participant receives each move, and
//! the latency of every delivery is measured from the moderator's command.
//!
//! Its steps, in order: [`run`] connects, [`Moderator::make_moves`] sends the moves,
//! [`await_deliveries`] waits for the acks and deliveries, [`Measured::from_run`] matches each
//! delivery to its move, and [`Measured::report`] prints the figures.

use super::moderator::Moderator;
use super::socket::{self, connect_participants, Connect, Frame, Keep, Reply, Sink, Ws};
use super::stats::{cpu_seconds, f2, opt, quantile_ms};
use super::{LoadArgs, Setup};
use anyhow::{bail, Context};
use futures_util::{future::join_all, SinkExt, StreamExt};
use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};
use tokio::sync::{mpsc, watch};
use tokio_tungstenite::tungstenite::Message;

/// How long to wait for the last deliveries after the last move was sent.
const GRACE: Duration = Duration::from_secs(10);
/// Pause between the last welcome and the first move, so that the server's presence report of
/// the new connection count (sent to every socket, about once a second) is not measured with it.
pub const SETTLE: Duration = Duration::from_millis(1500);

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
                    // presence, tally, upvotes, ack: nothing to measure
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

/// One move: what was sent, when, and how the server answered.
pub struct Move {
    pub id: String,
    pub item: usize,
    pub sent: Instant,
    /// When it was sent by the wall clock, in ms since the epoch (for a page on this machine
    /// to compare with the time it shows the move).
    pub sent_ms: f64,
    pub reply: Option<(Result<u64, String>, Instant)>,
}

impl Move {
    pub fn seq(&self) -> Option<u64> {
        match &self.reply {
            Some((Ok(seq), _)) => Some(*seq),
            _ => None,
        }
    }

    /// Keeps the first answer to this move: an ack's `seq`, or the refusal.
    fn answer(&mut self, r: Reply) {
        let outcome = r.outcome.and_then(|v| {
            v.get("seq").and_then(serde_json::Value::as_u64).ok_or_else(|| "an ack without result.seq".to_owned())
        });
        self.reply.get_or_insert((outcome, r.at));
    }
}

/// Sends `agenda.goto` to each of `items` in turn, `interval` apart, on the moderator's socket
/// (the first one also starts the session), without waiting for the answers. Returns the moves,
/// and whether the deadline cut them short.
pub async fn make_moves(
    sink: &mut Sink,
    items: impl IntoIterator<Item = usize>,
    interval: Duration,
    deadline: Instant,
) -> (Vec<Move>, bool) {
    let mut moves: Vec<Move> = Vec::new();
    let mut tick = tokio::time::interval(interval.max(Duration::from_millis(1)));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    for (k, item) in items.into_iter().enumerate() {
        tick.tick().await;
        if Instant::now() >= deadline {
            return (moves, true);
        }
        let (id, frame) = socket::command_frame("agenda.goto", serde_json::json!({"item": item}));
        let sent_ms = SystemTime::now().duration_since(SystemTime::UNIX_EPOCH).unwrap_or_default().as_secs_f64() * 1e3;
        let sent = Instant::now();
        if let Err(e) = sink.send(Message::text(frame)).await {
            eprintln!("the moderator could not send move {}: {e}", k + 1);
            break;
        }
        moves.push(Move { id, item, sent, sent_ms, reply: None });
    }
    (moves, false)
}

/// Waits for every move's answer on the moderator's `replies`, at most until `give_up`.
/// Returns true when it stopped waiting before every answer came.
pub async fn collect_answers(
    moves: &mut [Move],
    replies: &mut mpsc::UnboundedReceiver<Reply>,
    give_up: Instant,
) -> bool {
    let index: HashMap<String, usize> = moves.iter().enumerate().map(|(k, m)| (m.id.clone(), k)).collect();
    while moves.iter().any(|m| m.reply.is_none()) {
        match tokio::time::timeout_at(give_up.into(), replies.recv()).await {
            Ok(Some(r)) => {
                if let Some(&k) = index.get(&r.id) {
                    moves[k].answer(r);
                }
            }
            Ok(None) | Err(_) => return true,
        }
    }
    false
}

/// Waits for every acknowledged move's delivery to every participant (`received` counts them),
/// at most until `give_up`. Returns true when it stopped waiting before everything came.
async fn await_deliveries(moves: &[Move], received: &AtomicU64, connected: usize, give_up: Instant) -> bool {
    let acked = moves.iter().filter(|m| m.seq().is_some()).count() as u64;
    while received.load(Ordering::Relaxed) < acked * connected as u64 {
        if Instant::now() >= give_up {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    false
}

/// The deliveries of the moves, matched to them.
pub struct Deliveries {
    /// Per move, the sorted delivery latencies in µs.
    pub per_move: Vec<Vec<u64>>,
    /// Every delivery latency, sorted.
    pub all: Vec<u64>,
    /// `agenda.moved` events that no acknowledged move accounts for.
    pub unmatched: u64,
}

/// Matches each participant's `agenda.moved` receptions (`(seq, at)`) to the moves. An ack carries
/// the seq of the command's last event, and one socket's commands are applied in order: a move's
/// `agenda.moved` is the first one after the previous move's seq, up to its own (a move into or
/// out of a debate has two events).
pub fn match_deliveries<'a>(moves: &[Move], moved: impl Iterator<Item = &'a [(u64, Instant)]>) -> Deliveries {
    let mut acked_seqs: Vec<(u64, usize)> = moves.iter().enumerate().filter_map(|(k, m)| Some((m.seq()?, k))).collect();
    acked_seqs.sort_unstable();
    let mut per_move: Vec<Vec<u64>> = vec![Vec::new(); moves.len()];
    let mut unmatched = 0u64;
    for client in moved {
        for (seq, at) in client {
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
    Deliveries { per_move, all, unmatched }
}

/// The servers' and this process's resources at one moment.
struct Probe {
    rss: Option<u64>,
    server_cpu: Option<f64>,
    own_cpu: Option<f64>,
}

impl Probe {
    fn now(setup: &Setup) -> Self {
        Probe { rss: setup.servers.rss_kib(), server_cpu: setup.servers.cpu_seconds(), own_cpu: cpu_seconds("self") }
    }
}

pub async fn run(args: &LoadArgs, setup: Setup) -> anyhow::Result<()> {
    setup.print_header(&format!(
        "{} moves {} ms apart between items {} and {}",
        args.moves, args.interval_ms, args.items[0], args.items[1]
    ));
    let rss_before = setup.servers.rss_kib();
    let joined = connect_participants(setup.join(Keep::NoQuestions), setup.n, args.batch, setup.deadline).await;
    let connect = joined.figures();
    let connected = connect.connected;
    if connected == 0 {
        bail!("no participant could connect ({} failed)", joined.failed);
    }
    let mut moderator = Moderator::connect(&setup.endpoints[0], &setup.moderator_hello(), false).await?;
    let received = Arc::new(AtomicU64::new(0));
    let (stop_tx, stop_rx) = watch::channel(false);
    let readers: Vec<_> = (joined.sockets.into_iter())
        .map(|(ws, w)| tokio::spawn(follow(ws, w.seq, args.moves, received.clone(), stop_rx.clone())))
        .collect();

    tokio::time::sleep(SETTLE.min(setup.deadline.saturating_duration_since(Instant::now()))).await;
    let start = Probe::now(&setup);
    let items = (0..args.moves).map(|k| args.items[k % 2]);
    let interval = Duration::from_millis(args.interval_ms);
    let (mut moves, cut_short) = make_moves(&mut moderator.caller.sink, items, interval, setup.deadline).await;
    let give_up = setup.deadline.min(Instant::now() + GRACE);
    let timed_out = collect_answers(&mut moves, &mut moderator.caller.replies, give_up).await
        || await_deliveries(&moves, &received, connected, give_up).await;
    let end = Probe::now(&setup);
    let _ = stop_tx.send(true);
    moderator.stop().await;
    let mut followed = Vec::with_capacity(connected);
    for r in join_all(readers).await {
        followed.push(r.context("a participant reader panicked")?);
    }
    let mut measured = Measured::from_run(moves, &followed, rss_before, start, end);
    measured.connect = connect;
    measured.partial = Partial { cut_short, timed_out };
    measured.report(&setup);
    Ok(())
}

/// Why the figures may be partial (besides sockets not tried).
#[derive(Default)]
struct Partial {
    cut_short: bool,
    timed_out: bool,
}

/// The figures of one fan-out run.
struct Measured {
    moves: Vec<Move>,
    /// Per move, the sorted delivery latencies in µs.
    per_move: Vec<Vec<u64>>,
    /// Every delivery latency, sorted.
    all: Vec<u64>,
    unmatched: u64,
    gaps: u64,
    resyncs: u64,
    errors: u64,
    closed: usize,
    rss_before: Option<u64>,
    start: Probe,
    end: Probe,
    connect: Connect,
    partial: Partial,
}

impl Measured {
    fn from_run(moves: Vec<Move>, followed: &[Followed], rss_before: Option<u64>, start: Probe, end: Probe) -> Self {
        let Deliveries { per_move, all, unmatched } = match_deliveries(&moves, followed.iter().map(|f| &f.moved[..]));
        Measured {
            moves,
            per_move,
            all,
            unmatched,
            gaps: followed.iter().map(|f| u64::from(f.gaps)).sum(),
            resyncs: followed.iter().map(|f| u64::from(f.resyncs)).sum(),
            errors: followed.iter().map(|f| u64::from(f.errors)).sum(),
            closed: followed.iter().filter(|f| f.closed).count(),
            rss_before,
            start,
            end,
            connect: Connect::default(),
            partial: Partial::default(),
        }
    }

    fn acked(&self) -> usize {
        self.moves.iter().filter(|m| m.seq().is_some()).count()
    }

    /// Ack latencies of the acknowledged moves, sorted, in µs.
    fn ack_latencies(&self) -> Vec<u64> {
        let mut acks: Vec<u64> = (self.moves.iter())
            .filter_map(|m| match &m.reply {
                Some((Ok(_), at)) => Some(at.saturating_duration_since(m.sent).as_micros() as u64),
                _ => None,
            })
            .collect();
        acks.sort_unstable();
        acks
    }

    fn server_cpu(&self) -> Option<f64> {
        Some(self.end.server_cpu? - self.start.server_cpu?)
    }

    fn own_cpu(&self) -> Option<f64> {
        Some(self.end.own_cpu? - self.start.own_cpu?)
    }

    /// Server memory per socket (the participants and the moderator) since before connecting.
    fn per_conn(&self, rss: Option<u64>, connected: usize) -> Option<f64> {
        Some((rss? as f64 - self.rss_before? as f64) / (connected as f64 + 1.0))
    }

    /// Prints the readable report, the per-move table and the `RESULT` line.
    fn report(&self, setup: &Setup) {
        self.print_summary(setup);
        self.print_moves();
        self.print_result(setup);
    }

    fn partial(&self) -> bool {
        self.partial.cut_short || self.partial.timed_out || self.connect.skipped > 0
    }

    fn print_summary(&self, setup: &Setup) {
        let Connect { connected, failed, skipped, seconds: connect_s } = self.connect;
        let n = setup.n;
        let partial = &self.partial;
        let acked = self.acked();
        let refused: Vec<&str> = (self.moves.iter())
            .filter_map(|m| match &m.reply {
                Some((Err(e), _)) => Some(e.as_str()),
                _ => None,
            })
            .collect();
        let unanswered = self.moves.iter().filter(|m| m.reply.is_none()).count();
        let expected = (acked * connected) as u64;
        let received = self.all.len() as u64;
        let lost = expected.saturating_sub(received);
        let acks = self.ack_latencies();
        let (p50, p99, max) = (quantile_ms(&self.all, 0.50), quantile_ms(&self.all, 0.99), quantile_ms(&self.all, 1.0));
        println!();
        println!("  {:<18} {connected} of {n} ({failed} failed, {skipped} not tried)", "participants");
        println!("  {:<18} {connect_s:.3} s (all welcomes)", "connect time");
        println!(
            "  {:<18} {} sent, {acked} acked, {} refused, {unanswered} unanswered; ack p50 {:.2} ms, max {:.2} ms",
            "moves",
            self.moves.len(),
            refused.len(),
            quantile_ms(&acks, 0.5),
            quantile_ms(&acks, 1.0)
        );
        println!("  {:<18} {expected} expected, {received} received, {lost} lost", "deliveries");
        println!("  {:<18} p50 {p50:.2} ms   p99 {p99:.2} ms   max {max:.2} ms", "latency");
        println!(
            "  {:<18} {} seq gaps, {} resyncs, {} errors, {} closed, {} unmatched",
            "anomalies", self.gaps, self.resyncs, self.errors, self.closed, self.unmatched
        );
        self.print_resources(setup, connected, received);
        if let Some(first) = refused.first() {
            println!("  {:<18} {first}", "first refusal");
        }
        if partial.cut_short || skipped > 0 {
            println!(
                "  the deadline ({:.0} s) came before everything was sent: figures are partial",
                setup.budget.as_secs_f64()
            );
        }
        if partial.timed_out {
            println!("  stopped waiting for deliveries after {GRACE:?} (or the deadline): figures are partial");
        }
    }

    fn print_resources(&self, setup: &Setup, connected: usize, received: u64) {
        let kib = |v: Option<u64>| v.map_or_else(|| "-".to_owned(), |v| format!("{:.1} MiB", v as f64 / 1024.0));
        let dash = |v: Option<f64>| v.map_or_else(|| "-".to_owned(), |v| format!("{v:.2}"));
        if setup.servers.any() {
            println!(
                "  {:<18} {} before, {} connected, {} at the end: {} KiB per connection ({} at the end)",
                "server RSS",
                kib(self.rss_before),
                kib(self.start.rss),
                kib(self.end.rss),
                dash(self.per_conn(self.start.rss, connected)),
                dash(self.per_conn(self.end.rss, connected)),
            );
            if let Some(cpu) = self.server_cpu() {
                println!(
                    "  {:<18} {cpu:.2} s during the moves: {:.1} µs per delivery",
                    "server CPU",
                    cpu * 1e6 / received.max(1) as f64
                );
            }
        }
        if let Some(cpu) = self.own_cpu() {
            println!("  {:<18} {cpu:.2} s during the moves (this load process)", "client CPU");
        }
    }

    fn print_moves(&self) {
        println!();
        println!("  move  item  ack ms  received     p50 ms     p99 ms     max ms");
        for (k, m) in self.moves.iter().enumerate() {
            let ack = match &m.reply {
                Some((Ok(_), at)) => format!("{:.2}", at.saturating_duration_since(m.sent).as_secs_f64() * 1e3),
                Some((Err(_), _)) => "refused".to_owned(),
                None => "-".to_owned(),
            };
            let v = &self.per_move[k];
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
    }

    fn print_result(&self, setup: &Setup) {
        let Connect { connected, failed, seconds: connect_s, .. } = self.connect;
        let acked = self.acked();
        let expected = (acked * connected) as u64;
        let received = self.all.len() as u64;
        let (p50, p99, max) = (quantile_ms(&self.all, 0.50), quantile_ms(&self.all, 0.99), quantile_ms(&self.all, 1.0));
        println!(
            "RESULT clients={} p50_ms={p50:.2} p99_ms={p99:.2} max_ms={max:.2} lost={} connect_s={connect_s:.3} \
             rss_per_conn_kib={} connected={connected} failed={failed} sources={} moves={} acked={acked} \
             expected={expected} received={received} gaps={} resyncs={} rss_before_kib={} rss_after_kib={} \
             rss_end_kib={} rss_per_conn_end_kib={} server_cpu_s={} client_cpu_s={} partial={}",
            setup.n,
            expected.saturating_sub(received),
            f2(self.per_conn(self.start.rss, connected)),
            setup.sources,
            self.moves.len(),
            self.gaps,
            self.resyncs,
            opt(self.rss_before),
            opt(self.start.rss),
            opt(self.end.rss),
            f2(self.per_conn(self.end.rss, connected)),
            f2(self.server_cpu()),
            f2(self.own_cpu()),
            self.partial(),
        );
    }
}
