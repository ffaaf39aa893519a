//! The session phase: one run through a whole session, as the room lives it, with the other
//! phases' own code for each part.
//!
//! 1. Before the room comes in, the moderator opens the debate and `--questions` questions are
//!    asked (each from a socket of its own) and approved, so that every `welcome` carries them.
//!    The load prints `SESSION id=… code=…` (and with `--hold`, waits for a line on stdin: a page
//!    can join first).
//! 2. **Join**: every participant connects ([`connect_participants`]); after a pause, the
//!    servers' memory per idle connection (counted from before the questions asked ahead).
//! 3. **Agenda**: `--moves` moves through the agenda ([`fanout::make_moves`]); the latency of
//!    every delivery of `agenda.moved`.
//! 4. **Questions**: back to the debate, `--asks` participants ask a question each (0: no
//!    question storm) and the moderator approves them ([`questions::ask_and_approve`]); the
//!    upvote storm ([`questions::storm`]); the time from the last ack until every client shows
//!    the counts the acks make.
//! 5. **Vote**: to the adoption item, a poll, every participant votes and some change their mind
//!    ([`vote::vote`]); the time from the last ack until every client's tally includes it; the
//!    close, checked against the acks and every server's published receipts.
//! 6. **Reconnect**: `--reconnect-percent` of the clients drop (their sockets reset), the
//!    moderator moves on, and they come back all at once with `since` while it moves again.
//! 7. **Final**: every client must hold the last `seq` (a fresh moderator `welcome`'s), the
//!    last item, the counts and the poll's result; nothing missed, nothing doubled.
//!
//! Every moderator command's events are timed to every participant (fan-out per stage); the
//! run ends with a table, a `RESULT` line, and with `--json FILE` the same in JSON. It exits
//! non-zero when anything was lost or doubled, a command was refused, or a figure differs.

mod report;
mod view;

use super::ballots::{self, Tally};
use super::fanout::{self, Move, SETTLE};
use super::moderator::Moderator;
use super::questions::{self, item_of_kind, open_debate, Asked};
use super::socket::{connect_moderator, connect_participants, reply_reader, Call, Caller, Connect, Keep, Pacer};
use super::stats::Usage;
use super::storm::Errors;
use super::vote::{self, Closed, Published, Voting};
use super::votes::{Shape, MAX_QUESTIONS};
use super::watch::{Room, Watched};
use super::{call_limit, LoadArgs, Setup, CONNECT_TIMEOUT, CONVERGE_TIMEOUT};
use anyhow::{bail, Context};
use futures_util::future::join_all;
use futures_util::StreamExt;
use serde_json::{json, Value};
use std::collections::HashMap;
use std::io::Write as _;
use std::time::{Duration, Instant};
use tokio::io::AsyncBufReadExt;
use tokio::sync::watch;
use view::{Final, SessionView, Want};

/// Moves the moderator makes in the reconnect stage: half while the clients are away, half while
/// they come back.
const RECONNECT_MOVES: usize = 4;
/// The questions asked ahead are approved by this many moderator sockets at most (each socket
/// has its own frame limit).
const PRELOAD_MODERATORS: usize = 16;

/// The stages of the session, each with its own figures.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stage {
    Agenda,
    Questions,
    Vote,
    Reconnect,
}

impl Stage {
    pub const ALL: [Stage; 4] = [Stage::Agenda, Stage::Questions, Stage::Vote, Stage::Reconnect];

    pub fn name(self) -> &'static str {
        match self {
            Stage::Agenda => "agenda",
            Stage::Questions => "questions",
            Stage::Vote => "vote",
            Stage::Reconnect => "reconnect",
        }
    }
}

/// A moderator command other than a move, whose event every participant receives.
pub struct Sent {
    pub stage: Stage,
    pub sent: Instant,
    /// The `seq` it was acknowledged with (its last event's); `None` when refused.
    pub seq: Option<u64>,
}

/// What the moderator did, stage by stage.
#[derive(Default)]
pub struct Log {
    /// Every move, and the stage it was made in.
    pub moves: Vec<Move>,
    pub move_stages: Vec<Stage>,
    pub commands: Vec<Sent>,
    /// The moderator's refusals, by code.
    pub errors: Errors,
    pub first_refusal: Option<String>,
}

impl Log {
    fn command(&mut self, stage: Stage, op: &'static str, call: &Call) {
        if let Err(e) = &call.outcome {
            self.refused(op, e);
        }
        self.commands.push(Sent { stage, sent: call.sent, seq: call.seq() });
    }

    fn refused(&mut self, op: &str, e: &str) {
        self.errors.add(e);
        self.first_refusal.get_or_insert_with(|| format!("{op}: {e}"));
    }

    fn moves(&mut self, stage: Stage, moves: Vec<Move>) {
        for m in &moves {
            if let Some((Err(e), _)) = &m.reply {
                self.refused("agenda.goto", e);
            } else if m.reply.is_none() {
                self.refused("agenda.goto", "timeout");
            }
        }
        self.move_stages.extend(moves.iter().map(|_| stage));
        self.moves.extend(moves);
    }
}

/// When a stage ran and what it cost.
#[derive(Debug, Clone, Copy)]
pub struct StageRun {
    pub stage: Stage,
    pub seconds: f64,
    pub usage: Usage,
    /// Whether every client received every event of the stage in time.
    pub delivered: bool,
}

/// The agenda: how many items, which one opens the debate and which one adopts.
struct Agenda {
    items: usize,
    debate: usize,
    adoption: usize,
}

impl Agenda {
    fn of(definition: &[u8]) -> anyhow::Result<Self> {
        let def: Value = serde_json::from_slice(definition).context("the session definition is not JSON")?;
        let items = def.get("agenda").and_then(Value::as_array).map_or(0, Vec::len);
        if items < 2 {
            bail!("the session phase needs an agenda of two items at least");
        }
        let debate = item_of_kind(definition, "debate").unwrap_or(0);
        let adoption = item_of_kind(definition, "adoption").unwrap_or(items - 1);
        Ok(Agenda { items, debate, adoption })
    }

    /// `count` moves from `from`, each to the next item (around the end to the first).
    fn walk(&self, from: usize, count: usize) -> Vec<usize> {
        (1..=count).map(|k| (from + k) % self.items).collect()
    }
}

/// The questions asked before the join.
pub struct Preloaded {
    pub asked: Asked,
}

/// The question stage's outcome.
pub struct QuestionStage {
    /// Whether there was a question storm to run (`--asks` above 0).
    pub planned: bool,
    pub asked: Asked,
    /// Seconds until every client knew the new questions (`None`: not all did in time).
    pub known: Option<f64>,
    pub storm: Option<questions::Storm>,
    pub expected: HashMap<String, u64>,
    /// When the last client came to show the expected counts (`None`: not all did in time).
    pub counted_at: Option<Instant>,
}

/// The vote stage's outcome.
pub struct VoteStage {
    pub poll: String,
    pub known: bool,
    pub voting: Voting,
    pub expected: Tally,
    pub receipts: Vec<(String, ballots::Choice)>,
    /// When the last client's tally came to include every acknowledged ballot.
    pub tallied_at: Option<Instant>,
    pub closed: Result<Closed, String>,
    pub closed_seen: bool,
    pub published: Vec<Published>,
}

/// The reconnect stage's outcome.
#[derive(Default)]
pub struct ReconnectStage {
    /// The clients that dropped.
    pub dropped: Vec<usize>,
    /// Of those, the ones that came back, and why the others did not.
    pub back: usize,
    pub failures: Vec<String>,
    /// From the first `hello` to the last `welcome`.
    pub seconds: f64,
    /// Welcomes that carried the whole state (the server no longer had the missed events).
    pub full_welcomes: usize,
}

/// Everything the session phase measured.
pub struct Outcome {
    pub preloaded: Preloaded,
    pub connect: Connect,
    pub rss_before: Option<u64>,
    pub rss_idle: Option<u64>,
    pub rss_end: Option<u64>,
    pub log: Log,
    pub stages: Vec<StageRun>,
    pub questions: QuestionStage,
    pub vote: VoteStage,
    pub reconnect: ReconnectStage,
    pub last: Final,
    /// Whether every client came to the final state in time.
    pub ended: bool,
    pub watched: Vec<Watched<SessionView>>,
    pub usage: Usage,
}

pub async fn run(args: &LoadArgs, setup: Setup) -> anyhow::Result<()> {
    let agenda = Agenda::of(&setup.definition)?;
    let ballots = ballots::Shape::from_args(args.change_percent, args.recasts)?;
    let storm = match args.asks {
        0 => "no question storm".to_owned(),
        asks => {
            let shape = Shape::from_args(asks, args.upvotes, args.unvotes)
                .context("the question storm (--asks, --upvotes, --unvotes)")?;
            format!("{asks} asks, {} upvotes + {} unvotes each", shape.upvotes, shape.unvotes)
        }
    };
    setup.print_header(&format!(
        "{} questions asked ahead; {} moves {} ms apart; {storm}; a poll on {}, {} % cast {} more; {} % reconnect{}",
        args.questions,
        args.moves,
        args.interval_ms,
        args.draft,
        ballots.change_percent,
        ballots.recasts,
        args.reconnect_percent,
        setup.in_flight.map_or(String::new(), |k| format!("; {k} participants at once in a storm"))
    ));
    let usage0 = setup.usage();
    let mut moderator = Moderator::connect(&setup.endpoints[0], &setup.moderator_hello(), true).await?;

    // Before the join: the debate open, the questions every welcome will carry.
    let (current, _) = open_debate(&mut moderator.caller, &setup.definition, setup.deadline).await?;
    // Memory is counted from before the questions asked ahead: their sockets come and go before
    // the join, and the join would reuse what they freed. The figure per connection so carries
    // its share of the session's content.
    let rss_before = setup.servers.rss_kib();
    let preloaded = preload(args, &setup, &mut moderator).await?;
    if preloaded.asked.ids.len() < args.questions {
        bail!(
            "only {} of the {} questions asked ahead were approved: {}",
            preloaded.asked.ids.len(),
            args.questions,
            preloaded.asked.refused.first().map_or("no refusal", String::as_str)
        );
    }
    println!("SESSION id={} code={} clients={}", setup.session.id, setup.session.code, setup.n);
    std::io::stdout().flush()?;
    if args.hold {
        let mut line = String::new();
        tokio::io::BufReader::new(tokio::io::stdin()).read_line(&mut line).await?;
    }

    // Join.
    let joined = connect_participants(setup.join(Keep::NoQuestions), setup.n, args.batch, setup.deadline).await;
    let connect = joined.figures();
    if connect.connected == 0 {
        bail!("no participant could connect ({} failed)", connect.failed);
    }
    let room = Room::new(joined.sockets, |w| {
        let current = w.state.as_ref().and_then(|s| s.agenda).and_then(|a| a.current);
        SessionView::joined(w.seq, current, w.participant.clone())
    });
    tokio::time::sleep(SETTLE.min(setup.deadline.saturating_duration_since(Instant::now()))).await;
    let rss_idle = setup.servers.rss_kib();

    let mut live =
        Live { args, setup: &setup, agenda, moderator, room, log: Log::default(), current, stages: Vec::new() };
    // Agenda.
    let t0 = live.start();
    let delivered = live.moves(Stage::Agenda, live.agenda.walk(live.current, args.moves)).await;
    live.end(Stage::Agenda, t0, delivered);
    // Questions.
    let t0 = live.start();
    let questions = live.questions(&preloaded.asked.ids).await?;
    let delivered = (!questions.planned || questions.counted_at.is_some()) && live.converge_seq().await;
    live.end(Stage::Questions, t0, delivered);
    // Vote.
    let t0 = live.start();
    let vote = live.vote().await?;
    let delivered = vote.closed_seen && live.converge_seq().await;
    live.end(Stage::Vote, t0, delivered);
    // Reconnect.
    let t0 = live.start();
    let (reconnect, delivered) = live.reconnect().await;
    live.end(Stage::Reconnect, t0, delivered);

    // Final: every client where a fresh moderator is.
    let Live { mut log, room, moderator, stages, current, .. } = live;
    let seq = match connect_moderator(&setup.endpoints[0], &setup.moderator_hello()).await {
        Ok((_, welcome)) => welcome.seq,
        Err(e) => {
            log.refused("hello", &format!("{e:#}"));
            0
        }
    };
    let last = Final {
        seq,
        current: Some(current),
        counts: questions.expected.clone(),
        closed: vote.closed.as_ref().ok().map(|_| vote.expected),
    };
    let ended = room.converge(Want::Final(last.clone()), CONVERGE_TIMEOUT, setup.deadline).await;
    let rss_end = setup.servers.rss_kib();
    let usage = setup.usage().since(&usage0);
    let watched = room.stop().await?;
    moderator.stop().await;
    let outcome = Outcome {
        preloaded,
        connect,
        rss_before,
        rss_idle,
        rss_end,
        log,
        stages,
        questions,
        vote,
        reconnect,
        last,
        ended,
        watched,
        usage,
    };
    let report = report::Report::of(&outcome, &setup);
    report.print(&outcome, &setup);
    if let Some(path) = &args.json {
        let doc = report.json(&outcome, &setup);
        std::fs::write(path, serde_json::to_vec_pretty(&doc)?).with_context(|| format!("--json {}", path.display()))?;
    }
    if !report.ok {
        bail!("the session phase found differences (see above)");
    }
    Ok(())
}

/// `--questions` questions asked, each from a socket of its own, and approved by several
/// moderator sockets, before the room joins; the sockets are closed afterwards.
async fn preload(args: &LoadArgs, setup: &Setup, moderator: &mut Moderator) -> anyhow::Result<Preloaded> {
    let count = args.questions;
    if count == 0 {
        return Ok(Preloaded { asked: Asked::default() });
    }
    let joined = connect_participants(setup.join(Keep::NoQuestions), count, args.batch, setup.deadline).await;
    if joined.failed + joined.skipped > 0 {
        bail!("{} of the {count} sockets asking questions ahead could not connect", joined.failed + joined.skipped);
    }
    let (stop, stop_rx) = watch::channel(false);
    let mut askers: Vec<Caller> = Vec::with_capacity(count);
    let mut readers = Vec::with_capacity(count);
    for (ws, _) in joined.sockets {
        let (sink, stream) = ws.split();
        let (reply_tx, replies) = tokio::sync::mpsc::unbounded_channel();
        readers.push(tokio::spawn(reply_reader(stream, reply_tx, None, stop_rx.clone())));
        askers.push(Caller { sink, replies, pacer: Pacer::new(1.0) });
    }
    let extra = count.div_ceil(32).clamp(1, PRELOAD_MODERATORS) - 1;
    let mut others = Vec::with_capacity(extra);
    for k in 0..extra {
        let endpoint = &setup.endpoints[(k + 1) % setup.endpoints.len()];
        others.push(Moderator::connect(endpoint, &setup.moderator_hello(), false).await?);
    }
    let moderators = std::iter::once(&mut moderator.caller).chain(others.iter_mut().map(|m| &mut m.caller)).collect();
    let asked = questions::ask_and_approve(&mut askers, moderators, "Question sent ahead", setup.deadline).await;
    let _ = stop.send(true);
    join_all(readers).await;
    drop(askers);
    for m in others {
        m.stop().await;
    }
    Ok(Preloaded { asked })
}

/// Whether client `k` is among the `percent` % who drop: spread evenly over the clients (so
/// over the servers and source addresses too), `n × percent / 100` of `n`.
fn drops(k: usize, percent: u32) -> bool {
    let p = percent as usize;
    (k + 1) * p / 100 != k * p / 100
}

/// The session once the room is in: the moderator, the participants, what was done.
struct Live<'a> {
    args: &'a LoadArgs,
    setup: &'a Setup,
    agenda: Agenda,
    moderator: Moderator,
    room: Room<SessionView>,
    log: Log,
    /// The agenda item now current.
    current: usize,
    stages: Vec<StageRun>,
}

impl Live<'_> {
    fn start(&self) -> (Instant, Usage) {
        (Instant::now(), self.setup.usage())
    }

    fn end(&mut self, stage: Stage, (t0, usage0): (Instant, Usage), delivered: bool) {
        let usage = self.setup.usage().since(&usage0);
        self.stages.push(StageRun { stage, seconds: t0.elapsed().as_secs_f64(), usage, delivered });
    }

    /// Waits until every client holds the last `seq` the moderator was acknowledged with.
    async fn converge_seq(&self) -> bool {
        let log = &self.log;
        let last = (log.moves.iter().filter_map(Move::seq)).chain(log.commands.iter().filter_map(|c| c.seq)).max();
        self.room.converge(Want::Seq(last.unwrap_or(0)), CONVERGE_TIMEOUT, self.setup.deadline).await
    }

    /// Sends moves to each of `items`, `--interval-ms` apart (the first one at once), and
    /// waits for their answers.
    async fn send_moves(&mut self, stage: Stage, items: Vec<usize>) {
        let interval = Duration::from_millis(self.args.interval_ms);
        let sink = &mut self.moderator.caller.sink;
        let (mut made, _) = fanout::make_moves(sink, items, interval, self.setup.deadline).await;
        self.answer_moves(&mut made).await;
        self.log.moves(stage, made);
    }

    /// Waits for the answers to `made`; the current item follows the acknowledged ones.
    async fn answer_moves(&mut self, made: &mut [Move]) {
        let give_up = self.setup.deadline.min(Instant::now() + CONVERGE_TIMEOUT);
        fanout::collect_answers(made, &mut self.moderator.caller.replies, give_up).await;
        if let Some(m) = made.iter().rev().find(|m| m.seq().is_some()) {
            self.current = m.item;
        }
    }

    /// Moves the agenda to each of `items` and waits until every client received every move.
    /// Returns whether they all did.
    async fn moves(&mut self, stage: Stage, items: Vec<usize>) -> bool {
        self.send_moves(stage, items).await;
        self.converge_seq().await
    }

    /// Goes to agenda item `item` unless it is current.
    async fn goto(&mut self, stage: Stage, item: usize) {
        if self.current != item {
            self.send_moves(stage, vec![item]).await;
        }
    }

    /// Back to the debate; questions from the floor, approved; the upvote storm; every client's
    /// counts. `ahead` are the questions asked before the join.
    async fn questions(&mut self, ahead: &[String]) -> anyhow::Result<QuestionStage> {
        let (args, setup) = (self.args, self.setup);
        self.goto(Stage::Questions, self.agenda.debate).await;
        // The session holds 500 open questions at most: the moderator answers enough of those
        // asked ahead to make room.
        let asks = args.asks.min(self.room.callers.len());
        if asks == 0 {
            let asked = Asked::default();
            return Ok(QuestionStage {
                planned: false,
                asked,
                known: Some(0.0),
                storm: None,
                expected: HashMap::new(),
                counted_at: None,
            });
        }
        for id in ahead.iter().take((ahead.len() + asks).saturating_sub(MAX_QUESTIONS)) {
            let fields = json!({"question": id});
            let call = self.moderator.caller.call("question.answer", fields, call_limit(setup.deadline)).await;
            self.log.command(Stage::Questions, "question.answer", &call);
        }
        let askers = &mut self.room.callers[..asks];
        let moderators = vec![&mut self.moderator.caller];
        let asked = questions::ask_and_approve(askers, moderators, "Question from the floor", setup.deadline).await;
        // Their refusals are counted with the asks'.
        let approvals = asked.approvals.iter().map(|c| Sent { stage: Stage::Questions, sent: c.sent, seq: c.seq() });
        self.log.commands.extend(approvals);
        let t0 = Instant::now();
        let zero: HashMap<String, u64> = asked.ids.iter().map(|id| (id.clone(), 0)).collect();
        let known = self.room.converge(Want::Counts(zero), CONVERGE_TIMEOUT, setup.deadline).await;
        let known = known.then(|| t0.elapsed().as_secs_f64());
        let Ok(shape) = Shape::from_args(asked.ids.len(), args.upvotes, args.unvotes) else {
            // Too few questions came through to upvote: the report says why.
            let expected = HashMap::new();
            return Ok(QuestionStage { planned: true, asked, known, storm: None, expected, counted_at: None });
        };
        let callers = std::mem::take(&mut self.room.callers);
        let (callers, storm) = questions::storm(callers, &asked.ids, shape, setup).await?;
        self.room.callers = callers;
        let expected = storm.expected(&asked.ids);
        let counted_at = self.room.converge_at(Want::Counts(expected.clone()), CONVERGE_TIMEOUT, setup.deadline).await;
        Ok(QuestionStage { planned: true, asked, known, storm: Some(storm), expected, counted_at })
    }

    /// To the adoption item; a poll; every participant votes, some change their mind; every
    /// client's tally; the close, on every client; every server's receipts.
    async fn vote(&mut self) -> anyhow::Result<VoteStage> {
        let (args, setup) = (self.args, self.setup);
        let shape = ballots::Shape::from_args(args.change_percent, args.recasts)?;
        self.goto(Stage::Vote, self.agenda.adoption).await;
        let (poll, call) = vote::open_poll(&mut self.moderator.caller, &args.draft, setup.deadline).await?;
        self.log.command(Stage::Vote, "poll.open", &call);
        let opened = Want::Poll(ballots::Want::Tally(Tally::default()));
        let known = self.room.converge(opened, CONVERGE_TIMEOUT, setup.deadline).await;
        let callers = std::mem::take(&mut self.room.callers);
        let (callers, voting) = vote::vote(callers, &poll, shape, setup).await?;
        self.room.callers = callers;
        let (expected, receipts) = voting.expected();
        let tallied = Want::Poll(ballots::Want::Tally(expected));
        let tallied_at = self.room.converge_at(tallied, CONVERGE_TIMEOUT, setup.deadline).await;
        let closed = vote::close_poll(&mut self.moderator, &poll, setup.deadline).await;
        match &closed {
            Ok(c) => self.log.commands.push(Sent { stage: Stage::Vote, sent: c.sent, seq: c.seq }),
            Err(e) => self.log.refused("poll.close", e),
        }
        let want = Want::Poll(ballots::Want::Closed(expected));
        let closed_seen = closed.is_ok() && self.room.converge(want, CONVERGE_TIMEOUT, setup.deadline).await;
        let published = vote::fetch_receipts(&setup.targets, &setup.session.code, &poll).await;
        Ok(VoteStage { poll, known, voting, expected, receipts, tallied_at, closed, closed_seen, published })
    }

    /// `--reconnect-percent` of the clients drop, the moderator moves on, and they come back all
    /// at once with `since` while it moves again; then every client must hold every event.
    /// Returns the stage's outcome and whether every event reached every client.
    async fn reconnect(&mut self) -> (ReconnectStage, bool) {
        let (args, setup) = (self.args, self.setup);
        let mut out = ReconnectStage::default();
        let mut callers: Vec<Option<Caller>> = std::mem::take(&mut self.room.callers).into_iter().map(Some).collect();
        let mut away = Vec::new();
        for k in (0..callers.len()).filter(|&k| drops(k, args.reconnect_percent)) {
            out.dropped.push(k);
            // Both halves of the socket dropped: it is reset, as a phone that loses the network.
            let caller = callers[k].take();
            match self.room.detach(k).await {
                Some(mut watched) => {
                    drop((caller, watched.stream.take()));
                    away.push((k, watched));
                }
                None => out.failures.push(format!("client {k}: its watcher had stopped")),
            }
        }
        let walk = self.agenda.walk(self.current, RECONNECT_MOVES);
        let (before, during) = walk.split_at(RECONNECT_MOVES / 2);
        self.send_moves(Stage::Reconnect, before.to_vec()).await;

        // They come back, all at once, each with its token and the last seq it holds, while the
        // moderator moves on.
        let join = setup.join(Keep::All);
        let code = &setup.session.code;
        let t0 = Instant::now();
        let comebacks = away.iter().map(|(k, watched)| {
            let hello = json!({"type": "hello", "code": code, "participant": watched.view.token, "since": watched.seq});
            let (join, k) = (join.clone(), *k);
            tokio::spawn(async move {
                tokio::time::timeout(CONNECT_TIMEOUT, join.participant_with(k, &hello.to_string(), Keep::All)).await
            })
        });
        let comebacks = join_all(comebacks);
        let interval = Duration::from_millis(args.interval_ms);
        let more = fanout::make_moves(&mut self.moderator.caller.sink, during.to_vec(), interval, setup.deadline);
        let (comebacks, (mut more, _)) = tokio::join!(comebacks, more);
        out.seconds = t0.elapsed().as_secs_f64();
        self.answer_moves(&mut more).await;
        self.log.moves(Stage::Reconnect, more);
        for ((k, watched), back) in away.into_iter().zip(comebacks) {
            match back {
                Ok(Ok(Ok((ws, welcome)))) => {
                    out.back += 1;
                    out.full_welcomes += usize::from(welcome.state.is_some());
                    callers[k] = Some(self.room.attach(k, ws, &welcome, watched));
                }
                Ok(Ok(Err(e))) => out.failures.push(format!("client {k}: {e:#}")),
                Ok(Err(_)) => out.failures.push(format!("client {k}: no welcome within {CONNECT_TIMEOUT:?}")),
                Err(e) => out.failures.push(format!("client {k}: {e}")),
            }
        }
        // A client that could not come back has no socket: the room goes on without it.
        self.room.callers = callers.into_iter().flatten().collect();
        let delivered = self.converge_seq().await && out.failures.is_empty();
        (out, delivered)
    }
}
